"""The three doors of run-decisions: the cron route, the scheduler job and the CLI command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.arena.decisions.support import SUNDAY, chat_ready, load_world_markets, seed_cohort
from tests.conftest import CRON_SECRET, cron_headers
from typer.testing import CliRunner

from arenabrain.arena.decisions import engine
from arenabrain.arena.jobs import JOBS
from arenabrain.arena.models import Decision, SystemLog
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import by_name
from arenabrain.sandbox import Sandbox
from arenabrain.settings import Settings

ROUTE = "/api/cron/run-decisions"


@pytest.fixture
async def seeded(ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> dict[str, Any]:
    clock.set(SUNDAY + timedelta(minutes=5))
    knobs = chat_ready(sandbox)
    await seed_cohort(ctx)
    await load_world_markets(ctx, sandbox)
    return knobs


async def rows(ctx: Context, table: Any) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": CRON_SECRET},  # the raw secret without "Bearer"
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic " + CRON_SECRET},
    ],
)
async def test_route_requires_the_cron_bearer(
    make_client: Callable[[Settings], Any],
    settings: Settings,
    ctx: Context,
    seeded: dict[str, Any],
    headers: dict[str, str],
) -> None:
    async with make_client(settings) as client:
        response = await client.post(ROUTE, headers=headers, content=b"{not json")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "statusCode": 401}
    assert seeded["calls"] == 0
    assert await rows(ctx, Decision) == 0
    assert await rows(ctx, SystemLog) == 0


async def test_route_rejects_other_methods(
    make_client: Callable[[Settings], Any], settings: Settings
) -> None:
    async with make_client(settings) as client:
        response = await client.get(ROUTE, headers=cron_headers())
    assert response.status_code == 405


async def test_route_runs_the_week(
    make_client: Callable[[Settings], Any], settings: Settings, ctx: Context, seeded: dict[str, Any]
) -> None:
    async with make_client(settings) as client:
        response = await client.post(ROUTE, headers=cron_headers(), json={"ignored": True})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["total_agents"] == 7
    assert body["cohort_bootstrap"] == {"cohort_id": "cohort-1", "cohort_number": 1}
    assert set(body) == {
        "success",
        "cohort_bootstrap",
        "decision_cohort_limit",
        "tracking_active_cohorts",
        "decision_eligible_cohorts",
        "cohorts_processed",
        "total_agents",
        "total_errors",
        "duration_ms",
        "results",
    }
    assert await rows(ctx, Decision) == 7


async def test_route_answers_502_when_every_agent_failed(
    make_client: Callable[[Settings], Any], settings: Settings, seeded: dict[str, Any]
) -> None:
    seeded["fail"] = True
    async with make_client(settings) as client:
        response = await client.post(ROUTE, headers=cron_headers())
    assert response.status_code == 502
    body = response.json()
    assert body["statusCode"] == 502 and body["success"] is False
    assert body["error"].startswith(
        "Decision run failed for all 7 processed agents across 1 decision cohort"
    )
    assert body["total_errors"] == 7


async def test_route_without_cohorts_is_an_empty_success(
    make_client: Callable[[Settings], Any], settings: Settings, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 3, 4, 12, tzinfo=UTC))  # a Wednesday: no cohort may start
    async with make_client(settings) as client:
        response = await client.post(ROUTE, headers=cron_headers())
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["cohort_bootstrap"], body["total_agents"], body["results"]) == (
        True,
        None,
        0,
        [],
    )


def test_scheduler_runs_it_sundays_at_00_05() -> None:
    job = by_name(JOBS)["run-decisions"]
    assert job.crontab == "5 0 * * 0"
    assert job.func is engine.run_decisions
    saturday = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert crontab_trigger(job.crontab).get_next_fire_time(None, saturday) == datetime(
        2026, 3, 8, 0, 5, tzinfo=UTC
    )


def test_cli_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from arenabrain import cli, console

    monkeypatch.chdir(tmp_path)  # no stray .env is read
    # Logs go to a stream that outlives CliRunner's (closed after the call), never to stdout.
    real = console.configure_logging
    monkeypatch.setattr(
        console,
        "configure_logging",
        lambda level, secrets, stream=None: real(level, secrets, sys.__stderr__),
    )
    for name, value in {
        "APP_ENV": "test",
        "SANDBOX": "true",
        "DATABASE_PATH": str(tmp_path / "cli.db"),
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "error",
    }.items():
        monkeypatch.setenv(name, value)

    async def no_bootstrap(ctx: Context) -> None:
        return None  # the sandbox clock is the wall clock; never start a cohort from here

    monkeypatch.setattr(engine, "bootstrap_cohort", no_bootstrap)
    result = CliRunner().invoke(cli.app, ["run-decisions", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["success"] is True and body["total_agents"] == 0
    help_text = CliRunner().invoke(cli.app, ["run-decisions", "--help"]).stdout
    assert "decision" in help_text.lower()
