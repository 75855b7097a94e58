"""The credit pool never promises more than it has: allocations not yet provisioned stay
reserved (on top of the headroom of existing keys) until their keys are provisioned or their
run is abandoned, and ALLOCATING runs one at a time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import pool, runs
from arenabrain.credits.models import AllocationSnapshot, Run, Strategy
from arenabrain.credits.phase_locks import POOL_BUSY
from arenabrain.credits.runs import ABANDONED, CannotResume, NotAbandonable
from tests.credits.conftest import HOLDER_A, HOLDER_B, HOLDER_C, make_strategy
from tests.credits.fakes import transient, wallet

POOL_USD = Decimal(300)  # the OpenRouter balance
AVAILABLE_CENTS = 27_000  # $300 less the 10% reserve
FIRST_CENTS = 22_387  # what a run of 1.5 SOL produces
KEY_CAP_CENTS = 10_000


@pytest.fixture
def small_pool(world):
    world.keys.total_credits = POOL_USD
    return world


async def allocations(ctx) -> list[AllocationSnapshot]:
    async with ctx.db.read() as session:
        return list(await session.scalars(select(AllocationSnapshot)))


async def fail_in_provisioning(ctx, world, strategy_id):
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 3)
    failed = await runs.start_run(ctx, strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "PROVISIONING")
    assert failed.allocated_usd == Decimal(FIRST_CENTS) / 100
    world.keys.faults.fail_next["create_key"] = []
    return failed


def assert_keys_hold_exactly_the_allocations(world, plan) -> None:
    """Every key's limit is what its holder was allocated; the total is within the pool."""
    assert sum(k.limit for k in world.keys.keys.values()) * 100 == sum(
        a.allocated_cents for a in plan
    )
    assert sum(a.allocated_cents for a in plan) <= AVAILABLE_CENTS
    assert all(k.limit <= KEY_CAP_CENTS / 100 for k in world.keys.keys.values())


