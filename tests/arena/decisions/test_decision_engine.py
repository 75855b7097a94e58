"""run-decisions against the sandbox: rows, trades, retries, failures, concurrency, budget,
cancellation and overlapping runs."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from tests.arena.decisions.support import (
    SUNDAY,
    SeededCohort,
    chat_ready,
    load_world_markets,
    seed_cohort,
)

from arenabrain.arena.decisions import claims, engine, loading
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.arena.execution.accounting import accounting_problems
from arenabrain.arena.models import Agent, ApiCost, Decision, Market, SystemLog, Trade
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import close_market

MODELS = [
    "openai/gpt-5.5",
    "google/gemini-3.1-pro-preview",
    "x-ai/grok-4.3",
    "anthropic/claude-opus-4.7",
    "deepseek/deepseek-v4-pro",
    "moonshotai/kimi-k2.6",
    "qwen/qwen3.6-max-preview",
]


@dataclass
class Arena:
    ctx: Context
    sandbox: Sandbox
    knobs: dict[str, Any]
    cohort: SeededCohort
    markets: list[str]
    clock: FrozenClock

    def script(self, model: str, *answers: str) -> None:
        self.knobs["scripts"][model] = list(answers)

    def pin(self, style: str = "disciplined") -> None:
        self.knobs["styles"] = {m: style for m in MODELS}


@pytest.fixture
async def arena(ctx: Context, sandbox: Sandbox, clock: FrozenClock) -> Arena:
    clock.set(SUNDAY + timedelta(minutes=5))
    knobs = chat_ready(sandbox)
    cohort = await seed_cohort(ctx)
    loaded = await load_world_markets(ctx, sandbox)
    async with ctx.db.read() as session:
        binary = set(await session.scalars(select(Market.id).where(Market.market_type == "binary")))
    # Binary markets first, so tests can bet YES/NO on markets[0] and markets[1].
    markets = [m for m in loaded if m in binary] + [m for m in loaded if m not in binary]
    return Arena(ctx, sandbox, knobs, cohort, markets, clock)


async def decisions(ctx: Context) -> list[Decision]:
    async with ctx.db.read() as session:
        return list(
            await session.scalars(
                select(Decision).order_by(Decision.agent_id, Decision.decision_week)
            )
        )


async def count(ctx: Context, table: Any, *where: Any) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def events(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [json.loads(r.event_data or "null") for r in rows]


async def no_accounting_problems(ctx: Context) -> None:
    async with ctx.db.read() as session:
        assert await accounting_problems(session) == []


def bet_answer(market_id: str, amount: float = 100, side: str = "YES", **extra: Any) -> str:
    item = {"market_id": market_id, "side": side, "amount": amount, **extra}
    return json.dumps({"action": "BET", "bets": [item], "reasoning": "edge"})


HOLD = '{"action": "HOLD", "reasoning": "nothing to do"}'


async def test_a_run_gives_every_agent_one_finished_row(arena: Arena) -> None:
    body = await run_decisions(arena.ctx)
    assert body["success"] is True
    assert body["cohorts_processed"] == 1 and body["decision_eligible_cohorts"] == 1
    assert body["tracking_active_cohorts"] == 1 and body["decision_cohort_limit"] == 5
    assert body["total_agents"] == 7
    [cohort] = body["results"]
    assert (cohort["cohort_id"], cohort["cohort_number"], cohort["week_number"]) == (
        "cohort-1",
        1,
        1,
    )
    assert cohort["agents_processed"] == 7
    assert {d["model_id"] for d in cohort["decisions"]} >= {"gpt-5.1", "kimi-k2"}
    rows = await decisions(arena.ctx)
    assert len(rows) == 7
    for row in rows:
        assert row.error_message != claims.IN_PROGRESS
        assert row.prompt_system.startswith("You are a forecaster")
        assert row.prompt_user.startswith("TODAY: 2026-03-01 (UTC)\nDECISION WEEK: 1")
        assert row.decision_week == 1
        assert row.tokens_input and row.api_cost_usd and row.api_cost_usd > 0
    assert await count(arena.ctx, ApiCost) == 7
    assert await count(arena.ctx, Trade) > 0
    await no_accounting_problems(arena.ctx)
    [complete] = await events(arena.ctx, "decisions_run_complete")
    assert complete["total_agents"] == 7 and complete["cohorts_processed"] == 1
    assert set(complete) == {
        "cohorts_processed",
        "decision_cohort_limit",
        "tracking_active_cohorts",
        "decision_eligible_cohorts",
        "total_agents",
        "total_errors",
        "successful_agents",
        "duration_ms",
    }
    [per_cohort] = await events(arena.ctx, "cohort_decisions_complete")
    assert per_cohort == {
        "cohort_id": "cohort-1",
        "cohort_number": 1,
        "week_number": 1,
        "agents_processed": 7,
        "errors": per_cohort["errors"],
    }


async def test_rerunning_in_the_same_week_adds_no_rows_and_no_trades(arena: Arena) -> None:
    arena.pin()
    await run_decisions(arena.ctx)
    rows = await decisions(arena.ctx)
    trades = await count(arena.ctx, Trade)
    calls = arena.knobs["calls"]
    again = await run_decisions(arena.ctx)
    assert again["success"] is True
    assert {d["action"] for d in again["results"][0]["decisions"]} == {"SKIPPED"}
    assert [r.id for r in await decisions(arena.ctx)] == [r.id for r in rows]
    assert await count(arena.ctx, Trade) == trades
    assert arena.knobs["calls"] == calls  # no model was asked again


async def test_bet_executes_at_clob_price_with_p_yes_and_flags(arena: Arena) -> None:
    arena.pin()
    market = arena.markets[0]
    arena.script(
        MODELS[0],
        json.dumps(
            {
                "action": "BET",
                "bets": [
                    {"market_id": market, "side": "YES", "amount": 200, "p_yes": 0.8},
                    {"market_id": arena.markets[1], "side": "NO", "amount": 100, "p_yes": 0.9},
                ],
                "reasoning": "two views",
            }
        ),
    )
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert gpt == {
        "agent_id": gpt["agent_id"],
        "model_id": "gpt-5.1",
        "decision_id": gpt["decision_id"],
        "action": "BET",
        "success": True,
        "trades_executed": 2,
    }
    async with arena.ctx.db.read() as session:
        row = await session.get(Decision, gpt["decision_id"])
        trades = list(
            await session.scalars(
                select(Trade)
                .where(Trade.decision_id == gpt["decision_id"])
                .order_by(Trade.total_amount.desc())
            )
        )
        agent = await session.get(Agent, gpt["agent_id"])
    assert row is not None and agent is not None
    assert json.loads(row.p_yes_flags or "[]") == [
        {
            "market_id": arena.markets[1],
            "side": "NO",
            "p_yes": 0.9,
            "reason": "bought NO while stating p_yes 0.9",
        }
    ]
    assert [t.p_yes for t in trades] == [0.8, 0.9]
    assert trades[0].family_id == "openai-gpt" and trades[0].benchmark_config_model_id
    assert trades[0].shares == pytest.approx(200 / trades[0].price)
    assert agent.cash_balance == 9700.0 and agent.total_invested == 300.0
    await no_accounting_problems(arena.ctx)


async def test_malformed_answer_is_retried_once_with_the_retry_prompt(arena: Arena) -> None:
    arena.pin()
    arena.script(MODELS[0], "I think YES", HOLD)
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert (gpt["action"], gpt["success"]) == ("HOLD", True)
    async with arena.ctx.db.read() as session:
        row = await session.get(Decision, gpt["decision_id"])
    assert row is not None
    assert row.retry_count == 1
    assert row.raw_response == HOLD
    assert "YOUR PREVIOUS ANSWER" not in row.prompt_user  # the original prompt is stored


async def test_malformed_twice_becomes_the_system_default_hold(arena: Arena) -> None:
    arena.pin()
    arena.script(MODELS[0], "nope", '{"action": "BET"}')
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert gpt["action"] == "HOLD" and gpt["success"] is True
    async with arena.ctx.db.read() as session:
        row = await session.get(Decision, gpt["decision_id"])
        cost = await session.scalar(
            select(ApiCost).where(ApiCost.decision_id == gpt["decision_id"])
        )
    assert row is not None and cost is not None
    assert (
        row.reasoning
        == "[SYSTEM DEFAULT] Failed after 1 retries: Missing or invalid reasoning field"
    )
    assert row.retry_count == 1
    # Both attempts are paid for, so both are counted.
    assert cost.tokens_input == row.tokens_input and row.tokens_input > 0
    assert cost.cost_usd == pytest.approx(row.api_cost_usd)


async def test_every_model_failing_makes_the_run_fail(arena: Arena) -> None:
    arena.knobs["fail"] = True
    body = await run_decisions(arena.ctx)
    assert body["success"] is False
    assert body["error"].startswith(
        "Decision run failed for all 7 processed agents across 1 decision cohort with 7 errors. First error: "
    )
    assert "OpenRouter API error: 503" in body["error"]
    rows = await decisions(arena.ctx)
    assert len(rows) == 7 and {r.action for r in rows} == {"ERROR"}
    assert claims.IN_PROGRESS not in {r.error_message for r in rows}
    [failed] = await events(arena.ctx, "decisions_run_failed")
    assert len(failed["sample_errors"]) == 5 and failed["total_errors"] == 7
    assert len(await events(arena.ctx, "agent_decision_error")) == 7
    # Once the model is back, the next run asks again and finishes the week in the same rows.
    arena.knobs["fail"] = False
    assert (await run_decisions(arena.ctx))["success"] is True
    assert [r.id for r in await decisions(arena.ctx)] == [r.id for r in rows]
    assert {r.action for r in await decisions(arena.ctx)} <= {"BET", "SELL", "HOLD"}


async def test_one_failing_model_does_not_fail_the_run(arena: Arena) -> None:
    arena.knobs["fail_models"] = {MODELS[5]}
    body = await run_decisions(arena.ctx)
    assert body["success"] is True and body["total_errors"] >= 1
    assert any(e.startswith("Kimi: ") for e in body["results"][0]["errors"])


def test_failure_message_singular_and_plural() -> None:
    assert engine.failure_message(1, 1, 1, "boom") == (
        "Decision run failed for all 1 processed agent across 1 decision cohort with 1 error. First error: boom"
    )


async def test_bankrupt_agents_are_skipped_without_a_call(arena: Arena) -> None:
    async with arena.ctx.db.write() as session:
        await session.execute(update(Agent).values(cash_balance=0.0, status="bankrupt"))
    body = await run_decisions(arena.ctx)
    assert {d["action"] for d in body["results"][0]["decisions"]} == {"SKIPPED"}
    assert arena.knobs["calls"] == 0
    assert await decisions(arena.ctx) == []


async def test_bet_without_a_clob_price_fails_then_is_asked_again(arena: Arena) -> None:
    arena.pin()
    market = arena.markets[0]
    close_market(arena.sandbox.world, market.removeprefix("mk-"))  # no order book any more
    arena.script(MODELS[0], bet_answer(market), HOLD)
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert (gpt["action"], gpt["success"]) == ("BET", False)
    assert gpt["error"].startswith("BET batch failed; no trades executed: No validated CLOB price")
    [failure] = await events(arena.ctx, "agent_decision_execution_failed")
    assert failure["attempted_trades"] == 1 and failure["trades_executed"] == 0
    again = await run_decisions(arena.ctx)
    gpt2 = next(d for d in again["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert gpt2["decision_id"] == gpt["decision_id"]
    assert (gpt2["action"], gpt2["success"]) == ("HOLD", True)
    assert len(await decisions(arena.ctx)) == 7


async def test_failed_sell_after_a_trade_is_reported_not_retried(arena: Arena) -> None:
    arena.pin()
    arena.script(MODELS[0], bet_answer(arena.markets[0]))
    await run_decisions(arena.ctx)
    arena.clock.advance(days=8)  # Monday of week 2: outside the start window, no new cohort
    async with arena.ctx.db.read() as session:
        from arenabrain.arena.models import Position

        position = (
            await session.scalars(
                select(Position).where(Position.agent_id == "cohort-1-openai-gpt")
            )
        ).one()
    arena.script(
        MODELS[0],
        json.dumps(
            {
                "action": "SELL",
                "sells": [
                    {"position_id": position.id, "percentage": 50},
                    {"position_id": "ghost", "percentage": 50},
                ],
                "reasoning": "trim",
            }
        ),
    )
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert (gpt["action"], gpt["success"], gpt["error"]) == ("SELL", False, "Position not found")
    calls = arena.knobs["calls"]
    rerun = await run_decisions(arena.ctx)
    gpt2 = next(d for d in rerun["results"][0]["decisions"] if d["model_id"] == "gpt-5.1")
    assert (gpt2["action"], gpt2["success"], gpt2["error"]) == ("SELL", False, "Position not found")
    assert arena.knobs["calls"] == calls
    await no_accounting_problems(arena.ctx)


async def test_only_eligible_cohorts_newest_first(arena: Arena) -> None:
    for number in range(2, 8):
        await seed_cohort(
            arena.ctx, number=number, started_at=SUNDAY - timedelta(days=7 * (8 - number))
        )
    await seed_cohort(arena.ctx, number=8, started_at=SUNDAY - timedelta(days=70), archived=True)
    arena.pin()
    body = await run_decisions(arena.ctx)
    numbers = [c["cohort_number"] for c in body["results"]]
    assert numbers == [7, 6, 5, 4]  # cohort 8 is the newest but archived; the window is 4..8
    assert body["tracking_active_cohorts"] == 7
    weeks = {c["cohort_number"]: c["week_number"] for c in body["results"]}
    assert weeks[7] == 2 and weeks[4] == 5


async def test_top_markets_are_loaded_once_per_run(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in (2, 3):
        await seed_cohort(arena.ctx, number=number, started_at=SUNDAY - timedelta(days=7 * number))
    calls = []
    original = loading.top_markets

    async def counting(session: Any, n: int) -> Any:
        calls.append(n)
        return await original(session, n)

    monkeypatch.setattr(loading, "top_markets", counting)
    await run_decisions(arena.ctx)
    assert calls == [500]


async def test_agents_run_concurrently_within_the_limit(arena: Arena) -> None:
    await seed_cohort(arena.ctx, number=2, started_at=SUNDAY - timedelta(days=7))
    arena.pin()
    arena.knobs["latency"] = 0.5
    loop = asyncio.get_running_loop()
    started = loop.time()
    body = await run_decisions(arena.ctx)
    elapsed = loop.time() - started
    assert body["total_agents"] == 14
    assert arena.knobs["max_in_flight"] == 8  # ARENA_DECISION_CONCURRENCY's default
    assert elapsed < 14 * 0.5 / 2  # two waves of calls (1 s), far from fourteen (7 s)


async def test_concurrency_setting_is_honoured(arena: Arena, make_settings: Any) -> None:
    ctx = Context(
        **{**arena.ctx.__dict__, "settings": make_settings(ARENA_DECISION_CONCURRENCY="3")}
    )
    arena.pin()
    arena.knobs["latency"] = 0.3
    await run_decisions(ctx)
    assert arena.knobs["max_in_flight"] == 3


async def test_run_budget_stops_slow_agents_and_releases_their_claims(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "RUN_BUDGET_SECONDS", 0.3)
    arena.pin()
    arena.knobs["latency"] = 5
    body = await run_decisions(arena.ctx)
    assert body["success"] is False
    assert {d["error"] for d in body["results"][0]["decisions"]} == {engine.BUDGET_MESSAGE}
    rows = await decisions(arena.ctx)
    assert {(r.action, r.error_message) for r in rows} == {("ERROR", engine.STOPPED_MESSAGE)}
    arena.knobs["latency"] = 0
    monkeypatch.setattr(engine, "RUN_BUDGET_SECONDS", 600.0)
    assert (await run_decisions(arena.ctx))["success"] is True
    assert len(await decisions(arena.ctx)) == 7


async def test_a_claim_committed_while_the_budget_runs_out_is_released(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's transaction can commit after its caller was cancelled (the driver finishes
    the commit); the run must still learn of the claim and release it."""
    monkeypatch.setattr(engine, "RUN_BUDGET_SECONDS", 0.2)
    arena.pin()
    real_claim = claims.claim_decision

    async def slow_to_answer(*args: Any, **kwargs: Any) -> claims.Claim:
        claimed = await real_claim(*args, **kwargs)
        await asyncio.sleep(0.4)  # committed, not yet returned when the budget runs out
        return claimed

    monkeypatch.setattr(claims, "claim_decision", slow_to_answer)
    body = await run_decisions(arena.ctx)
    assert {d["error"] for d in body["results"][0]["decisions"]} == {engine.BUDGET_MESSAGE}
    rows = await decisions(arena.ctx)
    assert len(rows) == 7
    assert {(r.action, r.error_message) for r in rows} == {("ERROR", engine.STOPPED_MESSAGE)}


