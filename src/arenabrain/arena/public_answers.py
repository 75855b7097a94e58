"""How a public read route answers: from the data-version answer cache (`ctx.answers`), and
kept whole (headers and body) so that the next GET of the same target is replayed before
routing (`web.answer_replay`) until a table it read is written."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from arenabrain.context import Context
from arenabrain.db.answer_cache import Reply
from arenabrain.web.answer_replay import server_timing


async def public_answer(
    request: Request,
    ctx: Context,
    key: Hashable,
    reads: Sequence[str],
    shape: type[BaseModel],
    compute: Callable[[], Awaitable[Any]],
    *,
    headers: Mapping[str, str] | None = None,
    valid_until: datetime | None = None,
    timed: bool = False,
) -> Response:
    """The JSON answer `compute` makes for `key` (checked against `shape`), from the cache while
    the tables in `reads` stand still; kept for replay to this request's target.

    `valid_until` bounds an answer that also depends on the clock (a cohort's week); `timed`
    adds a Server-Timing header, computed afresh for each answer, replays included."""
    started = time.perf_counter()
    answer = await ctx.answers.json(key, reads, shape, compute)
    response = Response(answer.body, media_type="application/json", headers=dict(headers or {}))
    if answer.versions is not None:
        ctx.answers.keep_reply(
            (request.scope["path"], request.scope["query_string"]),
            Reply(
                tables=tuple(reads),
                versions=answer.versions,
                headers=tuple(response.raw_headers),
                body=answer.body,
                valid_until=valid_until,
                timed=timed,
            ),
        )
    if timed:
        response.headers["Server-Timing"] = server_timing(started, answer.hit, len(answer.body))
    return response


def utc_day(ctx: Context) -> date:
    """Part of the key of a page that shows a cohort's week: the week is a whole number of days
    since the cohort's start (a UTC midnight), so it can move only when the UTC day does."""
    return ctx.clock.now().astimezone(UTC).date()


def next_utc_midnight(ctx: Context) -> datetime:
    """When a page keyed by `utc_day` stops being today's."""
    return datetime.combine(utc_day(ctx) + timedelta(days=1), day_start(), tzinfo=UTC)
