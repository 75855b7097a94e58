"""Paper trading: BET batches and SELLs at validated CLOB prices (§7 of the reference).

Fills are at a single price with no fees or slippage: binary YES at the YES token's midpoint,
NO at one minus it, a multi-outcome side at its own token's midpoint. Nothing trades without a
validated price or on a market that is not active.

- A BET batch is all or nothing: every leg is checked and planned in memory first (later legs
  see the cash and positions of earlier ones), and only a batch whose every leg passes is
  written. The whole decision may use at most 25 % of the cash it started with.
- SELLs are independent: each sells a percentage of one position at the current price and
  realises P/L against its share of the cost basis; the ones that fail get one more try.
- Money math is `Decimal`; columns stay REAL, as in the anchor, and are converted at the edge.

Every function here works inside the caller's unit of work (it never commits), and writes the
agent's cash, `total_invested` and status in that same transaction, so the accounting
invariants of §7.7 (`accounting_problems`) hold after every commit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.decisions.parser import MAX_BET_FRACTION, Bet, Sell
from arenabrain.arena.models import Agent, Cohort, Market, Position, Trade
from arenabrain.arena.system_logs import log_event
from arenabrain.db.ids import new_id

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
# Floats round-trip through REAL columns; sums may differ from each other by this much.
TOLERANCE = Decimal("0.000001")

SidePrices = Mapping[tuple[str, str], Decimal | None]


def dec(value: float | int | Decimal | None) -> Decimal:
    """A stored REAL as the Decimal it was written from (None counts as zero)."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def fixed2(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- pure math -----------------------------------------------------------------------------


def agent_status(cash: Decimal, invested: Decimal) -> str:
    """Bankrupt when there is neither cash nor anything invested left (§7.6)."""
    return "bankrupt" if cash <= 0 and invested <= 0 else "active"


@dataclass(frozen=True)
class Holding:
    """The money columns of one open position."""

    shares: Decimal
    total_cost: Decimal
    current_value: Decimal | None

    @property
    def avg_entry_price(self) -> Decimal:
        return self.total_cost / self.shares if self.shares > 0 else ZERO


def buy_into(holding: Holding | None, amount: Decimal, price: Decimal) -> tuple[Decimal, Holding]:
    """Shares bought for `amount` at `price`, and the position after the fill (§7.4)."""
    shares = amount / price
    if holding is None:
        return shares, Holding(shares=shares, total_cost=amount, current_value=amount)
    marked = holding.current_value if holding.current_value is not None else holding.total_cost
    return shares, Holding(
        shares=holding.shares + shares,
        total_cost=holding.total_cost + amount,
        current_value=marked + amount,
    )


@dataclass(frozen=True)
class SellFill:
    shares_sold: Decimal
    proceeds: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    remaining: Holding  # shares 0 means the position closes

    @property
    def closes(self) -> bool:
        return self.remaining.shares <= 0


def sell_from(holding: Holding, percentage: Decimal, price: Decimal) -> SellFill:
    """Sell `percentage` of a position at `price` (§7.5): proceeds, cost basis and P/L."""
    sold = holding.shares if percentage >= HUNDRED else holding.shares * percentage / HUNDRED
    proceeds = sold * price
    cost_basis = (
        holding.total_cost if sold >= holding.shares else sold / holding.shares * holding.total_cost
    )
    left_shares = holding.shares - sold
    if left_shares <= 0:
        remaining = Holding(ZERO, ZERO, ZERO)
    else:
        remaining = Holding(left_shares, holding.total_cost - cost_basis, left_shares * price)
    return SellFill(sold, proceeds, cost_basis, proceeds - cost_basis, remaining)


def side_prices(
    markets: Iterable[Any], midpoints: Mapping[str, float]
) -> dict[tuple[str, str], Decimal | None]:
    """Execution prices per (market id, side) from CLOB midpoints (§7.1).

    `markets` are rows with `id`, `market_type`, `outcomes` and `clob_token_ids` (JSON text).
    Binary: YES = midpoint of token 0, NO = 1 - that; multi-outcome: each outcome's own token
    (outcome i <-> token i). A side without a valid midpoint maps to None."""
    prices: dict[tuple[str, str], Decimal | None] = {}
    for market in markets:
        tokens = _json_list(market.clob_token_ids)
        if _is_binary(market):
            mid = _valid(midpoints.get(str(tokens[0]))) if tokens else None
            prices[(market.id, "YES")] = mid
            prices[(market.id, "NO")] = ONE - mid if mid is not None else None
            continue
        for index, outcome in enumerate(_json_list(market.outcomes)):
            token = tokens[index] if index < len(tokens) else None
            prices[(market.id, str(outcome))] = _valid(midpoints.get(str(token))) if token else None
    return prices


