"""The arena's CLI commands and scheduler jobs call the same functions as the cron routes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arenabrain import console
from arenabrain.arena import cohorts, jobs, lineup, markets
from arenabrain.cli import app
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import by_name
from tests.deploy.test_deploy_files import RUNBOOK_SCHEDULE

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    db = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_PATH", str(db))
    monkeypatch.setenv("SANDBOX", "true")
    monkeypatch.setenv("LOG_LEVEL", "error")
    # Logs go to a stream that outlives CliRunner's (closed after each call): a logger left
    # writing to a closed stream breaks whichever test logs next in this process.
    real = console.configure_logging
    monkeypatch.setattr(
        console,
        "configure_logging",
        lambda level, secrets, stream=None: real(level, secrets, sys.__stderr__),
    )
    return db


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_arena_commands_run_against_the_sandbox(env: Path) -> None:
    synced = invoke("sync-markets")
    assert synced["success"] is True and synced["markets_added"] > 40
    started = invoke("start-cohort", "--force")
    assert started["success"] is True and started["agents_created"] == 7
    assert invoke("start-cohort", "--force")["cohort_id"] == started["cohort_id"]
    checked = invoke("check-model-lineup")
    assert checked["status"] == "open" and checked["candidate_count"] == 1
    page = invoke("markets", "--limit", "3")
    assert len(page["markets"]) == 3 and page["total"] == synced["markets_added"]
    volumes = [m["volume"] for m in page["markets"]]
    assert volumes == sorted(volumes, reverse=True)


def test_markets_prints_a_table(env: Path) -> None:
    invoke("sync-markets")
    result = runner.invoke(app, ["markets", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "57 markets" in result.stdout and "┏" in result.stdout


def test_help_lists_the_arena_commands(env: Path) -> None:
    result = runner.invoke(app, ["--help"])
    for name in ("sync-markets", "start-cohort", "check-model-lineup", "markets"):
        assert name in result.output
    assert "--force" in runner.invoke(app, ["start-cohort", "--help"]).output


def test_jobs_are_registered_with_the_runbook_schedule() -> None:
    # Every job of the runbook's section 3, and no other, on its schedule.
    assert sorted((job.crontab, job.name) for job in jobs.JOBS) == sorted(RUNBOOK_SCHEDULE)
    schedule = {name: (job.crontab, job.func) for name, job in by_name(jobs.JOBS).items()}
    assert schedule["sync-markets"] == ("*/5 * * * *", markets.sync_markets)
    assert schedule["start-cohort"] == ("0 0 * * 0", cohorts.start_cohort)
    assert schedule["check-model-lineup"] == ("0 9 * * 1", lineup.check_model_lineup)


@pytest.mark.parametrize(
    ("crontab", "after", "fires"),
    [
        ("0 0 * * 0", datetime(2026, 2, 28, 23, 59, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        ("0 9 * * 1", datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)),
    ],
)
def test_weekly_jobs_fire_on_the_right_day(crontab: str, after: datetime, fires: datetime) -> None:
    assert crontab_trigger(crontab).get_next_fire_time(None, after) == fires