async def test_cancelled_run_then_rerun_finishes_the_week_once(arena: Arena) -> None:
    arena.pin()
    arena.knobs["latency"] = 0.05
    arena.knobs["latency_by_model"] = {MODELS[3]: 5, MODELS[4]: 5}
    task = asyncio.create_task(run_decisions(arena.ctx))
    # Cancel once the fast agents have finished, while the slow ones are mid-call.
    for _ in range(1500):  # at most 30 s
        if len([r for r in await decisions(arena.ctx) if r.action != "ERROR"]) >= 5:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    first = await decisions(arena.ctx)
    assert claims.IN_PROGRESS not in {r.error_message for r in first}
    stopped = [r for r in first if r.error_message == engine.STOPPED_MESSAGE]
    assert len(stopped) == 2 and len(first) == 7  # the two slow agents released their claims
    finished_trades = {
        r.id: await count(arena.ctx, Trade, Trade.decision_id == r.id)
        for r in first
        if r.action != "ERROR"
    }
    arena.knobs["latency_by_model"] = {}
    assert (await run_decisions(arena.ctx))["success"] is True
    rows = await decisions(arena.ctx)
    assert len(rows) == 7
    assert {r.action for r in rows} <= {"BET", "SELL", "HOLD"}
    for decision_id, trades in finished_trades.items():
        assert await count(arena.ctx, Trade, Trade.decision_id == decision_id) == trades
    await no_accounting_problems(arena.ctx)


