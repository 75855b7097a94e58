"""Every SQL statement of both runbooks, verbatim, through the `sqlite3` command-line tool,
against a database the service itself filled over four sandbox weeks.

The weeks are run through the jobs' own functions (sync-markets, start-cohort, run-decisions,
take-snapshots, check-resolutions, the backup) on a frozen clock that ends at the real current
second, because the runbook compares timestamps with SQLite's `datetime('now', ...)`. Along the
way some things fail as they do in production: one model's calls fail for a week, one model
bets on a market that does not exist, Gamma is down for one sync, and one CreditBrain run fails
while Bags is down before another completes. Each test then runs one runbook statement and
checks what the runbook says it shows."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from sqlalchemy import func, select

from arenabrain.arena import cohorts, markets, resolution, snapshots
from arenabrain.arena.backups import backup
from arenabrain.arena.decisions import engine
from arenabrain.arena.models import Agent, BenchmarkConfigModel, Market, Position
from arenabrain.arena.weeks import week_start
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs, strategies
from arenabrain.credits.schemas import StrategyCreate
from arenabrain.errors import AppError
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.sandbox.personas import personas_state
from arenabrain.sandbox.polymarket import close_market, inject_failure, resolve_market
from arenabrain.settings import load_settings
from tests.conftest import ADMIN_PASSWORD, CRON_SECRET, SESSION_SECRET

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 CLI")

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
OWNER_KEY = Keypair.from_seed(bytes([77] * 32))
TOKEN_MINT = str(Keypair.from_seed(bytes([78] * 32)).pubkey())
FEE_MINT = str(Keypair.from_seed(bytes([79] * 32)).pubkey())
WEEKS = 4

# --- the statements, verbatim ------------------------------------------------------------------

# Arena runbook 4.3 Recent Errors
RECENT_ERRORS = """
  SELECT severity, event_type, created_at
  FROM system_logs
  WHERE severity = 'error'
  ORDER BY created_at DESC
  LIMIT 50;
"""
# 4.4 Market Freshness
MARKET_FRESHNESS = """
  SELECT MAX(last_updated_at) AS last_market_update,
         COUNT(*) AS total_markets
  FROM markets;
"""
# 5.2 Cohort Existence
COHORT_EXISTENCE = """
  SELECT id, cohort_number, started_at, status
  FROM cohorts
  ORDER BY started_at DESC
  LIMIT 3;
"""
# 5.3 Decision Coverage
DECISION_COVERAGE = """
  SELECT cohort_id, decision_week, COUNT(*) AS decisions
  FROM decisions
  WHERE decision_timestamp > datetime('now', '-24 hours')
  GROUP BY cohort_id, decision_week
  ORDER BY decision_timestamp DESC;
"""
# 5.4 Trades Recorded
TRADES_RECORDED = """
  SELECT d.id, d.action, COUNT(t.id) AS trades
  FROM decisions d
  LEFT JOIN trades t ON t.decision_id = d.id
  WHERE d.decision_timestamp > datetime('now', '-24 hours')
  GROUP BY d.id, d.action
  ORDER BY d.decision_timestamp DESC;
"""
# 5.5 Snapshot Freshness
SNAPSHOT_FRESHNESS = """
  SELECT MAX(snapshot_timestamp) AS latest_snapshot,
         COUNT(*) AS snapshots_last_hour
  FROM portfolio_snapshots
  WHERE snapshot_timestamp > datetime('now', '-1 hour');
"""
# 7.1 Decision Rows Still "In Progress"
IN_PROGRESS = """SELECT id, agent_id, cohort_id, decision_week, decision_timestamp
FROM decisions
WHERE action = 'ERROR'
  AND error_message = '__IN_PROGRESS__'
