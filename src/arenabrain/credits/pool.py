"""The credit pool: what the OpenRouter account can still give out.

OpenRouter no longer sells credits through an API (upstream-apis §0 #1): an operator funds the
account, and the service only reads `GET /credits`. What a run may allocate is bounded by

    available = (total_credits − total_usage) − reserve − promised

where `reserve` is the reserve percentage of that balance and `promised` is what is already
promised:
- the headroom granted to live keys: the sum of `limit_remaining` over every enabled,
  unexpired key with a limit (any such key can draw on the same balance), and
- the allocations not provisioned yet (`pending`): an allocation snapshot without a key
  (`key_hash IS NULL`) of a live run that can still provision, i.e. one in PROVISIONING or
  FAILED there and not abandoned, whose strategy still exists. Each allocation thus reserves
  its amount from the moment ALLOCATING records it; provisioning its key consumes the
  reservation (the key's headroom counts instead); abandoning its run releases it.

Each run allocates at most `min(what the run earned, available)`. `pending` is read before
the keys, so an allocation provisioned in between is counted twice (safe), never missed; and
ALLOCATING holds the credit pool's lock (phase_locks.py), so no other plan is recorded
between a run's reading of the pool and the recording of its own. `credit_pool_allocations`
is the ledger of what runs allocated (the history endpoint); availability is always
recomputed from live numbers, so a key that is spent, expired or revoked no longer counts
(the anchor's ledger only ever grew).

The runway estimate divides the balance by the average daily usage of the strategy keys,
measured from usage snapshots over the last 7 days."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.openrouter.keys import Credits, OpenRouterKey
from arenabrain.context import Context
from arenabrain.credits.models import (
    AllocationSnapshot,
    CreditPoolAllocation,
    Run,
    UsageSnapshot,
)
from arenabrain.credits.schemas import PoolEntry, PoolView
from arenabrain.credits.upstreams import Guard
from arenabrain.db.ids import new_id

USAGE_WINDOW = timedelta(days=7)
HISTORY_LIMIT_MAX = 1000
# The error code of a FAILED run given up for good (runs.abandon_run): it never provisions.
ABANDONED = "RUN_ABANDONED"


@dataclass(frozen=True)
class PoolNumbers:
    credits_usd: Decimal
    usage_usd: Decimal
    balance_cents: int
    promised_cents: int
    reserve_pct: Decimal
    reserved_cents: int
    available_cents: int
    pending_cents: int = 0  # allocations not provisioned yet, part of `promised_cents`


def floor_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_FLOOR))


def ceil_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_CEILING))


def promised_cents(keys: Iterable[OpenRouterKey], now: datetime) -> int:
    """Headroom granted to keys that can still spend (rounded up: never over-promise)."""
    total = 0
    for key in keys:
        if key.disabled or key.limit_remaining is None:
            continue
        if key.expires_at is not None and key.expires_at <= now:
            continue
        total += max(0, ceil_cents(key.limit_remaining))
    return total


def pool_numbers(
    credits: Credits,
    keys: Iterable[OpenRouterKey],
    reserve_pct: Decimal,
    now: datetime,
    pending_cents: int = 0,
) -> PoolNumbers:
    balance = max(0, floor_cents(credits.balance))
    promised = promised_cents(keys, now) + pending_cents
    reserved = math.ceil(Decimal(balance) * reserve_pct / 100)
    return PoolNumbers(
        credits_usd=credits.total_credits,
        usage_usd=credits.total_usage,
        balance_cents=balance,
        promised_cents=promised,
        reserve_pct=reserve_pct,
        reserved_cents=reserved,
        available_cents=max(0, balance - reserved - promised),
        pending_cents=pending_cents,
    )


def distributable_cents(run_amount_cents: int, pool: PoolNumbers) -> int:
    """What a run may allocate: what it earned, bounded by what the pool can still give."""
    return max(0, min(run_amount_cents, pool.available_cents))


def runway_days(balance_cents: int, daily_usage: Decimal | None) -> Decimal | None:
    if daily_usage is None or daily_usage <= 0:
        return None
    return (Decimal(balance_cents) / 100 / daily_usage).quantize(Decimal("0.1"))


def daily_usage(samples: Iterable[tuple[str, datetime, float]]) -> Decimal | None:
    """Average USD per day from (key_hash, polled_at, lifetime usage) samples, or None."""
    per_key: dict[str, list[tuple[datetime, float]]] = {}
    for key_hash, polled_at, usage in samples:
        per_key.setdefault(key_hash, []).append((polled_at, usage))
    spent = Decimal(0)
    first: datetime | None = None
    last: datetime | None = None
    for points in per_key.values():
        points.sort()
        # Lifetime usage only grows; a drop means the key was replaced, so count increases only.
        for (_, before), (_, after) in itertools.pairwise(points):
            spent += max(Decimal(0), Decimal(str(after)) - Decimal(str(before)))
        first = points[0][0] if first is None else min(first, points[0][0])
        last = points[-1][0] if last is None else max(last, points[-1][0])
    if first is None or last is None or last - first < timedelta(hours=1):
        return None
    days = Decimal((last - first).total_seconds()) / 86400
    return spent / days


# --- repository ------------------------------------------------------------------------------


async def record_allocation(
    session: AsyncSession, run_id: str, cents: int, now: datetime
) -> CreditPoolAllocation:
    entry = CreditPoolAllocation(id=new_id(now), run_id=run_id, amount_cents=cents, created_at=now)
    session.add(entry)
    await session.flush()
    return entry


def _still_promised() -> tuple[ColumnElement[bool], ...]:
    """Conditions on allocation snapshots joined with their runs: not provisioned, of a live
    run that can still provision them (see the module docstring)."""
    can_still_provision = or_(
        Run.state == "PROVISIONING",
        and_(
            Run.state == "FAILED",
            Run.error_failed_state == "PROVISIONING",
            or_(Run.error_code.is_(None), Run.error_code != ABANDONED),
        ),
    )
    return (
        Run.run_id == AllocationSnapshot.run_id,
        AllocationSnapshot.key_hash.is_(None),
        AllocationSnapshot.allocated_cents > 0,
        Run.dry_run.is_(False),
        Run.strategy_id.is_not(None),
        can_still_provision,
    )


async def pending_cents(session: AsyncSession) -> int:
    """Cents allocated by runs and not provisioned yet, that they may still provision."""
    total = await session.scalar(
        select(func.sum(AllocationSnapshot.allocated_cents)).where(*_still_promised())
    )
    return int(total or 0)


async def pending_by_wallet(session: AsyncSession, strategy_id: str) -> dict[str, int]:
    """The same, per holder, for one strategy (it counts against each holder's key cap)."""
    rows = await session.execute(
        select(AllocationSnapshot.holder_wallet, func.sum(AllocationSnapshot.allocated_cents))
        .where(*_still_promised(), Run.strategy_id == strategy_id)
        .group_by(AllocationSnapshot.holder_wallet)
    )
    return {wallet: int(cents or 0) for wallet, cents in rows}


async def ledger_total_cents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.sum(CreditPoolAllocation.amount_cents))) or 0)


