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
import functools
import json
import operator
import random
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
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
from arenabrain.db.timestamps import to_text
from arenabrain.web.errors import AppError

UPSERT_BATCH = 1000
# PostgreSQL advisory lock taken by every market upsert transaction (any fixed 64-bit key).
MARKET_WRITERS_LOCK = 0x6D61726B657473  # "markets"
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
WRITTEN_COLUMNS = ("id", "polymarket_id", *SYNCED_COLUMNS, "first_seen_at", "last_updated_at")
# The upsert writes through an untyped table clause: rows arrive in their stored form
# (timestamps already rendered as UTC text), so executemany does no per-row type processing.
RAW_MARKETS = sa.table(
    "markets", *(sa.column(name) for name in (*WRITTEN_COLUMNS, "resolution_outcome"))
)
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _compact(value: Any) -> str:
    return _ENCODER.encode(value)


# --- rows (pure) --------------------------------------------------------------------------------


def stored_token_ids(market: GammaMarket) -> str | None:
    """`[YES, NO]` for binary markets, aligned with the outcomes otherwise; None unless every
    outcome has a token (a partial list could not be mapped back by label)."""
    ordered = [o.token_id for o in market.outcomes]
    if not all(ordered):
        return None
    if market.market_type == "binary" and market.outcomes[0].label.strip().upper() != "YES":
        ordered.reverse()
    return _compact(ordered)


