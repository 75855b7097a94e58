"""What `arenabrain run` shows of a run: each phase's state and the figures, from the run row
and its audit log alone (tables of cases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from arenabrain.credits import progress
from arenabrain.credits.schemas import AuditView, RunError, RunStatus, RunView

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def run(state: str, **fields: Any) -> RunView:
    """A run view: every checkpoint empty unless given."""
    values: dict[str, Any] = dict.fromkeys(RunView.model_fields)
    values |= {"run_id": "r", "strategy_id": "s", "trigger": "cli", "dry_run": False}
    values |= {"started_at": T0, "keys_provisioned": 0, "keys_updated": 0}
    return RunView(**(values | fields | {"state": state}))


def entry(phase: str, action: str, **details: Any) -> AuditView:
    return AuditView(
        log_id=action,
        run_id="r",
        phase=phase,
        action=action,
        details=details,
        tx_signature=None,
        timestamp=T0,
    )


def moved(source: str, target: str, **details: Any) -> AuditView:
    return entry(source, f"transition:{source}->{target}", **details)


SKIPPED = {"skipped": True, "reason": "USDC stays in the treasury"}
CASES = [
    pytest.param(
        run("SWAPPING", claimed_sol=1.5),
        [entry("PENDING", "start:PENDING->CLAIMING"), moved("CLAIMING", "SWAPPING")],
        [("done", "1.5 SOL claimed"), ("running", ""), ("waiting", "")],
        id="claimed-then-swapping",
    ),
    pytest.param(
        run(
            "FAILED",
            error=RunError(
                code="OPENROUTER_5XX", detail="1 of 3 left", failed_state="PROVISIONING"
            ),
            allocated_usd=12,
        ),
        [
            moved("CLAIMING", "SWAPPING"),
            moved("SWAPPING", "BRIDGING"),
            moved("BRIDGING", "FUNDING", **SKIPPED),
            moved("FUNDING", "ALLOCATING", **SKIPPED),
            moved("ALLOCATING", "PROVISIONING"),
            entry("PROVISIONING", "fail:PROVISIONING"),
        ],
        [
            ("done", ""),
            ("done", ""),
            ("skipped", "USDC stays in the treasury"),
            ("skipped", "USDC stays in the treasury"),
            ("done", "$12 allocated"),
            ("failed", "OPENROUTER_5XX: 1 of 3 left"),
        ],
        id="failed-in-provisioning",
    ),
    pytest.param(
        run("COMPLETE", keys_provisioned=2, keys_updated=1),
        [moved("ALLOCATING", "PROVISIONING"), moved("PROVISIONING", "COMPLETE", keysFailed=0)],
        [("done", ""), ("done", "2 created, 1 topped up")],
        id="complete",
    ),
]


@pytest.mark.parametrize(("view", "audit", "expected"), CASES)
def test_each_phase_is_shown_as_the_audit_log_tells(view, audit, expected) -> None:
    rows = progress.phase_rows(RunStatus(run=view, audit_log=audit))
    assert [r.phase for r in rows] == list(progress.PHASES)
    shown = [(r.status, r.note) for r in rows]
    if view.state == "COMPLETE":
        shown = shown[-2:]
    elif view.state == "SWAPPING":
        shown = shown[:3]
    assert shown == expected


def test_keys_failed_counts_the_last_attempt_only() -> None:
    audit = [
        entry("PENDING", "start:PENDING->CLAIMING"),
        entry("PROVISIONING", "provision:failed"),
        entry("PROVISIONING", "provision:failed"),
        entry("PROVISIONING", "fail:PROVISIONING"),
    ]
    failed = RunStatus(run=run("FAILED"), audit_log=audit)
    assert progress.keys_failed(failed) == 2
    resumed = [
        *audit,
        entry("FAILED", "resume:FAILED->PROVISIONING"),
        entry("PROVISIONING", "provision:failed"),
        moved("PROVISIONING", "COMPLETE", keysFailed=1),
    ]
    assert progress.keys_failed(RunStatus(run=run("COMPLETE"), audit_log=resumed)) == 1


def test_plain_lines_are_the_audit_entries_not_shown_yet() -> None:
    audit = [entry("PENDING", "start:PENDING->CLAIMING"), moved("CLAIMING", "SWAPPING")]
    status = RunStatus(run=run("SWAPPING"), audit_log=audit)
    assert progress.new_lines(status, 1) == [
        "   2026-03-01 00:00:00 | CLAIMING | transition:CLAIMING->SWAPPING"
    ]
    assert progress.new_lines(status, 2) == []
