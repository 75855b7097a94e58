"""Following a run from the outside, phase by phase, for `arenabrain run`.

The runner needs no hooks: `follow` polls the run row and its audit log while the run executes
in another task of the same process, and yields each new state of them. `phase_rows` turns one
state into what each phase is doing now (pure, for the Rich live table), `new_lines` into the
plain lines not shown yet (for a non-terminal or --json), and `summary` into the run's figures
(claimed SOL, swapped USDC, allocated USD, keys created / topped up / failed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.schemas import AuditView, RunStatus, RunView

PHASES = ("CLAIMING", "SWAPPING", "BRIDGING", "FUNDING", "ALLOCATING", "PROVISIONING")
POLL_SECONDS = 0.25


async def follow(
    ctx: Context,
    task: asyncio.Task[Any],
    run_id: Callable[[], str | None],
    interval: float = POLL_SECONDS,
) -> AsyncIterator[RunStatus]:
    """Yield the run's status each time its audit log or state changes while `task` runs,
    and once more when it is done. `run_id()` is None until the run exists."""
    seen: tuple[str, int] | None = None
    while True:
        done = task.done()
        if not done:
            await asyncio.wait({task}, timeout=interval)
            done = task.done()
        found = run_id()
        if found is not None:
            try:
                status = await runs.run_status(ctx, run_id=found)
            except runs.RunNotFound:
                status = None
            if status is not None:
                marker = (status.run.state, len(status.audit_log))
                if marker != seen or done:
                    seen = marker
                    yield status
        if done:
            return


@dataclass(frozen=True)
class PhaseRow:
    phase: str
    status: str  # waiting, running, done, skipped, failed
    note: str


def _details(entry: AuditView) -> dict[str, Any]:
    return entry.details if isinstance(entry.details, dict) else {}


def phase_rows(status: RunStatus) -> list[PhaseRow]:
    """What each phase is doing, from the run's state and its audit log."""
    ended: dict[str, AuditView] = {}
    for entry in status.audit_log:
        if entry.action.startswith("transition:") and entry.phase in PHASES:
            ended[entry.phase] = entry
    run = status.run
    failed_in = run.error.failed_state if run.state == "FAILED" and run.error else None
    rows = []
    for phase in PHASES:
        if phase == failed_in:
            assert run.error is not None
            rows.append(PhaseRow(phase, "failed", f"{run.error.code}: {run.error.detail}"))
        elif phase == run.state:
            rows.append(PhaseRow(phase, "running", ""))
        elif phase in ended:
            details = _details(ended[phase])
            skipped = bool(details.get("skipped"))
            note = str(details.get("reason") or "") if skipped else _done_note(phase, run)
            rows.append(PhaseRow(phase, "skipped" if skipped else "done", note))
        else:
            rows.append(PhaseRow(phase, "waiting", ""))
    return rows


def _done_note(phase: str, run: RunView) -> str:
    if phase == "CLAIMING" and run.claimed_sol is not None:
        return f"{run.claimed_sol} SOL claimed"
    if phase == "SWAPPING" and run.swapped_usdc is not None:
        return f"${run.swapped_usdc} USDC"
    if phase == "ALLOCATING" and run.allocated_usd is not None:
        return f"${run.allocated_usd} allocated"
    if phase == "PROVISIONING":
        return f"{run.keys_provisioned} created, {run.keys_updated} topped up"
    return ""


def audit_line(entry: AuditView) -> str:
    return f"   {entry.timestamp:%Y-%m-%d %H:%M:%S} | {entry.phase} | {entry.action}"


def new_lines(status: RunStatus, shown: int) -> list[str]:
    """The audit lines after the first `shown` ones."""
    return [audit_line(entry) for entry in status.audit_log[shown:]]


def keys_failed(status: RunStatus) -> int:
    """Holders whose key could not be provisioned in the last attempt of the run."""
    count = 0
    for entry in status.audit_log:
        details = _details(entry)
        if entry.action.startswith(("start:", "resume:")):
            count = 0
        elif entry.action == "provision:failed":
            count += 1
        elif entry.action.startswith("transition:PROVISIONING") and "keysFailed" in details:
            count = int(details["keysFailed"])
    return count


def summary(status: RunStatus) -> list[tuple[str, object]]:
    """The run's figures as (label, value) rows; None values are left out by the printer."""
    run = status.run
    failed = keys_failed(status)
    return [
        ("Claimed", f"{run.claimed_sol} SOL" if run.claimed_sol is not None else None),
        ("Swapped", f"${run.swapped_usdc} USDC" if run.swapped_usdc is not None else None),
        ("Allocated", f"${run.allocated_usd}" if run.allocated_usd is not None else None),
        ("Keys created", run.keys_provisioned),
        ("Keys topped up", run.keys_updated),
        ("Keys failed", failed),
    ]
