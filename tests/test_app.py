"""The app's wiring: the domains the settings enable, and only those, give their routes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import pytest

from arenabrain import app as app_module
from arenabrain.app import ARENA, CREDITS, create_app, enabled_domains, scheduled_jobs
from arenabrain.context import Context
from arenabrain.jobs import CronJob
from arenabrain.settings import Settings
from tests.credits.conftest import KEK

CREDITS_SECRETS = {
    "BAGS_API_KEY": "test-bags",
    "HELIUS_API_KEY": "test-helius",
    "OPENROUTER_MANAGEMENT_KEY": "test-management",
    "KEY_ENCRYPTION_KEY": KEK,
}
FLAGS = [
    ("true", "true", ("arena", "credits")),
    ("true", "false", ("arena",)),
    ("false", "true", ("credits",)),
    ("false", "false", ()),
]


def flagged(make: Callable[..., Settings], arena: str, credits: str) -> Settings:
    return make(ARENA_ENABLED=arena, CREDITS_ENABLED=credits, **CREDITS_SECRETS)


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_enabled_domains_follow_the_settings(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    settings = flagged(make_settings, arena, credits)
    assert tuple(domain.name for domain in enabled_domains(settings)) == expected


def served(make: Callable[..., Settings], arena: str, credits: str) -> set[str]:
    return set(create_app(flagged(make, arena, credits)).openapi()["paths"])


def test_the_app_serves_the_routes_of_the_enabled_domains_only(
    make_settings: Callable[..., Settings],
) -> None:
    shared = served(make_settings, "false", "false")
    own = {
        "arena": served(make_settings, "true", "false") - shared,
        "credits": served(make_settings, "false", "true") - shared,
    }
    assert "/health/ready" in shared and "/api/markets" in own["arena"]
    assert "/api/strategies" in own["credits"] and not own["arena"] & own["credits"]
    for arena, credits, expected in FLAGS:
        wanted = shared.union(*(own[name] for name in expected))
        assert served(make_settings, arena, credits) == wanted, expected


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
def test_the_scheduled_jobs_are_those_of_the_enabled_domains(
    make_settings: Callable[..., Settings], arena: str, credits: str, expected: tuple[str, ...]
) -> None:
    jobs = {"arena": ARENA.jobs, "credits": CREDITS.jobs}
    wanted = [job.name for name in expected for job in jobs[name]]
    assert [job.name for job in scheduled_jobs(flagged(make_settings, arena, credits))] == wanted


class RecordingScheduler:
    """Stands in for the scheduler: records the jobs the app hands it, starts nothing."""

    handed: ClassVar[list[tuple[CronJob, ...]]] = []

    def __init__(self, ctx: Context, jobs: Iterable[CronJob]) -> None:
        self.handed.append(tuple(jobs))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@pytest.mark.parametrize(("arena", "credits", "expected"), FLAGS)
async def test_the_app_hands_the_scheduler_the_jobs_of_the_enabled_domains_only(
    make_settings: Callable[..., Settings],
    make_client: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch,
    arena: str,
    credits: str,
    expected: tuple[str, ...],
) -> None:
    monkeypatch.setattr(app_module, "Scheduler", RecordingScheduler)
    monkeypatch.setattr(RecordingScheduler, "handed", [])
    settings = flagged(make_settings, arena, credits)
    async with make_client(settings.model_copy(update={"scheduler_enabled": True})):
        pass
    (handed,) = RecordingScheduler.handed
    names = {job.name for job in handed}
    assert names == {job.name for job in scheduled_jobs(settings)}
    assert ("sync-markets" in names) is ("arena" in expected)
    assert ("credits-scheduled-runs" in names) is ("credits" in expected)
