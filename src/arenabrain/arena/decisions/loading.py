"""What a decision run reads: the eligible cohorts, the markets every agent is shown, each
agent with its frozen slot, an agent's portfolio as the prompt shows it, and the CLOB prices a
BET or SELL trades at. Reads only; the engine does the writing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena import cohorts
from arenabrain.arena.decisions import prompts
from arenabrain.arena.decisions.parser import ParsedDecision
from arenabrain.arena.execution.fills import dec
from arenabrain.arena.execution.trades import Lineage
from arenabrain.arena.markets import stored_side_price, top_active_markets
from arenabrain.arena.models import Agent, BenchmarkConfigModel, Market, Position
from arenabrain.arena.pricing import fetch_side_prices
from arenabrain.arena.wire import decode_json
from arenabrain.clients.openrouter.chat import Prices
from arenabrain.context import Context


@dataclass(frozen=True)
class CohortRef:
    id: str
    number: int
    started_at: datetime


@dataclass(frozen=True)
class AgentRef:
    id: str
    cohort_id: str
    model_id: str  # the legacy model id (api_costs.model_id, results)
    display_name: str
    openrouter_id: str
    prices: Prices
    status: str
    lineage: Lineage


async def eligible_cohorts(session: AsyncSession, limit: int) -> list[CohortRef]:
    """Active, unarchived cohorts among the newest `limit` cohort numbers, newest first."""
    rows = await cohorts.decision_eligible_cohorts(session, limit)
    return [CohortRef(row.id, row.cohort_number, row.started_at) for row in rows]


async def top_markets(session: AsyncSession, count: int) -> list[Market]:
    """The markets every agent of the run is shown (loaded once per run)."""
    return await top_active_markets(session, count)


async def decision_agents(session: AsyncSession, cohort_id: str) -> list[AgentRef]:
    """A cohort's agents as a decision run sees them: with their frozen slot (the model to
    call, its prices), richest first."""
    rows = await session.execute(
        select(Agent, BenchmarkConfigModel)
        .join(BenchmarkConfigModel, BenchmarkConfigModel.id == Agent.benchmark_config_model_id)
        .where(Agent.cohort_id == cohort_id)
        .order_by(Agent.cash_balance.desc(), BenchmarkConfigModel.slot_order)
    )
    agents = []
    for agent, slot in rows.all():
        if (
            slot.input_price_per_million_snapshot is None
            or slot.output_price_per_million_snapshot is None
        ):
            raise ValueError(f"Agent {agent.id} is missing frozen pricing snapshots")
        agents.append(
            AgentRef(
                id=agent.id,
                cohort_id=agent.cohort_id,
                model_id=agent.model_id,
                display_name=slot.family_display_name_snapshot,
                openrouter_id=slot.openrouter_id_snapshot,
                prices=Prices(
                    dec(slot.input_price_per_million_snapshot),
                    dec(slot.output_price_per_million_snapshot),
                ),
                status=agent.status,
                lineage=Lineage(agent.family_id, agent.release_id, agent.benchmark_config_model_id),
            )
        )
    return agents


def market_line(market: Market) -> prompts.MarketLine:
    outcomes = decode_json(market.outcomes, None)
    current = decode_json(market.current_prices, None)
    return prompts.MarketLine(
        id=market.id,
        question=market.question,
        category=market.category,
        market_type=market.market_type,
        close_date=market.close_date.date().isoformat(),
        volume=market.volume,
        yes_price=market.current_price,
        outcomes=tuple(str(o) for o in outcomes) if isinstance(outcomes, list) else (),
        outcome_prices={str(k): float(v) for k, v in current.items() if _is_price(v)}
        if isinstance(current, dict)
        else None,
    )


async def portfolio(
    session: AsyncSession, agent_id: str
) -> tuple[Decimal, list[prompts.PositionLine]]:
    """The agent's cash and open positions as the prompt shows them (newest first)."""
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise ValueError("Agent not found")
    rows = await session.execute(
        select(Position, Market)
        .join(Market, Market.id == Position.market_id)
        .where(Position.agent_id == agent_id, Position.status == "open")
        # Ties in the upstream's terms, not by row ids (random): a prompt reads the same
        # whenever the portfolio is the same.
        .order_by(Position.opened_at.desc(), Market.polymarket_id, Position.side)
    )
    lines = []
    for position, market in rows.all():
        lines.append(
            prompts.PositionLine(
                id=position.id,
                question=market.question,
                side=position.side,
                shares=position.shares,
                avg_entry_price=position.avg_entry_price,
                total_cost=position.total_cost,
                current_value=position.current_value,
                current_price=stored_side_price(market, position.side),
                sellable=market.status == "active",
            )
        )
    return dec(agent.cash_balance), lines


async def execution_prices(
    ctx: Context, parsed: ParsedDecision
) -> dict[tuple[str, str], Decimal | None]:
    """Validated CLOB prices for every market a BET or SELL names (missing ones asked twice)."""
    async with ctx.db.read() as session:
        if parsed.action == "BET":
            ids = [b.market_id for b in parsed.bets]
        else:
            ids = list(
                await session.scalars(
                    select(Position.market_id).where(
                        Position.id.in_([s.position_id for s in parsed.sells])
                    )
                )
            )
        markets = (
            list(await session.scalars(select(Market).where(Market.id.in_(ids)))) if ids else []
        )
    return await fetch_side_prices(ctx, markets, ask_missing_again=True)


def _is_price(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
