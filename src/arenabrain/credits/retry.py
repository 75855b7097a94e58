"""Retrying transient upstream failures with jittered exponential backoff.

Only an `UpstreamError` whose `transient` flag is set (429, 5xx, timeouts, connection errors)
is retried; anything else is re-raised at once. Delays use "full jitter" (reference §5.7):
attempt `a` sleeps a uniform random time in [0, min(cap, base * 2**a)). The random source and
the sleep are injected, so tests are deterministic and never really sleep."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from arenabrain.clients.errors import UpstreamError
from arenabrain.logging import get_logger

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class RetryPolicy:
    attempts: int = 4  # the first call plus three retries
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """The jittered delay after failed attempt number `attempt` (0-based)."""
        return self.rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str = "call") -> T:
        """Call until it succeeds, fails with a non-transient error, or attempts run out."""
        for attempt in range(self.attempts):
            try:
                return await call()
            except UpstreamError as exc:
                if not exc.transient or attempt == self.attempts - 1:
                    raise
                delay = self.delay(attempt)
                get_logger().warning(
                    "Retry attempt — will retry after delay",
                    what=what,
                    attempt=attempt + 1,
                    maxRetries=self.attempts - 1,
                    delayMs=round(delay * 1000),
                    errorMessage=str(exc),
                )
                await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
