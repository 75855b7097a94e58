"""What a scheduled job is: a name, a standard five-field crontab (UTC) and the function the
scheduler calls with the context. Each domain lists its jobs as plain values (`jobs.JOBS`) and
the app hands the enabled domains' jobs to the scheduler; nothing registers itself on import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from arenabrain.context import Context
from arenabrain.cron import crontab_trigger

Job = Callable[[Context], Awaitable[Any]]


@dataclass(frozen=True)
class CronJob:
    """Run `func(ctx)` on `crontab`: the same function its cron route and CLI command call."""

    name: str
    crontab: str
    func: Job

    def __post_init__(self) -> None:
        crontab_trigger(self.crontab)  # a bad expression fails where it is written


def by_name(jobs: Iterable[CronJob]) -> dict[str, CronJob]:
    """The jobs keyed by name; ValueError names any name used twice."""
    found: dict[str, CronJob] = {}
    twice = set()
    for job in jobs:
        if job.name in found:
            twice.add(job.name)
        found[job.name] = job
    if twice:
        raise ValueError(f"job names used more than once: {', '.join(sorted(twice))}")
    return found
