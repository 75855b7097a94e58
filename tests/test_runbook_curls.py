"""Every `curl` of the arena runbook's sections 3, 4.1, 6 and 9, run with the curl binary
against a live server process (`arenabrain serve --sandbox` on a free local port), checking
status and shape.

The commands are the runbook's text; only the host (`http://127.0.0.1:3010`,
`https://yourdomain.com`) and the placeholders (`YOUR_CRON_SECRET`, the admin cookie and the
export's cohort id) are replaced. Cron routes allow 10 calls a minute per client, so section 3
and section 6 each get their own server."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from arenabrain.arena.schemas.admin import ExportCreated
from arenabrain.arena.schemas.jobs import (
    BackupCreated,
    CohortStarted,
    DecisionRun,
    LineupChecked,
    MarketSync,
    ResolutionCheck,
    SnapshotsTaken,
)
from arenabrain.arena.schemas.pages import LeaderboardPage, MarketsPage
from tests.conftest import ADMIN_PASSWORD, CRON_SECRET, SESSION_SECRET

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

RUNBOOK_HOST = "http://127.0.0.1:3010"

# Section 3, verbatim.
SECTION_3 = r"""
# Sync top markets from Polymarket
*/5 * * * * curl -s -X POST http://127.0.0.1:3010/api/cron/sync-markets \
  -H "Authorization: Bearer $CRON_SECRET"

# Start the weekly cohort at Sunday 00:00 UTC
0 0 * * 0 curl -s -X POST http://127.0.0.1:3010/api/cron/start-cohort \
  -H "Authorization: Bearer $CRON_SECRET"

# Run model decisions after cohort creation
5 0 * * 0 curl -s -X POST http://127.0.0.1:3010/api/cron/run-decisions \
  -H "Authorization: Bearer $CRON_SECRET"

# Re-check closed markets for resolution
0 * * * * curl -s -X POST http://127.0.0.1:3010/api/cron/check-resolutions \
  -H "Authorization: Bearer $CRON_SECRET"

# Mark to market unarchived active cohorts
*/10 * * * * curl -s -X POST http://127.0.0.1:3010/api/cron/take-snapshots \
  -H "Authorization: Bearer $CRON_SECRET"

# Check OpenRouter for newer general-purpose model releases
0 9 * * 1 curl -s -X POST http://127.0.0.1:3010/api/cron/check-model-lineup \
  -H "Authorization: Bearer $CRON_SECRET"

# Create a database backup before the next weekly cycle
0 23 * * 6 curl -s -X POST http://127.0.0.1:3010/api/cron/backup \
  -H "Authorization: Bearer $CRON_SECRET"
"""

# Section 4.1.
HEALTH_4_1 = "curl -s https://yourdomain.com/api/health | jq"

# Sections 6.1 to 6.7, verbatim.
SECTION_6 = {
    "6.1": """curl -s -X POST http://127.0.0.1:3010/api/cron/sync-markets \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.2": """curl -s -X POST http://127.0.0.1:3010/api/cron/start-cohort \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.3": """curl -s -X POST http://127.0.0.1:3010/api/cron/run-decisions \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.4": """curl -s -X POST http://127.0.0.1:3010/api/cron/check-resolutions \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.5": """curl -s -X POST http://127.0.0.1:3010/api/cron/take-snapshots \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.6": """curl -s -X POST http://127.0.0.1:3010/api/cron/backup \\
  -H "Authorization: Bearer YOUR_CRON_SECRET\"""",
    "6.7": """curl -s -X POST http://127.0.0.1:3010/api/admin/export \\
  -H "Content-Type: application/json" \\
  -H "Cookie: forecaster_admin=..." \\
  -d '{
    "cohort_id": "cohort-id",
    "from": "2026-03-01T00:00:00.000Z",
    "to": "2026-03-07T00:00:00.000Z",
    "include_prompts": false
  }'""",
}

# Section 9: "curl /api/health", "curl /api/leaderboard", "curl /api/markets?limit=1".
SECTION_9 = ["/api/health", "/api/leaderboard", "/api/markets?limit=1"]

