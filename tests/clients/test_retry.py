"""The one retry policy (tenacity underneath): what it retries, how long it waits, and that it
draws from the shared random source only for waits it really takes."""

from __future__ import annotations

import random

import pytest

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.polymarket.transport import retry_policy
from arenabrain.clients.retry import RetryPolicy


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def failing(errors: list[BaseException]):  # type: ignore[no-untyped-def]
    """A call that raises each of `errors` in turn, then answers "ok"; it counts its calls."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return call, calls


def transient(retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("x", "503", status=503, transient=True, retry_after=retry_after)


async def test_without_jitter_the_wait_doubles_up_to_the_cap() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=6, base_seconds=0.5, cap_seconds=3, jitter=False, sleep=sleeps)
    call, calls = failing([transient() for _ in range(5)])
    assert await policy.run(call) == "ok"
    assert len(calls) == 6
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_retry_after_is_honoured_capped_only_when_the_policy_says_so() -> None:
    errors = [transient(retry_after=2), transient(retry_after=60)]
    sleeps = Sleeps()
    call, calls = failing(errors)
    assert await retry_policy(sleeps).run(call) == "ok"
    assert sleeps == [2.0, 10.0] and len(calls) == 3
    plain = Sleeps()
    ignoring = RetryPolicy(attempts=3, base_seconds=0.5, jitter=False, sleep=plain)
    call, _ = failing(errors)
    assert await ignoring.run(call) == "ok"
    assert plain == [0.5, 1.0]


async def test_errors_that_are_not_transient_upstream_errors_are_raised_at_once() -> None:
    sleeps = Sleeps()
    for error in (UpstreamError("x", "400", status=400), ValueError("bug")):
        call, calls = failing([error])
        with pytest.raises(type(error)):
            await RetryPolicy(sleep=sleeps).run(call)
        assert len(calls) == 1
    assert sleeps == []


async def test_the_last_error_is_raised_itself_after_the_last_attempt() -> None:
    last = transient()
    call, calls = failing([transient(), transient(), last])
    with pytest.raises(UpstreamError) as caught:
        await RetryPolicy(attempts=3, sleep=Sleeps(), rng=random.Random(3)).run(call)
    assert caught.value is last and len(calls) == 3


async def test_jitter_draws_once_per_wait_taken_and_never_after_the_last_attempt() -> None:
    rng = random.Random(11)
    sleeps = Sleeps()
    call, _ = failing([transient() for _ in range(4)])
    with pytest.raises(UpstreamError):
        await RetryPolicy(sleep=sleeps, rng=rng).run(call)
    expected = random.Random(11)
    assert sleeps == [expected.uniform(0, 1), expected.uniform(0, 2), expected.uniform(0, 4)]
    # The shared source is exactly where three waits leave it: the next caller's jitter is
    # the same as if the failed call had never asked for a fourth wait.
    assert rng.random() == expected.random()
