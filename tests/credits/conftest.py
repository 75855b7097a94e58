"""Fixtures for CreditBrain tests: a context over a migrated temporary database (a copy of
the shared migrated template, see tests/conftest.py) whose upstreams are the in-memory fakes
of `fakes.World`, with sleeps that never wait."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from sqlalchemy import func, select

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import runs, strategies
from arenabrain.credits.schemas import StrategyCreate, StrategyView
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox
from arenabrain.settings import Settings
from tests.conftest import FakeSleep, api_headers
from tests.credits.fakes import FEE_MINT_A, FEE_MINT_B, MINT, OWNER, World, wallet

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="  # 32 bytes, base64
# The signer of runs against the sandbox emulators (they check its real signatures).
SANDBOX_SIGNER = Keypair.from_seed(bytes([42] * 32))


@asynccontextmanager
async def sandbox_credit_context(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Context]:
    """A CreditBrain context over the sandbox emulators, signing as SANDBOX_SIGNER, with no
    daily run cap."""
    settings = make_settings(
        KEY_ENCRYPTION_KEY=KEK,
        BAGS_API_KEY="bags-key",
        HELIUS_API_KEY="helius-key",
        OPENROUTER_MANAGEMENT_KEY="mgmt-key",
        SIGNER_PRIVATE_KEY=str(SANDBOX_SIGNER),
        MAX_DAILY_RUNS="0",
    )
    async with open_context(
        settings, clock=clock, transports=sandbox.transports(), sleep=FakeSleep()
    ) as opened:
        yield replace(opened, sandbox=sandbox)


CREDITS_ENV = {"KEY_ENCRYPTION_KEY": KEK}
HOLDER_A, HOLDER_B, HOLDER_C = wallet(1), wallet(2), wallet(3)


@pytest.fixture
def sleeps() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def world() -> World:
    """1 SOL + 0.5 SOL of fees to claim, three holders (500/300/200), $1000 of credits."""
    w = World()
    w.bags.claimable = {FEE_MINT_A: 1_000_000_000, FEE_MINT_B: 500_000_000}
    w.holders.hold(HOLDER_A, 500)
    w.holders.hold(HOLDER_B, 300)
    w.holders.hold(HOLDER_C, 200)
    return w


MakeCtx = Callable[..., Awaitable[Context]]


@pytest.fixture
async def make_ctx(
    make_settings: Callable[..., Settings], clock: FrozenClock, world: World, sleeps: FakeSleep
) -> AsyncIterator[MakeCtx]:
    """Open a context (a 'process') with extra environment; several share one database."""
    async with AsyncExitStack() as stack:

        async def make(**env: str) -> Context:
            settings = make_settings(**{**CREDITS_ENV, **env})
            ctx = await stack.enter_async_context(
                open_context(settings, clock=clock, transports={}, migrate=False, sleep=sleeps)
            )
            return replace(ctx, clients=world.clients)  # the fakes stand in for every port

        yield make


@pytest.fixture
async def cctx(make_ctx: MakeCtx) -> Context:
    return await make_ctx()


@pytest.fixture
def use_handlers(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[Any, Any]], None]:
    """Run the pipeline's phases through this table (tests wrap the real `HANDLERS`)."""
    return lambda table: monkeypatch.setattr(runs, "HANDLERS", table)


async def make_strategy(ctx: Context, **fields: Any) -> StrategyView:
    """A strategy for the fake world: owner = signer, threshold 0.1 SOL, $100 key limit."""
    body: dict[str, Any] = {
        "owner_wallet": OWNER,
        "distribution_token": MINT,
        "min_claim_threshold": Decimal("0.1"),
        "key_config": {"default_limit_usd": Decimal(100)},
    }
    body.update(fields)
    return await strategies.create_strategy(ctx, StrategyCreate.of(**body))


# --- the HTTP API over the fakes -------------------------------------------------------------

API_ENV = {
    "CREDITS_ENABLED": "true",
    "ARENA_ENABLED": "false",
    "BAGS_API_KEY": "test-bags",
    "HELIUS_API_KEY": "test-helius",
    "OPENROUTER_MANAGEMENT_KEY": "test-management",
    "KEY_ENCRYPTION_KEY": KEK,
    "MAX_DAILY_RUNS": "0",
}
H = api_headers()
NEW = {
    "ownerWallet": OWNER,
    "distributionToken": MINT,
    "minClaimThreshold": 0.1,
    "keyConfig": {"defaultLimitUsd": 100},
}


class Api:
    """An httpx client over the app (lifespan running) and the app's context."""

    def __init__(self, http: httpx.AsyncClient, app: Any) -> None:
        self.http = http
        self.app = app
        self.ctx = app.state.ctx

    async def count(self, model: Any) -> int:
        async with self.ctx.db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    def from_address(self, address: str) -> httpx.AsyncClient:
        """Another client of the same app, calling from `address` (close it after use)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(address, 40000)),
            base_url="http://testserver",
        )


@pytest.fixture
def open_api(make_client, make_settings, world, sleeps):  # type: ignore[no-untyped-def]
    """Open the app with extra environment; returns (its wrapper, to close, and an `Api`)."""

    async def opener(**env: str) -> tuple[Any, Api]:
        wrapper = make_client(make_settings(**{**API_ENV, **env}))
        http = await wrapper.__aenter__()
        state = wrapper.app.state
        state.ctx = replace(state.ctx, clients=world.clients, sleep=sleeps)
        return wrapper, Api(http, wrapper.app)

    return opener


@pytest.fixture
async def api(open_api) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    wrapper, client = await open_api()
    yield client
    await wrapper.__aexit__(None, None, None)
