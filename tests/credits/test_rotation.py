"""Rotating and revoking holder keys over the fakes: the new key keeps the remaining allowance,
the reset and the expiry; the holder collects it with a signature; a crash after any
OpenRouter call is finished by the next rotation, the daily job or the next pipeline run, and
never leaves two live keys for one holder; DRY_RUN, the kill switch and a run in progress
refuse it before OpenRouter is asked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.clients.errors import UpstreamError
from arenabrain.credits import collection, locks, rotation, runs
from arenabrain.credits.models import KeyMutation, KeyRotation, UserKey
from arenabrain.errors import AppError
from tests.credits.conftest import HOLDER_A, make_strategy
from tests.credits.fakes import FEE_MINT_A, Crash, holder_keypair, transient


async def provisioned(make_ctx, world, **env):
    """A context whose strategy ran once: three holders with a key each."""
    ctx = await make_ctx(**env)
    strategy = await make_strategy(ctx)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    return ctx, strategy.strategy_id


async def rows(ctx, model, **where):
    async with ctx.db.read() as session:
        query = select(model).execution_options(populate_existing=True)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return list(await session.scalars(query))


async def live_keys_of(ctx, wallet: str) -> list[UserKey]:
    return [k for k in await rows(ctx, UserKey, holder_wallet=wallet) if k.status == "ACTIVE"]


def enabled_remote_keys(world) -> list[str]:
    return [h for h, k in world.keys.keys.items() if not k.disabled]


async def test_a_rotated_key_keeps_the_remaining_allowance_the_reset_and_the_expiry(
    make_ctx, world
) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    [old] = await live_keys_of(ctx, HOLDER_A)
    world.keys.spend(old.openrouter_key_hash, Decimal("12.345"))  # $100 limit, monthly
    result = await rotation.rotate_wallet(ctx, HOLDER_A)

    new = world.keys.keys[result.new_hash]
    assert new.limit == Decimal("87.65")  # what was left, floored to the cent
    assert new.limit_reset == "monthly" and new.expires_at == old.expires_at
    assert old.openrouter_key_hash not in world.keys.keys  # disabled, then deleted
    assert result.old_hash == old.openrouter_key_hash
    assert result.spending_limit_usd == Decimal("87.65")
    [live] = await live_keys_of(ctx, HOLDER_A)
    assert live.openrouter_key_hash == result.new_hash and live.encrypted_key
    assert live.limit_usd_cents == 8765 and live.expires_at == old.expires_at
    [retired] = await rows(ctx, UserKey, key_id=old.key_id)
    assert retired.status == "ROTATED" and retired.encrypted_key is None
    [entry] = await rows(ctx, KeyRotation)
    assert (entry.kind, entry.status, entry.trigger) == ("ROTATE", "DONE", "api")
    assert entry.new_key_hash == result.new_hash and entry.limit_usd_cents == 8765


async def test_the_old_key_is_disabled_before_its_allowance_is_read(make_ctx, world) -> None:
    # Read while still usable, a spend between the read and the switch would be given twice.
    ctx, _ = await provisioned(make_ctx, world)
    [old] = await live_keys_of(ctx, HOLDER_A)
    reads: list[bool] = []
    get_key = world.keys.get_key

    async def watching(key_hash: str):
        found = await get_key(key_hash)
        if key_hash == old.openrouter_key_hash:
            reads.append(found is not None and found.disabled)
        return found

    world.keys.get_key = watching  # type: ignore[method-assign]
    await rotation.rotate_wallet(ctx, HOLDER_A)
    assert reads[-1] is True


async def test_a_holder_collects_the_rotated_key_once_with_a_signature(make_ctx, world) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    result = await rotation.rotate_wallet(ctx, HOLDER_A)
    holder = holder_keypair(1)
    assert str(holder.pubkey()) == HOLDER_A
    challenge = await collection.issue_challenge(ctx, HOLDER_A)
    signature = str(holder.sign_message(challenge.message.encode()))
    got = await collection.collect_key(ctx, HOLDER_A, challenge.nonce, signature)
    assert got.key_hash == result.new_hash
    assert got.key == world.keys.keys[result.new_hash].plaintext
    with pytest.raises(AppError) as again:
        await collection.issue_challenge(ctx, HOLDER_A)
    assert again.value.status_code == 404


async def test_a_nonce_issued_for_the_old_key_cannot_collect_anything(make_ctx, world) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    challenge = await collection.issue_challenge(ctx, HOLDER_A)
    await rotation.rotate_wallet(ctx, HOLDER_A)
    signature = str(holder_keypair(1).sign_message(challenge.message.encode()))
    with pytest.raises(AppError) as refused:
        await collection.collect_key(ctx, HOLDER_A, challenge.nonce, signature)
    assert refused.value.status_code == 409
    [live] = await live_keys_of(ctx, HOLDER_A)
    assert live.encrypted_key is not None  # the new key still waits for its holder


# --- crashes ------------------------------------------------------------------------------------

# The OpenRouter call of the rotation right after whose effect the process dies.
CRASHES = {
    "after-disable": "update_key",
    "after-create": "create_key",
    "after-delete": "delete_key",
}


async def finish_by_rotation(ctx, sid) -> None:
    await rotation.rotate_wallet(ctx, HOLDER_A)


async def finish_by_daily_job(ctx, sid) -> None:
    result = await rotation.rotate_due(ctx)
    assert result["finished"] == 1 and not result["failed"], result


async def finish_by_next_run(ctx, sid) -> None:
    run = await runs.start_run(ctx, sid, "api")
    assert run.state == "COMPLETE", run.error


@pytest.mark.parametrize("crash", CRASHES, ids=list(CRASHES))
@pytest.mark.parametrize(
    "finish",
    [finish_by_rotation, finish_by_daily_job, finish_by_next_run],
    ids=["next-rotation", "daily-job", "next-run"],
)
async def test_a_rotation_interrupted_after_any_step_is_finished_and_leaves_one_live_key(
    make_ctx, world, clock, crash, finish
) -> None:
    ctx, sid = await provisioned(make_ctx, world)
    [old] = await live_keys_of(ctx, HOLDER_A)
    world.keys.spend(old.openrouter_key_hash, Decimal("40"))
    operation = CRASHES[crash]
    world.keys.faults.crash_at(operation, world.keys.faults.calls[operation] + 1)
    with pytest.raises(Crash):
        await rotation.rotate_wallet(ctx, HOLDER_A)
    clock.advance(minutes=61)  # the dead process's lock expires

    await finish(ctx, sid)

    [entry, *later] = sorted(await rows(ctx, KeyRotation), key=lambda e: e.created_at)
    assert entry.status == "DONE" and all(e.status == "DONE" for e in later)
    live = await live_keys_of(ctx, HOLDER_A)
    assert len(live) == 1 and live[0].encrypted_key is not None
    mine = [h for h, k in world.keys.keys.items() if k.name.split("-")[2] == HOLDER_A[:8]]
    assert mine == [live[0].openrouter_key_hash]  # no orphan, no old key left on OpenRouter
    assert old.openrouter_key_hash not in world.keys.keys
    remote = world.keys.keys[live[0].openrouter_key_hash]
    assert not remote.disabled
    if finish is not finish_by_rotation or entry.new_key_hash is not None:
        # The interrupted rotation itself gave the holder exactly what was left.
        assert remote.limit - remote.usage == Decimal("60")


async def test_a_lost_create_answer_leaves_no_second_key(make_ctx, world, clock) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    world.keys.faults.lose("create_key", transient("openrouter", "POST keys timed out"))
    with pytest.raises(UpstreamError, match="timed out"):
        await rotation.rotate_wallet(ctx, HOLDER_A)
    [entry] = await rows(ctx, KeyRotation)
    assert entry.status == "DISABLED" and "timed out" in (entry.error or "")
    assert len(world.keys.keys) == 4  # the lost create went through

    result = await rotation.rotate_wallet(ctx, HOLDER_A)  # finishes that one; no new rotation
    assert result.rotation_id == entry.id
    assert len(world.keys.keys) == 3
    assert [k.openrouter_key_hash for k in await live_keys_of(ctx, HOLDER_A)] == [result.new_hash]


# --- revocation ---------------------------------------------------------------------------------


async def test_revoking_disables_then_deletes_and_frees_the_wallet_for_a_new_key(
    make_ctx, world
) -> None:
    ctx, sid = await provisioned(make_ctx, world)
    [old] = await live_keys_of(ctx, HOLDER_A)
    calls: list[str] = []
    for name in ("update_key", "delete_key"):
        original = getattr(world.keys, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        setattr(world.keys, name, spy)
    revoked = await rotation.revoke_wallet(ctx, HOLDER_A)
    assert revoked.wallet == HOLDER_A and revoked.hash == old.openrouter_key_hash
    assert calls == ["update_key", "delete_key"]
    assert old.openrouter_key_hash not in world.keys.keys
    [row] = await rows(ctx, UserKey, key_id=old.key_id)
    assert row.status == "REVOKED" and row.encrypted_key is None
    # The next run gives the holder a new key.
    world.bags.claimable = {FEE_MINT_A: 1_000_000_000}
    run = await runs.start_run(ctx, sid, "api")
    assert run.state == "COMPLETE", run.error
    assert len(await live_keys_of(ctx, HOLDER_A)) == 1


async def test_a_revocation_interrupted_after_the_disable_is_finished_by_the_next_revoke_call(
    make_ctx, world, clock
) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    [old] = await live_keys_of(ctx, HOLDER_A)
    world.keys.faults.crash_at("update_key", world.keys.faults.calls["update_key"] + 1)
    with pytest.raises(Crash):
        await rotation.revoke_wallet(ctx, HOLDER_A)
    clock.advance(minutes=61)
    assert world.keys.keys[old.openrouter_key_hash].disabled  # not deleted yet
    again = await rotation.revoke_hash(ctx, old.openrouter_key_hash)
    assert again.hash == old.openrouter_key_hash
    assert old.openrouter_key_hash not in world.keys.keys
    assert [e.status for e in await rows(ctx, KeyRotation)] == ["DONE"]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "status"),
    [({"DRY_RUN": "true"}, 409), ({"EXECUTION_KILL_SWITCH": "true"}, 403)],
    ids=["dry-run", "kill-switch"],
)
async def test_rotation_and_revocation_are_refused_under_dry_run_and_the_kill_switch(
    make_ctx, world, env, status
) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    guarded = await make_ctx(**env)
    before = world.mutations()
    for attempt in (
        rotation.rotate_wallet(guarded, HOLDER_A),
        rotation.revoke_wallet(guarded, HOLDER_A),
    ):
        with pytest.raises(AppError) as refused:
            await attempt
        assert refused.value.status_code == status
    assert world.mutations() == before
    assert (await rotation.rotate_due(guarded))["rotated"] == 0
    assert world.mutations() == before and await rows(ctx, KeyRotation) == []


async def test_a_rotation_never_runs_beside_a_run_of_the_same_strategy(make_ctx, world) -> None:
    ctx, sid = await provisioned(make_ctx, world)
    async with ctx.db.write() as session:
        await locks.acquire(session, sid, "a-running-run", ctx.clock.now())
    before = world.mutations()
    with pytest.raises(locks.RunInProgress):
        await rotation.rotate_wallet(ctx, HOLDER_A)
    assert world.mutations() == before
    # And the other way round: a run cannot start while a rotation holds the lock.
    async with ctx.db.write() as session:
        await locks.release(session, sid, "a-running-run")
    async with rotation.holding(ctx, sid):
        with pytest.raises(locks.RunInProgress):
            await runs.start_run(ctx, sid, "api")


async def test_a_key_with_an_unsettled_top_up_is_not_rotated(make_ctx, world, clock) -> None:
    from tests.credits.fakes import timed_out

    ctx, sid = await provisioned(make_ctx, world)
    world.bags.claimable = {FEE_MINT_A: 1_000_000_000}
    world.keys.faults.fail("update_key", *[timed_out("openrouter", "PATCH keys")] * 4)
    failed = await runs.start_run(ctx, sid, "api")  # tops up: the PATCH's outcome is unknown
    assert failed.state == "FAILED"
    pending, *_ = await rows(ctx, KeyMutation, status="PENDING")
    with pytest.raises(AppError, match="not settled") as refused:
        await rotation.rotate_wallet(ctx, pending.holder_wallet)
    assert refused.value.status_code == 409
    assert await rows(ctx, KeyRotation) == []


async def test_rotation_needs_the_key_encryption_key(make_ctx, world) -> None:
    await provisioned(make_ctx, world)
    bare = await make_ctx(KEY_ENCRYPTION_KEY="")
    before = world.mutations()
    with pytest.raises(AppError) as refused:
        await rotation.rotate_wallet(bare, HOLDER_A)
    assert refused.value.status_code == 503 and "KEY_ENCRYPTION_KEY" in refused.value.message
    assert world.mutations() == before


async def test_unknown_wallets_are_404(make_ctx, world) -> None:
    ctx, _ = await provisioned(make_ctx, world)
    for attempt in (
        rotation.rotate_wallet(ctx, str(holder_keypair(99).pubkey())),
        rotation.revoke_wallet(ctx, str(holder_keypair(99).pubkey())),
        rotation.revoke_hash(ctx, "f" * 64),
    ):
        with pytest.raises(AppError) as missing:
            await attempt
        assert missing.value.status_code == 404


# --- the daily job ------------------------------------------------------------------------------


async def test_the_daily_job_rotates_only_keys_older_than_key_rotation_days(
    make_ctx, world, clock
) -> None:
    ctx, _ = await provisioned(make_ctx, world, KEY_ROTATION_DAYS="30")
    clock.advance(days=29)
    assert (await rotation.rotate_due(ctx))["rotated"] == 0
    clock.advance(days=1)
    result = await rotation.rotate_due(ctx)
    assert result["rotated"] == 3 and not result["failed"]
    entries = await rows(ctx, KeyRotation)
    assert {e.trigger for e in entries} == {"scheduler"}
    assert all("KEY_ROTATION_DAYS" in (e.reason or "") for e in entries)
    clock.advance(days=1)
    assert (await rotation.rotate_due(ctx))["rotated"] == 0  # the new keys are a day old
    assert len(enabled_remote_keys(world)) == 3


async def test_the_daily_job_skips_a_strategy_whose_run_is_in_progress(
    make_ctx, world, clock
) -> None:
    ctx, sid = await provisioned(make_ctx, world, KEY_ROTATION_DAYS="1")
    clock.advance(days=2)
    async with ctx.db.write() as session:
        await locks.acquire(session, sid, "a-running-run", ctx.clock.now())
    result = await rotation.rotate_due(ctx)
    assert result["rotated"] == 0 and sid in result["skipped"]
    assert world.mutations()["create_key"] == 3  # the run's keys only
