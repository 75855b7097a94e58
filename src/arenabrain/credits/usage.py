"""Usage tracking: poll OpenRouter for what holder keys spent, and keep `user_keys` current.

One paged `GET /keys` sweep per poll (not one call per key). Each live key gets a
`usage_snapshots` row; its `current_usage_usd` and `last_synced_at` are updated; it becomes
EXPIRED past its expiry, EXHAUSTED when nothing remains of its limit, and ACTIVE again once a
top-up or a window reset gives it room (the anchor never did any of this)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.context import Context
from arenabrain.credits import keys
from arenabrain.credits.models import UsageSnapshot
from arenabrain.credits.upstreams import Guard
from arenabrain.db.ids import new_id

ROWS_LIMIT_MAX = 1000


def next_status(key: OpenRouterKey, current: str, now: datetime) -> str:
    """A live key's status from OpenRouter's view of it."""
    if key.expires_at is not None and key.expires_at <= now:
        return "EXPIRED"
    if key.limit_remaining is not None and key.limit_remaining <= 0:
        return "EXHAUSTED"
    return "ACTIVE" if current in ("ACTIVE", "EXHAUSTED") else current


async def poll_usage(ctx: Context) -> dict[str, int]:
    """Record every live key's usage now; returns counts of synced and missing keys.

    One paged `GET /keys` sweep that stops as soon as every live key was seen: N keys of ours
    cost ceil(N / 100) requests, never one per key."""
    async with ctx.db.read() as session:
        wanted = [k.openrouter_key_hash for k in await keys.all_live(session)]
    if not wanted:
        return {"synced": 0, "missing": 0}
    port = ctx.clients.keys
    listed = await Guard(ctx).call(
        "openrouter", lambda: port.list_keys(until_found=wanted), what="GET /keys"
    )
    remote = {k.hash: k for k in listed}
    now = ctx.clock.now()
    synced = missing = 0
    async with ctx.db.write() as session:
        snapshots = []
        for row in await keys.all_live(session):  # as they are now, in this unit of work
            key = remote.get(row.openrouter_key_hash)
            if key is None:
                missing += 1
                continue
            snapshots.append(
                UsageSnapshot(
                    id=new_id(now),
                    key_hash=key.hash,
                    strategy_id=row.strategy_id,
                    usage=float(key.usage),
                    usage_daily=float(key.usage_daily),
                    usage_weekly=float(key.usage_weekly),
                    usage_monthly=float(key.usage_monthly),
                    limit_remaining=_float(key.limit_remaining),
                    limit=_float(key.limit),
                    polled_at=now,
                )
            )
            row.current_usage_usd = float(key.usage)
            row.last_synced_at = now
            status = next_status(key, row.status, now)
            if status != row.status:
                row.status = status
                row.updated_at = now
            synced += 1
        session.add_all(snapshots)
    return {"synced": synced, "missing": missing}


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


async def last_poll(ctx: Context) -> datetime | None:
    async with ctx.db.read() as session:
        found: datetime | None = await session.scalar(select(func.max(UsageSnapshot.polled_at)))
        return found


async def poll_usage_if_due(ctx: Context) -> dict[str, int] | None:
    """Poll when USAGE_POLL_INTERVAL_MIN has passed since the last poll."""
    last = await last_poll(ctx)
    interval = timedelta(minutes=ctx.settings.usage_poll_interval_min)
    if last is not None and ctx.clock.now() - last < interval:
        return None
    return await poll_usage(ctx)


def row_view(row: UsageSnapshot) -> dict[str, Any]:
    """A usage row as the anchor served it (snake_case)."""
    return {
        "id": row.id,
        "key_hash": row.key_hash,
        "strategy_id": row.strategy_id,
        "usage": row.usage,
        "usage_daily": row.usage_daily,
        "usage_weekly": row.usage_weekly,
        "usage_monthly": row.usage_monthly,
        "limit_remaining": row.limit_remaining,
        "limit": row.limit,
        "polled_at": row.polled_at.isoformat().replace("+00:00", "Z"),
    }


async def usage_rows(
    ctx: Context, *, key_hash: str | None = None, strategy_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Usage snapshots of one key or one strategy, newest first."""
    query = select(UsageSnapshot).order_by(UsageSnapshot.polled_at.desc(), UsageSnapshot.id.desc())
    if key_hash is not None:
        query = query.where(UsageSnapshot.key_hash == key_hash)
    if strategy_id is not None:
        query = query.where(UsageSnapshot.strategy_id == strategy_id)
    async with ctx.db.read() as session:
        rows = await session.scalars(query.limit(max(1, min(limit, ROWS_LIMIT_MAX))))
        return [row_view(r) for r in rows]
