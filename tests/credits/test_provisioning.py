"""PROVISIONING over the fakes: a run that leaves any allocation unprovisioned fails (and its
resume finishes only what is left), and an expired key is never topped up."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from arenabrain.clients.errors import UpstreamError
from arenabrain.credits import runs
from arenabrain.credits.models import AllocationSnapshot, UserKey
from arenabrain.credits.phases import HANDLERS
from tests.credits.conftest import HOLDER_A, HOLDER_B, HOLDER_C, make_strategy
from tests.credits.fakes import wallet

RUNBOOK_SQL = (
    "SELECT run_id, state, error_code, error_detail FROM runs "
    "WHERE state = 'FAILED' ORDER BY started_at DESC LIMIT 10;"
)


def failed_runs_with_sqlite3(db_path) -> list[list[str]]:
    """The runbook's failed-runs statement, verbatim, through the real `sqlite3` tool."""
    tool = shutil.which("sqlite3")
    assert tool is not None, "the sqlite3 command-line tool is needed for the runbook's SQL"
    out = subprocess.run([tool, str(db_path), RUNBOOK_SQL], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [line.split("|", 3) for line in out.stdout.strip().splitlines()]


def server_error(label: str = "POST keys") -> UpstreamError:
    return UpstreamError(
        "openrouter", f"{label} answered 500: Internal Server Error", status=500, transient=True
    )


async def allocations(ctx, run_id: str) -> dict[str, AllocationSnapshot]:
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(AllocationSnapshot).where(AllocationSnapshot.run_id == run_id)
        )
        return {r.holder_wallet: r for r in rows}


async def user_keys(ctx) -> list[UserKey]:
    async with ctx.db.read() as session:
        return list(await session.scalars(select(UserKey)))


async def test_partial_provisioning_fails_naming_the_wallets_left_and_resume_provisions_only_them(
    make_ctx, world, clock, db_path
) -> None:
    for n in range(4, 11):  # ten holders in all
        world.holders.hold(wallet(n), 150 - n)
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)
    real_create = world.keys.create_key

    async def create_then_500(*args, **kwargs):
        # OpenRouter's POST /keys answers 500 once three keys exist.
        if len(world.keys.keys) >= 3:
            world.keys.faults.calls["create_key"] += 1
            raise server_error()
        return await real_create(*args, **kwargs)

    world.keys.create_key = create_then_500
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")

    assert failed.state == "FAILED"
    assert (failed.error.failed_state, failed.error.code) == ("PROVISIONING", "OPENROUTER_5XX")
    plan = await allocations(ctx, failed.run_id)
    assert len(plan) == 10
    left = sorted(w for w, a in plan.items() if a.key_hash is None)
    assert len(left) == 7 and len(world.keys.keys) == 3
    assert failed.error.detail.startswith("7 of 10 allocations not provisioned")
    assert all(w in failed.error.detail for w in left)
    assert "500" in failed.error.detail
    (row,) = failed_runs_with_sqlite3(db_path)
    assert row[:3] == [failed.run_id, "FAILED", "OPENROUTER_5XX"]
    assert row[3] == failed.error.detail

    # The upstream is back; past the breaker's cooldown the resume provisions only the 7.
    world.keys.create_key = real_create
    clock.advance(minutes=2)
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert (resumed.keys_provisioned, resumed.keys_updated) == (10, 0)
    assert len(world.keys.keys) == 10 and world.keys.deleted == []
    assert world.keys.faults.calls["update_key"] == 0
    plan = await allocations(ctx, failed.run_id)
    stored = {k.holder_wallet: k for k in await user_keys(ctx)}
    assert set(stored) == set(plan)
    for holder, allocation in plan.items():
        key = stored[holder]
        assert allocation.key_hash == key.openrouter_key_hash
        assert world.keys.keys[key.openrouter_key_hash].limit * 100 == allocation.allocated_cents
        assert key.limit_usd_cents == key.total_allocated_cents == allocation.allocated_cents
    assert failed_runs_with_sqlite3(db_path) == []


