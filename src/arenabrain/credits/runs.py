"""Pipeline runs: the run repository and the runner behind every entry point.

`start_run` and `resume_run` are the one job of "run the pipeline"; POST /api/runs, the CLI's
`run` and the scheduler all call them. Each applies the execution policy (kill switch, daily
cap, dry-run mode), takes the strategy's run lock (409 when held; a stale lock is reaped and
its run marked interrupted so it can be resumed), then executes the phases in order:

- the run's `state` names the phase being executed; each phase's result (checkpoint columns,
  rows to write, audit row, move to the next state, lock refresh) is committed in one unit
  of work, so a crash between phases loses nothing;
- a failing phase marks the run FAILED with `error_code`, `error_detail` and
  `error_failed_state` and an audit row; a resume re-enters that phase with the stored
  checkpoints and clears the error columns;
- during CLAIMING..SWAPPING the run also holds the signer wallet's lock, and during
  ALLOCATING the credit pool's (phase_locks.py), so runs of strategies sharing them never
  overlap there;
- a database locked by another process (SQLite's busy timeout passed) fails the run with
  DB_LOCKED: the failure is written as soon as the database is writable again (waiting up to
  DB_LOCKED_WAITS). Past that nothing can be written; the run stays in its phase with its run
  lock, which expires, and the next run of the strategy marks it RUN_INTERRUPTED (resumable);
- a FAILED run can be abandoned for good (`abandon_run`): it is never resumed and the credit
  it allocated but did not provision is no longer reserved in the pool;
- log lines inside a run carry `runId`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.solana import LAMPORTS_PER_SOL
from arenabrain.context import Context
from arenabrain.credits import audit, locks, phase_locks, policy, pool, strategies
from arenabrain.credits.locks import LockLost
from arenabrain.credits.models import Run, Strategy
from arenabrain.credits.phase_locks import PhaseLocks
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.phases.base import PhaseContext, PhaseFailure, error_code
from arenabrain.credits.policy import PolicyBlocked
from arenabrain.credits.schemas import AuditView, RunError, RunStatus, RunView, StatsView
from arenabrain.credits.state_machine import (
    TERMINAL,
    NotResumable,
    RunState,
    check_transition,
    fail_action,
    next_state,
    resume_phase,
    transition_action,
)
from arenabrain.credits.upstreams import Guard
from arenabrain.db.ids import new_id
from arenabrain.logging import get_logger
from arenabrain.web.errors import AppError, Conflict, NotFound, ServiceUnavailable

T = TypeVar("T")
INTERRUPTED = "RUN_INTERRUPTED"
ABANDONED = pool.ABANDONED
DB_LOCKED = "DB_LOCKED"
# Seconds between attempts to write to a locked database (each attempt also waits SQLite's
# busy timeout): about 10 minutes in all, well inside the run lock's TTL.
DB_LOCKED_WAITS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0) + (30.0,) * 18


class RunNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Run not found")


class CannotResume(AppError):
    status_code = 400


class NotAbandonable(AppError):
    status_code = 400


class DatabaseLocked(ServiceUnavailable):
    """The database stayed locked by another process longer than the runner waits."""


def is_db_locked(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


async def when_writable(ctx: Context, write: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `write` (its own unit of work); while another process holds the database's
    write lock, wait (DB_LOCKED_WAITS, injected sleep) and try again."""
    sleep = ctx.sleep
    for delay in (*DB_LOCKED_WAITS, None):
        try:
            return await write()
        except OperationalError as exc:
            if not is_db_locked(exc):
                raise
            if delay is None:
                minutes = round(sum(DB_LOCKED_WAITS) / 60)
                raise DatabaseLocked(
                    f"The database is locked by another process ({DB_LOCKED}): could not "
                    f"{what} after waiting {minutes} minutes. Stop the process holding it; a "
                    "run left mid-phase is marked RUN_INTERRUPTED once its run lock expires, "
                    "then `arenabrain run --resume <run-id>` continues it"
                ) from exc
            get_logger().warning("Database locked; waiting to write", what=what, delayS=delay)
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --- views -----------------------------------------------------------------------------------


