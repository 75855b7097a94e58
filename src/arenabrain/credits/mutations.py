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

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.openrouter.keys import OpenRouterKey
from arenabrain.credits import staged
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


@dataclass(frozen=True)
class Intent:
    """A top-up intent as the journal holds it: this key, from this limit to that one, for
    this allocation."""

    id: str
    key_hash: str
    strategy_id: str
    holder_wallet: str
    run_id: str
    snapshot_id: str
    allocated_cents: int
    before: Decimal
    after: Decimal

    @classmethod
    def new(
        cls,
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
    ) -> Intent:
        return cls(
            new_id(now),
            key_hash,
            strategy_id,
            holder_wallet,
            run_id,
            snapshot_id,
            allocated_cents,
            before,
            after,
        )

    @classmethod
    def of(cls, row: KeyMutation) -> Intent:
        return cls(
            row.id,
            row.key_hash,
            row.strategy_id,
            row.holder_wallet,
            row.run_id,
            row.snapshot_id,
            row.allocated_cents,
            Decimal(row.limit_before),
            Decimal(row.limit_after),
        )

    def row(self, now: datetime) -> dict[str, Any]:
        """The PENDING journal row."""
        return {
            "id": self.id,
            "key_hash": self.key_hash,
            "strategy_id": self.strategy_id,
            "holder_wallet": self.holder_wallet,
            "run_id": self.run_id,
            "snapshot_id": self.snapshot_id,
            "allocated_cents": self.allocated_cents,
            "limit_before": str(self.before),
            "limit_after": str(self.after),
            "status": Outcome.PENDING.value,
            "created_at": now,
        }


def settlement(
    intent: Intent, key: OpenRouterKey | None, settled_by_run: str, now: datetime
) -> tuple[Outcome, dict[str, Any]]:
    """How `intent` ended, judged from the key as it is now, and the columns that record it."""
    result = outcome(intent.before, intent.after, key)
    return result, {
        "status": result.value,
        "observed_limit": None if key is None or key.limit is None else str(key.limit),
        "settled_by_run": settled_by_run,
        "settled_at": now,
    }


# --- repository ------------------------------------------------------------------------------


def stage_intent(session: AsyncSession, intent: Intent, now: datetime) -> None:
    """Write a PENDING intent with the unit of work's other staged rows (`staged`)."""
    staged.insert(session, KeyMutation, intent.row(now))


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


_JOURNAL = cast(Table, KeyMutation.__table__)
# Only a PENDING intent is settled; SET takes the columns `settlement` returns.
_SETTLE = update(_JOURNAL).where(
    _JOURNAL.c.id == bindparam("intent_id"), _JOURNAL.c.status == Outcome.PENDING.value
)


def stage_settle(
    session: AsyncSession,
    intent: Intent,
    key: OpenRouterKey | None,
    settled_by_run: str,
    now: datetime,
) -> Outcome:
    """Settle a PENDING intent with the unit of work's other staged rows; returns the
    outcome. The unit of work fails if the intent is no longer PENDING (only the holder of
    the strategy's lock settles, and it refreshes the lock in the same unit)."""
    result, columns = settlement(intent, key, settled_by_run, now)
    staged.execute(session, _SETTLE, {"intent_id": intent.id} | columns, one_row=True)
    return result
