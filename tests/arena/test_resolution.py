"""check-resolutions: the verdict rules (a table) and the job against the emulators: winners by
price, by legacy token flag and by label, refunds (50/50, voided, delisted, undecidable past the
grace period), partial failures and the re-run that finishes them, archived cohorts, Brier rows,
and the three doors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from arenabrain.arena import markets, pricing, resolution
from arenabrain.arena.decisions import claims
from arenabrain.arena.decisions.parser import Bet, Sell
from arenabrain.arena.execution.accounting import accounting_problems
from arenabrain.arena.execution.trades import execute_bets, execute_sells
from arenabrain.arena.jobs import JOBS
from arenabrain.arena.models import Agent, BrierScore, Cohort, Market, Position, SystemLog, Trade
from arenabrain.arena.resolution import check_resolutions
from arenabrain.arena.verdicts import verdict
from arenabrain.clients.polymarket import parse_market
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.jobs import by_name
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import (
    close_market,
    flag_resolved,
    inject_failure,
    polymarket_state,
    remove_market,
    resolve_by_tokens,
    resolve_market,
    split_market,
)
from tests.arena.decisions.support import SUNDAY, load_world_markets, seed_cohort
from tests.conftest import cron_headers

GRACE = timedelta(days=14)
CLOSE = datetime(2026, 3, 10, tzinfo=UTC)


# --- the verdict rules (pure) -------------------------------------------------------------------


def gamma(
    prices: list[str] | None = None,
    *,
    outcomes: list[str] | None = None,
    closed: bool = True,
    uma: str | None = None,
    resolved: bool | None = None,
    tokens_winner: str | None = None,
    end: str = "2026-03-10T00:00:00Z",
) -> Any:
    labels = outcomes or ["Yes", "No"]
    raw: dict[str, Any] = {
        "id": "77",
        "question": "Q?",
        "outcomes": json.dumps(labels),
        "outcomePrices": json.dumps(prices or ["0.5", "0.5"]),
        "clobTokenIds": json.dumps([f"t{i}" for i in range(len(labels))]),
        "closed": closed,
        "umaResolutionStatus": uma,
        "endDate": end,
    }
    if resolved is not None:
        raw["resolved"] = resolved
    if tokens_winner is not None:
        raw["tokens"] = [
            {"token_id": f"t{i}", "outcome": label, "winner": label == tokens_winner}
            for i, label in enumerate(labels)
        ]
    return parse_market(raw)


VERDICTS = [
    ("decisive YES", gamma(["1", "0"], uma="resolved"), CLOSE, ("winner", "YES")),
    ("decisive NO without UMA status", gamma(["0.004", "0.996"]), CLOSE, ("winner", "NO")),
    ("undecided, closed", gamma(["0.52", "0.48"], uma="proposed"), CLOSE, ("pending", None)),
    (
        "undecided past the grace period",
        gamma(["0.52", "0.48"]),
        CLOSE + GRACE,
        ("refund", "CANCELLED"),
    ),
    ("still open", gamma(["1", "0"], closed=False), CLOSE + GRACE * 3, ("pending", None)),
    (
        "legacy token flag",
        gamma(["0.6", "0.4"], uma="resolved", tokens_winner="No"),
        CLOSE,
        ("winner", "NO"),
    ),
    (
        "multi-outcome by label",
        gamma(["0", "1", "0"], outcomes=["Lakers", "Heat", "Suns"], uma="resolved"),
        CLOSE,
        ("winner", "HEAT"),
    ),
    (
        "two outcomes near one decide nothing",
        gamma(["0.995", "0.995", "0"], outcomes=["A", "B", "C"]),
        CLOSE,
        ("pending", None),
    ),
    ("50/50", gamma(["0.5", "0.5"], uma="resolved"), CLOSE, ("refund", "CANCELLED")),
    (
        "voided multi-outcome (equal split)",
        gamma(["0.333", "0.333", "0.333"], outcomes=["A", "B", "C"], uma="resolved"),
        CLOSE,
        ("refund", "CANCELLED"),
    ),
    ("50/50 not yet resolved", gamma(["0.5", "0.5"], uma="proposed"), CLOSE, ("pending", None)),
    ("flagged without a winner", gamma(["0.7", "0.3"], resolved=True), CLOSE, ("undecided", None)),
    (
        "flagged without a winner past the grace period",
        gamma(["0.7", "0.3"], resolved=True),
        CLOSE + GRACE + timedelta(seconds=1),
        ("refund", "CANCELLED"),
    ),
    (
        "grace counts from Gamma's later close date",
        gamma(["0.52", "0.48"], end="2026-04-01T00:00:00Z"),
        CLOSE + GRACE,
        ("pending", None),
    ),
    ("not found", None, CLOSE, ("missing", None)),
    ("not found past the grace period", None, CLOSE + GRACE, ("refund", "CANCELLED")),
]


@pytest.mark.parametrize(
    ("name", "market", "now", "expected"), VERDICTS, ids=[v[0] for v in VERDICTS]
)
def test_verdicts(name: str, market: Any, now: datetime, expected: tuple[str, str | None]) -> None:
    found = verdict(market, polymarket_id="77", close_date=CLOSE, now=now, grace=GRACE)
    assert (found.kind, found.winner) == expected
    assert found.reason


# --- the job ------------------------------------------------------------------------------------


class World:
    """A cohort of agents, the emulator's markets stored as a sync stores them, and helpers to
    trade through the real execution path."""

    def __init__(self, ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> None:
        self.ctx, self.sandbox, self.clock = ctx, sandbox, clock

    async def setup(self) -> None:
        self.cohort = await seed_cohort(self.ctx)
        self.archived = await seed_cohort(
            self.ctx, number=2, started_at=SUNDAY - timedelta(days=7), archived=True
        )
        await markets.sync_markets(self.ctx)
        async with self.ctx.db.read() as session:
            rows = list(await session.scalars(select(Market).order_by(Market.volume.desc())))
        self.binary = [m for m in rows if m.market_type == "binary"]
        self.multi = [m for m in rows if m.market_type == "multi_outcome"]

    def agent(self, index: int) -> str:
        return self.cohort.agent_ids[index]

    async def buy(self, agent_id: str, market: Market, side: str, amount: float) -> str:
        prices = await pricing.fetch_side_prices(self.ctx, [market])
        async with self.ctx.db.write() as session:
            report = await execute_bets(
                session,
                agent_id=agent_id,
                decision_id=None,
                lineage=None,
                bets=[Bet(market.id, side, Decimal(str(amount)), None)],
                prices=prices,
                now=self.clock.now(),
            )
        assert report.executed == 1, report.errors
        return report.results[0].position_id or ""

    async def sell_all(self, agent_id: str, position_id: str, market: Market) -> None:
        prices = await pricing.fetch_side_prices(self.ctx, [market])
        async with self.ctx.db.write() as session:
            report = await execute_sells(
                session,
                agent_id=agent_id,
                decision_id=None,
                lineage=None,
                sells=[Sell(position_id, Decimal(100))],
                prices=prices,
                now=self.clock.now(),
            )
        assert report.executed == 1, report.errors

    async def check(self) -> dict[str, Any]:
        """Sync (which reads the new statuses of markets with open positions), then resolve."""
        self.clock.advance(minutes=1)
        await markets.sync_markets(self.ctx)
        return await check_resolutions(self.ctx)

    async def market(self, market_id: str) -> Market:
        async with self.ctx.db.read() as session:
            found = await session.get(Market, market_id)
            assert found is not None
            return found

    async def positions(self, market_id: str) -> dict[str, Position]:
        async with self.ctx.db.read() as session:
            rows = await session.scalars(select(Position).where(Position.market_id == market_id))
            return {p.id: p for p in rows}

    async def cash(self, agent_id: str) -> float:
        async with self.ctx.db.read() as session:
            agent = await session.get(Agent, agent_id)
            assert agent is not None
            return agent.cash_balance

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        async with self.ctx.db.read() as session:
            rows = await session.scalars(
                select(SystemLog).where(SystemLog.event_type == event_type).order_by(SystemLog.id)
            )
            return [{"severity": r.severity, **json.loads(r.event_data or "{}")} for r in rows]

    async def sound_books(self) -> None:
        async with self.ctx.db.read() as session:
            assert await accounting_problems(session) == []


@pytest.fixture
async def world(ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> World:
    clock.set(SUNDAY + timedelta(hours=1))
    found = World(ctx, sandbox, clock)
    await found.setup()
    return found


async def test_a_decisive_winner_settles_every_position_then_resolves_the_market(
    world: World,
) -> None:
    market = world.binary[0]
    yes = await world.buy(world.agent(0), market, "YES", 100)
    no = await world.buy(world.agent(1), market, "NO", 200)
    held = await world.positions(market.id)
    resolve_market(world.sandbox.world, market.polymarket_id, "Yes")

    body = await world.check()
    assert body == {
        "success": True,
        "markets_checked": 1,
        "markets_resolved": 1,
        "positions_settled": 2,
        "cohorts_completed": 0,
        "errors": 0,
        "duration_ms": body["duration_ms"],
    }
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("resolved", "YES")
    assert stored.resolved_at == world.clock.now()
    after = await world.positions(market.id)
    assert {p.status for p in after.values()} == {"settled"}
    assert after[yes].current_value == 0.0 and after[yes].shares == held[yes].shares
    assert await world.cash(world.agent(0)) == pytest.approx(9900 + held[yes].shares, abs=1e-6)
    assert await world.cash(world.agent(1)) == pytest.approx(9800, abs=1e-6)
    settled = await world.events("position_settled")
    assert {e["position_id"]: e["settlement_value"] for e in settled} == {
        yes: pytest.approx(held[yes].shares),
        no: 0,
    }
    [resolved] = await world.events("market_resolved")
    assert resolved == {
        "severity": "info",
        "market_id": market.id,
        "polymarket_id": market.polymarket_id,
        "winning_outcome": "YES",
        "positions_settled": 2,
        "brier_scores_recorded": 2,
    }
    async with world.ctx.db.read() as session:
        scores = {b.agent_id: b for b in await session.scalars(select(BrierScore))}
    # Implied confidence 100/2500 = 0.04 on the winning side, 200/2500 = 0.08 on the losing one.
    assert scores[world.agent(0)].brier_score == pytest.approx((0.04 - 1) ** 2)
    assert scores[world.agent(1)].brier_score == pytest.approx(0.08**2)
    assert (scores[world.agent(1)].actual_outcome, scores[world.agent(1)].family_id) == (
        0.0,
        "google-gemini",
    )
    [complete] = await world.events("resolution_check_complete")
    assert complete["markets_resolved"] == 1 and complete["positions_settled"] == 2
    await world.sound_books()
    # A second run finds nothing left to do and changes nothing.
    again = await world.check()
    assert (again["markets_checked"], again["positions_settled"]) == (0, 0)


async def test_multi_outcome_winner_is_found_by_label(world: World) -> None:
    market = world.multi[0]
    labels = json.loads(market.outcomes or "[]")
    win = await world.buy(world.agent(0), market, labels[0], 100)
    lose = await world.buy(world.agent(1), market, labels[1], 100)
    shares = (await world.positions(market.id))[win].shares
    resolve_market(world.sandbox.world, market.polymarket_id, labels[0])
    await world.check()
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("resolved", labels[0].upper())
    assert await world.cash(world.agent(0)) == pytest.approx(9900 + shares, abs=1e-6)
    assert await world.cash(world.agent(1)) == pytest.approx(9900, abs=1e-6)
    assert {p.status for p in (await world.positions(market.id)).values()} == {"settled"}
    assert lose in await world.positions(market.id)
    await world.sound_books()


async def test_a_market_flagged_resolved_without_an_outcome_is_checked_again(
    world: World,
) -> None:
    """Reference §8.1: rows an older sync (or the anchor) left `resolved` with no outcome."""
    market = world.binary[0]
    await world.buy(world.agent(0), market, "YES", 100)
    resolve_market(world.sandbox.world, market.polymarket_id, "Yes")
    async with world.ctx.db.write() as session:
        await session.execute(
            update(Market).where(Market.id == market.id).values(status="resolved")
        )
    body = await check_resolutions(world.ctx)
    assert (body["markets_checked"], body["markets_resolved"]) == (1, 1)
    assert (await world.market(market.id)).resolution_outcome == "YES"


async def test_a_winner_named_only_by_the_legacy_token_flag_settles(world: World) -> None:
    market = world.binary[0]
    await world.buy(world.agent(0), market, "NO", 100)
    resolve_by_tokens(world.sandbox.world, market.polymarket_id, "No")
    body = await world.check()
    assert (body["markets_resolved"], body["positions_settled"]) == (1, 1)
    assert (await world.market(market.id)).resolution_outcome == "NO"


async def test_an_undecided_market_waits_then_is_refunded_after_the_grace_period(
    world: World,
) -> None:
    market = world.binary[0]
    position = await world.buy(world.agent(0), market, "YES", 100)
    close_market(world.sandbox.world, market.polymarket_id)
    body = await world.check()
    assert (body["markets_checked"], body["markets_resolved"], body["errors"]) == (1, 0, 0)
    assert (await world.market(market.id)).status == "closed"
    assert (await world.positions(market.id))[position].status == "open"

    end = polymarket_state(world.sandbox.world).markets[market.polymarket_id].end_date
    world.clock.set(end + timedelta(days=14))
    await world.check()  # other markets of the world have ended meanwhile too
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("resolved", "CANCELLED")
    assert await world.cash(world.agent(0)) == pytest.approx(10000, abs=1e-6)
    assert await world.events("position_refunded") == [
        {
            "severity": "info",
            "position_id": position,
            "agent_id": world.agent(0),
            "market_id": market.id,
            "refund_amount": 100.0,
        }
    ]
    [cancelled] = [e for e in await world.events("market_cancelled") if e["market_id"] == market.id]
    assert cancelled["positions_refunded"] == 1 and "14 days" in cancelled["reason"]
    async with world.ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(BrierScore)) == 0
    await world.sound_books()


@pytest.mark.parametrize("kind", ["binary 50/50", "voided multi-outcome"])
async def test_split_resolutions_are_refunded_at_cost(world: World, kind: str) -> None:
    market = world.binary[0] if kind == "binary 50/50" else world.multi[0]
    side = "YES" if market.market_type == "binary" else json.loads(market.outcomes or "[]")[0]
    await world.buy(world.agent(2), market, side, 321.5)
    split_market(world.sandbox.world, market.polymarket_id)
    body = await world.check()
    assert (body["markets_resolved"], body["positions_settled"]) == (1, 1)
    assert (await world.market(market.id)).resolution_outcome == "CANCELLED"
    assert await world.cash(world.agent(2)) == pytest.approx(10000, abs=1e-6)
    await world.sound_books()


async def test_resolved_without_a_winner_is_deferred_then_refunded(world: World) -> None:
    market = world.binary[0]
    await world.buy(world.agent(0), market, "YES", 100)
    flag_resolved(world.sandbox.world, market.polymarket_id)
    body = await world.check()
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("closed", None)
    assert (body["markets_checked"], body["markets_resolved"], body["errors"]) == (1, 0, 1)
    [unknown] = await world.events("resolution_unknown_winner")
    assert unknown["severity"] == "warning" and unknown["fallback_outcome"] == "deferred"
    assert unknown["question"] == market.question[:100]
    end = polymarket_state(world.sandbox.world).markets[market.polymarket_id].end_date
    world.clock.set(end + timedelta(days=15))
    await world.check()
    assert (await world.market(market.id)).resolution_outcome == "CANCELLED"
    assert await world.cash(world.agent(0)) == pytest.approx(10000, abs=1e-6)


async def test_a_delisted_market_is_an_error_until_the_grace_period_then_refunded(
    world: World,
) -> None:
    market = world.binary[0]
    await world.buy(world.agent(0), market, "NO", 100)
    close_market(world.sandbox.world, market.polymarket_id)
    await world.check()
    remove_market(world.sandbox.world, market.polymarket_id)
    body = await world.check()
    assert body["errors"] == 1 and (await world.market(market.id)).status == "closed"
    end = polymarket_state(world.sandbox.world).markets[market.polymarket_id].end_date
    world.clock.set(end + timedelta(days=14))
    await world.check()
    assert (await world.market(market.id)).resolution_outcome == "CANCELLED"
    assert await world.cash(world.agent(0)) == pytest.approx(10000, abs=1e-6)


async def test_a_market_delisted_before_a_sync_saw_it_close_is_still_refunded(
    world: World,
) -> None:
    """Gamma answers 404 before any sync stored the market as closed: it stays `active`
    locally, past its close date, and must not hold its positions open forever."""
    market = world.binary[0]
    await world.buy(world.agent(0), market, "YES", 100)
    remove_market(world.sandbox.world, market.polymarket_id)
    end = polymarket_state(world.sandbox.world).markets[market.polymarket_id].end_date
    world.clock.set(end + timedelta(days=1))
    body = await world.check()
    assert body["errors"] >= 1 and (await world.market(market.id)).status == "active"
    world.clock.set(end + timedelta(days=14))
    await world.check()
    assert (await world.market(market.id)).resolution_outcome == "CANCELLED"
    assert await world.cash(world.agent(0)) == pytest.approx(10000, abs=1e-6)


async def test_a_failed_settlement_leaves_the_market_closed_and_a_rerun_finishes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = world.binary[0]
    ids = [await world.buy(world.agent(i), market, "YES", 100) for i in range(3)]
    broken = ids[1]
    real = resolution.settle_position

    async def flaky(session: Any, position_id: str, *args: Any, **kwargs: Any) -> Any:
        if position_id == broken:
            raise RuntimeError("disk I/O error")
        return await real(session, position_id, *args, **kwargs)

    monkeypatch.setattr(resolution, "settle_position", flaky)
    resolve_market(world.sandbox.world, market.polymarket_id, "Yes")
    body = await world.check()
    assert (body["markets_resolved"], body["positions_settled"], body["errors"]) == (0, 2, 1)
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("closed", None)
    statuses = {pid: p.status for pid, p in (await world.positions(market.id)).items()}
    assert statuses == {ids[0]: "settled", broken: "open", ids[2]: "settled"}
    [partial] = await world.events("market_resolution_partial_failure")
    assert partial["severity"] == "error" and partial["positions_settled"] == 2
    assert partial["errors"] == [f"Position {broken}: disk I/O error"]
    async with world.ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(BrierScore)) == 0
    await world.sound_books()

    monkeypatch.setattr(resolution, "settle_position", real)
    body = await world.check()
    assert (body["markets_resolved"], body["positions_settled"], body["errors"]) == (1, 1, 0)
    stored = await world.market(market.id)
    assert (stored.status, stored.resolution_outcome) == ("resolved", "YES")
    async with world.ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(BrierScore)) == 3
    await world.sound_books()


async def test_archived_cohorts_still_settle(world: World) -> None:
    market = world.binary[0]
    archived_agent = world.archived.agent_ids[0]
    await world.buy(archived_agent, market, "YES", 100)
    resolve_market(world.sandbox.world, market.polymarket_id, "Yes")
    body = await world.check()
    assert body["positions_settled"] == 1
    assert await world.cash(archived_agent) > 10000


async def test_trades_sold_before_the_market_resolved_still_get_brier_rows(world: World) -> None:
    market = world.binary[0]
    position = await world.buy(world.agent(0), market, "YES", 500)
    await world.sell_all(world.agent(0), position, market)
    resolve_market(world.sandbox.world, market.polymarket_id, "No")
    # Without an open position the market is re-read once it is six hours stale.
    world.clock.advance(hours=7)
    body = await world.check()
    assert (body["markets_resolved"], body["positions_settled"]) == (1, 0)
    async with world.ctx.db.read() as session:
        [score] = await session.scalars(select(BrierScore))
        trade = await session.get(Trade, score.trade_id)
    assert trade is not None and trade.trade_type == "BUY"
    assert (score.forecast_probability, score.actual_outcome) == (pytest.approx(0.2), 0.0)
    assert score.brier_score == pytest.approx(0.04)


async def test_a_gamma_failure_is_counted_and_changes_nothing(world: World) -> None:
    market = world.binary[0]
    await world.buy(world.agent(0), market, "YES", 100)
    resolve_market(world.sandbox.world, market.polymarket_id, "Yes")
    world.clock.advance(minutes=1)
    await markets.sync_markets(world.ctx)
    inject_failure(
        world.sandbox.world, "gamma", f"/markets/{market.polymarket_id}", status=503, times=3
    )
    body = await check_resolutions(world.ctx)
    assert (body["markets_checked"], body["markets_resolved"], body["errors"]) == (1, 0, 1)
    assert {p.status for p in (await world.positions(market.id)).values()} == {"open"}


async def test_completion_sweep_runs_after_settlement(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock, make_settings: Callable[..., Any]
) -> None:
    clock.set(SUNDAY + timedelta(hours=1))
    old = await seed_cohort(ctx, number=1, started_at=SUNDAY - timedelta(days=7))
    await seed_cohort(ctx, number=2)
    [market_id] = await load_world_markets(ctx, sandbox, count=1)
    await claims.claim_decision(
        ctx.db, agent_id=old.agent_ids[0], cohort_id=old.id, decision_week=2, now=clock.now()
    )
    tiny = Context(**{**ctx.__dict__, "settings": make_settings(DECISION_COHORT_LIMIT="1")})
    helper = World(tiny, sandbox, clock)
    async with ctx.db.read() as session:
        market = await session.get(Market, market_id)
    assert market is not None
    side = "YES" if market.market_type == "binary" else json.loads(market.outcomes or "[]")[0]
    await helper.buy(old.agent_ids[0], market, side, 100)
    assert (await check_resolutions(tiny))["cohorts_completed"] == 0  # a position is open
    sim = polymarket_state(sandbox.world).markets[market.polymarket_id]
    resolve_market(sandbox.world, sim.id, sim.outcomes[0])
    body = await helper.check()
    assert body["cohorts_completed"] == 1
    async with ctx.db.read() as session:
        cohort = await session.get(Cohort, old.id)
    assert cohort is not None and cohort.status == "completed"


# --- the doors ----------------------------------------------------------------------------------


async def test_route_requires_the_cron_bearer_and_answers_the_job(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/cron/check-resolutions")).status_code == 401
    answer = await client.post("/api/cron/check-resolutions", headers=cron_headers())
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {
        "success",
        "markets_checked",
        "markets_resolved",
        "positions_settled",
        "cohorts_completed",
        "errors",
        "duration_ms",
    }
    assert body["success"] is True and body["errors"] == 0


def test_scheduler_runs_it_hourly() -> None:
    job = by_name(JOBS)["check-resolutions"]
    assert (job.crontab, job.func) == ("0 * * * *", check_resolutions)


def test_cli_command_exists(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from arenabrain.cli import app

    result = CliRunner().invoke(app, ["check-resolutions", "--help"])
    assert result.exit_code == 0 and "resolv" in result.output.lower()
