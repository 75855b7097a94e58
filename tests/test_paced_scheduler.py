"""The scheduler on the sandbox's scaled clock: crontabs fire when the simulated clock reaches
their times, however fast it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from arenabrain.clock import ScaledClock
from arenabrain.context import Context
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import CronJob
from arenabrain.scheduler import PacedTrigger, Scheduler, job_trigger
from arenabrain.settings import Settings

SATURDAY_LATE = datetime(2026, 2, 28, 23, 59, tzinfo=UTC)
WALL = datetime(2030, 1, 1, tzinfo=UTC)


def fixed_wall() -> datetime:
    return WALL


def test_a_sunday_crontab_fires_when_the_fast_clock_reaches_sunday() -> None:
    clock = ScaledClock(SATURDAY_LATE, speed=60, wall=fixed_wall)  # a simulated minute per second
    trigger = PacedTrigger(crontab_trigger("0 0 * * 0"), clock)
    assert trigger.get_next_fire_time(None, WALL) == WALL + timedelta(seconds=1)


def test_the_next_fire_after_a_paced_fire_is_the_next_simulated_one_not_the_same() -> None:
    clock = ScaledClock(SATURDAY_LATE, speed=11, wall=fixed_wall)  # converts back a hair early
    trigger = PacedTrigger(crontab_trigger("*/5 * * * *"), clock)
    first = trigger.get_next_fire_time(None, WALL)
    assert first is not None
    second = trigger.get_next_fire_time(first, first)
    assert second is not None
    gap = clock.at_wall(second) - clock.at_wall(first)  # microseconds lost converting
    assert abs(gap - timedelta(minutes=5)) < timedelta(milliseconds=1)


def test_a_standing_clock_never_fires() -> None:
    clock = ScaledClock(SATURDAY_LATE, speed=0, wall=fixed_wall)
    assert PacedTrigger(crontab_trigger("* * * * *"), clock).get_next_fire_time(None, WALL) is None


def test_jobs_on_any_other_clock_keep_their_wall_crontab(ctx: Context) -> None:
    trigger = job_trigger("*/5 * * * *", ctx.clock)
    assert not isinstance(trigger, PacedTrigger)


async def test_the_scheduler_runs_a_job_each_time_the_fast_clock_passes_its_crontab(
    ctx: Context, make_settings: Callable[..., Settings]
) -> None:
    clock = ScaledClock(SATURDAY_LATE, speed=600)  # a simulated minute every 0.1 s
    fired: list[datetime] = []

    async def job(context: Context) -> None:
        fired.append(context.clock.now())

    scheduler = Scheduler(replace(ctx, clock=clock), (CronJob("each-minute", "* * * * *", job),))
    await scheduler.start()
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(fired) >= 3:
                break
    finally:
        await scheduler.stop()
    assert len(fired) >= 3
    minutes = [moment.replace(second=0, microsecond=0) for moment in fired]
    assert len(set(minutes)) == len(minutes)  # one run per simulated minute, none twice
    assert minutes[0] >= datetime(2026, 3, 1, tzinfo=UTC) - timedelta(minutes=1)
