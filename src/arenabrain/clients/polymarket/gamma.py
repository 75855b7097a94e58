"""Gamma, Polymarket's catalog: open markets and events by volume, one market by id, and the
parsing of Gamma's market objects into `GammaMarket` values.

Gamma speaks a dialect: `outcomes`, `outcomePrices` and `clobTokenIds` are JSON-encoded
strings, market `volume`/`liquidity` are numeric strings (events carry plain numbers), close
dates come as date-only or full ISO strings. Token ids are mapped to outcomes by label (YES/NO
case-insensitively, other outcomes by their exact label), never by assuming that index 0 is
YES. A malformed market is skipped and reported, never fatal to a whole fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from arenabrain.clients.polymarket.parsing import (
    decode_list,
    flag,
    parse_close_date,
    side_label,
    text_value,
    to_number,
    to_price,
)
from arenabrain.clients.polymarket.transport import UPSTREAM, PolymarketError, Transport, decode

GAMMA_PAGE = 500  # the largest page Gamma serves for /markets and /events
MIN_EVENTS_PAGE = 50
MARKET_TIMEOUT_SECONDS = 15.0
DECISIVE_HIGH = 0.99
DECISIVE_LOW = 0.01

MarketType = Literal["binary", "multi_outcome"]


class MalformedMarket(ValueError):
    """A Gamma market object that cannot be used (the reason is in the message)."""


@dataclass(frozen=True)
class Outcome:
    """One outcome of a market: its label as Gamma spells it, Gamma's price, its CLOB token."""

    label: str
    price: float | None
    token_id: str | None


@dataclass(frozen=True)
class GammaMarket:
    polymarket_id: str
    question: str
    market_type: MarketType
    outcomes: tuple[Outcome, ...]
    close_date: datetime | None
    active: bool
    closed: bool
    resolved: bool | None = None
    condition_id: str | None = None
    slug: str | None = None
    event_slug: str | None = None
    description: str | None = None
    category: str | None = None
    volume: float | None = None
    liquidity: float | None = None
    uma_resolution_status: str | None = None
    # The winner Gamma's legacy `tokens[].winner` flag names, when present.
    flagged_winner: str | None = None

    @property
    def is_binary(self) -> bool:
        return self.market_type == "binary"

    def outcome(self, label: str) -> Outcome | None:
        """The outcome with this label: case-insensitive for YES/NO, exact otherwise."""
        for item in self.outcomes:
            if item.label == label:
                return item
        if self.is_binary:
            wanted = label.strip().lower()
            for item in self.outcomes:
                if item.label.strip().lower() == wanted:
                    return item
        return None

    @property
    def yes_price(self) -> float | None:
        """Gamma's YES price of a binary market (None for multi-outcome markets)."""
        found = self.outcome("yes") if self.is_binary else None
        return found.price if found else None

    @property
    def prices(self) -> dict[str, float]:
        """`{label: price}` for the outcomes with a valid price (labels as Gamma spells them)."""
        return {o.label: o.price for o in self.outcomes if o.price is not None}

    @property
    def token_ids(self) -> dict[str, str]:
        """`{side: token_id}`: `YES`/`NO` for binary markets, the exact labels otherwise."""
        found: dict[str, str] = {}
        for item in self.outcomes:
            if item.token_id:
                found[side_label(item.label, self.is_binary)] = item.token_id
        return found

    @property
    def status(self) -> str:
        """`active`, `closed` or `resolved`, as the anchor derives it (§10.3)."""
        if self.resolved:
            return "resolved"
        if not self.closed:
            return "active"
        return "resolved" if self.decisive_winner is not None else "closed"

    @property
    def decisive_winner(self) -> str | None:
        """The winning side of a closed market whose prices settled at 1 and 0, else None.

        Binary winners are `YES`/`NO`; multi-outcome winners keep their label."""
        if not self.closed:
            return None
        if self.flagged_winner is not None:
            return side_label(self.flagged_winner, self.is_binary)
        priced = [o for o in self.outcomes if o.price is not None]
        high = [o for o in priced if o.price is not None and o.price >= DECISIVE_HIGH]
        low = [o for o in priced if o.price is not None and o.price <= DECISIVE_LOW]
        if len(high) == 1 and len(high) + len(low) == len(self.outcomes):
            return side_label(high[0].label, self.is_binary)
        return None


@dataclass(frozen=True)
class SkippedMarket:
    polymarket_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.polymarket_id}: {self.reason}"


@dataclass(frozen=True)
class TopMarkets:
    markets: list[GammaMarket]
    skipped: list[SkippedMarket] = field(default_factory=list)


