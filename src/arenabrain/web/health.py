"""Health: the arena's `/api/health` and the CreditBrain runbook's
`/health/live` and `/health/ready`; `/health` answers as `/health/live` (the anchor's Docker
health check and the Nginx site's uptime location call it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import RootModel
from sqlalchemy import text

from arenabrain.clients.openrouter import fetch_catalog
from arenabrain.context import Context
from arenabrain.web.auth import ContextDep
from arenabrain.web.health_answers import ArenaHealth, Live, Ready, answers

router = APIRouter(tags=["health"])
DEPENDENCY_TIMEOUT_S = 3.0
PROCESS_STARTED = time.monotonic()


def iso_timestamp(ctx: Context) -> str:
    moment = ctx.clock.now()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def uptime_seconds() -> float:
    return round(time.monotonic() - PROCESS_STARTED, 3)


async def database_ok(ctx: Context) -> bool:
    try:
        async with ctx.db.read() as session:
            return (await session.execute(text("SELECT 1"))).scalar() == 1
    except Exception:
        return False


async def openrouter_ok(ctx: Context) -> bool:
    """The credits endpoint with the management key when there is one, else the public catalog."""
    key = ctx.settings.openrouter_management_key
    try:
        if key is not None:
            await ctx.clients.keys.credits()
        else:
            await fetch_catalog(ctx.http.openrouter)
    except Exception:
        return False
    return True


async def within_deadline(check: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(check, DEPENDENCY_TIMEOUT_S)
    except TimeoutError:
        return False


def live_body(ctx: Context) -> dict[str, Any]:
    return sandboxed(
        ctx, {"status": "ok", "timestamp": iso_timestamp(ctx), "uptime": uptime_seconds()}
    )


def sandboxed(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """A health body, saying `sandbox: true` when the upstreams are the emulators."""
    if ctx.settings.sandbox:
        body["sandbox"] = True
    return body


@router.get("/health/live", response_model=None, responses=answers(Live))
async def live(request: Request) -> dict[str, Any]:
    """Always 200 while the process runs."""
    # The context straight from the app, not through a dependency: this route is the
    # service's cheapest answer, the yardstick of the read benchmark.
    return live_body(request.app.state.ctx)


@router.get("/health", response_model=None, responses=answers(Live))
async def live_alias(request: Request) -> dict[str, Any]:
    """The same answer as `/health/live`."""
    return live_body(request.app.state.ctx)


DEGRADED = "Degraded: the same body, naming the failing check"


@router.get("/health/ready", responses=answers(Ready, DEGRADED))
async def ready(ctx: ContextDep) -> JSONResponse:
    """Database and OpenRouter, checked concurrently with a 3 s limit each; 503 when degraded."""
    started = time.perf_counter()
    openrouter, database = await asyncio.gather(
        within_deadline(openrouter_ok(ctx)), within_deadline(database_ok(ctx))
    )
    healthy = openrouter and database
    body = {
        "status": "ok" if healthy else "degraded",
        "timestamp": iso_timestamp(ctx),
        "uptime": uptime_seconds(),
        "dependencies": {"openrouter": openrouter, "database": database},
        "responseTimeMs": round((time.perf_counter() - started) * 1000),
    }
    return JSONResponse(sandboxed(ctx, body), 200 if healthy else 503)


IntegrityCheck = RootModel[dict[str, str]]
INTEGRITY_READS = ("agents", "positions")  # the tables the orphan probe reads


async def _orphan_positions(ctx: Context) -> dict[str, str]:
    async with ctx.db.read() as session:
        orphans = (
            await session.execute(
                text(
                    "SELECT COUNT(*) FROM positions p "
                    "LEFT JOIN agents a ON a.id = p.agent_id WHERE a.id IS NULL"
                )
            )
        ).scalar()
    if orphans:
        return {"status": "error", "message": "Integrity issues detected"}
    return {"status": "ok"}


async def _integrity_check(ctx: Context) -> dict[str, str]:
    """The orphan-position probe through the answer cache: its result can change only when the
    data does, so it is recomputed after a write to agents or positions and never otherwise."""
    try:
        answer = await ctx.answers.json(
            ("data-integrity",), INTEGRITY_READS, IntegrityCheck, lambda: _orphan_positions(ctx)
        )
    except Exception:
        return {"status": "error", "message": "Integrity check unavailable"}
    found: dict[str, str] = json.loads(answer.body)
    return found


@router.get("/api/health", responses=answers(ArenaHealth, DEGRADED))
async def arena_health(ctx: ContextDep) -> JSONResponse:
    """Database, configuration completeness and a data-integrity probe; never names a secret."""
    # The answer cache's read of the data versions is a query the database just answered;
    # without one (PostgreSQL), the engine is asked.
    database = (
        {"status": "ok"}
        if ctx.answers.database_answers() or await within_deadline(database_ok(ctx))
        else {"status": "error", "message": "Database unavailable"}
    )
    settings = ctx.settings
    complete = settings.openrouter_api_key is not None and all(
        settings.arena_secret(name) for name in ("cron_secret", "admin_password")
    )
    environment = (
        {"status": "ok"}
        if complete
        else {"status": "error", "message": "Required configuration is incomplete"}
    )
    checks = {
        "database": database,
        "environment": environment,
        "data_integrity": await _integrity_check(ctx),
    }
    healthy = all(check["status"] == "ok" for check in checks.values())
    body: dict[str, Any] = {
        "status": "ok" if healthy else "error",
        "timestamp": iso_timestamp(ctx),
        "checks": checks,
    }
    return JSONResponse(sandboxed(ctx, body), 200 if healthy else 503)
