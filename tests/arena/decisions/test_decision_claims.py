"""Claiming the canonical decision row: fresh, stale, retryable, finished, and races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update
from tests.arena.decisions.support import add_market, seed_cohort

from arenabrain.arena.decisions.claims import (
    AGENT_TIME_LIMIT,
    IN_PROGRESS,
    NO_TRADES_REASON,
    STALE_AFTER,
    STALE_REASON,
    ClaimError,
    claim_decision,
    still_held,
)
from arenabrain.arena.models import Decision, Trade
from arenabrain.clock import FrozenClock
from arenabrain.context import Context


@pytest.fixture
async def agent(ctx: Context) -> tuple[str, str]:
    cohort = await seed_cohort(ctx)
    return cohort.agent_ids[0], cohort.id


async def claim(ctx: Context, agent: tuple[str, str], week: int = 1):  # type: ignore[no-untyped-def]
    return await claim_decision(
        ctx.db, agent_id=agent[0], cohort_id=agent[1], decision_week=week, now=ctx.clock.now()
    )


async def rows(ctx: Context) -> list[Decision]:
    async with ctx.db.read() as session:
        return list(await session.scalars(select(Decision)))


async def finalize(ctx: Context, decision_id: str, action: str, error: str | None = None) -> None:
    async with ctx.db.write() as session:
        await session.execute(
            update(Decision)
            .where(Decision.id == decision_id)
            .values(
                action=action,
                error_message=error,
                prompt_system="s",
                prompt_user="u",
                reasoning="r",
            )
        )


def test_stale_threshold_exceeds_one_agents_worst_case() -> None:
    assert timedelta(seconds=2 * 40) <= AGENT_TIME_LIMIT
    assert STALE_AFTER > AGENT_TIME_LIMIT
    assert timedelta(minutes=5) == STALE_AFTER


async def test_first_claim_inserts_the_sentinel_row(ctx: Context, agent: tuple[str, str]) -> None:
    result = await claim(ctx, agent)
    assert result.claimed and result.retry_reason is None
    [row] = await rows(ctx)
    assert row.id == result.decision_id
    assert (row.action, row.error_message, row.prompt_system, row.prompt_user) == (
        "ERROR",
        IN_PROGRESS,
        IN_PROGRESS,
        IN_PROGRESS,
    )
    assert (row.family_id, row.release_id) == ("openai-gpt", "openai-gpt--gpt-5.5")
    assert row.decision_timestamp == ctx.clock.now()


async def test_fresh_claim_is_not_taken_twice(
    ctx: Context, agent: tuple[str, str], clock: FrozenClock
) -> None:
    first = await claim(ctx, agent)
    clock.advance(seconds=STALE_AFTER.total_seconds())  # exactly at the threshold: still fresh
    second = await claim(ctx, agent)
    assert not second.claimed and second.busy
    assert second.decision_id == first.decision_id
    assert len(await rows(ctx)) == 1


async def test_stale_claim_is_reclaimed_and_the_old_claim_loses(
    ctx: Context, agent: tuple[str, str], clock: FrozenClock
) -> None:
    first = await claim(ctx, agent)
    clock.advance(seconds=STALE_AFTER.total_seconds() + 1)
    second = await claim(ctx, agent)
    assert second.claimed and second.retry_reason == STALE_REASON
    assert second.decision_id == first.decision_id
    async with ctx.db.read() as session:
        assert not await still_held(session, first)
        assert await still_held(session, second)
    assert len(await rows(ctx)) == 1


async def test_final_error_row_is_reclaimed_with_a_new_token(
    ctx: Context, agent: tuple[str, str]
) -> None:
    first = await claim(ctx, agent)
    await finalize(ctx, first.decision_id, "ERROR", "OpenRouter request timed out after 40000ms")
    second = await claim(ctx, agent)  # same frozen instant
    assert second.claimed and second.retry_reason is None
    assert second.claimed_at is not None and first.claimed_at is not None
    assert second.claimed_at > first.claimed_at
    [row] = await rows(ctx)
    assert row.error_message == IN_PROGRESS


async def test_bet_without_trades_is_reclaimed(ctx: Context, agent: tuple[str, str]) -> None:
    first = await claim(ctx, agent)
    await finalize(
        ctx, first.decision_id, "BET", "BET batch failed; no trades executed: Market is closed"
    )
    second = await claim(ctx, agent)
    assert second.claimed and second.retry_reason == NO_TRADES_REASON
    [row] = await rows(ctx)
    assert row.reasoning == NO_TRADES_REASON


async def test_bet_with_a_trade_is_done_even_with_errors(
    ctx: Context, agent: tuple[str, str]
) -> None:
    first = await claim(ctx, agent)
    await finalize(ctx, first.decision_id, "SELL", "1 sell execution(s) failed after 1 succeeded")
    await add_market(ctx, "m1")
    async with ctx.db.write() as session:
        await session.execute(
            insert(Trade).values(
                id="t1",
                agent_id=agent[0],
                market_id="m1",
                decision_id=first.decision_id,
                trade_type="SELL",
                side="YES",
                shares=1.0,
                price=0.5,
                total_amount=0.5,
            )
        )
    second = await claim(ctx, agent)
    assert not second.claimed and not second.busy
    assert (second.existing_action, second.existing_error) == (
        "SELL",
        "1 sell execution(s) failed after 1 succeeded",
    )


async def test_finished_hold_is_skipped(ctx: Context, agent: tuple[str, str]) -> None:
    first = await claim(ctx, agent)
    await finalize(ctx, first.decision_id, "HOLD")
    second = await claim(ctx, agent)
    assert not second.claimed and second.existing_action == "HOLD"


async def test_next_week_gets_its_own_row(ctx: Context, agent: tuple[str, str]) -> None:
    await claim(ctx, agent, week=1)
    assert (await claim(ctx, agent, week=2)).claimed
    assert len(await rows(ctx)) == 2


async def test_agent_must_belong_to_the_cohort(ctx: Context, agent: tuple[str, str]) -> None:
    with pytest.raises(ClaimError, match="Decision agent/cohort mismatch"):
        await claim_decision(
            ctx.db, agent_id=agent[0], cohort_id="other", decision_week=1, now=ctx.clock.now()
        )
    with pytest.raises(ClaimError):
        await claim_decision(
            ctx.db, agent_id="ghost", cohort_id=agent[1], decision_week=1, now=ctx.clock.now()
        )


async def test_simultaneous_claims_give_exactly_one_winner(
    ctx: Context, agent: tuple[str, str]
) -> None:
    results = await asyncio.gather(*(claim(ctx, agent) for _ in range(10)))
    assert sum(r.claimed for r in results) == 1
    assert all(r.busy for r in results if not r.claimed)
    assert len({r.decision_id for r in results}) == 1
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Decision)) == 1


async def test_simultaneous_reclaims_of_a_stale_row_give_one_winner(
    ctx: Context, agent: tuple[str, str], clock: FrozenClock
) -> None:
    await claim(ctx, agent)
    clock.advance(minutes=6)
    results = await asyncio.gather(*(claim(ctx, agent) for _ in range(6)))
    assert sum(r.claimed for r in results) == 1
    assert len(await rows(ctx)) == 1
