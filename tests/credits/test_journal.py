"""The phase journal (`phases/base.PhaseContext.journal`, the group commit of PROVISIONING) and
the rows a unit of work stages (`credits/staged.py`): staged rows commit or roll back with
their unit, a staged update that finds no row fails it, and a journal write its holder
stops halfway is finished, never left holding the database's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.context import Context
from arenabrain.credits import audit, mutations, runs, staged
from arenabrain.credits.models import AllocationSnapshot, AuditEntry, KeyMutation
from arenabrain.credits.mutations import Intent, Outcome
from arenabrain.credits.phases.base import PhaseContext
from arenabrain.credits.phases.provisioning import GroupCommit, attach
from tests.credits.conftest import make_strategy

NOW = datetime(2026, 3, 1, tzinfo=UTC)
# A statement that keeps SQLite busy for a while (a few hundred milliseconds).
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
    "SELECT count(*) FROM c"
)


def journal_of(ctx: Context, cls: type[PhaseContext] = PhaseContext) -> PhaseContext:
    """A journal with no run lock to refresh (the unit of work alone)."""
    return cls(ctx, None, None, None, None, False, None)  # type: ignore[arg-type]


def write_lock_is_free(db_path: Path) -> bool:
    probe = sqlite3.connect(str(db_path), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def count(ctx: Context, model: Any) -> int:
    async with ctx.db.read() as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0


async def a_plan(ctx: Context) -> tuple[str, list[AllocationSnapshot]]:
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    async with ctx.db.read() as session:
        return run.run_id, list(await session.scalars(select(AllocationSnapshot)))


async def test_staged_rows_are_written_at_the_end_of_the_unit_and_commit_with_it(cctx) -> None:
    run_id, plan = await a_plan(cctx)
    audited = await count(cctx, AuditEntry)

    async def write(session: AsyncSession) -> int:
        for n in range(3):
            audit.stage(session, run_id, "PROVISIONING", f"test:{n}", NOW, {"n": n})
        attach(session, plan[0].snapshot_id, "hash-x")
        pending = staged.pending(session)
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audited
        return pending

    assert await journal_of(cctx).journal(write) == 4
    assert await count(cctx, AuditEntry) == audited + 3
    async with cctx.db.read() as session:
        assert (await session.get(AllocationSnapshot, plan[0].snapshot_id)).key_hash == "hash-x"


async def test_a_staged_update_that_finds_no_row_fails_its_unit_and_changes_nothing(
    cctx,
) -> None:
    run_id, plan = await a_plan(cctx)
    audited = await count(cctx, AuditEntry)

    async def write(session: AsyncSession) -> None:
        audit.stage(session, run_id, "PROVISIONING", "test:kept?", NOW)
        attach(session, plan[0].snapshot_id, "hash-y")
        attach(session, "no-such-allocation", "hash-z")

    with pytest.raises(staged.StagedRowsMissing, match="1 of 2 rows"):
        await journal_of(cctx).journal(write)
    assert await count(cctx, AuditEntry) == audited
    async with cctx.db.read() as session:
        assert (await session.get(AllocationSnapshot, plan[0].snapshot_id)).key_hash != "hash-y"


async def test_only_a_pending_intent_is_settled_and_a_settled_one_fails_the_unit(cctx) -> None:
    run_id, plan = await a_plan(cctx)
    snap = plan[0]
    intent = Intent.new(
        key_hash="hash-1",
        strategy_id="s",
        holder_wallet=snap.holder_wallet,
        run_id=run_id,
        snapshot_id=snap.snapshot_id,
        allocated_cents=500,
        before=Decimal(10),
        after=Decimal(15),
        now=NOW,
    )
    journal = journal_of(cctx)

    async def record(session: AsyncSession) -> None:
        mutations.stage_intent(session, intent, NOW)

    async def settle(session: AsyncSession) -> Outcome:
        return mutations.stage_settle(session, intent, None, "run-x", NOW)

    await journal.journal(record)
    assert await journal.journal(settle) is Outcome.UNKNOWN
    with pytest.raises(staged.StagedRowsMissing):  # already UNKNOWN: never settled twice
        await journal.journal(settle)
    async with cctx.db.read() as session:
        row = await session.get(KeyMutation, intent.id)
    assert (row.status, row.settled_by_run) == ("UNKNOWN", "run-x")


@pytest.mark.parametrize("cls", [PhaseContext, GroupCommit], ids=["journal", "group-commit"])
async def test_a_journal_write_stopped_halfway_is_finished_and_leaves_the_database_writable(
    cctx, db_path: Path, cls: type[PhaseContext]
) -> None:
    run_id, _ = await a_plan(cctx)
    audited = await count(cctx, AuditEntry)
    busy = asyncio.Event()

    async def write(session: AsyncSession) -> None:
        await audit.record(session, run_id, "PROVISIONING", "test:finished", NOW)
        busy.set()
        await session.execute(text(SLOW))

    holder = asyncio.create_task(journal_of(cctx, cls).journal(write))
    await busy.wait()
    await asyncio.sleep(0.05)  # the slow statement is running on the database's thread
    holder.cancel()  # the holder is stopped (another holder lost the lock, a shutdown)
    with pytest.raises(asyncio.CancelledError):
        await holder
    for _ in range(100):  # the unit of work goes on without its holder, then commits
        if await count(cctx, AuditEntry) > audited:
            break
        await asyncio.sleep(0.05)
    assert await count(cctx, AuditEntry) == audited + 1
    assert write_lock_is_free(db_path)
