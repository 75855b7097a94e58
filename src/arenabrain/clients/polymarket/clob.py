"""The CLOB, Polymarket's order books: midpoints (batched, with a per-token fallback) and
books, parsed best levels first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arenabrain.clients.polymarket.parsing import to_number, to_price
from arenabrain.clients.polymarket.transport import UPSTREAM, PolymarketError, Transport, decode

BATCH_MIDPOINTS = 500  # the CLOB's maximum number of tokens per POST /midpoints
CLOB_TIMEOUT_SECONDS = 10.0
FALLBACK_CONCURRENCY = 16


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


def parse_book(token_id: str, raw: Any) -> OrderBook:
    """A CLOB `/book` body. Bids arrive ascending and asks descending; both are re-sorted best
    first so no caller depends on the wire order."""
    if not isinstance(raw, Mapping):
        raise PolymarketError(UPSTREAM, f"CLOB book for {token_id} is not an object")

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


class ClobClient:
    """The CLOB's market-data calls."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

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
            body = await self.transport.json(
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
        response = await self.transport.send(
            "GET",
            "midpoint",
            params={"token_id": token_id},
            time_limit=CLOB_TIMEOUT_SECONDS,
            allow=(400, 404),
            attempts=attempts,
        )
        if response.status_code in (400, 404):
            return None
        body = decode(response)
        return to_price(body.get("mid")) if isinstance(body, Mapping) else None

    async def book(self, token_id: str) -> OrderBook | None:
        """`GET /book?token_id=`: the order book, best levels first; None when there is none."""
        response = await self.transport.send(
            "GET",
            "book",
            params={"token_id": token_id},
            time_limit=CLOB_TIMEOUT_SECONDS,
            allow=(400, 404),
        )
        if response.status_code in (400, 404):
            return None
        return parse_book(token_id, decode(response))
