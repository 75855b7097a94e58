"""CreditBrain at the scale of a real token: the usage poll is one paged `GET /keys` sweep
(never one request per key; 250 keys take 3 list requests), OpenRouter's rate limit is waited
out by every concurrent request together, and PROVISIONING serves holders concurrently,
never more than PROVISIONING_CONCURRENCY at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from arenabrain.clients.openrouter.keys import OpenRouterKeys
from arenabrain.clock import FrozenClock
from arenabrain.credits import runs, usage
from arenabrain.credits.models import UserKey
from arenabrain.db.ids import new_id
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox import openrouter as emulator
from tests.conftest import FakeSleep
from tests.credits.conftest import make_strategy
from tests.credits.fakes import wallet

BASE = "https://openrouter.ai/api/v1/"
LIST = ("openrouter", "GET", "/api/v1/keys")


@pytest.fixture
async def keys_client(sandbox: Sandbox, clock: FrozenClock) -> AsyncIterator[OpenRouterKeys]:
    """The real client over the emulator; its waits move the world's clock."""
    transport = sandbox.transports()["openrouter"]
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        client = OpenRouterKeys(
            http,
            "mgmt-key",
            sleep=FakeSleep(clock),
            monotonic=lambda: clock.now().timestamp(),
        )
        yield client


async def make_keys(client: OpenRouterKeys, count: int, prefix: str = "holder") -> list[str]:
    made = []
    for n in range(count):
        created = await client.create_key(f"{prefix}-{n}", Decimal(5), "monthly", None)
        made.append(created.key.hash)
    return made


async def record(ctx, hashes: list[str]) -> None:
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        for n, key_hash in enumerate(hashes):
            session.add(
                UserKey(
                    key_id=new_id(now),
                    strategy_id=None,
                    holder_wallet=wallet(n + 1),
                    openrouter_key_hash=key_hash,
                    key_name=f"holder-{n}",
                    limit_usd_cents=500,
                    limit_reset="monthly",
                    total_allocated_cents=500,
                    status="ACTIVE",
                    created_at=now,
                    updated_at=now,
                )
            )


@pytest.fixture
def poll_ctx(ctx, keys_client):
    """The test context with the emulator-backed keys client."""
    from dataclasses import replace

    return replace(ctx, clients=replace(ctx.clients, keys=keys_client))


@pytest.mark.parametrize(
    ("ours", "others", "requests"),
    [(250, 0, 3), (200, 0, 2), (100, 250, 1), (250, 30, 3)],
    ids=["250-keys", "200-keys-no-empty-page", "ours-newest-of-350", "250-among-280"],
)
async def test_the_usage_poll_is_one_paged_sweep(
    poll_ctx, keys_client, sandbox, ours: int, others: int, requests: int
) -> None:
    world = sandbox.world
    await make_keys(keys_client, others, "someone-else")  # older keys on the account
    hashes = await make_keys(keys_client, ours)
    await record(poll_ctx, hashes)
    before = world.calls(*LIST)
    emulator.spend(world, hashes[0], Decimal("1.25"))
    result = await usage.poll_usage(poll_ctx)
    assert result == {"synced": ours, "missing": 0}
    assert world.calls(*LIST) - before == requests
    rows = await usage.usage_rows(poll_ctx, key_hash=hashes[0])
    assert rows[0]["usage"] == 1.25 and rows[0]["limit_remaining"] == 3.75


async def test_a_key_missing_on_openrouter_makes_the_sweep_read_to_the_last_page(
    poll_ctx, keys_client, sandbox
) -> None:
    world = sandbox.world
    hashes = await make_keys(keys_client, 250)
    gone = await make_keys(keys_client, 1, "deleted")
    await keys_client.delete_key(gone[0])
    await record(poll_ctx, [*hashes, gone[0]])
    before = world.calls(*LIST)
    assert await usage.poll_usage(poll_ctx) == {"synced": 250, "missing": 1}
    assert world.calls(*LIST) - before == 3  # 100 + 100 + 50: the short page ends it


class CreatingMidSweep(httpx.AsyncBaseTransport):
    """Someone creates keys right after the first page of a listing was served."""

    def __init__(self, inner: httpx.AsyncBaseTransport, count: int) -> None:
        self.inner = inner
        self.count = count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path.endswith("/keys") and self.count:
            count, self.count = self.count, 0
            for n in range(count):
                body = {"name": f"meanwhile-{n}", "limit": 1}
                created = httpx.Request(
                    "POST", f"{BASE}keys", json=body, headers={"Authorization": "Bearer m"}
                )
                await self.inner.handle_async_request(created)
        return response


