"""Strategies that share the signer wallet: the claim-to-swap stretch is serialised per wallet.

Every live strategy's owner must be the signer, so they all claim into and swap from one
wallet. A run entering CLAIMING takes the wallet's lock (waiting a bounded time) and keeps it
until SWAPPING is committed.

A run that fails in SWAPPING after its swap landed releases the lock, so another run can swap
on the wallet before its resume: what a swap produced is therefore measured from its own
confirmed transaction (the signer's USDC token balances in its meta), never from the wallet's
balance around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import locks, runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import (
    AllocationSnapshot,
    ClaimTransaction,
    CreditPoolAllocation,
    ResourceLock,
)
from arenabrain.credits.phase_locks import WAIT_SCHEDULE, WALLET_BUSY, wallet_resource
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.state_machine import RunState
from tests.credits.conftest import make_strategy
from tests.credits.fakes import OWNER, timed_out, wallet

OTHER_FEES = wallet(70)
FIRST_USDC = Decimal("223.875")  # 1.5 SOL at $150, 99.5% delivered
SECOND_USDC = Decimal("149.25")  # 1 SOL


async def lock_rows(ctx) -> list[ResourceLock]:
    async with ctx.db.read() as session:
        return list(await session.scalars(select(ResourceLock)))


async def test_a_run_on_the_same_wallet_waits_for_the_swap_and_each_run_counts_only_its_usdc(
    cctx, world, sleeps
) -> None:
    first = await make_strategy(cctx)
    second = await make_strategy(cctx)
    original = world.bags.swap_transaction
    inner: list = []
    started: list = []

    async def swap_while_another_strategy_runs(quote, user):
        tx = await original(quote, user)
        if not started:  # the first run is mid-SWAPPING: its balance before is recorded
            started.append(True)
            world.bags.claimable = {OTHER_FEES: 1_000_000_000}
            inner.append(await runs.start_run(cctx, second.strategy_id, "scheduler"))
        return tx

    world.bags.swap_transaction = swap_while_another_strategy_runs
    run = await runs.start_run(cctx, first.strategy_id, "api")

    assert run.state == "COMPLETE", run.error
    assert run.swapped_usdc == FIRST_USDC  # not the other run's USDC too
    blocked = inner[0]
    assert (blocked.state, blocked.error.code, blocked.error.failed_state) == (
        "FAILED",
        WALLET_BUSY,
        "CLAIMING",
    )
    assert run.run_id in blocked.error.detail and "--resume" in blocked.error.detail
    assert sleeps.waits == list(WAIT_SCHEDULE)  # waited the bounded time, then gave up
    async with cctx.db.read() as session:
        claimed_by_second = list(
            await session.scalars(
                select(ClaimTransaction).where(ClaimTransaction.run_id == blocked.run_id)
            )
        )
    assert claimed_by_second == []  # it never reached the chain

    resumed = await runs.resume_run(cctx, blocked.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.swapped_usdc == SECOND_USDC
    assert world.chain.usdc[OWNER] == (FIRST_USDC + SECOND_USDC) * 10**6
    assert await lock_rows(cctx) == []


async def allocated_cents(ctx, run_id: str) -> tuple[int, list[int]]:
    """A run's holder allocations summed, and its entries in the credit pool ledger."""
    async with ctx.db.read() as session:
        holders = await session.scalars(
            select(AllocationSnapshot.allocated_cents).where(AllocationSnapshot.run_id == run_id)
        )
        ledger = await session.scalars(
            select(CreditPoolAllocation.amount_cents).where(CreditPoolAllocation.run_id == run_id)
        )
        return sum(holders), list(ledger)


