"""Paper-trading execution: the math, every rejection, batches, sells, and the invariants."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from arenabrain.arena.decisions.parser import Bet, Sell
from arenabrain.arena.execution.accounting import accounting_problems
from arenabrain.arena.execution.fills import (
    Holding,
    agent_status,
    buy_into,
    sell_from,
)
from arenabrain.arena.execution.trades import (
    ExecutionReport,
    Lineage,
    execute_bets,
    execute_sells,
)
from arenabrain.arena.models import Agent, Position, SystemLog, Trade
from arenabrain.arena.pricing import side_prices, token_ids
from arenabrain.context import Context
from tests.arena.decisions.support import SUNDAY, add_market, seed_cohort

D = Decimal
NOW = SUNDAY


# --- pure math ---------------------------------------------------------------------------------


def test_buy_into_new_and_existing() -> None:
    shares, holding = buy_into(None, D(100), D("0.4"))
    assert shares == D(250)
    assert holding == Holding(D(250), D(100), D(100))
    assert holding.avg_entry_price == D("0.4")
    more, merged = buy_into(Holding(D(250), D(100), D(120)), D(50), D("0.5"))
    assert more == D(100)
    assert merged == Holding(D(350), D(150), D(170))
    _, unmarked = buy_into(Holding(D(10), D(5), None), D(50), D("0.5"))
    assert unmarked.current_value == D(55)


def test_sell_from_partial_and_full() -> None:
    holding = Holding(D(250), D(100), D(100))
    half = sell_from(holding, D(50), D("0.6"))
    assert (half.shares_sold, half.proceeds, half.cost_basis, half.realized_pnl) == (
        D(125),
        D(75),
        D(50),
        D(25),
    )
    assert half.remaining == Holding(D(125), D(50), D(75))
    assert not half.closes
    full = sell_from(holding, D(100), D("0.2"))
    assert (full.shares_sold, full.proceeds, full.cost_basis, full.realized_pnl) == (
        D(250),
        D(50),
        D(100),
        D(-50),
    )
    assert full.closes and full.remaining == Holding(D(0), D(0), D(0))
    third = sell_from(Holding(D(3), D(1), D(1)), D("33.3"), D(1))
    assert third.remaining.shares + third.shares_sold == D(3)


@pytest.mark.parametrize(
    ("cash", "invested", "status"),
    [
        (D(0), D(0), "bankrupt"),
        (D(-1), D(0), "bankrupt"),
        (D(0), D(10), "active"),
        (D(10), D(0), "active"),
    ],
)
def test_agent_status_rule(cash: Decimal, invested: Decimal, status: str) -> None:
    assert agent_status(cash, invested) == status


class Row:
    def __init__(self, id: str, tokens: list[str], outcomes: list[str] | None = None) -> None:
        self.id = id
        self.market_type = "multi_outcome" if outcomes else "binary"
        self.outcomes = json.dumps(outcomes) if outcomes else None
        self.clob_token_ids = json.dumps(tokens)


def test_side_prices_binary_multi_missing_and_invalid() -> None:
    rows = [
        Row("b", ["t-yes", "t-no"]),
        Row("m", ["t-a", "t-b", "t-c"], ["A", "B", "C"]),
        Row("x", []),
        Row("bad", ["t-bad", "t-bad-no"]),
    ]
    prices = side_prices(rows, {"t-yes": 0.3, "t-a": 0.5, "t-b": 0.2, "t-no": 0.9, "t-bad": 1.5})
    assert prices[("b", "YES")] == D("0.3")
    assert prices[("b", "NO")] == D("0.7")  # one minus YES, not the NO token's own midpoint
    assert prices[("m", "A")] == D("0.5") and prices[("m", "B")] == D("0.2")
    assert prices[("m", "C")] is None
    assert prices[("x", "YES")] is None and prices[("x", "NO")] is None
    assert prices[("bad", "YES")] is None
    assert token_ids(rows) == ["t-yes", "t-a", "t-b", "t-c", "t-bad"]


# --- database ----------------------------------------------------------------------------------


@pytest.fixture
async def agent(ctx: Context) -> str:
    cohort = await seed_cohort(ctx)
    await add_market(ctx, "m1", yes=0.4)
    await add_market(ctx, "m2", yes=0.7)
    await add_market(ctx, "closed", status="closed")
    await add_market(ctx, "multi", outcomes=["Alice", "Bob"], prices={"Alice": 0.55, "Bob": 0.45})
    return cohort.agent_ids[0]


PRICES = {
    ("m1", "YES"): D("0.4"),
    ("m1", "NO"): D("0.6"),
    ("m2", "YES"): D("0.7"),
    ("m2", "NO"): D("0.3"),
    ("closed", "YES"): D("0.5"),
    ("multi", "Alice"): D("0.5"),
    ("multi", "Bob"): D("0.4"),
}


async def bets(
    ctx: Context, agent_id: str, *items: Bet, prices: dict = PRICES, check: bool = True
) -> ExecutionReport:  # type: ignore[type-arg]
    async with ctx.db.write() as session:
        report = await execute_bets(
            session,
            agent_id=agent_id,
            decision_id=None,
            lineage=None,
            bets=items,
            prices=prices,
            now=NOW,
        )
        if check:
            assert await accounting_problems(session) == []
    return report


async def sells(
    ctx: Context, agent_id: str, *items: Sell, prices: dict = PRICES
) -> ExecutionReport:  # type: ignore[type-arg]
    async with ctx.db.write() as session:
        report = await execute_sells(
            session,
            agent_id=agent_id,
            decision_id=None,
            lineage=None,
            sells=items,
            prices=prices,
            now=NOW,
        )
        assert await accounting_problems(session) == []
    return report


async def agent_row(ctx: Context, agent_id: str) -> Agent:
    async with ctx.db.read() as session:
        found = await session.get(Agent, agent_id)
        assert found is not None
        return found


async def open_positions(ctx: Context, agent_id: str) -> list[Position]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(Position).where(Position.agent_id == agent_id).order_by(Position.opened_at)
        )
        return list(rows)


async def test_binary_bet_fills_at_the_given_price(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("m1", "YES", D(100), D("0.55")))
    assert report.attempted == 1 and report.executed == 1
    assert report.results[0].shares == D(250)
    row = await agent_row(ctx, agent)
    assert (row.cash_balance, row.total_invested, row.status) == (9900.0, 100.0, "active")
    [position] = await open_positions(ctx, agent)
    assert (position.side, position.shares, position.total_cost, position.avg_entry_price) == (
        "YES",
        250.0,
        100.0,
        0.4,
    )
    assert (position.current_value, position.unrealized_pnl, position.status) == (
        100.0,
        0.0,
        "open",
    )
    async with ctx.db.read() as session:
        trade = (await session.scalars(select(Trade))).one()
    assert (trade.trade_type, trade.price, trade.shares, trade.total_amount) == (
        "BUY",
        0.4,
        250.0,
        100.0,
    )
    assert trade.implied_confidence == pytest.approx(100 / 2500)
    assert trade.p_yes == 0.55
    assert trade.family_id == "openai-gpt"  # the agent's lineage when the decision gives none


async def test_implied_confidence_of_each_leg_uses_the_cash_at_that_leg(
    ctx: Context, agent: str
) -> None:
    """Reference §7.2: each leg divides by 25 % of the cash it found, so two $1,250 bets from
    $10,000 are 0.5 (1250 / 2500) and 0.571 (1250 / 2187.50)."""
    await bets(ctx, agent, Bet("m1", "YES", D(1250)), Bet("m2", "NO", D(1250)))
    async with ctx.db.read() as session:
        trades = list(await session.scalars(select(Trade).order_by(Trade.market_id)))
    assert [t.market_id for t in trades] == ["m1", "m2"]
    assert trades[0].implied_confidence == pytest.approx(0.5)
    assert trades[1].implied_confidence == pytest.approx(1250 / 2187.5)
    assert round(trades[1].implied_confidence, 3) == 0.571


async def test_no_side_uses_one_minus_yes(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("m1", "NO", D(60)))
    assert report.results[0].shares == D(100)


async def test_multi_outcome_bet_by_outcome_label(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("multi", "Bob", D(100)))
    assert report.executed == 1
    [position] = await open_positions(ctx, agent)
    assert (position.side, position.shares) == ("Bob", 250.0)


async def test_two_legs_on_one_side_merge_into_one_position(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("m1", "YES", D(100)), Bet("m1", "YES", D(200)))
    assert report.executed == 2
    [position] = await open_positions(ctx, agent)
    assert (position.shares, position.total_cost) == (750.0, 300.0)
    await bets(ctx, agent, Bet("m1", "YES", D(40)))  # a later decision adds to it too
    [position] = await open_positions(ctx, agent)
    assert position.shares == pytest.approx(850.0)


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ((Bet("nope", "YES", D(100)),), "Market not found"),
        ((Bet("closed", "YES", D(100)),), "Market is closed"),
        (
            (Bet("m1", "MAYBE", D(100)),),
            'Invalid side "MAYBE" for binary market (must be YES or NO)',
        ),
        ((Bet("multi", "Carol", D(100)),), 'Unknown outcome "Carol" for multi-outcome market'),
        ((Bet("m1", "YES", D(0)),), "Bet amount must be positive"),
        (
            (Bet("m1", "YES", D(1500)), Bet("m2", "NO", D("1000.01"))),
            "Total BET amount $2500.01 exceeds maximum decision allocation $2500.00",
        ),
        ((Bet("m1", "YES", D(100)), Bet("closed", "NO", D(100))), "Market is closed"),
        (
            (Bet("m1", "YES", D(100)), Bet("nope", "NO", D(100)), Bet("closed", "NO", D(100))),
            "Market not found; Market is closed",
        ),
    ],
)
async def test_bet_batch_is_all_or_nothing(
    ctx: Context, agent: str, items: tuple[Bet, ...], error: str
) -> None:
    report = await bets(ctx, agent, *items)
    assert report.attempted == len(items) and report.executed == 0
    assert report.errors == [f"BET batch failed; no trades executed: {error}"]
    assert await open_positions(ctx, agent) == []
    row = await agent_row(ctx, agent)
    assert (row.cash_balance, row.total_invested) == (10000.0, 0.0)
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Trade)) == 0
        logged = await session.scalar(
            select(func.count()).select_from(SystemLog).where(SystemLog.event_type == "trade_error")
        )
    assert logged == 1


@pytest.mark.parametrize(
    ("prices", "error"),
    [
        ({}, 'No validated CLOB price available for binary market side "YES"'),
        ({("m1", "YES"): D(0)}, 'Invalid executable price 0 for side "YES"'),
        ({("m1", "YES"): D("1.2")}, 'Invalid executable price 1.2 for side "YES"'),
    ],
)
async def test_no_trade_without_a_valid_price(
    ctx: Context, agent: str, prices: dict, error: str
) -> None:  # type: ignore[type-arg]
    report = await bets(ctx, agent, Bet("m1", "YES", D(100)), prices=prices)
    assert report.errors == [f"BET batch failed; no trades executed: {error}"]


async def test_multi_outcome_without_price(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("multi", "Alice", D(100)), prices={})
    assert report.errors == [
        'BET batch failed; no trades executed: No validated CLOB price available for outcome "Alice"'
    ]


async def test_bankrupt_and_missing_agents(ctx: Context, agent: str) -> None:
    async with ctx.db.write() as session:
        row = await session.get(Agent, agent)
        assert row is not None
        row.cash_balance, row.status = 0.0, "bankrupt"
    assert (
        (await bets(ctx, agent, Bet("m1", "YES", D(50)), check=False))
        .errors[0]
        .endswith("Agent is bankrupt")
    )
    assert (
        (await bets(ctx, "ghost", Bet("m1", "YES", D(50)), check=False))
        .errors[0]
        .endswith("Agent not found")
    )


async def test_price_of_one_buys_one_share_per_dollar(ctx: Context, agent: str) -> None:
    report = await bets(ctx, agent, Bet("m1", "YES", D(100)), prices={("m1", "YES"): D(1)})
    assert report.results[0].shares == D(100)


async def test_partial_then_full_sell(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m1", "YES", D(100)))
    [position] = await open_positions(ctx, agent)
    up = {("m1", "YES"): D("0.6")}
    half = await sells(ctx, agent, Sell(position.id, D(50)), prices=up)
    assert half.executed == 1 and half.results[0].proceeds == D(75)
    [position] = await open_positions(ctx, agent)
    assert (
        position.shares,
        position.total_cost,
        position.current_value,
        position.unrealized_pnl,
    ) == (125.0, 50.0, 75.0, 25.0)
    row = await agent_row(ctx, agent)
    assert (row.cash_balance, row.total_invested) == (9975.0, 50.0)
    rest = await sells(ctx, agent, Sell(position.id, D(100)), prices={("m1", "YES"): D("0.2")})
    assert rest.results[0].proceeds == D(25)
    [position] = await open_positions(ctx, agent)
    assert (position.status, position.shares, position.total_cost, position.current_value) == (
        "closed",
        0.0,
        0.0,
        0.0,
    )
    row = await agent_row(ctx, agent)
    assert (row.cash_balance, row.total_invested) == (10000.0, 0.0)
    async with ctx.db.read() as session:
        pnl = await session.scalars(
            select(Trade.realized_pnl)
            .where(Trade.trade_type == "SELL")
            .order_by(Trade.executed_at, Trade.id)
        )
        assert sorted(pnl.all()) == [-25.0, 25.0]
    # A closed position is never reopened: a new bet creates a new row.
    await bets(ctx, agent, Bet("m1", "YES", D(100)))
    assert [p.status for p in await open_positions(ctx, agent)].count("open") == 1
    assert len(await open_positions(ctx, agent)) == 2


async def test_sell_of_a_no_position_uses_its_side_price(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m2", "NO", D(60)))  # 200 shares at 0.3
    [position] = await open_positions(ctx, agent)
    report = await sells(ctx, agent, Sell(position.id, D(100)), prices={("m2", "NO"): D("0.5")})
    assert report.results[0].proceeds == D(100)


async def test_sell_rejections_and_one_retry(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m1", "YES", D(100)))
    [position] = await open_positions(ctx, agent)
    other = (await seed_cohort(ctx, number=2, started_at=SUNDAY.replace(day=8))).agent_ids[0]
    cases = [
        (Sell("ghost", D(50)), "Position not found", agent),
        (Sell(position.id, D(50)), "Position does not belong to agent", other),
        (Sell(position.id, D(0)), "Sell percentage must be positive", agent),
        (Sell(position.id, D(101)), "Sell percentage cannot exceed 100%", agent),
    ]
    for sell, error, who in cases:
        report = await sells(ctx, who, sell)
        assert report.errors == [error]
    missing_price = await sells(ctx, agent, Sell(position.id, D(50)), prices={})
    assert missing_price.errors == [
        'No validated CLOB price available for binary market side "YES"'
    ]
    async with ctx.db.read() as session:
        errors = await session.scalar(
            select(func.count()).select_from(SystemLog).where(SystemLog.event_type == "trade_error")
        )
    assert errors == 5  # one per failed sell, after its retry


async def test_sell_on_closed_market_and_closed_position(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m1", "YES", D(100)))
    [position] = await open_positions(ctx, agent)
    await sells(ctx, agent, Sell(position.id, D(100)))
    assert (await sells(ctx, agent, Sell(position.id, D(10)))).errors == ["Position is closed"]
    await bets(ctx, agent, Bet("m2", "YES", D(100)))
    async with ctx.db.write() as session:
        await session.execute(
            Position.__table__.update().where(Position.market_id == "m2").values(status="open")
        )
        from arenabrain.arena.models import Market

        market = await session.get(Market, "m2")
        assert market is not None
        market.status = "closed"
    m2 = next(p for p in await open_positions(ctx, agent) if p.market_id == "m2")
    assert (await sells(ctx, agent, Sell(m2.id, D(10)))).errors == ["Market is closed"]


async def test_sells_are_independent(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m1", "YES", D(100)), Bet("m2", "YES", D(70)))
    first, second = await open_positions(ctx, agent)
    report = await sells(
        ctx, agent, Sell("ghost", D(10)), Sell(first.id, D(10)), Sell(second.id, D(20))
    )
    assert report.attempted == 3 and report.executed == 2
    assert [r.success for r in report.results] == [False, True, True]


async def test_trade_carries_decision_lineage(ctx: Context, agent: str) -> None:
    lineage = Lineage(
        "openai-gpt", "openai-gpt--gpt-5.5", "lineup-2026-05-latest-exact--openai-gpt"
    )
    async with ctx.db.write() as session:
        await execute_bets(
            session,
            agent_id=agent,
            decision_id=None,
            lineage=lineage,
            bets=[Bet("m1", "YES", D(50))],
            prices=PRICES,
            now=NOW,
        )
    async with ctx.db.read() as session:
        trade = (await session.scalars(select(Trade))).one()
    assert (trade.family_id, trade.release_id, trade.benchmark_config_model_id) == (
        lineage.family_id,
        lineage.release_id,
        lineage.benchmark_config_model_id,
    )


async def test_random_sequences_keep_the_invariants(ctx: Context, agent: str) -> None:
    rng = random.Random(11)
    for _step in range(60):
        prices = {key: D(str(round(rng.uniform(0.05, 0.95), 3))) for key in PRICES}
        for market in ("m1", "m2"):
            prices[(market, "NO")] = 1 - prices[(market, "YES")]
        held = [p for p in await open_positions(ctx, agent) if p.status == "open"]
        if held and rng.random() < 0.4:
            chosen = rng.sample(held, k=min(len(held), rng.randint(1, 2)))
            await sells(
                ctx,
                agent,
                *(Sell(p.id, D(rng.choice([10, 33.3, 50, 100]))) for p in chosen),
                prices=prices,
            )
        else:
            cash = D(repr((await agent_row(ctx, agent)).cash_balance))
            if cash * D("0.25") < 50:
                break
            amount = (cash * D("0.25") / 2).quantize(D("0.01"))
            legs = [
                Bet(rng.choice(["m1", "m2"]), rng.choice(["YES", "NO"]), max(D(50), amount))
                for _ in range(rng.randint(1, 2))
            ]
            if sum(b.amount for b in legs) > cash * D("0.25"):
                legs = legs[:1]
            await bets(ctx, agent, *legs, prices=prices)
    async with ctx.db.read() as session:
        assert await accounting_problems(session) == []
        assert await session.scalar(select(func.count()).select_from(Trade)) > 20


async def test_invariant_checker_finds_drift(ctx: Context, agent: str) -> None:
    await bets(ctx, agent, Bet("m1", "YES", D(100)))
    async with ctx.db.write() as session:
        row = await session.get(Agent, agent)
        assert row is not None
        row.total_invested = 90.0
        row.cash_balance = 9950.0
    async with ctx.db.read() as session:
        problems = await accounting_problems(session)
    assert any("total_invested" in p for p in problems)
    assert any("cash 9950" in p for p in problems)
