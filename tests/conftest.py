"""Shared fixtures: settings over a temporary SQLite file, a frozen clock (and a fake sleep), the
sandbox emulators, a context, and an HTTP client over the app with its lifespan."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from arenabrain.app import create_app
from arenabrain.clock import FrozenClock, Sleep
from arenabrain.context import Context
from arenabrain.db.migrate import upgrade
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox, World
from arenabrain.settings import Settings, load_settings

CRON_SECRET = "test-cron-secret"
API_TOKEN = "test-api-token"
ADMIN_PASSWORD = "test-admin-password"
SESSION_SECRET = "test-session-secret"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated per test process; every test gets its own copy (a fresh
    migration costs most of a second, a copy a millisecond)."""
    path = tmp_path_factory.mktemp("template") / "arenabrain.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "arenabrain.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
def make_settings(db_path: Path) -> Callable[..., Settings]:
    """Settings for a test: its own database file, no scheduler, known secrets."""

    def make(**env: str) -> Settings:
        base = {
            "APP_ENV": "test",
            "DATABASE_PATH": str(db_path),
            "SCHEDULER_ENABLED": "false",
            "CRON_SECRET": CRON_SECRET,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ADMIN_SESSION_SECRET": SESSION_SECRET,
            "OPENROUTER_API_KEY": "test-openrouter-key",
            "API_AUTH_TOKEN": API_TOKEN,
            "BACKUP_PATH": str(db_path.parent / "backups"),
        }
        base.update(env)
        return load_settings(base)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC))


class FakeSleep:
    """An injected `sleep` that records each wait and returns at once. Given a frozen clock it
    also moves the clock by the wait, so rate windows and block heights move as if time passed."""

    def __init__(self, clock: FrozenClock | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds=seconds)


@pytest.fixture
def sandbox(clock: FrozenClock) -> Sandbox:
    return Sandbox(World(clock=clock, seed=7))


class InstantSleep(list[float]):
    """A sleep that records each wait and only yields to the event loop: retries in tests
    never wait (a module overrides `ctx_sleep` to read the waits)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def ctx_sleep() -> Sleep:
    """The sleep of the `ctx` fixture's context and of the app `make_client` builds."""
    return InstantSleep()


@pytest.fixture
async def ctx(
    settings: Settings, clock: FrozenClock, sandbox: Sandbox, ctx_sleep: Sleep
) -> AsyncIterator[Context]:
    async with open_context(
        settings, clock=clock, transports=sandbox.transports(), sleep=ctx_sleep
    ) as context:
        yield replace(context, sandbox=sandbox)


@pytest.fixture
def make_client(
    clock: FrozenClock, sandbox: Sandbox, ctx_sleep: Sleep
) -> Callable[[Settings], Any]:
    """An httpx client over the app (lifespan running), talking to the sandbox upstreams."""

    def make(settings: Settings) -> Any:
        return _client(settings, clock, sandbox, ctx_sleep)

    return make


class _client:
    def __init__(
        self, settings: Settings, clock: FrozenClock, sandbox: Sandbox, sleep: Sleep
    ) -> None:
        self.app = create_app(settings, clock=clock, transports=sandbox.transports(), sleep=sleep)
        self._lifespan: Any = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.7", 50000)),
            base_url="http://testserver",
        )
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()
        await self._lifespan.__aexit__(*exc)


@pytest.fixture
async def client(
    make_client: Callable[[Settings], Any], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as http:
        yield http


def cron_headers(secret: str = CRON_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def api_headers(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