ROUTE_SHAPES: dict[str, type[BaseModel]] = {
    "sync-markets": MarketSync,
    "start-cohort": CohortStarted,
    "run-decisions": DecisionRun,
    "check-resolutions": ResolutionCheck,
    "take-snapshots": SnapshotsTaken,
    "check-model-lineup": LineupChecked,
    "backup": BackupCreated,
}


def crontab_commands(text: str) -> list[str]:
    """The commands of a crontab text: continuation lines joined, comments dropped, the five
    schedule fields removed."""
    joined = text.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [line.split(None, 5)[5] for line in lines if line and not line.startswith("#")]


# --- the live server -------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    directory: Path
    process: subprocess.Popen[bytes]
    cookie: str = ""
    cohort_id: str = ""

    def curl(self, command: str, **placeholders: str) -> tuple[int, str]:
        """Run a runbook command (host replaced) through bash; returns (status, body)."""
        command = command.replace(RUNBOOK_HOST, self.base).replace(
            "https://yourdomain.com", self.base
        )
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        pipeline = command.split(" | ", 1)
        # Only what the runbook sends: `-w` prints the status after the body.
        first = pipeline[0] + " -w '\\n%{http_code}'"
        done = subprocess.run(
            ["bash", "-c", first],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CRON_SECRET": CRON_SECRET},
            check=True,
        )
        body, _, status = done.stdout.rpartition("\n")
        if len(pipeline) == 2:
            body = pipe_through(pipeline[1], body)
        return int(status), body


def pipe_through(command: str, body: str) -> str:
    if command.strip() == "jq" and shutil.which("jq") is None:
        return json.dumps(json.loads(body), indent=2)  # what `jq` prints, when it is missing
    done = subprocess.run(
        shlex.split(command), input=body, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(directory: Path, migrated: Path) -> Server:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, directory / "forecaster.db")  # start-up then has nothing to migrate
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ARENA", "APP_", "DATABASE"))},
        "APP_ENV": "development",
        "DATABASE_PATH": str(directory / "forecaster.db"),
        "BACKUP_PATH": str(directory / "backups"),
        "SCHEDULER_ENABLED": "false",
        "CRON_SECRET": CRON_SECRET,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMIN_SESSION_SECRET": SESSION_SECRET,
        "LOG_LEVEL": "warn",
    }
    executable = Path(sys.executable).with_name("arenabrain")
    # --speed 1: the world's clock in step with the real one, so a week is a real week.
    command = [str(executable), "serve", "--sandbox", "--speed", "1", "--host", "127.0.0.1"]
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server(f"http://127.0.0.1:{port}", directory, process)