def _units(value: int | None, scale: int) -> Decimal | None:
    return None if value is None else Decimal(value) / scale


def to_view(run: Run) -> RunView:
    error = (
        RunError(code=run.error_code, detail=run.error_detail, failed_state=run.error_failed_state)
        if run.error_code
        else None
    )
    return RunView(
        run_id=run.run_id,
        strategy_id=run.strategy_id,
        state=run.state,
        trigger=run.trigger,
        dry_run=run.dry_run,
        started_at=run.started_at,
        finished_at=run.finished_at,
        claimed_sol=_units(run.claimed_lamports, LAMPORTS_PER_SOL),
        claimed_lamports=run.claimed_lamports,
        claimed_tx_signature=run.claimed_tx_sig,
        swapped_usdc=_units(run.swapped_usdc_base_units, 10**6),
        swap_tx_signature=run.swap_tx_sig,
        bridged_usdc=_units(run.bridged_usdc_base_units, 10**6),
        bridge_tx_hash=run.bridge_tx_hash,
        bridging_skipped_reason=run.bridging_skipped_reason,
        funded_usdc=_units(run.funded_usdc_base_units, 10**6),
        funding_tx_hash=run.funding_tx_hash,
        funding_skipped_reason=run.funding_skipped_reason,
        allocated_usd=_units(run.allocated_cents, 100),
        keys_provisioned=run.keys_provisioned,
        keys_updated=run.keys_updated,
        error=error,
    )


def audit_view(entry: Any) -> AuditView:
    return AuditView(
        log_id=entry.log_id,
        run_id=entry.run_id,
        phase=entry.phase,
        action=entry.action,
        details=audit.details_of(entry),
        tx_signature=entry.tx_signature,
        timestamp=entry.timestamp,
    )


# --- repository ------------------------------------------------------------------------------


async def get(session: AsyncSession, run_id: str) -> Run | None:
    found: Run | None = await session.get(Run, run_id, populate_existing=True)
    return found


async def get_or_404(session: AsyncSession, run_id: str, *, for_update: bool = False) -> Run:
    """The run (with `for_update`, its row locked on PostgreSQL until the unit of work ends)."""
    found: Run | None = await session.get(
        Run, run_id, populate_existing=True, with_for_update=for_update
    )
    if found is None:
        raise RunNotFound()
    return found


async def listing(
    session: AsyncSession, strategy_id: str | None = None, limit: int = 100
) -> list[Run]:
    query = select(Run).order_by(Run.started_at.desc(), Run.run_id.desc()).limit(limit)
    if strategy_id is not None:
        query = query.where(Run.strategy_id == strategy_id)
    return list(await session.scalars(query))


async def unfinished(session: AsyncSession, strategy_id: str) -> list[Run]:
    rows = await session.scalars(
        select(Run).where(
            Run.strategy_id == strategy_id, Run.state.not_in([s.value for s in TERMINAL])
        )
    )
    return list(rows)


def new_run(strategy_id: str, trigger: str, dry_run: bool, now: datetime) -> Run:
    return Run(
        run_id=new_id(now),
        strategy_id=strategy_id,
        state=RunState.PENDING.value,
        trigger=trigger,
        dry_run=dry_run,
        started_at=now,
        keys_provisioned=0,
        keys_updated=0,
    )


async def mark_failed(
    session: AsyncSession, run: Run, code: str, detail: str, now: datetime
) -> None:
    """FAILED with the error columns set and a `fail:<state>` audit row."""
    failed_state = run.state
    await audit.record(
        session,
        run.run_id,
        failed_state,
        fail_action(failed_state),
        now,
        {"error": {"code": code, "detail": detail}, "failedState": failed_state},
    )
    run.state = RunState.FAILED.value
    run.error_code = code
    run.error_detail = detail
    run.error_failed_state = failed_state
    run.finished_at = now


async def interrupt_orphans(session: AsyncSession, strategy_id: str, now: datetime) -> list[str]:
    """Runs of the strategy left mid-phase by a process that stopped: FAILED, resumable.

    Called right after taking the strategy's lock, when no other runner can be active."""
    interrupted = []
    for run in await unfinished(session, strategy_id):
        await mark_failed(
            session,
            run,
            INTERRUPTED,
            f"The process running this run stopped during {run.state} (its run lock expired); "
            f"resume it with `arenabrain run --resume {run.run_id}`",
            now,
        )
        interrupted.append(run.run_id)
    return interrupted


