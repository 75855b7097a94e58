"""One canonical decision row per (agent, cohort, decision week), claimed before any model call.

A claim is its own small write transaction (two runs serialise on it: `BEGIN IMMEDIATE` on
SQLite; on PostgreSQL the unique index on (agent, cohort, week) and `FOR UPDATE` on the row):

- no row yet: insert one holding the `__IN_PROGRESS__` sentinel (action `ERROR`, error message
  and both prompts `__IN_PROGRESS__`) with the agent's frozen lineage;
- a finalized HOLD, or a BET/SELL with at least one trade: skipped (the week is done);
- an in-progress row younger than `STALE_AFTER`: skipped (another run is working on it);
- a final ERROR row, a BET/SELL with no trades, or an in-progress row older than
  `STALE_AFTER`: the same row is reclaimed.

`STALE_AFTER` must exceed the longest time one agent's work can take after its claim, or a
second run could reclaim a row whose first run is still going (the anchor's 80 s could: two
40 s model calls plus CLOB pricing and execution take longer). The engine bounds that work by
`AGENT_TIME_LIMIT`:

    2 model calls x 40 s                                    =  80 s
    CLOB midpoints (3 attempts x 10 s + backoff) then the
      per-token fallback (10 s), fetched at most twice      =  84 s
    two write transactions, each waiting <= 5 s busy time   =  10 s
                                                             -------
                                                             174 s  -> AGENT_TIME_LIMIT = 180 s

and `STALE_AFTER` = 5 minutes leaves two minutes of margin for scheduling and clock skew. The
finalizing transaction is never interrupted by the limit (a commit cut off mid-way may still
land, and the agent would be reported failed with its trades saved): it may end up to one busy
wait (5 s) after the 180 s, still far inside `STALE_AFTER`.

Every claim also gets a `decision_timestamp` no other claim of that row had, which the
finalizing write checks (`claim_guard`): a run that lost its claim cannot finalize or trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from arenabrain.arena.models import Agent, Decision, Trade
from arenabrain.db.engine import Database
from arenabrain.db.ids import new_id

IN_PROGRESS = "__IN_PROGRESS__"
MODEL_CALL_SECONDS = 40
AGENT_TIME_LIMIT = timedelta(seconds=180)
STALE_AFTER = timedelta(minutes=5)
NO_TRADES_REASON = "Retrying decision because no trades were recorded"
STALE_REASON = "Retrying stale in-progress decision"
TICK = timedelta(microseconds=1)

assert STALE_AFTER > AGENT_TIME_LIMIT >= timedelta(seconds=2 * MODEL_CALL_SECONDS)


class ClaimError(Exception):
    """The claim cannot be made at all (the agent is not in the cohort)."""


@dataclass(frozen=True)
class Claim:
    status: Literal["claimed", "skipped"]
    decision_id: str
    claimed_at: datetime | None = None  # the claim's token (decision_timestamp it wrote)
    existing_action: str | None = None  # for skipped claims: the row's action
    existing_error: str | None = None  # for skipped claims: the row's error message
    retry_reason: str | None = None
    busy: bool = False  # skipped because another run holds a fresh claim

    @property
    def claimed(self) -> bool:
        return self.status == "claimed"


async def claim_decision(
    db: Database,
    *,
    agent_id: str,
    cohort_id: str,
    decision_week: int,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> Claim:
    """Claim the agent's row for the week, or report why another run or an earlier one has it."""
    try:
        async with db.write() as session:
            return await _claim(session, agent_id, cohort_id, decision_week, now, stale_after)
    except IntegrityError:
        # Only reachable without BEGIN IMMEDIATE (PostgreSQL): the other run inserted first.
        async with db.read() as session:
            row = await _current_row(session, agent_id, cohort_id, decision_week)
        if row is None:
            raise
        return Claim(
            "skipped",
            row.id,
            existing_action=row.action,
            existing_error=row.error_message,
            busy=True,
        )


