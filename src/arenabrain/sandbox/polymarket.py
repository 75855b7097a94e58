"""Polymarket emulators: Gamma (`/markets`, `/events`, `/markets/{id}`) and the CLOB's public
market data (`/midpoints`, `/midpoint`, `/book`), over one simulated set of markets.

The world holds markets generated from the world's seed: binary and multi-outcome markets,
some grouped into events (a few only reachable through `/events`), each with a hidden price
path that moves with the world's clock. The wire keeps Polymarket's quirks: `outcomes`,
`outcomePrices` and `clobTokenIds` are JSON-encoded strings, market `volume`/`liquidity` are
strings while events carry numbers, and `/book` lists bids ascending and asks descending.

Markets also end as real ones do, driven by the world's clock and a fate drawn from the world's
seed (deterministic for a seed): at its end date a market closes (its books disappear and its
prices freeze), then, hours later, Polymarket decides it. Most markets get a winner (decisive
prices, UMA `resolved`), some announce it only through the legacy `tokens[].winner` flag, some
resolve 50/50 (an equal split, which is also how UMA voids a cancelled market), some are flagged
`resolved` without a winner, some stay closed and undecided, and some are delisted (404).

An informed world (`configure_markets(..., informed=True)`, as the demo configures it) goes
further: each market's hidden winner is drawn from its opening prices and its price path is the
market's calibrated belief as news arrives (a random walk whose drift leans toward the winner,
so prices end near it), questions are unique (a persona recognises a market by its question),
some markets are listed only later (`listing_days`), and some tokens have no order book
(`missing_books`).

Knobs for tests and the demo: `configure_markets` (world size), `resolve_market`,
`resolve_by_tokens`, `split_market`, `flag_resolved`, `close_market`, `remove_market`,
`remove_book` (a token without an order book), `set_prices`, `add_raw_market` (arbitrary,
even malformed, objects in `/markets`) and `inject_failure` (answer a path with an error status
N times)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from arenabrain.sandbox.world import World

DEFAULT_MARKET_COUNT = 60
MAX_PAGE = 500
MAX_MIDPOINT_BATCH = 500
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

TOPICS = (
    ("Politics", "Will {name} win the {year} {office} election?"),
    ("Crypto", "Will {coin} close above ${level:,} on {date}?"),
    ("Sports", "Will the {team} win the {year} championship?"),
    ("Business", "Will {company} announce a stock split before {date}?"),
    ("Science", "Will a {mission} launch succeed before {date}?"),
    ("Technology", "Will {company} release a new flagship model before {date}?"),
    ("World Affairs", "Will {country} hold a snap election before {date}?"),
    ("Pop Culture", "Will {name} top the charts in {month}?"),
)
NAMES = ("Alice Moreau", "Bruno Keller", "Chen Wei", "Dana Ortiz", "Emeka Obi", "Farah Nasser")
TEAMS = ("Lakers", "Celtics", "Warriors", "Nuggets", "Bucks", "Heat", "Knicks", "Suns")
COINS = ("Bitcoin", "Ethereum", "Solana", "Dogecoin")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries")
COUNTRIES = ("Freedonia", "Sylvania", "Genovia", "Latveria", "Wakanda")
MISSIONS = ("crewed Mars", "lunar lander", "asteroid sample", "Europa orbiter")
OFFICES = ("mayoral", "senate", "presidential", "gubernatorial")
MONTHS = ("March", "April", "May", "June", "July")

# How markets end (world-driven), by weight: see the module docstring.
FATES = (
    ("winner", 70),
    ("tokens", 8),
    ("split", 6),
    ("flagged", 5),
    ("stalled", 6),
    ("delisted", 5),
)
DECIDED_FATES = ("winner", "tokens", "split", "flagged")
MAX_DECISION_DELAY_HOURS = 48
# Informed worlds: how much news reaches the price over a market's life (the winner's log-odds
# gain this squared on average by the close), the share of markets listed later when
# `listing_days` is set, and how many times a repeated question is drawn again.
INFORMATION = (1.5, 3.2)
LATE_SHARE = 0.25
LONG_DATED_SHARE = 0.15
QUESTION_REDRAWS = 20


@dataclass
class SimMarket:
    id: str
    question: str
    slug: str
    description: str
    category: str | None
    outcomes: list[str]
    token_ids: list[str]
    base: list[float]
    amplitude: float
    period_hours: float
    phase: float
    volume: float
    liquidity: float
    end_date: datetime
    condition_id: str
    event_id: str | None = None
    listed: bool = True
    # Set by the knobs: closed now (with `winner` or `fate`), whatever the clock says.
    closed: bool = False
    winner: str | None = None
    pinned: dict[str, float] | None = None
    frozen: list[float] | None = None
    # How the market ends on its own (drawn from the world's seed), and when it is decided.
    fate: str = "winner"
    fate_winner: str | None = None
    decision_delay: timedelta = timedelta(hours=6)
    forced_fate: str | None = None  # a knob's ending, in force from now on
    # Informed markets (`drift` > 0): listed from `opens_at`, their path a belief that news moves
    # toward `fate_winner`; `walk_seed` seeds the news (a random walk per outcome, by the hour).
    opens_at: datetime = EPOCH
    drift: float = 0.0
    walk_seed: int = 0
    _walk: Any = field(default=None, repr=False, compare=False)

    def is_open_for_listing(self, moment: datetime) -> bool:
        """Whether Polymarket knows the market yet (listed at `opens_at`)."""
        return moment >= self.opens_at

    def is_closed(self, moment: datetime) -> bool:
        return self.closed or moment >= self.end_date

    def ending(self, moment: datetime) -> str | None:
        """How the market has ended by `moment`: its fate once decided, `closing` while closed
        and awaiting a decision, None while open."""
        if self.forced_fate is not None:
            return self.forced_fate
        if self.winner is not None:
            return "winner"
        if self.closed:
            return "closing"
        if moment < self.end_date:
            return None
        return self.fate if moment >= self.end_date + self.decision_delay else "closing"

    def winning_label(self, moment: datetime) -> str | None:
        """The label Polymarket names as the winner by `moment` (prices or token flag)."""
        ending = self.ending(moment)
        if ending not in ("winner", "tokens"):
            return None
        return self.winner or self.fate_winner

    def prices_at(self, moment: datetime) -> list[float]:
        """The outcome prices at `moment` (three decimals; they sum to about one)."""
        ending = self.ending(moment)
        if ending == "winner":
            winner = self.winning_label(moment)
            return [1.0 if label == winner else 0.0 for label in self.outcomes]
        if ending == "split":
            return [round(1 / len(self.outcomes), 3)] * len(self.outcomes)
        if self.frozen is not None:
            return list(self.frozen)
        if self.pinned is not None:
            return [self.pinned.get(label, 0.0) for label in self.outcomes]
        if ending is not None:  # closed without decisive prices: frozen at the close
            return self.path_at(min(moment, self.end_date))
        return self.path_at(moment)

    def path_at(self, moment: datetime) -> list[float]:
        """The hidden price path at `moment`."""
        if self.drift > 0:
            return _shaped(self.outcomes, self.belief_at(moment))
        hours = (moment - EPOCH).total_seconds() / 3600
        swing = [
            max(
                0.02,
                b
                * (
                    1
                    + self.amplitude
                    * math.sin(2 * math.pi * hours / self.period_hours + self.phase + i)
                ),
            )
            for i, b in enumerate(self.base)
        ]
        return _shaped(self.outcomes, swing)

    def belief_at(self, moment: datetime) -> list[float]:
        """An informed market's probabilities at `moment`: the opening prices updated by the news
        so far. With `s` the share of its life gone and `B` a standard random walk per outcome,
        outcome i weighs `base_i * exp(d^2 * s * [i wins] + d * B_i(s))`: the exact posterior
        of a prior `base` after a signal of strength `d` over time `s`, so the price is
        calibrated at every moment and ends near the winner."""
        span = (self.end_date - self.opens_at).total_seconds()
        done = min(max((moment - self.opens_at).total_seconds() / span, 0.0), 1.0)
        walk = self._news_walk()
        position = done * (walk.shape[1] - 1)
        step = min(int(position), walk.shape[1] - 2)
        frac = position - step
        logs = [
            math.log(b)
            + (self.drift**2 * done if label == self.fate_winner else 0.0)
            + self.drift * float(walk[i, step] * (1 - frac) + walk[i, step + 1] * frac)
            for i, (label, b) in enumerate(zip(self.outcomes, self.base, strict=True))
        ]
        top = max(logs)
        weights = [math.exp(v - top) for v in logs]
        total = sum(weights)
        return [w / total for w in weights]

    def _news_walk(self) -> Any:
        """One standard random walk per outcome over the market's life, an hour a step (made
        once, from `walk_seed`)."""
        if self._walk is None:
            hours = max(2, int((self.end_date - self.opens_at).total_seconds() // 3600))
            steps = np.random.default_rng(self.walk_seed).standard_normal(
                (len(self.outcomes), hours)
            )
            walk = np.zeros((len(self.outcomes), hours + 1))
            walk[:, 1:] = np.cumsum(steps, axis=1) / math.sqrt(hours)
            self._walk = walk
        return self._walk


def _is_yes_no(outcomes: Sequence[str]) -> bool:
    return len(outcomes) == 2 and sorted(o.lower() for o in outcomes) == ["no", "yes"]


def _shaped(outcomes: Sequence[str], weights: Sequence[float]) -> list[float]:
    """Prices as Gamma shows them from positive weights: three decimals within [0.02, 0.98],
    a yes/no pair summing to one."""
    total = sum(weights)
    if _is_yes_no(outcomes):
        yes_index = [o.lower() for o in outcomes].index("yes")
        yes = min(0.98, max(0.02, weights[yes_index] / total))
        yes = round(yes, 3)
        return [yes if i == yes_index else round(1 - yes, 3) for i in range(2)]
    return [round(min(0.98, max(0.02, w / total)), 3) for w in weights]


@dataclass
class Failure:
    upstream: str
    path: str
    status: int
    remaining: int
    retry_after: str | None = None
    method: str | None = None


@dataclass
class PolymarketWorld:
    markets: dict[str, SimMarket] = field(default_factory=dict)
    by_volume: list[str] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    raw_extra: list[Any] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    no_book: set[str] = field(default_factory=set)  # tokens whose order book is gone
    # Question -> market id, None when two markets ask the same (how a persona recognises one).
    by_question: dict[str, str | None] = field(default_factory=dict)

    def gone(self, market: SimMarket, moment: datetime) -> bool:
        """Whether Gamma answers 404 for the market (not listed yet, removed, or delisted by
        its fate)."""
        return (
            not market.is_open_for_listing(moment)
            or market.id in self.removed
            or market.ending(moment) == "delisted"
        )

    def market_asking(self, question: str) -> SimMarket | None:
        """The one market asking `question` (None when none or several do)."""
        found = self.by_question.get(question)
        return self.markets[found] if found is not None else None

    def index(self) -> None:
        self.by_volume = sorted(self.markets, key=lambda mid: -self.markets[mid].volume)
        self.by_question = {}
        for market in self.markets.values():
            seen = market.question in self.by_question
            self.by_question[market.question] = None if seen else market.id
        self.tokens = {
            token: (market.id, i)
            for market in self.markets.values()
            for i, token in enumerate(market.token_ids)
        }


def polymarket_state(world: World) -> PolymarketWorld:
    """The world's Polymarket state, generated on first use with the default size."""
    found = world.polymarket
    if found is None:
        found = configure_markets(world, DEFAULT_MARKET_COUNT)
    return found