async def test_a_run_whose_key_listing_fails_names_every_wallet_left(
    make_ctx, world, use_handlers
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(ctx)

    def wrap(state, handler):
        async def wrapped(pc):
            if state == "PROVISIONING":  # OpenRouter breaks once the plan is made
                world.keys.faults.fail("list_keys", *[server_error("GET keys")] * 4)
            return await handler(pc)

        return wrapped

    use_handlers({s: wrap(s, h) for s, h in HANDLERS.items()})
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "PROVISIONING")
    assert failed.error.code in ("OPENROUTER_5XX", "OPENROUTER_UNAVAILABLE")
    assert failed.error.detail.startswith("3 of 3 allocations not provisioned")
    assert all(w in failed.error.detail for w in (HOLDER_A, HOLDER_B, HOLDER_C))
    assert world.keys.keys == {}


async def test_an_expired_key_is_never_topped_up_and_its_holder_gets_a_fresh_key(
    make_ctx, world, clock
) -> None:
    ctx = await make_ctx()
    strategy = await make_strategy(
        ctx, key_config={"default_limit_usd": 100, "limit_reset": None, "expiry_days": 1}
    )
    first = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert first.state == "COMPLETE", first.error
    old = {k.holder_wallet: k.openrouter_key_hash for k in await user_keys(ctx)}
    for key_hash in old.values():
        world.keys.spend(key_hash, Decimal(40))  # room for a second allocation to everyone
    clock.advance(days=1)  # every key expires now (expires_at <= now)
    world.bags.claimable = {wallet(50): 1_000_000_000}
    second = await runs.start_run(ctx, strategy.strategy_id, "api")

    assert second.state == "COMPLETE", second.error
    assert world.keys.faults.calls["update_key"] == 0  # no expired key was topped up
    plan = await allocations(ctx, second.run_id)
    assert plan, "the second run allocated something"
    assert set(plan) == {HOLDER_A, HOLDER_B, HOLDER_C}
    assert (second.keys_provisioned, second.keys_updated) == (3, 0)
    keys = await user_keys(ctx)
    by_hash = {k.openrouter_key_hash: k for k in keys}
    assert {by_hash[h].status for h in old.values()} == {"EXPIRED"}
    fresh = {k.holder_wallet: k for k in keys if k.status == "ACTIVE"}
    assert set(fresh) == set(plan)
    for holder, allocation in plan.items():
        key = fresh[holder]
        assert key.openrouter_key_hash != old[holder]
        assert allocation.key_hash == key.openrouter_key_hash
        remote = world.keys.keys[key.openrouter_key_hash]
        assert remote.limit * 100 == allocation.allocated_cents
        assert remote.expires_at == clock.now() + timedelta(days=1)
    status = await runs.run_status(ctx, run_id=second.run_id)
    expired = [e.details for e in status.audit_log if e.action == "provision:key-expired"]
    assert sorted(d["keyHash"] for d in expired) == sorted(old[h] for h in plan)


async def test_a_dry_run_plans_a_fresh_key_for_an_expired_one(make_ctx, world, clock) -> None:
    live = await make_ctx()
    strategy = await make_strategy(
        live, key_config={"default_limit_usd": 100, "limit_reset": None, "expiry_days": 1}
    )
    assert (await runs.start_run(live, strategy.strategy_id, "api")).state == "COMPLETE"
    old = {k.holder_wallet: k.openrouter_key_hash for k in await user_keys(live)}
    for key_hash in old.values():
        world.keys.spend(key_hash, Decimal(40))
    clock.advance(days=1, seconds=1)
    world.bags.claimable = {wallet(50): 1_000_000_000}
    dry = await make_ctx(DRY_RUN="true")
    run = await runs.start_run(dry, strategy.strategy_id, "api")
    assert (run.state, run.dry_run) == ("COMPLETE", True)
    status = await runs.run_status(dry, run_id=run.run_id)
    details = status.audit_log[-1].details
    assert (details["wouldCreate"], details["wouldTopUp"]) == (3, 0)
    assert {p["wallet"]: p["replacesExpired"] for p in details["plan"]} == old
    assert world.keys.faults.calls["update_key"] == 0 and len(world.keys.keys) == 3
