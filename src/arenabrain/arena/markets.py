"""Markets: the sync job that keeps the top Polymarket markets in the database, and the
queries and price look-ups the decision, snapshot and resolution jobs build on.

Stored shapes (what readers of `markets` may rely on):
- `current_price` is Gamma's YES price of a binary market; `current_prices` is a JSON object
  `{label: price}` for multi-outcome markets, whose `outcomes` is a JSON array of labels.
- `clob_token_ids` is a JSON array: `[YES token, NO token]` for binary markets (whatever order
  Gamma listed them in), aligned with `outcomes` otherwise. `token_map` reads it back.
- Sync never erases: every column is `COALESCE(new, old)`, and a market the resolution job has
  settled (`resolved` with an outcome) stays resolved.
- Sync stores `active` or `closed` only: `resolved` is written by the resolution job, after
  settlement."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from arenabrain.arena.models import Market, Position
from arenabrain.arena.pricing import market_sides, pricing_tokens
from arenabrain.arena.system_logs import log_event
from arenabrain.clients.polymarket import (
    GammaMarket,
    MalformedMarket,
    PolymarketClient,
    PolymarketError,
)
from arenabrain.context import Context
from arenabrain.db.timestamps import to_text
from arenabrain.errors import AppError

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
MARKET_ROW_KEYS = ("polymarket_id", *SYNCED_COLUMNS)
WRITTEN_COLUMNS = ("id", *MARKET_ROW_KEYS, "first_seen_at", "last_updated_at")
_STATUS = WRITTEN_COLUMNS.index("status")
# The upsert writes through an untyped table clause: rows arrive in their stored form
# (timestamps already rendered as UTC text), so executemany does no per-row type processing.
RAW_MARKETS = sa.table(
    "markets", *(sa.column(name) for name in (*WRITTEN_COLUMNS, "resolution_outcome"))
)
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_BYTES = bytes(ord(_ID_ALPHABET[value % 36]) for value in range(256))
_ID_BIASED = bytes(range(7 * 36, 256))


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _compact(value: Any) -> str:
    return _ENCODER.encode(value)


def _compact_strings(items: Iterable[str]) -> str:
    """`_compact` of a list of strings, without building a JSON encoder per call (the same
    string escaping, as `ensure_ascii=False` does it)."""
    return "[" + ",".join(map(encode_basestring, items)) + "]"


# --- rows (pure) --------------------------------------------------------------------------------


def stored_token_ids(market: GammaMarket) -> str | None:
    """`[YES, NO]` for binary markets, aligned with the outcomes otherwise; None unless every
    outcome has a token (a partial list could not be mapped back by label)."""
    outcomes = market.outcomes
    if market.market_type == "binary" and len(outcomes) == 2:  # the common case, kept short
        first, second = outcomes
        yes, no = first.token_id, second.token_id
        if not (yes and no):
            return None
        if first.label.strip().upper() != "YES":
            yes, no = no, yes
        return f"[{encode_basestring(yes)},{encode_basestring(no)}]"
    ordered = [o.token_id for o in outcomes]
    if not all(ordered):
        return None
    if market.market_type == "binary" and outcomes[0].label.strip().upper() != "YES":
        ordered.reverse()
    return _compact_strings(ordered)  # type: ignore[arg-type]  # all() above: no None left


def market_row(market: GammaMarket) -> dict[str, Any]:
    """The synced columns of one market (None means "keep what is stored")."""
    return dict(zip(MARKET_ROW_KEYS, _row_values(market, market.close_date), strict=True))


def _row_values(market: GammaMarket, close_date: Any) -> tuple[Any, ...]:
    """`market_row`'s values in `MARKET_ROW_KEYS` order, with `close_date` as given (the upsert
    passes it already rendered as text)."""
    if market.market_type == "binary":
        outcomes = current_prices = None
        current_price = market.yes_price
    else:
        prices = market.prices
        outcomes = _compact_strings([o.label for o in market.outcomes])
        current_prices = _compact(prices) if prices else None
        current_price = None
    return (
        market.polymarket_id,
        market.slug,
        market.event_slug,
        market.question,
        market.description,
        market.category,
        market.market_type,
        outcomes,
        close_date,
        synced_status(market),
        current_price,
        current_prices,
        stored_token_ids(market),
        market.volume,
        market.liquidity,
    )


def synced_status(market: GammaMarket) -> str:
    """The status a sync stores: `active` or `closed`. A market Polymarket has decided is
    stored `closed` too: only the resolution job marks a market `resolved`, once every position
    on it has settled (runbook 6.4), so an open position never sits on a resolved market."""
    return "active" if market.status == "active" else "closed"


Rows = list[tuple[Any, ...]]


def stored_rows(markets: Sequence[GammaMarket], now: datetime) -> tuple[Rows, Rows]:
    """The rows an upsert of `markets` writes, as tuples in `WRITTEN_COLUMNS` order in their
    stored form (a fresh id, which only a new row keeps; timestamps as UTC text): those with
    a close date, and those without one (given now + 365 days, which only a new row keeps)."""
    now_text = to_text(now)
    missing_close = to_text(now + MISSING_CLOSE_DATE)
    close_texts: dict[datetime, str] = {}  # many markets share a close date
    dated: Rows = []
    undated: Rows = []
    for market, fresh_id in zip(markets, fresh_ids(now, len(markets)), strict=True):
        close = market.close_date
        if close is None:
            undated.append((fresh_id, *_row_values(market, missing_close), now_text, now_text))
            continue
        text = close_texts.get(close)
        if text is None:
            text = close_texts[close] = to_text(close)
        dated.append((fresh_id, *_row_values(market, text), now_text, now_text))
    return dated, undated


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
    """`count` ids in `new_id`'s shape (`<epoch-ms>-<9 base-36 chars>`) for one batch, from one
    read of the OS's secret random bytes (drawing each id's characters one by one took ten
    times as long: 13 ms instead of 1.3 ms for 10,000 ids)."""
    prefix = f"{int(now.timestamp() * 1000)}-"
    wanted = 9 * count
    chars = b""
    while len(chars) < wanted:
        # Bytes 252-255 are dropped so that every character is equally likely (252 = 7 x 36).
        chars += os.urandom(wanted - len(chars) + 64).translate(_ID_BYTES, _ID_BIASED)
    text = chars[:wanted].decode("ascii")
    return [prefix + text[start : start + 9] for start in range(0, wanted, 9)]


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
    if order != WRITTEN_COLUMNS:  # the rows are tuples in WRITTEN_COLUMNS order
        raise RuntimeError(f"unexpected upsert parameters: {order}")
    return str(compiled), order


async def execute_upsert(
    session: AsyncSession, rows: Rows, *, keep_close_date: bool = False
) -> None:
    """Run the bulk upsert of `stored_rows` as one executemany. On SQLite the statement is
    compiled once and the positional rows go as they are to the driver's executemany, in the
    session's transaction, skipping SQLAlchemy's per-row parameter processing (a third of
    SQLite's own time on a 10,000-market sync) and its cursor adapter's extra thread hops."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        # PostgreSQL: the same statement through SQLAlchemy's own executemany.
        statement = upsert_statement(postgresql.insert, keep_close_date=keep_close_date)
        await session.execute(
            statement, [dict(zip(WRITTEN_COLUMNS, row, strict=True)) for row in rows]
        )
        return
    sql, _order = compiled_upsert(connection.dialect, keep_close_date=keep_close_date)
    await (await sqlite_driver(connection)).executemany(sql, rows)


async def sqlite_driver(connection: AsyncConnection) -> Any:
    """The aiosqlite connection under a SQLite `connection`, in the same transaction. Each of
    its calls is one trip to the driver's worker thread, where a statement through SQLAlchemy
    makes three or four (cursor, execute, fetch, close): about 0.1 ms each."""
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("the SQLite connection is closed")
    return driver


# Built once: SQLAlchemy then reuses the compiled form instead of re-deriving a cache key.
EXISTING = select(
    MARKETS.c.polymarket_id, MARKETS.c.status, MARKETS.c.resolution_outcome.is_not(None)
).where(MARKETS.c.polymarket_id.in_(sa.bindparam("ids", expanding=True)))

LAST_ROWID = "SELECT MAX(rowid) FROM markets"
ROWS_AFTER = "SELECT COUNT(*) FROM markets WHERE rowid > ?"

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
    first so status changes can be counted; otherwise only how many rows were new is counted.
    A market repeated within the batch is written once. Does not commit."""
    outcome = UpsertOutcome()
    unique = list({m.polymarket_id: m for m in reversed(markets)}.values())[::-1]
    if not unique:
        return outcome
    connection = await session.connection()
    sqlite_db = connection.dialect.name == "sqlite"
    await serialise_market_writers(session)
    dated, undated = stored_rows(unique, now)
    last_rowid = None
    if track_transitions:
        stored = await session.execute(EXISTING, {"ids": [m.polymarket_id for m in unique]})
        existing = {pid: (status, settled) for pid, status, settled in stored.all()}
        for row in (*dated, *undated):
            if row[1] in existing:
                before, settled = existing[row[1]]
                after = before if settled and before == "resolved" else row[_STATUS]
                outcome.transitions[row[1]] = (before, after)
        outcome.updated = len(existing)
    elif sqlite_db:
        # Inside the write lock, the rows this upsert inserts are exactly those it gives a rowid
        # above today's largest (an update keeps its row's rowid): a look-up and a short range
        # count instead of probing the index for every id.
        [(last_rowid,)] = await (await sqlite_driver(connection)).execute_fetchall(LAST_ROWID)
        last_rowid = last_rowid or 0
    else:
        ids = [m.polymarket_id for m in unique]
        outcome.updated = (await session.scalar(COUNT_EXISTING, {"ids": ids})) or 0
    if dated:
        await execute_upsert(session, dated)
    if undated:
        await execute_upsert(session, undated, keep_close_date=True)
    if last_rowid is not None:
        driver = await sqlite_driver(connection)
        [(added,)] = await driver.execute_fetchall(ROWS_AFTER, (last_rowid,))
        outcome.updated = len(unique) - added
    outcome.added = len(unique) - outcome.updated
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
                return await client.gamma.fetch_market(polymarket_id)
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
    client = ctx.clients.polymarket
    try:
        top = await client.gamma.top_markets(ctx.settings.top_markets_count)
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


def tradeable(market: Market) -> bool:
    """Whether every side of a stored market has a CLOB token to price a trade on it: a market
    without one could only ever fail its bets, so it is never offered."""
    sides = market_sides(market)
    tokens = pricing_tokens(market)
    if market.market_type == "binary":
        return "YES" in tokens
    return bool(sides) and all(side in tokens for side in sides)


async def top_active_markets(session: AsyncSession, limit: int = 500) -> list[Market]:
    """The `limit` highest-volume active markets that can be traded (volume NULL last, then
    Polymarket's id, so equal volumes keep one order), the set a decision run shows every
    agent."""
    result = await session.scalars(
        select(Market)
        .where(
            Market.status == "active",
            Market.clob_token_ids.is_not(None),
            (Market.market_type == "binary") | Market.outcomes.is_not(None),
        )
        .order_by(Market.volume.desc().nulls_last(), Market.polymarket_id.asc())
        .limit(limit)
    )
    return [market for market in result.all() if tradeable(market)]


async def markets_by_ids(session: AsyncSession, ids: Iterable[str]) -> dict[str, Market]:
    """Stored markets by internal id."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Market).where(Market.id.in_(wanted)))
    return {market.id: market for market in rows}
