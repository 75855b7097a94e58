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
        if len(self.outcomes) == 2 and sorted(o.lower() for o in self.outcomes) == ["no", "yes"]:
            yes_index = [o.lower() for o in self.outcomes].index("yes")
            yes = min(0.98, max(0.02, swing[yes_index] / sum(swing)))
            yes = round(yes, 3)
            return [yes if i == yes_index else round(1 - yes, 3) for i in range(2)]
        total = sum(swing)
        return [round(min(0.98, max(0.02, s / total)), 3) for s in swing]


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

    def gone(self, market: SimMarket, moment: datetime) -> bool:
        """Whether Gamma answers 404 for the market (removed, or delisted by its fate)."""
        return market.id in self.removed or market.ending(moment) == "delisted"

    def index(self) -> None:
        self.by_volume = sorted(self.markets, key=lambda mid: -self.markets[mid].volume)
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
) -> PolymarketWorld:
    """(Re)generate `count` markets from the world's seed and the world's current time, ending
    within `horizon_days` (at least three days out)."""
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
    for market in state.markets.values():
        _draw_fate(world.seed, market)
    state.index()
    world.polymarket = state
    return state


def _draw_fate(seed: int, market: SimMarket) -> None:
    """How the market ends, from its own seeded generator (so drawing fates does not change any
    other value the world's seed produces): the fate, the winner (by the price path at the
    close) and how long after its end date Polymarket decides it."""
    rng = random.Random(f"{seed}:polymarket-fate:{market.id}")
    names, weights = zip(*FATES, strict=True)
    market.fate = rng.choices(names, weights)[0]
    market.fate_winner = rng.choices(market.outcomes, market.path_at(market.end_date))[0]
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
    if market.is_closed(now) or token in state.no_book:
        return None  # a closed market has no order book
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
