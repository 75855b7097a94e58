"""Database locks: at most one run per strategy, and one run at a time on what strategies share.

- The run lock (`run_locks`, keyed by strategy) is held for a whole run.
- Resource locks (`resource_locks`, keyed by a resource name) are held by a run during some of
  its phases: the signer wallet during CLAIMING..SWAPPING, the credit pool during ALLOCATING
  (which phase needs which is in `phase_locks`).

Both carry their holder (one per runner process and run) and an expiry. The runner refreshes
them together, at every phase boundary and every journal write; a lock past its expiry
belonged to a process that stopped, so the next taker reaps it (and the runner marks that
process's run interrupted, so it can be resumed).

Taking a lock is an `INSERT ... ON CONFLICT DO NOTHING`, never a check followed by an insert:
on PostgreSQL two transactions can both find no row, and the second insert then waits for the
first transaction and must end in a conflict (409), not a unique violation (500). SQLite's
`BEGIN IMMEDIATE` already serialises them. These are repository functions: they take a
session and never commit."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from arenabrain.credits.models import ResourceLock, RunLock
from arenabrain.web.errors import Conflict

# Longer than any single phase takes; refreshed at every phase boundary.
LOCK_TTL = timedelta(minutes=60)
CONFLICT_MESSAGE = "A run is already in progress for this strategy"


class RunInProgress(Conflict):
    def __init__(self, strategy_id: str, run_id: str | None = None) -> None:
        extra = {"runId": run_id} if run_id else {}
        super().__init__(CONFLICT_MESSAGE, None, **extra)
        self.strategy_id = strategy_id
        self.run_id = run_id


class LockLost(Exception):
    """This runner's lock was reaped (it was presumed dead); it must stop writing."""


@dataclass(frozen=True)
class HeldLock:
    """A lock row as it was read: what it locks, by whom, for which run, until when."""

    key: str
    run_id: str | None
    strategy_id: str | None
    holder: str
    expires_at: datetime


class ResourceBusy(Exception):
    """A live resource lock is held by another runner."""

    def __init__(self, held: HeldLock) -> None:
        super().__init__(f"{held.key} is locked by run {held.run_id} ({held.holder})")
        self.held = held


@dataclass(frozen=True)
class StaleLock:
    strategy_id: str
    run_id: str | None
    holder: str
    expired_at: datetime


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _insert(session: AsyncSession) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"CreditBrain locks support SQLite and PostgreSQL, not {name}")


async def _take(
    session: AsyncSession,
    model: type[RunLock] | type[ResourceLock],
    key_column: InstrumentedAttribute[str],
    row: dict[str, Any],
    now: datetime,
) -> tuple[HeldLock | None, HeldLock | None]:
    """Insert the lock row unless a live one exists, reaping an expired one first.

    Returns (the stale lock reaped or None, None) when taken, or (_, the live lock) when not."""
    key = row[key_column.key]
    reaped: HeldLock | None = None
    held: HeldLock | None = None
    for _ in range(3):  # insert, reap, insert again; a lost reaping race ends in `held`
        inserted = await session.execute(
            _insert(session)(model)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[key_column.key])
            .returning(key_column)
        )
        if inserted.first() is not None:
            return reaped, None
        found = cast(
            RunLock | ResourceLock | None,
            await session.scalar(
                select(model).where(key_column == key).execution_options(populate_existing=True)
            ),
        )
        if found is None:
            continue  # released since our insert: try again
        held = HeldLock(
            key,
            found.run_id,
            getattr(found, "strategy_id", None),
            found.holder,
            found.expires_at,
        )
        if found.expires_at > now:
            return reaped, held
        # Only that holder's expired row: of two reapers, one deletes it and the other
        # (on PostgreSQL, after waiting for the first) deletes nothing and finds the new row.
        deleted = await session.execute(
            delete(model)
            .where(key_column == key, model.holder == found.holder, model.expires_at <= now)
            .returning(key_column)
        )
        if deleted.first() is not None:
            reaped = held
    assert held is not None
    return reaped, held


