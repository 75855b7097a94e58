"""take-snapshots: mark every open position to market and record each agent's portfolio value
(reference §5.5, §9), every 10 minutes.

1. The snapshot time is `now` floored to its 10-minute bucket, stored as `YYYY-MM-DD HH:MM:SS`.
2. The agents are those of every active, unarchived cohort (bankrupt ones too); the markets are
   those their open positions are on, whatever their status.
3. Prices come from `pricing.fetch_side_prices`, the rule trades fill by (binary NO = 1 - YES),
   in as few CLOB batch requests as the tokens allow (at most 500 tokens each).
4. Each market's price is validated (`validate`) and its provenance upserted into
   `market_price_snapshots`; a missing price, or a Gamma price more than 0.05 away from the
   CLOB's, is logged as `price_validation_anomaly`.
5. Each agent is its own unit of work: its open positions are read again under the write lock
   (a decision run may have traded meanwhile), marked (`mark`: the side's price, else the
   position's prior value, else its entry price, so a curve never collapses when a book
   disappears), and its `portfolio_snapshots` row is upserted on (agent, bucket).

Re-running inside the same bucket overwrites the same rows (keeping their ids)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.execution.fills import ONE, ZERO, dec, is_binary
from arenabrain.arena.models import (
    Agent,
    BrierScore,
    Cohort,
    Market,
    MarketPriceSnapshot,
    PortfolioSnapshot,
    Position,
)
from arenabrain.arena.pricing import SidePrices, fetch_side_prices, market_sides, pricing_tokens
from arenabrain.arena.system_logs import log_event
from arenabrain.clients.polymarket import PolymarketError
from arenabrain.context import Context
from arenabrain.db.ids import new_id
from arenabrain.db.timestamps import to_text
from arenabrain.errors import AppError

BUCKET = timedelta(minutes=10)
DISAGREEMENT = Decimal("0.05")
HUNDRED = Decimal(100)
Status = Literal["accepted", "accepted_with_gamma_disagreement", "fallback"]
Basis = Literal["clob", "prior", "entry"]


def snapshot_bucket(now: datetime) -> datetime:
    """`now` floored to its 10-minute bucket (12:17:59.999 and 12:19:01 are both 12:10)."""
    floored = now.replace(second=0, microsecond=0)
    return floored - timedelta(minutes=floored.minute % 10)


# --- price validation (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class PriceRecord:
    """Which price a snapshot accepted for one market, and why (one `market_price_snapshots`
    row)."""

    market_id: str
    polymarket_id: str
    source: Literal["clob", "fallback"]
    status: Status
    reason: str | None
    accepted_price: float | None  # binary: the YES midpoint
    accepted_prices: dict[str, float] | None  # multi-outcome: {outcome: midpoint}
    gamma_price: float | None
    gamma_prices: str | None
    clob_token_ids: str | None


def validate(market: Any, prices: SidePrices) -> PriceRecord:
    """The validated record of one market from the side prices fetched for it (§9.2)."""
    gamma_price, gamma_prices = market.current_price, market.current_prices
    base = {
        "market_id": market.id,
        "polymarket_id": market.polymarket_id,
        "gamma_price": gamma_price,
        "gamma_prices": gamma_prices,
        "clob_token_ids": market.clob_token_ids,
    }
    tokens = pricing_tokens(market)
    if is_binary(market):
        yes = prices.get((market.id, "YES"))
        if yes is None:
            reason = (
                f"Missing CLOB midpoint for token {tokens['YES']}"
                if "YES" in tokens
                else "Missing CLOB YES token id"
            )
            return PriceRecord(
                source="fallback",
                status="fallback",
                reason=reason,
                accepted_price=None,
                accepted_prices=None,
                **base,
            )
        apart = _disagreement(gamma_price, yes)
        return PriceRecord(
            source="clob",
            status="accepted_with_gamma_disagreement" if apart else "accepted",
            reason=apart,
            accepted_price=float(yes),
            accepted_prices=None,
            **base,
        )
    priced = {
        side: price
        for side in market_sides(market)
        if (price := prices.get((market.id, side))) is not None
    }
    if not priced:
        return PriceRecord(
            source="fallback",
            status="fallback",
            reason="Missing CLOB outcome prices",
            accepted_price=None,
            accepted_prices=None,
            **base,
        )
    stored = _stored_prices(gamma_prices)
    differs: str | None = None
    for side, price in priced.items():
        found = _disagreement(stored.get(side), price)
        if found:
            differs = f'{found} for outcome "{side}"'
            break
    return PriceRecord(
        source="clob",
        status="accepted_with_gamma_disagreement" if differs else "accepted",
        reason=differs,
        accepted_price=None,
        accepted_prices={side: float(price) for side, price in priced.items()},
        **base,
    )


def _disagreement(gamma: float | None, clob: Decimal) -> str | None:
    if gamma is None:
        return None
    if abs(dec(gamma) - clob) <= DISAGREEMENT:
        return None
    return f"Gamma price {gamma:.4f} differs from CLOB {float(clob):.4f}"


def _stored_prices(text: str | None) -> dict[str, float]:
    try:
        found = json.loads(text or "null")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in found.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
    }


# --- marking one position (pure) --------------------------------------------------------------


def mark(
    shares: Decimal,
    avg_entry_price: Decimal,
    current_value: Decimal | None,
    side_price: Decimal | None,
) -> tuple[Decimal, Basis]:
    """A position's value and what it rests on (§9.4): shares at the side's validated price;
    without one, its prior value (kept per share within [0, 1]); without that, its entry price."""
    if side_price is not None:
        return shares * side_price, "clob"
    if current_value is not None and shares > 0:
        return min(max(current_value, ZERO), shares * ONE), "prior"
    return shares * avg_entry_price, "entry"


# --- the job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRef:
    id: str
    initial_balance: Decimal


async def take_snapshots(ctx: Context) -> dict[str, Any]:
    """Mark every open position of the active, unarchived cohorts to market and record each
    agent's portfolio value for this 10-minute bucket."""
    started = time.perf_counter()
    now = ctx.clock.now()
    try:
        taken, updated, errors = await _snapshot(ctx, now)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(session, "take_snapshots_error", {"error": str(exc)}, "error", now)
        if isinstance(exc, PolymarketError):
            raise AppError(str(exc), 500) from exc
        raise
    duration_ms = int((time.perf_counter() - started) * 1000)
    async with ctx.db.write() as session:
        await log_event(
            session,
            "snapshots_taken",
            {
                "snapshots": taken,
                "positions_updated": updated,
                "errors": len(errors),
                "duration_ms": duration_ms,
            },
            "info",
            now,
        )
    return {
        "success": True,
        "snapshots_taken": taken,
        "positions_updated": updated,
        "errors": len(errors),
        "duration_ms": duration_ms,
    }