def token_ids(markets: Iterable[Any]) -> list[str]:
    """The CLOB tokens whose midpoints price these markets' sides."""
    wanted: list[str] = []
    for market in markets:
        tokens = [str(t) for t in _json_list(market.clob_token_ids) if t]
        wanted.extend(tokens[:1] if _is_binary(market) else tokens)
    return list(dict.fromkeys(wanted))


def _is_binary(market: Any) -> bool:
    return market.market_type != "multi_outcome"


def _json_list(text: Any) -> list[Any]:
    if isinstance(text, list):
        return text
    if not isinstance(text, str) or not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _valid(value: float | None) -> Decimal | None:
    if value is None:
        return None
    price = dec(value)
    return price if price.is_finite() and ZERO <= price <= ONE else None


# --- results -------------------------------------------------------------------------------


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
    start_cash = dec(agent.cash_balance)
    results = []
    trade_lineage = lineage if lineage is not None and lineage.complete else _agent_lineage(agent)
    written: dict[tuple[str, str], Position] = {}
    for leg in plan.legs:
        position = await _write_buy(session, agent, leg, written.get(leg.position_key), now)
        written[leg.position_key] = position
        trade_id = new_id(now)
        await session.execute(
            insert(Trade).values(
                id=trade_id,
                agent_id=agent.id,
                market_id=leg.market.id,
                position_id=position.id,
                decision_id=decision_id,
                family_id=trade_lineage.family_id,
                release_id=trade_lineage.release_id,
                benchmark_config_model_id=trade_lineage.benchmark_config_model_id,
                trade_type="BUY",
                side=leg.side,
                shares=float(leg.shares),
                price=float(leg.price),
                total_amount=float(leg.bet.amount),
                implied_confidence=float(leg.bet.amount / (start_cash * MAX_BET_FRACTION)),
                p_yes=float(leg.bet.p_yes) if leg.bet.p_yes is not None else None,
                executed_at=now,
            )
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
    plan.cash -= amount
    plan.invested += amount
    return _Leg(bet, market, side, price, shares, plan.rows[key], key, holding)


def _bet_side(market: Market, raw_side: str) -> str:
    if _is_binary(market):
        side = raw_side.strip().upper()
        if side not in ("YES", "NO"):
            raise _Reject(f'Invalid side "{raw_side}" for binary market (must be YES or NO)')
        return side
    outcomes = [str(o) for o in _json_list(market.outcomes)]
    if raw_side not in outcomes:
        raise _Reject(f'Unknown outcome "{raw_side}" for multi-outcome market')
    return raw_side


def _execution_price(prices: SidePrices, market: Market, side: str, *, buying: bool) -> Decimal:
    price = prices.get((market.id, side))
    if price is None:
        if _is_binary(market):
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
    trade_lineage = lineage if lineage is not None and lineage.complete else _agent_lineage(agent)
    trade_id = new_id(now)
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
    await session.execute(
        insert(Trade).values(
            id=trade_id,
            agent_id=agent.id,
            market_id=market.id,
            position_id=position.id,
            decision_id=decision_id,
            family_id=trade_lineage.family_id,
            release_id=trade_lineage.release_id,
            benchmark_config_model_id=trade_lineage.benchmark_config_model_id,
            trade_type="SELL",
            side=position.side,
            shares=float(fill.shares_sold),
            price=float(price),
            total_amount=float(fill.proceeds),
            cost_basis=float(fill.cost_basis),
            realized_pnl=float(fill.realized_pnl),
            executed_at=now,
        )
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
    if _is_binary(market) and position.side.upper() not in ("YES", "NO"):
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


def _agent_lineage(agent: Agent) -> Lineage:
    return Lineage(agent.family_id, agent.release_id, agent.benchmark_config_model_id)


def _set_balance(agent: Agent, cash: Decimal, invested: Decimal) -> None:
    agent.cash_balance = float(cash)
    agent.total_invested = float(invested)
    agent.status = agent_status(cash, invested)


def _opt(value: float | None) -> Decimal | None:
    return None if value is None else dec(value)


# --- invariants ----------------------------------------------------------------------------


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