def wait_until_live(server: Server, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError((server.directory / "server.log").read_text())
        try:
            if httpx.get(f"{server.base}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not start")


def prepare(server: Server) -> None:
    """Log in, sync the markets and make sure this week's cohort exists (any day of the week:
    `force`): the state a deployed service is in, whichever section's test runs first (the
    tests of this module may run on different workers, each with its own servers)."""
    login = httpx.post(f"{server.base}/api/admin/login", json={"password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    server.cookie = login.cookies["forecaster_admin"]

    def action(body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(
            f"{server.base}/api/admin/action",
            json=body,
            cookies={"forecaster_admin": server.cookie},
        )
        assert answer.status_code == 200 and answer.json()["success"], answer.text
        return dict(answer.json())

    action({"action": "sync-markets"})
    server.cohort_id = action({"action": "start-cohort", "force": True})["cohort_id"]


def stop(servers: list[Server]) -> None:
    for server in servers:
        server.process.send_signal(signal.SIGINT)
    for server in servers:
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[dict[str, Server]]:
    root = tmp_path_factory.mktemp("curls")
    started = {
        name: start_server(root / name, migrated_template) for name in ("section-3", "section-6")
    }
    try:
        for server in started.values():
            wait_until_live(server)
            prepare(server)
        yield started
    finally:
        stop(list(started.values()))


def route_of(command: str) -> str:
    match = re.search(r"/api/cron/([a-z-]+)", command)
    assert match is not None, command
    return match.group(1)


# --- section 3 -----------------------------------------------------------------------------


def test_section_3_every_scheduled_curl_answers_its_job(servers: dict[str, Server]) -> None:
    server = servers["section-3"]
    commands = crontab_commands(SECTION_3)
    assert [route_of(c) for c in commands] == list(ROUTE_SHAPES)

    for command in commands:
        status, body = server.curl(command)
        route = route_of(command)
        assert status == 200, (route, body)
        answer = json.loads(body)
        ROUTE_SHAPES[route].model_validate(answer)
        assert answer["success"] is True, (route, answer)
        if route == "run-decisions":
            assert answer["total_agents"] == 7 and answer["cohorts_processed"] == 1
        if route == "backup":
            assert Path(answer["backup_path"]).is_file()


def test_section_3_without_the_secret_is_unauthorized(servers: dict[str, Server]) -> None:
    command = crontab_commands(SECTION_3)[0].replace("$CRON_SECRET", "wrong")
    status, body = servers["section-3"].curl(command)
    assert (status, json.loads(body)) == (401, {"error": "Unauthorized", "statusCode": 401})


# --- section 4.1 ---------------------------------------------------------------------------


def test_section_4_1_health_is_ok(servers: dict[str, Server]) -> None:
    status, body = servers["section-3"].curl(HEALTH_4_1)
    answer = json.loads(body)
    assert status == 200
    assert answer["status"] == "ok"
    assert answer["checks"] == {
        "database": {"status": "ok"},
        "environment": {"status": "ok"},
        "data_integrity": {"status": "ok"},
    }
    assert answer["sandbox"] is True and answer["timestamp"].endswith("Z")


# --- section 6 -----------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["6.1", "6.2", "6.3", "6.4", "6.5", "6.6"])
def test_section_6_manual_operations(servers: dict[str, Server], section: str) -> None:
    server = servers["section-6"]
    command = SECTION_6[section]
    status, body = server.curl(command, YOUR_CRON_SECRET=CRON_SECRET)
    route = route_of(command)
    answer = json.loads(body)
    assert status == 200, (route, body)
    ROUTE_SHAPES[route].model_validate(answer)
    if route == "start-cohort":  # repeated calls in the same week return the existing cohort
        assert answer["cohort_id"] == server.cohort_id and answer["agents_created"] == 7


def test_section_6_7_admin_export_and_its_download(servers: dict[str, Server]) -> None:
    server = servers["section-6"]
    status, body = server.curl(
        SECTION_6["6.7"],
        **{
            "forecaster_admin=...": f"forecaster_admin={server.cookie}",
            '"cohort-id"': json.dumps(server.cohort_id),
        },
    )
    assert status == 200, body
    answer = ExportCreated.model_validate(json.loads(body))
    assert answer.info.cohort_id == server.cohort_id and answer.info.include_prompts is False

    download = httpx.get(
        server.base + answer.download_url, cookies={"forecaster_admin": server.cookie}
    )
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert "README.txt" in names and "decisions.csv" in names


def test_section_6_7_export_without_the_cookie_is_unauthorized(
    servers: dict[str, Server],
) -> None:
    status, body = servers["section-6"].curl(SECTION_6["6.7"])
    assert (status, json.loads(body)["error"]) == (401, "Unauthorized")


# --- section 9 -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SECTION_9)
def test_section_9_deploy_validation(servers: dict[str, Server], path: str) -> None:
    server = servers["section-3"]
    status, body = server.curl(f"curl {path}".replace("curl /", f"curl -s {server.base}/"))
    answer: Any = json.loads(body)
    assert status == 200, body
    if path == "/api/health":
        assert answer["status"] == "ok"
    elif path == "/api/leaderboard":
        LeaderboardPage.model_validate(answer)
    else:
        page = MarketsPage.model_validate(answer)
        assert len(page.markets) == 1 and page.total > 1


def test_section_9_admin_login(servers: dict[str, Server]) -> None:
    server = servers["section-3"]
    status, body = server.curl(
        f"curl -s -X POST {server.base}/api/admin/login -H 'Content-Type: application/json'"
        f" -d '{json.dumps({'password': ADMIN_PASSWORD})}' -c {server.directory / 'jar'}"
    )
    assert (status, json.loads(body)) == (200, {"success": True})
    assert "forecaster_admin" in (server.directory / "jar").read_text()


def test_health_alias_answers_like_live(servers: dict[str, Server]) -> None:
    status, body = servers["section-3"].curl(f"curl -s {servers['section-3'].base}/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
