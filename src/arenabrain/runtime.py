"""Building and closing a `Context`: shared by the web app's lifespan, the CLI and tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from arenabrain.clients.breakers import Breakers
from arenabrain.clients.bundle import build_clients
from arenabrain.clients.http import build_upstreams
from arenabrain.clock import Clock, Sleep, SystemClock
from arenabrain.context import Context
from arenabrain.db.answer_cache import answer_cache
from arenabrain.db.engine import Database
from arenabrain.db.migrate import upgrade_async
from arenabrain.logging import get_logger
from arenabrain.ratelimit import Guards
from arenabrain.settings import Settings


@asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    migrate: bool = True,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> AsyncIterator[Context]:
    """Migrate the database, open the clients, and yield the context; close everything after.

    In sandbox mode the upstreams are the in-process emulators unless `transports` is given."""
    sandbox = None
    if settings.sandbox and transports is None:
        from arenabrain.sandbox import Sandbox, World

        sandbox = Sandbox(World(clock=clock) if clock is not None else None)
        clock = clock or sandbox.world.clock
        transports = sandbox.transports()
    clock = clock or SystemClock()
    if migrate:
        await upgrade_async(settings.resolved_database_url())
    db = Database(settings.resolved_database_url())
    http = build_upstreams(settings, transports)
    ctx = Context(
        settings=settings,
        db=db,
        clock=clock,
        http=http,
        log=get_logger(),
        clients=build_clients(settings, http, clock, sleep),
        guards=Guards(clock),
        breakers=Breakers(),
        sleep=sleep,
        rng=rng or random.Random(),
        answers=answer_cache(db),
        sandbox=sandbox,
    )
    try:
        yield ctx
    finally:
        ctx.answers.close()
        await http.aclose()
        await db.dispose()
