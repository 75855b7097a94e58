"""Markets: the sync job that keeps the top Polymarket markets in the database, and the
queries and price look-ups the decision, snapshot and resolution jobs build on.

Stored shapes (what readers of `markets` may rely on):
- `current_price` is Gamma's YES price of a binary market; `current_prices` is a JSON object
  `{label: price}` for multi-outcome markets, whose `outcomes` is a JSON array of labels.
- `clob_token_ids` is a JSON array: `[YES token, NO token]` for binary markets (whatever order
  Gamma listed them in), aligned with `outcomes` otherwise. `token_map` reads it back.
- Sync never erases: every column is `COALESCE(new, old)`, and a market the resolution job has
  settled (`resolved` with an outcome) stays resolved."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import Market, Position
from arenabrain.arena.system_logs import log_event
from arenabrain.clients.polymarket import (
    GammaMarket,
    MalformedMarket,
    PolymarketClient,
    PolymarketError,
    polymarket_client,
)
from arenabrain.context import Context
from arenabrain.db.ids import new_id
from arenabrain.web.errors import AppError

UPSERT_BATCH = 500
STALE_AFTER = timedelta(hours=6)
STALE_REFRESH_LIMIT = 100
REFRESH_CONCURRENCY = 8
MISSING_CLOSE_DATE = timedelta(days=365)
# Columns a sync may change on an existing row (never resolution_outcome / resolved_at).
SYNCED_COLUMNS = (
    "slug",
    "event_slug",
    "question",
    "description",
    "category",
    "market_type",
    "outcomes",
    "close_date",
    "status",
    "current_price",
    "current_prices",
    "clob_token_ids",
    "volume",
    "liquidity",
)
MARKETS = Market.__table__


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- rows (pure) --------------------------------------------------------------------------------


def stored_token_ids(market: GammaMarket) -> str | None:
    """`[YES, NO]` for binary markets, aligned with the outcomes otherwise; None unless every
    outcome has a token (a partial list could not be mapped back by label)."""
    tokens = market.token_ids
    if market.is_binary:
        ordered = [tokens.get("YES"), tokens.get("NO")]
    else:
        ordered = [tokens.get(o.label) for o in market.outcomes]
    if not all(ordered):
        return None
    return _compact(ordered)


def market_row(market: GammaMarket) -> dict[str, Any]:
    """The synced columns of one market (None means "keep what is stored")."""
    prices = market.prices
    return {
        "polymarket_id": market.polymarket_id,
        "slug": market.slug,
        "event_slug": market.event_slug,
        "question": market.question,
        "description": market.description,
        "category": market.category,
        "market_type": market.market_type,
        "outcomes": None if market.is_binary else _compact([o.label for o in market.outcomes]),
        "close_date": market.close_date,
        "status": market.status,
        "current_price": market.yes_price if market.is_binary else None,
        "current_prices": None if market.is_binary or not prices else _compact(prices),
        "clob_token_ids": stored_token_ids(market),
        "volume": market.volume,
        "liquidity": market.liquidity,
    }


def token_map(market: Any) -> dict[str, str]:
    """`{side: token_id}` of a stored market (a `Market` or a row mapping): `YES`/`NO` for
    binary markets, the exact outcome labels otherwise. Empty when unknown."""
    get = market.get if isinstance(market, Mapping) else lambda name: getattr(market, name)
    try:
        tokens = json.loads(get("clob_token_ids") or "null")
    except ValueError:
        return {}
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        return {}
    if get("market_type") == "binary":
        return dict(zip(("YES", "NO"), tokens, strict=False)) if len(tokens) == 2 else {}
    try:
        labels = json.loads(get("outcomes") or "null")
    except ValueError:
        return {}
    if not isinstance(labels, list) or len(labels) != len(tokens):
        return {}
    return {str(label): token for label, token in zip(labels, tokens, strict=True)}


# --- the bulk upsert ----------------------------------------------------------------------------


def _insert_for(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise RuntimeError(f"market upserts support SQLite and PostgreSQL, not {dialect}")


def upsert_statement(insert: Any, *, keep_close_date: bool = False) -> Any:
    """One `INSERT ... ON CONFLICT (polymarket_id) DO UPDATE` for many rows: each synced
    column becomes `COALESCE(excluded, stored)`; a settled market stays resolved."""
    statement = insert(MARKETS)
    new = statement.excluded
    old = MARKETS.c
    assignments: dict[str, Any] = {
        name: func.coalesce(new[name], old[name])
        for name in SYNCED_COLUMNS
        if not (keep_close_date and name == "close_date")
    }
    settled = and_(old.status == "resolved", old.resolution_outcome.is_not(None))
    assignments["status"] = case((settled, old.status), else_=func.coalesce(new.status, old.status))
    assignments["last_updated_at"] = new.last_updated_at
    return statement.on_conflict_do_update(index_elements=["polymarket_id"], set_=assignments)


@dataclass
class UpsertOutcome:
    added: int = 0
    updated: int = 0
    # polymarket_id -> (status before, status after) for rows that existed.
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def status_changes(self) -> int:
        return sum(1 for before, after in self.transitions.values() if before != after)


async def upsert_markets(
    session: AsyncSession, markets: Sequence[GammaMarket], now: datetime
) -> UpsertOutcome:
    """Upsert one batch of markets with one bulk statement (two when some rows have no close
    date: those keep the stored one). Does not commit."""
    outcome = UpsertOutcome()
    if not markets:
        return outcome
    ids = [m.polymarket_id for m in markets]
    stored = await session.execute(
        select(
            MARKETS.c.polymarket_id, MARKETS.c.status, MARKETS.c.resolution_outcome.is_not(None)
        ).where(MARKETS.c.polymarket_id.in_(ids))
    )
    existing = {pid: (status, settled) for pid, status, settled in stored.all()}
    dated: list[dict[str, Any]] = []
    undated: list[dict[str, Any]] = []
    for market in markets:
        row = market_row(market)
        row["id"] = new_id(now)
        row["first_seen_at"] = now
        row["last_updated_at"] = now
        if market.polymarket_id in existing:
            before, settled = existing[market.polymarket_id]
            after = before if settled and before == "resolved" else row["status"]
            outcome.updated += 1
            outcome.transitions[market.polymarket_id] = (before, after)
        else:
            outcome.added += 1
        if row["close_date"] is None:
            # A new row needs some close date; an existing one keeps its own.
            row["close_date"] = now + MISSING_CLOSE_DATE
            undated.append(row)
        else:
            dated.append(row)
    insert = _insert_for(session)
    if dated:
        await session.execute(upsert_statement(insert), dated)
    if undated:
        await session.execute(upsert_statement(insert, keep_close_date=True), undated)
    return outcome


async def store_markets(
    ctx: Context, markets: Sequence[GammaMarket], now: datetime, batch_size: int = UPSERT_BATCH
) -> UpsertOutcome:
    """Upsert markets in batches, each batch its own short write transaction."""
    total = UpsertOutcome()
    for start in range(0, len(markets), batch_size):
        async with ctx.db.write() as session:
            part = await upsert_markets(session, markets[start : start + batch_size], now)
        total.added += part.added
        total.updated += part.updated
        total.transitions.update(part.transitions)
    return total


# --- the status refresh ---------------------------------------------------------------------


async def markets_needing_refresh(
    session: AsyncSession, now: datetime, stale_limit: int = STALE_REFRESH_LIMIT
) -> list[str]:
    """Polymarket ids whose status matters now: active or closed markets with an open position,
    active markets past their close date, then up to `stale_limit` active markets not updated
    for six hours (oldest first)."""
    with_positions = (
        select(MARKETS.c.polymarket_id)
        .join(Position, Position.market_id == MARKETS.c.id)
        .where(Position.status == "open", MARKETS.c.status.in_(("active", "closed")))
        .distinct()
    )
    past_close = select(MARKETS.c.polymarket_id).where(
        MARKETS.c.status == "active", MARKETS.c.close_date < now
    )
    first = (await session.scalars(with_positions)).all()
    second = (await session.scalars(past_close)).all()
    urgent = list(dict.fromkeys([*first, *second]))
    stale = select(MARKETS.c.polymarket_id).where(
        MARKETS.c.status == "active", MARKETS.c.last_updated_at < now - STALE_AFTER
    )
    if urgent:
        stale = stale.where(MARKETS.c.polymarket_id.not_in(urgent))
    oldest = stale.order_by(MARKETS.c.last_updated_at.asc()).limit(stale_limit)
    return urgent + list((await session.scalars(oldest)).all())


async def refresh_statuses(
    ctx: Context, client: PolymarketClient, now: datetime, errors: list[str]
) -> int:
    """Re-read the markets that matter one by one from Gamma and upsert them; returns how many
    changed status. A market Gamma no longer knows (404) is left as it is."""
    async with ctx.db.read() as session:
        wanted = await markets_needing_refresh(session, now)
    if not wanted:
        return 0
    gate = asyncio.Semaphore(REFRESH_CONCURRENCY)

    async def one(polymarket_id: str) -> GammaMarket | None:
        async with gate:
            try:
                return await client.fetch_market(polymarket_id)
            except (PolymarketError, MalformedMarket) as exc:
                errors.append(f"Status check {polymarket_id}: {exc}")
                return None

    found = [m for m in await asyncio.gather(*(one(pid) for pid in wanted)) if m is not None]
    return (await store_markets(ctx, found, now)).status_changes


# --- the job --------------------------------------------------------------------------------


async def sync_markets(ctx: Context) -> dict[str, Any]:
    """Fetch the top Polymarket markets and upsert them; refresh the ones that matter."""
    started = time.perf_counter()
    now = ctx.clock.now()
    client = polymarket_client(ctx)
    try:
        top = await client.top_markets(ctx.settings.top_markets_count)
        errors = [str(skipped) for skipped in top.skipped]
        stored = await store_markets(ctx, top.markets, now)
        status_updates = await refresh_statuses(ctx, client, now, errors)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(session, "market_sync_error", {"error": str(exc)}, "error", now)
        if isinstance(exc, PolymarketError):
            raise AppError(str(exc), 500) from exc
        raise
    duration_ms = int((time.perf_counter() - started) * 1000)
    async with ctx.db.write() as session:
        await log_event(
            session,
            "market_sync_complete",
            {
                "markets_added": stored.added,
                "markets_updated": stored.updated,
                "status_updates": status_updates,
                "errors": len(errors),
                "duration_ms": duration_ms,
            },
            "info",
            now,
        )
    return {
        "success": True,
        "markets_added": stored.added,
        "markets_updated": stored.updated,
        "errors": errors,
        "duration_ms": duration_ms,
    }


# --- what other jobs load -------------------------------------------------------------------


async def top_active_markets(session: AsyncSession, limit: int = 500) -> list[Market]:
    """The `limit` highest-volume active markets (volume NULL last, then id), the set a
    decision run shows every agent."""
    result = await session.scalars(
        select(Market)
        .where(Market.status == "active")
        .order_by(Market.volume.desc().nulls_last(), Market.id.asc())
        .limit(limit)
    )
    return list(result.all())


async def markets_by_ids(session: AsyncSession, ids: Iterable[str]) -> dict[str, Market]:
    """Stored markets by internal id."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Market).where(Market.id.in_(wanted)))
    return {market.id: market for market in rows}


async def fetch_market_prices(ctx: Context, markets: Iterable[Any]) -> dict[str, dict[str, float]]:
    """CLOB midpoints of stored markets: `{market_id: {side: price}}` with sides as in
    `token_map` (one batched call for all markets; unpriced sides are absent)."""
    maps = {market.id: token_map(market) for market in markets}
    tokens = [token for sides in maps.values() for token in sides.values()]
    prices = await polymarket_client(ctx).midpoints(tokens)
    return {
        market_id: {side: prices[token] for side, token in sides.items() if token in prices}
        for market_id, sides in maps.items()
    }