def configure_markets(
    world: World,
    count: int,
    *,
    event_share: float = 0.3,
    multi_share: float = 0.1,
    horizon_days: int = 365,
    informed: bool = False,
    listing_days: int = 0,
    missing_books: float = 0.0,
) -> PolymarketWorld:
    """(Re)generate `count` markets from the world's seed and the world's current time, ending
    within `horizon_days` (at least three days out).

    `informed`: price paths that news moves toward each market's hidden winner (drawn from its
    opening prices), unique questions, and end dates spread from a day and a half out to
    `horizon_days` (and a few up to four times that). `listing_days`: a quarter of the
    standalone markets are listed only later, spread over that many days (each keeping its
    life span).
    `missing_books`: the share of markets one of whose tokens has no order book. The new
    options draw from generators of their own, so a world without them is unchanged."""
    rng = random.Random(f"{world.seed}:polymarket:{count}")
    now = world.clock.now()
    state = PolymarketWorld()
    number = 0
    event_number = 0
    while number < count:
        if rng.random() < event_share and count - number >= 2:
            event_number += 1
            size = min(rng.randint(2, 5), count - number)
            _make_event(state, rng, now, event_number, number, size, horizon_days)
            number += size
            continue
        market = _make_market(
            rng, now, number, multi=rng.random() < multi_share, horizon_days=horizon_days
        )
        state.markets[market.id] = market
        number += 1
    # One binary market lists its outcomes as ["No", "Yes"]: consumers must map by label.
    for market in state.markets.values():
        if len(market.outcomes) == 2 and market.event_id is None and market.outcomes[0] == "Yes":
            market.outcomes.reverse()
            market.token_ids.reverse()
            market.base.reverse()
            break
    if informed:
        _inform(world.seed, state, now, horizon_days, listing_days)
    for market in state.markets.values():
        _draw_fate(world.seed, market)
    if missing_books > 0:
        _remove_some_books(world.seed, state, missing_books)
    state.index()
    world.polymarket = state
    return state