async def test_a_later_run_cannot_take_what_a_failed_run_still_has_to_provision(
    cctx, small_pool, clock
) -> None:
    world = small_pool
    strategy = await make_strategy(cctx)
    failed = await fail_in_provisioning(cctx, world, strategy.strategy_id)

    world.bags.claimable = {wallet(71): 1_500_000_000}
    clock.advance(minutes=2)  # past the OpenRouter breaker's cooldown
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "COMPLETE", second.error
    assert second.allocated_usd == Decimal(AVAILABLE_CENTS - FIRST_CENTS) / 100
    # No holder is promised more than the per-key cap across the two runs.
    due: Counter[str] = Counter()
    for a in await allocations(cctx):
        due[a.holder_wallet] += a.allocated_cents
    assert max(due.values()) <= KEY_CAP_CENTS
    assert due[HOLDER_A] == KEY_CAP_CENTS

    resumed = await runs.resume_run(cctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    plan = await allocations(cctx)
    assert sum(a.allocated_cents for a in plan) == AVAILABLE_CENTS
    assert_keys_hold_exactly_the_allocations(world, plan)


async def test_two_runs_allocating_at_once_never_overcommit_the_pool(cctx, small_pool) -> None:
    world = small_pool
    first = await make_strategy(cctx)
    second = await make_strategy(cctx)
    original = world.keys.list_keys
    inner: list = []
    started: list = []

    async def keys_while_another_run_allocates():
        found = await original()
        if not started:  # the first run has read the pool and not yet recorded its plan
            started.append(True)
            world.bags.claimable = {wallet(72): 1_000_000_000}
            inner.append(await runs.start_run(cctx, second.strategy_id, "scheduler"))
        return found

    world.keys.list_keys = keys_while_another_run_allocates
    run = await runs.start_run(cctx, first.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    blocked = inner[0]
    assert (blocked.state, blocked.error.code, blocked.error.failed_state) == (
        "FAILED",
        POOL_BUSY,
        "ALLOCATING",
    )
    resumed = await runs.resume_run(cctx, blocked.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.allocated_usd == Decimal(AVAILABLE_CENTS - FIRST_CENTS) / 100
    assert_keys_hold_exactly_the_allocations(world, await allocations(cctx))


async def test_pool_status_counts_unprovisioned_allocations_once_and_abandoning_frees_them(
    cctx, small_pool, clock
) -> None:
    world = small_pool
    strategy = await make_strategy(cctx)
    failed = await fail_in_provisioning(cctx, world, strategy.strategy_id)
    clock.advance(minutes=2)  # past the OpenRouter breaker's cooldown
    view = await pool.pool_status(cctx)
    assert view.promised_usd == Decimal(FIRST_CENTS) / 100
    assert view.available_usd == Decimal(AVAILABLE_CENTS - FIRST_CENTS) / 100

    abandoned = await runs.abandon_run(cctx, failed.run_id, "cli", "operator gave up")
    assert (abandoned.state, abandoned.error.code) == ("FAILED", ABANDONED)
    assert "OPENROUTER" in abandoned.error.detail  # the cause it failed with is kept
    view = await pool.pool_status(cctx)
    assert (view.promised_usd, view.available_usd) == (0, Decimal(AVAILABLE_CENTS) / 100)
    with pytest.raises(CannotResume) as info:
        await runs.resume_run(cctx, failed.run_id, "cli")
    assert "abandoned" in info.value.message
    status = await runs.run_status(cctx, run_id=failed.run_id)
    assert status.audit_log[-1].action == "abandon:FAILED"


async def test_a_provisioned_allocation_counts_as_key_headroom_only(cctx, small_pool) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    view = await pool.pool_status(cctx)
    assert view.promised_usd == Decimal(FIRST_CENTS) / 100
    assert view.available_usd == Decimal(AVAILABLE_CENTS - FIRST_CENTS) / 100


async def test_only_failed_runs_can_be_abandoned(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    with pytest.raises(NotAbandonable) as info:
        await runs.abandon_run(cctx, run.run_id, "cli")
    assert info.value.message == "Only FAILED runs can be abandoned; run is COMPLETE"


T0 = datetime(2026, 3, 1, tzinfo=UTC)
PENDING_CASES = [
    # (run state, failed state, error code, dry run, strategy kept, key provisioned, counted)
    ("PROVISIONING", None, None, False, True, False, True),
    ("FAILED", "PROVISIONING", "OPENROUTER_UNAVAILABLE", False, True, False, True),
    ("FAILED", "PROVISIONING", "RUN_INTERRUPTED", False, True, False, True),
    ("FAILED", "PROVISIONING", "OPENROUTER_UNAVAILABLE", False, True, True, False),
    ("FAILED", "PROVISIONING", ABANDONED, False, True, False, False),
    ("FAILED", "PROVISIONING", "OPENROUTER_UNAVAILABLE", False, False, False, False),
    ("PROVISIONING", None, None, True, True, False, False),
    ("COMPLETE", None, None, False, True, False, False),
]


@pytest.mark.parametrize(
    ("state", "failed_state", "code", "dry_run", "kept", "provisioned", "counted"),
    PENDING_CASES,
    ids=[
        "provisioning",
        "failed-resumable",
        "interrupted",
        "key-provisioned",
        "abandoned",
        "strategy-deleted",
        "dry-run",
        "complete",
    ],
)
async def test_which_allocations_are_still_promised(
    cctx, state, failed_state, code, dry_run, kept, provisioned, counted
) -> None:
    strategy = await make_strategy(cctx)
    async with cctx.db.write() as session:
        run = runs.new_run(strategy.strategy_id, "api", dry_run, T0)
        run.state, run.error_failed_state, run.error_code = state, failed_state, code
        session.add(run)
        await session.flush()
        for wallet_, cents in ((HOLDER_B, 700), (HOLDER_C, 300)):
            session.add(
                AllocationSnapshot(
                    snapshot_id=f"{run.run_id}-{wallet_[:4]}",
                    run_id=run.run_id,
                    holder_wallet=wallet_,
                    token_balance="1",
                    allocation_weight=0.5,
                    allocated_cents=cents,
                    key_hash="h" + wallet_ if provisioned else None,
                    created_at=T0,
                )
            )
        if not kept:
            await session.flush()
            await session.delete(await session.get(Strategy, strategy.strategy_id))
    async with cctx.db.read() as session:
        assert await pool.pending_cents(session) == (1000 if counted else 0)
        by_wallet = await pool.pending_by_wallet(session, strategy.strategy_id)
        assert by_wallet == ({HOLDER_B: 700, HOLDER_C: 300} if counted else {})
        assert (await session.get(Run, run.run_id)) is not None
