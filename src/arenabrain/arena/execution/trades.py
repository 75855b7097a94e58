"""The writes of paper trading: a decision's BET batch (all or nothing) and its SELLs (each on
its own, failures tried once more), with the positions, trades, agent balances and log lines
they change, inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.decisions.parser import MAX_BET_FRACTION, Bet, Sell
from arenabrain.arena.execution.fills import (
    HUNDRED,
    ONE,
    ZERO,
    Holding,
    SellFill,
    SidePrices,
    agent_status,
    buy_into,
    dec,
    fixed2,
    is_binary,
    json_list,
    sell_from,
)
from arenabrain.arena.models import Agent, Market, Position, Trade
from arenabrain.arena.system_logs import log_event
from arenabrain.db.ids import new_id


@dataclass(frozen=True)
class Lineage:
    family_id: str | None
    release_id: str | None
    benchmark_config_model_id: str | None

    @property
    def complete(self) -> bool:
        return bool(self.family_id and self.release_id and self.benchmark_config_model_id)


@dataclass(frozen=True)
class TradeResult:
    success: bool
    trade_id: str | None = None
    position_id: str | None = None
    shares: Decimal | None = None
    proceeds: Decimal | None = None
    error: str | None = None


@dataclass(frozen=True)
class ExecutionReport:
    attempted: int
    results: tuple[TradeResult, ...] = ()

    @property
    def executed(self) -> int:
        return sum(1 for r in self.results if r.success)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if not r.success and r.error]


class _Reject(Exception):
    """A trade check failed; the message is the anchor's."""


# --- BET -----------------------------------------------------------------------------------


@dataclass
class _Leg:
    bet: Bet
    market: Market
    side: str
    price: Decimal
    shares: Decimal
    position: Position | None  # existing open row, or None for a new one
    position_key: tuple[str, str]
    holding: Holding
    cash_before: Decimal  # the agent's cash when this leg is placed (after earlier legs)


@dataclass
class _Plan:
    cash: Decimal
    invested: Decimal
    legs: list[_Leg] = field(default_factory=list)
    holdings: dict[tuple[str, str], Holding] = field(default_factory=dict)
    rows: dict[tuple[str, str], Position | None] = field(default_factory=dict)


async def execute_bets(
    session: AsyncSession,
    *,
    agent_id: str,
    decision_id: str | None,
    lineage: Lineage | None,
    bets: Sequence[Bet],
    prices: SidePrices,
    now: datetime,
) -> ExecutionReport:
    """Execute a decision's bets all or nothing, at the given validated prices."""
    if not bets:
        return ExecutionReport(attempted=0)
    agent = await _agent(session, agent_id)
    try:
        plan = await _plan_bets(session, agent, bets, prices)
    except _Reject as exc:
        message = f"BET batch failed; no trades executed: {exc}"
        await log_event(
            session, "trade_error", {"agent_id": agent_id, "error": message}, "error", now
        )
        return ExecutionReport(
            attempted=len(bets), results=(TradeResult(success=False, error=message),)
        )
    assert agent is not None  # _plan_bets rejects a missing agent
    results = []
    written: dict[tuple[str, str], Position] = {}
    for leg in plan.legs:
        position = await _write_buy(session, agent, leg, written.get(leg.position_key), now)
        written[leg.position_key] = position
        trade_id = await _record_trade(
            session,
            agent,
            lineage,
            position,
            decision_id=decision_id,
            trade_type="BUY",
            shares=leg.shares,
            price=leg.price,
            total_amount=leg.bet.amount,
            implied_confidence=implied_confidence(leg.bet.amount, leg.cash_before),
            p_yes=leg.bet.p_yes,
            now=now,
        )
        await log_event(
            session,
            "trade_executed",
            {
                "agent_id": agent.id,
                "trade_id": trade_id,
                "type": "BUY",
                "market_id": leg.market.id,
                "side": leg.side,
                "amount": leg.bet.amount,
                "shares": leg.shares,
                "price": leg.price,
            },
            "info",
            now,
        )
        results.append(
            TradeResult(success=True, trade_id=trade_id, position_id=position.id, shares=leg.shares)
        )
    _set_balance(agent, plan.cash, plan.invested)
    await session.flush()
    return ExecutionReport(attempted=len(bets), results=tuple(results))


