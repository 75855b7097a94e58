"""One model's page within one cohort (§12.1.8): its agent, rank and stats, its decisions with
their trades, its open and past positions, its trades and its equity curve."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.markets import stored_side_price
from arenabrain.arena.models import Cohort
from arenabrain.arena.read_models.cohorts import cohort_flags, current_threshold
from arenabrain.arena.read_models.models import find_family
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
    MONTH_BUCKET_SECONDS,
    OPENING_DECISION,
    agent_values,
    ids_param,
    raw_rows,
    release_changes,
    rows,
)
from arenabrain.arena.weeks import elapsed_week_number
from arenabrain.arena.wire import iso, plain, row_dict
from arenabrain.context import Context
from arenabrain.errors import NotFound

AGENT_DECISIONS = 20
AGENT_TRADES = 50
AGENT_HISTORY = 50


def position_outcome(
    position: Mapping[str, Any], sold: tuple[float, float]
) -> tuple[str, float | None, float | None]:
    """The history label of a position that is no longer live (§8.7), with its settlement
    value and P/L. `position` has `status`, `side`, `shares`, `total_cost`, `market_status`
    and `resolution_outcome`; `sold` is (sum of SELL proceeds, sum of their cost basis).

    EXITED (sold out), CANCELLED (refunded at cost), WON / LOST (settled; the side is compared
    case-insensitively), PENDING (still open on a closed market), else UNKNOWN."""
    status = position["status"]
    shares = float(position["shares"] or 0.0)
    cost = float(position["total_cost"] or 0.0)
    if status == "closed":
        return "EXITED", sold[0], sold[0] - sold[1]
    if status == "settled":
        outcome = (position["resolution_outcome"] or "").upper()
        if outcome == "CANCELLED":
            return "CANCELLED", cost, 0.0
        if outcome and outcome == str(position["side"]).upper():
            return "WON", shares, shares - cost
        if outcome:
            return "LOST", 0.0, -cost
        return "UNKNOWN", None, None
    if status == "open" and position["market_status"] == "closed":
        return "PENDING", None, None
    return "UNKNOWN", None, None


def agent_rank(value: float, cohort_values: Iterable[float]) -> int:
    """1 + how many agents of the cohort are worth strictly more (ties share a rank)."""
    return 1 + sum(1 for other in cohort_values if other > value)


async def cohort_model_detail(
    session: AsyncSession, cohort_id: str, key: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any]:
    """`GET /api/cohorts/{id}/models/{familySlugOrLegacyId}`: one agent's week-by-week record
    (§12.1.8). Raises NotFound naming the cohort, the model or the agent that is missing."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound("Cohort not found")
    family = await find_family(session, key)
    if family is None:
        raise NotFound("Model not found")
    agents = raw_rows(
        await session.execute(
            text(
                "SELECT a.*, ai.family_slug, ai.family_display_name, ai.release_display_name, "
                "ai.provider, ai.color FROM agents a "
                "JOIN agent_benchmark_identity_v ai ON ai.agent_id = a.id "
                "WHERE a.cohort_id = :cohort ORDER BY a.created_at, a.id"
            ),
            {"cohort": cohort_id},
        )
    )
    agent = next((a for a in agents if a["family_id"] == family.id), None)
    if agent is None:
        raise NotFound("Agent not found in this cohort")
    agent_id = agent["id"]
    values = await agent_values(session, agents)
    value = values[agent_id]
    percents = [v.total_pnl_percent for v in values.values()]
    threshold = await current_threshold(session, decision_cohort_limit)
    cohort_row = row_dict(cohort)
    total_markets = await session.scalar(
        text(
            "SELECT COUNT(DISTINCT p.market_id) FROM positions p "
            "JOIN agents a ON a.id = p.agent_id WHERE a.cohort_id = :cohort"
        ),
        {"cohort": cohort_id},
    )

    positions = raw_rows(
        await session.execute(
            text(
                "SELECT p.*, m.question AS market_question, m.market_type AS market_type, "
                "m.current_price AS market_price, m.current_prices AS market_prices, "
                f"{OPENING_DECISION} AS opening_decision_id "
                "FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = :agent AND p.status = 'open' AND m.status = 'active' "
                "ORDER BY p.opened_at DESC, p.id"
            ),
            {"agent": agent_id},
        )
    )
    open_rows = []
    for row in positions:
        side_price = stored_side_price(
            {
                "market_type": row.pop("market_type"),
                "current_price": row.pop("market_price"),
                "current_prices": row.pop("market_prices"),
            },
            row["side"],
        )
        open_rows.append(plain({**row, "current_price": side_price}))

    history = raw_rows(
        await session.execute(
            text(
                "SELECT p.*, m.question AS market_question, m.status AS market_status, "
                "m.resolution_outcome AS resolution_outcome, "
                "(SELECT COALESCE(SUM(t.total_amount), 0) FROM trades t "
                "WHERE t.position_id = p.id AND t.trade_type = 'SELL') AS sold_proceeds, "
                "(SELECT COALESCE(SUM(t.cost_basis), 0) FROM trades t "
                "WHERE t.position_id = p.id AND t.trade_type = 'SELL') AS sold_cost_basis "
                "FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = :agent AND (p.status <> 'open' OR m.status <> 'active') "
                "ORDER BY COALESCE(p.closed_at, p.opened_at) DESC, p.id DESC LIMIT :limit"
            ),
            {"agent": agent_id, "limit": AGENT_HISTORY},
        )
    )
    closed_rows = []
    for row in history:
        sold = (float(row.pop("sold_proceeds") or 0), float(row.pop("sold_cost_basis") or 0))
        outcome, settlement, pnl = position_outcome(row, sold)
        closed_rows.append(
            plain({**row, "outcome": outcome, "settlement_value": settlement, "pnl": pnl})
        )

    trades = [
        {"id": row.pop("id"), "timestamp": iso(row.pop("executed_at")), **row}
        for row in raw_rows(
            await session.execute(
                text(
                    "SELECT t.id, t.executed_at, t.trade_type, t.side, t.shares, t.price, "
                    "t.total_amount, t.decision_id, t.market_id, m.question AS market_question, "
                    "d.decision_week FROM trades t JOIN markets m ON m.id = t.market_id "
                    "LEFT JOIN decisions d ON d.id = t.decision_id WHERE t.agent_id = :agent "
                    "ORDER BY t.executed_at DESC, t.id DESC LIMIT :limit"
                ),
                {"agent": agent_id, "limit": AGENT_TRADES},
            )
        )
    ]
    trade_count = await session.scalar(
        text("SELECT COUNT(*) FROM trades WHERE agent_id = :agent"), {"agent": agent_id}
    )
    record = records_by(
        "agent_id",
        await resolved_buys(session, agent_ids=[agent_id]),
        await confidence_briers(session, agent_ids=[agent_id]),
    ).get(agent_id, EMPTY_RECORD)

    decisions = rows(
        await session.execute(
            text(
                "SELECT id, decision_week, decision_timestamp, action, reasoning FROM decisions "
                "WHERE agent_id = :agent ORDER BY decision_timestamp DESC, id DESC LIMIT :limit"
            ),
            {"agent": agent_id, "limit": AGENT_DECISIONS},
        )
    )
    legs: dict[str, list[dict[str, Any]]] = {d["id"]: [] for d in decisions}
    if legs:
        for leg in await session.execute(
            text(
                "SELECT t.decision_id, t.trade_type, t.side, t.shares, t.price, t.total_amount, "
                "t.market_id, m.question AS market_question FROM trades t "
                "JOIN markets m ON m.id = t.market_id WHERE t.decision_id IN :ids "
                "ORDER BY t.executed_at, t.id"
            ).bindparams(ids_param()),
            {"ids": list(legs)},
        ):
            item = dict(leg._mapping)
            legs[item.pop("decision_id")].append(item)

    span = await snapshot_span(session, [agent_id])
    series = (
        await family_series(session, [agent_id], span.first, span.last, MONTH_BUCKET_SECONDS)
        if span.first is not None and span.last is not None
        else {}
    )
    first_uses = raw_rows(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE d.agent_id = :agent AND d.action <> 'ERROR' "
                "GROUP BY di.family_slug, di.release_id"
            ),
            {"agent": agent_id},
        )
    )
    legacy_model_id = family.legacy_model_id or agent["model_id"]
    return {
        "cohort": {
            "id": cohort.id,
            "cohort_number": cohort.cohort_number,
            "status": cohort.status,
            "started_at": iso(cohort.started_at),
            "completed_at": iso(cohort.completed_at),
            "benchmark_config_id": cohort.benchmark_config_id,
            "current_week": elapsed_week_number(cohort.started_at, now),
            "total_markets": int(total_markets or 0),
            "is_archived": bool(cohort.is_archived),
            "archived_at": iso(cohort.archived_at),
            "archive_reason": cohort.archive_reason,
            **cohort_flags(cohort_row, threshold),
        },
        "model": {
            "id": family.slug,
            "family_id": family.id,
            "family_slug": family.slug,
            "slug": family.slug,
            "legacy_model_id": legacy_model_id,
            "display_name": agent["family_display_name"] or family.public_display_name,
            "provider": agent["provider"] or family.provider or "Unknown",
            "color": agent["color"] or family.color or FALLBACK_COLOR,
            "release_id": agent["release_id"],
            "release_name": agent["release_display_name"],
            "benchmark_config_model_id": agent["benchmark_config_model_id"],
        },
        "agent": {
            "id": agent_id,
            "family_slug": family.slug,
            "family_id": family.id,
            "legacy_model_id": legacy_model_id,
            "benchmark_config_model_id": agent["benchmark_config_model_id"],
            "status": agent["status"],
            "cash_balance": float(agent["cash_balance"]),
            "total_invested": float(agent["total_invested"]),
            "total_value": value.total_value,
            "total_pnl": value.total_pnl,
            "total_pnl_percent": value.total_pnl_percent,
            "brier_score": value.brier_score,
            "num_resolved_bets": value.num_resolved_bets,
            "rank": agent_rank(value.total_value, (v.total_value for v in values.values())),
            "total_agents": len(agents),
            "forecasting": record_json(record),
        },
        "stats": {
            "position_count": len(open_rows),
            "trade_count": int(trade_count or 0),
            "win_rate": record.win_rate.value,
            "cohort_avg_pnl_percent": sum(percents) / len(percents),
            "cohort_best_pnl_percent": max(percents),
            "cohort_worst_pnl_percent": min(percents),
        },
        "equity_curve": [
            {"snapshot_timestamp": date, "total_value": total}
            for date, total in series.get(family.slug, [])
        ],
        "release_changes": release_changes(first_uses),
        "decisions": [{**d, "markets": legs[d["id"]]} for d in decisions],
        "positions": open_rows,
        "closed_positions": closed_rows,
        "trades": trades,
        "updated_at": iso(now),
    }


async def get_cohort_model(ctx: Context, cohort_id: str, key: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await cohort_model_detail(
            session, cohort_id, key, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
