"""PROVISIONING end to end through the real OpenRouter keys client and the emulator: a partial
failure fails the run and its resume finishes the rest; a top-up is applied exactly once
whatever crashes, other runs and lost answers happen in between."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import AllocationSnapshot, KeyMutation, UserKey
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as emulator
from arenabrain.sandbox import solana as chain
from tests.credits import test_sandbox_e2e
from tests.credits.conftest import make_strategy
from tests.credits.fakes import Crash, wallet
from tests.credits.test_provisioning import failed_runs_with_sqlite3
from tests.credits.test_sandbox_e2e import FEE_MINT_A, MINT, OWNER, CrashAfter, live_keys, table

sctx = test_sandbox_e2e.sctx  # the fixture: a context over every emulator, fees to claim


def remote_limits(world) -> dict[str, Decimal]:
    return {h: Decimal(str(k["limit"])) for h, k in live_keys(world).items()}


async def due_cents(ctx: Context) -> Counter:
    """What every holder is owed over all runs: the sum of their allocations."""
    due: Counter = Counter()
    for allocation in await table(ctx, AllocationSnapshot):
        due[allocation.holder_wallet] += allocation.allocated_cents
    return due


async def assert_limits_are_what_is_due(ctx: Context, world) -> None:
    due = await due_cents(ctx)
    stored = {k.holder_wallet: k for k in await table(ctx, UserKey) if k.status == "ACTIVE"}
    limits = remote_limits(world)
    assert set(stored) == set(due)
    assert len(limits) == len(due)
    for holder, cents in due.items():
        key = stored[holder]
        assert limits[key.openrouter_key_hash] * 100 == cents, holder
        assert key.limit_usd_cents == key.total_allocated_cents == cents, holder
    for allocation in await table(ctx, AllocationSnapshot):
        assert allocation.key_hash == stored[allocation.holder_wallet].openrouter_key_hash


async def test_post_keys_500_after_three_keys_fails_the_run_and_the_resume_completes_it(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock, db_path
) -> None:
    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(n): 100 + n for n in range(1, 11)})
    strategy = await make_strategy(sctx, owner_wallet=OWNER, distribution_token=MINT)
    emulator.arm_fault(world, emulator.CREATE_500, after=3, times=None)

    failed = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert failed.state == "FAILED"
    assert (failed.error.failed_state, failed.error.code) == ("PROVISIONING", "OPENROUTER_5XX")
    plan = {a.holder_wallet: a for a in await table(sctx, AllocationSnapshot)}
    left = [w for w, a in plan.items() if a.key_hash is None]
    assert len(plan) == 10 and len(left) == 7 and len(live_keys(world)) == 3
    assert failed.error.detail.startswith("7 of 10 allocations not provisioned")
    assert all(w in failed.error.detail for w in left)
    (row,) = failed_runs_with_sqlite3(db_path)
    assert row == [failed.run_id, "FAILED", "OPENROUTER_5XX", failed.error.detail]
    # Three 500s open the breaker: the holders not yet tried by then are not tried at all
    # (at most PROVISIONING_CONCURRENCY creates are in flight when it opens).
    posts = world.calls("openrouter", "POST")
    assert 3 + 3 <= posts <= 3 + sctx.settings.provisioning_concurrency

    emulator.disarm_faults(world)
    clock.advance(minutes=2)  # past the breaker's cooldown
    sends = world.calls("helius", "sendTransaction")
    resumed = await runs.resume_run(sctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert (resumed.keys_provisioned, resumed.keys_updated) == (10, 0)
    assert world.calls("openrouter", "POST") == posts + 7  # only the seven left
    assert world.calls("openrouter", "PATCH") == world.calls("openrouter", "DELETE") == 0
    assert world.calls("helius", "sendTransaction") == sends
    await assert_limits_are_what_is_due(sctx, world)
    assert failed_runs_with_sqlite3(db_path) == []


async def first_run_with_room_left(ctx: Context, world, strategy_id: str) -> dict[str, str]:
    """A complete run, then every holder spends all of it: each key has room for more."""
    assert (await runs.start_run(ctx, strategy_id, "api")).state == "COMPLETE"
    keys = {k.holder_wallet: k.openrouter_key_hash for k in await table(ctx, UserKey)}
    for key_hash, limit in remote_limits(world).items():
        assert emulator.spend(world, key_hash, limit) == limit
    return keys


class Jittered:
    """Delegates to a real port; each call starts after a seeded pause under 3 ms, so the
    concurrent holders interleave differently with each seed (a crash then finds the others'
    PATCHes sent, in flight, or not yet sent)."""

    def __init__(self, inner: Any, seed: int) -> None:
        self._inner, self._rng = inner, random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(self._rng.random() * 0.003)
            return await attr(*args, **kwargs)

        return wrapped


@pytest.mark.parametrize(
    "seed", [None, 1, 2, 3], ids=["as-scheduled", "seed-1", "seed-2", "seed-3"]
)
async def test_a_crash_after_a_patch_then_another_run_then_the_resume_tops_up_exactly_once(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock, seed: int | None
) -> None:
    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30, wallet(3): 60})
    strategy = await make_strategy(
        sctx,
        owner_wallet=OWNER,
        distribution_token=MINT,
        key_config={"default_limit_usd": 100, "limit_reset": None},
    )
    keys = await first_run_with_room_left(sctx, world, strategy.strategy_id)

    # Run 1 dies right after OpenRouter applied its first PATCH.
    real = sctx.clients
    port = real.keys if seed is None else Jittered(real.keys, seed)
    crashing = replace(sctx, clients=replace(real, keys=CrashAfter(port, "update_key", 1)))
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 300_000_000)
    clock.advance(minutes=1)
    with pytest.raises(Crash):
        await runs.start_run(crashing, strategy.strategy_id, "api")
    async with sctx.db.read() as session:
        crashed = (await runs.listing(session, strategy.strategy_id))[0]
    assert crashed.state == "PROVISIONING"

    # Run 2 of the same strategy reaps the stale lock and tops the same keys up.
    clock.advance(seconds=LOCK_TTL.total_seconds() + 1)
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 300_000_000)
    second = await runs.start_run(sctx, strategy.strategy_id, "scheduler")
    assert second.state == "COMPLETE", second.error
    assert (await runs.get_run(sctx, crashed.run_id)).error.code == "RUN_INTERRUPTED"

    resumed = await runs.resume_run(sctx, crashed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    plan = Counter(a.holder_wallet for a in await table(sctx, AllocationSnapshot))
    assert plan == {holder: 3 for holder in keys}  # every run gave every holder something
    await assert_limits_are_what_is_due(sctx, world)
    assert set(keys.values()) == set(live_keys(world))  # topped up, never replaced
    intents = await table(sctx, KeyMutation)
    applied = [i.snapshot_id for i in intents if i.status == "APPLIED"]
    stopped = [i.snapshot_id for i in intents if i.status == "NOT_APPLIED"]
    assert {i.status for i in intents} <= {"APPLIED", "NOT_APPLIED"}
    # Every top-up allocation applied by exactly one intent: the crashed PATCH was settled,
    # not sent again. Another holder's PATCH the crash stopped before OpenRouter processed it
    # is settled NOT_APPLIED, and its allocation is then given once, by a new intent.
    top_ups = len(await table(sctx, AllocationSnapshot)) - len(keys)
    assert len(applied) == len(set(applied)) == top_ups
    assert set(stopped) <= set(applied)
    # One PATCH per applied intent, plus any stopped one that reached OpenRouter unprocessed.
    assert top_ups <= world.calls("openrouter", "PATCH") <= top_ups + len(stopped)


async def test_patches_applied_with_lost_answers_are_settled_not_repeated(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30, wallet(3): 60})
    strategy = await make_strategy(
        sctx,
        owner_wallet=OWNER,
        distribution_token=MINT,
        key_config={"default_limit_usd": 100, "limit_reset": None},
    )
    await first_run_with_room_left(sctx, world, strategy.strategy_id)
    # Every PATCH is carried out, and its answer lost: the retries too.
    emulator.arm_fault(world, emulator.PATCH_APPLIED_THEN_500, times=None)
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 300_000_000)
    clock.advance(minutes=1)
    failed = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "PROVISIONING")
    assert failed.error.code in ("OPENROUTER_5XX", "OPENROUTER_UNAVAILABLE")
    assert failed.error.detail.startswith("3 of 3 allocations not provisioned")
    patches = world.calls("openrouter", "PATCH")
    assert patches >= 1

    emulator.disarm_faults(world)
    clock.advance(minutes=2)
    resumed = await runs.resume_run(sctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    await assert_limits_are_what_is_due(sctx, world)
    statuses = Counter(i.status for i in await table(sctx, KeyMutation))
    assert statuses["APPLIED"] == 3 and statuses["PENDING"] == 0
