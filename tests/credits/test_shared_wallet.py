"""Strategies that share the signer wallet: the claim-to-swap stretch is serialised per wallet.

Every live strategy's owner must be the signer, so they all claim into and swap from one
wallet, and SWAPPING measures what it received as the change of that wallet's USDC balance.
Two runs overlapping there would each count the other's USDC. A run entering CLAIMING takes
the wallet's lock (waiting a bounded time) and keeps it until SWAPPING is committed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import locks, runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import ClaimTransaction, ResourceLock
from arenabrain.credits.phase_locks import WAIT_SCHEDULE, WALLET_BUSY, wallet_resource
from arenabrain.credits.phases import HANDLERS
from arenabrain.credits.runs import HANDLERS_EXTRA
from arenabrain.credits.state_machine import RunState
from arenabrain.credits.upstreams import SLEEP
from tests.credits.conftest import make_strategy
from tests.credits.fakes import OWNER, wallet

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

    cctx.extras[SLEEP] = sleep
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


async def test_the_wallet_is_locked_from_claiming_to_swapping_only(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    held: dict[RunState, list[str]] = {}

    def wrap(state, handler):
        async def wrapped(pc):
            held[state] = sorted(r.resource for r in await lock_rows(cctx))
            return await handler(pc)

        return wrapped

    cctx.extras[HANDLERS_EXTRA] = {s: wrap(s, h) for s, h in HANDLERS.items()}
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    wallet_lock = wallet_resource(OWNER)
    assert wallet_lock in held[RunState.CLAIMING] and wallet_lock in held[RunState.SWAPPING]
    for state in (RunState.BRIDGING, RunState.FUNDING, RunState.ALLOCATING, RunState.PROVISIONING):
        assert wallet_lock not in held[state], state
    assert await lock_rows(cctx) == []


@pytest.mark.parametrize("failing", [RunState.CLAIMING, RunState.SWAPPING])
async def test_a_failed_run_frees_the_wallet(cctx, world, failing) -> None:
    from arenabrain.credits.phases.base import PhaseFailure

    async def broken(pc):
        raise PhaseFailure("INJECTED", "broke")

    cctx.extras[HANDLERS_EXTRA] = {**HANDLERS, failing: broken}
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
