"""Chat completions answered by deterministic model personas (sandbox only).

`mount_chat(app, world)` adds `POST /api/v1/chat/completions` to the OpenRouter emulator. Each
call is answered as one persona, chosen from the model id, with randomness seeded by the world's
seed, the model id and a hash of the prompt, so the same prompt always gets the same answer. The
persona reads the prompt's portfolio and market list and answers BET / SELL / HOLD JSON of
varying quality: clean, fenced, wrapped in prose, sometimes malformed or out of limits (and, on a
retry prompt, usually clean). Responses carry OpenRouter's shape and `usage` with a cost.

Two casts. By default a model gets one of the style personas (`PERSONAS`, by a hash of its id),
whose bets are guesses around the prices shown. With `use_lineup_personas(world)` (the demo's
world) each model family gets its forecaster (`LINEUP`, by the provider part of the model id):
one with a skill (how much of each market's hidden outcome its private view sees, see
`forecasters`), a calibration, a risk appetite, a latency and its failure habits, some of them
failing again on the retry prompt (so the engine falls back to its default HOLD).

Knobs in `world.personas` (see `personas_state`):
- `latency`: seconds every call takes (awaited here, on the emulator side only);
  `latency_by_model` overrides it per model id; without either, `latency_scale` (default 0)
  times the persona's own latency;
- `lineup`: True to cast the lineup forecasters (see `use_lineup_personas`);
- `fail`: every call fails; `fail_models`: the model ids that fail; `failure` picks how
  (`"http"`: HTTP 503, `"body"`: 200 with an `error` body, `"no_choices"`: 200 without choices);
- `scripts`: model id -> answers returned in order before the persona speaks for itself;
- `styles`: model id -> persona name, to pin a persona;
- `report_cost`: False leaves `usage.cost` out (the client then estimates the cost);
- `calls`, `in_flight`, `max_in_flight`: counters for tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from arenabrain.sandbox import forecasters
from arenabrain.sandbox.world import World

CHAT_ROUTE = "/api/v1/chat/completions"
RETRY_MARKER = "YOUR PREVIOUS ANSWER COULD NOT BE USED"
DATABASE_ID = re.compile(r"\b\d{13}-[0-9a-z]{9}\b")  # `db.ids.new_id`: epoch ms, 9 random chars
MIN_BET = 50.0


@dataclass(frozen=True)
class Persona:
    name: str
    fenced: float  # chance the JSON comes in a code fence
    prose: float  # chance of prose around the JSON
    malformed: float  # chance of a broken answer on the first attempt
    out_of_limits: float  # chance of a bet outside the limits
    hold: float  # chance of holding outright
    boldness: float  # share of the weekly maximum it tends to use
    with_p_yes: float  # chance that bets carry p_yes
    price_per_million: tuple[float, float]  # input, output
    # The lineup forecasters' traits (see `forecasters`); style personas keep the defaults.
    forecaster: bool = False
    skill: float = 0.0  # strength of the private view of the hidden outcome (0: none)
    calibration: float = 1.0  # >1 overconfident, <1 underconfident
    noise: float = 0.0  # spread of its private misreadings, in log-odds
    min_edge: float = 0.04  # the least edge it bets on
    attention: int = 40  # how many of the listed markets it reads
    max_bets: int = 3
    retry_malformed: float = 0.0  # chance of a broken answer to the retry prompt as well
    latency: float = 0.0  # seconds a call takes (times `latency_scale`)


PERSONAS = (
    Persona("disciplined", 0.0, 0.0, 0.0, 0.0, 0.15, 0.6, 1.0, (1.25, 2.5)),
    Persona("fence-lover", 0.9, 0.1, 0.05, 0.02, 0.2, 0.5, 1.0, (2.0, 12.0)),
    Persona("chatty", 0.2, 0.9, 0.08, 0.05, 0.2, 0.7, 0.8, (5.0, 25.0)),
    Persona("reckless", 0.1, 0.3, 0.15, 0.25, 0.05, 1.0, 0.6, (0.435, 0.87)),
    Persona("cautious", 0.3, 0.2, 0.05, 0.0, 0.45, 0.3, 1.0, (5.0, 30.0)),
    Persona("sloppy", 0.4, 0.5, 0.3, 0.1, 0.1, 0.8, 0.5, (0.74, 3.49)),
    Persona("contrarian", 0.0, 0.4, 0.05, 0.05, 0.1, 0.6, 1.0, (1.04, 6.24)),
)

# The lineup's forecasters, best first; `boldness` is the share of the Kelly stake they bet.
LINEUP = (
    Persona(
        "sharp", 0.05, 0.1, 0.02, 0.01, 0.05, 0.5, 1.0, (5.0, 25.0),
        forecaster=True, skill=0.8, calibration=1.0, attention=80, max_bets=4, latency=7.0,
    ),
    Persona(
        "measured", 0.3, 0.05, 0.03, 0.02, 0.1, 0.4, 1.0, (5.0, 30.0),
        forecaster=True, skill=0.6, calibration=0.9, attention=80, max_bets=3, latency=4.0,
    ),
    Persona(
        "fenced-bold", 0.9, 0.2, 0.05, 0.03, 0.05, 0.7, 1.0, (2.0, 12.0),
        forecaster=True, skill=0.45, calibration=1.3, attention=80, max_bets=4, latency=3.0,
    ),
    Persona(
        "slow-chatty", 0.1, 0.7, 0.08, 0.02, 0.2, 0.3, 0.9, (0.435, 0.87),
        forecaster=True, skill=0.4, calibration=1.0, min_edge=0.05, attention=50, max_bets=2,
        retry_malformed=0.1, latency=12.0,
    ),
    Persona(
        "overconfident", 0.1, 0.3, 0.1, 0.25, 0.02, 1.2, 0.8, (1.25, 2.5),
        forecaster=True, skill=0.25, calibration=1.8, noise=0.3, attention=80, max_bets=5,
        retry_malformed=0.05, latency=2.0,
    ),
    Persona(
        "sloppy-guesser", 0.4, 0.5, 0.3, 0.08, 0.1, 0.8, 0.6, (0.74, 3.49),
        forecaster=True, skill=0.15, calibration=1.2, noise=0.5, attention=80, max_bets=3,
        retry_malformed=0.35, latency=5.0,
    ),
    Persona(
        "noise-trader", 0.2, 0.3, 0.06, 0.05, 0.05, 0.8, 1.0, (1.04, 6.24),
        forecaster=True, skill=0.0, calibration=1.3, noise=0.9, attention=80, max_bets=3,
        retry_malformed=0.05, latency=3.5,
    ),
)  # fmt: skip
# Model family (the provider part of an OpenRouter id) -> its forecaster.
LINEUP_BY_FAMILY = {
    "anthropic": "sharp",
    "openai": "measured",
    "google": "fenced-bold",
    "deepseek": "slow-chatty",
    "x-ai": "overconfident",
    "moonshotai": "sloppy-guesser",
    "qwen": "noise-trader",
}
PERSONA_BY_NAME = {persona.name: persona for persona in PERSONAS + LINEUP}


def personas_state(world: World) -> dict[str, Any]:
    if world.personas is None:
        world.personas = {}
    state = world.personas
    defaults: dict[str, Any] = {
        "latency": 0.0,
        "latency_by_model": {},
        "fail": False,
        "fail_models": set(),
        "failure": "http",
        "scripts": {},
        "styles": {},
        "lineup": False,
        "latency_scale": 0.0,
        "report_cost": True,
        "calls": 0,
        "in_flight": 0,
        "max_in_flight": 0,
    }
    for key, value in defaults.items():
        state.setdefault(key, value)
    return state


def use_lineup_personas(world: World, *, latency_scale: float = 0.0) -> None:
    """Cast the lineup forecasters: each model family answers as its own forecaster (models of
    other providers keep a style persona). `latency_scale` times each persona's latency is
    really awaited per call (0: none)."""
    state = personas_state(world)
    state["lineup"] = True
    state["latency_scale"] = latency_scale


def persona_for(model: str, world: World) -> Persona:
    state = personas_state(world)
    pinned = state["styles"].get(model)
    if pinned in PERSONA_BY_NAME:
        return PERSONA_BY_NAME[pinned]
    family = LINEUP_BY_FAMILY.get(model.split("/", 1)[0])
    if state["lineup"] and family is not None:
        return PERSONA_BY_NAME[family]
    digest = hashlib.sha256(f"{world.seed}:{model}".encode()).digest()
    return PERSONAS[digest[0] % len(PERSONAS)]


def mount_chat(app: FastAPI, world: World) -> None:
    """Add the chat-completions route to an emulator app (once)."""
    if getattr(app.state, "chat_mounted", False):
        return
    app.state.chat_mounted = True
    state = personas_state(world)

    async def chat_completions(request: Request) -> Any:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse(
                {"error": {"code": 401, "message": "No auth credentials found"}}, 401
            )
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"code": 400, "message": "Invalid JSON body"}}, 400)
        model = body.get("model") if isinstance(body, dict) else None
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return JSONResponse(
                {"error": {"code": 400, "message": "model and messages are required"}}, 400
            )
        state["calls"] += 1
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            latency = state["latency_by_model"].get(model, state["latency"])
            if not latency and state["latency_scale"]:
                latency = persona_for(model, world).latency * state["latency_scale"]
            if latency:
                await asyncio.sleep(latency)
            if state["fail"] or model in state["fail_models"]:
                return _failure(state["failure"])
            system, user = _messages(messages)
            text = _scripted(state, model)
            if text is None:
                text = answer(world, model, system, user)
            return _completion(world, model, system + user, text, state["report_cost"])
        finally:
            state["in_flight"] -= 1

    app.add_api_route(CHAT_ROUTE, chat_completions, methods=["POST"])


def answer(world: World, model: str, system: str, user: str) -> str:
    """The persona's answer to one prompt (deterministic)."""
    persona = persona_for(model, world)
    # The service's row ids are random: the same prompt with other ids is the same question.
    prompt = DATABASE_ID.sub("<id>", f"{system}\n{user}")
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    rng = random.Random(f"{world.seed}:{model}:{digest}")
    view = read_prompt(user)
    retry = RETRY_MARKER in user
    if persona.forecaster:
        decision = forecasters.decide(world, persona, rng, view)
    else:
        decision = _decide(persona, rng, view)
    if not retry and rng.random() < persona.out_of_limits:
        decision = _break_limits(rng, decision, view)
    if not retry and rng.random() < persona.malformed:
        return _malformed(rng, decision)
    if retry and persona.retry_malformed and rng.random() < persona.retry_malformed:
        return _malformed(rng, decision)
    return _dress(persona, rng, decision, retry)