# --- the run lock (one per strategy) ----------------------------------------------------------


async def current(session: AsyncSession, strategy_id: str) -> RunLock | None:
    found: RunLock | None = await session.get(RunLock, strategy_id, populate_existing=True)
    return found


async def acquire(
    session: AsyncSession,
    strategy_id: str,
    holder: str,
    now: datetime,
    *,
    run_id: str | None = None,
    ttl: timedelta = LOCK_TTL,
) -> StaleLock | None:
    """Take the strategy's lock or raise RunInProgress; returns the stale lock it reaped."""
    row = {
        "strategy_id": strategy_id,
        "run_id": run_id,
        "holder": holder,
        "acquired_at": now,
        "refreshed_at": now,
        "expires_at": now + ttl,
    }
    reaped, held = await _take(session, RunLock, RunLock.strategy_id, row, now)
    if held is not None:
        raise RunInProgress(strategy_id, held.run_id)
    if reaped is None:
        return None
    return StaleLock(strategy_id, reaped.run_id, reaped.holder, reaped.expires_at)


async def attach_run(session: AsyncSession, strategy_id: str, holder: str, run_id: str) -> None:
    await session.execute(
        update(RunLock)
        .where(RunLock.strategy_id == strategy_id, RunLock.holder == holder)
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )


async def refresh(
    session: AsyncSession,
    strategy_id: str,
    holder: str,
    now: datetime,
    ttl: timedelta = LOCK_TTL,
    *,
    leases: Collection[str] = (),
) -> bool:
    """Extend the run lock and the resource locks `leases` this holder has; False when it no
    longer has one of them (it was reaped)."""
    result = await session.execute(
        update(RunLock)
        .where(RunLock.strategy_id == strategy_id, RunLock.holder == holder)
        .values(refreshed_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    if not leases:
        return True
    extended = await session.execute(
        update(ResourceLock)
        .where(ResourceLock.resource.in_(list(leases)), ResourceLock.holder == holder)
        .values(refreshed_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], extended).rowcount == len(set(leases))


async def release(session: AsyncSession, strategy_id: str, holder: str) -> None:
    await session.execute(
        delete(RunLock)
        .where(RunLock.strategy_id == strategy_id, RunLock.holder == holder)
        .execution_options(synchronize_session=False)
    )


async def held_for(session: AsyncSession, strategy_id: str, now: datetime) -> RunLock | None:
    """The strategy's live (unexpired) lock, if any."""
    found = await session.scalar(
        select(RunLock).where(RunLock.strategy_id == strategy_id, RunLock.expires_at > now)
    )
    return found


# --- resource locks (the signer wallet, the credit pool) --------------------------------------


async def take(
    session: AsyncSession,
    resource: str,
    holder: str,
    now: datetime,
    *,
    run_id: str | None = None,
    strategy_id: str | None = None,
    ttl: timedelta = LOCK_TTL,
) -> HeldLock | None:
    """Take a resource lock or raise ResourceBusy; returns the stale lock it reaped."""
    row = {
        "resource": resource,
        "run_id": run_id,
        "strategy_id": strategy_id,
        "holder": holder,
        "acquired_at": now,
        "refreshed_at": now,
        "expires_at": now + ttl,
    }
    reaped, held = await _take(session, ResourceLock, ResourceLock.resource, row, now)
    if held is not None:
        raise ResourceBusy(held)
    return reaped


async def release_resources(
    session: AsyncSession, holder: str, resources: Collection[str] | None = None
) -> None:
    """Release this holder's resource locks (those named, or all of them)."""
    statement = delete(ResourceLock).where(ResourceLock.holder == holder)
    if resources is not None:
        statement = statement.where(ResourceLock.resource.in_(list(resources)))
    await session.execute(statement.execution_options(synchronize_session=False))