ORDER BY decision_timestamp DESC;"""
# 7.2 Duplicate-Protection Sanity Checks
DUPLICATE_DECISIONS = """SELECT agent_id, cohort_id, decision_week, COUNT(*) AS cnt
FROM decisions
GROUP BY agent_id, cohort_id, decision_week
HAVING COUNT(*) > 1;"""
DUPLICATE_COHORTS = """SELECT started_at, COUNT(*) AS cnt
FROM cohorts
GROUP BY started_at
HAVING COUNT(*) > 1;"""
# 7.3 Frozen Lineage Sanity Checks
COHORTS_WITHOUT_CONFIG = """SELECT id, cohort_number
FROM cohorts
WHERE benchmark_config_id IS NULL
ORDER BY cohort_number DESC;"""
AGENTS_WITHOUT_LINEAGE = """SELECT id, cohort_id, model_id, family_id, release_id, benchmark_config_model_id
FROM agents
WHERE family_id IS NULL
   OR release_id IS NULL
   OR benchmark_config_model_id IS NULL
ORDER BY created_at DESC;"""
# 7.4 Markets Stuck Closed
MARKETS_STUCK_CLOSED = """SELECT id, polymarket_id, question, close_date, last_updated_at
FROM markets
WHERE status = 'closed'
ORDER BY close_date DESC
LIMIT 50;"""
# 7.5 Open Positions on Closed Markets
OPEN_ON_CLOSED = """SELECT p.id, p.agent_id, p.market_id, p.side, p.status, m.status AS market_status
FROM positions p
JOIN markets m ON p.market_id = m.id
WHERE p.status = 'open'
  AND m.status IN ('closed', 'resolved')
ORDER BY m.status, p.opened_at DESC;"""
# CreditBrain runbook, "Error State in the Database"
FAILED_RUNS = (
    "SELECT run_id, state, error_code, error_detail FROM runs WHERE state = 'FAILED' "
    "ORDER BY started_at DESC LIMIT 10;"
)


def sqlite3(db: Path, sql: str) -> list[list[str]]:
    """`sqlite3 <db> "<sql>"` as the runbooks run it; rows split on `|`."""
    done = subprocess.run(
        ["sqlite3", str(db), sql], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stderr == ""
    return [line.split("|") for line in done.stdout.splitlines() if line]


# --- the simulated weeks -------------------------------------------------------------------------


@dataclass
class History:
    """What the simulation did, for the tests to compare the runbook's answers with."""

    db: Path
    end: datetime
    cohort_starts: list[datetime] = field(default_factory=list)
    won: str = ""  # a held market Polymarket resolved at the end (settled)
    undecided: str = ""  # a held market Polymarket closed without a winner yet
    last_decision_run: dict[str, Any] = field(default_factory=dict)
    snapshot_agents: int = 0
    failed_run: Any = None
    completed_run: Any = None


async def no_sleep(_seconds: float) -> None:
    return None


def timeline_end() -> datetime:
    """The real current second, so `datetime('now', ...)` in the runbook sees this history."""
    return datetime.now(UTC).replace(microsecond=0)


async def lineup_models(ctx: Context) -> list[str]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(BenchmarkConfigModel.openrouter_id_snapshot)
            .join(Agent, Agent.benchmark_config_model_id == BenchmarkConfigModel.id)
            .distinct()
        )
        return sorted(rows.all())


