"""The in-process scheduler: the cron jobs it is handed (the app hands it those of the enabled
domains), run by APScheduler in the one process that holds the database lease.

Every process may start the scheduler; each firing first checks the lease, so only the holder
runs jobs (and every job is idempotent at the database level anyway)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import CursorResult, insert, update
from sqlalchemy.exc import IntegrityError

from arenabrain.clock import Clock, ScaledClock
from arenabrain.context import Context
from arenabrain.cron import crontab_trigger
from arenabrain.db.service_models import SchedulerLease
from arenabrain.jobs import CronJob, by_name
from arenabrain.logging import get_logger

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=60)
LEASE_RENEW_SECONDS = 20


class Lease:
    """A named row that one process holds until it expires; renewed while held."""

    def __init__(self, ctx: Context, name: str = LEASE_NAME, holder: str | None = None) -> None:
        self.ctx = ctx
        self.name = name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    async def try_acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now = self.ctx.clock.now()
        expires = now + LEASE_TTL
        lease = SchedulerLease
        async with self.ctx.db.write() as session:
            renewed = await session.execute(
                update(lease)
                .where(lease.name == self.name)
                .where((lease.holder == self.holder) | (lease.expires_at < now))
                .values(holder=self.holder, acquired_at=now, expires_at=expires)
                .execution_options(synchronize_session=False)
            )
            held = cast(CursorResult[Any], renewed).rowcount == 1
        if not held:
            try:
                async with self.ctx.db.write() as session:
                    await session.execute(
                        insert(lease).values(
                            name=self.name, holder=self.holder, acquired_at=now, expires_at=expires
                        )
                    )
                held = True
            except IntegrityError:
                held = False
        self.held = held
        return held

    async def release(self) -> None:
        if not self.held:
            return
        async with self.ctx.db.write() as session:
            await session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=self.ctx.clock.now() - LEASE_TTL)
                .execution_options(synchronize_session=False)
            )
        self.held = False


async def run_job(ctx: Context, job: CronJob, lease: Lease | None = None) -> Any:
    """Run one job once: skipped unless this process holds the lease; failures are logged."""
    log = get_logger(job=job.name)
    if lease is not None and not lease.held:
        log.debug("job skipped: another process holds the scheduler lease")
        return None
    structlog.contextvars.bind_contextvars(job=job.name)
    try:
        result = await job.func(ctx)
        log.info("job finished")
        return result
    except Exception as exc:
        log.error("job failed", err=exc)
        return None
    finally:
        structlog.contextvars.unbind_contextvars("job")


class PacedTrigger(BaseTrigger):  # type: ignore[misc]
    """A crontab trigger on a `ScaledClock` (the sandbox's clock, running faster than the wall):
    APScheduler waits on the wall clock, so each simulated fire time is handed to it as the wall
    instant at which the scaled clock shows it."""

    def __init__(self, trigger: BaseTrigger, clock: ScaledClock) -> None:
        self.trigger = trigger
        self.clock = clock

    def __str__(self) -> str:
        return f"{self.trigger} at {self.clock.speed:g}x"

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> Any:
        simulated_now = self.clock.at_wall(now)
        previous = None
        if previous_fire_time is not None:
            # Back to simulated time, on the whole second the crontab fired at: a microsecond
            # lost in the conversion would make the crontab fire at the same time again.
            moment = self.clock.at_wall(previous_fire_time)
            previous = (moment + timedelta(microseconds=500_000)).replace(microsecond=0)
            simulated_now = max(simulated_now, previous)
        fire = self.trigger.get_next_fire_time(previous, simulated_now)
        return None if fire is None else self.clock.wall_time(fire)


def job_trigger(crontab: str, clock: Clock) -> BaseTrigger:
    """The job's crontab on the wall clock, or paced by the sandbox's scaled clock."""
    trigger = crontab_trigger(crontab)
    return PacedTrigger(trigger, clock) if isinstance(clock, ScaledClock) else trigger


class Scheduler:
    """APScheduler plus the lease keeper, started and stopped by the app's lifespan."""

    def __init__(self, ctx: Context, jobs: Iterable[CronJob]) -> None:
        self.ctx = ctx
        self.jobs = by_name(jobs)
        self.lease = Lease(ctx)
        self.aps = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._keep_lease_once()
        for job in self.jobs.values():
            self.aps.add_job(
                run_job,
                job_trigger(job.crontab, self.ctx.clock),
                args=(self.ctx, job, self.lease),
                id=job.name,
            )
        self.aps.start()
        self._keeper = asyncio.create_task(self._keep_lease())

    async def _keep_lease_once(self) -> None:
        try:
            await self.lease.try_acquire()
        except Exception as exc:  # a busy database must not stop the process
            self.lease.held = False
            get_logger().warning("scheduler lease check failed", err=exc)

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_SECONDS)
            await self._keep_lease_once()

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self.aps.running:
            self.aps.shutdown(wait=False)
        try:
            await self.lease.release()
        except Exception as exc:
            get_logger().warning("scheduler lease release failed", err=exc)
