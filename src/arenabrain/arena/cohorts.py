"""Cohorts: the weekly start (one cohort per Sunday however often or concurrently it is asked
for, one agent per slot of the default lineup, $10,000 each), the decision window, the
completion sweep and archiving (§4 of the reference).

Uniqueness is the database's job: `idx_cohorts_started_unique` on `started_at` and
`UNIQUE(cohort_id, benchmark_config_model_id)` on agents, written inside one unit of work, so
twenty simultaneous starts make one cohort and seven agents. On SQLite that unit is one
`BEGIN IMMEDIATE` transaction; on PostgreSQL a start that loses the insert race retries once and
finds the winner's cohort, and agents are counted by what `INSERT ... RETURNING` wrote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.benchmark import config_slots, default_config
from arenabrain.arena.decision_window import decision_threshold
from arenabrain.arena.models import (
    Agent,
    BenchmarkConfig,
    Cohort,
    Decision,
    ModelFamily,
    Position,
)
from arenabrain.arena.system_logs import log_event
from arenabrain.arena.weeks import in_start_window, week_start
from arenabrain.context import Context
from arenabrain.db.ids import new_id

INITIAL_BALANCE = 10000.0
METHODOLOGY_VERSION = "v2"
NOT_IN_WINDOW = "Not Sunday or outside start window"
NO_DEFAULT_FOR_FUTURE = "No default benchmark config is configured for future cohorts"
NO_DEFAULT_FOR_COHORT = "No default benchmark config is configured for cohort creation"
NO_DEFAULT_FOR_AGENTS = "No default benchmark config is configured for agent creation"


class CohortError(Exception):
    """A cohort could not be started; the message is shown to the caller."""


@dataclass
class CohortStart:
    success: bool
    cohort: Cohort | None = None
    agents: list[Agent] = field(default_factory=list)
    created: bool = False
    message: str | None = None

    def body(self) -> dict[str, Any]:
        """The route's JSON (§5.2)."""
        if not self.success or self.cohort is None:
            return {"success": False, "message": self.message}
        return {
            "success": True,
            "cohort_id": self.cohort.id,
            "cohort_number": self.cohort.cohort_number,
            "agents_created": len(self.agents),
        }


# --- queries ----------------------------------------------------------------------------------


async def cohort_for_week(session: AsyncSession, now: datetime) -> Cohort | None:
    """The cohort whose `started_at` is the start of `now`'s week."""
    return (
        await session.scalars(select(Cohort).where(Cohort.started_at == week_start(now)))
    ).first()


async def cohort_agents(session: AsyncSession, cohort_id: str) -> list[Agent]:
    """A cohort's agents, richest first (the anchor's order)."""
    return list(
        (
            await session.scalars(
                select(Agent)
                .where(Agent.cohort_id == cohort_id)
                .order_by(Agent.cash_balance.desc(), Agent.created_at, Agent.id)
            )
        ).all()
    )


async def decision_eligible_cohorts(session: AsyncSession, limit: int) -> list[Cohort]:
    """Cohorts that get new decisions (§4.6): active, not archived, and among the newest
    `limit` cohort numbers (counted over all cohorts), newest first. Cohorts that completed
    or were archived inside the window drop out; older ones never back-fill."""
    latest = await session.scalar(select(func.max(Cohort.cohort_number)))
    threshold = decision_threshold(latest or 0, limit)
    return list(
        (
            await session.scalars(
                select(Cohort)
                .where(
                    Cohort.status == "active",
                    Cohort.is_archived == 0,
                    Cohort.cohort_number >= threshold,
                )
                .order_by(Cohort.cohort_number.desc())
            )
        ).all()
    )


async def tracking_active_cohorts(session: AsyncSession) -> list[Cohort]:
    """Cohorts that are marked to market: active and not archived."""
    return list(
        (
            await session.scalars(
                select(Cohort)
                .where(Cohort.status == "active", Cohort.is_archived == 0)
                .order_by(Cohort.cohort_number.desc())
            )
        ).all()
    )


