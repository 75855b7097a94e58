"""The cohort page (§12.1.7): the cohort with its decision flags, its agents ranked by value,
stats, weekly equity curves, release changes and recent decisions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.decision_window import decision_status, decision_threshold
from arenabrain.arena.models import Cohort
from arenabrain.arena.read_models.scores import (
    EMPTY_RECORD,
    confidence_briers,
    record_json,
    records_by,
    resolved_buys,
)
from arenabrain.arena.read_models.series import family_series, snapshot_span
from arenabrain.arena.read_models.values import (
    FALLBACK_COLOR,
    FIRST_RELEASE_USES,
    WEEK_SECONDS,
    agent_values,
    ids_param,
    raw_rows,
    release_changes,
    rows,
)
from arenabrain.arena.weeks import decision_week
from arenabrain.arena.wire import iso, row_dict
from arenabrain.context import Context
from arenabrain.errors import NotFound

RECENT_DECISIONS = 20


def cohort_flags(cohort: Mapping[str, Any], threshold: int) -> dict[str, Any]:
    status = decision_status(
        cohort["status"], bool(cohort["is_archived"]), cohort["cohort_number"], threshold
    )
    return {
        "scoring_status": "archived" if cohort["is_archived"] else "current",
        "decision_eligible": status == "decisioning",
        "decision_status": status,
    }


async def current_threshold(session: AsyncSession, limit: int) -> int:
    latest = await session.scalar(select(func.max(Cohort.cohort_number)))
    return decision_threshold(latest or 0, limit)


DECISION_DISPLAY = (
    "SELECT d.id, d.agent_id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
    "d.reasoning, c.cohort_number, di.family_display_name AS model_display_name, "
    "di.color AS model_color, di.family_slug AS family_slug, "
    "di.legacy_model_id AS legacy_model_id, di.family_id AS family_id, "
    "di.release_id AS release_id, di.release_display_name AS model_release_name "
    "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
    "JOIN cohorts c ON c.id = d.cohort_id "
)


async def cohort_detail(
    session: AsyncSession, cohort_id: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any] | None:
    """`GET /api/cohorts/{id}`: the cohort, its agents ranked by value, stats, equity curves."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        return None
    threshold = await current_threshold(session, decision_cohort_limit)
    cohort_row = row_dict(cohort)
    agents = raw_rows(
        await session.execute(
            text(
                "SELECT a.*, ai.family_slug, ai.legacy_model_id AS identity_legacy_model_id, "
                "f.legacy_model_id AS family_legacy_model_id, "
                "COALESCE(ai.family_display_name, a.model_id) AS model_display_name, "
                f"COALESCE(ai.color, '{FALLBACK_COLOR}') AS model_color, "
                "ai.release_display_name AS model_release_name, "
                "(SELECT COUNT(*) FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = a.id AND p.status = 'open' AND m.status = 'active') "
                "AS position_count, "
                "(SELECT COUNT(*) FROM trades t WHERE t.agent_id = a.id) AS trade_count "
                "FROM agents a JOIN agent_benchmark_identity_v ai ON ai.agent_id = a.id "
                "LEFT JOIN model_families f ON f.id = a.family_id "
                "WHERE a.cohort_id = :cohort"
            ),
            {"cohort": cohort_id},
        )
    )
    values = await agent_values(session, agents)
    ids = [a["id"] for a in agents]
    records = records_by(
        "agent_id",
        await resolved_buys(session, agent_ids=ids),
        await confidence_briers(session, agent_ids=ids),
    )
    agent_rows = []
    for agent in agents:
        value = values[agent["id"]]
        agent_rows.append(
            {
                "id": agent["id"],
                "family_slug": agent["family_slug"],
                "family_id": agent["family_id"],
                "legacy_model_id": agent["family_legacy_model_id"] or agent["model_id"],
                "release_id": agent["release_id"],
                "benchmark_config_model_id": agent["benchmark_config_model_id"],
                "model_display_name": agent["model_display_name"],
                "model_color": agent["model_color"],
                "model_release_name": agent["model_release_name"],
                "cash_balance": float(agent["cash_balance"]),
                "total_invested": float(agent["total_invested"]),
                "status": agent["status"],
                "total_value": value.total_value,
                "total_pnl": value.total_pnl,
                "total_pnl_percent": value.total_pnl_percent,
                "brier_score": value.brier_score,
                "position_count": int(agent["position_count"]),
                "trade_count": int(agent["trade_count"]),
                "num_resolved_bets": value.num_resolved_bets,
                "forecasting": record_json(records.get(agent["id"], EMPTY_RECORD)),
            }
        )
    agent_rows.sort(key=lambda a: -a["total_value"])
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM trades WHERE agent_id IN :ids) AS trades, "
                "(SELECT COUNT(*) FROM positions WHERE status = 'open' AND agent_id IN :ids) "
                "AS open_positions, "
                "(SELECT COUNT(DISTINCT market_id) FROM positions WHERE agent_id IN :ids) "
                "AS markets"
            ).bindparams(ids_param()),
            {"ids": ids or [""]},
        )
    ).one()
    briers = [a["brier_score"] for a in agent_rows if a["brier_score"] is not None]
    span = await snapshot_span(session, ids)
    series = (
        await family_series(session, ids, span.first, span.last, WEEK_SECONDS)
        if span.first is not None and span.last is not None
        else {}
    )
    first_uses = raw_rows(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE d.cohort_id = :cohort AND d.action <> 'ERROR' "
                "GROUP BY di.family_slug, di.release_id"
            ),
            {"cohort": cohort_id},
        )
    )
    decisions = rows(
        await session.execute(
            text(
                DECISION_DISPLAY + "WHERE d.cohort_id = :cohort "
                "ORDER BY d.decision_timestamp DESC, d.id DESC LIMIT :limit"
            ),
            {"cohort": cohort_id, "limit": RECENT_DECISIONS},
        )
    )
    return {
        "cohort": {**cohort_row, **cohort_flags(cohort_row, threshold)},
        "agents": agent_rows,
        "stats": {
            "week_number": decision_week(cohort.started_at, now),
            "total_trades": int(counts.trades),
            "total_positions_open": int(counts.open_positions),
            "markets_with_positions": int(counts.markets),
            "total_resolved_bets": sum(a["num_resolved_bets"] for a in agent_rows),
            "avg_brier_score": sum(briers) / len(briers) if briers else None,
        },
        "equity_curves": {
            family: [{"date": date, "value": value} for date, value in points]
            for family, points in series.items()
        },
        "release_changes": release_changes(first_uses),
        "recent_decisions": decisions,
        "updated_at": iso(now),
    }


