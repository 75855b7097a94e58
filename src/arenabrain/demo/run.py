"""`arenabrain demo`: a fresh database in its own directory, N simulated weeks of the whole
service against the sandbox world with a progress display, the summary, then the API served on
the simulated state (the world's clock running on, with the scheduler) until interrupted."""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from arenabrain.app import create_app
from arenabrain.demo.serving import (
    LEAD_WALL_SECONDS,
    base_url,
    clock_line,
    port_problem,
    serve_app,
    try_lines,
)
from arenabrain.demo.simulation import (
    Happenings,
    collect_over_http,
    plural,
    simulate,
)
from arenabrain.demo.summary import Summary, gather_summary, render_summary
from arenabrain.demo.timeline import CADENCE_NOTE, demo_jobs, fire_times
from arenabrain.demo.world import DemoWorld, build_world
from arenabrain.logging import STDERR, configure_logging
from arenabrain.runtime import open_context
from arenabrain.settings import Settings, load_settings

DATABASE_NAME = "arenabrain.db"
LOG_NAME = "arenabrain.log"
MAX_WEEKS = 52
# What the demo takes from the operator's environment: how it may run, never where its data is
# or which credentials it uses (it has its own database and the sandbox's stand-ins).
PASSED_THROUGH = ("APP_ENV", "NODE_ENV", "LOG_LEVEL", "HOST", "PORT")


class DemoRefused(Exception):
    """The demo cannot run as asked; the message says why and what to change."""


@dataclass(frozen=True)
class DemoOptions:
    weeks: int = 4
    seed: int = 7
    speed: float = 60.0
    serve: bool = True
    directory: Path | None = None
    host: str | None = None
    port: int | None = None


@dataclass
class DemoResult:
    directory: Path
    database: Path
    story: Happenings
    summary: Summary
    wall_seconds: float


def demo_directory(named: Path | None) -> Path:
    """The named directory (which must not hold a database yet), or a new temporary one."""
    if named is None:
        return Path(tempfile.gettempdir()) / f"arenabrain-demo-{secrets.token_hex(4)}"
    if (named / DATABASE_NAME).exists():
        raise DemoRefused(
            f"{named / DATABASE_NAME} exists; the demo starts from a fresh database: "
            "name another --dir or remove that file"
        )
    return named


def demo_settings(directory: Path, environment: Mapping[str, str], *, scheduler: bool) -> Settings:
    """Sandbox mode, both systems, the demo's own database and backups. Raises SettingsError
    when invalid (APP_ENV=production refuses sandbox mode)."""
    env = {name: value for name, value in environment.items() if name in PASSED_THROUGH}
    env.update(
        SANDBOX="true",
        ARENA_ENABLED="true",
        CREDITS_ENABLED="true",
        SCHEDULER_ENABLED="true" if scheduler else "false",
        DATABASE_PATH=str(directory / DATABASE_NAME),
        BACKUP_PATH=str(directory / "backups"),
    )
    return load_settings(env, env_file=None)


