"""The performance chart (§12.1.3): each family's mean portfolio value over a range, in
buckets sized so that a response stays small (at most a few hundred points), with the release
changes drawn on it and the public model catalog.

The range ends at the latest snapshot in scope (or now, when there is none) and starts 10
minutes, 1 hour, 1 day, 7 days, 1 calendar month, 3 months or 10 years earlier. Without a
cohort the scope is every unarchived cohort; a family narrows it to that family."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.read_models.models import find_family, public_catalog
from arenabrain.arena.read_models.series import family_series, months_before, snapshot_span
from arenabrain.arena.read_models.values import (
    FALLBACK_COLOR,
    FIRST_RELEASE_USES,
    raw_rows,
    release_changes,
)
from arenabrain.arena.wire import iso
from arenabrain.context import Context
from arenabrain.errors import NotFound

RANGES = ("10M", "1H", "1D", "1W", "1M", "3M", "ALL")
# Bucket sizes in seconds; weekly buckets are epoch-aligned, so they start on Thursdays.
BUCKET_SECONDS = {
    "10M": 600,
    "1H": 600,
    "1D": 600,
    "1W": 3600,
    "1M": 6 * 3600,
    "3M": 86400,
    "ALL": 7 * 86400,
}
_SPANS: dict[str, timedelta | int] = {
    "10M": timedelta(minutes=10),
    "1H": timedelta(hours=1),
    "1D": timedelta(days=1),
    "1W": timedelta(days=7),
    "1M": 1,
    "3M": 3,
    "ALL": 120,
}


def range_start(end: datetime, range_key: str) -> datetime:
    """Where a range that ends at `end` starts."""
    span = _SPANS[range_key]
    return end - span if isinstance(span, timedelta) else months_before(end, span)


def _scope(cohort_id: str | None, family_id: str | None) -> tuple[str, dict[str, str]]:
    """The SQL condition (over decisions or agents joined to cohorts as `c`, the agent's or
    decision's family as `family_column`) and parameters of a chart's scope."""
    where = "c.id = :cohort" if cohort_id is not None else "c.is_archived = 0"
    params = {"cohort": cohort_id} if cohort_id is not None else {}
    if family_id is not None:
        where += " AND {family_column} = :family"
        params["family"] = family_id
    return where, params


async def _default_release_changes(
    session: AsyncSession, first_uses: list[dict[str, Any]], family_id: str | None
) -> list[dict[str, Any]]:
    """A change dated at the default config's creation for every family whose default release
    differs from the last release its agents decided with (§12.1.3)."""
    last_seen: dict[str, dict[str, Any]] = {}
    for use in sorted(first_uses, key=lambda row: str(row["first_at"])):
        last_seen[use["family_slug"]] = use
    changes = []
    for row in await session.execute(
        text(
            "SELECT f.slug, bc.created_at, bcm.release_id, bcm.release_display_name_snapshot "
            "AS release_name, bcm.family_display_name_snapshot AS family_name, "
            "COALESCE(bcm.color_snapshot, f.color) AS color FROM benchmark_configs bc "
            "JOIN benchmark_config_models bcm ON bcm.benchmark_config_id = bc.id "
            "JOIN model_families f ON f.id = bcm.family_id "
            "WHERE bc.is_default_for_future_cohorts = 1"
            + (" AND bcm.family_id = :family" if family_id is not None else "")
        ),
        {"family": family_id} if family_id is not None else {},
    ):
        seen = last_seen.get(row.slug)
        if seen is None or seen["release_id"] == row.release_id:
            continue
        changes.append(
            {
                "date": iso(row.created_at),
                "model_id": row.slug,
                "model_name": row.family_name,
                "previous_release_name": seen["release_name"],
                "release_name": row.release_name,
                "color": row.color or FALLBACK_COLOR,
            }
        )
    return changes


async def performance_data(
    session: AsyncSession,
    range_key: str,
    cohort_id: str | None,
    family_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    """`GET /api/performance-data`. Raises NotFound for an unknown cohort or family."""
    if cohort_id is not None:
        found = await session.scalar(
            text("SELECT id FROM cohorts WHERE id = :id"), {"id": cohort_id}
        )
        if found is None:
            raise NotFound("Unknown cohort_id")
    family_id: str | None = None
    if family_key is not None:
        family = await find_family(session, family_key)
        if family is None:
            raise NotFound("Unknown family_id")
        family_id = family.id
    where, params = _scope(cohort_id, family_id)
    agent_ids = list(
        await session.scalars(
            text(
                "SELECT a.id FROM agents a JOIN cohorts c ON c.id = a.cohort_id WHERE "
                + where.format(family_column="a.family_id")
            ),
            params,
        )
    )
    span = await snapshot_span(session, agent_ids)
    end = span.last or now
    since = range_start(end, range_key)
    series = await family_series(session, agent_ids, since, end, BUCKET_SECONDS[range_key])
    points: dict[str, dict[str, Any]] = {}
    for family_slug, values in series.items():
        for date, value in values:
            points.setdefault(date, {"date": date})[family_slug] = value
    first_uses = raw_rows(
        await session.execute(
            text(
                FIRST_RELEASE_USES
                + "WHERE "
                + where.format(family_column="di.family_id")
                + " AND d.action <> 'ERROR' GROUP BY di.family_slug, di.release_id"
            ),
            params,
        )
    )
    changes = release_changes(first_uses)
    if cohort_id is None:
        changes += await _default_release_changes(session, first_uses, family_id)
    return {
        "data": [points[date] for date in sorted(points)],
        "models": await public_catalog(session, family_id),
        "release_changes": sorted(changes, key=lambda change: str(change["date"])),
        "range": range_key,
        "updated_at": iso(now),
    }


async def get_performance_data(
    ctx: Context, range_key: str, cohort_id: str | None, family_key: str | None
) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await performance_data(session, range_key, cohort_id, family_key, ctx.clock.now())