def market_key(raw: Mapping[str, Any]) -> str | None:
    """Gamma's market id, falling back to its condition id."""
    return text_value(raw.get("id")) or text_value(raw.get("conditionId"))


def raw_volume(raw: Mapping[str, Any]) -> float:
    """`volumeNum` when present, else `volume` (a string on markets), else 0."""
    number = to_number(raw.get("volumeNum"))
    if number is None:
        number = to_number(raw.get("volume"))
    return number or 0.0


def _outcomes(raw: Mapping[str, Any]) -> tuple[Outcome, ...]:
    labels = decode_list(raw.get("outcomes"))
    prices = decode_list(raw.get("outcomePrices"))
    tokens = decode_list(raw.get("clobTokenIds"))
    legacy = raw.get("tokens") if isinstance(raw.get("tokens"), list) else None
    if not labels and legacy:
        rows = [t for t in legacy if isinstance(t, Mapping) and text_value(t.get("outcome"))]
        labels = [str(t["outcome"]) for t in rows]
        prices = [t.get("price") for t in rows]
        tokens = [text_value(t.get("token_id")) for t in rows]
    if not labels:
        raise MalformedMarket("no outcomes")
    if not all(isinstance(label, str) and label.strip() for label in labels):
        raise MalformedMarket("outcome labels must be non-empty strings")
    if len({label.strip().lower() for label in labels}) != len(labels):
        raise MalformedMarket("duplicate outcome labels")
    if prices is None or len(prices) != len(labels):
        prices = [None] * len(labels)
    if tokens is None or len(tokens) != len(labels):
        # Without one token per label there is no safe label -> token mapping.
        tokens = [None] * len(labels)
    return tuple(
        Outcome(label=label, price=to_price(price), token_id=text_value(token))
        for label, price, token in zip(labels, prices, tokens, strict=True)
    )


def _is_binary(outcomes: Sequence[Outcome]) -> bool:
    names = sorted(o.label.strip().lower() for o in outcomes)
    return names == ["no", "yes"]


def _category(raw: Mapping[str, Any]) -> str | None:
    category = text_value(raw.get("category"))
    if category:
        return category
    tags = raw.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and text_value(tag.get("label")):
                return str(tag["label"])
    return None


def parse_market(raw: Any, *, event_slug: str | None = None) -> GammaMarket:
    """One Gamma market object as a `GammaMarket`; raises `MalformedMarket` when unusable."""
    if not isinstance(raw, Mapping):
        raise MalformedMarket("market is not an object")
    key = market_key(raw)
    if key is None:
        raise MalformedMarket("market has neither id nor conditionId")
    outcomes = _outcomes(raw)
    events = raw.get("events")
    first_event = events[0] if isinstance(events, list) and events else None
    own_event_slug = (
        text_value(first_event.get("slug")) if isinstance(first_event, Mapping) else None
    )
    close = None
    # The most precise first: `endDateIso` is date-only on the real API.
    for name in ("end_date_iso", "endDate", "endDateIso"):
        close = parse_close_date(raw.get(name))
        if close is not None:
            break
    resolved = raw.get("resolved")
    winner = None
    legacy = raw.get("tokens")
    if isinstance(legacy, list):
        for token in legacy:
            if isinstance(token, Mapping) and token.get("winner") is True:
                winner = text_value(token.get("outcome"))
    return GammaMarket(
        polymarket_id=key,
        question=text_value(raw.get("question")) or "Unknown question",
        market_type="binary" if _is_binary(outcomes) else "multi_outcome",
        outcomes=outcomes,
        close_date=close,
        active=flag(raw.get("active", True)),
        closed=flag(raw.get("closed", False)),
        resolved=None if resolved is None else flag(resolved),
        condition_id=text_value(raw.get("conditionId")),
        slug=text_value(raw.get("slug")),
        event_slug=own_event_slug or event_slug,
        description=text_value(raw.get("description")),
        category=_category(raw),
        volume=to_number(raw.get("volumeNum"))
        if raw.get("volumeNum") is not None
        else to_number(raw.get("volume")),
        liquidity=to_number(raw.get("liquidityNum"))
        if raw.get("liquidityNum") is not None
        else to_number(raw.get("liquidity")),
        uma_resolution_status=text_value(raw.get("umaResolutionStatus")),
        flagged_winner=winner,
    )


