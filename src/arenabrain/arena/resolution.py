"""check-resolutions: settle the markets Polymarket has decided (reference §5.4, §8).

Every market that is `closed` locally, that was left `resolved` without an outcome, or that is
still `active` past its close date, is read again from Gamma (a few at a time) and given a
verdict (`verdicts`). Then, one market after the other:

- a winner: every open position on the market, in every cohort (archived ones included), is
  settled in its own unit of work (`execution.settlement`); only when none is left open is the
  market marked `resolved` with its winner, and the anchor's per-trade Brier rows recorded
  (one per BUY trade on the market, on its implied confidence; §8.5), in one last unit of work;
- a refund (cancelled, 50/50, delisted, or undecidable past `RESOLUTION_GRACE_DAYS`): the same,
  each position getting its cost back, and the market `resolved` as `CANCELLED`;
- a settlement that fails leaves the market `closed` (`market_resolution_partial_failure`): the
  positions already settled stay settled and the next run finishes the rest.

Then the cohort completion sweep runs. A crash between units loses nothing: a re-run finds the
market still closed and only the positions still open."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena import cohorts
from arenabrain.arena.execution.settlement import settle_position
from arenabrain.arena.models import BrierScore, Market, Position, Trade
from arenabrain.arena.scoring import confidence_brier, side_won
from arenabrain.arena.system_logs import log_event
from arenabrain.arena.verdicts import CANCELLED, Verdict, verdict
from arenabrain.clients.polymarket import (
    GammaMarket,
    MalformedMarket,
    PolymarketError,
)
from arenabrain.context import Context
from arenabrain.db.ids import new_id
from arenabrain.errors import AppError

FETCH_CONCURRENCY = 8
QUESTION_CHARS = 100
# Rows per INSERT: eleven parameters each stays far below SQLite's 32,766 per statement.
BRIER_BATCH = 500


@dataclass
class ResolutionRun:
    markets_checked: int = 0
    markets_resolved: int = 0
    positions_settled: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MarketRef:
    id: str
    polymarket_id: str
    question: str
    close_date: datetime


# --- the job ----------------------------------------------------------------------------------


async def check_resolutions(ctx: Context) -> dict[str, Any]:
    """Settle the markets Polymarket has decided, refund the ones it never will, then complete
    the cohorts that are done."""
    started = time.perf_counter()
    try:
        run = await resolve_markets(ctx)
        completed = await cohorts.check_cohorts(ctx)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(
                session, "check_resolutions_error", {"error": str(exc)}, "error", ctx.clock.now()
            )
        if isinstance(exc, PolymarketError):
            raise AppError(str(exc), 500) from exc
        raise
    return {
        "success": True,
        "markets_checked": run.markets_checked,
        "markets_resolved": run.markets_resolved,
        "positions_settled": run.positions_settled,
        "cohorts_completed": completed,
        "errors": len(run.errors),
        "duration_ms": int((time.perf_counter() - started) * 1000),
    }


async def resolve_markets(ctx: Context) -> ResolutionRun:
    """Check every candidate market against Gamma and act on its verdict (§8.2)."""
    now = ctx.clock.now()
    grace = timedelta(days=ctx.settings.resolution_grace_days)
    async with ctx.db.read() as session:
        candidates = await markets_to_check(session, now)
    fetched = await _fetch_all(ctx, candidates)
    run = ResolutionRun()
    for market in candidates:
        run.markets_checked += 1
        found = fetched[market.id]
        if isinstance(found, Exception):
            run.errors.append(f"Market {market.id}: {found}")
            continue
        decided = verdict(
            found,
            polymarket_id=market.polymarket_id,
            close_date=market.close_date,
            now=now,
            grace=grace,
        )
        await _act(ctx, run, market, decided, now)
    async with ctx.db.write() as session:
        await log_event(
            session,
            "resolution_check_complete",
            {
                "markets_checked": run.markets_checked,
                "markets_resolved": run.markets_resolved,
                "positions_settled": run.positions_settled,
                "errors": len(run.errors),
            },
            "info",
            now,
        )
    return run


async def markets_to_check(session: AsyncSession, now: datetime) -> list[MarketRef]:
    """Closed markets, markets flagged resolved without an outcome, and active markets past
    their close date (Gamma stopped answering for them before a sync saw them close: without
    this they would hold their positions open forever), latest close first."""
    rows = await session.execute(
        select(Market.id, Market.polymarket_id, Market.question, Market.close_date)
        .where(
            or_(
                Market.status == "closed",
                (Market.status == "resolved") & Market.resolution_outcome.is_(None),
                (Market.status == "active") & (Market.close_date < now),
            )
        )
        .order_by(Market.close_date.desc(), Market.id)
    )
    return [MarketRef(*row) for row in rows.all()]


async def _fetch_all(
    ctx: Context, markets: list[MarketRef]
) -> dict[str, GammaMarket | Exception | None]:
    client = ctx.clients.polymarket
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(market: MarketRef) -> GammaMarket | Exception | None:
        async with gate:
            try:
                return await client.gamma.fetch_market(market.polymarket_id)
            except (PolymarketError, MalformedMarket) as exc:
                return exc

    found = await asyncio.gather(*(one(m) for m in markets))
    return {market.id: item for market, item in zip(markets, found, strict=True)}


# --- one market -------------------------------------------------------------------------------


async def _act(
    ctx: Context, run: ResolutionRun, market: MarketRef, decided: Verdict, now: datetime
) -> None:
    if decided.kind == "pending":
        return
    if decided.kind == "missing":
        run.errors.append(f"Market {market.id}: {decided.reason}")
        return
    if decided.kind == "undecided":
        async with ctx.db.write() as session:
            await log_event(
                session,
                "resolution_unknown_winner",
                {
                    "market_id": market.id,
                    "polymarket_id": market.polymarket_id,
                    "question": market.question[:QUESTION_CHARS],
                    "error": decided.reason,
                    "fallback_outcome": "deferred",
                },
                "warning",
                now,
            )
        run.errors.append(f"Market {market.id}: {decided.reason}")
        return
    assert decided.winner is not None
    await settle_market(ctx, run, market, decided, now)


async def settle_market(
    ctx: Context, run: ResolutionRun, market: MarketRef, decided: Verdict, now: datetime
) -> bool:
    """Settle every open position of a decided market, each in its own unit of work, then mark
    the market resolved; returns whether it was. A failure leaves the market closed."""
    winner = decided.winner or CANCELLED
    refund = decided.kind == "refund"
    async with ctx.db.read() as session:
        open_ids = list(
            await session.scalars(
                select(Position.id)
                .where(Position.market_id == market.id, Position.status == "open")
                .order_by(Position.opened_at, Position.id)
            )
        )
    settled = 0
    failures: list[str] = []
    for position_id in open_ids:
        try:
            async with ctx.db.write() as session:
                done = await settle_position(session, position_id, winner, now, refund=refund)
        except Exception as exc:
            failures.append(f"Position {position_id}: {exc}")
            continue
        if done is not None:
            settled += 1
    run.positions_settled += settled
    if not failures:
        async with ctx.db.write() as session:
            resolved = await _mark_resolved(session, market, winner, refund, settled, decided, now)
        if resolved:
            run.markets_resolved += 1
            return True
        failures.append("positions were opened on the market while it was being settled")
    async with ctx.db.write() as session:
        await log_event(
            session,
            "market_resolution_partial_failure",
            {
                "market_id": market.id,
                "polymarket_id": market.polymarket_id,
                "winning_outcome": winner,
                "positions_settled": settled,
                "errors": failures,
            },
            "error",
            now,
        )
    run.errors.append(f"Market {market.id}: {'; '.join(failures)}")
    return False


async def _mark_resolved(
    session: AsyncSession,
    market: MarketRef,
    winner: str,
    refund: bool,
    settled: int,
    decided: Verdict,
    now: datetime,
) -> bool:
    """Mark the market resolved (only while no open position is left on it), record its Brier
    rows and log it, in one unit of work."""
    still_open = await session.scalar(
        select(func.count())
        .select_from(Position)
        .where(Position.market_id == market.id, Position.status == "open")
    )
    if still_open:
        return False
    await session.execute(
        update(Market)
        .where(Market.id == market.id)
        .values(status="resolved", resolution_outcome=winner, resolved_at=now, last_updated_at=now)
    )
    if refund:
        await log_event(
            session,
            "market_cancelled",
            {"market_id": market.id, "positions_refunded": settled, "reason": decided.reason},
            "info",
            now,
        )
        return True
    recorded = await record_brier_scores(session, market.id, winner, now)
    await log_event(
        session,
        "market_resolved",
        {
            "market_id": market.id,
            "polymarket_id": market.polymarket_id,
            "winning_outcome": winner,
            "positions_settled": settled,
            "brier_scores_recorded": recorded,
        },
        "info",
        now,
    )
    return True


# --- the anchor's per-trade Brier (§8.5) ------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def record_brier_scores(
    session: AsyncSession, market_id: str, winner: str, now: datetime
) -> int:
    """One `brier_scores` row per BUY trade on the market (positions sold before the market
    resolved included), on the trade's implied confidence; a trade already scored keeps its
    row. Trades without a usable confidence are skipped (`brier_scores_skipped`). Returns how
    many rows were written."""
    trades = (
        await session.scalars(
            select(Trade)
            .where(Trade.market_id == market_id, Trade.trade_type == "BUY")
            .order_by(Trade.executed_at, Trade.id)
        )
    ).all()
    rows = []
    skipped = 0
    for trade in trades:
        confidence = trade.implied_confidence
        if confidence is None or not 0 <= confidence <= 1:
            skipped += 1
            continue
        won = side_won(trade.side, winner)
        rows.append(
            {
                "id": new_id(now),
                "agent_id": trade.agent_id,
                "trade_id": trade.id,
                "market_id": market_id,
                "family_id": trade.family_id,
                "release_id": trade.release_id,
                "benchmark_config_model_id": trade.benchmark_config_model_id,
                "forecast_probability": confidence,
                "actual_outcome": 1.0 if won else 0.0,
                "brier_score": confidence_brier(confidence, won),
                "calculated_at": now,
            }
        )
    recorded = 0
    for start in range(0, len(rows), BRIER_BATCH):
        statement = (
            _insert(session)(BrierScore)
            .values(rows[start : start + BRIER_BATCH])
            .on_conflict_do_nothing(index_elements=["trade_id"])
            .returning(BrierScore.id)
        )
        recorded += len((await session.execute(statement)).all())
    if skipped:
        await log_event(
            session,
            "brier_scores_skipped",
            {"market_id": market_id, "skipped_count": skipped, "recorded_count": recorded},
            "warning",
            now,
        )
    return recorded
