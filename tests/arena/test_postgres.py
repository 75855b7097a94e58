"""The arena's write paths on PostgreSQL: the market upsert, concurrent cohort starts, a decision
run in the sandbox and the decision claim race, each against a fresh migrated schema.

SQLite serialises writers with `BEGIN IMMEDIATE`; PostgreSQL does not, so these tests are where
the unique indexes, `ON CONFLICT` clauses and row locks have to do that job."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from arenabrain.arena import cohorts, markets, read_models
from arenabrain.arena.decisions import claims
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.arena.execution.accounting import accounting_problems
from arenabrain.arena.models import Agent, ApiCost, Cohort, Decision, Market, SystemLog, Trade
from arenabrain.clients.polymarket import parse_market
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.db.migrate import upgrade_async
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox
from arenabrain.settings import Settings
from tests.arena.decisions.support import SUNDAY, chat_ready, load_world_markets, seed_cohort
from tests.arena.postgres import (
    pin_search_path,
    schema_url,
    server_url,
    service_url,
    throwaway_schemas,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def ctx(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Context]:
    """The usual test context, on a fresh PostgreSQL schema migrated to head (asyncpg)."""
    url = server_url("write paths")
    with throwaway_schemas(url) as make_schema:
        schema = make_schema()
        await upgrade_async(schema_url(url, schema))
        settings = make_settings(DATABASE_URL=service_url(url))
        assert settings.resolved_database_url().startswith("postgresql+asyncpg://")
        async with open_context(
            settings,
            clock=clock,
            transports=sandbox.transports(),
            migrate=False,
            sleep=_no_sleep,
        ) as context:
            pin_search_path(context.db.engine, schema)
            yield replace(context, sandbox=sandbox)


async def _no_sleep(_seconds: float) -> None:
    return None


async def count(ctx: Context, table: Any, *where: Any) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def stored(ctx: Context) -> dict[str, Market]:
    async with ctx.db.read() as session:
        return {m.polymarket_id: m for m in (await session.scalars(select(Market))).all()}


async def events(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [json.loads(r.event_data or "null") for r in rows]


# --- sync-markets -----------------------------------------------------------------------------


async def test_sync_inserts_then_updates_the_same_rows(ctx: Context, clock: FrozenClock) -> None:
    first = await markets.sync_markets(ctx)
    before = await stored(ctx)
    assert first["markets_added"] == len(before) > 40 and first["markets_updated"] == 0

    clock.advance(minutes=5)
    second = await markets.sync_markets(ctx)
    after = await stored(ctx)
    assert (second["markets_added"], second["markets_updated"]) == (0, len(before))
    assert set(after) == set(before)
    for pid, row in after.items():
        assert (row.id, row.first_seen_at) == (before[pid].id, before[pid].first_seen_at)
        assert row.last_updated_at == clock.now()
        assert row.close_date == before[pid].close_date
    assert len(await events(ctx, "market_sync_complete")) == 2


async def test_upsert_never_erases_and_keeps_a_settled_market_resolved(
    ctx: Context, clock: FrozenClock
) -> None:
    full = parse_market(
        {
            "id": "777",
            "question": "Will it rain?",
            "slug": "rain",
            "description": "Rain.",
            "category": "Weather",
            "endDate": "2026-06-01T00:00:00Z",
            "outcomes": '["No", "Yes"]',
            "outcomePrices": '["0.6", "0.4"]',
            "clobTokenIds": '["n", "y"]',
            "volumeNum": 1000.0,
            "liquidity": "50",
            "active": True,
            "closed": False,
            "events": [{"slug": "weather"}],
        }
    )
    async with ctx.db.write() as session:
        outcome = await markets.upsert_markets(session, [full, full], clock.now())
    assert (outcome.added, outcome.updated) == (1, 0)
    first = (await stored(ctx))["777"]
    assert (first.current_price, first.clob_token_ids) == (0.4, '["y","n"]')

    sparse = replace(
        parse_market({"id": "777", "outcomes": '["Yes", "No"]', "active": True}),
        question="Will it rain?",
    )
    assert sparse.close_date is None and sparse.volume is None
    clock.advance(hours=1)
    async with ctx.db.write() as session:
        outcome = await markets.upsert_markets(session, [sparse], clock.now())
    second = (await stored(ctx))["777"]
    assert (outcome.added, outcome.updated) == (0, 1)
    for column in ("id", "slug", "event_slug", "description", "category", "close_date"):
        assert getattr(second, column) == getattr(first, column), column
    for column in ("current_price", "clob_token_ids", "volume", "liquidity", "first_seen_at"):
        assert getattr(second, column) == getattr(first, column), column
    assert second.last_updated_at == clock.now()

    async with ctx.db.write() as session:
        await session.execute(
            update(Market)
            .where(Market.polymarket_id == "777")
            .values(status="resolved", resolution_outcome="YES", resolved_at=clock.now())
        )
    clock.advance(minutes=5)
    async with ctx.db.write() as session:
        outcome = await markets.upsert_markets(session, [full], clock.now(), track_transitions=True)
    assert outcome.transitions == {"777": ("resolved", "resolved")}
    third = (await stored(ctx))["777"]
    assert (third.status, third.resolution_outcome) == ("resolved", "YES")


async def test_concurrent_upserts_in_different_orders_neither_deadlock_nor_double_count(
    ctx: Context, clock: FrozenClock
) -> None:
    batch = [
        parse_market(
            {"id": f"m{i:04d}", "outcomes": '["Yes", "No"]', "question": "q", "endDate": "2027"}
        )
        for i in range(600)
    ]
    orders = [batch, batch[::-1], batch[1::2] + batch[::2]]

    async def upsert(order: list[Any]) -> markets.UpsertOutcome:
        async with ctx.db.write() as session:
            return await markets.upsert_markets(session, order, clock.now())

    for _ in range(3):
        outcomes = await asyncio.gather(*(upsert(order) for order in orders))
        clock.advance(minutes=5)
    assert await count(ctx, Market) == 600
    assert sum(o.added for o in outcomes) == 0 and all(o.updated == 600 for o in outcomes)


async def test_concurrent_first_syncs_count_each_market_added_once(ctx: Context) -> None:
    results = await asyncio.gather(*(markets.sync_markets(ctx) for _ in range(3)))
    assert sum(r["markets_added"] for r in results) == await count(ctx, Market)


async def test_a_new_market_without_close_date_gets_a_year(
    ctx: Context, clock: FrozenClock
) -> None:
    market = parse_market({"id": "9", "outcomes": '["Yes", "No"]', "question": "q"})
    async with ctx.db.write() as session:
        await markets.upsert_markets(session, [market], clock.now())
    assert (await stored(ctx))["9"].close_date == clock.now() + timedelta(days=365)


async def test_status_refresh_finds_stale_markets_by_stored_text(
    ctx: Context, clock: FrozenClock
) -> None:
    for number in range(3):
        market = parse_market(
            {"id": f"s{number}", "outcomes": '["Yes", "No"]', "endDate": "2027-01-01"}
        )
        async with ctx.db.write() as session:
            await markets.upsert_markets(session, [market], clock.now())
        clock.advance(hours=1)
    clock.advance(hours=4, minutes=30)
    async with ctx.db.read() as session:
        assert await markets.markets_needing_refresh(session, clock.now()) == ["s0", "s1"]


# --- start-cohort -----------------------------------------------------------------------------


async def test_twenty_concurrent_starts_make_one_cohort_and_seven_agents(ctx: Context) -> None:
    results = await asyncio.gather(*(cohorts.start_cohort(ctx) for _ in range(20)))
    assert {r["cohort_id"] for r in results} == {results[0]["cohort_id"]}
    assert all(r["success"] and r["agents_created"] == 7 for r in results)
    assert await count(ctx, Cohort) == 1
    assert await count(ctx, Agent) == 7
    assert len(await events(ctx, "cohort_started")) == 1


async def test_concurrent_starts_fill_a_partial_lineup_once(ctx: Context) -> None:
    first = await cohorts.start_cohort(ctx)
    async with ctx.db.write() as session:
        for agent in (await session.scalars(select(Agent).limit(3))).all():
            await session.delete(agent)
    results = await asyncio.gather(*(cohorts.start_cohort(ctx) for _ in range(20)))
    assert all(r == first for r in results)
    assert await count(ctx, Agent) == 7
    logged = await events(ctx, "cohort_started")
    assert sorted(e["num_agents"] for e in logged) == [3, 7]


# --- run-decisions ----------------------------------------------------------------------------


async def test_a_decision_run_writes_one_row_per_agent_and_a_rerun_adds_nothing(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    clock.set(SUNDAY + timedelta(minutes=5))
    knobs = chat_ready(sandbox)
    knobs["styles"] = {}  # the personas' own styles: some bet, some hold
    cohort = await seed_cohort(ctx)
    await load_world_markets(ctx, sandbox)

    body = await run_decisions(ctx)
    assert body["success"] is True and body["total_agents"] == 7
    assert body["total_errors"] == 0, body["results"][0]["errors"]
    async with ctx.db.read() as session:
        rows = list(await session.scalars(select(Decision)))
    assert sorted(r.agent_id for r in rows) == sorted(cohort.agent_ids)
    assert all(r.error_message is None and r.decision_week == 1 for r in rows)
    bets = [r for r in rows if r.action == "BET"]
    assert bets, "the personas placed no bet: the run exercised no trade"
    for row in bets:
        assert await count(ctx, Trade, Trade.decision_id == row.id) > 0
    assert await count(ctx, ApiCost) == 7
    trades = await count(ctx, Trade)
    async with ctx.db.read() as session:
        assert await accounting_problems(session) == []

    # The public pages read what the run wrote (their SQL is shared by both databases).
    cohort_page = await read_models.get_cohort(ctx, cohort.id)
    assert len(cohort_page["agents"]) == 7 and cohort_page["stats"]["total_trades"] == trades
    for agent_row in cohort_page["agents"]:
        page = await read_models.get_cohort_model(ctx, cohort.id, agent_row["family_slug"])
        assert page["agent"]["id"] == agent_row["id"] and len(page["decisions"]) == 1
        assert page["stats"]["trade_count"] == agent_row["trade_count"]
        assert (await read_models.get_model(ctx, agent_row["family_slug"]))["num_cohorts"] == 1
    listed = await read_models.get_markets(ctx, {"cohort_bets": "true"})
    assert listed["markets"] and listed["stats"]["markets_with_positions"] > 0
    detail = await read_models.get_market(ctx, listed["markets"][0]["id"])
    assert detail["positions"] and detail["trades"]

    clock.advance(minutes=10)
    again = await run_decisions(ctx)
    assert again["success"] is True
    assert {d["action"] for d in again["results"][0]["decisions"]} == {"SKIPPED"}
    assert await count(ctx, Decision) == 7
    assert await count(ctx, Trade) == trades
    assert await count(ctx, ApiCost) == 7


async def test_overlapping_runs_ask_each_model_once(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    clock.set(SUNDAY + timedelta(minutes=5))
    knobs = chat_ready(sandbox)
    knobs["latency"] = 0.05
    cohort = await seed_cohort(ctx)
    knobs["styles"] = {model: "disciplined" for model in cohort.models.values()}  # no retries
    await load_world_markets(ctx, sandbox)
    first, second = await asyncio.gather(run_decisions(ctx), run_decisions(ctx))
    assert knobs["calls"] == 7
    assert await count(ctx, Decision) == 7
    actions = [d["action"] for run in (first, second) for d in run["results"][0]["decisions"]]
    assert actions.count("SKIPPED") == 7
    async with ctx.db.read() as session:
        assert await accounting_problems(session) == []


# --- the claim race ---------------------------------------------------------------------------


async def test_simultaneous_claims_give_exactly_one_winner(
    ctx: Context, clock: FrozenClock
) -> None:
    cohort = await seed_cohort(ctx)
    agent = cohort.agent_ids[0]

    async def claim() -> claims.Claim:
        return await claims.claim_decision(
            ctx.db, agent_id=agent, cohort_id=cohort.id, decision_week=1, now=clock.now()
        )

    results = await asyncio.gather(*(claim() for _ in range(10)))
    assert sum(r.claimed for r in results) == 1
    assert all(r.busy for r in results if not r.claimed)
    assert len({r.decision_id for r in results}) == 1
    assert await count(ctx, Decision) == 1

    clock.advance(seconds=claims.STALE_AFTER.total_seconds() + 1)
    reclaims = await asyncio.gather(*(claim() for _ in range(6)))
    winners = [r for r in reclaims if r.claimed]
    assert len(winners) == 1 and winners[0].retry_reason == claims.STALE_REASON
    assert all(r.busy for r in reclaims if not r.claimed)
    assert await count(ctx, Decision) == 1
    async with ctx.db.read() as session:
        assert await claims.still_held(session, winners[0])
        assert not await claims.still_held(session, next(r for r in results if r.claimed))


async def test_a_stale_reclaim_waits_for_a_finalize_that_checked_its_claim(
    ctx: Context, clock: FrozenClock
) -> None:
    """The finalizing write checks its claim and then writes; a reclaim may not slip in
    between (it would leave the slow run trading under a row another run now owns)."""
    cohort = await seed_cohort(ctx)
    agent = cohort.agent_ids[0]

    async def claim() -> claims.Claim:
        return await claims.claim_decision(
            ctx.db, agent_id=agent, cohort_id=cohort.id, decision_week=1, now=clock.now()
        )

    slow = await claim()
    clock.advance(seconds=claims.STALE_AFTER.total_seconds() + 1)
    async with ctx.db.write() as session:
        assert await claims.still_held(session, slow)
        reclaim = asyncio.create_task(claim())
        await asyncio.sleep(0.3)
        assert not reclaim.done(), "the reclaim did not wait for the finalizing transaction"
        finalized = await session.execute(
            update(Decision)
            .where(claims.claim_guard(slow))
            .values(action="HOLD", error_message=None, prompt_system="s", prompt_user="u")
        )
        assert finalized.rowcount == 1  # type: ignore[attr-defined]
    late = await reclaim
    assert not late.claimed and late.existing_action == "HOLD"
