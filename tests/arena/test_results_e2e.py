"""The arena's results end to end, against the emulators, with no row written by hand: the real
jobs run in order (sync-markets, start-cohort, run-decisions, take-snapshots, check-resolutions)
over weeks in which the emulated markets end and Polymarket decides them every way it can.

- Cash is conserved over a whole cohort life: once every position has settled, each agent's
  starting cash equals its final cash minus its realised P/L, to the cent.
- Then the runbook's snapshot freshness (5.5), stuck closed markets (7.4) and open positions on
  closed markets (7.5) queries run verbatim with the `sqlite3` tool and answer as the runbook
  expects. They compare with SQLite's `datetime('now')`, the real current time, so that run
  ends at the real current second (its only wall-clock read)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from arenabrain.arena import cohorts, markets
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.arena.execution.accounting import accounting_problems
from arenabrain.arena.models import (
    Agent,
    BrierScore,
    Cohort,
    Market,
    PortfolioSnapshot,
    Position,
    SystemLog,
    Trade,
)
from arenabrain.arena.resolution import check_resolutions
from arenabrain.arena.snapshots import snapshot_bucket, take_snapshots
from arenabrain.arena.system_logs import CATALOG
from arenabrain.arena.weeks import week_start
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.db.timestamps import to_text
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import configure_markets, polymarket_state
from tests.arena.decisions.support import SUNDAY, chat_ready

SNAPSHOT_FRESHNESS = """
  SELECT MAX(snapshot_timestamp) AS latest_snapshot,
         COUNT(*) AS snapshots_last_hour
  FROM portfolio_snapshots
  WHERE snapshot_timestamp > datetime('now', '-1 hour');
"""
STUCK_CLOSED = """
SELECT id, polymarket_id, question, close_date, last_updated_at
FROM markets
WHERE status = 'closed'
ORDER BY close_date DESC
LIMIT 50;
"""
OPEN_ON_CLOSED = """
SELECT p.id, p.agent_id, p.market_id, p.side, p.status, m.status AS market_status
FROM positions p
JOIN markets m ON p.market_id = m.id
WHERE p.status = 'open'
  AND m.status IN ('closed', 'resolved')
