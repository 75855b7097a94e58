"""Injected clocks: every job takes `now` from one of these, never from the wall directly; and
the injected `Sleep` every wait goes through, so tests never really wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

Sleep = Callable[[float], Awaitable[None]]  # `asyncio.sleep`, or a test's fake


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant as an aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock for tests and the sandbox: it moves only when told to."""

    current: datetime = field(default_factory=lambda: datetime(2026, 3, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current = self.current + timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Wall = Callable[[], datetime]


def wall_now() -> datetime:
    return datetime.now(UTC)


class ScaledClock:
    """Simulated time for the sandbox: it starts at an instant and runs `speed` times faster
    than the wall clock (speed 0: it stands still until moved, like `FrozenClock`).

    The demo steps it through simulated weeks at speed 0, then lets it run while the service
    keeps serving; `serve --sandbox` runs it from the start. Its `sleep` waits the simulated
    seconds (a standing clock moves by them instead), so retries and polls take simulated time."""

    def __init__(self, start: datetime, speed: float = 1.0, wall: Wall = wall_now) -> None:
        if speed < 0:
            raise ValueError("speed must be 0 or more")
        self._wall = wall
        self._anchor = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._wall_anchor = wall()
        self.speed = float(speed)

    def now(self) -> datetime:
        return self.at_wall(self._wall())

    def at_wall(self, moment: datetime) -> datetime:
        """The simulated instant at a wall-clock instant."""
        return self._anchor + (moment - self._wall_anchor) * self.speed

    def wall_time(self, moment: datetime) -> datetime | None:
        """The wall-clock instant at which this clock shows `moment`; None when it stands still."""
        if self.speed == 0:
            return None
        return self._wall_anchor + (moment - self._anchor) / self.speed

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (and keep running at the same speed from there)."""
        self._anchor = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._wall_anchor = self._wall()

    def advance(self, **delta: float) -> datetime:
        self.set(self.now() + timedelta(**delta))
        return self._anchor

    def run(self, speed: float) -> None:
        """Go on from the current instant at `speed` times the wall clock."""
        if speed < 0:
            raise ValueError("speed must be 0 or more")
        self.set(self.now())
        self.speed = float(speed)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time (a standing clock moves by them at once)."""
        if self.speed == 0:
            self.advance(seconds=seconds)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds / self.speed)
