"""Serving the sandbox: the world's clock for `serve --sandbox`, the few human lines that say
what runs where and what to try, and the HTTP server itself (the demo serves its simulated state
the same way once its weeks are done)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from rich.console import Console

from arenabrain.app import create_app, scheduled_jobs
from arenabrain.clock import wall_now
from arenabrain.credits import strategies
from arenabrain.demo.simulation import STRATEGY_SCHEDULE, create_strategy
from arenabrain.demo.world import DEFAULT_SEED, DemoWorld, build_world
from arenabrain.runtime import open_context
from arenabrain.settings import DEV_ADMIN_PASSWORD, DEV_CRON_SECRET, SANDBOX_CREDENTIALS, Settings

DEFAULT_SPEED = 60.0  # a simulated hour per minute: a week in under three hours
MAX_SPEED = 10_080.0  # a simulated week per minute
LEAD_WALL_SECONDS = 60  # `serve --sandbox` starts this long (on the wall) before a cohort starts


def speed_problem(speed: float) -> str | None:
    if not 0 <= speed <= MAX_SPEED:
        return f"--speed must be between 0 (the clock stands still) and {MAX_SPEED:g}"
    return None


def sandbox_start(now: datetime, speed: float) -> datetime:
    """Where `serve --sandbox` starts the world's clock: at speed 1 now, as the real clock;
    faster, a minute of wall time before the next Sunday 00:00 UTC, when a cohort starts."""
    if speed == 1:
        return now
    return next_sunday(now) - timedelta(seconds=LEAD_WALL_SECONDS * speed)


def next_sunday(now: datetime) -> datetime:
    """The first Sunday 00:00 UTC after `now`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=(6 - now.weekday()) % 7 or 7)


def serving_world(settings: Settings, seed: int, speed: float) -> DemoWorld:
    """The world `serve --sandbox` runs: at speed 1 in step with the real clock, else on a
    clock running `speed` times faster from just before the next cohort."""
    return build_world(settings, seed, sandbox_start(wall_now(), speed), speed)


async def prepare_strategy(settings: Settings, demo: DemoWorld) -> str | None:
    """The strategy the scheduler will run for the world's token (the database's own when it has
    an active one, else a new one); None when CreditBrain is off."""
    if not settings.credits_enabled:
        return None
    async with open_context(
        settings, clock=demo.world.clock, transports=demo.sandbox.transports()
    ) as ctx:
        async with ctx.db.read() as session:
            live = [s for s in await strategies.all_live(session) if s.status == "ACTIVE"]
        mine = [s for s in live if s.distribution_token == demo.token_mint]
        if mine:
            return mine[0].strategy_id
        return await create_strategy(ctx, demo)


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (None when it can)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port} ({exc.strerror}); pick another with --port"
    return None


def base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def credential(settings: Settings, name: str) -> str:
    """The sandbox credential to show: its development value, or a reference to the variable
    when the operator configured one (a configured secret is never printed)."""
    values = {
        "CRON_SECRET": (settings.cron_secret, DEV_CRON_SECRET),
        "ADMIN_PASSWORD": (settings.admin_password, DEV_ADMIN_PASSWORD),
        "API_AUTH_TOKEN": (settings.api_auth_token, SANDBOX_CREDENTIALS["API_AUTH_TOKEN"]),
    }
    configured, development = values[name]
    if configured is None or configured.get_secret_value() == development:
        return development
    return f"${name}"