async def simulate(history: History, settings: Any) -> None:
    end = history.end
    current = week_start(end)
    if end - current < timedelta(hours=2):
        current -= timedelta(days=7)  # too early in the week for the late decision run below
    starts = [current - timedelta(days=7 * (WEEKS - 1 - i)) for i in range(WEEKS)]
    clock = FrozenClock(starts[0] - timedelta(hours=1))
    sandbox = Sandbox(World(clock=clock, seed=11))
    personas = personas_state(sandbox.world)
    async with open_context(
        settings, clock=clock, transports=sandbox.transports(), sleep=no_sleep
    ) as ctx:
        await markets.sync_markets(ctx)
        for week, start in enumerate(starts):
            last = week == WEEKS - 1
            clock.set(start)
            started = await cohorts.start_cohort(ctx)
            assert started["success"], started
            history.cohort_starts.append(start)
            models = await lineup_models(ctx)
            if week == 1:  # one model's calls fail all week: its decisions are ERRORs
                personas["fail_models"] = {models[0]}
            if week == 2:  # one model bets on a market that does not exist: no trades
                bet = {"market_id": "nope", "side": "YES", "amount": 60}
                answer = json.dumps({"action": "BET", "bets": [bet], "reasoning": "r"})
                personas["scripts"] = {models[1]: [answer]}
            if not last:
                clock.set(start + timedelta(minutes=5))
                await engine.run_decisions(ctx)
            personas["fail_models"], personas["scripts"] = set(), {}
            await run_the_week(ctx, sandbox, clock, start, end, outage=week == 2)
            if last:  # the Sunday run was missed; an operator runs it an hour ago (§6.3)
                clock.set(end - timedelta(hours=1))
                history.last_decision_run = await engine.run_decisions(ctx)
            if week == 2:
                clock.set(start + timedelta(days=6, hours=23))
                await backup(ctx)  # Saturday 23:00 (§3)
        # Two held markets end at Polymarket: one with a winner, one still undecided.
        history.won, history.undecided = await held_markets(ctx, 2)
        resolve_market(sandbox.world, history.won, "Yes")
        close_market(sandbox.world, history.undecided)
        for minutes in (30, 5):  # the last two 10-minute snapshots, and a fresh sync
            clock.set(end - timedelta(minutes=minutes))
            await markets.sync_markets(ctx)
            taken = await snapshots.take_snapshots(ctx)
        history.snapshot_agents = taken["snapshots_taken"]
        clock.set(end - timedelta(minutes=2))
        await resolution.check_resolutions(ctx)
        await creditbrain_runs(ctx, sandbox, clock, history)


async def held_markets(ctx: Context, count: int) -> list[str]:
    """The Polymarket ids of `count` markets with open positions, most held first."""
    async with ctx.db.read() as session:
        rows = await session.execute(
            select(Market.polymarket_id)
            .join(Position, Position.market_id == Market.id)
            .where(Position.status == "open", Market.status == "active")
            .group_by(Market.polymarket_id)
            .order_by(func.count().desc(), Market.polymarket_id)
            .limit(count)
        )
        found = list(rows.scalars())
    assert len(found) == count
    return found


async def run_the_week(
    ctx: Context,
    sandbox: Sandbox,
    clock: FrozenClock,
    start: datetime,
    end: datetime,
    *,
    outage: bool,
) -> None:
    """Every other day until the week (or the timeline) ends: sync, snapshot, resolve."""
    day = start + timedelta(hours=1)
    horizon = min(start + timedelta(days=7), end - timedelta(hours=1, minutes=5))
    while day < horizon:
        clock.set(day)
        if outage and day == start + timedelta(hours=1):
            # Gamma is down for one sync (§4.3: market_sync_error)
            inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)
            with pytest.raises(AppError, match="502 Bad Gateway"):
                await markets.sync_markets(ctx)
        else:
            await markets.sync_markets(ctx)
        await snapshots.take_snapshots(ctx)
        await resolution.check_resolutions(ctx)
        day += timedelta(days=2)


