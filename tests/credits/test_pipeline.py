"""The whole pipeline through the runner, over the fakes: a complete run and its records."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from arenabrain.credits import runs
from arenabrain.credits.keystore import KeyStore
from arenabrain.credits.models import (
    AllocationSnapshot,
    ClaimTransaction,
    CreditPoolAllocation,
    HolderSnapshot,
    UserKey,
)
from arenabrain.credits.phases.treasury import SKIPPED_REASON
from tests.credits.conftest import HOLDER_A, HOLDER_B, HOLDER_C, KEK, make_strategy


async def rows(ctx, model, *where):
    async with ctx.db.read() as session:
        return list(await session.scalars(select(model).where(*where)))


async def test_a_complete_run_claims_swaps_allocates_and_provisions(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")

    assert run.state == "COMPLETE", run.error
    assert run.error is None
    assert run.claimed_lamports == 1_500_000_000
    assert run.claimed_sol == Decimal("1.5")
    # The quote said $225.00; the balance grew by $223.875: the change is carried forward.
    assert run.swapped_usdc == Decimal("223.875")
    assert run.bridged_usdc is None and run.bridging_skipped_reason == SKIPPED_REASON
    assert run.funded_usdc is None and run.funding_skipped_reason == SKIPPED_REASON
    assert run.allocated_usd == Decimal("223.87")
    assert (run.keys_provisioned, run.keys_updated) == (3, 0)
    assert run.finished_at is not None

    # Capped at $100, the excess of A goes to B and C 3:2 (exact cents).
    snaps = {s.holder_wallet: s.allocated_cents for s in await rows(cctx, AllocationSnapshot)}
    assert snaps == {HOLDER_A: 10000, HOLDER_B: 7432, HOLDER_C: 4955}
    limits = {k.name.split("-")[2]: k.limit for k in world.keys.keys.values()}
    assert sorted(limits.values()) == [Decimal("49.55"), Decimal("74.32"), Decimal("100.00")]
    assert all(k.limit_reset == "monthly" for k in world.keys.keys.values())

    stored = await rows(cctx, UserKey)
    assert {k.holder_wallet for k in stored} == {HOLDER_A, HOLDER_B, HOLDER_C}
    store = KeyStore(KEK)
    for key in stored:
        plaintext = store.decrypt(key.encrypted_key, key.openrouter_key_hash)
        assert plaintext == world.keys.keys[key.openrouter_key_hash].plaintext
        assert plaintext not in key.encrypted_key
        assert key.limit_usd_cents == snaps[key.holder_wallet]
        assert key.total_allocated_cents == snaps[key.holder_wallet]
        assert key.expires_at is not None

    claims = await rows(cctx, ClaimTransaction)
    assert sorted(c.lamports_expected for c in claims) == [500_000_000, 1_000_000_000]
    assert {c.status for c in claims} == {"confirmed"}
    assert world.bags.claimable == {k: 0 for k in world.bags.claimable}
    ledger = await rows(cctx, CreditPoolAllocation)
    assert [e.amount_cents for e in ledger] == [22387]
    holders = await rows(cctx, HolderSnapshot)
    assert {h.holder_wallet: h.token_balance for h in holders} == {
        HOLDER_A: "500",
        HOLDER_B: "300",
        HOLDER_C: "200",
    }


async def test_every_transition_is_audited_in_order(cctx, world) -> None:
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    status = await runs.run_status(cctx, run_id=run.run_id)
    transitions = [
        e.action
        for e in status.audit_log
        if e.action.startswith(("start:", "transition:", "fail:", "resume:"))
    ]
    assert transitions == [
        "start:PENDING->CLAIMING",
        "transition:CLAIMING->SWAPPING",
        "transition:SWAPPING->BRIDGING",
        "transition:BRIDGING->FUNDING",
        "transition:FUNDING->ALLOCATING",
        "transition:ALLOCATING->PROVISIONING",
        "transition:PROVISIONING->COMPLETE",
    ]
    phases = [e.phase for e in status.audit_log if e.action.startswith(("start:", "transition:"))]
    assert phases == [
        "PENDING",
        "CLAIMING",
        "SWAPPING",
        "BRIDGING",
        "FUNDING",
        "ALLOCATING",
        "PROVISIONING",
    ]
    by_action = {e.action: e for e in status.audit_log}
    assert by_action["transition:CLAIMING->SWAPPING"].tx_signature is not None
    assert by_action["transition:BRIDGING->FUNDING"].details["reason"] == SKIPPED_REASON
    assert by_action["transition:ALLOCATING->PROVISIONING"].details["allocatedUsd"] == "223.87"
    assert sum(1 for e in status.audit_log if e.action == "claim:confirmed") == 2
    assert sum(1 for e in status.audit_log if e.action == "provision:create") == 3


async def test_the_next_run_tops_keys_up_without_lowering_what_holders_can_spend(
    cctx, world
) -> None:
    strategy = await make_strategy(cctx)
    await runs.start_run(cctx, strategy.strategy_id, "api")
    by_wallet = {k.holder_wallet: k.openrouter_key_hash for k in await rows(cctx, UserKey)}
    # B spends $70 of $74.32; new fees arrive.
    world.keys.spend(by_wallet[HOLDER_B], Decimal(70))
    world.bags.claimable = {"X" * 43: 1_000_000_000}
    second = await runs.start_run(cctx, strategy.strategy_id, "api")

    assert second.state == "COMPLETE", second.error
    assert (second.keys_provisioned, second.keys_updated) == (0, 2)
    remaining = {
        w: world.keys.view(world.keys.keys[h]).limit_remaining for w, h in by_wallet.items()
    }
    snaps = {
        s.holder_wallet: s.allocated_cents
        for s in await rows(cctx, AllocationSnapshot, AllocationSnapshot.run_id == second.run_id)
    }
    # A is at the $100 cap already: nothing more. B had $4.32 left; C $49.55.
    assert HOLDER_A not in snaps
    assert remaining[HOLDER_B] == Decimal("4.32") + Decimal(snaps[HOLDER_B]) / 100
    assert remaining[HOLDER_C] == Decimal("49.55") + Decimal(snaps[HOLDER_C]) / 100
    assert len(world.keys.keys) == 3  # no new key for anyone
    # Monthly keys: the $100 cap bounds the monthly budget, so both limits stop at $100
    # (B still has this month's $30 to spend); the rest stays in the pool.
    assert {w: world.keys.keys[h].limit for w, h in by_wallet.items()} == {
        HOLDER_A: Decimal(100),
        HOLDER_B: Decimal(100),
        HOLDER_C: Decimal(100),
    }
    assert remaining[HOLDER_B] == Decimal(30)
    keys = {k.holder_wallet: k for k in await rows(cctx, UserKey)}
    assert keys[HOLDER_B].total_allocated_cents == 7432 + snaps[HOLDER_B]
    assert keys[HOLDER_B].limit_usd_cents == 10000


async def test_keys_without_a_reset_are_capped_on_unspent_credit(cctx, world) -> None:
    strategy = await make_strategy(cctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    await runs.start_run(cctx, strategy.strategy_id, "api")
    by_wallet = {k.holder_wallet: k.openrouter_key_hash for k in await rows(cctx, UserKey)}
    assert {world.keys.keys[h].limit_reset for h in by_wallet.values()} == {None}
    world.keys.spend(by_wallet[HOLDER_A], Decimal(90))  # A has $10 of $100 left
    world.bags.claimable = {"X" * 43: 1_000_000_000}
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "COMPLETE", second.error
    snaps = {
        s.holder_wallet: s.allocated_cents
        for s in await rows(cctx, AllocationSnapshot, AllocationSnapshot.run_id == second.run_id)
    }
    view = {w: world.keys.view(world.keys.keys[h]) for w, h in by_wallet.items()}
    # A's lifetime limit grows past $100: what is capped is unspent credit ($10 + allocation).
    assert view[HOLDER_A].limit == Decimal(100) + Decimal(snaps[HOLDER_A]) / 100
    assert view[HOLDER_A].limit_remaining == Decimal(10) + Decimal(snaps[HOLDER_A]) / 100
    assert all(v.limit_remaining <= Decimal(100) for v in view.values())


async def test_logs_inside_a_run_carry_the_run_id(cctx, world) -> None:
    import io
    import json

    from arenabrain.logging import configure_logging

    out = io.StringIO()
    configure_logging("info", stream=out)
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    inside = [line for line in lines if line["msg"].startswith(("State transition", "Executing"))]
    assert len(inside) == 13
    assert all(line["runId"] == run.run_id for line in inside)
    assert all(line["level"] == "info" for line in inside)