async def test_a_swap_resumed_after_another_run_swapped_on_the_wallet_counts_only_its_own_usdc(
    cctx, world
) -> None:
    first = await make_strategy(cctx)
    second = await make_strategy(cctx)
    # Sends 1-2 claim, 3 swaps; the swap lands and its confirmation (the third) times out.
    world.solana.faults.fail_at("confirm", 3, timed_out("solana", "getSignatureStatuses"))
    failed = await runs.start_run(cctx, first.strategy_id, "api")
    assert (failed.state, failed.error.failed_state, failed.error.code) == (
        "FAILED",
        "SWAPPING",
        "SWAP_TX_UNCONFIRMED",
    )
    assert world.chain.usdc[OWNER] == FIRST_USDC * 10**6  # it landed
    assert await lock_rows(cctx) == []  # the wallet is free for the next run

    world.bags.claimable = {OTHER_FEES: 1_000_000_000}
    other = await runs.start_run(cctx, second.strategy_id, "scheduler")
    assert other.state == "COMPLETE", other.error
    assert other.swapped_usdc == SECOND_USDC

    resumed = await runs.resume_run(cctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.swap_tx_signature == failed.swap_tx_signature  # never swapped again
    assert world.bags.faults.calls["trade_quote"] == 2
    assert resumed.swapped_usdc == FIRST_USDC  # not the other run's USDC too
    # What the runs counted is what the chain moved, to the base unit.
    counted = (resumed.swapped_usdc + other.swapped_usdc) * 10**6
    assert counted == world.chain.usdc[OWNER]
    # Every holder allocation derives from the run's own USDC (no key cap is reached).
    assert await allocated_cents(cctx, resumed.run_id) == (22387, [22387])
    assert await allocated_cents(cctx, other.run_id) == (14925, [14925])


async def test_a_waiting_run_proceeds_as_soon_as_the_wallet_is_free(cctx, world, clock) -> None:
    strategy = await make_strategy(cctx)
    async with cctx.db.write() as session:
        await locks.take(session, wallet_resource(OWNER), "another-process", clock.now())
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the other run's swap is committed
            async with cctx.db.write() as session:
                await locks.release_resources(session, "another-process")

    cctx = replace(cctx, sleep=sleep)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert waits == list(WAIT_SCHEDULE[:3])
    assert run.swapped_usdc == FIRST_USDC


async def test_a_stale_wallet_lock_of_a_dead_process_is_reaped(cctx, world, clock, sleeps) -> None:
    strategy = await make_strategy(cctx)
    async with cctx.db.write() as session:
        await locks.take(
            session, wallet_resource(OWNER), "dead-process", clock.now() - LOCK_TTL - timedelta(1)
        )
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert sleeps.waits == []


async def test_the_wallet_is_locked_from_claiming_to_swapping_only(
    cctx, world, use_handlers
) -> None:
    strategy = await make_strategy(cctx)
    held: dict[RunState, list[str]] = {}

    def wrap(state, handler):
        async def wrapped(pc):
            held[state] = sorted(r.resource for r in await lock_rows(cctx))
            return await handler(pc)

        return wrapped

    use_handlers({s: wrap(s, h) for s, h in HANDLERS.items()})
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    wallet_lock = wallet_resource(OWNER)
    assert wallet_lock in held[RunState.CLAIMING] and wallet_lock in held[RunState.SWAPPING]
    for state in (RunState.BRIDGING, RunState.FUNDING, RunState.ALLOCATING, RunState.PROVISIONING):
        assert wallet_lock not in held[state], state
    assert await lock_rows(cctx) == []


@pytest.mark.parametrize("failing", [RunState.CLAIMING, RunState.SWAPPING])
async def test_a_failed_run_frees_the_wallet(cctx, world, failing, use_handlers) -> None:
    from arenabrain.credits.phases.base import PhaseFailure

    async def broken(pc):
        raise PhaseFailure("INJECTED", "broke")

    use_handlers({**HANDLERS, failing: broken})
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert (run.state, run.error.failed_state) == ("FAILED", failing)
    assert await lock_rows(cctx) == []


async def test_dry_runs_do_not_lock_the_wallet(make_ctx, world, clock, sleeps) -> None:
    ctx = await make_ctx(DRY_RUN="true")
    strategy = await make_strategy(ctx)
    async with ctx.db.write() as session:
        await locks.take(session, wallet_resource(OWNER), "another-process", clock.now())
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert sleeps.waits == []


async def test_claim_journal_writes_keep_the_wallet_lock_alive_and_a_lost_lock_stops_the_run(
    cctx, world, clock
) -> None:
    strategy = await make_strategy(cctx)
    original = world.solana.send_transaction
    expiries = []

    async def slow_send(wire):
        clock.advance(minutes=40)  # each send takes 40 minutes: longer than the TTL overall
        async with cctx.db.read() as session:
            lock = await session.get(ResourceLock, wallet_resource(OWNER), populate_existing=True)
            expiries.append(lock.expires_at - clock.now())
        return await original(wire)

    world.solana.send_transaction = slow_send
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert all(remaining > timedelta(0) for remaining in expiries)

    # Another process reaped the wallet lock (this runner looked dead): it stops writing.
    async def hijacked_send(wire):
        async with cctx.db.write() as session:
            lock = await session.get(ResourceLock, wallet_resource(OWNER))
            lock.holder = "another-process"
        return await original(wire)

    world.solana.send_transaction = hijacked_send
    world.bags.claimable = {OTHER_FEES: 1_000_000_000}
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "CLAIMING"  # left for whoever holds the wallet now
    assert second.error is None
