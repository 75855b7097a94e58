"""The key mutation journal: every top-up is applied at most once, whatever runs in between.

A top-up PATCHes an absolute limit, computed from the key as OpenRouter showed it. If the
answer is lost (a crash, a timeout, a 5xx after OpenRouter applied it), nobody knows whether
the limit moved, and recomputing from the key later would add the allocation again. So before
the PATCH is sent, its intent is written to `key_mutations` (key, limit before, limit after,
run, allocation) as PENDING, and before any later run (or the same run's resume) touches that
holder's keys, every PENDING intent is settled against the key's real state (GET /keys/:hash):

| what the key shows               | outcome       | the allocation                          |
|----------------------------------|---------------|-----------------------------------------|
| limit = the intent's "after"     | APPLIED       | given; recorded as provisioned          |
| limit = the intent's "before"    | NOT_APPLIED   | still owed; provisioned again afresh    |
| any other limit, or no key       | UNKNOWN       | counted as given, never sent again      |

A successful PATCH answer settles its own intent the same way. Errors never settle one: a
retried PATCH may have landed on an earlier attempt, so only the key's state decides.

Why the UNKNOWN rule. Spending never moves a limit, and our own mutations of a key are
serialised by this journal (a new intent waits until the last one is settled; a partial unique
index holds at most one PENDING intent per key), so a limit matching neither value means
someone else changed it (an operator in the dashboard), or the key was deleted. Whether our
PATCH landed before that cannot be known. Applying the allocation again could give it twice,
which is the one outcome this journal exists to prevent; counting it as given can at worst
leave it undelivered, and then the money never left the OpenRouter account: the credit pool
re-reads live credits and promised headroom every run, so a later run allocates it again. The
intent keeps the limit it saw (`observed_limit`), an audit row `provision:topup-unknown` and an
error log line name the key for an operator to review.

Limits are compared within a millionth of a dollar: OpenRouter stores them as JSON numbers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.credits.models import KeyMutation
from arenabrain.db.ids import new_id

SAME_LIMIT = Decimal("0.000001")


class Outcome(StrEnum):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    NOT_APPLIED = "NOT_APPLIED"
    UNKNOWN = "UNKNOWN"


def outcome(before: Decimal, after: Decimal, key: OpenRouterKey | None) -> Outcome:
    """How a top-up from `before` to `after` ended, judged from the key as it is now."""
    if key is None or key.limit is None:
        return Outcome.UNKNOWN
    if abs(key.limit - after) < SAME_LIMIT:
        return Outcome.APPLIED
    if abs(key.limit - before) < SAME_LIMIT:
        return Outcome.NOT_APPLIED
    return Outcome.UNKNOWN


# --- repository ------------------------------------------------------------------------------


async def record_intent(
    session: AsyncSession,
    *,
    key_hash: str,
    strategy_id: str,
    holder_wallet: str,
    run_id: str,
    snapshot_id: str,
    allocated_cents: int,
    before: Decimal,
    after: Decimal,
    now: datetime,
) -> str:
    """Write a PENDING intent (its own unit of work, before the PATCH); returns its id."""
    intent = KeyMutation(
        id=new_id(now),
        key_hash=key_hash,
        strategy_id=strategy_id,
        holder_wallet=holder_wallet,
        run_id=run_id,
        snapshot_id=snapshot_id,
        allocated_cents=allocated_cents,
        limit_before=str(before),
        limit_after=str(after),
        status=Outcome.PENDING.value,
        created_at=now,
    )
    session.add(intent)
    await session.flush()
    return intent.id


async def pending_for_holder(
    session: AsyncSession, strategy_id: str, holder_wallet: str
) -> list[KeyMutation]:
    """The holder's unsettled intents (any run, any of their keys), oldest first."""
    rows = await session.scalars(
        select(KeyMutation)
        .where(
            KeyMutation.strategy_id == strategy_id,
            KeyMutation.holder_wallet == holder_wallet,
            KeyMutation.status == Outcome.PENDING.value,
        )
        .order_by(KeyMutation.created_at, KeyMutation.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def settle(
    intent: KeyMutation, key: OpenRouterKey | None, settled_by_run: str, now: datetime
) -> Outcome:
    """Settle a PENDING intent from the key's state; returns (and stores) the outcome."""
    if intent.status != Outcome.PENDING.value:
        raise ValueError(f"key mutation {intent.id} is already {intent.status}")
    result = outcome(Decimal(intent.limit_before), Decimal(intent.limit_after), key)
    intent.status = result.value
    intent.observed_limit = None if key is None or key.limit is None else str(key.limit)
    intent.settled_by_run = settled_by_run
    intent.settled_at = now
    return result
