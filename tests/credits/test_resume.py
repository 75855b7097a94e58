"""Failure, crash and resume: resume re-enters the failed phase; a crash after any external
side effect followed by a resume never claims twice, never duplicates a key, and leaves every
key's limit equal to its allocations."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import AllocationSnapshot, ClaimTransaction, UserKey
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.phases.base import PhaseFailure
from arenabrain.credits.state_machine import PHASES, RunState
from tests.credits.conftest import HOLDER_A, HOLDER_B, HOLDER_C, make_strategy
from tests.credits.fakes import OWNER, Crash, wallet

RUNBOOK_SQL = (
    "SELECT run_id, state, error_code, error_detail FROM runs "
    "WHERE state = 'FAILED' ORDER BY started_at DESC LIMIT 10;"
)
EXPECTED_CENTS = {HOLDER_A: 10000, HOLDER_B: 7432, HOLDER_C: 4955}


def runbook_query(db_path) -> list[list[str]]:
    """The runbook's statement, verbatim, through the sqlite3 tool (or Python's sqlite3)."""
    tool = shutil.which("sqlite3")
    if tool is not None:
        out = subprocess.run(
            [tool, str(db_path), RUNBOOK_SQL], capture_output=True, text=True, check=True
        )
        return [line.split("|") for line in out.stdout.strip().splitlines()]
    with sqlite3.connect(db_path) as conn:
        return [list(map(str, r)) for r in conn.execute(RUNBOOK_SQL)]


def counting_handlers(calls: Counter, fail_once: RunState | None = None):
    failed: set[RunState] = set()

    def wrap(state, handler):
        async def wrapped(pc):
            calls[state] += 1
            if state == fail_once and state not in failed:
                failed.add(state)
                raise PhaseFailure("INJECTED", f"{state} broke")
            return await handler(pc)

        return wrapped

    return {state: wrap(state, handler) for state, handler in HANDLERS.items()}


async def snapshot_cents(ctx, run_id):
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(AllocationSnapshot).where(AllocationSnapshot.run_id == run_id)
        )
        return {r.holder_wallet: r.allocated_cents for r in rows}


async def assert_world_consistent(ctx, world, run) -> None:
    """One claim per position, one swap, one live key per holder with limit = allocation."""
    assert run.state == "COMPLETE", run.error
    assert run.error is None
    assert run.claimed_lamports == 1_500_000_000
    assert world.chain.usdc[OWNER] == 223_875_000  # exactly one swap landed
    confirmed_finals = [
        s
        for s, state in world.chain.statuses.items()
        if state == "confirmed" and s.startswith("sig-claim")
    ]
    assert len(confirmed_finals) == 2
    assert set(world.bags.claimable.values()) == {0}
    assert await snapshot_cents(ctx, run.run_id) == EXPECTED_CENTS
    live = world.keys.live()
    assert len(live) == 3
    async with ctx.db.read() as session:
        stored = {k.openrouter_key_hash: k for k in await session.scalars(select(UserKey))}
    assert set(stored) == {k.hash for k in live}
    for key in live:
        row = stored[key.hash]
        assert key.limit == Decimal(EXPECTED_CENTS[row.holder_wallet]) / 100
        assert row.limit_usd_cents == EXPECTED_CENTS[row.holder_wallet]


@pytest.mark.parametrize("phase", PHASES)
async def test_resume_reenters_the_failed_phase_and_skips_the_earlier_ones(
    cctx, world, phase, use_handlers
) -> None:
    calls: Counter = Counter()
    use_handlers(counting_handlers(calls, fail_once=phase))
    strategy = await make_strategy(cctx)
    failed = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert failed.state == "FAILED"
    assert (failed.error.code, failed.error.failed_state) == ("INJECTED", phase)
    before = dict(calls)

    resumed = await runs.resume_run(cctx, failed.run_id, "cli")
    await assert_world_consistent(cctx, world, resumed)
    index = PHASES.index(phase)
    for earlier in PHASES[:index]:
        assert calls[earlier] == before[earlier] == 1, earlier
    assert calls[phase] == 2
    for later in PHASES[index + 1 :]:
        assert calls[later] == 1
    status = await runs.run_status(cctx, run_id=failed.run_id)
    actions = [e.action for e in status.audit_log]
    assert f"fail:{phase}" in actions
    assert actions.index(f"resume:FAILED->{phase}") > actions.index(f"fail:{phase}")
    assert actions[-1] == "transition:PROVISIONING->COMPLETE"
    assert status.run.trigger == "resume"


async def test_runbook_sql_shows_a_provisioning_failure_and_resume_finishes_it(
    make_ctx, world, clock, db_path
) -> None:
    from tests.credits.fakes import transient

    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    timeouts = [transient("openrouter", "POST keys timed out") for _ in range(3)]
    for error in timeouts:
        error.status = None
    world.keys.faults.fail("create_key", *timeouts)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert failed.state == "FAILED"

    rows = runbook_query(db_path)
    assert len(rows) == 1
    run_id, state, code, detail = rows[0]
    assert (run_id, state, code) == (failed.run_id, "FAILED", "OPENROUTER_TIMEOUT")
    assert detail.startswith("3 of 3 allocations not provisioned") and "timed out" in detail
    assert failed.error.failed_state == "PROVISIONING"

    before = (sum(world.bags.faults.calls.values()), sum(world.holders.faults.calls.values()))
    sends = world.solana.faults.calls["send_transaction"]
    clock.advance(minutes=2)  # past the OpenRouter breaker's cooldown
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    await assert_world_consistent(ctx, world, resumed)
    # Earlier phases were not touched: no Bags, Helius or chain calls, same checkpoints.
    assert (
        sum(world.bags.faults.calls.values()),
        sum(world.holders.faults.calls.values()),
    ) == before
    assert world.solana.faults.calls["send_transaction"] == sends
    assert (resumed.claimed_lamports, resumed.swapped_usdc) == (
        failed.claimed_lamports,
        failed.swapped_usdc,
    )
    status = await runs.run_status(ctx, run_id=failed.run_id)
    resume_index = [e.action for e in status.audit_log].index("resume:FAILED->PROVISIONING")
    after = [e.action for e in status.audit_log[resume_index:] if ":" in e.action]
    assert not any(
        a.startswith(("transition:CLAIMING", "transition:SWAPPING", "transition:ALLOCATING"))
        for a in after
    )
    assert runbook_query(db_path) == []


CRASH_POINTS = [
    ("solana", "send_transaction", 1),  # first claim sent, not recorded as sent/confirmed
    ("solana", "send_transaction", 2),  # second claim
    ("solana", "send_transaction", 3),  # the swap
    ("keys", "create_key", 1),  # a key created on OpenRouter, not recorded
    ("keys", "create_key", 3),
]


@pytest.mark.parametrize(
    ("port", "op", "call"), CRASH_POINTS, ids=[f"{o}#{c}" for _, o, c in CRASH_POINTS]
)
async def test_crash_after_a_side_effect_then_resume_does_everything_exactly_once(
    make_ctx, world, clock, port, op, call
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    getattr(world, port).faults.crash_at(op, call)
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    async with ctx.db.read() as session:
        stuck = (await runs.listing(session, strategy.strategy_id))[0]
    assert stuck.state not in ("COMPLETE", "FAILED")

    # The process is gone; later, another one resumes the run.
    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    restarted = await make_ctx()
    resumed = await runs.resume_run(restarted, stuck.run_id, "cli")
    await assert_world_consistent(restarted, world, resumed)
    status = await runs.run_status(restarted, run_id=stuck.run_id)
    interrupted = [e for e in status.audit_log if e.action.startswith("fail:")]
    assert interrupted[0].details["error"]["code"] == "RUN_INTERRUPTED"
    if op == "create_key":
        # The unrecorded keys (their plaintext was lost) are deleted: the one created right
        # before the crash, and any other holder's whose create was in flight with it or
        # waiting for its record's commit (at most twice PROVISIONING_CONCURRENCY holders).
        orphans = [e for e in status.audit_log if e.action == "provision:orphan-deleted"]
        under_way = 2 * restarted.settings.provisioning_concurrency
        assert 1 <= len(world.keys.deleted) == len(orphans) <= under_way
        async with restarted.db.read() as session:
            recorded = set(await session.scalars(select(UserKey.openrouter_key_hash)))
        assert not recorded & set(world.keys.deleted)


async def test_crash_after_a_top_up_then_resume_adds_the_allocation_once(
    make_ctx, world, clock
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    await runs.start_run(ctx, strategy.strategy_id, "api")
    async with ctx.db.read() as session:
        keys = {
            k.holder_wallet: k.openrouter_key_hash for k in await session.scalars(select(UserKey))
        }
    world.keys.spend(keys[HOLDER_A], Decimal(90))
    world.bags.claimable = {wallet(50): 1_000_000_000}
    world.keys.faults.crash_at("update_key", 1)
    clock.advance(seconds=1)
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    restarted = await make_ctx()
    async with restarted.db.read() as session:
        second = (await runs.listing(session, strategy.strategy_id))[0]
    resumed = await runs.resume_run(restarted, second.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    cents = await snapshot_cents(restarted, second.run_id)
    first = {HOLDER_A: 10000, HOLDER_B: 7432, HOLDER_C: 4955}
    for holder, key_hash in keys.items():
        state = world.keys.keys[key_hash]
        assert state.limit == Decimal(first[holder] + cents.get(holder, 0)) / 100
    assert world.keys.faults.calls["update_key"] == len(cents)  # the crashed PATCH is not redone


async def test_a_second_concurrent_run_gets_409(cctx, world) -> None:
    import asyncio

    from arenabrain.credits.locks import CONFLICT_MESSAGE, RunInProgress

    strategy = await make_strategy(cctx)
    results = await asyncio.gather(
        runs.start_run(cctx, strategy.strategy_id, "api"),
        runs.start_run(cctx, strategy.strategy_id, "scheduler"),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, RunInProgress)]
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(conflicts) == 1 and len(done) == 1
    assert conflicts[0].status_code == 409
    assert (
        conflicts[0].message == CONFLICT_MESSAGE == "A run is already in progress for this strategy"
    )


async def test_a_stale_lock_is_reaped_and_its_run_can_be_resumed(cctx, world, clock) -> None:
    from arenabrain.credits import locks
    from arenabrain.credits.locks import RunInProgress

    strategy = await make_strategy(cctx)
    # Another process took the lock and died mid-SWAPPING.
    now = clock.now()
    async with cctx.db.write() as session:
        orphan = runs.new_run(strategy.strategy_id, "scheduler", False, now)
        orphan.state = "SWAPPING"
        orphan.claimed_lamports = 0
        session.add(orphan)
        await session.flush()
        await locks.acquire(
            session, strategy.strategy_id, "dead-process", now, run_id=orphan.run_id
        )
    with pytest.raises(RunInProgress):
        await runs.start_run(cctx, strategy.strategy_id, "api")
    clock.advance(seconds=LOCK_TTL.total_seconds() + 1)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE"
    reaped = await runs.get_run(cctx, orphan.run_id)
    assert (reaped.state, reaped.error.code, reaped.error.failed_state) == (
        "FAILED",
        "RUN_INTERRUPTED",
        "SWAPPING",
    )
    resumed = await runs.resume_run(cctx, orphan.run_id, "api")
    assert resumed.state == "COMPLETE"


async def test_the_lock_is_refreshed_at_every_phase_boundary(
    cctx, world, clock, use_handlers
) -> None:
    from arenabrain.credits import locks

    seen = []

    def wrap(state, handler):
        async def wrapped(pc):
            async with cctx.db.read() as session:
                lock = await locks.current(session, pc.strategy.strategy_id)
            seen.append((state, lock.expires_at - clock.now()))
            clock.advance(minutes=50)  # each phase takes 50 minutes; TTL is 60
            return await handler(pc)

        return wrapped

    use_handlers({s: wrap(s, h) for s, h in HANDLERS.items()})
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert [remaining for _, remaining in seen[1:]] == [LOCK_TTL] * 5
    async with cctx.db.read() as session:
        assert await locks.current(session, strategy.strategy_id) is None  # released


@pytest.mark.parametrize(
    ("raised", "released"),
    [(RuntimeError("phase bug"), True), (asyncio.CancelledError(), True), (Crash(), False)],
    ids=["error", "cancelled", "process-died"],
)
async def test_the_run_lock_is_freed_by_a_failing_runner_but_not_by_a_dying_one(
    cctx, raised, released
) -> None:
    from arenabrain.credits import locks

    strategy = await make_strategy(cctx)
    with pytest.raises(type(raised)):
        async with runs.run_lock(cctx, strategy.strategy_id):
            raise raised
    async with cctx.db.read() as session:
        lock = await locks.current(session, strategy.strategy_id)
    assert (lock is None) is released


async def test_claim_records_survive_and_no_unconfirmed_claim_is_counted(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    async with cctx.db.read() as session:
        rows = list(await session.scalars(select(ClaimTransaction)))
    assert sum(r.lamports_expected for r in rows if r.status == "confirmed") == run.claimed_lamports
    assert cctx.clients is world.clients


async def test_long_phases_keep_the_lock_alive_and_stop_when_it_is_taken_over(
    cctx, world, clock
) -> None:
    from arenabrain.credits import locks

    # Each key takes 40 minutes: longer than the lock TTL overall, but the journal refreshes it.
    original = world.keys.create_key

    async def slow_create(*args, **kwargs):
        clock.advance(minutes=40)
        return await original(*args, **kwargs)

    world.keys.create_key = slow_create
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error

    # If another process reaps the lock (this one looked dead), this runner stops writing.
    async def hijacked_create(*args, **kwargs):
        async with cctx.db.write() as session:
            lock = await locks.current(session, strategy.strategy_id)
            lock.holder = "another-process"
        return await original(*args, **kwargs)

    world.keys.create_key = hijacked_create
    world.bags.claimable = {wallet(60): 1_000_000_000}
    world.holders.hold(wallet(61), 900)
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "PROVISIONING"  # left for the process that owns the lock now


async def test_a_top_up_is_applied_once_across_a_crash_another_run_and_the_resume(
    make_ctx, world, clock
) -> None:
    """Run 1 dies right after PATCHing a key; run 2 (reaping the stale lock) tops the same key
    up; then run 1 is resumed. Every key ends at exactly the sum of its holder's allocations."""
    ctx = await make_ctx()
    strategy = await make_strategy(ctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"
    async with ctx.db.read() as session:
        keys = {
            k.holder_wallet: k.openrouter_key_hash for k in await session.scalars(select(UserKey))
        }
    for key_hash in keys.values():
        world.keys.spend(key_hash, Decimal(40))  # everyone has room for more
    world.bags.claimable = {wallet(50): 1_000_000_000}
    world.keys.faults.crash_at("update_key", 1)
    clock.advance(seconds=1)
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    async with ctx.db.read() as session:
        crashed = (await runs.listing(session, strategy.strategy_id))[0]

    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    other = await make_ctx()
    world.bags.claimable = {wallet(51): 1_000_000_000}
    second = await runs.start_run(other, strategy.strategy_id, "scheduler")
    assert second.state == "COMPLETE", second.error
    assert (await runs.get_run(other, crashed.run_id)).error.code == "RUN_INTERRUPTED"
    resumed = await runs.resume_run(other, crashed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error

    async with other.db.read() as session:
        plan = list(await session.scalars(select(AllocationSnapshot)))
        stored = {k.holder_wallet: k for k in await session.scalars(select(UserKey))}
    due: Counter = Counter()
    for allocation in plan:
        due[allocation.holder_wallet] += allocation.allocated_cents
        assert allocation.key_hash == keys[allocation.holder_wallet]
    assert len({a.run_id for a in plan}) == 3
    for holder, key_hash in keys.items():
        assert world.keys.keys[key_hash].limit * 100 == due[holder], holder
        assert stored[holder].limit_usd_cents == stored[holder].total_allocated_cents == due[holder]
    # Every PATCH applied one allocation: one per top-up allocation, none repeated.
    assert world.keys.faults.calls["update_key"] == len(plan) - 3


PROVISIONING_CRASHES = [
    ("keys", "list_keys", 1),  # ALLOCATING's read of the pool
    ("keys", "list_keys", 2),  # PROVISIONING's listing
    ("keys", "get_key", 1),
    ("keys", "update_key", 1),
    ("keys", "update_key", 2),
    ("keys", "update_key", 3),
    ("keys", "create_key", 1),  # the new holder's key, created and never recorded
]


@pytest.mark.parametrize(
    ("port", "op", "nth"),
    PROVISIONING_CRASHES,
    ids=[f"{op}#{nth}" for _, op, nth in PROVISIONING_CRASHES],
)
async def test_any_provisioning_crash_then_another_run_then_the_resume_leaves_limits_as_due(
    make_ctx, world, clock, port, op, nth
) -> None:
    """Run 1 dies right after one of its OpenRouter calls; run 2 reaps it and runs;
    run 1 is resumed. Every holder has one live key whose limit is the sum of their
    allocations, and no key is left behind."""
    ctx = await make_ctx()
    strategy = await make_strategy(ctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"
    for key in world.keys.live():
        world.keys.spend(key.hash, key.limit)  # everyone has room for more
    world.holders.hold(wallet(7), 400)  # a new holder: run 1 creates a key too
    world.bags.claimable = {wallet(50): 1_000_000_000}
    faults = getattr(world, port).faults
    faults.crash_at(op, faults.calls[op] + nth)
    clock.advance(seconds=1)
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    async with ctx.db.read() as session:
        crashed = (await runs.listing(session, strategy.strategy_id))[0]
    assert crashed.state in ("ALLOCATING", "PROVISIONING")

    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    other = await make_ctx()
    world.bags.claimable = {wallet(51): 1_000_000_000}
    assert (await runs.start_run(other, strategy.strategy_id, "scheduler")).state == "COMPLETE"
    resumed = await runs.resume_run(other, crashed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error

    async with other.db.read() as session:
        plan = list(await session.scalars(select(AllocationSnapshot)))
        stored = {
            k.holder_wallet: k
            for k in await session.scalars(select(UserKey))
            if k.status == "ACTIVE"
        }
    due: Counter = Counter()
    for allocation in plan:
        due[allocation.holder_wallet] += allocation.allocated_cents
        assert allocation.key_hash == stored[allocation.holder_wallet].openrouter_key_hash
    live = {k.hash: k for k in world.keys.live()}
    assert set(live) == {k.openrouter_key_hash for k in stored.values()}
    assert set(stored) == set(due) and len(due) == 4
    for holder, cents in due.items():
        assert live[stored[holder].openrouter_key_hash].limit * 100 == cents, holder
        assert stored[holder].limit_usd_cents == stored[holder].total_allocated_cents == cents