def try_lines(settings: Settings, url: str, database: str | None = None) -> list[str]:
    """The commands a newcomer can paste, with this sandbox's credentials."""
    cron = credential(settings, "CRON_SECRET")
    lines = [
        f"  curl -s {url}/api/health",
        f"  curl -s {url}/api/leaderboard",
        f"  curl -s '{url}/api/markets?limit=1'",
        f"  curl -s {url}/api/decisions/recent",
        f"  curl -s -X POST {url}/api/cron/sync-markets -H 'Authorization: Bearer {cron}'",
    ]
    if settings.credits_enabled:
        token = credential(settings, "API_AUTH_TOKEN")
        lines.append(f"  curl -s {url}/api/runs -H 'Authorization: Bearer {token}'")
    if database:
        lines.append(
            f'  sqlite3 {database} "SELECT cohort_number, status FROM cohorts ORDER BY started_at"'
        )
    lines.append(
        f"Sandbox credentials: CRON_SECRET={cron}  "
        f"ADMIN_PASSWORD={credential(settings, 'ADMIN_PASSWORD')}"
        + (
            f"  API_AUTH_TOKEN={credential(settings, 'API_AUTH_TOKEN')}"
            if settings.credits_enabled
            else ""
        )
    )
    return lines


def clock_line(demo: DemoWorld, speed: float) -> str:
    now = demo.world.clock.now()
    if speed == 0:
        return (
            f"  world      seed {demo.seed}; its clock stands still at {now:%a %d %b %Y %H:%M} UTC"
        )
    if speed == 1:
        return (
            f"  world      seed {demo.seed}; its clock runs at the wall's pace, now "
            f"{now:%a %d %b %H:%M} UTC"
        )
    sunday = next_sunday(now)
    wait = (sunday - now).total_seconds() / speed
    return (
        f"  world      seed {demo.seed}; its clock runs {speed:g}x the wall clock, now "
        f"{now:%a %d %b %H:%M} UTC: the next cohort starts {sunday:%a %d %b %H:%M} "
        f"(in about {_duration(wait)}), its decisions 5 simulated minutes later"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def startup_lines(
    settings: Settings,
    demo: DemoWorld,
    speed: float,
    url: str,
    jobs: Sequence[str],
    strategy_id: str | None,
    database: str | None,
) -> list[str]:
    """What `serve --sandbox` says before serving, in a few human lines."""
    lines = [
        "SANDBOX MODE: every upstream (Polymarket, OpenRouter, Bags, Solana) is an in-process "
        "emulator; no real money moves and no real key is made.",
        f"  API        {url}  (every response carries X-Arenabrain-Sandbox: true)",
        f"  database   {database or settings.resolved_database_url()}",
        clock_line(demo, speed),
    ]
    if settings.scheduler_enabled:
        lines.append(f"  scheduler  {', '.join(jobs)}, on the world's clock")
    else:
        lines.append("  scheduler  off (SCHEDULER_ENABLED=false): call the cron routes yourself")
    quiet = settings.log_level in ("warn", "error")
    lines.append(
        f"  logs       JSON lines below, {settings.log_level} and above"
        + (" (LOG_LEVEL=info shows every job and request)" if quiet else "")
    )
    if strategy_id is not None:
        lines.append(
            f"  CreditBrain strategy {strategy_id} claims, swaps, allocates and provisions "
            f"on '{STRATEGY_SCHEDULE}' for the top holders of {demo.token_mint}"
        )
    lines.append("Try:")
    lines.extend(try_lines(settings, url, database))
    return lines


def serve_app(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C stops the server, its scheduler and its context)."""
    import uvicorn

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def sqlite_file(settings: Settings) -> str | None:
    url = settings.resolved_database_url()
    prefix = "sqlite+aiosqlite:///"
    return str(Path(url[len(prefix) :])) if url.startswith(prefix) else None


def serve_sandbox(settings: Settings, host: str, port: int, speed: float, console: Console) -> None:
    """`serve --sandbox`: the world at `speed`, CreditBrain given work, the start-up lines, then
    the service with its scheduler on the world's clock until interrupted."""
    demo = serving_world(settings, DEFAULT_SEED, speed)
    strategy_id = asyncio.run(prepare_strategy(settings, demo))
    app = create_app(
        settings, clock=demo.clock, transports=demo.sandbox.transports(), sleep=demo.clock.sleep
    )
    jobs = [job.name for job in scheduled_jobs(settings)]
    url = base_url(host, port)
    for line in startup_lines(settings, demo, speed, url, jobs, strategy_id, sqlite_file(settings)):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    serve_app(app, host, port)
