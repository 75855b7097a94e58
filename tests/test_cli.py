from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arenabrain.cli import app
from arenabrain.logging import configure_logging

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    db = tmp_path / "nested" / "cli.db"
    monkeypatch.setenv("DATABASE_PATH", str(db))
    yield db
    configure_logging("info", stream=io.StringIO())  # the runner's stderr is closed now


def test_migrate_creates_the_database_file_and_schema(env: Path) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(env) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"alembic_version", "scheduler_leases"} <= tables


def test_bad_settings_exit_with_code_2_and_list_every_problem(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("MAX_DAILY_RUNS", "-1")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "PORT:" in result.output and "MAX_DAILY_RUNS:" in result.output


def test_health_reports_dependencies_in_sandbox(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX", "true")
    result = runner.invoke(app, ["health", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body == {"status": "ok", "dependencies": {"openrouter": True, "database": True}}


def test_every_command_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("serve", "migrate", "health"):
        assert name in result.output


def test_serve_sandbox_in_production_exits_with_code_2_and_says_why(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    for secret in ("CRON_SECRET", "ADMIN_PASSWORD", "ADMIN_SESSION_SECRET", "OPENROUTER_API_KEY"):
        monkeypatch.setenv(secret, "set")
    result = runner.invoke(app, ["serve", "--sandbox"])
    assert result.exit_code == 2
    assert "SANDBOX: sandbox mode" in result.output and "APP_ENV=production" in result.output


def test_demo_in_production_exits_with_code_2_says_why_and_creates_nothing(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    for secret in ("CRON_SECRET", "ADMIN_PASSWORD", "ADMIN_SESSION_SECRET", "OPENROUTER_API_KEY"):
        monkeypatch.setenv(secret, "set")
    result = runner.invoke(app, ["demo", "--no-serve", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert "SANDBOX: sandbox mode" in result.output and "APP_ENV=production" in result.output
    assert not (tmp_path / "demo").exists() and not env.exists()


def test_serve_speed_outside_sandbox_mode_exits_with_code_2(env: Path) -> None:
    result = runner.invoke(app, ["serve", "--speed", "60"])
    assert result.exit_code == 2
    assert "--speed: the world's clock exists in sandbox mode only" in result.output


def test_serve_sandbox_refuses_a_speed_out_of_range(env: Path) -> None:
    result = runner.invoke(app, ["serve", "--sandbox", "--speed", "20000"])
    assert result.exit_code == 2 and "--speed must be between 0" in result.output
