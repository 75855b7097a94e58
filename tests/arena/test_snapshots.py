"""take-snapshots: the 10-minute bucket, price validation and provenance, marks with their
fallbacks (prior value, entry price), idempotent re-runs, which cohorts are snapshotted, the
number of CLOB requests, and the three doors."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from arenabrain.arena import markets, pricing
from arenabrain.arena.decisions.parser import Bet
from arenabrain.arena.execution.trades import execute_bets
from arenabrain.arena.jobs import JOBS
from arenabrain.arena.models import (
    Cohort,
    Market,
    MarketPriceSnapshot,
    PortfolioSnapshot,
    Position,
    SystemLog,
)
from arenabrain.arena.snapshots import mark, snapshot_bucket, take_snapshots, validate
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.jobs import by_name
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import (
    close_market,
    configure_markets,
    market_prices,
    remove_book,
    set_prices,
)
from tests.arena.decisions.support import SUNDAY, seed_cohort
from tests.conftest import cron_headers

D = Decimal


# --- the bucket, marks and validation (pure) ----------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "bucket"),
    [
        ("2026-05-01 12:17:59.999999", "2026-05-01 12:10:00"),
        ("2026-05-01 12:19:01", "2026-05-01 12:10:00"),
        ("2026-05-01 12:10:00", "2026-05-01 12:10:00"),
        ("2026-05-01 12:09:59.999999", "2026-05-01 12:00:00"),
        ("2026-05-01 12:20:00", "2026-05-01 12:20:00"),
        ("2026-05-01 00:00:00", "2026-05-01 00:00:00"),
        ("2026-04-30 23:59:59", "2026-04-30 23:50:00"),
    ],
)
def test_snapshot_bucket_floors_to_ten_minutes(moment: str, bucket: str) -> None:
    found = snapshot_bucket(datetime.fromisoformat(moment).replace(tzinfo=UTC))
    assert found.strftime("%Y-%m-%d %H:%M:%S") == bucket and found.microsecond == 0


@pytest.mark.parametrize(
    ("shares", "entry", "current", "price", "expected"),
    [
        (D(100), D("0.4"), D(45), D("0.6"), (D(60), "clob")),
        (D(100), D("0.4"), D(45), D(0), (D(0), "clob")),
        (D(100), D("0.4"), D(45), None, (D(45), "prior")),
        (D(100), D("0.4"), D(130), None, (D(100), "prior")),  # at most $1 a share
        (D(100), D("0.4"), D(-3), None, (D(0), "prior")),
        (D(100), D("0.4"), None, None, (D(40), "entry")),
    ],
)
def test_mark_uses_the_price_then_the_prior_value_then_the_entry_price(
    shares: Decimal,
    entry: Decimal,
    current: Decimal | None,
    price: Decimal | None,
    expected: tuple[Decimal, str],
) -> None:
    assert mark(shares, entry, current, price) == expected


class Row:
    def __init__(self, outcomes: list[str] | None, tokens: list[str] | None, **values: Any):
        self.id = "m"
        self.polymarket_id = "pm"
        self.market_type = "multi_outcome" if outcomes else "binary"
        self.outcomes = json.dumps(outcomes) if outcomes else None
        self.clob_token_ids = json.dumps(tokens) if tokens is not None else None
        self.current_price = values.get("gamma")
        self.current_prices = values.get("gammas")


@pytest.mark.parametrize(
    ("row", "prices", "expected"),
    [
        (Row(None, ["y", "n"], gamma=0.6), {("m", "YES"): D("0.62")}, ("accepted", None)),
        (
            Row(None, ["y", "n"], gamma=0.6),
            {("m", "YES"): D("0.55")},
            ("accepted", None),  # exactly 0.05 apart is not a disagreement
        ),
        (
            Row(None, ["y", "n"], gamma=0.6),
            {("m", "YES"): D("0.5499")},
            ("accepted_with_gamma_disagreement", "Gamma price 0.6000 differs from CLOB 0.5499"),
        ),
        (Row(None, ["y", "n"]), {("m", "YES"): D("0.1")}, ("accepted", None)),
        (
            Row(None, ["y", "n"], gamma=0.6),
            {("m", "YES"): None},
            ("fallback", "Missing CLOB midpoint for token y"),
        ),
        (Row(None, None, gamma=0.6), {}, ("fallback", "Missing CLOB YES token id")),
        (
            Row(["A", "B"], ["a", "b"], gammas='{"A": 0.7, "B": 0.3}'),
            {("m", "A"): D("0.6"), ("m", "B"): None},
            (
                "accepted_with_gamma_disagreement",
                'Gamma price 0.7000 differs from CLOB 0.6000 for outcome "A"',
            ),
        ),
        (
            Row(["A", "B"], ["a", "b"]),
            {("m", "A"): None, ("m", "B"): None},
            ("fallback", "Missing CLOB outcome prices"),
        ),
    ],
)
def test_price_validation(row: Row, prices: dict, expected: tuple[str, str | None]) -> None:  # type: ignore[type-arg]
    record = validate(row, prices)
    assert (record.status, record.reason) == expected
    assert record.source == ("fallback" if expected[0] == "fallback" else "clob")


def test_a_partly_priced_multi_outcome_market_keeps_the_prices_it_has() -> None:
    record = validate(Row(["A", "B"], ["a", "b"]), {("m", "A"): D("0.25"), ("m", "B"): None})
    assert record.accepted_prices == {"A": 0.25} and record.accepted_price is None


# --- the job ------------------------------------------------------------------------------------


class Book:
    """Cohorts, synced markets and trades made through the real paths."""

    def __init__(self, ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> None:
        self.ctx, self.sandbox, self.clock = ctx, sandbox, clock

    async def setup(self) -> None:
        self.cohort = await seed_cohort(self.ctx)
        self.archived = await seed_cohort(
            self.ctx, number=2, started_at=SUNDAY - timedelta(days=7), archived=True
        )
        self.completed = await seed_cohort(
            self.ctx, number=3, started_at=SUNDAY - timedelta(days=14), status="completed"
        )
        await markets.sync_markets(self.ctx)
        async with self.ctx.db.read() as session:
            rows = list(await session.scalars(select(Market).order_by(Market.volume.desc())))
        self.binary = [m for m in rows if m.market_type == "binary"]
        self.multi = [m for m in rows if m.market_type == "multi_outcome"]

    async def buy(self, agent_id: str, *legs: tuple[Market, str, float]) -> list[str]:
        prices = await pricing.fetch_side_prices(self.ctx, [m for m, _, _ in legs])
        async with self.ctx.db.write() as session:
            report = await execute_bets(
                session,
                agent_id=agent_id,
                decision_id=None,
                lineage=None,
                bets=[Bet(m.id, side, D(str(amount)), None) for m, side, amount in legs],
                prices=prices,
                now=self.clock.now(),
            )
        assert report.executed == len(legs), report.errors
        return [r.position_id or "" for r in report.results]

    async def position(self, position_id: str) -> Position:
        async with self.ctx.db.read() as session:
            found = await session.get(Position, position_id)
            assert found is not None
            return found

    async def snapshots(self) -> list[PortfolioSnapshot]:
        async with self.ctx.db.read() as session:
            rows = await session.scalars(
                select(PortfolioSnapshot).order_by(
                    PortfolioSnapshot.snapshot_timestamp, PortfolioSnapshot.agent_id
                )
            )
            return list(rows)

    async def provenance(self) -> dict[str, MarketPriceSnapshot]:
        async with self.ctx.db.read() as session:
            rows = await session.scalars(select(MarketPriceSnapshot))
            return {r.market_id: r for r in rows}

    async def anomalies(self) -> list[dict[str, Any]]:
        async with self.ctx.db.read() as session:
            rows = await session.scalars(
                select(SystemLog)
                .where(SystemLog.event_type == "price_validation_anomaly")
                .order_by(SystemLog.id)
            )
            return [{"severity": r.severity, **json.loads(r.event_data or "{}")} for r in rows]


@pytest.fixture
async def book(ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> Book:
    clock.set(SUNDAY + timedelta(hours=1, minutes=7))
    found = Book(ctx, sandbox, clock)
    await found.setup()
    return found


def yes_price(book: Book, market: Market) -> Decimal:
    return D(str(market_prices(book.sandbox.world, market.polymarket_id)["Yes"]))


async def test_positions_are_marked_at_clob_prices_and_every_agent_snapshotted(
    book: Book, db_path: Path
) -> None:
    agent = book.cohort.agent_ids[0]
    first, second = book.binary[0], book.binary[1]
    yes, no = await book.buy(agent, (first, "YES", 100), (second, "NO", 200))
    set_prices(book.sandbox.world, first.polymarket_id, {"Yes": 0.5, "No": 0.5})
    set_prices(book.sandbox.world, second.polymarket_id, {"Yes": 0.3, "No": 0.75})

    body = await take_snapshots(book.ctx)
    assert body == {
        "success": True,
        "snapshots_taken": 7,  # the active cohort's agents; not the archived or completed ones
        "positions_updated": 2,
        "errors": 0,
        "duration_ms": body["duration_ms"],
    }
    held_yes, held_no = await book.position(yes), await book.position(no)
    assert held_yes.current_value == pytest.approx(held_yes.shares * 0.5)
    assert held_no.current_value == pytest.approx(held_no.shares * 0.7)  # 1 - mid(YES)
    assert held_no.unrealized_pnl == pytest.approx(held_no.shares * 0.7 - 200)
    rows = await book.snapshots()
    assert {r.agent_id for r in rows} == set(book.cohort.agent_ids)
    mine = next(r for r in rows if r.agent_id == agent)
    positions_value = held_yes.shares * 0.5 + held_no.shares * 0.7
    assert mine.cash_balance == pytest.approx(9700)
    assert mine.positions_value == pytest.approx(positions_value)
    assert mine.total_value == pytest.approx(9700 + positions_value)
    assert mine.total_pnl == pytest.approx(mine.total_value - 10000)
    assert mine.total_pnl_percent == pytest.approx((mine.total_value - 10000) / 100)
    assert (mine.brier_score, mine.num_resolved_bets) == (None, 0)
    idle = next(r for r in rows if r.agent_id != agent)
    assert (idle.total_value, idle.positions_value) == (10000.0, 0.0)
    # Stored as the runbook compares it: text floored to the bucket.
    with sqlite3.connect(db_path) as raw:
        stamps = {s for (s,) in raw.execute("SELECT snapshot_timestamp FROM portfolio_snapshots")}
        marks = {s for (s,) in raw.execute("SELECT snapshot_timestamp FROM market_price_snapshots")}
    assert stamps == marks == {"2026-03-01 01:00:00"}
    provenance = await book.provenance()
    assert set(provenance) == {first.id, second.id}
    assert (provenance[first.id].source, provenance[first.id].accepted_price) == ("clob", 0.5)
    assert provenance[first.id].clob_token_ids == first.clob_token_ids
    async with book.ctx.db.read() as session:
        [logged] = await session.scalars(
            select(SystemLog.event_data).where(SystemLog.event_type == "snapshots_taken")
        )
    assert json.loads(logged)["snapshots"] == 7


async def test_rerun_in_the_same_bucket_overwrites_and_the_next_bucket_adds(book: Book) -> None:
    market = book.binary[0]
    [pid] = await book.buy(book.cohort.agent_ids[0], (market, "YES", 100))
    await take_snapshots(book.ctx)
    before = {r.agent_id: r for r in await book.snapshots()}
    set_prices(book.sandbox.world, market.polymarket_id, {"Yes": 0.9, "No": 0.1})
    book.clock.advance(minutes=2)  # still 01:00-01:10
    await take_snapshots(book.ctx)
    after = {r.agent_id: r for r in await book.snapshots()}
    assert len(after) == 7
    agent = book.cohort.agent_ids[0]
    assert after[agent].id == before[agent].id
    shares = (await book.position(pid)).shares
    assert after[agent].positions_value == pytest.approx(shares * 0.9)
    assert len(await book.provenance()) == 1
    assert (await book.provenance())[market.id].accepted_price == 0.9
    book.clock.advance(minutes=10)
    await take_snapshots(book.ctx)
    assert len(await book.snapshots()) == 14


async def test_a_missing_book_keeps_the_prior_value_and_is_logged(book: Book) -> None:
    market = book.binary[0]
    [pid] = await book.buy(book.cohort.agent_ids[0], (market, "NO", 100))
    await take_snapshots(book.ctx)
    prior = (await book.position(pid)).current_value
    remove_book(book.sandbox.world, market.polymarket_id, "Yes")
    set_prices(book.sandbox.world, market.polymarket_id, {"Yes": 0.01, "No": 0.99})
    book.clock.advance(minutes=10)
    await take_snapshots(book.ctx)
    assert (await book.position(pid)).current_value == pytest.approx(prior)
    record = (await book.provenance())[market.id]
    assert (record.source, record.validation_status, record.accepted_price) == (
        "fallback",
        "fallback",
        None,
    )
    yes_token = json.loads(market.clob_token_ids or "[]")[0]
    [anomaly] = await book.anomalies()
    assert anomaly == {
        "severity": "warning",
        "market_id": market.id,
        "polymarket_id": market.polymarket_id,
        "snapshot_timestamp": "2026-03-01 01:10:00",
        "source": "fallback",
        "status": "fallback",
        "reason": f"Missing CLOB midpoint for token {yes_token}",
    }


async def test_a_closed_market_keeps_its_positions_at_their_last_value(book: Book) -> None:
    market = book.multi[0]
    label = json.loads(market.outcomes or "[]")[0]
    [pid] = await book.buy(book.cohort.agent_ids[1], (market, label, 150))
    await take_snapshots(book.ctx)
    marked = (await book.position(pid)).current_value
    close_market(book.sandbox.world, market.polymarket_id)
    book.clock.advance(minutes=10)
    await markets.sync_markets(book.ctx)
    body = await take_snapshots(book.ctx)
    assert body["positions_updated"] == 1
    assert (await book.position(pid)).current_value == pytest.approx(marked)
    [anomaly] = await book.anomalies()
    assert anomaly["reason"] == "Missing CLOB outcome prices"


async def test_a_position_without_a_prior_value_falls_back_to_its_entry_price(
    book: Book,
) -> None:
    market = book.binary[0]
    [pid] = await book.buy(book.cohort.agent_ids[0], (market, "YES", 100))
    async with book.ctx.db.write() as session:  # a row from before values were kept
        await session.execute(update(Position).where(Position.id == pid).values(current_value=None))
    remove_book(book.sandbox.world, market.polymarket_id)
    await take_snapshots(book.ctx)
    position = await book.position(pid)
    assert position.current_value == pytest.approx(position.shares * position.avg_entry_price)
    assert position.current_value == pytest.approx(100)


async def test_a_gamma_disagreement_is_logged_and_the_clob_price_is_used(book: Book) -> None:
    market = book.binary[0]
    [pid] = await book.buy(book.cohort.agent_ids[0], (market, "YES", 100))
    gamma = market.current_price or 0.0
    clob = round(min(0.98, gamma + 0.2) if gamma < 0.5 else gamma - 0.2, 3)
    set_prices(book.sandbox.world, market.polymarket_id, {"Yes": clob, "No": 1 - clob})
    await take_snapshots(book.ctx)
    position = await book.position(pid)
    assert position.current_value == pytest.approx(position.shares * clob)
    record = (await book.provenance())[market.id]
    assert (record.validation_status, record.gamma_price) == (
        "accepted_with_gamma_disagreement",
        gamma,
    )
    [anomaly] = await book.anomalies()
    assert anomaly["severity"] == "info" and anomaly["source"] == "clob"
    assert anomaly["reason"] == f"Gamma price {gamma:.4f} differs from CLOB {clob:.4f}"


async def test_one_batch_request_per_500_tokens(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock, make_settings: Any
) -> None:
    clock.set(SUNDAY + timedelta(hours=1))
    configure_markets(sandbox.world, 1400, event_share=0.0, multi_share=0.0)
    wide = Context(**{**ctx.__dict__, "settings": make_settings(TOP_MARKETS_COUNT="1300")})
    book = Book(wide, sandbox, clock)
    await book.setup()
    held = book.binary[:1200]
    for start in range(0, len(held), 400):  # three decisions, each within 25 % of the cash
        legs = [(m, "YES", 1.5) for m in held[start : start + 400]]
        await book.buy(book.cohort.agent_ids[start // 400], *legs)
    calls = sandbox.world.calls("clob", "POST", "/midpoints")
    body = await take_snapshots(wide)
    tokens = len(pricing.token_ids(held))
    assert tokens == 1200
    assert sandbox.world.calls("clob", "POST", "/midpoints") - calls == math.ceil(tokens / 500)
    assert sandbox.world.calls("clob", "GET", "/midpoint") == 0
    assert body["positions_updated"] == 1200


async def test_snapshots_carry_the_agents_brier_record(book: Book) -> None:
    from arenabrain.arena.resolution import check_resolutions
    from arenabrain.sandbox.polymarket import resolve_market

    market = book.binary[0]
    agent = book.cohort.agent_ids[0]
    await book.buy(agent, (market, "YES", 250))
    resolve_market(book.sandbox.world, market.polymarket_id, "Yes")
    await markets.sync_markets(book.ctx)
    await check_resolutions(book.ctx)
    await take_snapshots(book.ctx)
    mine = next(r for r in await book.snapshots() if r.agent_id == agent)
    assert mine.num_resolved_bets == 1
    assert mine.brier_score == pytest.approx((0.1 - 1) ** 2)
    assert mine.positions_value == 0.0 and mine.cash_balance > 10000


async def test_an_archived_cohort_gets_no_snapshot(book: Book) -> None:
    async with book.ctx.db.write() as session:
        await session.execute(
            update(Cohort).where(Cohort.id == book.cohort.id).values(is_archived=1)
        )
    body = await take_snapshots(book.ctx)
    assert body["snapshots_taken"] == 0
    async with book.ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(PortfolioSnapshot)) == 0


# --- the doors ----------------------------------------------------------------------------------


async def test_route_requires_the_cron_bearer_and_answers_the_job(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/cron/take-snapshots")).status_code == 401
    answer = await client.post("/api/cron/take-snapshots", headers=cron_headers())
    assert answer.status_code == 200
    assert set(answer.json()) == {
        "success",
        "snapshots_taken",
        "positions_updated",
        "errors",
        "duration_ms",
    }


def test_scheduler_runs_it_every_ten_minutes() -> None:
    job = by_name(JOBS)["take-snapshots"]
    assert (job.crontab, job.func) == ("*/10 * * * *", take_snapshots)


def test_cli_command_exists() -> None:
    from typer.testing import CliRunner

    from arenabrain.cli import app

    result = CliRunner().invoke(app, ["take-snapshots", "--help"])
    assert result.exit_code == 0 and "snapshot" in result.output.lower()