# --- creation ---------------------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def create_cohort(
    session: AsyncSession, now: datetime, config_id: str | None = None
) -> tuple[Cohort, bool]:
    """This week's cohort, created (pinned to `config_id` or the default config) unless it
    exists. Returns `(cohort, created)`. Call inside a write unit of work."""
    existing = await cohort_for_week(session, now)
    if existing is not None:
        return existing, False
    if config_id is None:
        config = await default_config(session)
        if config is None:
            raise CohortError(NO_DEFAULT_FOR_COHORT)
        config_id = config.id
    number = (await session.scalar(select(func.max(Cohort.cohort_number)))) or 0
    cohort = Cohort(
        id=new_id(now),
        cohort_number=number + 1,
        started_at=week_start(now),
        status="active",
        methodology_version=METHODOLOGY_VERSION,
        benchmark_config_id=config_id,
        is_archived=0,
        initial_balance=INITIAL_BALANCE,
        created_at=now,
    )
    session.add(cohort)
    await session.flush()
    return cohort, True


async def create_agents(
    session: AsyncSession, cohort: Cohort, now: datetime, config_id: str | None = None
) -> int:
    """One agent per slot of the cohort's pinned config, idempotent by
    `(cohort_id, benchmark_config_model_id)`. Returns how many were created."""
    if config_id is not None and config_id != cohort.benchmark_config_id:
        raise CohortError(
            f"Cohort {cohort.id} is pinned to benchmark config {cohort.benchmark_config_id}, "
            f"not {config_id}"
        )
    pinned = cohort.benchmark_config_id or config_id
    if pinned is None or await session.get(BenchmarkConfig, pinned) is None:
        raise CohortError(NO_DEFAULT_FOR_AGENTS)
    slots = await config_slots(session, pinned)
    families = {
        family.id: family
        for family in (
            await session.scalars(
                select(ModelFamily).where(ModelFamily.id.in_([s.family_id for s in slots]))
            )
        ).all()
    }
    rows = [
        {
            "id": new_id(now),
            "cohort_id": cohort.id,
            "model_id": _legacy_id(families.get(slot.family_id), slot.family_id),
            "family_id": slot.family_id,
            "release_id": slot.release_id,
            "benchmark_config_model_id": slot.id,
            "cash_balance": INITIAL_BALANCE,
            "total_invested": 0.0,
            "status": "active",
            "created_at": now,
        }
        for slot in slots
    ]
    if not rows:
        return 0
    # Count what this statement wrote (RETURNING gives only the inserted rows), not the
    # difference of two counts: on PostgreSQL, concurrent fill-ins each see the others' rows
    # appear between their counts and would all report (and log) the same agents.
    statement = (
        _insert(session)(Agent.__table__)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["cohort_id", "benchmark_config_model_id"])
        .returning(Agent.__table__.c.id)
    )
    return len((await session.execute(statement)).all())


def _legacy_id(family: ModelFamily | None, family_id: str) -> str:
    return family.legacy_model_id if family and family.legacy_model_id else family_id


