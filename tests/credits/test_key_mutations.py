"""The key mutation journal: how an unfinished top-up is settled from the key's real state, the
database rules that keep a top-up at most once, and each outcome through a resumed run."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.credits import runs, staged
from arenabrain.credits.locks import LOCK_TTL
from arenabrain.credits.models import AllocationSnapshot, KeyMutation, UserKey
from arenabrain.credits.mutations import Intent, Outcome, outcome, stage_intent, stage_settle
from tests.credits.conftest import make_strategy
from tests.credits.fakes import Crash, wallet

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def key(limit: Decimal | None) -> OpenRouterKey:
    return OpenRouterKey(
        hash="h1",
        name="k",
        disabled=False,
        limit=limit,
        limit_remaining=limit,
        limit_reset=None,
        usage=D(0),
        usage_daily=D(0),
        usage_weekly=D(0),
        usage_monthly=D(0),
        created_at=None,
        updated_at=None,
        expires_at=None,
    )


OUTCOME_CASES = [
    # (id, before, after, key as it is now, outcome)
    ("limit-is-after", D(10), D("24.93"), key(D("24.93")), Outcome.APPLIED),
    ("limit-is-before", D(10), D("24.93"), key(D(10)), Outcome.NOT_APPLIED),
    # OpenRouter keeps limits as JSON numbers: a float's last digits do not make it unknown.
    ("float-rounding", D(10), D("24.93"), key(D("24.930000000001")), Outcome.APPLIED),
    # Spending never moves a limit: another value means someone else changed it.
    ("another-limit", D(10), D("24.93"), key(D(50)), Outcome.UNKNOWN),
    ("limit-removed", D(10), D("24.93"), key(None), Outcome.UNKNOWN),
    ("key-gone", D(10), D("24.93"), None, Outcome.UNKNOWN),
    # After usage overran the limit, "after" is usage + allocation, far from "before".
    ("after-an-overrun", D(10), D("17.40"), key(D("17.40")), Outcome.APPLIED),
]


@pytest.mark.parametrize(
    ("before", "after", "now", "expected"),
    [c[1:] for c in OUTCOME_CASES],
    ids=[c[0] for c in OUTCOME_CASES],
)
def test_an_unfinished_top_up_is_judged_from_the_keys_limit(before, after, now, expected) -> None:
    assert outcome(before, after, now) is expected


async def a_run_with_a_plan(ctx, world) -> tuple[str, dict[str, AllocationSnapshot]]:
    strategy = await make_strategy(ctx)
    assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"
    async with ctx.db.read() as session:
        rows = await session.scalars(select(AllocationSnapshot))
        return strategy.strategy_id, {r.holder_wallet: r for r in rows}


async def test_a_key_holds_one_pending_intent_and_an_allocation_is_held_once(cctx, world) -> None:
    strategy_id, plan = await a_run_with_a_plan(cctx, world)
    snap = next(iter(plan.values()))

    def intent(**changes) -> Intent:
        values = {
            "key_hash": "hash-1",
            "strategy_id": strategy_id,
            "holder_wallet": snap.holder_wallet,
            "run_id": snap.run_id,
            "snapshot_id": snap.snapshot_id,
            "allocated_cents": 500,
            "before": D(10),
            "after": D(15),
            "now": NOW,
        } | changes
        return Intent.new(**values)

    async def record(written: Intent) -> None:
        async with cctx.db.write() as session:
            stage_intent(session, written, NOW)
            await staged.write_staged(session)

    async def settle(written: Intent) -> Outcome:
        async with cctx.db.write() as session:
            result = stage_settle(session, written, key(D(15)), "run-x", NOW)
            await staged.write_staged(session)
        return result

    first = intent()
    await record(first)
    with pytest.raises(IntegrityError):  # a second PENDING intent on the same key
        await record(intent(snapshot_id=plan[sorted(plan)[1]].snapshot_id))
    assert await settle(first) is Outcome.APPLIED
    with pytest.raises(staged.StagedRowsMissing):  # already APPLIED: never settled twice
        await settle(first)
    with pytest.raises(IntegrityError):  # the same allocation again, on any key
        await record(intent(key_hash="hash-2", before=D(15), after=D(20)))
    await record(intent(snapshot_id=plan[sorted(plan)[1]].snapshot_id))  # a settled key's next


async def crash_during_a_top_up(make_ctx, world, clock, *, applied: bool):
    """A first run gives everyone a key; a second run dies at its first PATCH, after OpenRouter
    applied it or before it was sent. Returns the context, the crashed run, the keys, the
    intent of that PATCH and how many other holders' intents the crash left PENDING (holders
    whose intent was committed, in the same group or the next, and whose PATCH was never
    sent: the crash stopped them)."""
    ctx = await make_ctx()
    strategy = await make_strategy(ctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    assert (await runs.start_run(ctx, strategy.strategy_id, "api")).state == "COMPLETE"
    async with ctx.db.read() as session:
        keys = {
            k.holder_wallet: k.openrouter_key_hash for k in await session.scalars(select(UserKey))
        }
    for key_hash in keys.values():
        world.keys.spend(key_hash, world.keys.keys[key_hash].limit)
    world.bags.claimable = {wallet(50): 1_000_000_000}
    if applied:
        world.keys.faults.crash_at("update_key", 1)
    else:
        world.keys.faults.fail("update_key", Crash("before the PATCH was sent"))
    patched: list[str] = []
    update_key = world.keys.update_key

    async def recording_update_key(key_hash, **changes):
        patched.append(key_hash)
        return await update_key(key_hash, **changes)

    world.keys.update_key = recording_update_key
    clock.advance(seconds=1)
    with pytest.raises(Crash):
        await runs.start_run(ctx, strategy.strategy_id, "api")
    world.keys.update_key = update_key
    assert len(patched) == 1  # the crash stopped every other holder before its PATCH
    async with ctx.db.read() as session:
        crashed = (await runs.listing(session, strategy.strategy_id))[0]
        intents = list(await session.scalars(select(KeyMutation)))
    assert {(i.status, i.run_id) for i in intents} == {("PENDING", crashed.run_id)}
    (intent,) = [i for i in intents if i.key_hash == patched[0]]
    clock.advance(seconds=LOCK_TTL.total_seconds() + 60)
    return await make_ctx(), crashed, keys, intent, len(intents) - 1


async def limits_and_due(ctx, world, keys):
    async with ctx.db.read() as session:
        plan = list(await session.scalars(select(AllocationSnapshot)))
    due = {holder: 0 for holder in keys}
    for allocation in plan:
        due[allocation.holder_wallet] += allocation.allocated_cents
    return {h: world.keys.keys[k].limit * 100 for h, k in keys.items()}, due


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "never-sent"])
async def test_the_resume_settles_its_own_unfinished_top_up_and_owes_nothing_twice(
    make_ctx, world, clock, applied
) -> None:
    ctx, crashed, keys, intent, stopped = await crash_during_a_top_up(
        make_ctx, world, clock, applied=applied
    )
    patches = world.keys.faults.calls["update_key"]
    resumed = await runs.resume_run(ctx, crashed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    limits, due = await limits_and_due(ctx, world, keys)
    assert limits == due
    async with ctx.db.read() as session:
        settled = await session.get(KeyMutation, intent.id)
        statuses = sorted(m.status for m in await session.scalars(select(KeyMutation)))
    top_ups = 3
    # The holders the crash stopped before their PATCH are owed their top-up: NOT_APPLIED,
    # then given once by a new intent.
    if applied:
        assert settled.status == "APPLIED"
        assert statuses == ["APPLIED"] * top_ups + ["NOT_APPLIED"] * stopped
        assert world.keys.faults.calls["update_key"] == patches + top_ups - 1
    else:
        assert settled.status == "NOT_APPLIED"
        assert statuses == ["APPLIED"] * top_ups + ["NOT_APPLIED"] * (1 + stopped)
        assert world.keys.faults.calls["update_key"] == patches + top_ups
    status = await runs.run_status(ctx, run_id=crashed.run_id)
    action = "provision:topup" if applied else "provision:topup-not-applied"
    assert any(
        e.action == action and e.details["keyHash"] == intent.key_hash for e in status.audit_log
    )


async def test_a_limit_changed_by_someone_else_is_unknown_and_never_topped_up_again(
    make_ctx, world, clock
) -> None:
    ctx, crashed, _, intent, _ = await crash_during_a_top_up(make_ctx, world, clock, applied=True)
    world.keys.keys[intent.key_hash].limit = D(42)  # an operator set it in the dashboard
    patches = world.keys.faults.calls["update_key"]
    resumed = await runs.resume_run(ctx, crashed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert world.keys.keys[intent.key_hash].limit == D(42)
    assert world.keys.faults.calls["update_key"] == patches + 2  # only the other two holders
    async with ctx.db.read() as session:
        settled = await session.get(KeyMutation, intent.id)
        snapshot = await session.get(AllocationSnapshot, intent.snapshot_id)
        row = (
            await session.scalars(
                select(UserKey).where(UserKey.openrouter_key_hash == intent.key_hash)
            )
        ).one()
    assert (settled.status, settled.observed_limit) == ("UNKNOWN", "42")
    assert snapshot.key_hash == intent.key_hash  # counted as given: never sent again
    assert row.limit_usd_cents == 4200
    status = await runs.run_status(ctx, run_id=crashed.run_id)
    (unknown,) = [e for e in status.audit_log if e.action == "provision:topup-unknown"]
    assert unknown.details["observedLimit"] == "42"
    assert unknown.details["toLimit"] == intent.limit_after
    details = status.audit_log[-1].details
    assert details["topUpsUnknown"] == [unknown.details]
