"""One retry policy for every upstream client, run by tenacity.

Only an `UpstreamError` whose `transient` flag is set (429, 5xx, timeouts, broken connections)
is retried; anything else is re-raised at once, and so is the last attempt's error. After
failed attempt `a` (0-based) the policy waits `min(cap, base * 2**a)`, or with "full jitter"
(reference §5.7) a uniform random time below it; a policy that honours `Retry-After` waits
what the server asked instead, capped the same way. The sleep and the random source are
injected, so tests are deterministic and never really wait."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from arenabrain.clients.errors import UpstreamError
from arenabrain.logging import get_logger

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def is_transient(error: BaseException) -> bool:
    return isinstance(error, UpstreamError) and error.transient


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the first call plus three retries
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    jitter: bool = True
    honour_retry_after: bool = False
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """The wait after failed attempt number `attempt` (0-based) that raised `error`."""
        after = error.retry_after if isinstance(error, UpstreamError) else None
        if self.honour_retry_after and after is not None:
            return min(after, self.cap_seconds)
        backoff = min(self.cap_seconds, self.base_seconds * 2**attempt)
        return self.rng.uniform(0, backoff) if self.jitter else float(backoff)

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str = "call") -> T:
        """Call until it succeeds, fails with a non-transient error, or attempts run out."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            retry=retry_if_exception(is_transient),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=lambda state: self._log(state, what),
            reraise=True,
        )

        async def attempt() -> T:  # tenacity awaits only what it sees is a coroutine function
            return await call()

        return await retrying(attempt)

    def _wait(self, state: RetryCallState) -> float:
        if state.attempt_number >= self.attempts:
            # tenacity asks for the wait before it checks the stop: no sleep follows the last
            # attempt, so it must not draw from the shared random source either.
            return 0.0
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number - 1, error)

    def _log(self, state: RetryCallState, what: str) -> None:
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        error = state.outcome.exception() if state.outcome is not None else None
        get_logger().warning(
            "Retry attempt — will retry after delay",
            what=what,
            attempt=state.attempt_number,
            maxRetries=self.attempts - 1,
            delayMs=round(delay * 1000),
            errorMessage=str(error),
        )