def market_row(market: GammaMarket) -> dict[str, Any]:
    """The synced columns of one market (None means "keep what is stored")."""
    binary = market.market_type == "binary"
    if binary:
        outcomes = current_prices = None
        current_price = market.yes_price
    else:
        prices = market.prices
        outcomes = _compact([o.label for o in market.outcomes])
        current_prices = _compact(prices) if prices else None
        current_price = None
    return {
        "polymarket_id": market.polymarket_id,
        "slug": market.slug,
        "event_slug": market.event_slug,
        "question": market.question,
        "description": market.description,
        "category": market.category,
        "market_type": market.market_type,
        "outcomes": outcomes,
        "close_date": market.close_date,
        "status": market.status,
        "current_price": current_price,
        "current_prices": current_prices,
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


def stored_side_price(market: Any, side: str) -> float | None:
    """The stored (Gamma) price of one side of a market (a `Market` or a row mapping): a
    multi-outcome side's own price, YES's price, or NO at one minus it. None when unknown."""
    get = market.get if isinstance(market, Mapping) else lambda name: getattr(market, name)
    if get("market_type") == "multi_outcome":
        try:
            prices = json.loads(get("current_prices") or "null")
        except ValueError:
            return None
        value = prices.get(side) if isinstance(prices, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if 0 <= value <= 1 else None
    yes = get("current_price")
    if yes is None:
        return None
    return 1 - yes if side.upper() == "NO" else yes


# --- the bulk upsert ----------------------------------------------------------------------------


def fresh_ids(now: datetime, count: int) -> list[str]:
    """`count` ids in `new_id`'s shape (`<epoch-ms>-<9 base-36 chars>`) for one batch, drawn
    from one secret seed (drawing each from the OS costs a third of a 10,000-market upsert)."""
    millis = int(now.timestamp() * 1000)
    rng = random.Random(secrets.randbits(128))
    return [f"{millis}-{''.join(rng.choices(_ID_ALPHABET, k=9))}" for _ in range(count)]


@functools.cache
def upsert_statement(insert: Any, *, keep_close_date: bool = False) -> Any:
    """One `INSERT ... ON CONFLICT (polymarket_id) DO UPDATE` for many rows: each synced
    column becomes `COALESCE(excluded, stored)`; a settled market stays resolved."""
    statement = insert(RAW_MARKETS)
    new = statement.excluded
    old = RAW_MARKETS.c
    assignments: dict[str, Any] = {
        name: func.coalesce(new[name], old[name])
        for name in SYNCED_COLUMNS
        if not (keep_close_date and name == "close_date")
    }
    # A literal, not a bound parameter: the compiled statement's parameters are the row's.
    settled = and_(
        old.status == sa.literal_column("'resolved'"), old.resolution_outcome.is_not(None)
    )
    assignments["status"] = case((settled, old.status), else_=func.coalesce(new.status, old.status))
    assignments["last_updated_at"] = new.last_updated_at
    return statement.on_conflict_do_update(index_elements=["polymarket_id"], set_=assignments)


def compiled_upsert(dialect: Any, *, keep_close_date: bool = False) -> tuple[str, tuple[str, ...]]:
    """The SQLite upsert compiled once per process: its SQL and the row keys in parameter
    order."""
    key = (dialect.name, dialect.driver, dialect.paramstyle, keep_close_date)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = _compile_upsert(dialect, keep_close_date)
    return found


_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


def _compile_upsert(dialect: Any, keep_close_date: bool) -> tuple[str, tuple[str, ...]]:
    compiled = upsert_statement(sqlite.insert, keep_close_date=keep_close_date).compile(
        dialect=dialect, column_keys=list(WRITTEN_COLUMNS)
    )
    order = tuple(compiled.positiontup or ())
    if set(order) != set(WRITTEN_COLUMNS):
        raise RuntimeError(f"unexpected upsert parameters: {order}")
    return str(compiled), order


async def execute_upsert(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], *, keep_close_date: bool = False
) -> None:
    """Run the bulk upsert as one executemany. On SQLite the statement is compiled once and
    given positional rows already in their stored form, skipping SQLAlchemy's per-row
    parameter processing (a third of SQLite's own time on a 10,000-market sync)."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        # PostgreSQL: the same statement through SQLAlchemy's own executemany.
        statement = upsert_statement(postgresql.insert, keep_close_date=keep_close_date)
        await session.execute(statement, list(rows))
        return
    sql, order = compiled_upsert(connection.dialect, keep_close_date=keep_close_date)
    values = operator.itemgetter(*order)
    await connection.exec_driver_sql(sql, [values(row) for row in rows])


# Built once: SQLAlchemy then reuses the compiled form instead of re-deriving a cache key.
EXISTING = select(
    MARKETS.c.polymarket_id, MARKETS.c.status, MARKETS.c.resolution_outcome.is_not(None)
).where(MARKETS.c.polymarket_id.in_(sa.bindparam("ids", expanding=True)))

COUNT_EXISTING = (
    select(func.count())
    .select_from(MARKETS)
    .where(MARKETS.c.polymarket_id.in_(sa.bindparam("ids", expanding=True)))
)


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
    session: AsyncSession,
    markets: Sequence[GammaMarket],
    now: datetime,
    *,
    track_transitions: bool = False,
) -> UpsertOutcome:
    """Upsert one batch of markets with one bulk statement (two when some rows have no close
    date: those keep the stored one). With `track_transitions` the stored statuses are read
    first so status changes can be counted; otherwise only how many rows existed. A market
    repeated within the batch is written once. Does not commit."""
    outcome = UpsertOutcome()
    unique = list({m.polymarket_id: m for m in reversed(markets)}.values())[::-1]
    if not unique:
        return outcome
    ids = [m.polymarket_id for m in unique]
    await serialise_market_writers(session)
    existing: dict[str, tuple[str, bool]] = {}
    if track_transitions:
        stored = await session.execute(EXISTING, {"ids": ids})
        existing = {pid: (status, settled) for pid, status, settled in stored.all()}
        outcome.updated = len(existing)
    else:
        outcome.updated = (await session.scalar(COUNT_EXISTING, {"ids": ids})) or 0
    outcome.added = len(unique) - outcome.updated
    dated: list[dict[str, Any]] = []
    undated: list[dict[str, Any]] = []
    now_text = to_text(now)
    close_texts: dict[datetime, str] = {}  # many markets share a close date
    for market, fresh_id in zip(unique, fresh_ids(now, len(unique)), strict=True):
        row = market_row(market)
        row["id"] = fresh_id  # ignored when the market already exists
        row["first_seen_at"] = now_text
        row["last_updated_at"] = now_text
        if market.polymarket_id in existing:
            before, settled = existing[market.polymarket_id]
            after = before if settled and before == "resolved" else row["status"]
            outcome.transitions[market.polymarket_id] = (before, after)
        if row["close_date"] is None:
            # A new row needs some close date; an existing one keeps its own.
            row["close_date"] = to_text(now + MISSING_CLOSE_DATE)
            undated.append(row)
        else:
            close = row["close_date"]
            text = close_texts.get(close)
            if text is None:
                text = close_texts[close] = to_text(close)
            row["close_date"] = text
            dated.append(row)
    if dated:
        await execute_upsert(session, dated)
    if undated:
        await execute_upsert(session, undated, keep_close_date=True)
    return outcome


async def serialise_market_writers(session: AsyncSession) -> None:
    """On PostgreSQL, wait for any other market upsert to commit before this one starts (SQLite's
    `BEGIN IMMEDIATE` already does). Without it, two syncs writing overlapping markets in
    different orders (a sync's top list and another's status refresh) deadlock on the rows,
    and both count the same new markets as added."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(select(func.pg_advisory_xact_lock(MARKET_WRITERS_LOCK)))


async def store_markets(
    ctx: Context,
    markets: Sequence[GammaMarket],
    now: datetime,
    batch_size: int = UPSERT_BATCH,
    *,
    track_transitions: bool = False,
) -> UpsertOutcome:
    """Upsert markets in batches, each batch its own short write transaction."""
    total = UpsertOutcome()
    for start in range(0, len(markets), batch_size):
        async with ctx.db.write() as session:
            part = await upsert_markets(
                session,
                markets[start : start + batch_size],
                now,
                track_transitions=track_transitions,
            )
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
    return (await store_markets(ctx, found, now, track_transitions=True)).status_changes


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
