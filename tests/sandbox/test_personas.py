"""The chat-completions personas of the sandbox OpenRouter emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from arenabrain.arena.decisions.parser import parse_decision
from arenabrain.arena.decisions.prompts import (
    MarketLine,
    PositionLine,
    PromptInput,
    retry_prompt,
    system_prompt,
    user_prompt,
)
from arenabrain.clients.openrouter.chat import OpenRouterChatError, Prices, complete
from arenabrain.sandbox.personas import PERSONAS, answer, mount_chat, persona_for, personas_state
from arenabrain.sandbox.world import World

MODELS = [
    "openai/gpt-5.5",
    "google/gemini-3.1-pro-preview",
    "x-ai/grok-4.3",
    "anthropic/claude-opus-4.7",
    "deepseek/deepseek-v4-pro",
    "moonshotai/kimi-k2.6",
    "qwen/qwen3.6-max-preview",
]
PRICES = Prices(Decimal(1), Decimal(2))


def prompt(week: int = 1, cash: str = "10000", positions: bool = True) -> str:
    markets = [
        MarketLine(
            f"m-{i}",
            f"Question {i}?",
            "Politics",
            "binary",
            "2026-12-31",
            1e6 - i,
            yes_price=0.1 + 0.02 * i,
        )
        for i in range(30)
    ]
    markets.append(
        MarketLine(
            "m-multi",
            "Who?",
            None,
            "multi_outcome",
            "2026-12-31",
            10.0,
            outcomes=("A", "B"),
            outcome_prices={"A": 0.3, "B": 0.7},
        )
    )
    held = (
        (PositionLine("p-1", "Question 1?", "YES", 100.0, 0.5, 50.0, 55.0, 0.55, True),)
        if positions
        else ()
    )
    return user_prompt(PromptInput(date(2026, 3, 1), week, Decimal(cash), held, markets))


@pytest.fixture
def world() -> World:
    return World(seed=7)


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    mount_chat(app, world)
    mount_chat(app, world)  # mounting twice is harmless
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://or/api/v1/") as client:
        yield client


async def ask(http: httpx.AsyncClient, model: str, user: str) -> str:
    result = await complete(
        http,
        api_key="k",
        model=model,
        system=system_prompt(),
        user=user,
        prices=PRICES,
        site_url="http://x",
    )
    return result.text


def test_same_prompt_same_answer(world: World) -> None:
    first = answer(world, MODELS[0], system_prompt(), prompt())
    assert first == answer(world, MODELS[0], system_prompt(), prompt())
    assert answer(World(seed=8), MODELS[0], system_prompt(), prompt()) is not None


def test_personas_differ_by_model(world: World) -> None:
    names = {persona_for(model, world).name for model in MODELS}
    assert len(names) >= 3


def test_answers_vary_in_quality_and_mostly_parse(world: World) -> None:
    outcomes = {"valid": 0, "error": 0, "fenced": 0, "prose": 0, "BET": 0, "SELL": 0, "HOLD": 0}
    for model in MODELS:
        for week in range(1, 30):
            raw = answer(world, model, system_prompt(), prompt(week=week))
            parsed = parse_decision(raw, Decimal(10000))
            outcomes["valid" if parsed.is_valid else "error"] += 1
            outcomes["fenced"] += raw.startswith("```")
            outcomes["prose"] += raw.startswith("Here is")
            if parsed.is_valid:
                outcomes[parsed.action] += 1
    total = len(MODELS) * 29
    assert outcomes["valid"] > total * 0.7
    assert outcomes["error"] > 0
    assert outcomes["fenced"] > 0 and outcomes["prose"] > 0
    assert outcomes["BET"] > 0 and outcomes["SELL"] > 0 and outcomes["HOLD"] > 0


def test_retry_prompts_get_clean_answers(world: World) -> None:
    for model in MODELS:
        for week in range(1, 10):
            user = retry_prompt(prompt(week=week), "garbage", "JSON parse error")
            raw = answer(world, model, system_prompt(), user)
            assert parse_decision(raw, Decimal(10000)).is_valid, raw


def test_bets_reference_listed_markets_and_stay_in_limits(world: World) -> None:
    world.personas = {"styles": {m: "disciplined" for m in MODELS}}
    for model in MODELS:
        for week in range(1, 10):
            parsed = parse_decision(
                answer(world, model, system_prompt(), prompt(week=week)), Decimal(10000)
            )
            assert parsed.is_valid
            for bet in parsed.bets:
                assert bet.market_id.startswith("m-")
            for sell in parsed.sells:
                assert sell.position_id == "p-1"


def test_poor_agent_holds(world: World) -> None:
    world.personas = {"styles": {MODELS[0]: "disciplined"}}
    parsed = parse_decision(
        answer(world, MODELS[0], system_prompt(), prompt(cash="100", positions=False)), Decimal(100)
    )
    assert parsed.action == "HOLD"


async def test_response_shape_and_usage(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "chat/completions",
        headers={"Authorization": "Bearer k"},
        json={
            "model": MODELS[0],
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": prompt()}],
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0


async def test_requires_bearer_and_valid_body(http: httpx.AsyncClient) -> None:
    assert (await http.post("chat/completions", json={})).status_code == 401
    bad = await http.post(
        "chat/completions", headers={"Authorization": "Bearer k"}, json={"model": "x"}
    )
    assert bad.status_code == 400
    broken = await http.post(
        "chat/completions", headers={"Authorization": "Bearer k"}, content=b"{"
    )
    assert broken.status_code == 400


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("http", "OpenRouter API error: 503"),
        ("body", "OpenRouter error: Provider returned error"),
        ("no_choices", "No choices"),
    ],
)
async def test_failure_knob(
    http: httpx.AsyncClient, world: World, failure: str, message: str
) -> None:
    state = personas_state(world)
    state["fail"] = True
    state["failure"] = failure
    with pytest.raises(OpenRouterChatError, match=message):
        await ask(http, MODELS[0], prompt())


async def test_fail_models_only_those(http: httpx.AsyncClient, world: World) -> None:
    personas_state(world)["fail_models"] = {MODELS[1]}
    assert await ask(http, MODELS[0], prompt())
    with pytest.raises(OpenRouterChatError):
        await ask(http, MODELS[1], prompt())


async def test_scripts_then_persona(http: httpx.AsyncClient, world: World) -> None:
    personas_state(world)["scripts"] = {MODELS[0]: ["first", "second"]}
    assert await ask(http, MODELS[0], prompt()) == "first"
    assert await ask(http, MODELS[0], prompt()) == "second"
    assert await ask(http, MODELS[0], prompt()) == answer(
        world, MODELS[0], system_prompt(), prompt()
    )


async def test_cost_can_be_left_out(http: httpx.AsyncClient, world: World) -> None:
    personas_state(world)["report_cost"] = False
    result = await complete(
        http, api_key="k", model=MODELS[0], system="s", user=prompt(), prices=PRICES, site_url="x"
    )
    assert result.cost_reported is False
    assert result.cost_usd == (
        Decimal(result.prompt_tokens) + 2 * Decimal(result.completion_tokens)
    ) / Decimal(1_000_000)


async def test_latency_knob_overlaps_concurrent_calls(
    http: httpx.AsyncClient, world: World
) -> None:
    state = personas_state(world)
    state["latency"] = 0.5
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(ask(http, model, prompt()) for model in MODELS))
    elapsed = loop.time() - started
    assert elapsed < 0.5 * 4  # seven calls overlapped, not 7 x 0.5 s
    assert state["max_in_flight"] == len(MODELS)
    assert state["calls"] == len(MODELS)
    assert state["in_flight"] == 0


def test_persona_table_is_sane() -> None:
    for persona in PERSONAS:
        assert 0 <= persona.malformed <= 1 and 0 <= persona.hold <= 1


async def test_the_openrouter_emulator_serves_chat() -> None:
    from arenabrain.sandbox import Sandbox

    sandbox = Sandbox(World(seed=7))
    transport = sandbox.transports()["openrouter"]
    async with httpx.AsyncClient(
        transport=transport, base_url="https://openrouter.ai/api/v1/"
    ) as client:
        text = await ask(client, MODELS[0], prompt())
    assert parse_decision(text, Decimal(10000)).action in {"BET", "SELL", "HOLD", "ERROR"}
    assert sandbox.world.calls("openrouter", "POST", "/api/v1/chat/completions") == 1