def _inform(
    seed: int, state: PolymarketWorld, now: datetime, horizon_days: int, listing_days: int
) -> None:
    """Make every market informed (see `configure_markets`), each from its own generator, with
    end dates spread from a day and a half out to `horizon_days` (a few long-dated ones)."""
    for event_id, event in state.events.items():
        rng = random.Random(f"{seed}:polymarket-event:{event_id}")
        end = now + timedelta(hours=rng.randint(5 * 24, max(5, horizon_days) * 24))
        for market_id in event["market_ids"]:
            state.markets[market_id].end_date = end
    asked: set[str] = set()
    for market in state.markets.values():
        rng = random.Random(f"{seed}:polymarket-informed:{market.id}")
        market.drift = rng.uniform(*INFORMATION)
        market.walk_seed = rng.getrandbits(63)
        market.opens_at = now
        if market.event_id is None:
            long_dated = rng.random() < LONG_DATED_SHARE
            low, high = (horizon_days, 4 * horizon_days) if long_dated else (1.5, horizon_days)
            market.end_date = now + timedelta(hours=round(rng.uniform(low, high) * 24))
            if listing_days > 0 and rng.random() < LATE_SHARE:
                delay = timedelta(hours=rng.randint(1, listing_days * 24))
                market.opens_at = now + delay
                market.end_date += delay
        yes_no = _is_yes_no(market.outcomes)
        if yes_no and market.event_id is None:  # asked again: its dates follow the new end
            market.category, market.question = _question(rng, now, market.end_date)
        for _ in range(QUESTION_REDRAWS):
            if market.question not in asked or market.event_id is not None:
                break
            if not yes_no:
                outcomes = rng.sample(TEAMS, len(market.outcomes))
                market.question = f"Who will win: {' vs '.join(outcomes)}?"
                market.outcomes = outcomes
            else:
                market.category, market.question = _question(rng, now, market.end_date)
        if market.question in asked:
            market.question = f"{market.question} (market {market.id})"
        asked.add(market.question)
        market.slug = _slug(market.question, int(market.id) - 500000)
        market.description = (
            f'This market resolves to the outcome that happens. ("{market.question}")'
        )


