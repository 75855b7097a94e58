"""Injected clocks: every job takes `now` from one of these, never from the wall directly; and
the injected `Sleep` every wait goes through, so tests never really wait."""

from __future__ import annotations

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
