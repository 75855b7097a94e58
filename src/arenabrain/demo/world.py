"""The world the demo (and `serve --sandbox`) runs in: one seeded sandbox world on a scaled
clock, configured by the sandbox's own `configure_demo_world` (informed markets, the lineup
forecasters, a token whose trading earns the owner fees, its holders, a funded OpenRouter
account whose keys get used), plus one holder of the demo's own, whose keypair it holds so that
it can sign for its key as a real holder would.

Everything derives from the seed and the clock: the same seed tells the same story."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from solders.keypair import Keypair

from arenabrain.clock import ScaledClock
from arenabrain.keypairs import keypair_from_text
from arenabrain.sandbox import Sandbox, World, WorldSetup, configure_demo_world
from arenabrain.sandbox.scenario import TOKEN_DECIMALS
from arenabrain.settings import Settings

DEFAULT_SEED = 7
DEMO_START = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday, 00:00 UTC: the first cohort starts
MARKET_HORIZON_DAYS = 14  # most markets end within two weeks, so the weeks see settlements
LISTING_DAYS = 28  # a quarter of the markets are listed later, over four weeks
HOLDER_TOKENS = 40_000 * 10**TOKEN_DECIMALS  # the demo holder: among the top holders


def derived_keypair(seed: int, label: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"arenabrain-demo:{seed}:{label}".encode()).digest())


@dataclass(frozen=True)
class DemoWorld:
    sandbox: Sandbox
    clock: ScaledClock
    setup: WorldSetup
    holder: Keypair  # the holder that collects its key in the demo

    @property
    def world(self) -> World:
        return self.sandbox.world

    @property
    def seed(self) -> int:
        return self.setup.seed

    @property
    def token_mint(self) -> str:
        return self.setup.token_mint

    @property
    def holder_wallet(self) -> str:
        return str(self.holder.pubkey())


def signer_wallet(settings: Settings) -> str:
    """The wallet of the settings' signer: it owns the strategy and earns the token's fees."""
    if settings.signer_private_key is None:  # sandbox settings always give one
        raise ValueError("the sandbox needs a signer (SIGNER_PRIVATE_KEY)")
    return str(keypair_from_text(settings.signer_private_key.get_secret_value()).pubkey())


def build_world(
    settings: Settings,
    seed: int = DEFAULT_SEED,
    start: datetime = DEMO_START,
    speed: float = 0,
) -> DemoWorld:
    """The demo's world at `start`, its clock standing still (speed 0) or running."""
    clock = ScaledClock(start, speed)
    sandbox = Sandbox(World(clock=clock, seed=seed))
    holder = derived_keypair(seed, "holder")
    setup = configure_demo_world(
        sandbox.world,
        horizon_days=MARKET_HORIZON_DAYS,
        listing_days=LISTING_DAYS,
        owner_wallet=signer_wallet(settings),
        extra_holders={str(holder.pubkey()): HOLDER_TOKENS},
    )
    return DemoWorld(sandbox=sandbox, clock=clock, setup=setup, holder=holder)
