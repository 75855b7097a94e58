"""The lineup forecasters of the sandbox world: one per model family, answering the real prompts
from what they can read plus a private, noisy view of each market's hidden outcome; their
failure habits exercise the parser's cleaning, retry and default paths; the skilled ones beat
the market's prices and the unskilled do not."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arenabrain.arena import markets
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.arena.decisions.parser import (
    SYSTEM_DEFAULT_PREFIX,
    ParsedDecision,
    default_hold,
    parse_decision,
)
from arenabrain.arena.decisions.prompts import (
    MarketLine,
    PositionLine,
    PromptInput,
    retry_prompt,
    system_prompt,
    user_prompt,
)
from arenabrain.arena.models import Decision
from arenabrain.arena.scoring import Forecast, forecast_of_trade, score_forecasts
from arenabrain.clients.openrouter.chat import Prices, complete
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox, World
from arenabrain.sandbox.personas import (
    LINEUP,
    answer,
    mount_chat,
    persona_for,
    personas_state,
    read_prompt,
    use_lineup_personas,
)
from arenabrain.sandbox.polymarket import PolymarketWorld, configure_markets
from tests.arena.decisions.support import SUNDAY, chat_ready, seed_cohort

START = datetime(2026, 3, 1, tzinfo=UTC)
LINEUP_MODELS = (
    "anthropic/claude-opus-4.7",
    "openai/gpt-5.5",
    "google/gemini-3.1-pro-preview",
    "deepseek/deepseek-v4-pro",
    "x-ai/grok-4.3",
    "moonshotai/kimi-k2.6",
    "qwen/qwen3.6-max-preview",
)
SKILLED, UNSKILLED = LINEUP_MODELS[0], LINEUP_MODELS[-1]
CASH = Decimal("10000")


def demo_world(seed: int, clock: FrozenClock | None = None) -> World:
    world = World(clock=clock or FrozenClock(START), seed=seed)
    configure_markets(world, 300, event_share=0.15, multi_share=0.3, informed=True, horizon_days=42)
    use_lineup_personas(world)
    return world


def market_lines(state: PolymarketWorld, now: datetime) -> list[MarketLine]:
    """The open markets as the arena shows them, highest volume first (ids: Polymarket's)."""
    lines = []
    for market in sorted(state.markets.values(), key=lambda m: -m.volume):
        if market.is_closed(now) or not market.is_open_for_listing(now):
            continue
        prices = dict(zip(market.outcomes, market.prices_at(now), strict=True))
        common = (market.id, market.question, market.category)
        close = market.end_date.date().isoformat()
        if sorted(market.outcomes) == ["No", "Yes"]:
            lines.append(MarketLine(*common, "binary", close, market.volume, prices["Yes"]))
        else:
            lines.append(
                MarketLine(
                    *common,
                    "multi_outcome",
                    close,
                    market.volume,
                    outcomes=tuple(market.outcomes),
                    outcome_prices=prices,
                )
            )
    return lines


def weekly_prompts(world: World, weeks: int, cohorts: int) -> list[tuple[datetime, str]]:
    """One user prompt per cohort and decision week, at each week's start."""
    clock = world.clock
    assert isinstance(clock, FrozenClock) and world.polymarket is not None
    prompts = []
    for week in range(weeks):
        now = START + timedelta(days=7 * week, hours=2)
        clock.set(now)
        lines = market_lines(world.polymarket, now)
        for cohort in range(min(cohorts, week + 1)):
            data = PromptInput(now.date(), week + 1 - cohort, CASH - cohort, (), lines)
            prompts.append((now, user_prompt(data)))
    return prompts


def test_each_family_answers_as_its_own_forecaster() -> None:
    world = demo_world(7)
    cast = [persona_for(model, world) for model in LINEUP_MODELS]
    assert sorted(p.name for p in cast) == sorted(p.name for p in LINEUP)
    assert all(p.forecaster for p in cast)
    skills = [p.skill for p in cast]
    assert skills == sorted(skills, reverse=True) and skills[0] > 0.5 and skills[-1] == 0
    # A newer release keeps its family's forecaster; another provider gets a style persona.
    assert persona_for("openai/gpt-5.6", world) == persona_for("openai/gpt-5.5", world)
    assert not persona_for("mistralai/mistral-large-2512", world).forecaster
    # Without the lineup cast, models keep the style personas.
    assert not persona_for(SKILLED, World(seed=7)).forecaster


def test_the_same_seed_and_prompt_give_the_same_answer() -> None:
    first, again, other = demo_world(7), demo_world(7), demo_world(8)
    (_, user), *_ = weekly_prompts(first, 1, 1)
    weekly_prompts(again, 1, 1)
    weekly_prompts(other, 1, 1)
    for model in LINEUP_MODELS:
        assert answer(first, model, system_prompt(), user) == answer(
            again, model, system_prompt(), user
        )
    differ = [
        answer(first, m, system_prompt(), user) != answer(other, m, system_prompt(), user)
        for m in LINEUP_MODELS
    ]
    assert sum(differ) >= 5


def test_bets_name_markets_by_the_ids_the_prompt_shows_with_their_sides() -> None:
    world = demo_world(7)
    assert world.polymarket is not None
    shown = {line.id: line for line in market_lines(world.polymarket, START)}
    bets = 0
    for _, user in weekly_prompts(world, 2, 2):
        for model in LINEUP_MODELS:
            decision = parse_decision(answer(world, model, system_prompt(), user), CASH)
            for bet in decision.bets:
                line = shown[bet.market_id]
                sides = ("YES", "NO") if line.is_binary else line.outcomes
                assert bet.side in sides, (bet, line)
                bets += 1
    assert bets > 20


@pytest.fixture
async def chat() -> AsyncIterator[tuple[World, httpx.AsyncClient]]:
    world = demo_world(7)
    app = FastAPI()
    mount_chat(app, world)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://or/api/v1/") as client:
        yield world, client


async def test_answers_carry_usage_and_a_cost_at_the_catalogs_prices(
    chat: tuple[World, httpx.AsyncClient],
) -> None:
    world, client = chat
    (_, user), *_ = weekly_prompts(world, 1, 1)
    world.openrouter = {
        "catalog": [{"id": SKILLED, "pricing": {"prompt": "0.000005", "completion": "0.000025"}}]
    }
    prices = Prices(Decimal(1), Decimal(1))
    results = [
        await complete(
            client,
            api_key="k",
            model=model,
            system=system_prompt(),
            user=user,
            prices=prices,
            site_url="http://x",
        )
        for model in (SKILLED, SKILLED, UNSKILLED)
    ]
    first, again, unskilled = results
    assert first.text == again.text and first.cost_usd == again.cost_usd
    assert first.prompt_tokens > 1000 and first.completion_tokens > 10
    expected = (first.prompt_tokens * 5 + first.completion_tokens * 25) / 1e6
    assert float(first.cost_usd) == pytest.approx(expected, rel=1e-6)
    # A model the catalog does not list is charged at its persona's own prices.
    assert unskilled.cost_usd is not None and unskilled.cost_usd > 0


async def test_a_persona_waits_its_latency_times_the_scale(
    chat: tuple[World, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, client = chat
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("arenabrain.sandbox.personas.asyncio.sleep", record)
    use_lineup_personas(world, latency_scale=0.01)
    for model in (LINEUP_MODELS[0], LINEUP_MODELS[3]):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        await client.post("chat/completions", json=body, headers={"Authorization": "Bearer k"})
    slow = persona_for(LINEUP_MODELS[3], world)
    assert waits == [persona_for(LINEUP_MODELS[0], world).latency * 0.01, slow.latency * 0.01]
    personas_state(world)["latency_by_model"] = {LINEUP_MODELS[0]: 0.5}  # an explicit knob wins
    body = {"model": LINEUP_MODELS[0], "messages": [{"role": "user", "content": "hi"}]}
    await client.post("chat/completions", json=body, headers={"Authorization": "Bearer k"})
    assert waits[-1] == 0.5


def decide_like_the_engine(world: World, model: str, user: str) -> tuple[str, ParsedDecision]:
    """The decision engine's asking loop: parse, one retry with the retry prompt on an unusable
    answer, then the default HOLD. Returns the path taken and the decision."""
    raw = answer(world, model, system_prompt(), user)
    parsed = parse_decision(raw, CASH)
    if parsed.is_valid:
        stripped = raw.strip()
        if stripped.startswith("```"):
            return "fenced", parsed
        return ("clean" if stripped.startswith("{") else "prose"), parsed
    again = answer(world, model, system_prompt(), retry_prompt(user, raw, parsed.error or ""))
    parsed = parse_decision(again, CASH)
    if parsed.is_valid:
        return "retried", parsed
    return "default", default_hold(parsed.error or "", 1)


def test_the_output_mix_exercises_the_parsers_cleaning_retry_and_default_paths() -> None:
    world = demo_world(7)
    paths: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    by_model: dict[str, Counter[str]] = {model: Counter() for model in LINEUP_MODELS}
    first_errors: Counter[str] = Counter()
    for _, user in weekly_prompts(world, 4, 4):
        for model in LINEUP_MODELS:
            raw = answer(world, model, system_prompt(), user)
            if (error := parse_decision(raw, CASH).error) is not None:
                first_errors["limit" if "cash" in error or "minimum" in error else "other"] += 1
            path, decision = decide_like_the_engine(world, model, user)
            paths[path] += 1
            by_model[model][path] += 1
            actions[decision.action] += 1
            if path == "default":
                assert decision.reasoning.startswith(SYSTEM_DEFAULT_PREFIX)
    total = sum(paths.values())
    assert total == 10 * len(LINEUP_MODELS)
    assert all(paths[p] > 0 for p in ("clean", "fenced", "prose", "retried", "default")), paths
    assert paths["clean"] + paths["fenced"] + paths["prose"] > 0.7 * total, paths
    assert first_errors["limit"] > 0 and first_errors["other"] > 0, first_errors
    assert actions["BET"] > 0.6 * total and actions["HOLD"] > 0, actions
    # The habits belong to the personas: the sloppy one fails most, the sharp one least.
    failing = {m: c["retried"] + c["default"] for m, c in by_model.items()}
    assert failing[LINEUP_MODELS[5]] > failing[LINEUP_MODELS[0]], failing
    assert by_model[LINEUP_MODELS[2]]["fenced"] > total / len(LINEUP_MODELS) / 2, by_model


def test_a_persona_sells_the_positions_it_expects_to_lose_rather_than_those_it_expects_to_win() -> (
    None
):
    world = demo_world(7)
    assert world.polymarket is not None
    (now, _), *_ = weekly_prompts(world, 1, 1)
    lines = market_lines(world.polymarket, now)
    sold: Counter[str] = Counter()
    for line in lines[:60]:
        if line.yes_price is None:
            continue
        winner = str(world.polymarket.markets[line.id].fate_winner).upper()
        for side in ("YES", "NO"):
            price = line.yes_price if side == "YES" else 1 - line.yes_price
            held = PositionLine(
                f"p-{line.id}", line.question, side, 100.0, price, 100 * price, 100 * price,
                price, True,
            )  # fmt: skip
            user = user_prompt(PromptInput(now.date(), 2, CASH, (held,), lines))
            decision = parse_decision(answer(world, SKILLED, system_prompt(), user), CASH)
            if decision.action == "SELL":
                assert [s.position_id for s in decision.sells] == [held.id]
                sold["winning" if side == winner else "losing"] += 1
    assert sold["losing"] >= 4 and sold["losing"] > 2 * sold["winning"], sold


def scored(
    world: World, model: str, prompts: list[tuple[datetime, str]]
) -> tuple[list[Forecast], Decimal]:
    """Every bet's forecast (framed as the real scoring frames a trade) and its P/L at the
    shown price, against the hidden winner."""
    state = world.polymarket
    assert state is not None
    forecasts = []
    pnl = Decimal(0)
    for now, user in prompts:
        decision = parse_decision(answer(world, model, system_prompt(), user), CASH)
        for bet in decision.bets:
            market = state.markets[bet.market_id]
            shown = dict(zip(market.outcomes, market.prices_at(now), strict=True))
            label = bet.side.capitalize() if bet.side in ("YES", "NO") else bet.side
            price = shown[label]
            winner = str(market.fate_winner)
            won = label == winner
            pnl += bet.amount * (Decimal(won) / Decimal(str(price)) - 1)
            p_yes = None if bet.p_yes is None else float(bet.p_yes)
            found = forecast_of_trade(bet.side, price, p_yes, winner.upper())
            if found is not None:
                forecasts.append(found)
    return forecasts, pnl


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_skilled_persona_beats_the_market_and_the_unskilled_does_not(seed: int) -> None:
    world = demo_world(seed)
    prompts = weekly_prompts(world, 6, 4)
    skilled, skilled_pnl = scored(world, SKILLED, prompts)
    unskilled, unskilled_pnl = scored(world, UNSKILLED, prompts)
    assert len(skilled) > 40 and len(unskilled) > 40, (len(skilled), len(unskilled))
    good = score_forecasts(skilled, seed)
    bad = score_forecasts(unskilled, seed)
    market = score_forecasts(skilled + unskilled, seed)
    assert good.brier_skill.value is not None and bad.brier_skill.value is not None
    # Wide margins: the skilled beat the market's own prices, the unskilled lose to them.
    assert good.brier_skill.value > 0.1 and bad.brier_skill.value < -0.1, (good, bad)
    assert good.brier.value is not None and bad.brier.value is not None
    assert market.market_brier.value is not None
    assert good.brier.value < market.market_brier.value < bad.brier.value
    assert skilled_pnl > unskilled_pnl + 10_000, (skilled_pnl, unskilled_pnl)


async def test_the_real_decision_engine_retries_and_falls_back_on_a_flaky_forecaster(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    clock.set(SUNDAY)
    configure_markets(sandbox.world, 120, informed=True, horizon_days=42, multi_share=0.3)
    use_lineup_personas(sandbox.world)
    knobs = chat_ready(sandbox)
    knobs["styles"] = {model: "sloppy-guesser" for model in LINEUP_MODELS}
    await markets.sync_markets(ctx)
    cohorts = ctx.settings.decision_cohort_limit  # the most one run decides for
    for number in range(1, cohorts + 1):
        started = SUNDAY - timedelta(days=7 * (cohorts - number))
        await seed_cohort(ctx, number=number, started_at=started)
    clock.set(SUNDAY + timedelta(hours=2))
    result = await run_decisions(ctx)
    assert result["total_agents"] == cohorts * len(LINEUP_MODELS)

    async with ctx.db.read() as session:
        rows = (await session.scalars(select(Decision))).all()
    assert len(rows) == cohorts * len(LINEUP_MODELS)
    retried = [r for r in rows if (r.retry_count or 0) > 0]
    defaults = [r for r in rows if (r.reasoning or "").startswith(SYSTEM_DEFAULT_PREFIX)]
    assert retried and defaults and len(defaults) < len(retried)
    assert Counter(r.action for r in rows)["BET"] > len(rows) / 2
    assert all(r.api_cost_usd and r.api_cost_usd > 0 and r.tokens_input for r in rows)
    # The personas recognise every market the engine showed them (their private view needs it).
    seen = read_prompt(rows[0].prompt_user).markets
    state = sandbox.world.polymarket
    assert state is not None and len(seen) > 100
    assert all(state.market_asking(m.question) is not None for m in seen)