async def get_cohort(ctx: Context, cohort_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await cohort_detail(
            session, cohort_id, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
    if found is None:
        raise NotFound("Cohort not found")
    return found


_COHORT_SUMMARIES = (
    "SELECT c.id, c.cohort_number, c.started_at, c.status, c.methodology_version, "
    "c.is_archived, c.archived_at, c.archive_reason, "
    "(SELECT COUNT(*) FROM agents a WHERE a.cohort_id = c.id) AS num_agents, "
    "(SELECT COUNT(DISTINCT t.market_id) FROM trades t JOIN agents a ON a.id = t.agent_id "
    "WHERE a.cohort_id = c.id) AS total_markets_traded "
    "FROM cohorts c ORDER BY c.started_at DESC, c.id DESC"
)


async def cohort_summaries(
    session: AsyncSession,
    decision_cohort_limit: int,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Cohorts newest first (archived ones too), each with its agent count, the markets its
    agents traded and its decision flags (§12.1.2 `cohorts[]`)."""
    threshold = await current_threshold(session, decision_cohort_limit)
    sql = _COHORT_SUMMARIES
    params: dict[str, Any] = {}
    if limit is not None:
        sql += " LIMIT :limit OFFSET :offset"
        params = {"limit": limit, "offset": offset}
    summaries = []
    for row in rows(await session.execute(text(sql), params)):
        summaries.append(
            {
                **row,
                "num_agents": int(row["num_agents"]),
                "total_markets_traded": int(row["total_markets_traded"]),
                **cohort_flags(row, threshold),
            }
        )
    return summaries


async def cohort_list(
    session: AsyncSession, query: Mapping[str, int], now: datetime, decision_cohort_limit: int
) -> dict[str, Any]:
    """`GET /api/cohorts`: one page of the cohort summaries, newest first."""
    total = int(await session.scalar(select(func.count()).select_from(Cohort)) or 0)
    cohorts = await cohort_summaries(
        session, decision_cohort_limit, limit=query["limit"], offset=query["offset"]
    )
    return {
        "cohorts": cohorts,
        "total": total,
        "has_more": query["offset"] + query["limit"] < total,
        "updated_at": iso(now),
    }


async def get_cohorts(ctx: Context, query: Mapping[str, int]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await cohort_list(
            session, query, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