# --- reading the prompt ------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketSeen:
    id: str
    binary: bool
    yes_price: float | None
    outcomes: dict[str, float]
    question: str = ""


@dataclass(frozen=True)
class PositionSeen:
    id: str
    question: str
    side: str
    price_now: float | None  # the held side's price, when shown


@dataclass(frozen=True)
class PromptView:
    cash: float
    max_total: float
    positions: list[str]  # the ids of the positions it may sell
    markets: list[MarketSeen]
    holdings: tuple[PositionSeen, ...] = ()  # those positions, as the prompt shows them
    today: str = ""  # the prompt's date


_TODAY = re.compile(r"^TODAY: (\S+)", re.MULTILINE)
_CASH = re.compile(r"^- Cash: \$(-?[0-9.]+)", re.MULTILINE)
_MAX = re.compile(r"^- Most you may bet in total this week: \$(-?[0-9.]+)", re.MULTILINE)
_ID = re.compile(r"^- ID: (.+)$", re.MULTILINE)
_YES = re.compile(r"^  Price: YES ([0-9.]+)%", re.MULTILINE)
_OUTCOMES = re.compile(r"^  Prices: (.+)$", re.MULTILINE)
_OUTCOME_PRICE = re.compile(r"^(.*) ([0-9.]+)%$")
_QUESTION = re.compile(r"^  (?:Question|Market): (.+)$", re.MULTILINE)
_SIDE = re.compile(r"^  Side: (.+) \| Shares:", re.MULTILINE)
_NOW = re.compile(r"\| Now: ([0-9.]+)%", re.MULTILINE)