async def test_a_key_listed_twice_while_keys_are_created_mid_sweep_is_kept_once(
    keys_client, sandbox
) -> None:
    ours = set(await make_keys(keys_client, 150))
    transport = CreatingMidSweep(sandbox.transports()["openrouter"], 20)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        listed = await OpenRouterKeys(http, "mgmt-key").list_keys()
    # The 20 new keys pushed the newest-first listing down: page 2 repeated 20 of page 1.
    hashes = [k.hash for k in listed]
    assert len(hashes) == len(set(hashes)) == 150  # each once; the new ones came after page 1
    assert set(hashes) == ours


# --- OpenRouter's rate limit ------------------------------------------------------------------


async def test_concurrent_requests_wait_out_a_429_together_and_each_key_is_made_once(
    keys_client, sandbox, clock
) -> None:
    world = sandbox.world
    emulator.limit_rate(world, 5, seconds=10)
    start = clock.now()
    created = await asyncio.gather(
        *(keys_client.create_key(f"k-{n}", Decimal(1), None, None) for n in range(12))
    )
    state = emulator.openrouter_state(world)
    assert len(state["keys"]) == 12 == len({c.key.hash for c in created})  # none twice
    assert state["rate_limited"] > 0  # OpenRouter did refuse some
    # 5 per 10 s window: the twelfth key needed the third window.
    assert clock.now() - start >= timedelta(seconds=20)


async def test_a_429_without_end_becomes_a_transient_error(keys_client, sandbox) -> None:
    from arenabrain.clients.errors import UpstreamError

    world = sandbox.world
    emulator.inject_failure(world, *[429] * 10)
    with pytest.raises(UpstreamError) as limited:
        await keys_client.create_key("k", Decimal(1), None, None)
    assert limited.value.status == 429 and limited.value.transient
    assert emulator.openrouter_state(world)["keys"] == {}


# --- concurrent PROVISIONING --------------------------------------------------------------------


@pytest.mark.parametrize("bound", [1, 4])
async def test_provisioning_serves_holders_concurrently_within_the_bound(
    make_ctx, world, bound: int
) -> None:
    for n in range(4, 34):
        world.holders.hold(wallet(n), 10 + n)
    ctx = await make_ctx(PROVISIONING_CONCURRENCY=str(bound))
    strategy = await make_strategy(ctx, distribution_top_n=40)
    in_flight = peak = 0
    full = asyncio.Event()
    create = world.keys.create_key

    async def slow_create(*args, **kwargs):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= bound:
            full.set()
        # OpenRouter takes a while to answer: the first calls wait until the bound is reached
        # (or a moment passes), so the test sees whether more could start meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 0.5)
        try:
            return await create(*args, **kwargs)
        finally:
            in_flight -= 1

    world.keys.create_key = slow_create
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.keys_provisioned == 33
    assert world.keys.faults.calls["create_key"] == 33  # each holder's key made once
    assert peak == bound


async def test_a_holder_waiting_for_its_commit_gives_up_its_request_place_within_a_bound(
    make_ctx, world, monkeypatch
) -> None:
    """Journal commits slower than OpenRouter: requests go on at the bound meanwhile, and the
    keys created but not yet recorded (a crash's orphans) stay within twice the bound."""
    from arenabrain.credits.phases.base import PhaseContext

    bound = 2
    for n in range(4, 34):
        world.holders.hold(wallet(n), 10 + n)
    ctx = await make_ctx(PROVISIONING_CONCURRENCY=str(bound))
    strategy = await make_strategy(ctx, distribution_top_n=40)
    created = recorded = in_flight = peak_requests = peak_unrecorded = 0
    create = world.keys.create_key

    async def timed_create(*args, **kwargs):
        nonlocal created, in_flight, peak_requests, peak_unrecorded
        in_flight += 1
        peak_requests = max(peak_requests, in_flight)
        try:
            await asyncio.sleep(0.005)
            key = await create(*args, **kwargs)
        finally:
            in_flight -= 1
        created += 1
        peak_unrecorded = max(peak_unrecorded, created - recorded)
        return key

    unit_of_work = PhaseContext._unit_of_work

    async def slow_unit_of_work(self, write):
        await asyncio.sleep(0.03)  # a slow disk: each commit takes a while
        result = await unit_of_work(self, write)
        nonlocal recorded
        async with ctx.db.read() as session:
            recorded = len(list(await session.scalars(select(UserKey.key_id))))
        return result

    world.keys.create_key = timed_create
    monkeypatch.setattr(PhaseContext, "_unit_of_work", slow_unit_of_work)
    run = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert run.state == "COMPLETE", run.error
    assert run.keys_provisioned == 33 == world.keys.faults.calls["create_key"]
    assert peak_requests == bound
    assert bound < peak_unrecorded <= 2 * bound
