"""How a lineup persona forecasts (sandbox only): what it believes about each market it reads
in a prompt, and the BET / SELL / HOLD it makes of those beliefs.

A persona sees what the prompt shows (each market's question and prices) plus a private, noisy
view of the hidden outcome: it recognises a market of the world by its question, and for each
outcome draws a signal `S ~ N(skill if it wins else 0, 1)` from a generator seeded by the world,
the persona, the market and the prompt's date (its view of a market is the same all day, and
fresh each week). It reads `attention` of the listed markets, a sample seeded by the prompt.
It then believes

    q_i ∝ price_i * exp(skill * S_i + e_i),   e_i ~ N(0, noise)

which, without misreadings (`noise` 0), is the exact posterior of a calibrated market price
after that signal: a skilled persona beats the market, one with no skill can only match it, and
misreadings make it worse. It states `r_i ∝ q_i ** calibration` (above 1: overconfident).
A market it cannot recognise (or a world without markets) gives it no signal.

It bets where its stated belief beats the price by at least `min_edge` (on prices within
[0.05, 0.95]), the largest edges first (at most `max_bets`), each stake `boldness` times the
Kelly fraction of its cash, scaled down to the week's maximum; it sells a position it now
expects to lose on."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arenabrain.sandbox.world import World

if TYPE_CHECKING:
    from arenabrain.sandbox.personas import MarketSeen, Persona, PromptView
    from arenabrain.sandbox.polymarket import SimMarket

MIN_BET = 50.0
PRICE_FLOOR = 0.05  # prices outside [0.05, 0.95] are not worth a bet to a persona
SELL_SHARE = 0.5  # chance of selling when it both could sell and could bet


@dataclass(frozen=True)
class Belief:
    """What a persona makes of one market: the prices by side and its own probabilities."""

    market: MarketSeen
    prices: dict[str, float]  # side ("YES"/"NO", or an outcome) -> price
    stated: dict[str, float]  # side -> the probability it states
    informed: bool  # whether it recognised the market (and so has a private view)


def decide(world: World, persona: Persona, rng: random.Random, view: PromptView) -> dict[str, Any]:
    """The persona's decision for one prompt (a JSON-ready dict)."""
    read = rng.sample(view.markets, min(persona.attention, len(view.markets)))
    beliefs = [found for market in read if (found := belief(world, persona, market, view.today))]
    if rng.random() < persona.hold or (view.max_total < MIN_BET and not view.holdings):
        return {"action": "HOLD", "reasoning": "I am sitting this week out."}
    sells = _sells(world, persona, view)
    bets = _bets(persona, view, beliefs)
    if sells and (not bets or rng.random() < SELL_SHARE):
        return {
            "action": "SELL",
            "sells": sells,
            "reasoning": "My view of these positions has turned against them.",
        }
    if not bets:
        return {"action": "HOLD", "reasoning": "No market is far enough from what I believe."}
    top = bets[0]
    return {
        "action": "BET",
        "bets": [{k: v for k, v in bet.items() if not k.startswith("_")} for bet in bets],
        "reasoning": (
            f"I put {top['_side']} on {_quoted(top['_question'])} at "
            f"{top['_belief']:.0%} against the market's {top['_price']:.0%}."
        ),
    }


def belief(world: World, persona: Persona, market: MarketSeen, today: str) -> Belief | None:
    """The persona's probabilities for one market it reads on the prompt's day `today` (None
    without usable prices)."""
    prices = _sides(market)
    if len(prices) < 2:
        return None
    state = world.polymarket
    sim = state.market_asking(market.question) if state is not None and market.question else None
    winner = _winning_side(sim, market) if sim is not None else None
    rng = random.Random(
        f"{world.seed}:private-view:{persona.name}:{sim.id if sim else market.question}:{today}"
    )
    total = sum(prices.values())
    logs = {}
    for side, price in prices.items():
        signal = rng.gauss(persona.skill if side == winner else 0.0, 1.0) if sim else 0.0
        misreading = rng.gauss(0.0, persona.noise) if persona.noise else 0.0
        logs[side] = math.log(max(price / total, 1e-6)) + persona.skill * signal + misreading
    stated = _normalised({side: persona.calibration * v for side, v in logs.items()})
    return Belief(market, prices, stated, informed=sim is not None)


def _sides(market: MarketSeen) -> dict[str, float]:
    if market.binary:
        if market.yes_price is None:
            return {}
        return {"YES": market.yes_price, "NO": round(1 - market.yes_price, 6)}
    return {label: price for label, price in market.outcomes.items() if price > 0}


def _winning_side(sim: SimMarket, market: MarketSeen) -> str | None:
    if sim.fate_winner is None:
        return None
    return sim.fate_winner.upper() if market.binary else sim.fate_winner


def _normalised(logs: dict[str, float]) -> dict[str, float]:
    top = max(logs.values())
    weights = {side: math.exp(v - top) for side, v in logs.items()}
    total = sum(weights.values())
    return {side: w / total for side, w in weights.items()}


def _bets(persona: Persona, view: PromptView, beliefs: list[Belief]) -> list[dict[str, Any]]:
    candidates = []
    for found in beliefs:
        for side, price in found.prices.items():
            mine = found.stated[side]
            if not PRICE_FLOOR <= price <= 1 - PRICE_FLOOR or mine - price < persona.min_edge:
                continue
            kelly = (mine - price) / (1 - price)
            # Ties by question: the service's ids are random, the question is the market.
            candidates.append((mine - price, found.market.question, side, kelly, found))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    picks = candidates[: persona.max_bets]
    stakes = [persona.boldness * kelly * view.cash for _, _, _, kelly, _ in picks]
    if sum(stakes) > view.max_total:
        stakes = [s * view.max_total / sum(stakes) for s in stakes]
    bets = []
    for (_, _, side, _, found), stake in zip(picks, stakes, strict=True):
        amount = math.floor(stake * 100) / 100
        if amount < MIN_BET:
            continue
        market_id = found.market.id
        yes = found.stated["YES"] if found.market.binary else found.stated[side]
        bets.append(
            {
                "market_id": market_id,
                "side": side,
                "amount": amount,
                "p_yes": round(yes, 3),
                "_question": found.market.question or market_id,
                "_side": side,
                "_belief": found.stated[side],
                "_price": found.prices[side],
            }
        )
    if bets and persona.with_p_yes < 1:
        # Some personas leave their probability out now and then (a seeded, stable choice).
        chooser = random.Random(f"p-yes:{persona.name}:{[b['_question'] for b in bets]}")
        for bet in bets:
            if chooser.random() >= persona.with_p_yes:
                del bet["p_yes"]
    return bets


def _sells(world: World, persona: Persona, view: PromptView) -> list[dict[str, Any]]:
    """Positions whose side it now believes worth clearly less than their price (it always
    looks at the markets it holds, read or not)."""
    markets = {m.question: m for m in view.markets if m.question}
    sells = []
    for held in view.holdings:
        market = markets.get(held.question)
        found = belief(world, persona, market, view.today) if market else None
        if found is None or held.price_now is None:
            continue
        # Sides are matched by label whatever their case (the arena may upper-case them).
        side = next((s for s in found.stated if s.upper() == held.side.upper()), None)
        if side is not None and found.stated[side] < held.price_now - 2 * persona.min_edge:
            sells.append({"position_id": held.id, "percentage": 100})
    return sells


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'
