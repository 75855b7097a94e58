"""The model page (§12.1.6): one model family (by id, slug or legacy model id) across its
cohorts, with its current release, performance, recent decisions and equity curve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.cohorts import INITIAL_BALANCE
from arenabrain.arena.read_models.cohorts import RECENT_DECISIONS
from arenabrain.arena.read_models.scores import (
    EMPTY_RECORD,
    confidence_briers,
    record_json,
    records_by,
    resolved_buys,
)
from arenabrain.arena.read_models.series import family_series, months_before, snapshot_span
from arenabrain.arena.read_models.values import (
    FALLBACK_COLOR,
    FIRST_RELEASE_USES,
    MONTH_BUCKET_SECONDS,
    agent_values,
    raw_rows,
    release_changes,
    rows,
)
from arenabrain.arena.wire import iso, plain
from arenabrain.context import Context
from arenabrain.errors import NotFound


async def _current_release(session: AsyncSession, family_id: str) -> tuple[str | None, str | None]:
    """The release the default config's slot uses for the family, else its newest release."""
    slot = (
        await session.execute(
            text(
                "SELECT bcm.release_id, bcm.release_display_name_snapshot AS name "
                "FROM benchmark_config_models bcm "
                "JOIN benchmark_configs bc ON bc.id = bcm.benchmark_config_id "
                "WHERE bc.is_default_for_future_cohorts = 1 AND bcm.family_id = :family "
                "ORDER BY bc.created_at DESC LIMIT 1"
            ),
            {"family": family_id},
        )
    ).first()
    if slot is not None:
        return slot.release_id, slot.name
    newest = (
        await session.execute(
            text(
                "SELECT id, release_name FROM model_releases WHERE family_id = :family "
                "ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"family": family_id},
        )
    ).first()
    return (newest.id, newest.release_name) if newest is not None else (None, None)


async def find_family(session: AsyncSession, key: str) -> Any | None:
    """The model family a public URL names: by id, else slug, else legacy model id."""
    return (
        await session.execute(
            text(
                "SELECT * FROM model_families WHERE id = :key OR slug = :key "
                "OR legacy_model_id = :key "
                "ORDER BY CASE WHEN id = :key THEN 0 WHEN slug = :key THEN 1 ELSE 2 END LIMIT 1"
            ),
            {"key": key},
        )
    ).first()


async def model_detail(
    session: AsyncSession, key: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any] | None:
    """`GET /api/models/{id}` (family id, slug or legacy model id): the family's record."""
    family = await find_family(session, key)
    if family is None:
        return None
    release_id, release_name = await _current_release(session, family.id)
    agents = raw_rows(
        await session.execute(
            text(
                "SELECT a.*, c.cohort_number, c.status AS cohort_status, c.methodology_version, "
                "c.is_archived, c.archived_at, c.archive_reason "
                "FROM agents a JOIN cohorts c ON c.id = a.cohort_id WHERE a.family_id = :family "
                "ORDER BY c.cohort_number DESC"
            ),
            {"family": family.id},
        )
    )
    values = await agent_values(session, agents)
    current: list[dict[str, Any]] = []
    archived: list[dict[str, Any]] = []
    for agent in agents:
        value = values[agent["id"]]
        row = plain(
            {
                "cohort_id": agent["cohort_id"],
                "cohort_number": agent["cohort_number"],
                "cohort_status": agent["cohort_status"],
                "methodology_version": agent["methodology_version"],
                "is_archived": agent["is_archived"],
                "archived_at": agent["archived_at"],
                "archive_reason": agent["archive_reason"],
                "scoring_status": "archived" if agent["is_archived"] else "current",
                "agent_status": agent["status"],
                "cash_balance": value.cash_balance,
                "total_value": value.total_value,
                "total_pnl": value.total_pnl,
                "total_pnl_percent": value.total_pnl_percent,
                "brier_score": value.brier_score,
                "num_resolved_bets": value.num_resolved_bets,
            }
        )
        (archived if agent["is_archived"] else current).append(row)
    total_pnl = sum(row["total_pnl"] for row in current)
    briers = [row["brier_score"] for row in current if row["brier_score"] is not None]
    current_ids = [a["id"] for a in agents if not a["is_archived"]]
    record = records_by(
        "family_id",
        await resolved_buys(session, agent_ids=current_ids),
        await confidence_briers(session, agent_ids=current_ids),
    ).get(family.id, EMPTY_RECORD)
    decisions = rows(
        await session.execute(
            text(
                "SELECT d.id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
                "d.reasoning, c.cohort_number, di.release_id AS model_release_id, "
                "di.release_display_name AS model_release_name "
                "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
                "JOIN cohorts c ON c.id = d.cohort_id "
                "WHERE di.family_id = :family AND c.is_archived = 0 "
                "ORDER BY d.decision_timestamp DESC, d.id DESC LIMIT :limit"
            ),
            {"family": family.id, "limit": RECENT_DECISIONS},
        )
    )
    span = await snapshot_span(session, current_ids)
    series = (
        await family_series(
            session, current_ids, months_before(span.last, 1), span.last, MONTH_BUCKET_SECONDS
        )
        if span.last is not None
        else {}
    )
    first_uses = raw_rows(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE di.family_id = :family AND c.is_archived = 0 "
                "AND d.action <> 'ERROR' GROUP BY di.family_slug, di.release_id"
            ),
            {"family": family.id},
        )
    )
    return {
        "model": {
            "id": family.slug,
            "family_id": family.id,
            "slug": family.slug,
            "legacy_model_id": family.legacy_model_id,
            "display_name": family.public_display_name,
            "short_display_name": family.short_display_name,
            "provider": family.provider or "Unknown",
            "color": family.color or FALLBACK_COLOR,
            "current_release_id": release_id,
            "current_release_name": release_name,
        },
        "num_cohorts": len(current),
        "total_pnl": total_pnl,
        "avg_pnl_percent": total_pnl / (len(current) * INITIAL_BALANCE) * 100 if current else 0,
        "avg_brier_score": sum(briers) / len(briers) if briers else None,
        "win_rate": record.win_rate.value,
        "forecasting": record_json(record),
        "cohort_performance": current,
        "archived_cohort_performance": archived,
        "recent_decisions": decisions,
        "equity_curve": [
            {"snapshot_timestamp": date, "total_value": value}
            for date, value in series.get(family.slug, [])
        ],
        "release_changes": release_changes(first_uses),
        "updated_at": iso(now),
    }


