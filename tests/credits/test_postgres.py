"""CreditBrain's locks and pool reservations on PostgreSQL, each test on a fresh migrated schema.

SQLite serialises writers with `BEGIN IMMEDIATE`, so a lock's check-then-insert can never
interleave there. PostgreSQL lets two transactions both find no lock row and both insert one:
the second insert waits for the first transaction and must then end in the same 409 as on
SQLite, not in a unique-violation 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import text

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.credits import locks, pool, runs
from arenabrain.credits.locks import RunInProgress
from arenabrain.credits.phase_locks import wallet_resource
from arenabrain.db.migrate import upgrade_async
from arenabrain.runtime import open_context
from arenabrain.settings import Settings
from tests.arena.postgres import (
    pin_search_path,
    schema_url,
    server_url,
    service_url,
    throwaway_schemas,
)
from tests.conftest import FakeSleep
from tests.credits.conftest import CREDITS_ENV, make_strategy
from tests.credits.fakes import OWNER, World, transient, wallet

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg(
    make_settings: Callable[..., Settings], clock: FrozenClock, world: World, sleeps: FakeSleep
) -> AsyncIterator[tuple[Context, str]]:
    """A CreditBrain context (over the fakes) on a fresh PostgreSQL schema, and the schema."""
    url = server_url("CreditBrain locks")
    with throwaway_schemas(url, prefix="credits_test") as make_schema:
        schema = make_schema()
        await upgrade_async(schema_url(url, schema))
        settings = make_settings(**CREDITS_ENV, DATABASE_URL=service_url(url))
        async with open_context(
            settings, clock=clock, transports={}, migrate=False, sleep=sleeps
        ) as context:
            pin_search_path(context.db.engine, schema)
            yield replace(context, clients=world.clients), schema


async def wait_until_blocked(ctx: Context, schema: str) -> None:
    """Return once a connection of this schema waits on a row lock (bounded: 10 s)."""
    for _ in range(1000):
        async with ctx.db.read() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :schema"
                    " AND wait_event_type = 'Lock'"
                ),
                {"schema": schema},
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the first one's lock")


async def test_two_runs_racing_for_one_strategy_lock_get_409_not_500(pg, clock) -> None:
    ctx, schema = pg
    strategy = await make_strategy(ctx)
    now = clock.now()
    async with ctx.db.write() as first:
        await locks.acquire(first, strategy.strategy_id, "first", now)

        async def second() -> None:
            async with ctx.db.write() as session:
                await locks.acquire(session, strategy.strategy_id, "second", now)

        # The second transaction finds no committed row and inserts: it waits for the first.
        racer = asyncio.create_task(second())
        await wait_until_blocked(ctx, schema)
    with pytest.raises(RunInProgress) as info:
        await racer
    assert info.value.status_code == 409
    async with ctx.db.read() as session:
        assert (await locks.current(session, strategy.strategy_id)).holder == "first"


async def test_two_runs_racing_for_the_wallet_lock_get_wallet_busy_not_500(pg, clock) -> None:
    ctx, schema = pg
    resource = wallet_resource(OWNER)
    now = clock.now()
    async with ctx.db.write() as first:
        await locks.take(first, resource, "first", now)

        async def second() -> None:
            async with ctx.db.write() as session:
                await locks.take(session, resource, "second", now)

        racer = asyncio.create_task(second())
        await wait_until_blocked(ctx, schema)
    with pytest.raises(locks.ResourceBusy) as info:
        await racer
    assert info.value.held.holder == "first"


async def test_two_reapers_of_a_stale_lock_one_wins(pg, clock) -> None:
    ctx, _ = pg
    strategy = await make_strategy(ctx)
    async with ctx.db.write() as session:
        await locks.acquire(session, strategy.strategy_id, "dead", clock.now())
    clock.advance(seconds=locks.LOCK_TTL.total_seconds() + 1)

    async def reap(holder: str) -> str:
        async with ctx.db.write() as session:
            await locks.acquire(session, strategy.strategy_id, holder, clock.now())
        return holder

    results = await asyncio.gather(reap("a"), reap("b"), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["RunInProgress", "str"]


async def test_concurrent_starts_on_postgres_one_runs_one_gets_409(pg, world) -> None:
    ctx, _ = pg
    strategy = await make_strategy(ctx)
    results = await asyncio.gather(
        runs.start_run(ctx, strategy.strategy_id, "api"),
        runs.start_run(ctx, strategy.strategy_id, "scheduler"),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, RunInProgress)]
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(conflicts) == 1 and len(done) == 1, results
    assert conflicts[0].status_code == 409
    assert done[0].state == "COMPLETE", done[0].error


async def test_unprovisioned_allocations_stay_reserved_on_postgres(pg, world, clock) -> None:
    ctx, _ = pg
    world.keys.total_credits = Decimal(300)
    strategy = await make_strategy(ctx)
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 3)
    failed = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert (failed.state, failed.error.failed_state) == ("FAILED", "PROVISIONING")
    world.keys.faults.fail_next["create_key"] = []
    clock.advance(minutes=2)  # past the OpenRouter breaker's cooldown
    view = await pool.pool_status(ctx)
    assert view.promised_usd == failed.allocated_usd

    world.bags.claimable = {wallet(71): 1_500_000_000}
    second = await runs.start_run(ctx, strategy.strategy_id, "api")
    assert second.allocated_usd == Decimal(270) - failed.allocated_usd
    resumed = await runs.resume_run(ctx, failed.run_id, "cli")
    assert resumed.state == "COMPLETE", resumed.error
    assert sum(k.limit for k in world.keys.keys.values()) == Decimal(270)
