"""End to end through the real clients and the sandbox emulators: real base58 transactions
signed with SIGNER_PRIVATE_KEY and verified by the emulated RPC, lamports and USDC that move,
a DAS holder snapshot with program-owned accounts, and OpenRouter keys whose plaintext the
holder can use."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from arenabrain.clients.solana import USDC_MINT
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.keystore import KeyStore
from arenabrain.credits.models import AllocationSnapshot, HolderSnapshot, UserKey
from arenabrain.credits.phases import HANDLERS
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.settings import Settings
from tests.conftest import FakeSleep
from tests.credits.conftest import KEK, SANDBOX_SIGNER, make_strategy, sandbox_credit_context
from tests.credits.fakes import Crash, wallet

OWNER_KEY = SANDBOX_SIGNER
OWNER = str(OWNER_KEY.pubkey())
MINT = wallet(210)
FEE_MINT_A, FEE_MINT_B = wallet(211), wallet(212)
TOTAL = 1_500_000_003


@pytest.fixture
async def sctx(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Context]:
    async with sandbox_credit_context(make_settings, clock, sandbox) as ctx:
        world = sandbox.world
        chain.set_balance(world, OWNER, 100_000_000)  # 0.1 SOL for fees
        bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 1_000_000_000)
        bags_emulator.add_claimable_position(
            # Two parts that differ (equal parts would make byte-identical transactions).
            world,
            OWNER,
            FEE_MINT_B,
            500_000_003,
            "fee_share_v2",
            tx_count=2,
        )
        openrouter_emulator.openrouter_state(world)["total_credits"] = 1000.0
        yield ctx


def live_keys(world) -> dict[str, dict[str, Any]]:
    return {
        h: k
        for h, k in openrouter_emulator.openrouter_state(world)["keys"].items()
        if not k.get("disabled")
    }


async def table(ctx, model, *where):
    async with ctx.db.read() as session:
        return list(await session.scalars(select(model).where(*where)))


async def test_a_real_run_through_the_emulators(sctx: Context, sandbox: Sandbox) -> None:
    world = sandbox.world
    holders = chain.generate_holders(world, MINT, 12, programs=3)
    strategy = await make_strategy(
        sctx, owner_wallet=OWNER, distribution_token=MINT, distribution_top_n=5
    )
    assert sctx.clients.signer.public_key == OWNER

    run = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    # Fees claimed on chain (one standard position, one fee-share position in two txs).
    assert run.claimed_lamports == TOTAL
    assert bags_emulator.claimable_lamports(world, OWNER) == 0
    assert world.calls("helius", "sendTransaction") == 4  # 1 + 2 claim txs, 1 swap
    # The swap's USDC is the balance change the emulated chain credited.
    usdc = chain.token_balance(world, OWNER, USDC_MINT)
    assert run.swapped_usdc == Decimal(usdc) / 10**6 and usdc > 0
    assert run.bridging_skipped_reason and run.funding_skipped_reason

    # Pool vaults (off-curve) are never allocated; the top 5 wallets are.
    snapshots = {h.holder_wallet: h for h in await table(sctx, HolderSnapshot)}
    for pda in holders.programs:
        assert snapshots[pda].excluded_reason == "off-curve"
    allocations = {
        a.holder_wallet: a.allocated_cents for a in await table(sctx, AllocationSnapshot)
    }
    top5 = sorted(holders.wallets, key=lambda w: (-holders.totals[w], w))[:5]
    assert set(allocations) == set(top5)
    assert sum(allocations.values()) == run.allocated_usd * 100

    # Every holder got a key with their allocation as limit, and can use the plaintext.
    keys = live_keys(world)
    stored = await table(sctx, UserKey)
    assert len(keys) == len(stored) == 5
    store = KeyStore(KEK)
    for row in stored:
        plaintext = store.decrypt(row.encrypted_key, row.openrouter_key_hash)
        assert hashlib.sha256(plaintext.encode()).hexdigest() == row.openrouter_key_hash
        remote = keys[row.openrouter_key_hash]
        assert Decimal(str(remote["limit"])) == Decimal(allocations[row.holder_wallet]) / 100
        assert remote["limit_reset"] == "monthly"

    # Next cycle: a holder spent some; new fees accrue; the key is topped up, not replaced.
    row = next(r for r in stored if r.holder_wallet == top5[-1])
    openrouter_emulator.spend(world, row.openrouter_key_hash, "3.50")
    before = (await sctx.clients.keys.get_key(row.openrouter_key_hash)).limit_remaining
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 200_000_000)
    second = await runs.start_run(sctx, strategy.strategy_id, "scheduler")
    assert second.state == "COMPLETE", second.error
    assert second.keys_provisioned == 0
    added = {
        a.holder_wallet: a.allocated_cents
        for a in await table(sctx, AllocationSnapshot, AllocationSnapshot.run_id == second.run_id)
    }
    after = (await sctx.clients.keys.get_key(row.openrouter_key_hash)).limit_remaining
    assert after == before + Decimal(added.get(row.holder_wallet, 0)) / 100
    assert len(live_keys(world)) == 5


async def test_dry_run_through_the_emulators_sends_and_creates_nothing(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox, sctx: Context
) -> None:
    chain.seed_holders(sandbox.world, MINT, {wallet(1): 10, wallet(2): 30})
    settings = make_settings(**{**sctx.settings.model_dump(), "DRY_RUN": "true"}) if False else None
    assert settings is None
    dry = sctx.settings.model_copy(update={"dry_run": True})
    async with open_context(
        dry, clock=clock, transports=sandbox.transports(), sleep=FakeSleep()
    ) as ctx:
        strategy = await make_strategy(ctx, owner_wallet=OWNER, distribution_token=MINT)
        run = await runs.start_run(ctx, strategy.strategy_id, "cli")
    assert run.state == "COMPLETE" and run.dry_run
    world = sandbox.world
    assert world.calls("helius", "sendTransaction") == 0
    assert world.calls("openrouter", "POST") == 0 and world.calls("openrouter", "PATCH") == 0
    assert bags_emulator.claimable_lamports(world, OWNER) == TOTAL
    assert run.allocated_usd > 0


class CrashAfter:
    """Delegates to a real port and dies right after the n-th call of one method."""

    def __init__(self, inner: Any, method: str, call: int) -> None:
        self._inner, self._method, self._call, self._count = inner, method, call, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            self._count += 1
            if self._count == self._call:
                raise Crash(name)
            return result

        return wrapped


@pytest.mark.parametrize(
    ("port", "method", "call", "sends"),
    [
        # After the first half of a two-transaction claim: the rest is fetched afresh (2 txs).
        ("solana", "send_transaction", 2, 5),
        ("solana", "send_transaction", 4, 4),  # the swap
        ("keys", "create_key", 2, 4),
    ],
)
async def test_crash_and_resume_through_the_emulators(
    sctx: Context,
    sandbox: Sandbox,
    clock: FrozenClock,
    port: str,
    method: str,
    call: int,
    sends: int,
) -> None:
    from arenabrain.credits.locks import LOCK_TTL

    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30, wallet(3): 60})
    real = sctx.clients
    crashing = replace(real, **{port: CrashAfter(getattr(real, port), method, call)})
    strategy = await make_strategy(sctx, owner_wallet=OWNER, distribution_token=MINT)
    with pytest.raises(Crash):
        await runs.start_run(replace(sctx, clients=crashing), strategy.strategy_id, "api")
    clock.advance(seconds=LOCK_TTL.total_seconds() + 1)
    async with sctx.db.read() as session:
        (stuck,) = await runs.listing(session, strategy.strategy_id)
    resumed = await runs.resume_run(sctx, stuck.run_id, "cli")

    assert resumed.state == "COMPLETE", resumed.error
    assert resumed.claimed_lamports == TOTAL
    assert bags_emulator.claimable_lamports(world, OWNER) == 0
    assert world.calls("helius", "sendTransaction") == sends  # nothing was sent twice
    keys = live_keys(world)
    stored = {k.openrouter_key_hash: k for k in await table(sctx, UserKey)}
    assert set(keys) == set(stored) and len(keys) == 3
    allocations = {
        a.holder_wallet: a.allocated_cents for a in await table(sctx, AllocationSnapshot)
    }
    for key_hash, remote in keys.items():
        assert Decimal(str(remote["limit"])) * 100 == allocations[stored[key_hash].holder_wallet]


async def test_provisioning_failure_and_resume_through_the_emulators(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock, use_handlers
) -> None:
    world = sandbox.world
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30})
    injected = []

    def wrap(state, handler):
        async def wrapped(pc):
            if state == "PROVISIONING" and not injected:
                injected.append(1)
                openrouter_emulator.inject_failure(world, *[503] * 8)
            return await handler(pc)

        return wrapped

    use_handlers({s: wrap(s, h) for s, h in HANDLERS.items()})
    strategy = await make_strategy(sctx, owner_wallet=OWNER, distribution_token=MINT)
    failed = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "PROVISIONING")
    assert failed.error.code == "OPENROUTER_UNAVAILABLE"
    sends = world.calls("helius", "sendTransaction")
    openrouter_emulator.openrouter_state(world)["fail_next"].clear()
    clock.advance(minutes=2)
    resumed = await runs.resume_run(sctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert world.calls("helius", "sendTransaction") == sends
    assert len(live_keys(world)) == 2


async def test_post_api_runs_through_the_emulators(
    make_client, make_settings, sandbox: Sandbox
) -> None:
    from tests.conftest import api_headers

    world = sandbox.world
    chain.set_balance(world, OWNER, 100_000_000)
    bags_emulator.add_claimable_position(world, OWNER, FEE_MINT_A, 2_000_000_000)
    chain.seed_holders(world, MINT, {wallet(1): 10, wallet(2): 30})
    openrouter_emulator.openrouter_state(world)["total_credits"] = 500.0
    settings = make_settings(
        CREDITS_ENABLED="true",
        ARENA_ENABLED="false",
        KEY_ENCRYPTION_KEY=KEK,
        BAGS_API_KEY="bags-key",
        HELIUS_API_KEY="helius-key",
        OPENROUTER_MANAGEMENT_KEY="mgmt-key",
        SIGNER_PRIVATE_KEY=str(OWNER_KEY),
    )
    async with make_client(settings) as http:
        headers = api_headers()
        created = await http.post(
            "/api/strategies",
            headers=headers,
            json={"ownerWallet": OWNER, "distributionToken": MINT, "minClaimThreshold": 1},
        )
        assert created.status_code == 200, created.text
        sid = created.json()["strategyId"]
        response = await http.post("/api/runs?wait=true", headers=headers, json={"strategyId": sid})
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["state"] == "COMPLETE", run["error"]
        assert run["claimedSol"] == 2.0 and run["keysProvisioned"] == 2
        # $10 default key limit: both keys capped, the rest stays in the pool.
        assert run["allocatedUsd"] == 20.0
        pool = (await http.get("/api/pool", headers=headers)).json()
        assert pool["promisedUsd"] == 20.0 and pool["totalBalanceUsd"] == 500.0
    assert len(live_keys(world)) == 2