async def _snapshot(ctx: Context, now: datetime) -> tuple[int, int, list[str]]:
    bucket = snapshot_bucket(now)
    async with ctx.db.read() as session:
        agents = await tracked_agents(session)
        markets = await held_markets(session, [a.id for a in agents])
    prices = await fetch_side_prices(ctx, markets)
    records = [validate(market, prices) for market in markets]
    async with ctx.db.write() as session:
        await record_provenance(session, records, bucket, now)
    taken = updated = 0
    errors: list[str] = []
    for agent in agents:
        try:
            async with ctx.db.write() as session:
                updated += await snapshot_agent(session, agent, prices, bucket, now)
            taken += 1
        except Exception as exc:  # one agent's failure does not stop the others
            errors.append(f"Agent {agent.id}: {exc}")
            ctx.log.error("agent snapshot failed", err=exc, agent_id=agent.id)
    return taken, updated, errors


async def tracked_agents(session: AsyncSession) -> list[AgentRef]:
    """Every agent of an active, unarchived cohort (bankrupt agents included)."""
    rows = await session.execute(
        select(Agent.id, Cohort.initial_balance)
        .join(Cohort, Cohort.id == Agent.cohort_id)
        .where(Cohort.status == "active", Cohort.is_archived == 0)
        .order_by(Cohort.cohort_number.desc(), Agent.id)
    )
    return [AgentRef(agent_id, dec(initial)) for agent_id, initial in rows.all()]


