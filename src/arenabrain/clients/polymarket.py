"""Polymarket: the Gamma catalog (markets, events) and CLOB market data (midpoints, books).

Gamma speaks a dialect: `outcomes`, `outcomePrices` and `clobTokenIds` are JSON-encoded
strings, market `volume`/`liquidity` are numeric strings (events carry plain numbers), close
dates come as date-only or full ISO strings. This module turns that into `GammaMarket` values.
Token ids are mapped to outcomes by label (YES/NO case-insensitively, other outcomes by their
exact label), never by assuming that index 0 is YES. A malformed market is skipped and reported,
never fatal to a whole fetch.

The client retries 429 and 5xx answers (and transport errors) a bounded number of times with
exponential backoff, honouring `Retry-After`; the sleep is injectable so tests never wait. It
knows nothing of the database."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

BATCH_MIDPOINTS = 500  # the CLOB's maximum number of tokens per POST /midpoints
GAMMA_PAGE = 500  # the largest page Gamma serves for /markets and /events
MIN_EVENTS_PAGE = 50
MARKET_TIMEOUT_SECONDS = 15.0
LIST_TIMEOUT_SECONDS = 30.0
CLOB_TIMEOUT_SECONDS = 10.0
FALLBACK_CONCURRENCY = 16
DECISIVE_HIGH = 0.99
DECISIVE_LOW = 0.01

Sleep = Callable[[float], Awaitable[None]]
MarketType = Literal["binary", "multi_outcome"]


class PolymarketError(Exception):
    """A Polymarket call failed: `status` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, status: int | None = None, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out


class MalformedMarket(ValueError):
    """A Gamma market object that cannot be used (the reason is in the message)."""


# --- values ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class BookLevel:
    price: float
    size: float


@dataclass(frozen=True)
class OrderBook:
    """A CLOB order book with both sides sorted best first (whatever order the wire used)."""

    token_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: float | None = None
    min_order_size: float | None = None
    timestamp_ms: int | None = None

    @property
    def best_bid(self) -> float | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0].price if self.asks else None

    @property
    def midpoint(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


# --- parsing (pure) ---------------------------------------------------------------------------


def side_label(label: str, binary: bool) -> str:
    """The stored side of an outcome: `YES`/`NO` for binary markets, the label otherwise."""
    return label.strip().upper() if binary else label


def to_number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_price(value: Any) -> float | None:
    """A probability in [0, 1] from a number or numeric string, else None."""
    number = to_number(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def decode_list(value: Any) -> list[Any] | None:
    """A list from a JSON array or a JSON-encoded string array; None when it is neither."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, list) else None
    return None


def parse_close_date(value: Any) -> datetime | None:
    """A Gamma date (`2026-12-31`, `2026-12-31T12:00:00Z`, with offsets or fractions) as aware
    UTC; None when absent or unreadable (including years past 9999)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def market_key(raw: Mapping[str, Any]) -> str | None:
    """Gamma's market id, falling back to its condition id."""
    return _text(raw.get("id")) or _text(raw.get("conditionId"))


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
        rows = [t for t in legacy if isinstance(t, Mapping) and _text(t.get("outcome"))]
        labels = [str(t["outcome"]) for t in rows]
        prices = [t.get("price") for t in rows]
        tokens = [_text(t.get("token_id")) for t in rows]
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
        Outcome(label=label, price=to_price(price), token_id=_text(token))
        for label, price, token in zip(labels, prices, tokens, strict=True)
    )


def _is_binary(outcomes: Sequence[Outcome]) -> bool:
    names = sorted(o.label.strip().lower() for o in outcomes)
    return names == ["no", "yes"]


def _category(raw: Mapping[str, Any]) -> str | None:
    category = _text(raw.get("category"))
    if category:
        return category
    tags = raw.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and _text(tag.get("label")):
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
    own_event_slug = _text(first_event.get("slug")) if isinstance(first_event, Mapping) else None
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
                winner = _text(token.get("outcome"))
    return GammaMarket(
        polymarket_id=key,
        question=_text(raw.get("question")) or "Unknown question",
        market_type="binary" if _is_binary(outcomes) else "multi_outcome",
        outcomes=outcomes,
        close_date=close,
        active=_flag(raw.get("active", True)),
        closed=_flag(raw.get("closed", False)),
        resolved=None if resolved is None else _flag(resolved),
        condition_id=_text(raw.get("conditionId")),
        slug=_text(raw.get("slug")),
        event_slug=own_event_slug or event_slug,
        description=_text(raw.get("description")),
        category=_category(raw),
        volume=to_number(raw.get("volumeNum"))
        if raw.get("volumeNum") is not None
        else to_number(raw.get("volume")),
        liquidity=to_number(raw.get("liquidityNum"))
        if raw.get("liquidityNum") is not None
        else to_number(raw.get("liquidity")),
        uma_resolution_status=_text(raw.get("umaResolutionStatus")),
        flagged_winner=winner,
    )


def event_sub_markets(events: Iterable[Any]) -> list[tuple[Any, str | None]]:
    """The open, traded sub-markets of Gamma events, each with its parent event's slug."""
    found: list[tuple[Any, str | None]] = []
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("markets"), list):
            continue
        slug = _text(event.get("slug"))
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