# --- the runner ------------------------------------------------------------------------------


@asynccontextmanager
async def run_lock(ctx: Context, strategy_id: str) -> AsyncIterator[str]:
    """Hold the strategy's run lock (RunInProgress: 409) around a run; yields the holder id.

    Taking it reaps a stale lock and marks that lock's unfinished runs interrupted. It is
    released when the body ends or raises; shielded, so a runner cancelled mid-run (a client
    hanging up, a shutdown) still frees the strategy at once. A BaseException that is not a
    cancellation stands for the process dying: the lock is left to go stale, as it would be."""
    holder = locks.new_holder()
    now = ctx.clock.now()
    try:
        async with ctx.db.write() as session:
            stale = await locks.acquire(session, strategy_id, holder, now)
            if stale is not None:  # its process stopped: so did its phases' locks
                await locks.release_resources(session, stale.holder)
            orphans = await interrupt_orphans(session, strategy_id, now)
    except OperationalError as exc:
        if is_db_locked(exc):
            raise DatabaseLocked(
                f"The database is locked by another process ({DB_LOCKED}); nothing was "
                "started. Try again once that process is done"
            ) from exc
        raise
    if stale is not None:
        get_logger().info("Cleaned stale run lock", strategyId=strategy_id, staleRunId=stale.run_id)
    for run_id in orphans:
        get_logger(runId=run_id).warning("Run marked interrupted", strategyId=strategy_id)
    try:
        yield holder
    except DatabaseLocked:
        raise  # nothing can be written now: the lock expires and its run is then interrupted
    except (Exception, asyncio.CancelledError):
        await asyncio.shield(_release_lock(ctx, strategy_id, holder))
        raise
    await asyncio.shield(_release_lock(ctx, strategy_id, holder))


async def _release_lock(ctx: Context, strategy_id: str, holder: str) -> None:
    async def release() -> None:
        async with ctx.db.write() as session:
            await locks.release(session, strategy_id, holder)

    await when_writable(ctx, release, f"release the run lock of strategy {strategy_id}")


async def start_run(
    ctx: Context,
    strategy_id: str,
    trigger: str = "api",
    *,
    on_created: Callable[[RunView], None] | None = None,
) -> RunView:
    """Run the pipeline for a strategy now (policy, lock, every phase); returns the run.

    `on_created` is told the run as soon as it exists (committed, lock held), before its
    phases execute: POST /api/runs answers 202 then and lets the run go on in the background."""
    settings = ctx.settings
    async with ctx.db.read() as session:
        strategy = await strategies.get_or_404(session, strategy_id)
        status = strategy.status
    if status != "ACTIVE":
        raise Conflict(f"Strategy {strategy_id} is {status}; enable it before running it")
    blocked = policy.kill_switch(settings)
    if not blocked.allowed:
        run_id = await record_rejected(ctx, strategy_id, trigger, blocked.reason)
        raise PolicyBlocked(f"Run {run_id} rejected: {blocked.reason}", run_id)
    async with run_lock(ctx, strategy_id) as holder:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            await policy.admit(session, strategy_id, settings.max_daily_runs, now)
            run = new_run(strategy_id, trigger, settings.dry_run, now)
            session.add(run)
            await session.flush()
            await locks.attach_run(session, strategy_id, holder, run.run_id)
            row = await session.get(Strategy, strategy_id)
            assert row is not None
            row.last_run_id = run.run_id
            run_id = run.run_id
        get_logger(runId=run_id).info(
            "Pipeline run started", strategyId=strategy_id, trigger=trigger, dryRun=run.dry_run
        )
        if on_created is not None:
            on_created(to_view(run))
        await execute(ctx, run_id, strategy_id, holder)
    return await get_run(ctx, run_id)


