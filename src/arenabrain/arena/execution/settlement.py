"""Settling one open position once its market has a verdict (§8.4, §8.6 of the reference):
paid its shares at $1 when its side won, nothing when it lost, or refunded its cost when the
market was cancelled. Works inside the caller's unit of work (one position per unit, so a
failure on one leaves the others settled), and writes the agent's cash, `total_invested` and
status in the same transaction, so the accounting invariants hold after every commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.execution.fills import ZERO, agent_status, dec
from arenabrain.arena.models import Agent, Position
from arenabrain.arena.system_logs import log_event


def payout(side: str, shares: Decimal, cost: Decimal, winner: str, refund: bool) -> Decimal:
    """What a settled position pays: its cost back on a refund; else $1 a share when its side
    is the winner (compared case-insensitively), else nothing."""
    if refund:
        return cost
    return shares if side.strip().upper() == winner.strip().upper() else ZERO


@dataclass(frozen=True)
class Settled:
    position_id: str
    agent_id: str
    paid: Decimal
    cost_basis: Decimal


async def settle_position(
    session: AsyncSession, position_id: str, winner: str, now: datetime, *, refund: bool = False
) -> Settled | None:
    """Settle (or, with `refund`, refund) one open position; None when it is no longer open
    (another run settled or sold it meanwhile) or its agent is gone."""
    position = await session.get(
        Position, position_id, populate_existing=True, with_for_update=True
    )
    if position is None or position.status != "open":
        return None
    agent = await session.get(
        Agent, position.agent_id, populate_existing=True, with_for_update=True
    )
    if agent is None:
        return None
    shares, cost = dec(position.shares), dec(position.total_cost)
    paid = payout(position.side, shares, cost, winner, refund)
    cash = dec(agent.cash_balance) + paid
    invested = max(ZERO, dec(agent.total_invested) - cost)
    agent.cash_balance = float(cash)
    agent.total_invested = float(invested)
    agent.status = agent_status(cash, invested)
    # Shares and cost stay: the position's history (won, lost, refunded) is read from them.
    position.current_value = 0.0
    position.unrealized_pnl = 0.0
    position.status = "settled"
    position.closed_at = now
    if refund:
        await log_event(
            session,
            "position_refunded",
            {
                "position_id": position.id,
                "agent_id": agent.id,
                "market_id": position.market_id,
                "refund_amount": paid,
            },
            "info",
            now,
        )
    else:
        await log_event(
            session,
            "position_settled",
            {
                "position_id": position.id,
                "agent_id": agent.id,
                "market_id": position.market_id,
                "side": position.side,
                "winning_outcome": winner,
                "settlement_value": paid,
                "cost_basis": cost,
                "pnl": paid - cost,
            },
            "info",
            now,
        )
    await session.flush()
    return Settled(position.id, agent.id, paid, cost)
