"""A locked SQLite database (another process holding the write lock) never leaves a run stuck
mid-phase: the runner waits for the database and records the failure as DB_LOCKED, which the
runbook's failed-runs SQL shows and `run --resume` finishes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import event

from arenabrain.credits import locks, runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.runs import DB_LOCKED, DB_LOCKED_WAITS, DatabaseLocked
from arenabrain.credits.state_machine import RunState
from tests.credits.conftest import make_strategy
from tests.credits.test_resume import assert_world_consistent, runbook_query


@pytest.fixture
def other_process(db_path) -> Iterator[sqlite3.Connection]:
    """Another connection to the database file, as another process would hold it."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def short_busy_timeout(ctx) -> None:
    """Each write gives up after 20 ms instead of the service's 5 s busy timeout."""

    @event.listens_for(ctx.db.engine.sync_engine, "connect")
    def _short(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=20")
        cursor.close()

    await ctx.db.engine.dispose()


def lock_after(phase: RunState, conn: sqlite3.Connection):
    """Handlers where, as `phase` finishes its work, another process takes the write lock."""

    def wrap(state, handler):
        async def wrapped(pc):
            outcome = await handler(pc)
            if state is phase:
                conn.execute("BEGIN IMMEDIATE")
            return outcome

        return wrapped

    return {state: wrap(state, handler) for state, handler in HANDLERS.items()}


@pytest.mark.parametrize("phase", [RunState.CLAIMING, RunState.SWAPPING, RunState.PROVISIONING])
async def test_a_run_that_meets_a_locked_database_fails_with_db_locked_and_resumes(
    make_ctx, world, db_path, other_process, phase, use_handlers
) -> None:
    ctx = await make_ctx()
    await short_busy_timeout(ctx)
    strategy = await make_strategy(ctx)
    use_handlers(lock_after(phase, other_process))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            other_process.execute("COMMIT")  # the other process finishes its write

    ctx = replace(ctx, sleep=sleep)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")

    assert (failed.state, failed.error.code, failed.error.failed_state) == (
        "FAILED",
        DB_LOCKED,
        phase,
    )
    assert waits == list(DB_LOCKED_WAITS[:3])
    rows = runbook_query(db_path)
    assert [(r[0], r[1], r[2]) for r in rows] == [(failed.run_id, "FAILED", DB_LOCKED)]
    async with ctx.db.read() as session:
        assert await locks.current(session, strategy.strategy_id) is None  # released

    use_handlers(HANDLERS)
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    await assert_world_consistent(ctx, world, resumed)
    assert runbook_query(db_path) == []


async def test_a_database_locked_past_the_bound_leaves_the_run_to_be_recovered(
    make_ctx, world, clock, other_process, db_path, use_handlers
) -> None:
    ctx = await make_ctx()
    await short_busy_timeout(ctx)
    strategy = await make_strategy(ctx)
    use_handlers(lock_after(RunState.SWAPPING, other_process))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    ctx = replace(ctx, sleep=sleep)
    with pytest.raises(DatabaseLocked) as info:
        await runs.start_run(ctx, strategy.strategy_id, "api")
    assert info.value.status_code == 503
    assert DB_LOCKED in info.value.message
    assert waits == list(DB_LOCKED_WAITS)
    other_process.execute("COMMIT")

    # Later, once its run lock has expired, the next run of the strategy recovers it.
    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    use_handlers(HANDLERS)  # the restarted process runs the real phases
    restarted = await make_ctx()
    async with restarted.db.read() as session:
        stuck = (await runs.listing(session, strategy.strategy_id))[0]
    assert stuck.state == "SWAPPING"
    resumed = await runs.resume_run(restarted, stuck.run_id, "cli")
    await assert_world_consistent(restarted, world, resumed)
    status = await runs.run_status(restarted, run_id=stuck.run_id)
    interrupted = [e for e in status.audit_log if e.action.startswith("fail:")]
    assert interrupted[0].details["error"]["code"] == "RUN_INTERRUPTED"