async def creditbrain_runs(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock, history: History
) -> None:
    """A run that fails while Bags is down, then one that completes."""
    world = sandbox.world
    owner = str(OWNER_KEY.pubkey())
    chain.set_balance(world, owner, 100_000_000)
    bags_emulator.add_claimable_position(world, owner, FEE_MINT, 2_000_000_000)
    chain.generate_holders(world, TOKEN_MINT, 6, programs=1)
    openrouter_emulator.openrouter_state(world)["total_credits"] = 1000.0
    strategy = await strategies.create_strategy(
        ctx,
        StrategyCreate.of(
            owner_wallet=owner,
            distribution_token=TOKEN_MINT,
            min_claim_threshold=Decimal("0.1"),
            key_config={"default_limit_usd": Decimal(100)},
        ),
    )
    clock.set(history.end - timedelta(minutes=20))
    bags_emulator.inject_failure(world, *([503] * 20))
    history.failed_run = await runs.start_run(ctx, strategy.strategy_id, "cli")
    bags_emulator.bags_state(world)["fail_next"].clear()
    clock.set(history.end - timedelta(minutes=10))
    history.completed_run = await runs.start_run(ctx, strategy.strategy_id, "cli")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[History]:
    directory = tmp_path_factory.mktemp("runbook")
    db = directory / "forecaster.db"
    shutil.copyfile(migrated_template, db)
    settings = load_settings(
        {
            "APP_ENV": "test",
            "DATABASE_PATH": str(db),
            "BACKUP_PATH": str(directory / "backups"),
            "SCHEDULER_ENABLED": "false",
            "CRON_SECRET": CRON_SECRET,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ADMIN_SESSION_SECRET": SESSION_SECRET,
            "OPENROUTER_API_KEY": "test-openrouter-key",
            "API_AUTH_TOKEN": "test-api-token",
            "KEY_ENCRYPTION_KEY": KEK,
            "BAGS_API_KEY": "bags-key",
            "HELIUS_API_KEY": "helius-key",
            "OPENROUTER_MANAGEMENT_KEY": "mgmt-key",
            "SIGNER_PRIVATE_KEY": str(OWNER_KEY),
            "MAX_DAILY_RUNS": "0",
        },
        env_file=None,
    )
    found = History(db=db, end=timeline_end())
    asyncio.run(simulate(found, settings))
    yield found


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- arena runbook -------------------------------------------------------------------------------


def test_4_3_recent_errors_list_the_failures_that_were_caused(history: History) -> None:
    rows = sqlite3(history.db, RECENT_ERRORS)

    assert rows and all(severity == "error" for severity, _, _ in rows)
    times = [created for _, _, created in rows]
    assert times == sorted(times, reverse=True)
    caused = {event for _, event, _ in rows}
    assert {
        "agent_decision_error",  # the model whose calls failed
        "agent_decision_execution_failed",  # the bet on a market that does not exist
        "trade_error",
        "market_sync_error",  # the Gamma outage
    } <= caused


def test_4_4_market_freshness_is_recent(history: History) -> None:
    [[last_update, total]] = sqlite3(history.db, MARKET_FRESHNESS)
    assert history.end - moment(last_update) <= timedelta(minutes=6)
    assert int(total) >= 40


def test_5_2_one_cohort_per_week_started_at_the_week_start(history: History) -> None:
    rows = sqlite3(history.db, COHORT_EXISTENCE)
    assert [moment(started) for _, _, started, _ in rows] == history.cohort_starts[::-1][:3]
    assert [int(number) for _, number, _, _ in rows] == [WEEKS, WEEKS - 1, WEEKS - 2]
    for _, _, started, _ in rows:
        assert started.endswith("00:00:00") and moment(started).weekday() == 6  # Sunday
    assert all(status in {"active", "completed"} for *_, status in rows)


def test_5_3_decision_coverage_is_one_row_per_agent_of_each_eligible_cohort(
    history: History,
) -> None:
    rows = sqlite3(history.db, DECISION_COVERAGE)
    run = history.last_decision_run
    expected = {
        (c["cohort_id"], str(c["week_number"]), str(c["agents_processed"])) for c in run["results"]
    }
    assert {tuple(row) for row in rows} == expected
    assert len(rows) == WEEKS and all(count == "7" for *_, count in rows)


def test_5_4_trades_recorded_per_decision(history: History) -> None:
    rows = sqlite3(history.db, TRADES_RECORDED)
    # A BET or SELL without trades is an execution problem the service reported (and the next
    # run retries): its decision has an agent_decision_execution_failed event.
    reported = {
        decision_id
        for [decision_id] in sqlite3(
            history.db,
            "SELECT json_extract(event_data, '$.decision_id') FROM system_logs"
            " WHERE event_type = 'agent_decision_execution_failed'",
        )
    }
    assert len(rows) == 7 * WEEKS
    for decision_id, action, trades in rows:
        if action == "HOLD":
            assert trades == "0"
        elif action in {"BET", "SELL"} and trades == "0":
            assert decision_id in reported
        else:
            assert action in {"BET", "SELL", "ERROR"}
    assert any(action in {"BET", "SELL"} and trades != "0" for _, action, trades in rows)


