"""The audit log of runs: one row per transition, failure, resume and notable phase event.

`phase` is the run's state before the event; `details` is JSON. Rows of one run sort by
(timestamp, log_id): ids embed a per-process sequence, so rows written at the same instant
(a frozen test clock, a fast phase) keep their order. Repository functions: they take a
session and never commit."""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.credits import staged
from arenabrain.credits.models import AuditEntry

_sequence = itertools.count()


def audit_id(now: datetime) -> str:
    return f"{int(now.timestamp() * 1000):013d}-{next(_sequence):09d}-{secrets.token_hex(3)}"


def entry_values(
    run_id: str,
    phase: str,
    action: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    tx_signature: str | None = None,
) -> dict[str, Any]:
    """The columns of one audit row."""
    return {
        "log_id": audit_id(now),
        "run_id": run_id,
        "phase": str(phase),
        "action": action,
        "details": json.dumps(details, default=str, sort_keys=True)
        if details is not None
        else None,
        "tx_signature": tx_signature,
        "timestamp": now,
    }


async def record(
    session: AsyncSession,
    run_id: str,
    phase: str,
    action: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    tx_signature: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(**entry_values(run_id, phase, action, now, details, tx_signature))
    session.add(entry)
    await session.flush()
    return entry


def stage(
    session: AsyncSession,
    run_id: str,
    phase: str,
    action: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an audit row with the unit of work's other staged rows (`staged`): one INSERT
    for all of them at its end, instead of a flush each."""
    staged.insert(session, AuditEntry, entry_values(run_id, phase, action, now, details))


async def for_run(session: AsyncSession, run_id: str) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.run_id == run_id)
        .order_by(AuditEntry.timestamp, AuditEntry.log_id)
    )
    return list(rows)


async def latest(session: AsyncSession, run_id: str, action: str) -> AuditEntry | None:
    """The newest row of a run with exactly this action."""
    found = await session.scalar(
        select(AuditEntry)
        .where(AuditEntry.run_id == run_id, AuditEntry.action == action)
        .order_by(AuditEntry.timestamp.desc(), AuditEntry.log_id.desc())
        .limit(1)
    )
    return found


async def with_action(session: AsyncSession, run_id: str, action: str) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.run_id == run_id, AuditEntry.action == action)
        .order_by(AuditEntry.timestamp, AuditEntry.log_id)
    )
    return list(rows)


async def count(session: AsyncSession, run_id: str, action: str) -> int:
    """How many rows of a run have exactly this action."""
    found = await session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.run_id == run_id, AuditEntry.action == action)
    )
    return found or 0


def details_of(entry: AuditEntry) -> dict[str, Any]:
    if not entry.details:
        return {}
    loaded = json.loads(entry.details)
    return loaded if isinstance(loaded, dict) else {"value": loaded}
