"""Equity series: agents' marked values over time, per family, in epoch-aligned buckets.

In each bucket each agent counts with its latest snapshot in that bucket, and a family's point
is the mean over its agents (the anchor's performance series, §12.1.3). The work is done in SQL
by probes, not scans: the buckets are generated in the query, and for every agent and every
bucket its snapshots span, one index seek on `(agent_id, snapshot_timestamp)` finds the latest
snapshot of the bucket. A year of weekly buckets costs about a thousand seeks, whatever the
number of snapshot rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.read_models.values import ids_param
from arenabrain.db.timestamps import from_text, to_text

# Stored text (`YYYY-MM-DD HH:MM:SS`) of an epoch second, in SQL.
_EPOCH_TEXT = {
    "sqlite": "datetime({0}, 'unixepoch')",
    "postgresql": "to_char(to_timestamp({0}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
}

_SPANS = """
SELECT a.id AS agent_id,
       (SELECT MIN(s.snapshot_timestamp) FROM portfolio_snapshots s WHERE s.agent_id = a.id)
           AS first_at,
       (SELECT MAX(s.snapshot_timestamp) FROM portfolio_snapshots s WHERE s.agent_id = a.id)
           AS last_at
FROM agents a WHERE a.id IN :ids
"""

_SERIES = """
WITH RECURSIVE buckets(start) AS (
    SELECT CAST(:first AS BIGINT)
    UNION ALL SELECT start + :size FROM buckets WHERE start + :size <= :last
),
bounds AS MATERIALIZED (
    SELECT start, {lo} AS lo, {hi} AS hi FROM buckets
),
spans AS MATERIALIZED (
    SELECT a.id AS agent_id, f.slug AS family,
           (SELECT MIN(s.snapshot_timestamp) FROM portfolio_snapshots s WHERE s.agent_id = a.id)
               AS first_at,
           (SELECT MAX(s.snapshot_timestamp) FROM portfolio_snapshots s WHERE s.agent_id = a.id)
               AS last_at
    FROM agents a JOIN model_families f ON f.id = a.family_id
    WHERE a.id IN :ids
),
active AS MATERIALIZED (
    SELECT agent_id, family, first_at, last_at FROM spans
    WHERE last_at >= :since AND first_at IS NOT NULL
),
probes AS (
    SELECT b.start AS start, sp.family AS family,
           (SELECT s.total_value FROM portfolio_snapshots s
            WHERE s.agent_id = sp.agent_id
              AND s.snapshot_timestamp >= CASE WHEN b.lo < :since THEN :since ELSE b.lo END
              AND s.snapshot_timestamp < b.hi
            ORDER BY s.snapshot_timestamp DESC LIMIT 1) AS total_value
    FROM bounds b JOIN active sp ON sp.first_at < b.hi AND sp.last_at >= b.lo
)
SELECT start, family, AVG(total_value) AS total_value FROM probes
WHERE total_value IS NOT NULL
GROUP BY start, family ORDER BY start, family
"""


@dataclass(frozen=True)
class Span:
    """The first and last snapshot times of a set of agents (None when there is none)."""

    first: datetime | None
    last: datetime | None


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the last day of a shorter
    month: 31 March minus one month is 28 or 29 February)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (following - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def bucket_start(moment: datetime, seconds: int) -> int:
    """The epoch second starting the `seconds`-long bucket that holds `moment`."""
    epoch = int(moment.timestamp())
    return epoch - epoch % seconds


def bucket_text(epoch: int) -> str:
    """A bucket's start as stored text (`2026-03-01 00:00:00`), the chart's `date`."""
    return to_text(datetime.fromtimestamp(epoch, UTC), fraction=False)


async def snapshot_span(session: AsyncSession, agent_ids: Sequence[str]) -> Span:
    """When the agents' snapshots start and end: two index lookups per agent."""
    if not agent_ids:
        return Span(None, None)
    rows = (
        await session.execute(text(_SPANS).bindparams(ids_param()), {"ids": list(agent_ids)})
    ).all()
    firsts = [row.first_at for row in rows if row.first_at is not None]
    lasts = [row.last_at for row in rows if row.last_at is not None]
    if not firsts or not lasts:
        return Span(None, None)
    return Span(from_text(min(firsts)), from_text(max(lasts)))


async def family_series(
    session: AsyncSession,
    agent_ids: Sequence[str],
    since: datetime,
    until: datetime,
    seconds: int,
) -> dict[str, list[tuple[str, float]]]:
    """Per family slug, `(bucket text, mean value)` for every `seconds`-long bucket from the one
    holding `since` to the one holding `until`, counting only snapshots at or after `since`."""
    if not agent_ids or until < since:
        return {}
    dialect = session.get_bind().dialect.name
    as_text = _EPOCH_TEXT[dialect]
    statement = text(
        _SERIES.format(lo=as_text.format("start"), hi=as_text.format(f"start + {int(seconds)}"))
    ).bindparams(ids_param())
    rows = await session.execute(
        statement,
        {
            "first": bucket_start(since, seconds),
            "last": bucket_start(until, seconds),
            "size": seconds,
            "since": to_text(since, fraction=False),
            "ids": list(agent_ids),
        },
    )
    series: dict[str, list[tuple[str, float]]] = {}
    for row in rows:
        series.setdefault(row.family, []).append((bucket_text(int(row.start)), row.total_value))
    return series
