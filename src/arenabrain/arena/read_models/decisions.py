"""Public decisions (§12.1.9, §12.1.10): the newest decisions of unarchived cohorts, and one
decision with its trades.

Never shown: the prompts, the model's raw and parsed answers, tokens, costs, error messages,
retries or timings. Each query names the columns it shows, so a column added to `decisions`
later stays private until a page chooses to show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.read_models.values import rows
from arenabrain.arena.wire import iso
from arenabrain.context import Context
from arenabrain.errors import NotFound

# The newest non-ERROR decisions of unarchived cohorts, found by walking the decision time index
# (CROSS JOIN keeps SQLite from starting at the cohorts and sorting every decision), and only
# then dressed with their identity.
_RECENT = (
    "SELECT d.id, d.agent_id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
    "d.reasoning, di.family_display_name AS model_display_name, di.color AS model_color, "
    "di.family_slug AS family_slug, di.legacy_model_id AS legacy_model_id, "
    "di.family_id AS model_family_id, di.release_id AS model_release_id, "
    "di.release_display_name AS model_release_name, c.cohort_number "
    "FROM (SELECT d0.id FROM decisions d0 CROSS JOIN cohorts c0 "
    "WHERE c0.id = d0.cohort_id AND d0.action <> 'ERROR' AND c0.is_archived = 0 "
    "ORDER BY d0.decision_timestamp DESC, d0.id DESC LIMIT :limit) newest "
    "JOIN decisions d ON d.id = newest.id JOIN cohorts c ON c.id = d.cohort_id "
    "JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
    "ORDER BY d.decision_timestamp DESC, d.id DESC"
)
_DECISION = (
    "SELECT d.id, d.agent_id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
    "d.reasoning, d.created_at, c.cohort_number, di.family_display_name AS model_name, "
    "di.color AS model_color, di.provider AS model_provider, di.family_slug AS family_slug, "
    "di.legacy_model_id AS legacy_model_id, di.family_id AS model_family_id, "
    "di.release_id AS model_release_id, di.release_display_name AS model_release_name "
    "FROM decisions d JOIN cohorts c ON c.id = d.cohort_id "
    "JOIN decision_benchmark_identity_v di ON di.decision_id = d.id WHERE d.id = :id"
)
_TRADES = (
    "SELECT t.id, t.market_id, t.position_id, t.decision_id, t.trade_type, t.side, t.shares, "
    "t.price, t.total_amount, t.implied_confidence, t.p_yes, t.cost_basis, t.realized_pnl, "
    "t.executed_at, m.question AS market_question, m.slug AS market_slug, "
    "m.event_slug AS market_event_slug FROM trades t JOIN markets m ON m.id = t.market_id "
    "WHERE t.decision_id = :id ORDER BY t.executed_at, t.id"
)


async def recent_decisions(session: AsyncSession, limit: int, now: datetime) -> dict[str, Any]:
    """`GET /api/decisions/recent?limit=`."""
    found = rows(await session.execute(text(_RECENT), {"limit": limit}))
    return {"decisions": found, "updated_at": iso(now)}


async def decision_detail(session: AsyncSession, decision_id: str) -> dict[str, Any]:
    """`GET /api/decisions/{id}`: the decision and its trades; NotFound when it does not
    exist."""
    found = rows(await session.execute(text(_DECISION), {"id": decision_id}))
    if not found:
        raise NotFound("Decision not found")
    trades = rows(await session.execute(text(_TRADES), {"id": decision_id}))
    return {"decision": found[0], "trades": trades}


async def get_recent_decisions(ctx: Context, limit: int) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await recent_decisions(session, limit, ctx.clock.now())


async def get_decision(ctx: Context, decision_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await decision_detail(session, decision_id)
