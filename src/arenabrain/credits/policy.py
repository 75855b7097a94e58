"""Execution policy: the kill switch, dry run and the daily run cap, at every entry point.

- EXECUTION_KILL_SWITCH: a new run is recorded and rejected before CLAIMING (POLICY_BLOCKED);
  a resume is refused and noted on the run's audit log. The runner also re-checks it before
  every phase.
- DRY_RUN: fixed for a run when it is created (`runs.dry_run`). A dry run stays dry when it is
  resumed; a live run is not resumed while DRY_RUN is on (its later phases would silently
  become simulations of real money already moved).
- MAX_DAILY_RUNS: executions per strategy per UTC day, counted in `daily_run_counts`; 0 means
  unlimited. Every admitted execution counts, a resume included, so the cap bounds how often the
  pipeline acts for a strategy per day whichever door is used. A capped attempt creates no run.

The checks are plain functions; `count_today`/`record_start` are repository functions and
`admit` applies the cap to one execution with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.credits.models import DailyRunCount
from arenabrain.settings import Settings
from arenabrain.web.errors import AppError

POLICY_BLOCKED = "POLICY_BLOCKED"
KILL_SWITCH_REASON = "Kill switch is active (EXECUTION_KILL_SWITCH=true)"


class PolicyBlocked(AppError):
    """A run (or resume) refused by the execution policy."""

    status_code = 403

    def __init__(self, message: str, run_id: str | None = None) -> None:
        extra = {"runId": run_id} if run_id else {}
        super().__init__(message, None, **extra)
        self.run_id = run_id


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    @classmethod
    def allow(cls) -> Decision:
        return cls(True)


def kill_switch(settings: Settings) -> Decision:
    if settings.execution_kill_switch:
        return Decision(False, KILL_SWITCH_REASON)
    return Decision.allow()


class KeyMutationRefused(AppError):
    """DRY_RUN is on: no key on OpenRouter may change, from any entry point."""

    status_code = 409


def key_mutation(settings: Settings) -> None:
    """Refuse a change to a holder's key outside a run (revoke, rotate) under the kill switch
    (403, as a blocked run) or DRY_RUN (409); runs apply both rules themselves."""
    stopped = kill_switch(settings)
    if not stopped.allowed:
        raise PolicyBlocked(f"{stopped.reason}: no key is changed")
    if settings.dry_run:
        raise KeyMutationRefused(
            "DRY_RUN is on: keys on OpenRouter are not changed; turn DRY_RUN off to do this"
        )


def daily_cap(runs_today: int, max_daily_runs: int, strategy_id: str) -> Decision:
    """MAX_DAILY_RUNS per strategy per UTC day; 0 means unlimited."""
    if max_daily_runs == 0 or runs_today < max_daily_runs:
        return Decision.allow()
    return Decision(
        False,
        f"Daily run limit ({max_daily_runs}) reached for strategy {strategy_id} "
        f"(MAX_DAILY_RUNS; resumes count as runs; the count resets at 00:00 UTC)",
    )


def resume_mode(run_dry_run: bool, settings: Settings) -> Decision:
    if settings.dry_run and not run_dry_run:
        return Decision(
            False,
            "DRY_RUN is on but this run was started live; turn DRY_RUN off to resume it",
        )
    return Decision.allow()


def utc_day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


async def count_today(session: AsyncSession, strategy_id: str, now: datetime) -> int:
    count = await session.scalar(
        select(DailyRunCount.count).where(
            DailyRunCount.strategy_id == strategy_id, DailyRunCount.date == utc_day(now)
        )
    )
    return int(count or 0)


async def record_start(session: AsyncSession, strategy_id: str, now: datetime) -> int:
    """Count one execution for the strategy today; returns the new count."""
    row = await session.get(DailyRunCount, (strategy_id, utc_day(now)))
    if row is None:
        row = DailyRunCount(strategy_id=strategy_id, date=utc_day(now), count=0)
        session.add(row)
    row.count += 1
    await session.flush()
    return row.count


async def admit(
    session: AsyncSession,
    strategy_id: str,
    max_daily_runs: int,
    now: datetime,
    run_id: str | None = None,
) -> None:
    """Count one execution (a start or a resume) today, or raise PolicyBlocked past the cap.

    Run it inside the unit of work that starts the execution: when that rolls back, so does
    the count."""
    capped = daily_cap(await count_today(session, strategy_id, now), max_daily_runs, strategy_id)
    if not capped.allowed:
        raise PolicyBlocked(capped.reason, run_id)
    await record_start(session, strategy_id, now)
