"""The demo's timeline: the service's own scheduled jobs (the arena's and CreditBrain's `JOBS`,
the same functions their cron routes and CLI commands call), with the frequent ones spaced out
so that weeks of simulated time take about a minute.

`fire_times` walks simulated time from one job firing to the next, as the scheduler would if
nothing else happened in between; the demo sets its clock to each instant and runs the jobs due
then, in the order the domains list them (so at Sunday 00:00 markets are synced before the
cohort starts)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from arenabrain.arena.jobs import JOBS as ARENA_JOBS
from arenabrain.credits.jobs import JOBS as CREDITS_JOBS
from arenabrain.cron import crontab_trigger
from arenabrain.jobs import CronJob

# The service's cadence, and the demo's: every job not named here keeps its own crontab.
CADENCES: Mapping[str, str] = {
    "sync-markets": "0 */8 * * *",  # service: every 5 minutes
    "take-snapshots": "0 */8 * * *",  # every 10 minutes
    "check-resolutions": "0 */8 * * *",  # hourly
    "credits-scheduled-runs": "0 */8 * * *",  # every minute (strategies keep their schedules)
    "credits-usage-poll": "0 */8 * * *",  # every minute
}
CADENCE_NOTE = (
    "markets synced, positions marked and resolutions checked every 8 simulated hours "
    "(the service: every 5 min, 10 min and hour); everything else on its own schedule"
)


def demo_jobs(jobs: Iterable[CronJob] = (*ARENA_JOBS, *CREDITS_JOBS)) -> tuple[CronJob, ...]:
    """The jobs with the demo's cadences."""
    return tuple(replace(job, crontab=CADENCES.get(job.name, job.crontab)) for job in jobs)


def fire_times(
    jobs: Iterable[CronJob], start: datetime, end: datetime
) -> Iterator[tuple[datetime, list[CronJob]]]:
    """Each instant in [start, end) at which some job fires, with the jobs firing then."""
    listed = list(jobs)
    triggers = [crontab_trigger(job.crontab) for job in listed]
    upcoming = [trigger.get_next_fire_time(None, start) for trigger in triggers]
    while True:
        moments = [moment for moment in upcoming if moment is not None and moment < end]
        if not moments:
            return
        now = min(moments)
        due = [job for job, moment in zip(listed, upcoming, strict=True) if moment == now]
        yield now, due
        upcoming = [
            trigger.get_next_fire_time(moment, now + timedelta(seconds=1))
            if moment == now
            else moment
            for trigger, moment in zip(triggers, upcoming, strict=True)
        ]
