"""`arenabrain demo` and `serve --sandbox`: a one-week demo runs the whole service through its
real jobs (asserted on what the database holds afterwards), the same seed tells the same story,
the demo refuses production and never touches DATABASE_PATH, and the served sandbox's scheduler
starts cohorts on the world's fast clock."""

from __future__ import annotations

import asyncio
import io
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from arenabrain.app import create_app, scheduled_jobs
from arenabrain.cli import app
from arenabrain.demo.serving import sandbox_start, startup_lines
from arenabrain.demo.world import DEFAULT_SEED, build_world, derived_keypair
from arenabrain.logging import configure_logging
from arenabrain.settings import Settings

runner = CliRunner()
WEEK_DEMO = ["demo", "--weeks", "1", "--no-serve"]


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str
    directory: Path
    operator_database: Path

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.directory / "arenabrain.db") as db:
            return db.execute(sql).fetchall()

    def one(self, sql: str) -> object:
        return self.rows(sql)[0][0]


def run_demo_command(root: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    """`arenabrain demo ...` in `root` (no .env there), with DATABASE_PATH pointing at a file
    the demo must never create."""
    operator = root / "operator.db"
    directory = root / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = runner.invoke(
            app,
            [*args, "--dir", str(directory)],
            env={"DATABASE_PATH": str(operator), "APP_ENV": "development", **(env or {})},
        )
    configure_logging("info", stream=io.StringIO())  # the demo's log file is closed now
    return Ran(result.exit_code, result.output, directory, operator)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    ran = run_demo_command(tmp_path_factory.mktemp("week"), *WEEK_DEMO)
    assert ran.exit_code == 0, ran.output
    return ran


# --- a one-week demo -----------------------------------------------------------------------------


def test_one_week_demo_records_every_models_decision_and_marks_portfolios(week: Ran) -> None:
    assert week.one("SELECT COUNT(*) FROM cohorts") == 1
    assert week.one("SELECT COUNT(*) FROM decisions") == 7
    assert week.one("SELECT COUNT(*) FROM decisions WHERE action = 'ERROR'") == 0
    assert week.one("SELECT COUNT(*) FROM trades") > 0
    snapshots = week.one("SELECT COUNT(DISTINCT snapshot_timestamp) FROM portfolio_snapshots")
    assert isinstance(snapshots, int) and snapshots >= 20  # every 8 simulated hours


def test_one_week_demo_settles_a_resolved_market(week: Ran) -> None:
    assert week.one("SELECT COUNT(*) FROM markets WHERE status = 'resolved'") >= 1
    settled = week.rows(
        "SELECT p.status, m.status FROM positions p JOIN markets m ON m.id = p.market_id"
        " WHERE p.status <> 'open'"
    )
    assert settled and all(market == "resolved" for _, market in settled)


def test_one_week_demo_completes_creditbrain_runs_that_claim_swap_and_provision(
    week: Ran,
) -> None:
    runs = week.rows(
        "SELECT state, claimed_lamports, swapped_usdc_base_units, allocated_cents,"
        " keys_provisioned, keys_updated FROM runs ORDER BY started_at"
    )
    assert runs and all(state == "COMPLETE" for state, *_ in runs)
    assert all(claimed and swapped and allocated for _, claimed, swapped, allocated, *_ in runs)
    assert runs[0][4] > 0  # the first run creates the keys, the next ones top them up
    assert sum(row[5] for row in runs[1:]) > 0
    allocated = week.one("SELECT SUM(allocated_cents) FROM allocation_snapshots")
    assert allocated == sum(row[3] for row in runs)
    assert week.one("SELECT COUNT(*) FROM usage_snapshots") > 0


def test_one_week_demo_holder_collects_its_key_with_a_wallet_signature(week: Ran) -> None:
    holder = str(derived_keypair(DEFAULT_SEED, "holder").pubkey())
    [(collected_at, encrypted)] = week.rows(
        f"SELECT collected_at, encrypted_key FROM user_keys WHERE holder_wallet = '{holder}'"
    )
    assert collected_at is not None and encrypted is None  # handed over once, then erased
    assert week.one("SELECT COUNT(*) FROM key_claim_nonces") == 1
    assert "collected its key sk-or-v1-" in week.output


def test_one_week_demo_prints_the_summary_and_writes_its_backup(week: Ran) -> None:
    for heading in ("Leaderboard", "Market baseline", "Cohorts", "CreditBrain runs"):
        assert heading in week.output
    assert "1 simulated week" in week.output and "decisions:" in week.output
    assert list((week.directory / "backups").glob("*.db"))


def test_the_demo_never_touches_database_path(week: Ran) -> None:
    assert not week.operator_database.exists()
    assert (week.directory / "arenabrain.db").is_file()


def test_the_same_seed_tells_the_same_story(week: Ran, tmp_path: Path) -> None:
    again = run_demo_command(tmp_path, *WEEK_DEMO)
    assert again.exit_code == 0, again.output

    def leaderboard(ran: Ran) -> str:
        return ran.output[ran.output.index("Leaderboard") : ran.output.index("Cohorts")]

    allocations = (
        "SELECT r.started_at, a.holder_wallet, a.allocated_cents FROM allocation_snapshots a"
        " JOIN runs r ON r.run_id = a.run_id ORDER BY r.started_at, a.holder_wallet"
    )
    trades = (
        "SELECT m.polymarket_id, t.side, t.shares, t.price, t.executed_at FROM trades t"
        " JOIN markets m ON m.id = t.market_id ORDER BY t.executed_at, m.polymarket_id, t.side"
    )
    assert leaderboard(again) == leaderboard(week)
    assert again.rows(allocations) == week.rows(allocations)
    assert again.rows(trades) == week.rows(trades)


# --- refusals -------------------------------------------------------------------------------------


def test_the_demo_refuses_a_directory_that_already_holds_a_database(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "arenabrain.db").write_bytes(b"precious")
    ran = run_demo_command(tmp_path, *WEEK_DEMO)
    assert ran.exit_code == 2 and "starts from a fresh database" in ran.output
    assert (tmp_path / "demo" / "arenabrain.db").read_bytes() == b"precious"


def test_the_demo_refuses_a_busy_port_before_simulating(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = run_demo_command(tmp_path, "demo", "--weeks", "1", "--port", str(port))
    assert ran.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in ran.output
    assert not ran.directory.exists()


@pytest.mark.parametrize("args", [["--weeks", "0"], ["--weeks", "53"], ["--speed", "-1"]])
def test_the_demo_refuses_weeks_or_speeds_out_of_range(tmp_path: Path, args: list[str]) -> None:
    ran = run_demo_command(tmp_path, "demo", "--no-serve", *args)
    assert ran.exit_code == 2
    assert "--weeks must be between 1 and 52" in ran.output or "--speed must be" in ran.output


# --- serve --sandbox -------------------------------------------------------------------------------


def test_a_fast_sandbox_clock_starts_a_minute_of_wall_time_before_the_next_sunday() -> None:
    wednesday = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert sandbox_start(wednesday, 60) == datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    assert sandbox_start(wednesday, 1440) == datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    assert sandbox_start(wednesday, 1) == wednesday  # real time: no jump


def test_serve_sandbox_start_up_lines_say_what_runs_where_and_what_to_try(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(  # the sandbox's own credentials: none configured
        SANDBOX="true", CREDITS_ENABLED="true", CRON_SECRET="", ADMIN_PASSWORD="", API_AUTH_TOKEN=""
    )
    world = build_world(settings, DEFAULT_SEED, datetime(2026, 12, 5, 23, 0, tzinfo=UTC), speed=0)
    jobs = [job.name for job in scheduled_jobs(settings)]
    text = "\n".join(
        startup_lines(settings, world, 60, "http://127.0.0.1:3001", jobs, "strategy-1", "x.db")
    )
    assert "SANDBOX MODE" in text and "X-Arenabrain-Sandbox: true" in text
    assert "runs 60x the wall clock" in text
    assert "the next cohort starts Sun 06 Dec 00:00 (in about 60 s)" in text
    assert "curl -s http://127.0.0.1:3001/api/health" in text
    assert (
        "curl -s -X POST http://127.0.0.1:3001/api/cron/sync-markets"
        " -H 'Authorization: Bearer dev-secret'" in text
    )
    assert "Bearer sandbox-api-token" in text and "strategy-1" in text
    assert "CRON_SECRET=dev-secret  ADMIN_PASSWORD=admin" in text


def test_serve_sandbox_never_prints_a_configured_secret(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(SANDBOX="true", CRON_SECRET="operator-chosen-secret")
    world = build_world(settings, DEFAULT_SEED, datetime(2026, 12, 5, 23, 0, tzinfo=UTC), speed=0)
    text = "\n".join(startup_lines(settings, world, 60, "http://h:1", [], None, None))
    assert "operator-chosen-secret" not in text and "Bearer $CRON_SECRET" in text


async def test_serve_sandbox_scheduler_starts_a_cohort_and_its_decisions_on_the_fast_clock(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(SANDBOX="true", SCHEDULER_ENABLED="true")
    saturday = datetime(2026, 12, 5, 23, 50, tzinfo=UTC)
    world = build_world(
        settings, DEFAULT_SEED, saturday, speed=600
    )  # ten simulated minutes a second
    service = create_app(
        settings,
        clock=world.clock,
        transports=world.sandbox.transports(),
        sleep=world.clock.sleep,
        log_stream=io.StringIO(),
    )
    decided: list[dict[str, object]] = []
    async with service.router.lifespan_context(service):
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            for _ in range(300):
                await asyncio.sleep(0.1)
                decided = (await http.get("/api/decisions/recent")).json()["decisions"]
                if len(decided) >= 7:
                    break
            cohorts = (await http.get("/api/cohorts")).json()["cohorts"]
    configure_logging("info", stream=io.StringIO())
    assert [c["started_at"] for c in cohorts] == ["2026-12-06T00:00:00.000Z"]
    assert len(decided) == 7  # every model of the cohort decided, on the scheduler alone
    assert all(d["decision_timestamp"] >= "2026-12-06T00:05" for d in decided)
    assert world.clock.now() - saturday < timedelta(days=2)


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    yield
    configure_logging("info", stream=io.StringIO())
