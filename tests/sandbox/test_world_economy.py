"""The demo world's money side: a Bags token whose trading earns claimable fees as simulated time
passes (backed by the fee vault on the emulated ledger), a long-tailed holder set with
program-owned vaults and burnt tokens, and OpenRouter keys whose holders use them over time;
all a function of the seed, the clock and the requests received. Then one real CreditBrain run
over that world, and the usage poll seeing the keys move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from arenabrain.clients.solana import BURN_ADDRESS, LAMPORTS_PER_SOL
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.models import HolderSnapshot, UsageSnapshot, UserKey
from arenabrain.credits.usage import poll_usage
from arenabrain.credits.wallets import ineligible_reason
from arenabrain.sandbox import Sandbox, World, WorldSetup, configure_demo_world
from arenabrain.sandbox import bags as bags_emulator
from arenabrain.sandbox import openrouter as openrouter_emulator
from arenabrain.sandbox import solana as chain
from arenabrain.sandbox.scenario import sandbox_owner_wallet
from arenabrain.settings import Settings
from tests.credits.conftest import SANDBOX_SIGNER, make_strategy, sandbox_credit_context

START = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def demo(seed: int = 7, **options: Any) -> tuple[World, FrozenClock, WorldSetup]:
    clock = FrozenClock(START)
    world = World(clock=clock, seed=seed)
    Sandbox(world)
    options.setdefault("markets", 40)
    options.setdefault("holders", 300)
    return world, clock, configure_demo_world(world, **options)


# --- fees -----------------------------------------------------------------------------------


def fee_curve(seed: int, every: timedelta, until: timedelta) -> list[int]:
    world, clock, setup = demo(seed)
    seen = []
    while clock.now() < START + until:
        clock.advance(seconds=every.total_seconds())
        seen.append(bags_emulator.claimable_lamports(world, setup.owner_wallet))
    return seen


def test_fees_accrue_with_simulated_time_the_same_for_a_seed() -> None:
    curve = fee_curve(7, DAY, 7 * DAY)
    assert curve == fee_curve(7, DAY, 7 * DAY)
    assert curve != fee_curve(8, DAY, 7 * DAY)
    assert all(b > a for a, b in pairwise(curve))
    # About 1 % of 250 SOL a day, with busy and quiet days.
    per_day = [b - a for a, b in pairwise([0, *curve])]
    assert 0.5 * 7 * 2.5 * LAMPORTS_PER_SOL < curve[-1] < 2 * 7 * 2.5 * LAMPORTS_PER_SOL
    assert max(per_day) > 1.3 * min(per_day)
    # How often the world is asked changes nothing.
    hourly = fee_curve(7, timedelta(hours=1), 7 * DAY)
    assert hourly[23::24] == curve


def test_the_fee_vault_on_the_ledger_backs_the_accrued_fees() -> None:
    world, clock, setup = demo()
    clock.advance(days=3, hours=5)
    claimable = bags_emulator.claimable_lamports(world, setup.owner_wallet, setup.token_mint)
    assert claimable == setup.fee_accrual.earned(clock.now()) > 0
    assert chain.balance(world, str(bags_emulator.fee_vault(world).pubkey())) == claimable
    assert chain.balance(world, setup.owner_wallet) == LAMPORTS_PER_SOL  # for fees


def test_the_owner_defaults_to_the_sandbox_signer() -> None:
    _, _, setup = demo()
    assert setup.owner_wallet == sandbox_owner_wallet()


# --- holders --------------------------------------------------------------------------------


def test_holders_have_a_long_tail_program_owned_vaults_and_burnt_tokens() -> None:
    world, _, setup = demo()
    holders = setup.holders
    wallets = sorted((holders.totals[w] for w in holders.wallets), reverse=True)
    assert len(wallets) == 300
    assert sum(wallets[:10]) > 0.3 * sum(wallets)  # a few whales ...
    assert wallets[len(wallets) // 2] < sum(wallets) / len(wallets) / 3  # ... and a long tail
    assert all(ineligible_reason(w) is None for w in holders.wallets)
    assert [ineligible_reason(p) for p in holders.programs] == ["off-curve"] * 3
    assert ineligible_reason(setup.burn_address) == "burn" and setup.burn_address == BURN_ADDRESS
    assert chain.token_balance(world, BURN_ADDRESS, setup.token_mint) > 0
    assert demo()[2].holders == holders and demo(8)[2].holders != holders


async def test_the_rpc_serves_the_holder_set(clock: FrozenClock) -> None:
    world = World(clock=clock, seed=7)
    transport = Sandbox(world).transports()["helius"]
    setup = configure_demo_world(world, markets=20, holders=300)
    async with httpx.AsyncClient(transport=transport, base_url="https://rpc") as rpc:

        async def call(method: str, params: Any) -> Any:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return (await rpc.post("/", params={"api-key": "k"}, json=body)).json()["result"]

        owners: dict[str, int] = {}
        page = 1
        while accounts := (
            await call("getTokenAccounts", {"mint": setup.token_mint, "page": page, "limit": 100})
        )["token_accounts"]:
            for account in accounts:
                owners[account["owner"]] = owners.get(account["owner"], 0) + account["amount"]
            page += 1
        supply = await call("getTokenSupply", [setup.token_mint])
    expected = {**setup.holders.totals, BURN_ADDRESS: owners[BURN_ADDRESS]}
    assert owners == expected
    assert int(supply["value"]["amount"]) == sum(owners.values())
    assert supply["value"]["decimals"] == 9


# --- OpenRouter keys --------------------------------------------------------------------------


async def make_keys(world: World, count: int, limit: float = 20.0) -> list[str]:
    transport = httpx.ASGITransport(app=openrouter_emulator.build(world))
    headers = {"Authorization": "Bearer management"}
    async with httpx.AsyncClient(transport=transport, base_url="https://or") as http:
        hashes = []
        for number in range(count):
            body = {"name": f"holder-{number}", "limit": limit, "limit_reset": "monthly"}
            created = await http.post("/api/v1/keys", json=body, headers=headers)
            hashes.append(created.json()["data"]["hash"])
    return hashes


async def listed(world: World) -> dict[str, dict[str, Any]]:
    transport = httpx.ASGITransport(app=openrouter_emulator.build(world))
    headers = {"Authorization": "Bearer management"}
    async with httpx.AsyncClient(transport=transport, base_url="https://or") as http:
        keys = (await http.get("/api/v1/keys", headers=headers)).json()["data"]
    return {key["hash"]: key for key in keys}


async def usage_after(seed: int, steps: list[timedelta]) -> dict[str, float]:
    world, clock, _ = demo(seed)
    await make_keys(world, 40)
    for step in steps:
        clock.advance(seconds=step.total_seconds())
        seen = await listed(world)
    return {h: k["usage"] for h, k in seen.items()}


async def test_keys_accrue_usage_with_simulated_time_the_same_for_a_seed() -> None:
    usage = await usage_after(7, [3 * DAY])
    spent = [u for u in usage.values() if u > 0]
    assert 0.5 * len(usage) < len(spent) < len(usage)  # most holders use their key, some never
    assert all(u <= 20 for u in usage.values())
    assert usage == await usage_after(7, [3 * DAY])
    # Polling every six hours sees the same three days.
    assert usage == await usage_after(7, [timedelta(hours=6)] * 12)
    assert sorted(usage.values()) != sorted((await usage_after(8, [3 * DAY])).values())


async def test_heavy_users_reach_their_limit_and_the_account_stops_at_its_credits() -> None:
    world, clock, _ = demo(7, openrouter_credits=150.0)
    hashes = await make_keys(world, 40, limit=5.0)
    clock.advance(days=20)
    keys = await listed(world)
    assert any(keys[h]["limit_remaining"] == 0 for h in hashes)
    assert all(keys[h]["usage"] <= 5 for h in hashes)
    state = openrouter_emulator.openrouter_state(world)
    assert state["total_usage"] == pytest.approx(sum(k["usage"] for k in keys.values()))
    assert state["total_usage"] <= 150.0
    # A disabled key stops spending.
    record = openrouter_emulator.key_record(world, hashes[0])
    assert record is not None
    record["disabled"] = True
    before = state["total_usage"]
    clock.advance(days=1)
    await listed(world)
    assert openrouter_emulator.key_record(world, hashes[0])["spends"] == record["spends"]
    assert state["total_usage"] >= before


async def test_keys_do_not_move_in_a_world_that_did_not_ask_for_it(clock: FrozenClock) -> None:
    world = World(clock=clock, seed=7)
    hashes = await make_keys(world, 5)
    clock.advance(days=10)
    assert all(k["usage"] == 0 for k in (await listed(world)).values())
    assert len(hashes) == 5


# --- one real CreditBrain run over the world ---------------------------------------------------

OWNER_KEY = SANDBOX_SIGNER
OWNER = str(OWNER_KEY.pubkey())


@pytest.fixture
async def sctx(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Context]:
    async with sandbox_credit_context(make_settings, clock, sandbox) as opened:
        yield opened


async def test_a_real_run_claims_the_accrued_fees_and_the_keys_then_see_use(
    sctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    world = sandbox.world
    clock.set(START)
    setup = configure_demo_world(world, markets=20, holders=120, owner_wallet=OWNER)
    strategy = await make_strategy(
        sctx, owner_wallet=OWNER, distribution_token=setup.token_mint, distribution_top_n=25
    )
    clock.advance(days=2)
    accrued = setup.fee_accrual.earned(clock.now())

    run = await runs.start_run(sctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.claimed_lamports == accrued
    assert run.swapped_usdc and run.swapped_usdc > 0 and run.keys_provisioned == 25
    async with sctx.db.read() as session:
        snapshots = {h.holder_wallet: h for h in await session.scalars(select(HolderSnapshot))}
    for pda in setup.holders.programs:
        assert snapshots[pda].excluded_reason == "off-curve"
    assert snapshots[BURN_ADDRESS].excluded_reason == "burn"

    # Fees go on accruing after the claim; the holders use their new keys.
    clock.advance(days=3)
    assert bags_emulator.claimable_lamports(world, OWNER) == (
        setup.fee_accrual.earned(clock.now()) - accrued
    )
    assert (await poll_usage(sctx))["synced"] == 25
    async with sctx.db.read() as session:
        polled = list(await session.scalars(select(UsageSnapshot)))
        keys = list(await session.scalars(select(UserKey)))
    assert len(polled) == 25
    assert sum(1 for p in polled if p.usage > 0) > 10
    assert all(Decimal(str(p.usage)) <= Decimal(str(p.limit)) for p in polled)
    assert sum(k.current_usage_usd or 0 for k in keys) > 0