async def _plan_bets(
    session: AsyncSession, agent: Agent | None, bets: Sequence[Bet], prices: SidePrices
) -> _Plan:
    if agent is None:
        raise _Reject("Agent not found")
    if agent.status == "bankrupt":
        raise _Reject("Agent is bankrupt")
    cash = dec(agent.cash_balance)
    maximum = cash * MAX_BET_FRACTION
    total = sum((b.amount for b in bets), ZERO)
    if total > maximum:
        raise _Reject(
            f"Total BET amount ${fixed2(total)} exceeds maximum decision allocation "
            f"${fixed2(maximum)}"
        )
    if total > cash:
        raise _Reject("Insufficient balance")
    plan = _Plan(cash=cash, invested=dec(agent.total_invested))
    errors: list[str] = []
    for bet in bets:
        try:
            plan.legs.append(await _plan_leg(session, agent, plan, bet, maximum, prices))
        except _Reject as exc:
            if str(exc) not in errors:
                errors.append(str(exc))
    if errors:
        raise _Reject("; ".join(errors))
    return plan


async def _plan_leg(
    session: AsyncSession, agent: Agent, plan: _Plan, bet: Bet, maximum: Decimal, prices: SidePrices
) -> _Leg:
    market = await session.get(Market, bet.market_id)
    if market is None:
        raise _Reject("Market not found")
    if market.status != "active":
        raise _Reject(f"Market is {market.status}")
    amount = bet.amount
    if amount <= 0:
        raise _Reject("Bet amount must be positive")
    if amount > maximum:
        raise _Reject(f"Bet exceeds max ({fixed2(maximum)})")
    if amount > plan.cash:
        raise _Reject("Insufficient balance")
    side = _bet_side(market, bet.side)
    price = _execution_price(prices, market, side, buying=True)
    key = (market.id, side)
    if key not in plan.rows:
        row = await _open_position(session, agent.id, market.id, side)
        plan.rows[key] = row
        if row is not None:
            plan.holdings[key] = Holding(
                dec(row.shares), dec(row.total_cost), _opt(row.current_value)
            )
    shares, holding = buy_into(plan.holdings.get(key), amount, price)
    if holding.shares <= 0:
        raise _Reject(f"Cannot calculate avg price: newShares is {holding.shares}")
    plan.holdings[key] = holding
    cash_before = plan.cash
    plan.cash -= amount
    plan.invested += amount
    return _Leg(bet, market, side, price, shares, plan.rows[key], key, holding, cash_before)


def implied_confidence(amount: Decimal, cash: Decimal) -> Decimal:
    """A BUY's implied confidence (§7.2): its amount over 25 % of the cash at that leg, at most
    1 (0 when there is no cash)."""
    maximum = cash * MAX_BET_FRACTION
    return min(amount / maximum, ONE) if maximum > 0 else ZERO


def _bet_side(market: Market, raw_side: str) -> str:
    if is_binary(market):
        side = raw_side.strip().upper()
        if side not in ("YES", "NO"):
            raise _Reject(f'Invalid side "{raw_side}" for binary market (must be YES or NO)')
        return side
    outcomes = [str(o) for o in json_list(market.outcomes)]
    if raw_side not in outcomes:
        raise _Reject(f'Unknown outcome "{raw_side}" for multi-outcome market')
    return raw_side


def _execution_price(prices: SidePrices, market: Market, side: str, *, buying: bool) -> Decimal:
    price = prices.get((market.id, side))
    if price is None:
        if is_binary(market):
            raise _Reject(f'No validated CLOB price available for binary market side "{side}"')
        raise _Reject(f'No validated CLOB price available for outcome "{side}"')
    valid = ZERO < price <= ONE if buying else ZERO <= price <= ONE
    if not valid:
        if buying:
            raise _Reject(f'Invalid executable price {price} for side "{side}"')
        raise _Reject(f'Invalid current price {price} for side "{side}"')
    return price