def _remove_some_books(seed: int, state: PolymarketWorld, share: float) -> None:
    """Take the order book away from one token of about `share` of the markets."""
    for market in state.markets.values():
        rng = random.Random(f"{seed}:polymarket-book:{market.id}")
        if rng.random() < share:
            state.no_book.add(rng.choice(market.token_ids))


def _draw_fate(seed: int, market: SimMarket) -> None:
    """How the market ends, from its own seeded generator (so drawing fates does not change any
    other value the world's seed produces): the fate, the winner and how long after its end
    date Polymarket decides it."""
    rng = random.Random(f"{seed}:polymarket-fate:{market.id}")
    names, weights = zip(*FATES, strict=True)
    market.fate = rng.choices(names, weights)[0]
    # An informed market's path leans toward its winner, so the winner comes from its opening
    # prices (which are then calibrated); otherwise from the path at the close.
    odds = market.base if market.drift > 0 else market.path_at(market.end_date)
    market.fate_winner = rng.choices(market.outcomes, odds)[0]
    market.decision_delay = timedelta(hours=rng.uniform(1, MAX_DECISION_DELAY_HOURS))


def _token(rng: random.Random) -> str:
    return str(rng.randrange(10**76, 10**77))


def _question(rng: random.Random, now: datetime, end: datetime) -> tuple[str, str]:
    category, template = rng.choice(TOPICS)
    text = template.format(
        name=rng.choice(NAMES),
        year=end.year,
        office=rng.choice(OFFICES),
        coin=rng.choice(COINS),
        level=rng.choice((50, 100, 150, 200)) * 1000,
        date=end.strftime("%B %-d, %Y"),
        team=rng.choice(TEAMS),
        company=rng.choice(COMPANIES),
        mission=rng.choice(MISSIONS),
        country=rng.choice(COUNTRIES),
        month=rng.choice(MONTHS),
    )
    return category, text


def _slug(text: str, number: int) -> str:
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] + f"-{number}"