class ProgressReporter:
    """The simulation's progress bar, with what happened printed above it."""

    def __init__(self, progress: Progress, weeks: int, start: datetime, total: int) -> None:
        self.progress = progress
        self.weeks = weeks
        self.start = start
        self.task = progress.add_task("starting", total=total)

    def tick(self, moment: datetime, jobs: object) -> None:
        week = min((moment - self.start).days // 7 + 1, self.weeks)
        self.progress.update(
            self.task, advance=1, description=f"week {week}/{self.weeks} · {moment:%a %d %b %H:%M}"
        )

    def say(self, moment: datetime, text: str) -> None:
        self.progress.console.print(f"[dim]{moment:%a %d %b %H:%M}[/dim]  {text}")


async def run_weeks(
    settings: Settings, demo: DemoWorld, weeks: int, console: Console, log: TextIO
) -> tuple[Happenings, Summary]:
    """The simulated weeks (jobs on one context, key collection through the app's route),
    then the summary read back from the database."""
    jobs = demo_jobs()
    start = demo.clock.now()
    total = sum(1 for _ in fire_times(jobs, start, start + timedelta(weeks=weeks)))
    transports = demo.sandbox.transports()
    collector = create_app(
        settings, clock=demo.clock, transports=transports, sleep=demo.clock.sleep, log_stream=log
    )
    async with (
        open_context(
            settings,
            clock=demo.clock,
            transports=transports,
            sleep=demo.clock.sleep,
            rng=random.Random(demo.seed),
        ) as ctx,
        collector.router.lifespan_context(collector),
    ):
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            reporter = ProgressReporter(progress, weeks, start, total)
            story = await simulate(
                ctx, demo, weeks, reporter, partial(collect_over_http, collector), jobs
            )
        return story, await gather_summary(ctx)


def run_demo(options: DemoOptions, environment: Mapping[str, str], console: Console) -> DemoResult:
    """Simulate, summarise and (unless told not to) serve. Raises SettingsError or DemoRefused
    before anything is created when the demo cannot run as asked."""
    if not 1 <= options.weeks <= MAX_WEEKS:
        raise DemoRefused(f"--weeks must be between 1 and {MAX_WEEKS}")
    directory = demo_directory(options.directory)
    settings = demo_settings(directory, environment, scheduler=False)
    host, port = options.host or settings.host, options.port or settings.port
    if options.serve and (problem := port_problem(host, port)):
        raise DemoRefused(problem)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_NAME
    with log_path.open("a", encoding="utf-8") as log:
        configure_logging(settings.log_level, settings.secret_values(), stream=log)
        try:
            return simulate_and_serve(options, environment, console, settings, log, (host, port))
        finally:  # the log file closes: later lines go to stderr
            configure_logging(settings.log_level, settings.secret_values(), stream=STDERR)


def simulate_and_serve(
    options: DemoOptions,
    environment: Mapping[str, str],
    console: Console,
    settings: Settings,
    log: TextIO,
    address: tuple[str, int],
) -> DemoResult:
    directory = Path(settings.database_path).parent
    database = Path(settings.database_path)
    demo = build_world(settings, options.seed)
    console.print(
        f"[bold]arenabrain demo[/bold] (sandbox): {plural(options.weeks, 'simulated week')} "
        f"from {demo.clock.now():%a %d %b %Y}, world seed {options.seed}\n"
        f"  database {database}\n  log      {log.name}\n  cadence  {CADENCE_NOTE}"
    )
    started = time.perf_counter()
    story, summary = asyncio.run(run_weeks(settings, demo, options.weeks, console, log))
    wall = time.perf_counter() - started
    render_summary(console, summary, story, wall)
    result = DemoResult(directory, database, story, summary, wall)
    if not options.serve:
        console.print("Look next (the API is not served: --no-serve):")
        for line in look_lines(database, Path(log.name)):
            console.print(line, highlight=False, soft_wrap=True)
        return result
    serving = demo_settings(directory, environment, scheduler=True)
    serve_simulated(options, story, serving, demo, *address, log, console)
    return result


def look_lines(database: Path, log: Path) -> list[str]:
    """What to look at without a server: the database with the runbooks' sqlite3, the log."""
    return [
        f'  sqlite3 {database} "SELECT cohort_number, status FROM cohorts ORDER BY started_at"',
        f'  sqlite3 {database} "SELECT run_id, state, claimed_sol FROM runs ORDER BY started_at"',
        f"  jq -c 'select(.level == \"error\")' {log}",
    ]


def serve_simulated(
    options: DemoOptions,
    story: Happenings,
    settings: Settings,
    demo: DemoWorld,
    host: str,
    port: int,
    log: TextIO,
    console: Console,
) -> None:
    """Serve the simulated state, the world's clock running on at the chosen speed from a wall
    minute before the next cohort (never before the last instant simulated)."""
    lead = timedelta(seconds=LEAD_WALL_SECONDS * options.speed)
    demo.clock.set(max(story.last or story.start, story.end - lead))
    demo.clock.run(options.speed)
    url = base_url(host, port)
    console.print(
        f"Serving the simulated state at [bold]{url}[/bold] with the scheduler (Ctrl-C stops); "
        "every response carries X-Arenabrain-Sandbox: true."
    )
    console.print(clock_line(demo, options.speed), highlight=False, soft_wrap=True)
    console.print("Try:")
    for line in try_lines(settings, url, settings.database_path):
        console.print(line, highlight=False, soft_wrap=True)
    app = create_app(
        settings,
        clock=demo.clock,
        transports=demo.sandbox.transports(),
        sleep=demo.clock.sleep,
        log_stream=log,
    )
    serve_app(app, host, port)
    console.print(f"Stopped. The database stays at {settings.database_path}.")
