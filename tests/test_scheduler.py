from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import CronJob, by_name
from arenabrain.logging import configure_logging
from arenabrain.runtime import open_context
from arenabrain.scheduler import LEASE_TTL, Lease, Scheduler, run_job

SATURDAY_NOON = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 0 * * 0", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),  # Sunday
        ("0 0 * * 7", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),  # Sunday, the other way
        ("5 0 * * 0", datetime(2026, 3, 1, 0, 5, tzinfo=UTC)),
        ("0 9 * * 1", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),  # Monday
        ("0 23 * * 6", datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),  # Saturday
        ("0 9 * * 1-5", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
        ("0 9 * * 6-7", datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),  # weekend; Saturday 09:00 passed
        ("0 9 * * sun", datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
        ("*/10 * * * *", datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),  # inclusive of now
    ],
)
def test_crontab_weekdays_follow_standard_cron(expression: str, expected: datetime) -> None:
    trigger = crontab_trigger(expression)
    assert trigger.get_next_fire_time(None, SATURDAY_NOON) == expected


@pytest.mark.parametrize("expression", ["* * * *", "61 * * * *", "0 0 * * 8"])
def test_bad_crontab_is_rejected(expression: str) -> None:
    with pytest.raises(ValueError):
        crontab_trigger(expression)


async def test_only_one_of_two_instances_holds_the_lease(ctx: Context, clock: FrozenClock) -> None:
    first, second = Lease(ctx, holder="a"), Lease(ctx, holder="b")
    assert await first.try_acquire() is True
    assert await second.try_acquire() is False
    assert await first.try_acquire() is True  # renewal
    clock.advance(seconds=LEASE_TTL.total_seconds() + 1)
    assert await second.try_acquire() is True  # taken over after expiry
    assert await first.try_acquire() is False


async def test_released_lease_is_taken_at_once(ctx: Context) -> None:
    first, second = Lease(ctx, holder="a"), Lease(ctx, holder="b")
    await first.try_acquire()
    await first.release()
    assert await second.try_acquire() is True


async def test_two_app_instances_on_one_database_run_each_job_once(
    settings, clock, sandbox
) -> None:  # type: ignore[no-untyped-def]
    runs: list[str] = []

    async def job(ctx: Context) -> None:
        runs.append("ran")

    jobs = (CronJob("count", "* * * * *", job),)
    async with (
        open_context(settings, clock=clock, transports=sandbox.transports()) as one,
        open_context(settings, clock=clock, transports=sandbox.transports()) as two,
    ):
        schedulers = [Scheduler(one, jobs), Scheduler(two, jobs)]
        for scheduler in schedulers:
            await scheduler.start()
        try:
            for scheduler in schedulers:
                await run_job(scheduler.ctx, scheduler.jobs["count"], scheduler.lease)
        finally:
            for scheduler in schedulers:
                await scheduler.stop()
    assert runs == ["ran"]
    assert sum(s.lease.held for s in schedulers) == 0  # both released on stop


async def test_a_failing_job_is_logged_and_does_not_raise(ctx: Context) -> None:
    async def broken(ctx: Context) -> None:
        raise RuntimeError("upstream exploded")

    out = io.StringIO()
    configure_logging("info", stream=out)
    assert await run_job(ctx, CronJob("broken", "* * * * *", broken)) is None
    assert '"message": "upstream exploded"' in out.getvalue()


async def never(ctx: Context) -> None:
    raise AssertionError("not run in these tests")


def test_a_job_with_a_bad_crontab_is_refused_where_it_is_written() -> None:
    with pytest.raises(ValueError, match="5 fields"):
        CronJob("broken", "* * * *", never)


def test_a_job_name_used_twice_is_refused() -> None:
    jobs = [CronJob("a", "0 0 * * 0", never), CronJob("a", "0 1 * * 0", never)]
    with pytest.raises(ValueError, match="used more than once: a"):
        by_name(jobs)


async def test_the_scheduler_runs_exactly_the_jobs_it_is_handed(ctx: Context) -> None:
    handed = (CronJob("yearly-a", "0 0 1 1 *", never), CronJob("yearly-b", "0 1 1 1 *", never))
    scheduler = Scheduler(ctx, handed)
    await scheduler.start()
    try:
        assert sorted(job.id for job in scheduler.aps.get_jobs()) == ["yearly-a", "yearly-b"]
    finally:
        await scheduler.stop()