def _make_market(
    rng: random.Random,
    now: datetime,
    number: int,
    *,
    multi: bool = False,
    question: str | None = None,
    category: str | None = None,
    end: datetime | None = None,
    horizon_days: int = 365,
) -> SimMarket:
    if end is None:  # (no draw at all for an event's sub-market: the sequence stays the same)
        days = rng.randint(3, max(3, horizon_days))
        end = now + timedelta(days=days, hours=rng.choice((0, 12, 18)))
    topic, text = _question(rng, now, end)
    if multi:
        outcomes = rng.sample(TEAMS, rng.randint(2, 4))
        text = f"Who will win: {' vs '.join(outcomes)}?"
        topic = "Sports"
    else:
        outcomes = ["Yes", "No"]
    text = question or text
    weights = [rng.uniform(0.1, 1.0) for _ in outcomes]
    base = [w / sum(weights) for w in weights]
    return SimMarket(
        id=str(500000 + number),
        question=text,
        slug=_slug(text, number),
        description=f'This market resolves to the outcome that happens. ("{text}")',
        category=category or (topic if rng.random() < 0.8 else None),
        outcomes=outcomes,
        token_ids=[_token(rng) for _ in outcomes],
        base=base,
        amplitude=rng.uniform(0.05, 0.4),
        period_hours=rng.uniform(24, 24 * 14),
        phase=rng.uniform(0, 2 * math.pi),
        volume=round(math.exp(rng.uniform(8, 17)), 3),
        liquidity=round(math.exp(rng.uniform(6, 13)), 2),
        end_date=end,
        condition_id="0x" + f"{rng.getrandbits(256):064x}",
    )


def _make_event(
    state: PolymarketWorld,
    rng: random.Random,
    now: datetime,
    number: int,
    first: int,
    size: int,
    horizon_days: int = 365,
) -> None:
    end = now + timedelta(days=rng.randint(min(14, horizon_days), min(300, horizon_days)))
    title = f"{rng.choice(('Award', 'Cup', 'Prize', 'Race'))} {end.year} winner #{number}"
    event_id = str(20000 + number)
    slug = _slug(title, number)
    ids = []
    for offset, name in enumerate(rng.sample(NAMES + TEAMS, size)):
        market = _make_market(
            rng,
            now,
            first + offset,
            question=f"Will {name} win the {title}?",
            category="Sports",
            end=end,
        )
        market.event_id = event_id
        market.listed = rng.random() > 0.2  # some sub-markets are only reachable via /events
        if offset == size - 1 and size > 2:
            market.volume = 0.0  # untraded: the sync must drop it
        state.markets[market.id] = market
        ids.append(market.id)
    state.events[event_id] = {"id": event_id, "title": title, "slug": slug, "market_ids": ids}


# --- knobs ----------------------------------------------------------------------------------


def resolve_market(world: World, market_id: str, winner: str = "Yes") -> None:
    """Close the market with `winner` at 1 and every other outcome at 0 (UMA resolved)."""
    market = _outcome_market(world, market_id, winner)
    market.closed = True
    market.winner = winner
    market.forced_fate = "winner"


def resolve_by_tokens(world: World, market_id: str, winner: str = "Yes") -> None:
    """Close the market and name `winner` only in the legacy `tokens[].winner` flag; its
    `outcomePrices` stay where they were at the close (not decisive)."""
    market = _outcome_market(world, market_id, winner)
    market.frozen = market.frozen or market.prices_at(world.clock.now())
    market.closed = True
    market.winner = winner
    market.forced_fate = "tokens"


def split_market(world: World, market_id: str) -> None:
    """Resolve the market with an equal split: 50/50 for a yes/no market, 1/n each for a
    multi-outcome one (UMA voids a cancelled market the same way)."""
    market = polymarket_state(world).markets[market_id]
    market.closed = True
    market.forced_fate = "split"


def flag_resolved(world: World, market_id: str) -> None:
    """Close the market and flag it `resolved: true` without decisive prices or a winner."""
    market = polymarket_state(world).markets[market_id]
    market.frozen = market.frozen or market.prices_at(world.clock.now())
    market.closed = True
    market.forced_fate = "flagged"


def remove_book(world: World, market_id: str, label: str | None = None) -> None:
    """Take away the order book of one outcome's token (every token when `label` is None):
    the CLOB then has no midpoint for it, as for a market whose book disappeared."""
    market = polymarket_state(world).markets[market_id]
    labels = market.outcomes if label is None else [label]
    for name in labels:
        polymarket_state(world).no_book.add(market.token_ids[market.outcomes.index(name)])


