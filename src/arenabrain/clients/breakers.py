"""Circuit breakers per upstream: stop calling a dependency that keeps failing.

CLOSED counts consecutive transient failures; the third opens the breaker. While OPEN every
call fails fast with `BreakerOpen` until the cooldown has passed; then the breaker is
HALF_OPEN and lets exactly one trial call through (concurrent callers still fail fast). The
trial's success closes it; its failure opens it again for another cooldown. The anchor's
breakers stayed open forever because availability was checked without the clock (B14); here
`before_call` always looks at the time.

Non-transient errors (a 400, a 404) prove the upstream is answering, so they count as success
for the breaker. `Breakers` holds the process's breakers in memory (`Context.breakers`); the
domain that uses them persists their state (CreditBrain: `credits.breakers`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from arenabrain.clients.errors import UpstreamError

FAILURE_THRESHOLD = 3
COOLDOWN = timedelta(seconds=60)


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class BreakerOpen(UpstreamError):
    """A call refused without trying, because the upstream's breaker is open."""

    def __init__(self, name: str, until: datetime) -> None:
        super().__init__(
            name,
            f'circuit breaker "{name}" is OPEN after {FAILURE_THRESHOLD} consecutive failures'
            f" - calls blocked until {until:%Y-%m-%d %H:%M:%S} UTC",
        )
        self.until = until


@dataclass
class CircuitBreaker:
    name: str
    threshold: int = FAILURE_THRESHOLD
    cooldown: timedelta = COOLDOWN
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None
    trial_in_flight: bool = False

    def before_call(self, now: datetime) -> None:
        """Raise BreakerOpen unless a call may go through now."""
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now - self.opened_at < self.cooldown:
                raise BreakerOpen(self.name, self.opened_at + self.cooldown)
            self.state = BreakerState.HALF_OPEN
            self.trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            if self.trial_in_flight:
                raise BreakerOpen(self.name, now)
            self.trial_in_flight = True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def record_failure(self, now: datetime) -> None:
        self.failures += 1
        self.trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now

    def snapshot(self) -> tuple[str, int, datetime | None]:
        return (str(self.state), self.failures, self.opened_at)


class Breakers:
    """The process's breakers by upstream name (one set per context)."""

    def __init__(self, threshold: int = FAILURE_THRESHOLD, cooldown: timedelta = COOLDOWN) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.items: dict[str, CircuitBreaker] = {}

    def add(
        self,
        name: str,
        state: BreakerState = BreakerState.CLOSED,
        failures: int = 0,
        opened_at: datetime | None = None,
    ) -> CircuitBreaker:
        """The breaker `name`, starting from the given state (a saved one, or CLOSED)."""
        breaker = CircuitBreaker(name, self.threshold, self.cooldown, state, failures, opened_at)
        self.items[name] = breaker
        return breaker