def test_5_5_snapshots_in_the_last_hour(history: History) -> None:
    [[latest, count]] = sqlite3(history.db, SNAPSHOT_FRESHNESS)
    # Two 10-minute buckets (30 and 5 minutes ago) of every tracked agent.
    assert history.end - moment(latest) <= timedelta(minutes=15)
    assert int(count) == 2 * history.snapshot_agents > 0


def test_7_1_nothing_is_left_in_progress(history: History) -> None:
    assert sqlite3(history.db, IN_PROGRESS) == []


def test_7_2_no_duplicate_decisions_or_cohorts(history: History) -> None:
    assert sqlite3(history.db, DUPLICATE_DECISIONS) == []
    assert sqlite3(history.db, DUPLICATE_COHORTS) == []


def test_7_3_every_cohort_and_agent_keeps_its_frozen_lineage(history: History) -> None:
    assert sqlite3(history.db, COHORTS_WITHOUT_CONFIG) == []
    assert sqlite3(history.db, AGENTS_WITHOUT_LINEAGE) == []


def test_7_4_markets_stuck_closed_are_the_ended_unresolved_ones(history: History) -> None:
    rows = sqlite3(history.db, MARKETS_STUCK_CLOSED)
    closes = [moment(close_date) for _, _, _, close_date, _ in rows]
    assert closes == sorted(closes, reverse=True)
    listed = [polymarket_id for _, polymarket_id, *_ in rows]
    assert history.undecided in listed and history.won not in listed
    [[closed]] = sqlite3(history.db, "SELECT COUNT(*) FROM markets WHERE status = 'closed'")
    assert len(rows) == min(50, int(closed))


def test_7_5_open_positions_wait_on_closed_markets_never_on_resolved_ones(
    history: History,
) -> None:
    rows = sqlite3(history.db, OPEN_ON_CLOSED)
    stuck = {row[0] for row in sqlite3(history.db, MARKETS_STUCK_CLOSED)}
    assert rows  # open + closed is normal before resolution
    assert all(status == "open" and market == "closed" for *_, status, market in rows)
    assert {market_id for _, _, market_id, *_ in rows} <= stuck
    [[settled, still_open]] = sqlite3(
        history.db,
        "SELECT SUM(p.status = 'settled'), SUM(p.status = 'open') FROM positions p"
        f" JOIN markets m ON m.id = p.market_id WHERE m.polymarket_id = '{history.won}'",
    )
    assert int(settled) > 0 and int(still_open) == 0  # the resolved market was settled


def test_the_weeks_were_run_by_the_service(history: History) -> None:
    counts = sqlite3(
        history.db,
        "SELECT (SELECT COUNT(*) FROM trades), (SELECT COUNT(*) FROM portfolio_snapshots),"
        " (SELECT COUNT(*) FROM market_price_snapshots), (SELECT COUNT(*) FROM decisions)",
    )
    trades, snapshots_count, prices, decisions = map(int, counts[0])
    assert trades > 0 and snapshots_count > 0 and prices > 0
    assert decisions == 7 * (1 + 2 + 3 + 4)  # each week's cohorts, 7 agents each
    assert (history.db.parent / "backups").is_dir()


# --- CreditBrain runbook ---------------------------------------------------------------------


def test_failed_runs_show_their_error_state(history: History) -> None:
    rows = sqlite3(history.db, FAILED_RUNS)

    assert history.failed_run.state == "FAILED" and history.completed_run.state == "COMPLETE"
    [[run_id, state, code, detail]] = rows  # the completed run is not listed
    assert run_id == history.failed_run.run_id
    assert state == "FAILED" and code == history.failed_run.error.code
    assert code.startswith("BAGS") and detail
