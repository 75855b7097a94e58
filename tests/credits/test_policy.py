"""Kill switch, dry run and the daily cap, at every entry point (start and resume)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from arenabrain.credits import policy, runs
from arenabrain.credits.models import (
    AllocationSnapshot,
    ClaimTransaction,
    CreditPoolAllocation,
    Run,
    UserKey,
)
from arenabrain.credits.policy import PolicyBlocked
from arenabrain.credits.runs import CannotResume
from tests.credits.conftest import make_strategy
from tests.credits.fakes import transient

NO_MUTATIONS = {
    "sign_claim": 0,
    "sign_swap": 0,
    "send_transaction": 0,
    "create_key": 0,
    "update_key": 0,
    "delete_key": 0,
}


async def count(ctx, model, *where) -> int:
    async with ctx.db.read() as session:
        return len(list(await session.scalars(select(model).where(*where))))


# --- pure decisions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "maximum", "allowed"),
    [(0, 4, True), (3, 4, True), (4, 4, False), (9, 4, False), (0, 0, True), (10_000, 0, True)],
)
def test_daily_cap_decision(today: int, maximum: int, allowed: bool) -> None:
    decision = policy.daily_cap(today, maximum, "s1")
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason.startswith(f"Daily run limit ({maximum}) reached for strategy s1")


# --- kill switch ----------------------------------------------------------------------------


async def test_kill_switch_records_the_run_and_rejects_it_before_claiming(make_ctx, world) -> None:
    ctx = await make_ctx(EXECUTION_KILL_SWITCH="true")
    strategy = await make_strategy(ctx)
    with pytest.raises(PolicyBlocked) as info:
        await runs.start_run(ctx, strategy.strategy_id, "api")
    assert info.value.status_code == 403
    run = await runs.get_run(ctx, info.value.run_id)
    assert run.state == "FAILED"
    assert run.error.code == "POLICY_BLOCKED"
    assert "EXECUTION_KILL_SWITCH" in run.error.detail
    assert run.error.failed_state == "PENDING"
    status = await runs.run_status(ctx, run_id=run.run_id)
    assert [e.action for e in status.audit_log] == ["fail:PENDING"]
    assert world.mutations() == NO_MUTATIONS
    assert sum(world.bags.faults.calls.values()) == 0  # CLAIMING never started


async def test_kill_switch_blocks_resume_too(make_ctx, world) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 12)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert failed.state == "FAILED"
    blocked = await make_ctx(EXECUTION_KILL_SWITCH="true")
    with pytest.raises(PolicyBlocked):
        await runs.resume_run(blocked, failed.run_id, "cli")
    after = await runs.run_status(blocked, run_id=failed.run_id)
    assert after.run.state == "FAILED"
    assert after.audit_log[-1].action == "policy:rejected"


# --- dry run ---------------------------------------------------------------------------------


async def test_dry_run_runs_every_phase_and_changes_nothing_outside(make_ctx, world) -> None:
    ctx = await make_ctx(DRY_RUN="true")
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")

    assert run.state == "COMPLETE", run.error
    assert run.dry_run is True
    assert world.mutations() == NO_MUTATIONS
    assert world.keys.keys == {}
    assert world.bags.faults.calls["claim_transactions"] == 0
    assert world.bags.faults.calls["swap_transaction"] == 0
    # What would happen is recorded: the claim, the quoted swap, the plan, the keys.
    assert run.claimed_lamports == 1_500_000_000
    assert str(run.swapped_usdc) == "225"
    status = await runs.run_status(ctx, run_id=run.run_id)
    by_action = {e.action: e.details for e in status.audit_log}
    assert by_action["transition:CLAIMING->SWAPPING"]["dryRun"] is True
    plan = by_action["transition:ALLOCATING->PROVISIONING"]["allocations"]
    assert [a["cents"] for a in plan] == [10000, 7500, 5000]
    assert by_action["transition:PROVISIONING->COMPLETE"]["wouldCreate"] == 3
    # No real allocation rows, no keys, no claim records, no pool ledger.
    assert await count(ctx, AllocationSnapshot) == 0
    assert await count(ctx, CreditPoolAllocation) == 0
    assert await count(ctx, UserKey) == 0
    assert await count(ctx, ClaimTransaction) == 0


async def test_a_live_run_is_not_resumed_while_dry_run_is_on(make_ctx, world) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 12)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    dry = await make_ctx(DRY_RUN="true")
    with pytest.raises(PolicyBlocked) as info:
        await runs.resume_run(dry, failed.run_id, "api")
    assert "DRY_RUN" in info.value.message


# --- daily cap ------------------------------------------------------------------------------


async def test_daily_cap_blocks_the_next_run_without_recording_one(make_ctx, world, clock) -> None:
    ctx = await make_ctx(MAX_DAILY_RUNS="2")
    strategy = await make_strategy(ctx)
    for _ in range(2):
        assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"
    with pytest.raises(PolicyBlocked) as info:
        await runs.start_run(ctx, strategy.strategy_id, "scheduler")
    assert "Daily run limit (2)" in info.value.message
    assert await count(ctx, Run) == 2
    # A new UTC day starts a new count.
    clock.advance(days=1)
    assert (await runs.start_run(ctx, strategy.strategy_id, "cli")).state == "COMPLETE"


async def test_max_daily_runs_zero_means_unlimited(make_ctx, world) -> None:
    ctx = await make_ctx(MAX_DAILY_RUNS="0")
    strategy = await make_strategy(ctx)
    for _ in range(6):
        assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"


async def test_daily_cap_applies_to_resume(make_ctx, world) -> None:
    ctx = await make_ctx(MAX_DAILY_RUNS="1")
    strategy = await make_strategy(ctx)
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 12)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert failed.state == "FAILED"
    with pytest.raises(PolicyBlocked) as info:
        await runs.resume_run(ctx, failed.run_id, "api")
    assert "Daily run limit (1)" in info.value.message
    assert (await runs.get_run(ctx, failed.run_id)).state == "FAILED"


async def test_only_failed_runs_can_be_resumed(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    with pytest.raises(CannotResume) as info:
        await runs.resume_run(cctx, run.run_id, "api")
    assert (
        info.value.message
        == "Cannot resume run in state COMPLETE. Only FAILED runs can be resumed."
    )
    assert info.value.status_code == 400


async def test_a_paused_strategy_is_not_run(cctx, world) -> None:
    from arenabrain.credits import strategies

    strategy = await make_strategy(cctx)
    await strategies.set_status(cctx, strategy.strategy_id, "PAUSED")
    with pytest.raises(Exception) as info:
        await runs.start_run(cctx, strategy.strategy_id, "api")
    assert info.value.status_code == 409
    assert "PAUSED" in info.value.message


async def test_timestamps_are_text_sqlite_compares(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    await runs.start_run(cctx, strategy.strategy_id, "api")
    async with cctx.db.read() as session:
        started = await session.scalar(text("SELECT started_at FROM runs"))
        ts = await session.scalar(text("SELECT timestamp FROM audit_log LIMIT 1"))
    assert started == "2026-03-01 00:00:00"
    assert ts == "2026-03-01 00:00:00"