async def held_markets(session: AsyncSession, agent_ids: Sequence[str]) -> list[Market]:
    """The markets these agents hold open positions on, whatever the markets' status."""
    if not agent_ids:
        return []
    held = (
        select(Position.market_id)
        .where(Position.status == "open", Position.agent_id.in_(list(agent_ids)))
        .distinct()
    )
    return list(
        (await session.scalars(select(Market).where(Market.id.in_(held)).order_by(Market.id))).all()
    )


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def record_provenance(
    session: AsyncSession, records: Sequence[PriceRecord], bucket: datetime, now: datetime
) -> None:
    """Upsert one `market_price_snapshots` row per market for the bucket, and log each
    anomaly (a fallback as a warning, a Gamma/CLOB disagreement as info)."""
    if not records:
        return
    rows = [
        {
            "id": new_id(now),
            "market_id": r.market_id,
            "snapshot_timestamp": bucket,
            "source": r.source,
            "accepted_price": r.accepted_price,
            "accepted_prices": json.dumps(r.accepted_prices) if r.accepted_prices else None,
            "gamma_price": r.gamma_price,
            "gamma_prices": r.gamma_prices,
            "clob_token_ids": r.clob_token_ids,
            "validation_status": r.status,
            "anomaly_reason": r.reason,
            "created_at": now,
        }
        for r in records
    ]
    statement = _insert(session)(MarketPriceSnapshot)
    kept = ("id", "market_id", "snapshot_timestamp")
    statement = statement.on_conflict_do_update(
        index_elements=["market_id", "snapshot_timestamp"],
        set_={name: statement.excluded[name] for name in rows[0] if name not in kept},
    )
    for start in range(0, len(rows), 500):
        await session.execute(statement, rows[start : start + 500])
    stamp = to_text(bucket)
    for record in records:
        if record.reason is None:
            continue
        await log_event(
            session,
            "price_validation_anomaly",
            {
                "market_id": record.market_id,
                "polymarket_id": record.polymarket_id,
                "snapshot_timestamp": stamp,
                "source": record.source,
                "status": record.status,
                "reason": record.reason,
            },
            "warning" if record.source == "fallback" else "info",
            now,
        )


POSITIONS = cast(Table, Position.__table__)
# A Core statement: executemany of one UPDATE per position, by id.
POSITION_MARK = (
    update(POSITIONS)
    .where(POSITIONS.c.id == bindparam("position_id"))
    .values(current_value=bindparam("value"), unrealized_pnl=bindparam("pnl"))
)


async def snapshot_agent(
    session: AsyncSession,
    agent: AgentRef,
    prices: Mapping[tuple[str, str], Decimal | None],
    bucket: datetime,
    now: datetime,
) -> int:
    """Mark one agent's open positions and upsert its portfolio snapshot; returns how many
    positions were marked. Call inside the agent's write unit of work."""
    cash = await session.scalar(select(Agent.cash_balance).where(Agent.id == agent.id))
    if cash is None:
        raise ValueError("Agent not found")
    positions = (
        await session.execute(
            select(
                Position.id,
                Position.market_id,
                Position.side,
                Position.shares,
                Position.avg_entry_price,
                Position.total_cost,
                Position.current_value,
            ).where(Position.agent_id == agent.id, Position.status == "open")
        )
    ).all()
    marks = []
    total = ZERO
    for pid, market_id, side, shares, entry, cost, current in positions:
        value, _basis = mark(
            dec(shares),
            dec(entry),
            None if current is None else dec(current),
            prices.get((market_id, side)),
        )
        total += value
        marks.append({"position_id": pid, "value": float(value), "pnl": float(value - dec(cost))})
    if marks:
        await session.execute(POSITION_MARK, marks)
    brier, resolved = (
        await session.execute(
            select(func.avg(BrierScore.brier_score), func.count(BrierScore.id)).where(
                BrierScore.agent_id == agent.id
            )
        )
    ).one()
    total_value = dec(cash) + total
    pnl = total_value - agent.initial_balance
    values = {
        "cash_balance": float(cash),
        "positions_value": float(total),
        "total_value": float(total_value),
        "total_pnl": float(pnl),
        "total_pnl_percent": float(pnl / agent.initial_balance * HUNDRED)
        if agent.initial_balance
        else 0.0,
        "brier_score": brier,
        "num_resolved_bets": resolved or 0,
        "created_at": now,
    }
    statement = _insert(session)(PortfolioSnapshot).values(
        id=new_id(now), agent_id=agent.id, snapshot_timestamp=bucket, **values
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["agent_id", "snapshot_timestamp"],
            set_={name: statement.excluded[name] for name in values},
        )
    )
    return len(marks)