async def _write_buy(
    session: AsyncSession, agent: Agent, leg: _Leg, written: Position | None, now: datetime
) -> Position:
    """Write the position as it stands after this leg (an earlier leg may have created it)."""
    holding = leg.holding
    row = written or leg.position
    if row is None:
        row = Position(
            id=new_id(now),
            agent_id=agent.id,
            market_id=leg.market.id,
            side=leg.side,
            status="open",
            opened_at=now,
        )
        session.add(row)
    row.shares = float(holding.shares)
    row.total_cost = float(holding.total_cost)
    row.avg_entry_price = float(holding.avg_entry_price)
    marked = holding.current_value if holding.current_value is not None else holding.total_cost
    row.current_value = float(marked)
    row.unrealized_pnl = float(marked - holding.total_cost)
    await session.flush()
    return row


# --- SELL ----------------------------------------------------------------------------------


async def execute_sells(
    session: AsyncSession,
    *,
    agent_id: str,
    decision_id: str | None,
    lineage: Lineage | None,
    sells: Sequence[Sell],
    prices: SidePrices,
    now: datetime,
) -> ExecutionReport:
    """Execute each sell on its own; the ones that failed are tried once more (§7.5)."""
    results: list[TradeResult] = []
    for sell in sells:
        results.append(await _sell_once(session, agent_id, decision_id, lineage, sell, prices, now))
    for index, sell in enumerate(sells):
        if not results[index].success:
            retried = await _sell_once(session, agent_id, decision_id, lineage, sell, prices, now)
            if retried.success:
                results[index] = retried
    for result in results:
        if not result.success:
            await log_event(
                session, "trade_error", {"agent_id": agent_id, "error": result.error}, "error", now
            )
    return ExecutionReport(attempted=len(sells), results=tuple(results))


async def _sell_once(
    session: AsyncSession,
    agent_id: str,
    decision_id: str | None,
    lineage: Lineage | None,
    sell: Sell,
    prices: SidePrices,
    now: datetime,
) -> TradeResult:
    try:
        agent, position, market, fill, price = await _plan_sell(session, agent_id, sell, prices)
    except _Reject as exc:
        return TradeResult(success=False, error=str(exc))
    remaining = fill.remaining
    if fill.closes:
        position.shares = 0.0
        position.total_cost = 0.0
        position.current_value = 0.0
        position.unrealized_pnl = 0.0
        position.status = "closed"
        position.closed_at = now
    else:
        position.shares = float(remaining.shares)
        position.total_cost = float(remaining.total_cost)
        value = remaining.current_value if remaining.current_value is not None else ZERO
        position.current_value = float(value)
        position.unrealized_pnl = float(value - remaining.total_cost)
    await session.flush()
    trade_id = await _record_trade(
        session,
        agent,
        lineage,
        position,
        decision_id=decision_id,
        trade_type="SELL",
        shares=fill.shares_sold,
        price=price,
        total_amount=fill.proceeds,
        cost_basis=fill.cost_basis,
        realized_pnl=fill.realized_pnl,
        now=now,
    )
    cash = dec(agent.cash_balance) + fill.proceeds
    invested = max(ZERO, dec(agent.total_invested) - fill.cost_basis)
    _set_balance(agent, cash, invested)
    await session.flush()
    await log_event(
        session,
        "trade_executed",
        {
            "agent_id": agent.id,
            "trade_id": trade_id,
            "type": "SELL",
            "market_id": market.id,
            "side": position.side,
            "shares": fill.shares_sold,
            "proceeds": fill.proceeds,
            "price": price,
            "cost_basis": fill.cost_basis,
            "realized_pnl": fill.realized_pnl,
        },
        "info",
        now,
    )
    return TradeResult(
        success=True,
        trade_id=trade_id,
        position_id=position.id,
        shares=fill.shares_sold,
        proceeds=fill.proceeds,
    )