ORDER BY m.status, p.opened_at DESC;
"""
GRACE = timedelta(days=14)
CENT = Decimal("0.005")


def sqlite3(db: Path, sql: str) -> list[list[str]]:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line tool is not installed")
    done = subprocess.run(
        ["sqlite3", str(db), sql], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stderr == ""
    return [line.split("|") for line in done.stdout.splitlines() if line]


async def hourly_jobs(ctx: Context) -> None:
    """What the schedule runs between decision weeks, in its order within the hour."""
    await markets.sync_markets(ctx)
    await take_snapshots(ctx)
    await check_resolutions(ctx)


async def open_positions(ctx: Context) -> int:
    async with ctx.db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Position).where(Position.status == "open")
        )
    return int(count or 0)


async def logged(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [json.loads(r.event_data or "{}") for r in rows]


async def every_event_is_in_the_catalog(ctx: Context) -> None:
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(SystemLog))).all()
    for row in rows:
        assert row.event_type in CATALOG, row.event_type
        keys = set(json.loads(row.event_data or "{}"))
        assert CATALOG[row.event_type].accepts(row.severity, keys), (row.event_type, keys)


async def test_cash_is_conserved_over_a_whole_cohort_life(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    clock.set(SUNDAY)
    chat_ready(sandbox)
    configure_markets(sandbox.world, 60, horizon_days=21)
    await markets.sync_markets(ctx)
    assert (await cohorts.start_cohort(ctx))["success"] is True
    # Two decision weeks (at 02:00, outside the start window: no second cohort is started).
    for week in range(2):
        clock.set(SUNDAY + timedelta(days=7 * week, hours=2))
        await markets.sync_markets(ctx)
        assert (await run_decisions(ctx))["total_agents"] == 7
        for day in range(7):
            clock.set(SUNDAY + timedelta(days=7 * week + day, hours=12))
            await hourly_jobs(ctx)
    assert await open_positions(ctx) > 0
    for day in range(14, 60):  # until every market held has been decided or refunded
        clock.set(SUNDAY + timedelta(days=day, hours=12))
        await hourly_jobs(ctx)
        if await open_positions(ctx) == 0:
            break
    async with ctx.db.read() as session:
        left = (
            await session.execute(
                select(Market.polymarket_id, Market.status)
                .join(Position, Position.market_id == Market.id)
                .where(Position.status == "open")
            )
        ).all()
    sims = polymarket_state(sandbox.world).markets
    assert not left, [(pid, status, sims[pid].fate, sims[pid].end_date) for pid, status in left]

    settled = {
        e["position_id"]: Decimal(str(e["pnl"])) for e in await logged(ctx, "position_settled")
    }
    refunded = {e["position_id"] for e in await logged(ctx, "position_refunded")}
    assert settled and not set(settled) & refunded
    async with ctx.db.read() as session:
        agents = (await session.scalars(select(Agent))).all()
        positions = (await session.scalars(select(Position))).all()
        sells = (await session.scalars(select(Trade).where(Trade.trade_type == "SELL"))).all()
        assert await accounting_problems(session) == []
    assert {p.id for p in positions if p.status == "settled"} == set(settled) | refunded
    owner = {p.id: p.agent_id for p in positions}
    for agent in agents:
        realised = sum(
            (pnl for pid, pnl in settled.items() if owner[pid] == agent.id), Decimal(0)
        ) + sum((Decimal(str(t.realized_pnl)) for t in sells if t.agent_id == agent.id), Decimal(0))
        final = Decimal(str(agent.cash_balance))
        assert agent.total_invested == 0.0
        assert abs(final - realised - Decimal(10000)) < CENT, (agent.id, final, realised)
    await every_event_is_in_the_catalog(ctx)


async def test_weeks_of_real_jobs_leave_the_runbook_queries_as_expected(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock, db_path: Path
) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = week_start(end) - timedelta(days=21)
    clock.set(start)
    chat_ready(sandbox)
    state = configure_markets(sandbox.world, 80, horizon_days=28)

    moment = start
    while moment < end - timedelta(minutes=41):
        clock.set(moment)
        if moment.weekday() == 6 and moment.hour == 0:  # Sunday: the weekly cycle
            await markets.sync_markets(ctx)
            await cohorts.start_cohort(ctx)
            clock.set(moment + timedelta(minutes=5))
            await run_decisions(ctx)
        await hourly_jobs(ctx)
        moment += timedelta(days=1)
    for minutes in (40, 30, 20, 10, 0):  # the last hour, every 10 minutes
        clock.set(end - timedelta(minutes=minutes))
        await markets.sync_markets(ctx)
        await take_snapshots(ctx)
    await check_resolutions(ctx)

    async with ctx.db.read() as session:
        tracked = await session.scalar(
            select(func.count())
            .select_from(Agent)
            .join(Cohort, Cohort.id == Agent.cohort_id)
            .where(Cohort.status == "active", Cohort.is_archived == 0)
        )
        resolved = dict(
            (
                await session.execute(
                    select(Market.resolution_outcome == "CANCELLED", func.count())
                    .where(Market.status == "resolved")
                    .group_by(Market.resolution_outcome == "CANCELLED")
                )
            ).all()
        )
        scored = await session.scalar(select(func.count()).select_from(BrierScore))
        snapshots = await session.scalar(select(func.count()).select_from(PortfolioSnapshot))
        assert await accounting_problems(session) == []
    assert tracked == 28  # four weekly cohorts of seven
    assert resolved.get(False, 0) > 0 and resolved.get(True, 0) > 0  # winners and refunds
    assert scored and snapshots
    assert await logged(ctx, "position_settled")

    # 5.5: the latest snapshot is this bucket, and every tracked agent has one per run of the
    # last hour.
    [[latest, last_hour]] = sqlite3(db_path, SNAPSHOT_FRESHNESS)
    assert latest == to_text(snapshot_bucket(end))
    assert int(last_hour) == tracked * 5

    # 7.4: the markets still closed are those Polymarket has not decided (or flagged resolved
    # without naming a winner), none of them past its grace period.
    stuck = sqlite3(db_path, STUCK_CLOSED)
    for _market_id, polymarket_id, *_rest in stuck:
        sim = state.markets[polymarket_id]
        assert sim.ending(end) in ("closing", "stalled", "flagged", "delisted"), sim.fate
        assert end < sim.end_date + GRACE
    decided = [
        m
        for m in polymarket_state(sandbox.world).markets.values()
        if m.ending(end) in ("winner", "tokens", "split")
    ]
    assert decided and not {m.id for m in decided} & {row[1] for row in stuck}

    # 7.5: open positions sit only on closed markets awaiting their resolution, never on
    # resolved ones.
    rows = sqlite3(db_path, OPEN_ON_CLOSED)
    assert {row[5] for row in rows} <= {"closed"}
    stuck_ids = {row[0] for row in stuck}
    assert {row[2] for row in rows} <= stuck_ids
    await every_event_is_in_the_catalog(ctx)
