"""The runbook's CLI commands through typer's CliRunner, over a real database and the fakes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arenabrain import runtime
from arenabrain.cli import app
from arenabrain.logging import configure_logging
from tests.credits.conftest import HOLDER_A, KEK
from tests.credits.fakes import MINT, OWNER, World, wallet

runner = CliRunner()
RUNBOOK_COMMANDS = (
    "create-strategy",
    "list-strategies",
    "update-strategy",
    "delete-strategy",
    "run",
    "status",
    "pool-status",
    "list-keys",
    "health",
)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: World):
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "cli.db"))
    monkeypatch.setenv("KEY_ENCRYPTION_KEY", KEK)
    monkeypatch.setenv("MAX_DAILY_RUNS", "0")
    monkeypatch.setattr(runtime, "build_clients", lambda *_: world.clients)
    yield
    configure_logging("info", stream=io.StringIO())  # the runner's stderr is closed now


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def create(*extra: str) -> str:
    code, out, err = invoke(
        "create-strategy",
        "--owner",
        OWNER,
        "--token",
        MINT,
        "--threshold",
        "0.1",
        "--key-limit",
        "100",
        *extra,
        "--json",
    )
    assert code == 0, err
    return json.loads(out)["strategyId"]


def test_every_runbook_command_exists_with_help() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for name in RUNBOOK_COMMANDS:
        assert name in out
    for name in RUNBOOK_COMMANDS[:-1]:
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0 and "--json" in sub.stdout


def test_create_list_update_delete_strategy() -> None:
    code, out, err = invoke(
        "create-strategy",
        "--owner",
        OWNER,
        "--source",
        "CLAIMABLE_POSITIONS",
        "--distribution",
        "EQUAL_SPLIT",
        "--top-n",
        "5",
        "--key-limit",
        "25",
        "--reserve",
        "15",
        "--threshold",
        "2.5",
    )
    assert code == 0, err
    assert "✅ Strategy created:" in out and "$25/key" in out and "2.5 SOL" in out
    code, out, _ = invoke("list-strategies", "--json")
    [strategy] = json.loads(out)
    assert strategy["distribution"] == "EQUAL_SPLIT" and strategy["distributionTopN"] == 5
    assert strategy["creditPoolReservePct"] == 15.0 and strategy["minClaimThreshold"] == 2.5
    sid = strategy["strategyId"]

    code, out, _ = invoke(
        "update-strategy", "--id", sid, "--status", "PAUSED", "--top-n", "7", "--json"
    )
    assert code == 0
    assert json.loads(out)["status"] == "PAUSED" and json.loads(out)["distributionTopN"] == 7
    code, _, err = invoke("update-strategy", "--id", sid, "--status", "DELETED")
    assert code == 1 and "ACTIVE or PAUSED" in err
    code, out, _ = invoke("list-strategies")
    assert code == 0 and "Strategies (1)" in out

    code, out, _ = invoke("delete-strategy", "--id", sid)
    assert code == 0 and f"Strategy {sid} deleted." in out
    code, _, err = invoke("delete-strategy", "--id", sid)
    assert code == 1 and "Strategy not found" in err
    code, out, _ = invoke("list-strategies")
    assert "No strategies found" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "not-a-wallet"], "base58"),
        (["--owner", OWNER, "--key-limit", "1000"], "MAX_KEY_LIMIT_USD"),
        (["--owner", OWNER, "--key-limit", "ten"], "--key-limit must be a number"),
        (["--owner", OWNER, "--distribution", "TOP_100_HOLDERS"], "distribution"),
        (["--owner", OWNER, "--schedule", "*/10 * * * *"], "MIN_CRON_INTERVAL_HOURS"),
    ],
)
def test_bad_strategy_options_exit_1_with_the_reason(args, message) -> None:
    code, _, err = invoke("create-strategy", *args)
    assert code == 1
    assert message in err
    code, out, _ = invoke("list-strategies", "--json")
    assert json.loads(out) == []


def test_run_status_pool_and_keys(world: World) -> None:
    sid = create()
    code, out, err = invoke("run", "--strategy", sid)
    assert code == 0, err + out
    assert "🚀 Starting pipeline run" in out and ": COMPLETE" in out
    assert "Claimed:" in out and "1.5 SOL" in out and "Allocated:" in out
    assert "transition:PROVISIONING->COMPLETE" in out

    code, out, _ = invoke("status", "--strategy", sid, "--json")
    status = json.loads(out)
    run_id = status["run"]["runId"]
    assert status["run"]["state"] == "COMPLETE"
    assert status["auditLog"][0]["action"] == "start:PENDING->CLAIMING"
    code, out, _ = invoke("status", "--run", run_id)
    assert code == 0 and "📋 Audit Log" in out and "Finished:" in out

    code, out, _ = invoke("pool-status", "--json")
    assert json.loads(out)["promisedUsd"] == 223.87
    code, out, _ = invoke("pool-status")
    assert "💰 Credit Pool Status:" in out and "Available:" in out and "Runway:" in out

    code, out, _ = invoke("list-keys", "--strategy", sid, "--json")
    assert {k["holderWallet"] for k in json.loads(out)} >= {HOLDER_A}
    code, out, _ = invoke("list-keys", "--json")
    assert len(json.loads(out)) == 3
    code, out, _ = invoke("list-keys", "--strategy", "nope")
    assert "No keys found for strategy nope." in out


def test_resume_through_the_cli(world: World) -> None:
    from tests.credits.fakes import transient

    sid = create()
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 3)
    code, out, _ = invoke("run", "--strategy", sid, "--json")
    assert code == 1
    failed = json.loads(out)["run"]
    assert failed["state"] == "FAILED" and failed["error"]["failedState"] == "PROVISIONING"
    # The OpenRouter breaker lives in the database: wait out its cooldown.
    import sqlite3

    with sqlite3.connect("cli.db") as conn:
        conn.execute("UPDATE circuit_breakers SET opened_at = '2000-01-01 00:00:00'")
    code, out, err = invoke("run", "--resume", failed["runId"])
    assert code == 0, err + out
    assert "🔄 Resuming run" in out and ": COMPLETE" in out
    code, _, err = invoke("run", "--resume", failed["runId"])
    assert code == 1 and "Only FAILED runs can be resumed" in err


def test_run_needs_exactly_one_target() -> None:
    code, _, err = invoke("run")
    assert code == 1 and "exactly one" in err
    code, _, err = invoke("run", "--strategy", "a", "--resume", "b")
    assert code == 1
    code, _, err = invoke("status")
    assert code == 1


def test_kill_switch_from_the_cli(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    sid = create()
    monkeypatch.setenv("EXECUTION_KILL_SWITCH", "true")
    code, _, err = invoke("run", "--strategy", sid)
    assert code == 1 and "Kill switch is active" in err
    assert world.mutations()["send_transaction"] == 0
    assert wallet(1) != OWNER


# --- progress, the audit table, key rotation (issue 12 item 4) -------------------------------

PHASE_LINES = [
    "start:PENDING->CLAIMING",
    "transition:CLAIMING->SWAPPING",
    "transition:SWAPPING->BRIDGING",
    "transition:BRIDGING->FUNDING",
    "transition:FUNDING->ALLOCATING",
    "transition:ALLOCATING->PROVISIONING",
    "transition:PROVISIONING->COMPLETE",
]


def test_run_shows_each_phase_as_it_goes_then_the_summary() -> None:
    sid = create()
    code, out, err = invoke("run", "--strategy", sid)
    assert code == 0, err + out
    positions = [out.index(f"| {line}") for line in PHASE_LINES]
    assert positions == sorted(positions)  # phase by phase, in order
    assert all(out.count(line) == 1 for line in PHASE_LINES)  # each shown once
    summary = out[out.index(": COMPLETE") :]
    for label, value in [
        ("Claimed:", "1.5 SOL"),
        ("Swapped:", "$223.875 USDC"),
        ("Allocated:", "$223.87"),
        ("Keys created:", "3"),
        ("Keys topped up:", "0"),
        ("Keys failed:", "0"),
    ]:
        line = next(li for li in summary.splitlines() if label in li)
        assert line.split(label)[1].strip() == value, line
    assert "📋 Audit Log" not in out  # the progress lines were the log


def test_run_with_json_keeps_stdout_one_document_and_shows_progress_on_stderr() -> None:
    sid = create()
    code, out, err = invoke("run", "--strategy", sid, "--json")
    assert code == 0
    assert json.loads(out)["run"]["state"] == "COMPLETE"
    assert all(f"| {line}" in err for line in PHASE_LINES)


def test_a_failed_run_exits_1_and_its_summary_counts_the_keys_that_failed(world: World) -> None:
    from tests.credits.fakes import transient

    sid = create()
    world.keys.faults.fail("create_key", *[transient("openrouter")] * 3)
    code, out, _ = invoke("run", "--strategy", sid)
    assert code == 1
    assert "❌ Run" in out and ": FAILED" in out and "| fail:PROVISIONING" in out
    failed = next(li for li in out.splitlines() if "Keys failed:" in li)
    assert failed.split("Keys failed:")[1].strip() == "3"
    assert "Error:" in out and "OPENROUTER_" in out


def test_status_prints_the_full_audit_log_as_a_table() -> None:
    sid = create()
    invoke("run", "--strategy", sid)
    code, out, _ = invoke("status", "--strategy", sid)
    assert code == 0
    # start, two confirmed claims, five transitions, three created keys, the last transition
    assert "📋 Audit Log (12 entries)" in out
    header = next(li for li in out.splitlines() if "Phase" in li and "Action" in li)
    assert "Time (UTC)" in header and "Details" in header
    rows = [li for li in out.splitlines() if "│" in li and "│ 20" in li]
    assert len(rows) == 12
    assert sum("provision:create" in row for row in rows) == 3
    assert any("claim:confirmed" in row and "txSignature=sig-claim" in row for row in rows)
    # Scalars in full, lists by their size.
    assert any("keysProvisioned=3" in row and "keyHashes=[3]" in row for row in rows)


NULL_RUN_FIELDS = (
    "finishedAt",
    "claimedTxSignature",
    "swappedUsdc",
    "swapTxSignature",
    "bridgedUsdc",
    "bridgeTxHash",
    "bridgingSkippedReason",
    "fundedUsdc",
    "fundingTxHash",
    "fundingSkippedReason",
    "allocatedUsd",
    "error",
)


def test_progress_on_a_terminal_is_a_live_phase_table() -> None:
    from rich.console import Console

    from arenabrain.credits.commands import Progress
    from arenabrain.credits.schemas import AuditView, RunStatus, RunView

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    run = RunView.model_validate(
        {
            "runId": "r1",
            "strategyId": "s1",
            "state": "SWAPPING",
            "trigger": "cli",
            "dryRun": False,
            "startedAt": start,
            "claimedSol": 1.5,
            "claimedLamports": 1_500_000_000,
            "keysProvisioned": 0,
            "keysUpdated": 0,
            **{name: None for name in NULL_RUN_FIELDS},
        }
    )
    claimed = AuditView(
        log_id="l1",
        run_id="r1",
        phase="CLAIMING",
        action="transition:CLAIMING->SWAPPING",
        details={},
        tx_signature=None,
        timestamp=start,
    )
    shown = Progress(False, terminal)
    with shown:
        shown.update(RunStatus(run=run, audit_log=[claimed]))
    drawn = screen.getvalue()
    assert "\x1b[" in drawn  # drawn with terminal control codes, not plain lines
    assert "CLAIMING" in drawn and "1.5 SOL claimed" in drawn and "running" in drawn
    assert "transition:CLAIMING->SWAPPING" not in drawn


def test_rotate_key_and_revoke_key(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = create()
    invoke("run", "--strategy", sid)
    code, out, _ = invoke("list-keys", "--strategy", sid, "--json")
    old = next(k for k in json.loads(out) if k["holderWallet"] == HOLDER_A)
    code, out, err = invoke("rotate-key", "--wallet", HOLDER_A)
    assert code == 0, err
    assert f"🔄 Key rotated for {HOLDER_A}" in out and old["openrouterKeyHash"] in out
    assert "Limit:" in out and "$100" in out
    code, out, _ = invoke("rotate-key", "--wallet", HOLDER_A, "--json")
    rotated = json.loads(out)
    assert rotated["rotated"] is True and rotated["newHash"] in world.keys.keys
    assert old["openrouterKeyHash"] not in world.keys.keys

    code, out, _ = invoke("revoke-key", "--wallet", HOLDER_A)
    assert code == 0 and "revoked" in out and rotated["newHash"] not in world.keys.keys
    code, _, err = invoke("revoke-key", "--wallet", HOLDER_A)
    assert code == 1 and "No active key found for wallet" in err
    code, _, err = invoke("rotate-key", "--wallet", "not-a-wallet")
    assert code == 1 and "--wallet" in err
    monkeypatch.setenv("DRY_RUN", "true")
    before = world.mutations()
    code, _, err = invoke("rotate-key", "--wallet", wallet(2))
    assert code == 1 and "DRY_RUN" in err
    assert world.mutations() == before
