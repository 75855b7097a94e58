"""The database run lock: at most one run per strategy, across processes and entry points.

A lock row (`run_locks`, keyed by strategy) carries its holder and an expiry. The runner
refreshes it at every phase boundary; a lock past its expiry belonged to a process that
stopped, so the next taker reaps it (and the runner marks that process's run interrupted, so
it can be resumed). These are repository functions: they take a session and never commit."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.credits.models import RunLock
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
class StaleLock:
    strategy_id: str
    run_id: str | None
    holder: str
    expired_at: datetime


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
    existing = await current(session, strategy_id)
    reaped = None
    if existing is not None:
        if existing.expires_at > now:
            raise RunInProgress(strategy_id, existing.run_id)
        reaped = StaleLock(strategy_id, existing.run_id, existing.holder, existing.expires_at)
        await session.execute(delete(RunLock).where(RunLock.strategy_id == strategy_id))
    session.add(
        RunLock(
            strategy_id=strategy_id,
            run_id=run_id,
            holder=holder,
            acquired_at=now,
            refreshed_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return reaped


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
) -> bool:
    """Extend the lock; False when this holder no longer has it (it was reaped)."""
    result = await session.execute(
        update(RunLock)
        .where(RunLock.strategy_id == strategy_id, RunLock.holder == holder)
        .values(refreshed_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


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