def event_sub_markets(events: Iterable[Any]) -> list[tuple[Any, str | None]]:
    """The open, traded sub-markets of Gamma events, each with its parent event's slug."""
    found: list[tuple[Any, str | None]] = []
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("markets"), list):
            continue
        slug = text_value(event.get("slug"))
        for market in event["markets"]:
            if not isinstance(market, Mapping):
                found.append((market, slug))
                continue
            if market.get("active") is True and not market.get("closed") and raw_volume(market) > 0:
                found.append((market, slug))
    return found


def select_top_markets(
    direct: Iterable[Any], from_events: Iterable[tuple[Any, str | None]], count: int
) -> TopMarkets:
    """Direct markets then event sub-markets, parsed, deduplicated by id (first wins; a later
    copy only fills a missing event slug), ordered by volume (ties keep first-seen order), and
    cut to `count`. Unusable objects are reported in `skipped`."""
    chosen: dict[str, GammaMarket] = {}
    skipped: list[SkippedMarket] = []
    candidates = [(raw, None) for raw in direct] + list(from_events)
    for raw, parent_slug in candidates:
        try:
            market = parse_market(raw, event_slug=parent_slug)
        except MalformedMarket as exc:
            key = market_key(raw) if isinstance(raw, Mapping) else None
            skipped.append(SkippedMarket(key or "unknown", str(exc)))
            continue
        kept = chosen.get(market.polymarket_id)
        if kept is None:
            chosen[market.polymarket_id] = market
        elif kept.event_slug is None and market.event_slug is not None:
            chosen[market.polymarket_id] = _with_event_slug(kept, market.event_slug)
    ordered = sorted(chosen.values(), key=lambda m: -(m.volume or 0.0))
    return TopMarkets(markets=ordered[:count], skipped=skipped)


def _with_event_slug(market: GammaMarket, slug: str) -> GammaMarket:
    return replace(market, event_slug=slug)


class GammaClient:
    """Gamma's catalog calls."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def list_markets(self, limit: int, offset: int = 0) -> list[Any]:
        """`GET /markets`: open markets by volume, the anchor's parameters in its order."""
        params = {
            "limit": str(limit),
            "offset": str(offset),
            "active": "true",
            "closed": "false",
            "order": "volumeNum",
            "ascending": "false",
        }
        body = await self.transport.json("GET", "markets", params=params)
        if isinstance(body, Mapping):
            body = body.get("markets", [])
        return body if isinstance(body, list) else []

    async def list_events(self, limit: int, offset: int = 0) -> list[Any]:
        """`GET /events`: open events by volume, each carrying its sub-markets."""
        params = {
            "limit": str(limit),
            "offset": str(offset),
            "order": "volume",
            "ascending": "false",
            "closed": "false",
        }
        body = await self.transport.json("GET", "events", params=params)
        return body if isinstance(body, list) else []

    async def top_markets(self, count: int) -> TopMarkets:
        """The `count` highest-volume open markets from /markets and the events' sub-markets."""
        markets, events = await asyncio.gather(
            self._pages(self.list_markets, count, min(GAMMA_PAGE, count)),
            self._pages(self.list_events, count, min(GAMMA_PAGE, max(MIN_EVENTS_PAGE, count))),
        )
        return select_top_markets(markets, event_sub_markets(events), count)

    async def _pages(
        self, fetch: Callable[[int, int], Awaitable[list[Any]]], count: int, page: int
    ) -> list[Any]:
        items: list[Any] = []
        offset = 0
        while len(items) < count:
            batch = await fetch(page, offset)
            items.extend(batch)
            if len(batch) < page:
                break
            offset += page
        return items

    async def fetch_market_raw(self, polymarket_id: str) -> Any | None:
        """`GET /markets/{id}` as Gamma sent it; None on 404 (the market is gone)."""
        try:
            response = await self.transport.send(
                "GET",
                f"markets/{quote(polymarket_id, safe='')}",
                time_limit=MARKET_TIMEOUT_SECONDS,
                allow=(404,),
            )
        except PolymarketError as exc:
            if exc.timed_out:
                raise PolymarketError(
                    UPSTREAM,
                    f"Polymarket API timeout after {int(MARKET_TIMEOUT_SECONDS * 1000)}ms "
                    f"for market {polymarket_id}",
                    transient=True,
                    timed_out=True,
                ) from exc
            raise
        if response.status_code == 404:
            return None
        return decode(response)

    async def fetch_market(self, polymarket_id: str) -> GammaMarket | None:
        """One market by Gamma id, parsed; None when gone. Raises `MalformedMarket` if unusable."""
        raw = await self.fetch_market_raw(polymarket_id)
        return None if raw is None else parse_market(raw)