async def resume_run(ctx: Context, run_id: str, trigger: str = "api") -> RunView:
    """Resume a FAILED run at the phase it failed in, reusing earlier phases' checkpoints."""
    settings = ctx.settings
    async with ctx.db.read() as session:
        run = await get_or_404(session, run_id)
    if run.state == RunState.COMPLETE:
        try:
            resume_phase(run.state, None)
        except NotResumable as exc:
            raise CannotResume(str(exc)) from exc
    refuse_abandoned(run)
    strategy_id = run.strategy_id
    if strategy_id is None:
        raise Conflict("The strategy of this run was deleted; the run cannot be resumed")
    blocked = policy.kill_switch(settings)
    if not blocked.allowed:
        async with ctx.db.write() as session:
            await audit.record(
                session,
                run_id,
                run.state,
                "policy:rejected",
                ctx.clock.now(),
                {"entryPoint": trigger, "reason": blocked.reason, "resume": True},
            )
        raise PolicyBlocked(f"Resume of run {run_id} rejected: {blocked.reason}", run_id)
    async with run_lock(ctx, strategy_id) as holder:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            run = await get_or_404(session, run_id, for_update=True)
            try:
                phase = resume_phase(run.state, run.error_failed_state)
            except NotResumable as exc:
                raise CannotResume(str(exc)) from exc
            refuse_abandoned(run)
            mode = policy.resume_mode(run.dry_run, settings)
            if not mode.allowed:
                raise PolicyBlocked(mode.reason, run_id)
            await policy.admit(session, strategy_id, settings.max_daily_runs, now, run_id)
            check_transition(RunState.FAILED, phase)
            await audit.record(
                session,
                run_id,
                RunState.FAILED,
                transition_action(RunState.FAILED, phase),
                now,
                {
                    "fromPhase": RunState.FAILED,
                    "toPhase": phase,
                    "runId": run_id,
                    "entryPoint": trigger,
                    "previousError": {
                        "code": run.error_code,
                        "detail": run.error_detail,
                        "failedState": run.error_failed_state,
                    },
                },
            )
            run.state = phase.value
            run.error_code = None
            run.error_detail = None
            run.error_failed_state = None
            run.finished_at = None
            run.trigger = "resume"
            await locks.attach_run(session, strategy_id, holder, run_id)
        get_logger(runId=run_id).info("Resuming run", phase=str(phase), entryPoint=trigger)
        await execute(ctx, run_id, strategy_id, holder)
    return await get_run(ctx, run_id)


