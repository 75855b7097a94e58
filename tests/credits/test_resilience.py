"""Circuit breakers, retries with jittered backoff, the keystore, and the pool math."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from arenabrain.clients.breakers import BreakerOpen, BreakerState, CircuitBreaker
from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.keys import Credits, OpenRouterKey
from arenabrain.clients.retry import RetryPolicy
from arenabrain.credits import breakers
from arenabrain.credits.keystore import KeyStore, KeyStoreError
from arenabrain.credits.pool import distributable_cents, pool_numbers, promised_cents
from arenabrain.credits.upstreams import Guard
from tests.credits.fakes import transient

T0 = datetime(2026, 3, 1, tzinfo=UTC)


# --- breaker -------------------------------------------------------------------------------


def test_breaker_opens_after_three_consecutive_failures_and_half_opens_after_cooldown() -> None:
    breaker = CircuitBreaker("bags")
    for _ in range(2):
        breaker.before_call(T0)
        breaker.record_failure(T0)
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call(T0)
    breaker.record_failure(T0)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as info:
        breaker.before_call(T0 + timedelta(seconds=59))
    assert 'circuit breaker "bags" is OPEN' in str(info.value)
    # After the cooldown exactly one trial call goes through.
    breaker.before_call(T0 + timedelta(seconds=60))
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call(T0 + timedelta(seconds=61))
    breaker.record_success()
    assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 0)


def test_a_failed_trial_reopens_the_breaker_for_another_cooldown() -> None:
    breaker = CircuitBreaker("bags")
    for _ in range(3):
        breaker.record_failure(T0)
    later = T0 + timedelta(seconds=60)
    breaker.before_call(later)
    breaker.record_failure(later)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call(later + timedelta(seconds=30))
    breaker.before_call(later + timedelta(seconds=60))
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("x")
    breaker.record_failure(T0)
    breaker.record_failure(T0)
    breaker.record_success()
    breaker.record_failure(T0)
    breaker.record_failure(T0)
    assert breaker.state is BreakerState.CLOSED


async def test_guard_fast_fails_while_open_and_persists_the_state(cctx, clock) -> None:
    guard = Guard(cctx)
    calls = []

    async def broken():
        calls.append(1)
        raise transient("helius")

    for _ in range(3):
        with pytest.raises(UpstreamError):
            await guard.call("helius", broken, retry=False)
    with pytest.raises(BreakerOpen):
        await guard.call("helius", broken, retry=False)
    assert len(calls) == 3  # the fourth call never reached the upstream
    async with cctx.db.read() as session:
        saved = {row.name: row for row in await breakers.load_all(session)}
    assert (saved["helius"].state, saved["helius"].consecutive_failures) == ("OPEN", 3)

    # A new process loads the OPEN breaker; after the cooldown one trial succeeds.
    fresh = Guard(cctx)
    fresh.breakers.items.clear()
    with pytest.raises(BreakerOpen):
        await fresh.call("helius", broken, retry=False)
    clock.advance(seconds=61)

    async def healthy():
        return "ok"

    assert await fresh.call("helius", healthy) == "ok"
    async with cctx.db.read() as session:
        saved = {row.name: row for row in await breakers.load_all(session)}
    assert saved["helius"].state == "CLOSED"


async def test_non_transient_errors_do_not_open_the_breaker(cctx) -> None:
    guard = Guard(cctx)

    async def bad_request():
        raise UpstreamError("bags", "400 Invalid wallet", status=400)

    for _ in range(5):
        with pytest.raises(UpstreamError):
            await guard.call("bags", bad_request)
    assert guard.breakers.items["bags"].state is BreakerState.CLOSED


# --- retry ---------------------------------------------------------------------------------


async def test_transient_errors_are_retried_with_jittered_backoff() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(sleep=sleep, rng=random.Random(7))
    attempts = []

    async def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise transient("bags")
        return "done"

    assert await policy.run(flaky) == "done"
    assert len(attempts) == 3
    assert len(slept) == 2
    assert 0 <= slept[0] < 1 and 0 <= slept[1] < 2
    assert slept == [random.Random(7).uniform(0, 1), pytest.approx(slept[1])]


async def test_retries_stop_after_four_attempts_and_the_delay_is_capped() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(sleep=sleep, rng=random.Random(1), base_seconds=100, cap_seconds=30)
    attempts = []

    async def down():
        attempts.append(1)
        raise transient("openrouter")

    with pytest.raises(UpstreamError):
        await policy.run(down)
    assert len(attempts) == 4
    assert len(slept) == 3 and all(0 <= s <= 30 for s in slept)


async def test_non_transient_errors_are_not_retried() -> None:
    policy = RetryPolicy(sleep=None)  # type: ignore[arg-type]
    attempts = []

    async def rejected():
        attempts.append(1)
        raise UpstreamError("bags", "401 Invalid API key", status=401)

    with pytest.raises(UpstreamError):
        await policy.run(rejected)
    assert len(attempts) == 1


# --- keystore ------------------------------------------------------------------------------


def test_keys_are_encrypted_at_rest_and_bound_to_their_hash() -> None:
    store = KeyStore("a secret from KEY_ENCRYPTION_KEY")
    sealed = store.encrypt("sk-or-v1-plaintext", "hash-1")
    assert "sk-or-v1" not in sealed and sealed.startswith("v1.")
    assert store.decrypt(sealed, "hash-1") == "sk-or-v1-plaintext"
    assert store.encrypt("sk-or-v1-plaintext", "hash-1") != sealed  # fresh nonce every time
    with pytest.raises(KeyStoreError):
        store.decrypt(sealed, "hash-2")  # copied onto another row
    with pytest.raises(KeyStoreError):
        KeyStore("another secret").decrypt(sealed, "hash-1")
    with pytest.raises(KeyStoreError):
        store.decrypt("v0.garbage", "hash-1")


# --- pool ----------------------------------------------------------------------------------


def key(limit, remaining, *, disabled=False, expires=None) -> OpenRouterKey:
    return OpenRouterKey(
        hash=f"h{limit}{remaining}",
        name="k",
        disabled=disabled,
        limit=None if limit is None else Decimal(limit),
        limit_remaining=None if remaining is None else Decimal(remaining),
        limit_reset=None,
        usage=Decimal(0),
        usage_daily=Decimal(0),
        usage_weekly=Decimal(0),
        usage_monthly=Decimal(0),
        created_at=None,
        updated_at=None,
        expires_at=expires,
    )


def test_promised_headroom_counts_only_keys_that_can_still_spend() -> None:
    keys = [
        key(10, "7.5"),
        key(20, "0.001"),  # rounds up: never over-promise
        key(5, 5, disabled=True),
        key(5, 5, expires=T0 - timedelta(days=1)),
        key(None, None),
    ]
    assert promised_cents(keys, T0) == 751


def test_the_pool_bounds_what_a_run_can_allocate() -> None:
    pool = pool_numbers(
        Credits(Decimal("1250.50"), Decimal("318.75")), [key(100, 40)], Decimal(10), T0
    )
    assert pool.balance_cents == 93175
    assert pool.reserved_cents == 9318  # 10% of $931.75, rounded up
    assert pool.promised_cents == 4000
    assert pool.available_cents == 93175 - 9318 - 4000
    assert distributable_cents(10_000, pool) == 10_000
    assert distributable_cents(10**9, pool) == pool.available_cents


def test_an_exhausted_pool_allocates_nothing() -> None:
    pool = pool_numbers(Credits(Decimal(100), Decimal(95)), [key(50, 10)], Decimal(10), T0)
    assert pool.available_cents == 0
    assert distributable_cents(5000, pool) == 0


async def test_allocation_is_bounded_by_the_pool_and_an_empty_pool_skips_provisioning(
    cctx, world
) -> None:
    from arenabrain.credits import runs
    from tests.credits.conftest import make_strategy

    world.keys.total_credits = Decimal(100)
    world.keys.total_usage = Decimal(50)  # $50 left; 10% reserve → $45 available
    strategy = await make_strategy(cctx)
    run = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert run.allocated_usd == Decimal(45)
    assert sum(k.limit for k in world.keys.keys.values()) == Decimal(45)

    world.bags.claimable = {"Y" * 43: 1_000_000_000}
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "COMPLETE"
    assert second.allocated_usd == 0
    assert (second.keys_provisioned, second.keys_updated) == (0, 0)
    assert world.keys.faults.calls["update_key"] == 0
    status = await runs.run_status(cctx, run_id=second.run_id)
    details = {e.action: e.details for e in status.audit_log}
    assert "fund the OpenRouter account" in details["transition:ALLOCATING->PROVISIONING"]["reason"]
    assert details["transition:PROVISIONING->COMPLETE"]["skipped"] is True