def read_prompt(user: str) -> PromptView:
    """The portfolio, sellable positions and markets listed in a user prompt."""
    cash = float(m.group(1)) if (m := _CASH.search(user)) else 0.0
    max_total = float(m.group(1)) if (m := _MAX.search(user)) else cash * 0.25
    head, _, market_part = user.partition("\nMARKETS (")
    positions_part = head.split("YOUR POSITIONS", 1)[1] if "YOUR POSITIONS\n" in head else ""
    positions_part = positions_part.split("AWAITING RESOLUTION", 1)[0]
    positions = _ID.findall(positions_part)
    holdings = []
    for block in ("\n" + positions_part).split("\n- ID: ")[1:]:
        side = _SIDE.search(block)
        now = _NOW.search(block)
        holdings.append(
            PositionSeen(
                block.split("\n", 1)[0].strip(),
                _question_of(block),
                side.group(1) if side else "",
                float(now.group(1)) / 100 if now else None,
            )
        )
    markets = []
    for block in market_part.split("\n- ID: ")[1:]:
        market_id = block.split("\n", 1)[0].strip()
        question = _question_of(block)
        if "Type: yes/no" in block:
            yes = _YES.search(block)
            markets.append(
                MarketSeen(
                    market_id, True, float(yes.group(1)) / 100 if yes else None, {}, question
                )
            )
            continue
        prices: dict[str, float] = {}
        line = _OUTCOMES.search(block)
        if line and line.group(1) != "unknown":
            for part in line.group(1).split(" / "):
                if m := _OUTCOME_PRICE.match(part):
                    prices[m.group(1)] = float(m.group(2)) / 100
        markets.append(MarketSeen(market_id, False, None, prices, question))
    return PromptView(
        cash=cash,
        max_total=max_total,
        positions=positions,
        markets=markets,
        holdings=tuple(holdings),
        today=m.group(1) if (m := _TODAY.search(user)) else "",
    )


