"""CreditBrain's scheduler jobs, `JOBS` (handed to the scheduler when CREDITS_ENABLED).

Strategies carry their own cron schedules, which change at runtime, so one job ticks every
minute and starts the run of each ACTIVE strategy whose schedule fired within the last
SCHEDULE_GRACE and that has no automatic run since (the anchor scheduled at start-up only and
never noticed new, paused or deleted strategies, B21). It honours MIN_CRON_INTERVAL_HOURS
twice: a schedule that fires more often is refused (as at creation), and an automatic run is
never started sooner than that after the previous one. Runs go through `runs.start_run`, so
the kill switch, the daily cap and the run lock apply; the "already ran for this fire time"
check lives in the database, so two schedulers (or an external cron) cannot double a run.

A second job polls key usage every USAGE_POLL_INTERVAL_MIN; a third, daily, rotates the keys
older than KEY_ROTATION_DAYS (`rotation.rotate_due`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from arenabrain.context import Context
from arenabrain.credits import rotation, runs, strategies, usage
from arenabrain.credits.locks import RunInProgress
from arenabrain.credits.models import Run
from arenabrain.credits.policy import PolicyBlocked
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import CronJob
from arenabrain.logging import get_logger

SCHEDULE_GRACE = timedelta(minutes=15)


def due_fire_time(
    expression: str, now: datetime, grace: timedelta = SCHEDULE_GRACE
) -> datetime | None:
    """The latest time the schedule fired in (now − grace, now], or None."""
    trigger = crontab_trigger(expression)
    fire = trigger.get_next_fire_time(None, now - grace)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest


async def last_automatic_start(ctx: Context, strategy_id: str) -> datetime | None:
    async with ctx.db.read() as session:
        found: datetime | None = await session.scalar(
            select(func.max(Run.started_at)).where(
                Run.strategy_id == strategy_id, Run.trigger == "scheduler"
            )
        )
        return found


async def run_scheduled(ctx: Context) -> dict[str, Any]:
    """Start the runs whose strategy schedules are due; returns what it did."""
    log = get_logger(job="credits-scheduled-runs")
    now = ctx.clock.now()
    min_gap = timedelta(hours=ctx.settings.min_cron_interval_hours)
    async with ctx.db.read() as session:
        active = [s for s in await strategies.all_live(session) if s.status == "ACTIVE"]
    started: list[str] = []
    skipped: dict[str, str] = {}
    for strategy in active:
        sid = strategy.strategy_id
        problem = strategies.schedule_problem(
            strategy.schedule, ctx.settings.min_cron_interval_hours, now
        )
        if problem:
            skipped[sid] = problem
            log.warning("Strategy schedule refused", strategyId=sid, reason=problem)
            continue
        due = due_fire_time(strategy.schedule, now)
        if due is None:
            continue
        last = await last_automatic_start(ctx, sid)
        if last is not None and last >= due:
            continue  # this fire time already has its run
        if last is not None and now - last < min_gap:
            skipped[sid] = "MIN_CRON_INTERVAL_HOURS since the last automatic run"
            continue
        try:
            run = await runs.start_run(ctx, sid, "scheduler")
        except PolicyBlocked as exc:
            reason = skipped[sid] = exc.message
            log.info("Scheduled run blocked by execution policy", strategyId=sid, reason=reason)
            continue
        except RunInProgress:
            skipped[sid] = "a run is in progress"
            log.warning("Scheduled run skipped — concurrent run in progress", strategyId=sid)
            continue
        except Exception as exc:
            skipped[sid] = str(exc)
            log.error("Scheduled run failed", strategyId=sid, err=exc)
            continue
        started.append(run.run_id)
    return {"started": started, "skipped": skipped}


JOBS = (
    CronJob("credits-scheduled-runs", "* * * * *", run_scheduled),
    CronJob("credits-usage-poll", "* * * * *", usage.poll_usage_if_due),
    # Daily: rotate the keys older than KEY_ROTATION_DAYS, finish rotations a crash left.
    CronJob("credits-key-rotation", "17 3 * * *", rotation.rotate_due),
)
