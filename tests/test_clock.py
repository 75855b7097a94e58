"""The scaled clock: simulated time that starts at an instant and runs faster than the wall."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from arenabrain.clock import ScaledClock

START = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)


class Wall:
    """An injected wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.current = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def move(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def test_the_clock_starts_at_its_instant_and_runs_speed_times_the_wall() -> None:
    wall = Wall()
    clock = ScaledClock(START, speed=60, wall=wall)
    assert clock.now() == START
    wall.move(seconds=90)
    assert clock.now() == START + timedelta(minutes=90)


def test_wall_time_and_simulated_time_convert_both_ways() -> None:
    wall = Wall()
    clock = ScaledClock(START, speed=60, wall=wall)
    sunday = datetime(2026, 3, 1, tzinfo=UTC)
    at = clock.wall_time(sunday)
    assert at == wall.current + timedelta(minutes=1)
    assert at is not None and clock.at_wall(at) == sunday


def test_a_standing_clock_moves_only_when_set_or_advanced() -> None:
    wall = Wall()
    clock = ScaledClock(START, speed=0, wall=wall)
    wall.move(hours=5)
    assert clock.now() == START
    assert clock.wall_time(START + timedelta(hours=1)) is None  # it will never get there alone
    clock.advance(minutes=5)
    assert clock.now() == START + timedelta(minutes=5)
    clock.set(START + timedelta(days=1))
    assert clock.now() == START + timedelta(days=1)


def test_run_goes_on_from_the_current_instant_at_the_new_speed() -> None:
    wall = Wall()
    clock = ScaledClock(START, speed=0, wall=wall)
    clock.set(START + timedelta(weeks=4))
    clock.run(3600)
    wall.move(seconds=2)
    assert clock.now() == START + timedelta(weeks=4, hours=2)


def test_a_negative_speed_is_refused() -> None:
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START, speed=-1)
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START).run(-2)


async def test_sleep_on_a_standing_clock_moves_it_by_the_wait() -> None:
    clock = ScaledClock(START, speed=0)
    await clock.sleep(30)
    assert clock.now() == START + timedelta(seconds=30)


async def test_sleep_on_a_running_clock_waits_the_simulated_time_only() -> None:
    clock = ScaledClock(START, speed=36_000)
    started = time.monotonic()
    await clock.sleep(3600)  # an hour of simulated time: a tenth of a second on the wall
    assert time.monotonic() - started < 2
    assert clock.now() >= START + timedelta(hours=1)