async def _plan_sell(
    session: AsyncSession, agent_id: str, sell: Sell, prices: SidePrices
) -> tuple[Agent, Position, Market, SellFill, Decimal]:
    agent = await _agent(session, agent_id)
    if agent is None:
        raise _Reject("Agent not found")
    position = await session.get(
        Position, sell.position_id, populate_existing=True, with_for_update=True
    )
    if position is None:
        raise _Reject("Position not found")
    if position.agent_id != agent.id:
        raise _Reject("Position does not belong to agent")
    if position.status != "open":
        raise _Reject(f"Position is {position.status}")
    if sell.percentage <= 0:
        raise _Reject("Sell percentage must be positive")
    if sell.percentage > HUNDRED:
        raise _Reject("Sell percentage cannot exceed 100%")
    market = await session.get(Market, position.market_id)
    if market is None:
        raise _Reject("Market not found")
    if market.status != "active":
        raise _Reject(f"Market is {market.status}")
    holding = Holding(dec(position.shares), dec(position.total_cost), _opt(position.current_value))
    if holding.shares * sell.percentage / HUNDRED <= 0:
        raise _Reject("No shares to sell")
    if is_binary(market) and position.side.upper() not in ("YES", "NO"):
        raise _Reject(f'Invalid side "{position.side}" for binary market position')
    price = _execution_price(prices, market, position.side, buying=False)
    return agent, position, market, sell_from(holding, sell.percentage, price), price


# --- shared --------------------------------------------------------------------------------


async def _agent(session: AsyncSession, agent_id: str) -> Agent | None:
    # FOR UPDATE matters on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock.
    return await session.get(Agent, agent_id, populate_existing=True, with_for_update=True)


async def _open_position(
    session: AsyncSession, agent_id: str, market_id: str, side: str
) -> Position | None:
    found = await session.execute(
        select(Position).where(
            Position.agent_id == agent_id,
            Position.market_id == market_id,
            Position.side == side,
            Position.status == "open",
        )
    )
    return found.scalars().first()


async def _record_trade(
    session: AsyncSession,
    agent: Agent,
    lineage: Lineage | None,
    position: Position,
    *,
    decision_id: str | None,
    trade_type: Literal["BUY", "SELL"],
    shares: Decimal,
    price: Decimal,
    total_amount: Decimal,
    now: datetime,
    implied_confidence: Decimal | None = None,
    p_yes: Decimal | None = None,
    cost_basis: Decimal | None = None,
    realized_pnl: Decimal | None = None,
) -> str:
    """Insert one trade on `position` and return its id. It carries the decision's lineage when
    that is complete, else the agent's own."""
    if lineage is None or not lineage.complete:
        lineage = Lineage(agent.family_id, agent.release_id, agent.benchmark_config_model_id)
    trade_id = new_id(now)
    await session.execute(
        insert(Trade).values(
            id=trade_id,
            agent_id=agent.id,
            market_id=position.market_id,
            position_id=position.id,
            decision_id=decision_id,
            family_id=lineage.family_id,
            release_id=lineage.release_id,
            benchmark_config_model_id=lineage.benchmark_config_model_id,
            trade_type=trade_type,
            side=position.side,
            shares=float(shares),
            price=float(price),
            total_amount=float(total_amount),
            implied_confidence=_real(implied_confidence),
            p_yes=_real(p_yes),
            cost_basis=_real(cost_basis),
            realized_pnl=_real(realized_pnl),
            executed_at=now,
        )
    )
    return trade_id


def _set_balance(agent: Agent, cash: Decimal, invested: Decimal) -> None:
    agent.cash_balance = float(cash)
    agent.total_invested = float(invested)
    agent.status = agent_status(cash, invested)


def _opt(value: float | None) -> Decimal | None:
    return None if value is None else dec(value)


def _real(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
