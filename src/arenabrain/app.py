"""The FastAPI application: lifespan (context, scheduler), middleware, errors and routers."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import ModuleType

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arenabrain import __version__
from arenabrain.clock import Clock
from arenabrain.logging import configure_logging, get_logger
from arenabrain.runtime import open_context
from arenabrain.scheduler import Scheduler
from arenabrain.settings import Settings, load_settings
from arenabrain.web import admin_session, health
from arenabrain.web.access_log import AccessLogMiddleware
from arenabrain.web.body_limit import BodyLimitMiddleware
from arenabrain.web.errors import install_error_handlers
from arenabrain.web.json_bodies import JsonBodyMiddleware
from arenabrain.web.openapi import install_openapi
from arenabrain.web.trailing_slash import TrailingSlashMiddleware

# Each domain contributes `routes.router` and registers its jobs when `jobs` is imported.
DOMAINS = {"arena": "arenabrain.arena", "credits": "arenabrain.credits"}


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:  # a domain still being built
        if exc.name != name:
            raise
        return None


def enabled_domains(settings: Settings) -> list[str]:
    flags = {"arena": settings.arena_enabled, "credits": settings.credits_enabled}
    return [DOMAINS[name] for name, on in flags.items() if on]


class SandboxHeaderMiddleware:
    """In sandbox mode every response says so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def mark(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-arenabrain-sandbox", b"true"))
            await send(message)

        await self.app(scope, receive, mark if scope["type"] == "http" else send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.secret_values())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log = get_logger()
        missing = settings.missing_arena_secrets()
        if settings.arena_enabled and missing:
            mode = "failing closed" if settings.is_production else "using development fallbacks"
            log.warning(f"arena secrets not configured; {mode}", count=len(missing))
        if settings.sandbox:
            log.warning(
                "SANDBOX MODE: every upstream is an in-process emulator; no real money moves"
            )
        async with open_context(settings, clock=clock, transports=transports) as ctx:
            app.state.ctx = ctx
            scheduler = Scheduler(ctx) if settings.scheduler_enabled else None
            if scheduler is not None:
                await scheduler.start()
            log.info("arenabrain started", version=__version__, sandbox=settings.sandbox)
            try:
                yield
            finally:
                if scheduler is not None:
                    await scheduler.stop()

    app = FastAPI(
        title="arenabrain", version=__version__, lifespan=lifespan, redirect_slashes=False
    )
    install_error_handlers(app, production=settings.is_production)
    app.include_router(health.router)
    app.include_router(admin_session.router)
    for package in enabled_domains(settings):
        _optional_module(f"{package}.jobs")
        routes = _optional_module(f"{package}.routes")
        if routes is not None:
            app.include_router(routes.router)
    install_openapi(app)
    # The last added runs first: the access line sees every answer (and the path as sent), the
    # size limit runs before anything reads the body, and the JSON check before any route
    # parses it.
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    if settings.sandbox:
        app.add_middleware(SandboxHeaderMiddleware)
    return app