async def get_model(ctx: Context, key: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await model_detail(
            session, key, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
    if found is None:
        raise NotFound("Model not found")
    return found


_CATALOG = (
    "SELECT f.id, f.slug, f.legacy_model_id, f.public_display_name, f.short_display_name, "
    "f.provider, f.color, slot.release_id AS slot_release_id, "
    "slot.release_display_name_snapshot AS slot_release_name, "
    "slot.openrouter_id_snapshot AS slot_openrouter_id, "
    "newest.id AS newest_release_id, newest.release_name AS newest_release_name, "
    "newest.openrouter_id AS newest_openrouter_id "
    "FROM model_families f "
    "LEFT JOIN benchmark_config_models slot ON slot.id = ("
    "SELECT bcm.id FROM benchmark_config_models bcm "
    "JOIN benchmark_configs bc ON bc.id = bcm.benchmark_config_id "
    "WHERE bc.is_default_for_future_cohorts = 1 AND bcm.family_id = f.id "
    "ORDER BY bc.created_at DESC LIMIT 1) "
    "LEFT JOIN model_releases newest ON newest.id = ("
    "SELECT r.id FROM model_releases r WHERE r.family_id = f.id "
    "ORDER BY r.created_at DESC, r.id DESC LIMIT 1) "
    "WHERE f.status = 'active' "
)


async def public_catalog(
    session: AsyncSession, family_id: str | None = None
) -> list[dict[str, Any]]:
    """The public model catalog (§12.1.2 `models[]`): active families by sort order, each with
    the release the default config runs for it (else its newest release). Keys are the
    anchor's, camelCase included."""
    sql = _CATALOG + ("AND f.id = :family " if family_id is not None else "")
    result = await session.execute(
        text(sql + "ORDER BY f.sort_order, f.id"),
        {"family": family_id} if family_id is not None else {},
    )
    catalog = []
    for row in result:
        slot = row.slot_release_id is not None
        catalog.append(
            {
                "id": row.slug,
                "family_id": row.id,
                "slug": row.slug,
                "legacy_model_id": row.legacy_model_id,
                "displayName": row.public_display_name,
                "shortDisplayName": row.short_display_name,
                "provider": row.provider or "Unknown",
                "color": row.color or FALLBACK_COLOR,
                "openrouterId": row.slot_openrouter_id if slot else row.newest_openrouter_id,
                "currentReleaseId": row.slot_release_id if slot else row.newest_release_id,
                "currentReleaseName": row.slot_release_name if slot else row.newest_release_name,
            }
        )
    return catalog
