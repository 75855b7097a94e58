"""Public answers replayed before routing: a GET whose target (path and query string, as sent)
has a kept answer that still stands (`ResponseCache.reply`: no table it read was written since,
its day has not passed) is answered with the kept status, headers and body, without routing,
dependencies or parameter parsing. Everything else goes on to the app, which keeps a new
answer when it computes one (`arena.public_answers`).

It runs inside the access log and the sandbox header, so a replay is logged and marked like
any answer, and after the trailing-slash rewrite, so `/api/leaderboard/` replays too."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from arenabrain.context import Context
from arenabrain.db.answer_cache import Reply


def server_timing(started: float, hit: bool, size: int) -> str:
    """The Server-Timing header of the anchor's performance route: time, cache use, size."""
    total = (time.perf_counter() - started) * 1000
    return f'total;dur={total:.1f}, cache;desc="{"hit" if hit else "miss"}", bytes;desc="{size}"'


class AnswerReplayMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            started = time.perf_counter()
            ctx: Context | None = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
            reply = ctx.answers.reply((scope["path"], scope["query_string"])) if ctx else None
            if reply is not None and ctx is not None and _today(reply, ctx):
                await _replay(reply, started, send)
                return
        await self.app(scope, receive, send)


def _today(reply: Reply, ctx: Context) -> bool:
    return reply.valid_until is None or ctx.clock.now() < reply.valid_until


async def _replay(reply: Reply, started: float, send: Send) -> None:
    headers = list(reply.headers)  # a fresh list: outer middleware appends to it
    if reply.timed:
        timing = server_timing(started, True, len(reply.body))
        headers.append((b"server-timing", timing.encode("latin-1")))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
