"""The market pages (§12.1.4, §12.1.5): the filtered, sorted, paged list and one market with
its open positions, recent trades and Brier scores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import Market
from arenabrain.arena.read_models.values import (
    FALLBACK_COLOR,
    OPENING_DECISION,
    ids_param,
    rows,
)
from arenabrain.arena.schemas.pages import MarketsQuery
from arenabrain.arena.wire import iso, row_dict
from arenabrain.context import Context
from arenabrain.errors import NotFound

MARKET_TRADES = 100

OPEN_IN_CURRENT_COHORTS = (
    "SELECT p.market_id, COUNT(DISTINCT p.agent_id) AS n FROM positions p "
    "JOIN agents a ON a.id = p.agent_id JOIN cohorts c ON c.id = a.cohort_id "
    "WHERE p.status = 'open' AND c.is_archived = 0"
)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_markets(session: AsyncSession, query: MarketsQuery, now: datetime) -> dict[str, Any]:
    """`GET /api/markets`: filtered, sorted, paged markets with position counts and stats."""
    markets = Market.__table__.c
    statement = select(Market.__table__)
    if query.status != "all":
        statement = statement.where(markets.status == query.status)
    if query.category:
        statement = statement.where(markets.category == query.category)
    search = (query.search or "").strip()
    if search:
        statement = statement.where(
            markets.question.ilike(f"%{_escape_like(search)}%", escape="\\")
        )
    if query.cohort_bets == "true":
        held = text(
            "SELECT p.market_id FROM positions p JOIN agents a ON a.id = p.agent_id "
            "JOIN cohorts c ON c.id = a.cohort_id "
            "WHERE p.status = 'open' AND c.status = 'active' AND c.is_archived = 0"
        ).columns(market_id=markets.id.type)
        statement = statement.where(markets.id.in_(select(held.subquery().c.market_id)))
    total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    order: tuple[Any, ...]
    if query.sort == "close_date":
        order = (markets.close_date.asc(), markets.id.asc())
    elif query.sort == "created":
        order = (markets.first_seen_at.desc(), markets.id.asc())
    else:
        order = (markets.volume.desc().nulls_last(), markets.id.asc())
    page = rows(
        await session.execute(statement.order_by(*order).limit(query.limit).offset(query.offset))
    )
    counts: dict[str, int] = dict(
        (
            await session.execute(
                text(
                    OPEN_IN_CURRENT_COHORTS + " AND p.market_id IN :ids GROUP BY p.market_id"
                ).bindparams(ids_param()),
                {"ids": [m["id"] for m in page] or [""]},
            )
        ).all()
    )
    stats = (
        await session.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM markets) AS total_markets, "
                "(SELECT COUNT(*) FROM markets WHERE status = 'active') AS active_markets, "
                f"(SELECT COUNT(*) FROM ({OPEN_IN_CURRENT_COHORTS} GROUP BY p.market_id) held) "
                "AS markets_with_positions"
            )
        )
    ).one()
    categories = (
        await session.scalars(
            select(markets.category).where(markets.category.is_not(None)).distinct()
        )
    ).all()
    return {
        "markets": [{**m, "positions_count": int(counts.get(m["id"], 0))} for m in page],
        "total": total,
        "has_more": query.offset + query.limit < total,
        "categories": sorted(categories),
        "stats": {
            "total_markets": int(stats.total_markets),
            "active_markets": int(stats.active_markets),
            "markets_with_positions": int(stats.markets_with_positions),
            "categories_count": len(categories),
        },
        "updated_at": iso(now),
    }


DISPLAY_FROM_SLOT = (
    "COALESCE(bcm.family_display_name_snapshot, f.public_display_name, a.model_id) "
    "AS model_display_name, "
    "COALESCE(bcm.release_display_name_snapshot, r.release_name) AS model_release_name, "
    f"COALESCE(bcm.color_snapshot, f.color, '{FALLBACK_COLOR}') AS model_color, "
    "f.slug AS family_slug, f.legacy_model_id AS legacy_model_id"
)


async def market_detail(
    session: AsyncSession, market_id: str, now: datetime
) -> dict[str, Any] | None:
    """`GET /api/markets/{id}`: the market with open positions, recent trades, Brier scores."""
    market = await session.get(Market, market_id)
    if market is None:
        return None
    positions = await session.execute(
        text(
            "SELECT p.*, a.family_id AS family_id, a.release_id AS release_id, "
            + DISPLAY_FROM_SLOT
            + f", {OPENING_DECISION} AS decision_id "
            "FROM positions p JOIN agents a ON a.id = p.agent_id "
            "JOIN cohorts c ON c.id = a.cohort_id "
            "LEFT JOIN model_families f ON f.id = a.family_id "
            "LEFT JOIN model_releases r ON r.id = a.release_id "
            "LEFT JOIN benchmark_config_models bcm ON bcm.id = a.benchmark_config_model_id "
            "WHERE p.market_id = :market AND p.status = 'open' AND c.is_archived = 0 "
            "ORDER BY p.total_cost DESC"
        ),
        {"market": market_id},
    )
    lineage = (
        "JOIN agents a ON a.id = x.agent_id JOIN cohorts c ON c.id = a.cohort_id "
        "LEFT JOIN model_families f ON f.id = COALESCE(x.family_id, a.family_id) "
        "LEFT JOIN model_releases r ON r.id = COALESCE(x.release_id, a.release_id) "
        "LEFT JOIN benchmark_config_models bcm "
        "ON bcm.id = COALESCE(x.benchmark_config_model_id, a.benchmark_config_model_id) "
    )
    trades = await session.execute(
        text(
            "SELECT x.*, " + DISPLAY_FROM_SLOT + ", "
            "COALESCE(x.family_id, a.family_id) AS family_id, "
            "COALESCE(x.release_id, a.release_id) AS release_id "
            "FROM trades x " + lineage + "WHERE x.market_id = :market AND c.is_archived = 0 "
            "ORDER BY x.executed_at DESC, x.id DESC LIMIT :limit"
        ),
        {"market": market_id, "limit": MARKET_TRADES},
    )
    briers: list[dict[str, Any]] = []
    if market.status == "resolved":
        briers = rows(
            await session.execute(
                text(
                    "SELECT x.*, " + DISPLAY_FROM_SLOT + ", "
                    "COALESCE(x.family_id, a.family_id) AS family_id, "
                    "COALESCE(x.release_id, a.release_id) AS release_id "
                    "FROM brier_scores x " + lineage + "WHERE x.market_id = :market "
                    "AND c.is_archived = 0 ORDER BY x.brier_score ASC"
                ),
                {"market": market_id},
            )
        )
    return {
        "market": row_dict(market),
        "positions": rows(positions),
        "trades": rows(trades),
        "brier_scores": briers,
        "updated_at": iso(now),
    }


async def get_markets(
    ctx: Context, query: MarketsQuery | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The market list (route and CLI); a mapping is read as `MarketsQuery` parameters."""
    if not isinstance(query, MarketsQuery):
        query = MarketsQuery.model_validate(query or {})
    async with ctx.db.read() as session:
        return await list_markets(session, query, ctx.clock.now())


async def get_market(ctx: Context, market_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await market_detail(session, market_id, ctx.clock.now())
    if found is None:
        raise NotFound("Market not found")
    return found
