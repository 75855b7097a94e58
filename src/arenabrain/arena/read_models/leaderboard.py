"""The leaderboard (§12.1.2 plus the scoring): one row per model family with an agent in an
unarchived cohort, ranked by portfolio P/L (the headline, as in the anchor's methodology v2),
then the market baseline row; every cohort; the public model catalog.

A family's P/L is the sum over its agents of `cash + marked open positions - 10,000`; its
P/L percent is the mean over its agents (each cohort starts at 10,000), with a bootstrap
interval. Its forecasting record (`read_models.scores`) covers the resolved BUY trades of
its unarchived agents: proper scores of `p_yes` against the market's own prices, the win rate
and the anchor's implied-confidence Brier, each with interval and sample size."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.cohorts import INITIAL_BALANCE
from arenabrain.arena.read_models.cohorts import cohort_summaries
from arenabrain.arena.read_models.models import public_catalog
from arenabrain.arena.read_models.scores import (
    EMPTY_RECORD,
    confidence_briers,
    estimate,
    estimate_json,
    record_json,
    resolved_buys,
    scored_in_thread,
)
from arenabrain.arena.read_models.values import FALLBACK_COLOR
from arenabrain.arena.wire import iso
from arenabrain.context import Context

BASELINE_NAME = "Market baseline"
BASELINE_COLOR = "#64748B"

# Every agent of an unarchived cohort with its marked value, in one grouped query.
_AGENT_VALUES = (
    "SELECT a.id, a.family_id, a.cash_balance + "
    "COALESCE(SUM(COALESCE(p.current_value, p.total_cost)), 0) AS total_value "
    "FROM agents a JOIN cohorts c ON c.id = a.cohort_id "
    "LEFT JOIN positions p ON p.agent_id = a.id AND p.status = 'open' "
    "WHERE c.is_archived = 0 GROUP BY a.id, a.family_id, a.cash_balance"
)
_FAMILIES = (
    "SELECT f.id, f.slug, f.legacy_model_id, f.public_display_name, f.provider, f.color "
    "FROM model_families f WHERE f.id IN (SELECT a.family_id FROM agents a "
    "JOIN cohorts c ON c.id = a.cohort_id WHERE c.is_archived = 0)"
)


async def leaderboard(
    session: AsyncSession, now: datetime, decision_cohort_limit: int
) -> dict[str, Any]:
    """`GET /api/leaderboard`."""
    families = list(await session.execute(text(_FAMILIES)))
    pnl: dict[str, list[float]] = {}
    for row in await session.execute(text(_AGENT_VALUES)):
        pnl.setdefault(row.family_id, []).append(float(row.total_value) - INITIAL_BALANCE)
    buys = await resolved_buys(session)
    briers = await confidence_briers(session)
    records, baseline = await scored_in_thread("family_id", buys, briers)
    standings = []
    for family in families:
        values = pnl.get(family.id, [])
        record = records.get(family.id, EMPTY_RECORD)
        total_pnl = sum(values)
        pnl_percent = estimate(
            f"{family.id}:pnl-percent", (v / INITIAL_BALANCE * 100 for v in values)
        )
        standings.append(
            {
                "kind": "model",
                "family_slug": family.slug,
                "family_id": family.id,
                "legacy_model_id": family.legacy_model_id,
                "display_name": family.public_display_name,
                "provider": family.provider or "Unknown",
                "color": family.color or FALLBACK_COLOR,
                "total_pnl": total_pnl,
                "total_pnl_percent": total_pnl / (len(values) * INITIAL_BALANCE) * 100
                if values
                else 0.0,
                "avg_brier_score": record.confidence_brier.value,
                "num_cohorts": len(values),
                "num_resolved_bets": record.confidence_brier.n,
                "win_rate": record.win_rate.value,
                "pnl_percent": estimate_json(pnl_percent),
                "forecasting": record_json(record),
            }
        )
    standings.sort(key=lambda row: (-row["total_pnl"], row["family_slug"]))
    standings.append(
        {
            "kind": "market_baseline",
            "display_name": BASELINE_NAME,
            "color": BASELINE_COLOR,
            "brier": estimate_json(baseline.market_brier),
            "log_score": estimate_json(baseline.market_log_score),
        }
    )
    return {
        "leaderboard": standings,
        "cohorts": await cohort_summaries(session, decision_cohort_limit),
        "models": await public_catalog(session),
        "updated_at": iso(now),
    }


async def get_leaderboard(ctx: Context) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await leaderboard(session, ctx.clock.now(), ctx.settings.decision_cohort_limit)