async def start_new_cohort(ctx: Context, now: datetime) -> CohortStart:
    """Create this week's cohort with the default config and its agents, in one unit of work.
    Idempotent: an existing cohort is returned (and gets any agents it lacks)."""
    for attempt in range(2):
        try:
            async with ctx.db.write() as session:
                config = await default_config(session)
                existing = await cohort_for_week(session, now)
                if existing is None and config is None:
                    raise CohortError(NO_DEFAULT_FOR_FUTURE)
                cohort, created = await create_cohort(session, now, config.id if config else None)
                added = await create_agents(session, cohort, now)
                if added:
                    await log_event(
                        session,
                        "cohort_started",
                        {
                            "cohort_id": cohort.id,
                            "cohort_number": cohort.cohort_number,
                            "num_agents": added,
                            "benchmark_config_id": cohort.benchmark_config_id,
                        },
                        "info",
                        now,
                    )
                agents = await cohort_agents(session, cohort.id)
                return CohortStart(True, cohort, agents, created)
        except IntegrityError:
            # Another process created the week's cohort between our check and insert (only
            # possible where BEGIN IMMEDIATE does not serialise writers, e.g. PostgreSQL).
            if attempt == 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def maybe_start_cohort(ctx: Context, force: bool = False) -> CohortStart:
    """This week's cohort if it exists (completing a partial lineup); otherwise create it when
    forced or inside the start window (Sunday before 01:00 UTC). Start failures are logged and
    reported, not raised."""
    now = ctx.clock.now()
    async with ctx.db.read() as session:
        existing = await cohort_for_week(session, now)
        if existing is not None:
            agents = await cohort_agents(session, existing.id)
            slots = await config_slots(session, existing.benchmark_config_id)
            if len(agents) >= len(slots):
                return CohortStart(True, existing, agents)
            # else: fall through and give the cohort the agents it lacks
    if existing is None and not force and not in_start_window(now):
        return CohortStart(False, message=NOT_IN_WINDOW)
    try:
        return await start_new_cohort(ctx, now)
    except CohortError as exc:
        async with ctx.db.write() as session:
            await log_event(session, "cohort_start_error", {"error": str(exc)}, "error", now)
        return CohortStart(False, message=str(exc))


async def start_cohort(ctx: Context, force: bool = False) -> dict[str, Any]:
    """Start this week's cohort (Sunday 00:00 UTC; `force` starts it any day of the week)."""
    try:
        result = await maybe_start_cohort(ctx, force)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(
                session, "start_cohort_error", {"error": str(exc)}, "error", ctx.clock.now()
            )
        raise
    return result.body()


# --- completion and archiving ---------------------------------------------------------------


async def complete_cohorts(
    session: AsyncSession, now: datetime, decision_cohort_limit: int
) -> list[Cohort]:
    """Mark `completed` every active, unarchived cohort that has left the decision window,
    has made at least one decision and holds no open position; log `cohort_completed`.

    Unlike the anchor (§20 item 1) a cohort still inside its decision window never completes,
    so a week in which every agent held does not end the cohort early."""
    latest = await session.scalar(select(func.max(Cohort.cohort_number)))
    threshold = decision_threshold(latest or 0, decision_cohort_limit)
    has_decision = exists().where(Decision.cohort_id == Cohort.id)
    has_open = exists().where(
        Position.status == "open", Position.agent_id == Agent.id, Agent.cohort_id == Cohort.id
    )
    done = list(
        (
            await session.scalars(
                select(Cohort).where(
                    Cohort.status == "active",
                    Cohort.is_archived == 0,
                    Cohort.cohort_number < threshold,
                    has_decision,
                    ~has_open,
                )
            )
        ).all()
    )
    for cohort in done:
        cohort.status = "completed"
        cohort.completed_at = now
        await log_event(
            session,
            "cohort_completed",
            {"cohort_id": cohort.id, "cohort_number": cohort.cohort_number},
            "info",
            now,
        )
    await session.flush()
    return done


async def check_cohorts(ctx: Context) -> int:
    """Run the completion sweep in its own unit of work; returns how many cohorts completed."""
    async with ctx.db.write() as session:
        done = await complete_cohorts(session, ctx.clock.now(), ctx.settings.decision_cohort_limit)
    return len(done)


async def archive_cohorts(
    session: AsyncSession, cohort_ids: Sequence[str], reason: str, now: datetime
) -> int:
    """Archive cohorts (§4.7): they leave decisions, snapshots, completion and aggregates but
    are still settled. Returns how many changed."""
    if not cohort_ids:
        return 0
    result = await session.execute(
        update(Cohort)
        .where(Cohort.id.in_(list(cohort_ids)), Cohort.is_archived == 0)
        .values(is_archived=1, archived_at=now, archive_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def archive_methodology(
    session: AsyncSession, methodology_version: str, reason: str, now: datetime
) -> int:
    """Archive every cohort of a methodology version (the anchor archived all v1 cohorts)."""
    ids = (
        await session.scalars(
            select(Cohort.id).where(Cohort.methodology_version == methodology_version)
        )
    ).all()
    return await archive_cohorts(session, list(ids), reason, now)
