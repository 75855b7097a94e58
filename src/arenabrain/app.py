"""The FastAPI application: lifespan (context, scheduler), middleware, errors and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

import httpx
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arenabrain import __version__
from arenabrain.arena import admin_session
from arenabrain.arena import jobs as arena_jobs
from arenabrain.arena import routes as arena_routes
from arenabrain.clock import Clock, Sleep
from arenabrain.credits import jobs as credits_jobs
from arenabrain.credits import routes as credits_routes
from arenabrain.jobs import CronJob, by_name
from arenabrain.logging import configure_logging, get_logger
from arenabrain.runtime import open_context
from arenabrain.scheduler import Scheduler
from arenabrain.settings import Settings, load_settings
from arenabrain.web import health
from arenabrain.web.access_log import AccessLogMiddleware
from arenabrain.web.answer_replay import AnswerReplayMiddleware
from arenabrain.web.body_limit import BodyLimitMiddleware
from arenabrain.web.errors import install_error_handlers
from arenabrain.web.json_bodies import JsonBodyMiddleware
from arenabrain.web.openapi import install_openapi
from arenabrain.web.trailing_slash import TrailingSlashMiddleware


@dataclass(frozen=True)
class Domain:
    """What a domain hands the app: its routes and its scheduled jobs."""

    name: str
    router: APIRouter
    jobs: tuple[CronJob, ...]


ARENA = Domain("arena", arena_routes.router, arena_jobs.JOBS)
CREDITS = Domain("credits", credits_routes.router, credits_jobs.JOBS)


def enabled_domains(settings: Settings) -> tuple[Domain, ...]:
    """The domains the settings turn on (ARENA_ENABLED, CREDITS_ENABLED), in a fixed order."""
    flags = ((ARENA, settings.arena_enabled), (CREDITS, settings.credits_enabled))
    return tuple(domain for domain, on in flags if on)


def scheduled_jobs(settings: Settings) -> tuple[CronJob, ...]:
    """Exactly the jobs of the enabled domains (a name used twice is refused)."""
    jobs = [job for domain in enabled_domains(settings) for job in domain.jobs]
    return tuple(by_name(jobs).values())


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
    sleep: Sleep = asyncio.sleep,
    log_stream: TextIO | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.secret_values(), stream=log_stream)

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
        async with open_context(settings, clock=clock, transports=transports, sleep=sleep) as ctx:
            app.state.ctx = ctx
            jobs = scheduled_jobs(settings)
            scheduler = Scheduler(ctx, jobs) if settings.scheduler_enabled else None
            app.state.scheduler = scheduler
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
    app.include_router(admin_session.router)  # served whichever domains are on, as before
    for domain in enabled_domains(settings):
        app.include_router(domain.router)
    install_openapi(app)
    # The last added runs first: the access line sees every answer (and the path as sent), the
    # size limit runs before anything reads the body, and the JSON check before any route
    # parses it; a kept public answer is replayed last, right before routing.
    app.add_middleware(AnswerReplayMiddleware)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    if settings.sandbox:
        label_sandbox(app)
    return app


def label_sandbox(app: FastAPI) -> None:
    """Mark every response of the app, its unhandled-error 500s included: Starlette answers
    those from its outermost middleware, outside any added one, so the label wraps the whole
    stack."""
    build = app.build_middleware_stack

    def labelled() -> ASGIApp:
        return SandboxHeaderMiddleware(build())

    app.build_middleware_stack = labelled  # type: ignore[method-assign]
