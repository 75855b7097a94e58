"""The scheduler jobs: strategy schedules with MIN_CRON_INTERVAL_HOURS, and the usage poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from arenabrain.credits import jobs, runs, strategies, usage
from arenabrain.credits.models import UsageSnapshot, UserKey
from arenabrain.jobs import by_name
from tests.credits.conftest import HOLDER_A, make_strategy

T = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "now", "expected"),
    [
        ("0 */6 * * *", T, T),
        ("0 */6 * * *", T + timedelta(minutes=14), T),
        ("0 */6 * * *", T + timedelta(minutes=16), None),  # outside the grace window
        ("0 */6 * * *", T - timedelta(minutes=1), None),
        ("30 5 * * *", T, None),  # fired 30 minutes ago: past the 15-minute grace
        ("0 6 * * sun", T, T),  # 2026-03-01 is a Sunday
        ("0 6 * * 0", T, T),  # numeric Sunday means Sunday (not Monday)
    ],
)
def test_due_fire_time(expression, now, expected) -> None:
    assert jobs.due_fire_time(expression, now) == expected


@pytest.mark.parametrize(
    ("expression", "min_hours", "ok"),
    [
        ("0 */6 * * *", 1, True),
        ("0 */6 * * *", 6, True),
        ("0 */6 * * *", 7, False),
        ("* * * * *", 1, False),  # the anchor let this through
        ("0 1,13 * * *", 12, True),
        ("0 1,13 * * *", 13, False),
        ("0 0-23 * * *", 2, False),
        ("0 0 * * *", 24, True),
        ("0 * * * *", 1, True),
        ("*/30 * * * *", 1, False),
        ("not cron", 1, False),
        ("0 0 * * 8", 1, False),
    ],
)
def test_schedule_minimum_interval_is_measured_exactly(expression, min_hours, ok) -> None:
    assert (strategies.schedule_problem(expression, min_hours, T) is None) is ok


async def test_the_tick_starts_due_runs_once_and_skips_paused_strategies(
    cctx, world, clock
) -> None:
    clock.set(T - timedelta(minutes=1))
    active = await make_strategy(cctx)
    paused = await make_strategy(cctx)
    await strategies.set_status(cctx, paused.strategy_id, "PAUSED")
    assert (await jobs.run_scheduled(cctx))["started"] == []  # not due yet

    clock.set(T + timedelta(minutes=1))
    result = await jobs.run_scheduled(cctx)
    assert len(result["started"]) == 1
    run = await runs.get_run(cctx, result["started"][0])
    assert (run.strategy_id, run.trigger, run.state) == (
        active.strategy_id,
        "scheduler",
        "COMPLETE",
    )
    clock.set(T + timedelta(minutes=2))
    assert (await jobs.run_scheduled(cctx))["started"] == []  # this fire time has its run
    clock.set(T + timedelta(hours=6))
    assert len((await jobs.run_scheduled(cctx))["started"]) == 1


async def test_the_tick_honours_the_minimum_interval_and_the_kill_switch(
    make_ctx, world, clock
) -> None:
    ctx = await make_ctx()
    clock.set(T)
    strategy = await make_strategy(ctx, schedule="0 */2 * * *")
    assert len((await jobs.run_scheduled(ctx))["started"]) == 1
    # The operator raises MIN_CRON_INTERVAL_HOURS: the 2-hourly schedule is now refused.
    stricter = await make_ctx(MIN_CRON_INTERVAL_HOURS="3")
    clock.set(T + timedelta(hours=2))
    result = await jobs.run_scheduled(stricter)
    assert (
        result["started"] == []
        and "MIN_CRON_INTERVAL_HOURS" in result["skipped"][strategy.strategy_id]
    )

    stopped = await make_ctx(EXECUTION_KILL_SWITCH="true")
    clock.set(T + timedelta(hours=4))
    result = await jobs.run_scheduled(stopped)
    assert result["started"] == []
    assert "Kill switch" in result["skipped"][strategy.strategy_id]
    assert world.solana.faults.calls["send_transaction"] == 3  # only the first run's


def test_jobs_are_registered() -> None:
    assert {"credits-scheduled-runs", "credits-usage-poll", "credits-key-rotation"} <= set(
        by_name(jobs.JOBS)
    )


async def test_usage_poll_syncs_keys_and_marks_exhausted_and_expired(cctx, world, clock) -> None:
    strategy = await make_strategy(cctx, key_config={"default_limit_usd": 100, "limit_reset": None})
    await runs.start_run(cctx, strategy.strategy_id, "api")
    async with cctx.db.read() as session:
        by_wallet = {k.holder_wallet: k for k in await session.scalars(select(UserKey))}
    a = by_wallet[HOLDER_A]
    world.keys.spend(a.openrouter_key_hash, Decimal(100))
    others = [k for w, k in by_wallet.items() if w != HOLDER_A]
    world.keys.keys[others[0].openrouter_key_hash].expires_at = clock.now() - timedelta(seconds=1)

    assert await usage.poll_usage_if_due(cctx) == {"synced": 3, "missing": 0}
    assert await usage.poll_usage_if_due(cctx) is None  # not due again yet
    async with cctx.db.read() as session:
        after = {k.key_id: k for k in await session.scalars(select(UserKey))}
        snapshots = list(await session.scalars(select(UsageSnapshot)))
    assert after[a.key_id].status == "EXHAUSTED"
    assert after[a.key_id].current_usage_usd == 100.0
    assert after[a.key_id].last_synced_at == clock.now()
    assert after[others[0].key_id].status == "EXPIRED"
    assert after[others[1].key_id].status == "ACTIVE"
    assert len(snapshots) == 3
    rows = await usage.usage_rows(cctx, key_hash=a.openrouter_key_hash)
    assert rows[0]["usage"] == 100.0 and rows[0]["limit_remaining"] == 0.0

    # The next run tops the exhausted key up (it is still the holder's key) and gives the
    # holder whose key expired a new one.
    world.bags.claimable = {"Z" * 43: 1_000_000_000}
    clock.advance(minutes=20)
    second = await runs.start_run(cctx, strategy.strategy_id, "api")
    assert second.state == "COMPLETE", second.error
    assert second.keys_provisioned == 1
    async with cctx.db.read() as session:
        refreshed = await session.get(UserKey, a.key_id)
    assert refreshed.status == "ACTIVE"