async def test_overlapping_runs_ask_each_model_once(arena: Arena) -> None:
    arena.pin()
    arena.knobs["latency"] = 0.1
    first, second = await asyncio.gather(run_decisions(arena.ctx), run_decisions(arena.ctx))
    assert arena.knobs["calls"] == 7
    assert len(await decisions(arena.ctx)) == 7
    actions = [d["action"] for run in (first, second) for d in run["results"][0]["decisions"]]
    assert actions.count("SKIPPED") == 7
    await no_accounting_problems(arena.ctx)


async def test_crashed_runs_claim_is_left_alone_until_stale(arena: Arena) -> None:
    arena.pin()
    agent_id = "cohort-1-openai-gpt"
    crashed = await claims.claim_decision(
        arena.ctx.db,
        agent_id=agent_id,
        cohort_id="cohort-1",
        decision_week=1,
        now=arena.clock.now(),
    )
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["agent_id"] == agent_id)
    assert (gpt["action"], gpt["decision_id"]) == ("SKIPPED", crashed.decision_id)
    arena.clock.advance(minutes=6)
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["agent_id"] == agent_id)
    assert gpt["action"] in {"BET", "SELL", "HOLD"} and gpt["decision_id"] == crashed.decision_id
    assert len(await decisions(arena.ctx)) == 7