async def usage_samples(
    session: AsyncSession, since: datetime
) -> list[tuple[str, datetime, float]]:
    rows = await session.execute(
        select(UsageSnapshot.key_hash, UsageSnapshot.polled_at, UsageSnapshot.usage).where(
            UsageSnapshot.polled_at >= since
        )
    )
    return [(r[0], r[1], r[2]) for r in rows]


# --- jobs ------------------------------------------------------------------------------------


async def read_pool(ctx: Context, reserve_pct: Decimal) -> tuple[PoolNumbers, list[OpenRouterKey]]:
    """Live pool numbers: the allocations still pending (read first, see the module
    docstring), then OpenRouter's credits and every key's remaining headroom; with the keys
    they were computed from."""
    async with ctx.db.read() as session:
        pending = await pending_cents(session)
    keys_port = ctx.clients.keys
    guard = Guard(ctx)
    credits = await guard.call("openrouter", keys_port.credits, what="GET /credits")
    keys = await guard.call("openrouter", keys_port.list_keys, what="GET /keys")
    return pool_numbers(credits, keys, reserve_pct, ctx.clock.now(), pending), keys


async def pool_status(ctx: Context) -> PoolView:
    """Credit pool balance, promised headroom, reserve, what is available, and the runway."""
    now = ctx.clock.now()
    numbers, _ = await read_pool(ctx, ctx.settings.credit_pool_reserve_pct)
    async with ctx.db.read() as session:
        ledger = await ledger_total_cents(session)
        usage = daily_usage(await usage_samples(session, now - USAGE_WINDOW))
    runway = runway_days(numbers.balance_cents, usage)
    return PoolView(
        total_credits_usd=numbers.credits_usd,
        total_usage_usd=numbers.usage_usd,
        total_balance_usd=Decimal(numbers.balance_cents) / 100,
        promised_usd=Decimal(numbers.promised_cents) / 100,
        reserve_pct=numbers.reserve_pct,
        reserved_usd=Decimal(numbers.reserved_cents) / 100,
        available_usd=Decimal(numbers.available_cents) / 100,
        total_allocated_usd=Decimal(ledger) / 100,
        daily_usage_usd=usage.quantize(Decimal("0.01")) if usage is not None else None,
        runway_days=float(runway) if runway is not None else None,
        runway=f"{runway} days" if runway is not None else "unknown (no usage measured yet)",
        last_updated=now,
    )


async def pool_history(ctx: Context, limit: int = 100) -> list[PoolEntry]:
    """The allocation ledger, newest first (at most 1000 rows)."""
    limit = max(1, min(limit, HISTORY_LIMIT_MAX))
    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(CreditPoolAllocation)
            .order_by(CreditPoolAllocation.created_at.desc(), CreditPoolAllocation.id.desc())
            .limit(limit)
        )
        return [
            PoolEntry(
                id=row.id,
                run_id=row.run_id,
                amount_usd=Decimal(row.amount_cents) / 100,
                created_at=row.created_at,
            )
            for row in rows
        ]