def _question_of(block: str) -> str:
    """The question of a market or position block (the prompt writes it as a JSON string)."""
    found = _QUESTION.search(block)
    if found is None:
        return ""
    try:
        text = json.loads(found.group(1))
    except ValueError:
        return found.group(1)
    return text if isinstance(text, str) else ""


# --- deciding ------------------------------------------------------------------------------------


def _decide(persona: Persona, rng: random.Random, view: PromptView) -> dict[str, Any]:
    if view.positions and rng.random() < 0.2:
        chosen = rng.sample(view.positions, k=min(len(view.positions), rng.randint(1, 2)))
        return {
            "action": "SELL",
            "sells": [{"position_id": p, "percentage": rng.choice([25, 50, 100])} for p in chosen],
            "reasoning": "Taking profit and cutting exposure where the edge has gone.",
        }
    priced = [m for m in view.markets[:40] if m.yes_price is not None or m.outcomes]
    if rng.random() < persona.hold or not priced or view.max_total < MIN_BET:
        return {"action": "HOLD", "reasoning": "No market offers enough edge this week."}
    budget = max(MIN_BET, round(view.max_total * persona.boldness * rng.uniform(0.5, 1.0), 2))
    budget = min(budget, view.max_total)
    count = max(1, min(rng.randint(1, 3), int(budget // MIN_BET), len(priced)))
    picks = rng.sample(priced, k=count)
    share = round(budget / count, 2)
    bets = []
    for market in picks:
        bet: dict[str, Any] = {"market_id": market.id, "amount": share}
        if market.binary:
            price = market.yes_price if market.yes_price is not None else 0.5
            belief = _clamp(price + rng.uniform(-0.25, 0.25))
            if persona.name == "contrarian":
                belief = _clamp(1 - belief)
            bet["side"] = "YES" if belief >= price else "NO"
            p_yes = belief
        else:
            outcome = rng.choice(sorted(market.outcomes))
            bet["side"] = outcome
            p_yes = _clamp(market.outcomes[outcome] + rng.uniform(0.0, 0.2))
        if rng.random() < persona.with_p_yes:
            bet["p_yes"] = round(p_yes, 3)
        bets.append(bet)
    return {
        "action": "BET",
        "bets": bets,
        "reasoning": "The market misprices these outcomes relative to the base rates I expect.",
    }


def _break_limits(rng: random.Random, decision: dict[str, Any], view: PromptView) -> dict[str, Any]:
    broken = json.loads(json.dumps(decision))
    if broken["action"] == "BET":
        bet = broken["bets"][0]
        bet["amount"] = rng.choice(
            [20, round(view.max_total * 1.5 + 1, 2), round(view.cash * 2, 2)]
        )
    elif broken["action"] == "SELL":
        broken["sells"][0]["percentage"] = rng.choice([0, 150])
    return broken


def _malformed(rng: random.Random, decision: dict[str, Any]) -> str:
    text = json.dumps(decision)
    kind = rng.randrange(5)
    if kind == 0:
        return text[: max(1, len(text) // 2)]  # cut off mid-answer
    if kind == 1:
        return text.replace('"action"', '"acton"', 1)  # misspelt key
    if kind == 2 and decision["action"] == "BET":
        return text.replace(f'"amount": {decision["bets"][0]["amount"]}', '"amount": "lots"', 1)
    if kind == 3:
        return "I would rather not commit to a trade in JSON this week."
    return text[:-1] + ",}"  # trailing comma


def _dress(persona: Persona, rng: random.Random, decision: dict[str, Any], retry: bool) -> str:
    text = json.dumps(decision, indent=None if rng.random() < 0.5 else 2)
    if retry:
        return text
    if rng.random() < persona.fenced:
        text = f"```json\n{text}\n```"
    if rng.random() < persona.prose:
        text = f"Here is my decision for this week.\n\n{text}\n\nI hope this helps."
    return text


def _clamp(value: float) -> float:
    return min(0.99, max(0.01, value))


# --- responses ---------------------------------------------------------------------------------


def _messages(messages: list[Any]) -> tuple[str, str]:
    system = user = ""
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        if message.get("role") == "system":
            system = message["content"]
        elif message.get("role") == "user":
            user = message["content"]
    return system, user


def _scripted(state: dict[str, Any], model: str) -> str | None:
    queue = state["scripts"].get(model)
    if queue:
        return str(queue.pop(0))
    return None


def _catalog_prices(world: World, model: str) -> tuple[float, float] | None:
    """The model's list prices in USD per million tokens, when the emulator's catalog has it."""
    for entry in (world.openrouter or {}).get("catalog") or ():
        if isinstance(entry, dict) and entry.get("id") == model:
            pricing = entry.get("pricing") or {}
            try:
                return float(pricing["prompt"]) * 1e6, float(pricing["completion"]) * 1e6
            except (KeyError, TypeError, ValueError):
                return None
    return None


def _failure(kind: str) -> JSONResponse:
    if kind == "body":
        return JSONResponse({"error": {"code": 502, "message": "Provider returned error"}}, 200)
    if kind == "no_choices":
        return JSONResponse({"id": "gen-sandbox", "object": "chat.completion", "choices": []}, 200)
    return JSONResponse({"error": {"code": 503, "message": "Model is overloaded (sandbox)"}}, 503)


def _completion(
    world: World, model: str, prompt: str, text: str, report_cost: bool
) -> dict[str, Any]:
    persona = persona_for(model, world)
    prompt_tokens = max(1, len(prompt) // 4)
    completion_tokens = max(1, len(text) // 4)
    price_in, price_out = _catalog_prices(world, model) or persona.price_per_million
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if report_cost:
        usage["cost"] = round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 8)
    created = int(world.clock.now().timestamp())
    digest = hashlib.sha256(f"{model}:{text}".encode()).hexdigest()[:10]
    return {
        "id": f"gen-{created}-{digest}",
        "provider": "Sandbox",
        "model": model,
        "object": "chat.completion",
        "created": created,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "message": {"role": "assistant", "content": text, "reasoning": None},
            }
        ],
        "usage": usage,
    }