def _outcome_market(world: World, market_id: str, winner: str) -> SimMarket:
    market = polymarket_state(world).markets[market_id]
    if winner not in market.outcomes:
        raise ValueError(f"{winner!r} is not an outcome of market {market_id}")
    return market


def close_market(world: World, market_id: str) -> None:
    """Close the market with its last prices (no decisive winner yet, and none to come until
    another knob decides it)."""
    market = polymarket_state(world).markets[market_id]
    market.frozen = market.prices_at(world.clock.now())
    market.closed = True
    market.forced_fate = "stalled"


def remove_market(world: World, market_id: str) -> None:
    """Make Gamma answer 404 for this market from now on."""
    polymarket_state(world).removed.add(market_id)


def set_prices(world: World, market_id: str, prices: Mapping[str, float]) -> None:
    """Pin the market's prices (by outcome label) until set again."""
    polymarket_state(world).markets[market_id].pinned = dict(prices)


def add_raw_market(world: World, raw: Any) -> None:
    """Serve `raw` (any JSON value, malformed or not) as one more element of `/markets`."""
    polymarket_state(world).raw_extra.append(raw)


def inject_failure(
    world: World,
    upstream: str,
    path: str,
    *,
    status: int = 500,
    times: int = 1,
    retry_after: str | None = None,
    method: str | None = None,
) -> None:
    """Answer the next `times` requests to `path` on `upstream` ("gamma" or "clob") with
    `status`; `path` may end with `*` to match a prefix."""
    polymarket_state(world).failures.append(
        Failure(upstream, path, status, times, retry_after, method)
    )


def listed_markets(world: World) -> list[SimMarket]:
    """The markets `/markets` lists, highest volume first."""
    state = polymarket_state(world)
    return [state.markets[i] for i in state.by_volume if state.markets[i].listed]


# --- wire shapes ----------------------------------------------------------------------------