async def test_a_run_that_lost_its_claim_discards_its_result(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    arena.pin()
    original = engine._ask

    async def slow_ask(ctx: Context, agent: Any, *args: Any) -> Any:
        parsed = await original(ctx, agent, *args)
        if agent.id == "cohort-1-openai-gpt":
            # Meanwhile another run found the row stale and reclaimed it.
            async with ctx.db.write() as session:
                await session.execute(
                    update(Decision)
                    .where(Decision.agent_id == agent.id)
                    .values(decision_timestamp=SUNDAY)
                )
        return parsed

    monkeypatch.setattr(engine, "_ask", slow_ask)
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["agent_id"] == "cohort-1-openai-gpt")
    assert gpt["success"] is False and "reclaimed" in gpt["error"]
    assert await count(arena.ctx, Trade, Trade.agent_id == "cohort-1-openai-gpt") == 0


# --- failures around claims, stops and the final commit ----------------------------------------


async def test_a_claim_that_fails_before_it_is_held_is_logged_for_the_runbook(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that cannot be taken at all ("database is locked" after the busy timeout) leaves
    no decision row, so its only trace is a `cohort_decisions_error` row that the runbook's
    error query (section 4.3) finds."""
    arena.pin()
    real_claim = claims.claim_decision
    locked = "cohort-1-openai-gpt"

    async def claim(*args: Any, **kwargs: Any) -> claims.Claim:
        if kwargs["agent_id"] == locked:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(claims, "claim_decision", claim)
    body = await run_decisions(arena.ctx)
    gpt = next(d for d in body["results"][0]["decisions"] if d["agent_id"] == locked)
    assert gpt["success"] is False and "database is locked" in gpt["error"]
    [logged] = await events(arena.ctx, "cohort_decisions_error")
    assert logged["cohort_id"] == "cohort-1" and logged["agent_id"] == locked
    assert "database is locked" in logged["error"]
    async with arena.ctx.db.read() as session:
        severities = await session.scalars(
            select(SystemLog.severity).where(SystemLog.event_type == "cohort_decisions_error")
        )
        assert list(severities) == ["error"]


async def test_a_failure_while_stopping_one_agent_does_not_take_the_run_down(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "RUN_BUDGET_SECONDS", 0.3)
    arena.pin()
    arena.knobs["latency"] = 5
    real_mark = engine._mark_error

    async def mark(ctx: Context, claim: Any, agent: Any, work: Any, message: str) -> None:
        if agent.id == "cohort-1-openai-gpt":
            raise RuntimeError("the database went away while stopping")
        await real_mark(ctx, claim, agent, work, message)

    monkeypatch.setattr(engine, "_mark_error", mark)
    body = await run_decisions(arena.ctx)  # no ExceptionGroup
    assert body["success"] is False
    assert {d["error"] for d in body["results"][0]["decisions"]} == {engine.BUDGET_MESSAGE}
    rows = {r.agent_id: r for r in await decisions(arena.ctx)}
    assert rows["cohort-1-openai-gpt"].error_message == claims.IN_PROGRESS  # goes stale later
    assert {r.error_message for a, r in rows.items() if a != "cohort-1-openai-gpt"} == {
        engine.STOPPED_MESSAGE
    }


async def test_the_agent_time_limit_never_fires_inside_the_final_commit(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time limit runs out just after the finalizing transaction committed (its trades are
    saved): the agent is a success, not a failure with saved trades."""
    arena.pin()
    for model in MODELS:
        arena.script(model, bet_answer(arena.markets[0]))
    # The limit leaves ample time for the work before the commit, even on a loaded machine;
    # then the finalizing transaction lingers after its commit until the limit has run out.
    monkeypatch.setattr(claims, "AGENT_TIME_LIMIT", timedelta(seconds=2))
    finalizing = contextvars.ContextVar("finalizing", default=False)
    real_finalize, real_write = engine._finalize, arena.ctx.db.write

    async def finalize(*args: Any) -> Any:
        finalizing.set(True)
        return await real_finalize(*args)

    @contextlib.asynccontextmanager
    async def write_then_linger() -> Any:
        async with real_write() as session:
            yield session
        if finalizing.get():
            await asyncio.sleep(2.5)  # committed; the caller has not heard back yet

    monkeypatch.setattr(engine, "_finalize", finalize)

    monkeypatch.setattr(arena.ctx.db, "write", write_then_linger)
    body = await run_decisions(arena.ctx)
    decided = body["results"][0]["decisions"]
    assert [(d["success"], d.get("trades_executed")) for d in decided] == [(True, 1)] * 7, [
        d.get("error") for d in decided
    ]
    assert await events(arena.ctx, "agent_decision_error") == []
    rows = await decisions(arena.ctx)
    assert {(r.action, r.error_message) for r in rows} == {("BET", None)}
    await no_accounting_problems(arena.ctx)
