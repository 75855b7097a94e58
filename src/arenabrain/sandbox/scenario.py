"""The demo's world in one call: every emulator given the state a newcomer should see move.

`configure_demo_world(world)` sets, from the world's seed and its clock's current time:
- Polymarket: a few hundred informed markets (binary and multi-outcome, some in events) whose
  prices news moves toward hidden outcomes, ending over the coming weeks, some listed later,
  some without an order book, ending in every way Polymarket ends markets;
- OpenRouter: the lineup forecasters answering the arena's prompts, an account with credits,
  and keys whose holders use them as time passes;
- Bags and Solana: a token whose trading earns the owner claimable fees as time passes, its
  holders (a Pareto long tail of wallets, pool vaults owned by a program, burnt tokens), and
  SOL on the owner's wallet for transaction fees.

After that the world changes only with its clock and the requests it receives: a demo advances
the clock and runs the real jobs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from arenabrain.clients.solana import BURN_ADDRESS, LAMPORTS_PER_SOL
from arenabrain.sandbox import bags, openrouter, polymarket, solana
from arenabrain.sandbox.catalog import seed_openrouter_catalog
from arenabrain.sandbox.fees import FeeAccrual
from arenabrain.sandbox.personas import use_lineup_personas
from arenabrain.sandbox.world import World
from arenabrain.settings import SANDBOX_SIGNER_SEED

TOKEN_DECIMALS = 9
BURNT_TOKENS = 25_000_000  # sent to the incinerator at launch
POOL_VAULTS = 3  # program-owned (off-curve) accounts holding much of the supply
OWNER_FEE_SOL = 1  # on the owner's wallet, for transaction fees


@dataclass(frozen=True)
class WorldSetup:
    """What `configure_demo_world` made: what a strategy and a summary need to know."""

    seed: int
    started: datetime
    owner_wallet: str  # earns the token's fees (the sandbox signer unless given)
    token_mint: str  # the Bags token: its fees are claimed, its holders get keys
    holders: solana.HolderSet  # wallets, pool vaults (programs) and their totals
    burn_address: str  # holds burnt tokens (never eligible)
    fee_accrual: FeeAccrual
    market_count: int
    openrouter_credits: float


def sandbox_owner_wallet() -> str:
    """The sandbox signer's public key (what SIGNER_PRIVATE_KEY is in sandbox mode)."""
    return str(Keypair.from_seed(SANDBOX_SIGNER_SEED).pubkey())


def demo_token_mint(seed: int) -> str:
    """The demo token's mint address for a seed."""
    return str(Pubkey(hashlib.sha256(f"arenabrain-sandbox:{seed}:token-mint".encode()).digest()))


def configure_demo_world(
    world: World,
    *,
    markets: int = 300,
    holders: int = 300,
    owner_wallet: str | None = None,
    token_mint: str | None = None,
    extra_holders: Mapping[str, int] | None = None,
    horizon_days: int = 42,
    listing_days: int = 21,
    daily_volume_sol: float = 250.0,
    fee_bps: int = 100,
    openrouter_credits: float = 2500.0,
    idle_key_share: float = 0.3,
    latency_scale: float = 0.0,
) -> WorldSetup:
    """Give every emulator of `world` the demo's state (see the module); returns what was made.

    `extra_holders` (wallet -> base units) adds holders of one's own, e.g. a wallet whose key
    the demo holds to collect a key as a holder would. `latency_scale` times each persona's
    latency is really awaited per model call (0: answers come at once)."""
    if markets < 10 or holders < 1:
        raise ValueError("a demo world needs at least 10 markets and one holder")
    started = world.clock.now()
    owner = owner_wallet or sandbox_owner_wallet()
    mint = token_mint or demo_token_mint(world.seed)
    polymarket.configure_markets(
        world,
        markets,
        event_share=0.15,
        multi_share=0.25,
        horizon_days=horizon_days,
        informed=True,
        listing_days=listing_days,
        missing_books=0.03,
    )
    seed_openrouter_catalog(world)
    use_lineup_personas(world, latency_scale=latency_scale)
    openrouter.openrouter_state(world)["total_credits"] = openrouter_credits
    openrouter.accrue_key_usage(world, idle_share=idle_key_share)
    solana.set_balance(world, owner, OWNER_FEE_SOL * LAMPORTS_PER_SOL)
    accrual = bags.start_fee_accrual(
        world, owner, mint, daily_volume_sol=daily_volume_sol, fee_bps=fee_bps
    )
    holder_set = solana.generate_holders(
        world,
        mint,
        holders,
        decimals=TOKEN_DECIMALS,
        programs=POOL_VAULTS,
        balances="pareto",
        rng=random.Random(f"{world.seed}:demo-holders"),
    )
    solana.add_token_account(world, BURN_ADDRESS, mint, BURNT_TOKENS * 10**TOKEN_DECIMALS)
    for wallet, amount in (extra_holders or {}).items():
        solana.add_token_account(world, wallet, mint, amount)
    return WorldSetup(
        seed=world.seed,
        started=started,
        owner_wallet=owner,
        token_mint=mint,
        holders=holder_set,
        burn_address=BURN_ADDRESS,
        fee_accrual=accrual,
        market_count=markets,
        openrouter_credits=openrouter_credits,
    )
