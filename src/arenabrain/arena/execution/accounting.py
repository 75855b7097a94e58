"""The accounting invariants of paper trading (§7.7), checked against what is stored: every
violation, for the given agents or all of them. Tests and operators run it; nothing writes."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.execution.fills import ONE, ZERO, agent_status, dec
from arenabrain.arena.models import Agent, Cohort, Market, Position, Trade

# Floats round-trip through REAL columns; sums may differ from each other by this much.
TOLERANCE = Decimal("0.000001")


async def accounting_problems(
    session: AsyncSession, agent_ids: Sequence[str] | None = None
) -> list[str]:
    """Every violation of the accounting invariants (§7.7) for these agents (default: all).

    - `total_invested` equals the cost basis of the agent's open positions;
    - cash is never negative, and the status follows the bankruptcy rule;
    - open positions hold shares, closed ones are zeroed;
    - each open or closed position's shares and cost agree with its trades;
    - cash = initial balance - BUY amounts + SELL proceeds + settlement payouts."""
    query = select(Agent, Cohort.initial_balance).join(Cohort, Cohort.id == Agent.cohort_id)
    if agent_ids is not None:
        query = query.where(Agent.id.in_(list(agent_ids)))
    problems: list[str] = []
    for agent, initial in (await session.execute(query)).all():
        problems.extend(await _agent_problems(session, agent, dec(initial)))
    return problems


async def _agent_problems(session: AsyncSession, agent: Agent, initial: Decimal) -> list[str]:
    problems: list[str] = []
    name = f"agent {agent.id}"
    cash = dec(agent.cash_balance)
    invested = dec(agent.total_invested)
    rows = (
        await session.execute(
            select(Position, Market)
            .join(Market, Market.id == Position.market_id)
            .where(Position.agent_id == agent.id)
        )
    ).all()
    open_cost = sum((dec(p.total_cost) for p, _ in rows if p.status == "open"), ZERO)
    if abs(open_cost - invested) > TOLERANCE:
        problems.append(f"{name}: total_invested {invested} != open cost basis {open_cost}")
    if cash < -TOLERANCE:
        problems.append(f"{name}: negative cash {cash}")
    if agent.status != agent_status(cash, invested):
        problems.append(f"{name}: status {agent.status} with cash {cash} and invested {invested}")
    trade_rows = (
        await session.execute(
            select(
                Trade.position_id,
                Trade.trade_type,
                func.sum(Trade.shares),
                func.sum(Trade.total_amount),
                func.sum(Trade.cost_basis),
            )
            .where(Trade.agent_id == agent.id)
            .group_by(Trade.position_id, Trade.trade_type)
        )
    ).all()
    sums: dict[tuple[str | None, str], tuple[Decimal, Decimal, Decimal]] = {
        (pid, kind): (dec(shares), dec(amount), dec(basis))
        for pid, kind, shares, amount, basis in trade_rows
    }
    bought = sum((v[1] for (_, kind), v in sums.items() if kind == "BUY"), ZERO)
    proceeds = sum((v[1] for (_, kind), v in sums.items() if kind == "SELL"), ZERO)
    payouts = ZERO
    reconcilable = True
    for position, market in rows:
        label = f"{name} position {position.id}"
        shares, cost = dec(position.shares), dec(position.total_cost)
        if position.status == "open" and shares <= 0:
            problems.append(f"{label}: open with {shares} shares")
        if position.status == "closed" and (shares != 0 or cost != 0):
            problems.append(f"{label}: closed but holds {shares} shares / cost {cost}")
        if position.status in ("open", "closed"):
            buy = sums.get((position.id, "BUY"), (ZERO, ZERO, ZERO))
            sold = sums.get((position.id, "SELL"), (ZERO, ZERO, ZERO))
            if abs(buy[0] - sold[0] - shares) > TOLERANCE * max(ONE, buy[0]):
                problems.append(f"{label}: shares {shares} != bought {buy[0]} - sold {sold[0]}")
            if abs(buy[1] - sold[2] - cost) > TOLERANCE * max(ONE, buy[1]):
                problems.append(f"{label}: cost {cost} != bought {buy[1]} - sold basis {sold[2]}")
        if position.status == "settled":
            outcome = (market.resolution_outcome or "").upper()
            if not outcome:
                reconcilable = False  # settled without a known outcome: payout unknown
            elif outcome == "CANCELLED":
                payouts += cost
            elif outcome == position.side.upper():
                payouts += shares
    expected = initial - bought + proceeds + payouts
    if reconcilable and abs(expected - cash) > TOLERANCE * max(ONE, initial):
        problems.append(
            f"{name}: cash {cash} != {initial} - bought {bought} + sold {proceeds} + paid {payouts}"
        )
    return problems