def parse_book(token_id: str, raw: Any) -> OrderBook:
    """A CLOB `/book` body. Bids arrive ascending and asks descending; both are re-sorted best
    first so no caller depends on the wire order."""
    if not isinstance(raw, Mapping):
        raise PolymarketError(f"CLOB book for {token_id} is not an object")

    def levels(name: str) -> list[BookLevel]:
        found = raw.get(name)
        rows: list[Any] = found if isinstance(found, list) else []
        out = []
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            price, size = to_price(row.get("price")), to_number(row.get("size"))
            if price is not None and size is not None and size > 0:
                out.append(BookLevel(price, size))
        return out

    timestamp = to_number(raw.get("timestamp"))
    return OrderBook(
        token_id=token_id,
        bids=tuple(sorted(levels("bids"), key=lambda level: -level.price)),
        asks=tuple(sorted(levels("asks"), key=lambda level: level.price)),
        tick_size=to_number(raw.get("tick_size")),
        min_order_size=to_number(raw.get("min_order_size")),
        timestamp_ms=int(timestamp) if timestamp is not None else None,
    )


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- the client --------------------------------------------------------------------------------


class PolymarketClient:
    """Gamma and CLOB over the context's httpx clients (base URLs without a path prefix)."""

    def __init__(
        self,
        gamma: httpx.AsyncClient,
        clob: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_delay_seconds: float = 10.0,
    ) -> None:
        self.gamma = gamma
        self.clob = clob
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.max_delay_seconds = max_delay_seconds

    # Gamma ----------------------------------------------------------------------------------

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
        body = await self._json(self.gamma, "GET", "markets", params=params)
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
        body = await self._json(self.gamma, "GET", "events", params=params)
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
            response = await self._send(
                self.gamma,
                "GET",
                f"markets/{quote(polymarket_id, safe='')}",
                time_limit=MARKET_TIMEOUT_SECONDS,
                allow=(404,),
            )
        except PolymarketError as exc:
            if exc.timed_out:
                raise PolymarketError(
                    f"Polymarket API timeout after {int(MARKET_TIMEOUT_SECONDS * 1000)}ms "
                    f"for market {polymarket_id}"
                ) from exc
            raise
        if response.status_code == 404:
            return None
        return _decode(response)

    async def fetch_market(self, polymarket_id: str) -> GammaMarket | None:
        """One market by Gamma id, parsed; None when gone. Raises `MalformedMarket` if unusable."""
        raw = await self.fetch_market_raw(polymarket_id)
        return None if raw is None else parse_market(raw)

    # CLOB -----------------------------------------------------------------------------------

    async def midpoints(self, token_ids: Iterable[str]) -> dict[str, float]:
        """Midpoints of the unique non-empty tokens: `POST /midpoints` in batches of at most 500;
        a batch that fails falls back to `GET /midpoint` per token. Tokens without a valid
        price in [0, 1] are absent from the result."""
        unique = list(dict.fromkeys(t for t in token_ids if t))
        if not unique:
            return {}
        results = await asyncio.gather(
            *(self._midpoint_batch(batch) for batch in _chunks(unique, BATCH_MIDPOINTS))
        )
        merged: dict[str, float] = {}
        for part in results:
            merged.update(part)
        return merged

    async def _midpoint_batch(self, batch: Sequence[str]) -> dict[str, float]:
        try:
            body = await self._json(
                self.clob,
                "POST",
                "midpoints",
                json=[{"token_id": token} for token in batch],
                time_limit=CLOB_TIMEOUT_SECONDS,
            )
        except PolymarketError:
            return await self._midpoints_one_by_one(batch)
        if not isinstance(body, Mapping):
            return await self._midpoints_one_by_one(batch)
        wanted = set(batch)
        found: dict[str, float] = {}
        for token, value in body.items():
            price = to_price(value)
            if token in wanted and price is not None:
                found[token] = price
        return found

    async def _midpoints_one_by_one(self, batch: Sequence[str]) -> dict[str, float]:
        gate = asyncio.Semaphore(FALLBACK_CONCURRENCY)

        async def one(token: str) -> tuple[str, float | None]:
            async with gate:
                try:
                    return token, await self.midpoint(token, attempts=1)
                except PolymarketError:
                    return token, None

        pairs = await asyncio.gather(*(one(token) for token in batch))
        return {token: price for token, price in pairs if price is not None}

    async def midpoint(self, token_id: str, *, attempts: int | None = None) -> float | None:
        """`GET /midpoint?token_id=`: the midpoint, or None when the token has no book."""
        response = await self._send(
            self.clob,
            "GET",
            "midpoint",
            params={"token_id": token_id},
            time_limit=CLOB_TIMEOUT_SECONDS,
            allow=(400, 404),
            attempts=attempts,
        )
        if response.status_code in (400, 404):
            return None
        body = _decode(response)
        return to_price(body.get("mid")) if isinstance(body, Mapping) else None

    async def book(self, token_id: str) -> OrderBook | None:
        """`GET /book?token_id=`: the order book, best levels first; None when there is none."""
        response = await self._send(
            self.clob,
            "GET",
            "book",
            params={"token_id": token_id},
            time_limit=CLOB_TIMEOUT_SECONDS,
            allow=(400, 404),
        )
        if response.status_code in (400, 404):
            return None
        return parse_book(token_id, _decode(response))

    # transport ------------------------------------------------------------------------------

    async def _json(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        time_limit: float = LIST_TIMEOUT_SECONDS,
    ) -> Any:
        response = await self._send(
            client, method, path, params=params, json=json, time_limit=time_limit
        )
        return _decode(response)

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        time_limit: float = LIST_TIMEOUT_SECONDS,
        allow: tuple[int, ...] = (),
        attempts: int | None = None,
    ) -> httpx.Response:
        """One call with bounded retries on 429, 5xx and transport errors; any other non-2xx
        status that is not in `allow` raises `PolymarketError`."""
        limit = attempts or self.max_attempts
        headers = {"Accept": "application/json"}
        for attempt in range(1, limit + 1):
            try:
                response = await client.request(
                    method, path, params=params, json=json, headers=headers, timeout=time_limit
                )
            except httpx.TimeoutException as exc:
                if attempt == limit:
                    raise PolymarketError(
                        f"Polymarket request timed out: {method} /{path}", timed_out=True
                    ) from exc
                await self.sleep(self._delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                if attempt == limit:
                    raise PolymarketError(f"Polymarket request failed: {exc}") from exc
                await self.sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                if attempt == limit:
                    raise PolymarketError(_status_message(response), status)
                await self.sleep(self._delay(attempt, response))
                continue
            if status >= 400 and status not in allow:
                raise PolymarketError(_status_message(response), status)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = to_number(response.headers.get("retry-after"))
            if after is not None and after >= 0:
                return min(after, self.max_delay_seconds)
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_delay_seconds))


def _status_message(response: httpx.Response) -> str:
    return f"Polymarket API error: {response.status_code} {response.reason_phrase}".rstrip()


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise PolymarketError(
            f"Polymarket answered {response.status_code} with a body that is not JSON",
            response.status_code,
        ) from exc


def polymarket_client(ctx: Any, **options: Any) -> PolymarketClient:
    """The client over a context's upstreams; `ctx.extras["polymarket_sleep"]` replaces the sleep
    (tests inject a recorder so retries never wait)."""
    sleep = ctx.extras.get("polymarket_sleep", asyncio.sleep)
    return PolymarketClient(ctx.http.gamma, ctx.http.clob, sleep=sleep, **options)