async def _claim(
    session: AsyncSession,
    agent_id: str,
    cohort_id: str,
    week: int,
    now: datetime,
    stale_after: timedelta,
) -> Claim:
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.cohort_id != cohort_id:
        raise ClaimError("Decision agent/cohort mismatch")
    row = await _current_row(session, agent_id, cohort_id, week)
    if row is None:
        decision_id = new_id(now)
        await session.execute(
            insert(Decision).values(
                id=decision_id,
                agent_id=agent_id,
                cohort_id=cohort_id,
                family_id=agent.family_id,
                release_id=agent.release_id,
                benchmark_config_model_id=agent.benchmark_config_model_id,
                decision_week=week,
                decision_timestamp=now,
                prompt_system=IN_PROGRESS,
                prompt_user=IN_PROGRESS,
                retry_count=0,
                action="ERROR",
                error_message=IN_PROGRESS,
            )
        )
        return Claim("claimed", decision_id, claimed_at=now)
    trades = await session.scalar(
        select(func.count()).select_from(Trade).where(Trade.decision_id == row.id)
    )
    retryable_no_trades = row.action in ("BET", "SELL") and not trades
    in_progress = row.action == "ERROR" and row.error_message == IN_PROGRESS
    stale = in_progress and now - row.decision_timestamp > stale_after
    if row.action != "ERROR" and not retryable_no_trades:
        return Claim(
            "skipped", row.id, existing_action=row.action, existing_error=row.error_message
        )
    if in_progress and not stale:
        return Claim(
            "skipped",
            row.id,
            existing_action=row.action,
            existing_error=row.error_message,
            busy=True,
        )
    reason = NO_TRADES_REASON if retryable_no_trades else STALE_REASON if stale else None
    # A fresh token even when the clock has not moved since the last claim of this row.
    claimed_at = max(now, row.decision_timestamp + TICK)
    await session.execute(
        update(Decision)
        .where(Decision.id == row.id)
        .values(
            decision_timestamp=claimed_at,
            prompt_system=IN_PROGRESS,
            prompt_user=IN_PROGRESS,
            raw_response=None,
            parsed_response=None,
            action="ERROR",
            reasoning=NO_TRADES_REASON if retryable_no_trades else row.reasoning,
            tokens_input=None,
            tokens_output=None,
            api_cost_usd=None,
            response_time_ms=None,
            error_message=IN_PROGRESS,
            p_yes_flags=None,
        )
    )
    return Claim("claimed", row.id, claimed_at=claimed_at, retry_reason=reason)


async def _current_row(
    session: AsyncSession, agent_id: str, cohort_id: str, week: int
) -> Decision | None:
    found = await session.execute(
        select(Decision)
        .where(
            Decision.agent_id == agent_id,
            Decision.cohort_id == cohort_id,
            Decision.decision_week == week,
        )
        .order_by(Decision.decision_timestamp.desc())
        .limit(1)
        .with_for_update()  # PostgreSQL: two runs reclaiming a stale row serialise here
        .execution_options(populate_existing=True)
    )
    return found.scalars().first()


def claim_guard(claim: Claim) -> ColumnElement[bool]:
    """The WHERE clause matching the row only while this claim still holds it."""
    return and_(
        Decision.id == claim.decision_id,
        Decision.action == "ERROR",
        Decision.error_message == IN_PROGRESS,
        Decision.decision_timestamp == claim.claimed_at,
    )


async def still_held(session: AsyncSession, claim: Claim) -> bool:
    """True while no other run has reclaimed (or finalized) the row since this claim.

    The row stays locked until the caller's transaction ends (FOR UPDATE; on SQLite the
    write transaction already holds the database lock), so a reclaim cannot slip in between
    this check and the finalizing writes that follow it."""
    found = await session.scalar(select(Decision.id).where(claim_guard(claim)).with_for_update())
    return found is not None