# What UMA's status reads for each way a market has ended ("proposed": an answer asserted, in
# its dispute window; a stalled market has none).
UMA_STATUS = {
    "closing": "proposed",
    "winner": "resolved",
    "tokens": "resolved",
    "split": "resolved",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _price_text(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def market_json(
    state: PolymarketWorld, market: SimMarket, now: datetime, *, with_events: bool = True
) -> dict[str, Any]:
    prices = market.prices_at(now)
    labels = [label.lower() for label in market.outcomes]
    yes = prices[labels.index("yes")] if "yes" in labels else prices[0]
    closed = market.is_closed(now)
    ending = market.ending(now)
    body: dict[str, Any] = {
        "id": market.id,
        "question": market.question,
        "conditionId": market.condition_id,
        "slug": market.slug,
        "description": market.description,
        "startDate": _iso(EPOCH),
        "endDate": _iso(market.end_date),
        "endDateIso": market.end_date.date().isoformat(),
        "outcomes": json.dumps(market.outcomes),
        "outcomePrices": json.dumps([_price_text(p) for p in prices]),
        "clobTokenIds": json.dumps(market.token_ids),
        "volume": f"{market.volume:.3f}",
        "liquidity": f"{market.liquidity:.2f}",
        "volumeNum": market.volume,
        "liquidityNum": market.liquidity,
        "volume24hr": round(market.volume / 50, 2),
        "active": True,
        "closed": closed,
        "archived": False,
        "acceptingOrders": not closed,
        "enableOrderBook": True,
        "orderPriceMinTickSize": 0.01,
        "orderMinSize": 5,
        "bestBid": round(max(0.0, yes - 0.01), 3),
        "bestAsk": round(min(1.0, yes + 0.01), 3),
        "lastTradePrice": yes,
        "spread": 0.02,
        "negRisk": market.event_id is not None,
        "umaResolutionStatus": UMA_STATUS.get(ending or ""),
        "closedTime": _iso(min(now, market.end_date)) if closed else None,
    }
    if ending == "flagged":
        body["resolved"] = True
    if ending == "tokens":
        winner = market.winning_label(now)
        body["tokens"] = [
            {"token_id": token, "outcome": label, "price": _price_text(price)}
            | ({"winner": True} if label == winner else {})
            for token, label, price in zip(market.token_ids, market.outcomes, prices, strict=True)
        ]
    if market.category is not None:
        body["category"] = market.category
    if with_events and market.event_id is not None:
        event = state.events[market.event_id]
        body["events"] = [{"id": event["id"], "slug": event["slug"], "title": event["title"]}]
    return body


def event_json(state: PolymarketWorld, event: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    markets = [state.markets[i] for i in event["market_ids"]]
    return {
        "id": event["id"],
        "ticker": event["slug"],
        "slug": event["slug"],
        "title": event["title"],
        "startDate": _iso(EPOCH),
        "endDate": _iso(max(m.end_date for m in markets)),
        "active": True,
        "closed": all(m.is_closed(now) for m in markets),
        "archived": False,
        "volume": round(sum(m.volume for m in markets), 3),
        "liquidity": round(sum(m.liquidity for m in markets), 2),
        "volume24hr": round(sum(m.volume for m in markets) / 50, 2),
        "openInterest": round(sum(m.liquidity for m in markets) * 3, 2),
        "negRisk": True,
        "tags": [{"id": "100639", "label": "Sports", "slug": "sports"}],
        "markets": [market_json(state, m, now, with_events=False) for m in markets],
    }


def _book_json(token: str, market: SimMarket, price: float, now: datetime) -> dict[str, Any]:
    best_bid = max(0.001, round(price - 0.01, 3))
    best_ask = min(0.999, round(price + 0.01, 3))
    # Bids ascend and asks descend on the wire: the best price is the last element of each.
    bids = [
        {"price": _price_text(max(0.001, round(best_bid - 0.01 * k, 3))), "size": str(200 + 75 * k)}
        for k in range(4, -1, -1)
    ]
    asks = [
        {"price": _price_text(min(0.999, round(best_ask + 0.01 * k, 3))), "size": str(150 + 60 * k)}
        for k in range(4, -1, -1)
    ]
    return {
        "market": market.condition_id,
        "asset_id": token,
        "timestamp": str(int(now.timestamp() * 1000)),
        "hash": f"{abs(hash((token, price))):016x}",
        "bids": bids,
        "asks": asks,
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": market.event_id is not None,
        "last_trade_price": _price_text(price),
    }


def _json(body: Any, status: int = 200) -> Response:
    # json.dumps directly: FastAPI's encoder is far too slow for 500-market pages.
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _failure_response(world: World, upstream: str, request: Request) -> Response | None:
    state = polymarket_state(world)
    path = request.url.path
    for failure in state.failures:
        if failure.upstream != upstream or failure.remaining <= 0:
            continue
        if failure.method is not None and failure.method != request.method:
            continue
        matches = (
            path.startswith(failure.path[:-1])
            if failure.path.endswith("*")
            else path == failure.path
        )
        if matches:
            failure.remaining -= 1
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return JSONResponse({"error": "injected failure"}, failure.status, headers=headers)
    return None


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.query_params.get(name, default)))
    except ValueError:
        return default


def _bool_param(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    return None if value is None else value.lower() == "true"


MARKET_ORDER = {
    "volumeNum": lambda m: m.volume,
    "volume": lambda m: m.volume,
    "volume24hr": lambda m: m.volume,
    "liquidityNum": lambda m: m.liquidity,
    "liquidity": lambda m: m.liquidity,
    "endDate": lambda m: m.end_date.timestamp(),
}


# --- Gamma ----------------------------------------------------------------------------------


def build_gamma(world: World) -> FastAPI:
    app = FastAPI(title="Polymarket Gamma emulator (sandbox)")
    # The arena's world also needs an OpenRouter catalog for the weekly lineup review.
    from arenabrain.sandbox.catalog import seed_openrouter_catalog

    seed_openrouter_catalog(world)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        world.record("gamma", request.method, request.url.path)
        failed = _failure_response(world, "gamma", request)
        return failed if failed is not None else await call_next(request)

    @app.get("/markets")
    async def markets(request: Request) -> Response:
        state = polymarket_state(world)
        now = world.clock.now()
        limit = min(_int_param(request, "limit", 20), MAX_PAGE)
        offset = _int_param(request, "offset", 0)
        closed = _bool_param(request, "closed")
        order = request.query_params.get("order")
        ascending = _bool_param(request, "ascending")
        ascending = True if ascending is None else ascending
        chosen = [
            state.markets[i]
            for i in state.by_volume
            if state.markets[i].listed
            and not state.gone(state.markets[i], now)
            and (closed is None or state.markets[i].is_closed(now) == closed)
        ]
        if order in MARKET_ORDER:
            key = MARKET_ORDER[order]
            if not (order.startswith("volume") and not ascending):
                chosen = sorted(chosen, key=key, reverse=not ascending)
        else:
            chosen = sorted(chosen, key=lambda m: int(m.id))
        page: list[Any] = [market_json(state, m, now) for m in chosen[offset : offset + limit]]
        if offset == 0:
            page.extend(state.raw_extra)
        return _json(page)

    @app.get("/markets/{market_id}")
    async def market(market_id: str) -> Response:
        state = polymarket_state(world)
        found = state.markets.get(market_id)
        if found is None or state.gone(found, world.clock.now()):
            return _json({"type": "not found error", "error": "id not found"}, 404)
        return _json(market_json(state, found, world.clock.now()))

    @app.get("/events")
    async def events(request: Request) -> Response:
        state = polymarket_state(world)
        now = world.clock.now()
        limit = min(_int_param(request, "limit", 20), MAX_PAGE)
        offset = _int_param(request, "offset", 0)
        closed = _bool_param(request, "closed")
        ascending = _bool_param(request, "ascending")
        bodies = [event_json(state, event, now) for event in state.events.values()]
        if closed is not None:
            bodies = [b for b in bodies if b["closed"] == closed]
        if request.query_params.get("order") in ("volume", "volumeNum"):
            bodies.sort(key=lambda b: b["volume"], reverse=not (ascending is None or ascending))
        return _json(bodies[offset : offset + limit])

    return app


# --- CLOB -----------------------------------------------------------------------------------


def _token_price(
    state: PolymarketWorld, token: str, now: datetime
) -> tuple[SimMarket, float] | None:
    found = state.tokens.get(token)
    if found is None:
        return None
    market = state.markets[found[0]]
    if market.is_closed(now) or token in state.no_book or not market.is_open_for_listing(now):
        return None  # a closed (or not yet listed) market has no order book
    return market, market.prices_at(now)[found[1]]


def build_clob(world: World) -> FastAPI:
    app = FastAPI(title="Polymarket CLOB emulator (sandbox)")
    no_book = {"error": "No orderbook exists for the requested token id"}

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        world.record("clob", request.method, request.url.path)
        failed = _failure_response(world, "clob", request)
        return failed if failed is not None else await call_next(request)

    @app.post("/midpoints")
    async def midpoints(request: Request) -> Response:
        state = polymarket_state(world)
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "Invalid payload"}, 400)
        if not isinstance(body, list) or not all(
            isinstance(item, Mapping) and isinstance(item.get("token_id"), str) for item in body
        ):
            return _json({"error": "Invalid payload"}, 400)
        if len(body) > MAX_MIDPOINT_BATCH:
            return _json({"error": f"Too many tokens: at most {MAX_MIDPOINT_BATCH}"}, 400)
        now = world.clock.now()
        answer: dict[str, str] = {}
        for item in body:
            found = _token_price(state, item["token_id"], now)
            if found is not None:
                answer[item["token_id"]] = _price_text(found[1])
        return _json(answer)

    @app.get("/midpoint")
    async def midpoint(request: Request) -> Response:
        token = request.query_params.get("token_id")
        if not token:
            return _json({"error": "Invalid payload"}, 400)
        found = _token_price(polymarket_state(world), token, world.clock.now())
        if found is None:
            return _json(no_book, 404)
        return _json({"mid": _price_text(found[1])})

    @app.get("/book")
    async def book(request: Request) -> Response:
        token = request.query_params.get("token_id")
        if not token:
            return _json({"error": "Invalid payload"}, 400)
        now = world.clock.now()
        found = _token_price(polymarket_state(world), token, now)
        if found is None:
            return _json(no_book, 404)
        return _json(_book_json(token, found[0], found[1], now))

    return app


def market_prices(world: World, market_id: str) -> dict[str, float]:
    """The market's prices now, by outcome label (what Gamma and the CLOB both show)."""
    market = polymarket_state(world).markets[market_id]
    return dict(zip(market.outcomes, market.prices_at(world.clock.now()), strict=True))


def token_of(world: World, market_id: str, label: str) -> str:
    """The CLOB token of one outcome, by label."""
    market = polymarket_state(world).markets[market_id]
    return market.token_ids[market.outcomes.index(label)]


__all__: Sequence[str] = (
    "add_raw_market",
    "close_market",
    "configure_markets",
    "flag_resolved",
    "inject_failure",
    "listed_markets",
    "market_prices",
    "polymarket_state",
    "remove_book",
    "remove_market",
    "resolve_by_tokens",
    "resolve_market",
    "set_prices",
    "split_market",
    "token_of",
)