async def record_rejected(ctx: Context, strategy_id: str, trigger: str, reason: str) -> str:
    """Record a run the policy refused: FAILED POLICY_BLOCKED, never entering CLAIMING."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        run = new_run(strategy_id, trigger, ctx.settings.dry_run, now)
        session.add(run)
        await session.flush()
        await mark_failed(session, run, policy.POLICY_BLOCKED, reason, now)
        run_id = run.run_id
    get_logger(runId=run_id).warning(
        "Run rejected by execution policy", strategyId=strategy_id, reason=reason
    )
    return run_id


async def execute(ctx: Context, run_id: str, strategy_id: str, holder: str) -> None:
    """Execute the run's remaining phases in order, checkpointing each one.

    The phases' resource locks are released when the run stops (shielded, as the run lock);
    not when the process dies, nor when the database cannot be written: they expire."""
    with structlog.contextvars.bound_contextvars(runId=run_id):
        held = PhaseLocks(ctx, holder, run_id, strategy_id)
        try:
            await _execute(ctx, run_id, strategy_id, holder, held)
        except DatabaseLocked:
            raise
        except (Exception, asyncio.CancelledError):
            await asyncio.shield(_release_phase_locks(ctx, held))
            raise
        await asyncio.shield(_release_phase_locks(ctx, held))


async def _release_phase_locks(ctx: Context, held: PhaseLocks) -> None:
    await when_writable(ctx, held.release, "release the run's phase locks")


async def _execute(
    ctx: Context, run_id: str, strategy_id: str, holder: str, held: PhaseLocks
) -> None:
    log = get_logger()
    clients = ctx.clients
    guard = Guard(ctx)
    while True:
        async with ctx.db.read() as session:
            run = await get_or_404(session, run_id)
            strategy = await strategies.get(session, strategy_id, deleted=True)
        state = RunState(run.state)
        if state in TERMINAL:
            return
        try:
            if strategy is None:
                raise PhaseFailure("STRATEGY_NOT_FOUND", f"Strategy {strategy_id} not found")
            if state is RunState.PENDING:
                await advance(ctx, run_id, state, holder, {}, None, None)
                continue
            blocked = policy.kill_switch(ctx.settings)
            if not blocked.allowed:
                raise PhaseFailure(policy.POLICY_BLOCKED, blocked.reason)
            await held.hold(phase_locks.needed(run, strategy, clients.signer))
            log.info(f"Executing phase: {state}", phase=str(state), dryRun=run.dry_run)
            context = PhaseContext(
                ctx, run, strategy, clients, guard, run.dry_run, log, holder, held.held
            )
            outcome = await HANDLERS[state](context)  # looked up here: tests wrap it
            await advance(
                ctx,
                run_id,
                state,
                holder,
                outcome.checkpoint,
                outcome,
                outcome.tx_signature,
                leases=held.held,
            )
        except LockLost:
            log.error("Run lock lost; another process took over this run", phase=state)
            return
        except PhaseFailure as exc:
            await fail(ctx, run_id, holder, exc.code, exc.detail)
            return
        except UpstreamError as exc:
            await fail(ctx, run_id, holder, error_code(exc), f"Phase {state}: {exc}")
            return
        except Exception as exc:
            if is_db_locked(exc):
                log.error(f"Database locked during phase {state}", phase=str(state), err=exc)
                await fail(ctx, run_id, holder, DB_LOCKED, locked_detail(state, run_id))
                return
            code = error_code(exc)
            log.error(f"Phase {state} threw unexpected error", phase=str(state), err=exc)
            await fail(ctx, run_id, holder, code, f"Phase {state} error: {exc}")
            return


def locked_detail(state: RunState, run_id: str) -> str:
    return (
        f"The database was locked by another process during {state} (SQLite's busy timeout "
        f"passed); what the phase did before is recorded. Resume the run with "
        f"`arenabrain run --resume {run_id}`"
    )


async def advance(
    ctx: Context,
    run_id: str,
    state: RunState,
    holder: str,
    checkpoint: dict[str, Any],
    outcome: Any,
    tx_signature: str | None,
    *,
    leases: Sequence[str] = (),
) -> None:
    """Commit a phase: its rows, checkpoints, audit row and move to the next state, at once.

    `outcome.persist` runs first and may complete the checkpoint and details it returned
    (ALLOCATING decides its plan there, under the write lock, see phases/allocating.py)."""
    now = ctx.clock.now()
    target = next_state(state)
    check_transition(state, target)
    async with ctx.db.write() as session:
        run = await get_or_404(session, run_id)
        if run.state != state.value or run.strategy_id is None:
            raise LockLost()
        if not await locks.refresh(session, run.strategy_id, holder, now, leases=leases):
            raise LockLost()
        if outcome is not None and outcome.persist is not None:
            await outcome.persist(session)
        for column, value in checkpoint.items():
            setattr(run, column, value)
        details = {"fromPhase": state, "toPhase": target, "runId": run_id}
        if outcome is not None:
            details |= outcome.details
        await audit.record(
            session,
            run_id,
            state,
            transition_action(state, target),
            now,
            details,
            tx_signature=tx_signature,
        )
        run.state = target.value
        if target is RunState.COMPLETE:
            run.finished_at = now
    get_logger().info("State transition complete", **{"from": str(state), "to": str(target)})


async def fail(ctx: Context, run_id: str, holder: str, code: str, detail: str) -> None:
    """Mark the run FAILED, waiting for the database when another process has it locked."""

    async def record() -> str | None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            run = await get_or_404(session, run_id)
            if RunState(run.state) in TERMINAL or run.strategy_id is None:
                return None
            if not await locks.refresh(session, run.strategy_id, holder, now):
                return None  # another process owns this strategy now; it decides about this run
            failed_state = run.state
            await mark_failed(session, run, code, detail, now)
            return failed_state

    failed_state = await when_writable(ctx, record, f"record the failure ({code}) of run {run_id}")
    if failed_state is not None:
        get_logger().error("Run failed", code=code, detail=detail, failedState=failed_state)


# --- abandoning -------------------------------------------------------------------------------


def refuse_abandoned(run: Run) -> None:
    if run.error_code == ABANDONED:
        raise CannotResume(f"Run {run.run_id} was abandoned; it cannot be resumed")


async def abandon_run(
    ctx: Context, run_id: str, trigger: str = "api", reason: str | None = None
) -> RunView:
    """Give up on a FAILED run for good: it is never resumed, and the credit it allocated but
    did not provision stops being reserved in the pool. Its error columns keep the cause."""
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        run = await get_or_404(session, run_id, for_update=True)
        if run.state != RunState.FAILED:
            raise NotAbandonable(f"Only FAILED runs can be abandoned; run is {run.state}")
        if run.error_code != ABANDONED:
            previous = {
                "code": run.error_code,
                "detail": run.error_detail,
                "failedState": run.error_failed_state,
            }
            await audit.record(
                session,
                run_id,
                RunState.FAILED,
                "abandon:FAILED",
                now,
                {"entryPoint": trigger, "reason": reason, "previousError": previous},
            )
            why = f": {reason}" if reason else ""
            run.error_code = ABANDONED
            run.error_detail = (
                f"Abandoned ({trigger}){why}. It had failed in {run.error_failed_state} with "
                f"{previous['code']}: {previous['detail']}"
            )
    get_logger(runId=run_id).warning("Run abandoned", entryPoint=trigger, reason=reason)
    return await get_run(ctx, run_id)


# --- reads -----------------------------------------------------------------------------------


async def get_run(ctx: Context, run_id: str) -> RunView:
    async with ctx.db.read() as session:
        return to_view(await get_or_404(session, run_id))


async def list_runs(
    ctx: Context, strategy_id: str | None = None, limit: int = 100
) -> list[RunView]:
    """Runs, newest first (optionally of one strategy)."""
    async with ctx.db.read() as session:
        return [to_view(r) for r in await listing(session, strategy_id, limit)]


async def run_status(
    ctx: Context, run_id: str | None = None, strategy_id: str | None = None
) -> RunStatus:
    """A run (by id, or the latest of a strategy) with its full phase audit log."""
    async with ctx.db.read() as session:
        if run_id is not None:
            run = await get_or_404(session, run_id)
        else:
            if strategy_id is None:
                raise AppError("Pass a run id or a strategy id")
            latest = await listing(session, strategy_id, limit=1)
            if not latest:
                raise RunNotFound()
            run = latest[0]
        entries = await audit.for_run(session, run.run_id)
        return RunStatus(run=to_view(run), audit_log=[audit_view(e) for e in entries])


async def run_stats(ctx: Context) -> StatsView:
    """Totals over every run; money totals exclude dry runs (they moved nothing)."""
    async with ctx.db.read() as session:
        by_state = dict(
            (await session.execute(select(Run.state, func.count()).group_by(Run.state))).all()
        )
        dry = await session.scalar(select(func.count()).select_from(Run).where(Run.dry_run))
        sums = (
            await session.execute(
                select(
                    func.coalesce(func.sum(Run.claimed_lamports), 0),
                    func.coalesce(func.sum(Run.swapped_usdc_base_units), 0),
                    func.coalesce(func.sum(Run.allocated_cents), 0),
                    func.coalesce(func.sum(Run.keys_provisioned), 0),
                    func.coalesce(func.sum(Run.keys_updated), 0),
                ).where(Run.dry_run.is_(False))
            )
        ).one()
    return StatsView(
        total_runs=sum(by_state.values()),
        completed_runs=by_state.get("COMPLETE", 0),
        failed_runs=by_state.get("FAILED", 0),
        dry_runs=int(dry or 0),
        total_claimed_sol=Decimal(int(sums[0] or 0)) / LAMPORTS_PER_SOL,
        total_swapped_usdc=Decimal(int(sums[1] or 0)) / 10**6,
        total_allocated_usd=Decimal(int(sums[2] or 0)) / 100,
        total_keys_provisioned=int(sums[3] or 0),
        total_keys_updated=int(sums[4] or 0),
    )
