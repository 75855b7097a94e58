"""Public read models: the market list and detail, the cohort page, the model page and one
model's page within a cohort (§12.1.4-§12.1.8). Plain queries over the anchor's tables and
identity views; no writes.

JSON conventions: keys are snake_case; row timestamps are ISO 8601 UTC with milliseconds and
`Z` (`2026-03-01T00:00:00.000Z`); chart points keep the stored bucket text
(`2026-03-01 00:00:00`), as the anchor's performance series do. Archived cohorts are left out
of aggregates and live values are used for them, as the anchor does."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.markets import stored_side_price
from arenabrain.arena.models import Cohort, Market
from arenabrain.arena.weeks import decision_week, elapsed_week_number
from arenabrain.context import Context
from arenabrain.db.timestamps import from_text, to_text
from arenabrain.errors import NotFound

INITIAL_BALANCE = 10000.0
FALLBACK_COLOR = "#94A3B8"
MARKETS_DEFAULT_LIMIT = 50
MARKETS_MAX_LIMIT = 100
RECENT_DECISIONS = 20
MARKET_TRADES = 100
WEEK_SECONDS = 7 * 86400
MONTH_BUCKET_SECONDS = 6 * 3600
TIME_KEYS = frozenset(
    {
        "added_at",
        "archived_at",
        "calculated_at",
        "checked_at",
        "close_date",
        "closed_at",
        "completed_at",
        "created_at",
        "decision_timestamp",
        "executed_at",
        "first_seen_at",
        "generated_at",
        "last_updated_at",
        "opened_at",
        "recorded_at",
        "resolved_at",
        "retired_at",
        "reviewed_at",
        "snapshot_timestamp",
        "started_at",
    }
)
FLAG_KEYS = frozenset({"is_archived", "is_default_for_future_cohorts", "is_active"})


# --- serialisation ----------------------------------------------------------------------------


def iso(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`; accepts datetimes and stored text."""
    if value is None:
        return None
    moment = from_text(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON values: timestamps as ISO, 0/1 flags as booleans."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in TIME_KEYS and value is not None:
            with contextlib.suppress(ValueError):  # an unparseable value is shown as stored
                value = iso(value)
        elif key in FLAG_KEYS and value is not None:
            value = bool(value)
        out[key] = value
    return out


def row_dict(obj: Any) -> dict[str, Any]:
    """Every mapped column of an ORM object, as JSON values."""
    mapper = inspect(obj).mapper
    return plain({column.key: getattr(obj, column.key) for column in mapper.column_attrs})


def _rows(result: Any) -> list[dict[str, Any]]:
    return [plain(dict(row._mapping)) for row in result]


def int_param(value: str | None, default: int, maximum: int | None = None) -> int:
    """The anchor's `parseIntParam`: leading digits (`"10abc"` is 10); missing, not a number or
    negative gives the default; capped at `maximum`."""
    if value is None:
        return default
    match = re.match(r"\s*([+-]?\d+)", value)
    if match is None:
        return default
    number = int(match.group(1))
    if number < 0:
        return default
    return min(number, maximum) if maximum is not None else number


# --- decision window (pure) -------------------------------------------------------------------


def decision_threshold(latest_cohort_number: int, limit: int) -> int:
    """The lowest cohort number inside the decision window of the newest `limit` cohorts."""
    return max(1, latest_cohort_number - limit + 1)


def decision_status(status: str, is_archived: bool, number: int, threshold: int) -> str:
    if status == "completed":
        return "completed"
    if is_archived:
        return "tracking_only"
    return "decisioning" if status == "active" and number >= threshold else "tracking_only"


def cohort_flags(cohort: Mapping[str, Any], threshold: int) -> dict[str, Any]:
    status = decision_status(
        cohort["status"], bool(cohort["is_archived"]), cohort["cohort_number"], threshold
    )
    return {
        "scoring_status": "archived" if cohort["is_archived"] else "current",
        "decision_eligible": status == "decisioning",
        "decision_status": status,
    }


async def current_threshold(session: AsyncSession, limit: int) -> int:
    latest = await session.scalar(select(func.max(Cohort.cohort_number)))
    return decision_threshold(latest or 0, limit)


# --- agent values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentValue:
    cash_balance: float
    total_value: float
    brier_score: float | None
    num_resolved_bets: int

    @property
    def total_pnl(self) -> float:
        return self.total_value - INITIAL_BALANCE

    @property
    def total_pnl_percent(self) -> float:
        return self.total_pnl / INITIAL_BALANCE * 100


def _ids(name: str = "ids") -> Any:
    return bindparam(name, expanding=True)


async def agent_values(
    session: AsyncSession, agents: Sequence[Mapping[str, Any]]
) -> dict[str, AgentValue]:
    """Each agent's value: its latest snapshot, or (archived cohort or no snapshot yet) the live
    `cash + sum(current_value or total_cost)` of its open positions."""
    ids = [a["id"] for a in agents]
    if not ids:
        return {}
    latest = {
        row.agent_id: row
        for row in await session.execute(
            text(
                "SELECT s.agent_id, s.total_value FROM portfolio_snapshots s "
                "JOIN (SELECT agent_id, MAX(snapshot_timestamp) AS ts FROM portfolio_snapshots "
                "WHERE agent_id IN :ids GROUP BY agent_id) l "
                "ON l.agent_id = s.agent_id AND l.ts = s.snapshot_timestamp"
            ).bindparams(_ids()),
            {"ids": ids},
        )
    }
    held: dict[str, Any] = dict(
        (
            await session.execute(
                text(
                    "SELECT agent_id, SUM(COALESCE(current_value, total_cost)) FROM positions "
                    "WHERE status = 'open' AND agent_id IN :ids GROUP BY agent_id"
                ).bindparams(_ids()),
                {"ids": ids},
            )
        ).all()
    )
    brier = {
        row.agent_id: row
        for row in await session.execute(
            text(
                "SELECT agent_id, AVG(brier_score) AS avg_brier, COUNT(*) AS n FROM brier_scores "
                "WHERE agent_id IN :ids GROUP BY agent_id"
            ).bindparams(_ids()),
            {"ids": ids},
        )
    }
    values = {}
    for agent in agents:
        snapshot = latest.get(agent["id"])
        live = float(agent["cash_balance"]) + float(held.get(agent["id"]) or 0.0)
        use_live = snapshot is None or bool(agent.get("is_archived"))
        scores = brier.get(agent["id"])
        values[agent["id"]] = AgentValue(
            cash_balance=float(agent["cash_balance"]),
            total_value=live if use_live or snapshot is None else float(snapshot.total_value),
            brier_score=float(scores.avg_brier)
            if scores and scores.avg_brier is not None
            else None,
            num_resolved_bets=int(scores.n) if scores else 0,
        )
    return values


# --- markets ----------------------------------------------------------------------------------

OPEN_IN_CURRENT_COHORTS = (
    "SELECT p.market_id, COUNT(DISTINCT p.agent_id) AS n FROM positions p "
    "JOIN agents a ON a.id = p.agent_id JOIN cohorts c ON c.id = a.cohort_id "
    "WHERE p.status = 'open' AND c.is_archived = 0"
)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_markets(
    session: AsyncSession, query: Mapping[str, str | None], now: datetime
) -> dict[str, Any]:
    """`GET /api/markets`: filtered, sorted, paged markets with position counts and stats."""
    limit = int_param(query.get("limit"), MARKETS_DEFAULT_LIMIT, MARKETS_MAX_LIMIT)
    offset = int_param(query.get("offset"), 0)
    status = query.get("status") or "active"
    statement = select(Market)
    if status != "all":
        statement = statement.where(Market.status == status)
    if query.get("category"):
        statement = statement.where(Market.category == query["category"])
    search = (query.get("search") or "").strip()
    if search:
        statement = statement.where(Market.question.ilike(f"%{_escape_like(search)}%", escape="\\"))
    if query.get("cohort_bets") == "true":
        held = text(
            "SELECT p.market_id FROM positions p JOIN agents a ON a.id = p.agent_id "
            "JOIN cohorts c ON c.id = a.cohort_id "
            "WHERE p.status = 'open' AND c.status = 'active' AND c.is_archived = 0"
        ).columns(market_id=Market.id.type)
        statement = statement.where(Market.id.in_(select(held.subquery().c.market_id)))
    total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    sort = query.get("sort") or "volume"
    order: tuple[Any, ...]
    if sort == "close_date":
        order = (Market.close_date.asc(), Market.id.asc())
    elif sort == "created":
        order = (Market.first_seen_at.desc(), Market.id.asc())
    else:
        order = (Market.volume.desc().nulls_last(), Market.id.asc())
    page = (await session.scalars(statement.order_by(*order).limit(limit).offset(offset))).all()
    counts: dict[str, int] = dict(
        (
            await session.execute(
                text(
                    OPEN_IN_CURRENT_COHORTS + " AND p.market_id IN :ids GROUP BY p.market_id"
                ).bindparams(_ids()),
                {"ids": [m.id for m in page] or [""]},
            )
        ).all()
    )
    categories = (
        await session.scalars(
            select(Market.category).where(Market.category.is_not(None)).distinct()
        )
    ).all()
    total_markets = await session.scalar(select(func.count()).select_from(Market)) or 0
    active_markets = (
        await session.scalar(
            select(func.count()).select_from(Market).where(Market.status == "active")
        )
        or 0
    )
    with_positions = (
        await session.scalar(
            text(f"SELECT COUNT(*) FROM ({OPEN_IN_CURRENT_COHORTS} GROUP BY p.market_id) held")
        )
        or 0
    )
    return {
        "markets": [{**row_dict(m), "positions_count": int(counts.get(m.id, 0))} for m in page],
        "total": total,
        "has_more": offset + limit < total,
        "categories": sorted(categories),
        "stats": {
            "total_markets": total_markets,
            "active_markets": active_markets,
            "markets_with_positions": with_positions,
            "categories_count": len(categories),
        },
        "updated_at": iso(now),
    }


# The decision that opened position `p`: its earliest BUY, else the earliest BUY of the same
# agent, market and side (rows written before trades carried a position id).
OPENING_DECISION = (
    "COALESCE((SELECT t.decision_id FROM trades t WHERE t.position_id = p.id "
    "AND t.trade_type = 'BUY' ORDER BY t.executed_at, t.id LIMIT 1), "
    "(SELECT t.decision_id FROM trades t WHERE t.agent_id = p.agent_id "
    "AND t.market_id = p.market_id AND t.side = p.side AND t.trade_type = 'BUY' "
    "ORDER BY t.executed_at, t.id LIMIT 1))"
)

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
        briers = _rows(
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
        "positions": _rows(positions),
        "trades": _rows(trades),
        "brier_scores": briers,
        "updated_at": iso(now),
    }


# --- cohorts ----------------------------------------------------------------------------------


def bucket_text(moment: datetime, seconds: int) -> str:
    """The start of the epoch-aligned bucket containing `moment`, as stored text."""
    epoch = int(moment.timestamp())
    return to_text(datetime.fromtimestamp(epoch - epoch % seconds, UTC), fraction=False)


async def _snapshots(
    session: AsyncSession, agent_ids: Sequence[str], since: datetime | None = None
) -> list[Any]:
    if not agent_ids:
        return []
    sql = (
        "SELECT agent_id, snapshot_timestamp, total_value FROM portfolio_snapshots "
        "WHERE agent_id IN :ids"
    )
    params: dict[str, Any] = {"ids": list(agent_ids)}
    if since is not None:
        sql += " AND snapshot_timestamp >= :since"
        params["since"] = to_text(since)
    sql += " ORDER BY snapshot_timestamp, agent_id"
    return list(await session.execute(text(sql).bindparams(_ids()), params))


def bucketed_series(
    snapshots: Iterable[Any], family_of: Mapping[str, str], seconds: int
) -> dict[str, list[tuple[str, float]]]:
    """Per family, per bucket: the latest snapshot of each agent, averaged over the agents."""
    latest: dict[tuple[str, str], dict[str, float]] = {}
    for row in snapshots:
        bucket = bucket_text(from_text(row.snapshot_timestamp), seconds)
        latest.setdefault((family_of[row.agent_id], bucket), {})[row.agent_id] = float(
            row.total_value
        )
    series: dict[str, list[tuple[str, float]]] = {}
    for (family, bucket), by_agent in sorted(latest.items(), key=lambda item: item[0][1]):
        series.setdefault(family, []).append((bucket, sum(by_agent.values()) / len(by_agent)))
    return series


def release_changes(
    first_uses: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """From rows `{family_slug, family_name, release_name, color, first_at}` (each family's
    releases by first decision), one change event per release that replaced another."""
    by_family: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(first_uses, key=lambda r: str(r["first_at"])):
        by_family.setdefault(row["family_slug"], []).append(row)
    changes = []
    for slug, rows in by_family.items():
        for previous, current in itertools.pairwise(rows):
            changes.append(
                {
                    "date": iso(current["first_at"]),
                    "model_id": slug,
                    "model_name": current["family_name"],
                    "previous_release_name": previous["release_name"],
                    "release_name": current["release_name"],
                    "color": current["color"] or FALLBACK_COLOR,
                }
            )
    return sorted(changes, key=lambda c: str(c["date"]))


FIRST_RELEASE_USES = (
    "SELECT di.family_slug AS family_slug, MAX(di.family_display_name) AS family_name, "
    "di.release_id AS release_id, MAX(di.release_display_name) AS release_name, "
    "MAX(di.color) AS color, MIN(d.decision_timestamp) AS first_at "
    "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
    "JOIN cohorts c ON c.id = d.cohort_id "
)

DECISION_DISPLAY = (
    "SELECT d.id, d.agent_id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
    "d.reasoning, c.cohort_number, di.family_display_name AS model_display_name, "
    "di.color AS model_color, di.family_slug AS family_slug, "
    "di.legacy_model_id AS legacy_model_id, di.family_id AS family_id, "
    "di.release_id AS release_id, di.release_display_name AS model_release_name "
    "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
    "JOIN cohorts c ON c.id = d.cohort_id "
)


async def cohort_detail(
    session: AsyncSession, cohort_id: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any] | None:
    """`GET /api/cohorts/{id}`: the cohort, its agents ranked by value, stats, equity curves."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        return None
    threshold = await current_threshold(session, decision_cohort_limit)
    cohort_row = row_dict(cohort)
    agents = _rows_raw(
        await session.execute(
            text(
                "SELECT a.*, ai.family_slug, ai.legacy_model_id AS identity_legacy_model_id, "
                "f.legacy_model_id AS family_legacy_model_id, "
                "COALESCE(ai.family_display_name, a.model_id) AS model_display_name, "
                f"COALESCE(ai.color, '{FALLBACK_COLOR}') AS model_color, "
                "ai.release_display_name AS model_release_name, "
                "(SELECT COUNT(*) FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = a.id AND p.status = 'open' AND m.status = 'active') "
                "AS position_count, "
                "(SELECT COUNT(*) FROM trades t WHERE t.agent_id = a.id) AS trade_count "
                "FROM agents a JOIN agent_benchmark_identity_v ai ON ai.agent_id = a.id "
                "LEFT JOIN model_families f ON f.id = a.family_id "
                "WHERE a.cohort_id = :cohort"
            ),
            {"cohort": cohort_id},
        )
    )
    for agent in agents:
        agent["is_archived"] = cohort.is_archived
    values = await agent_values(session, agents)
    agent_rows = []
    for agent in agents:
        value = values[agent["id"]]
        agent_rows.append(
            {
                "id": agent["id"],
                "family_slug": agent["family_slug"],
                "family_id": agent["family_id"],
                "legacy_model_id": agent["family_legacy_model_id"] or agent["model_id"],
                "release_id": agent["release_id"],
                "benchmark_config_model_id": agent["benchmark_config_model_id"],
                "model_display_name": agent["model_display_name"],
                "model_color": agent["model_color"],
                "model_release_name": agent["model_release_name"],
                "cash_balance": float(agent["cash_balance"]),
                "total_invested": float(agent["total_invested"]),
                "status": agent["status"],
                "total_value": value.total_value,
                "total_pnl": value.total_pnl,
                "total_pnl_percent": value.total_pnl_percent,
                "brier_score": value.brier_score,
                "position_count": int(agent["position_count"]),
                "trade_count": int(agent["trade_count"]),
                "num_resolved_bets": value.num_resolved_bets,
            }
        )
    agent_rows.sort(key=lambda a: -a["total_value"])
    ids = [a["id"] for a in agents]
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM trades WHERE agent_id IN :ids) AS trades, "
                "(SELECT COUNT(*) FROM positions WHERE status = 'open' AND agent_id IN :ids) "
                "AS open_positions, "
                "(SELECT COUNT(DISTINCT market_id) FROM positions WHERE agent_id IN :ids) "
                "AS markets"
            ).bindparams(_ids()),
            {"ids": ids or [""]},
        )
    ).one()
    briers = [a["brier_score"] for a in agent_rows if a["brier_score"] is not None]
    series = bucketed_series(
        await _snapshots(session, ids), {a["id"]: a["family_slug"] for a in agents}, WEEK_SECONDS
    )
    first_uses = _rows_raw(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE d.cohort_id = :cohort AND d.action <> 'ERROR' "
                "GROUP BY di.family_slug, di.release_id"
            ),
            {"cohort": cohort_id},
        )
    )
    decisions = _rows(
        await session.execute(
            text(
                DECISION_DISPLAY + "WHERE d.cohort_id = :cohort "
                "ORDER BY d.decision_timestamp DESC, d.id DESC LIMIT :limit"
            ),
            {"cohort": cohort_id, "limit": RECENT_DECISIONS},
        )
    )
    return {
        "cohort": {**cohort_row, **cohort_flags(cohort_row, threshold)},
        "agents": agent_rows,
        "stats": {
            "week_number": decision_week(cohort.started_at, now),
            "total_trades": int(counts.trades),
            "total_positions_open": int(counts.open_positions),
            "markets_with_positions": int(counts.markets),
            "total_resolved_bets": sum(a["num_resolved_bets"] for a in agent_rows),
            "avg_brier_score": sum(briers) / len(briers) if briers else None,
        },
        "equity_curves": {
            family: [{"date": date, "value": value} for date, value in points]
            for family, points in series.items()
        },
        "release_changes": release_changes(first_uses),
        "recent_decisions": decisions,
        "updated_at": iso(now),
    }


def _rows_raw(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


# --- models (families) ------------------------------------------------------------------------


async def _current_release(session: AsyncSession, family_id: str) -> tuple[str | None, str | None]:
    """The release the default config's slot uses for the family, else its newest release."""
    slot = (
        await session.execute(
            text(
                "SELECT bcm.release_id, bcm.release_display_name_snapshot AS name "
                "FROM benchmark_config_models bcm "
                "JOIN benchmark_configs bc ON bc.id = bcm.benchmark_config_id "
                "WHERE bc.is_default_for_future_cohorts = 1 AND bcm.family_id = :family "
                "ORDER BY bc.created_at DESC LIMIT 1"
            ),
            {"family": family_id},
        )
    ).first()
    if slot is not None:
        return slot.release_id, slot.name
    newest = (
        await session.execute(
            text(
                "SELECT id, release_name FROM model_releases WHERE family_id = :family "
                "ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"family": family_id},
        )
    ).first()
    return (newest.id, newest.release_name) if newest is not None else (None, None)


async def find_family(session: AsyncSession, key: str) -> Any | None:
    """The model family a public URL names: by id, else slug, else legacy model id."""
    return (
        await session.execute(
            text(
                "SELECT * FROM model_families WHERE id = :key OR slug = :key "
                "OR legacy_model_id = :key "
                "ORDER BY CASE WHEN id = :key THEN 0 WHEN slug = :key THEN 1 ELSE 2 END LIMIT 1"
            ),
            {"key": key},
        )
    ).first()


async def model_detail(
    session: AsyncSession, key: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any] | None:
    """`GET /api/models/{id}` (family id, slug or legacy model id): the family's record."""
    family = await find_family(session, key)
    if family is None:
        return None
    release_id, release_name = await _current_release(session, family.id)
    agents = _rows_raw(
        await session.execute(
            text(
                "SELECT a.*, c.cohort_number, c.status AS cohort_status, c.methodology_version, "
                "c.is_archived, c.archived_at, c.archive_reason "
                "FROM agents a JOIN cohorts c ON c.id = a.cohort_id WHERE a.family_id = :family "
                "ORDER BY c.cohort_number DESC"
            ),
            {"family": family.id},
        )
    )
    values = await agent_values(session, agents)
    current: list[dict[str, Any]] = []
    archived: list[dict[str, Any]] = []
    for agent in agents:
        value = values[agent["id"]]
        row = plain(
            {
                "cohort_id": agent["cohort_id"],
                "cohort_number": agent["cohort_number"],
                "cohort_status": agent["cohort_status"],
                "methodology_version": agent["methodology_version"],
                "is_archived": agent["is_archived"],
                "archived_at": agent["archived_at"],
                "archive_reason": agent["archive_reason"],
                "scoring_status": "archived" if agent["is_archived"] else "current",
                "agent_status": agent["status"],
                "cash_balance": value.cash_balance,
                "total_value": value.total_value,
                "total_pnl": value.total_pnl,
                "total_pnl_percent": value.total_pnl_percent,
                "brier_score": value.brier_score,
                "num_resolved_bets": value.num_resolved_bets,
            }
        )
        (archived if agent["is_archived"] else current).append(row)
    total_pnl = sum(row["total_pnl"] for row in current)
    briers = [row["brier_score"] for row in current if row["brier_score"] is not None]
    wins = (
        await session.execute(
            text(
                "SELECT COUNT(*) AS total, "
                "SUM(CASE WHEN UPPER(t.side) = UPPER(m.resolution_outcome) THEN 1 ELSE 0 END) "
                "AS wins FROM trades t JOIN agents a ON a.id = t.agent_id "
                "JOIN cohorts c ON c.id = a.cohort_id JOIN markets m ON m.id = t.market_id "
                "WHERE COALESCE(t.family_id, a.family_id) = :family AND t.trade_type = 'BUY' "
                "AND m.status = 'resolved' AND m.resolution_outcome IS NOT NULL "
                "AND m.resolution_outcome <> 'CANCELLED' AND c.is_archived = 0"
            ),
            {"family": family.id},
        )
    ).one()
    decisions = _rows(
        await session.execute(
            text(
                "SELECT d.id, d.cohort_id, d.decision_week, d.decision_timestamp, d.action, "
                "d.reasoning, c.cohort_number, di.release_id AS model_release_id, "
                "di.release_display_name AS model_release_name "
                "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
                "JOIN cohorts c ON c.id = d.cohort_id "
                "WHERE di.family_id = :family AND c.is_archived = 0 "
                "ORDER BY d.decision_timestamp DESC, d.id DESC LIMIT :limit"
            ),
            {"family": family.id, "limit": RECENT_DECISIONS},
        )
    )
    current_ids = [a["id"] for a in agents if not a["is_archived"]]
    latest = await session.scalar(
        text(
            "SELECT MAX(snapshot_timestamp) FROM portfolio_snapshots WHERE agent_id IN :ids"
        ).bindparams(_ids()),
        {"ids": current_ids or [""]},
    )
    since = from_text(latest) - timedelta(days=30) if latest else None
    series = bucketed_series(
        await _snapshots(session, current_ids, since),
        dict.fromkeys(current_ids, family.slug),
        MONTH_BUCKET_SECONDS,
    )
    first_uses = _rows_raw(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE di.family_id = :family AND c.is_archived = 0 "
                "AND d.action <> 'ERROR' GROUP BY di.family_slug, di.release_id"
            ),
            {"family": family.id},
        )
    )
    return {
        "model": {
            "id": family.slug,
            "family_id": family.id,
            "slug": family.slug,
            "legacy_model_id": family.legacy_model_id,
            "display_name": family.public_display_name,
            "short_display_name": family.short_display_name,
            "provider": family.provider or "Unknown",
            "color": family.color or FALLBACK_COLOR,
            "current_release_id": release_id,
            "current_release_name": release_name,
        },
        "num_cohorts": len(current),
        "total_pnl": total_pnl,
        "avg_pnl_percent": total_pnl / (len(current) * INITIAL_BALANCE) * 100 if current else 0,
        "avg_brier_score": sum(briers) / len(briers) if briers else None,
        "win_rate": (int(wins.wins or 0) / int(wins.total)) if wins.total else None,
        "cohort_performance": current,
        "archived_cohort_performance": archived,
        "recent_decisions": decisions,
        "equity_curve": [
            {"snapshot_timestamp": date, "total_value": value}
            for date, value in series.get(family.slug, [])
        ],
        "release_changes": release_changes(first_uses),
        "updated_at": iso(now),
    }


# --- one model in one cohort -----------------------------------------------------------------

AGENT_DECISIONS = 20
AGENT_TRADES = 50
AGENT_HISTORY = 50


def position_outcome(
    position: Mapping[str, Any], sold: tuple[float, float]
) -> tuple[str, float | None, float | None]:
    """The history label of a position that is no longer live (§8.7), with its settlement
    value and P/L. `position` has `status`, `side`, `shares`, `total_cost`, `market_status`
    and `resolution_outcome`; `sold` is (sum of SELL proceeds, sum of their cost basis).

    EXITED (sold out), CANCELLED (refunded at cost), WON / LOST (settled; the side is compared
    case-insensitively), PENDING (still open on a closed market), else UNKNOWN."""
    status = position["status"]
    shares = float(position["shares"] or 0.0)
    cost = float(position["total_cost"] or 0.0)
    if status == "closed":
        return "EXITED", sold[0], sold[0] - sold[1]
    if status == "settled":
        outcome = (position["resolution_outcome"] or "").upper()
        if outcome == "CANCELLED":
            return "CANCELLED", cost, 0.0
        if outcome and outcome == str(position["side"]).upper():
            return "WON", shares, shares - cost
        if outcome:
            return "LOST", 0.0, -cost
        return "UNKNOWN", None, None
    if status == "open" and position["market_status"] == "closed":
        return "PENDING", None, None
    return "UNKNOWN", None, None


def agent_rank(value: float, cohort_values: Iterable[float]) -> int:
    """1 + how many agents of the cohort are worth strictly more (ties share a rank)."""
    return 1 + sum(1 for other in cohort_values if other > value)


# BUY trades on markets that resolved to a winner, and how many picked it (case-insensitive;
# CANCELLED markets have no winner and count neither way).
RESOLVED_BUYS = (
    "SELECT COUNT(*) AS total, "
    "SUM(CASE WHEN UPPER(t.side) = UPPER(m.resolution_outcome) THEN 1 ELSE 0 END) AS wins "
    "FROM trades t JOIN markets m ON m.id = t.market_id "
    "WHERE t.trade_type = 'BUY' AND m.status = 'resolved' "
    "AND m.resolution_outcome IS NOT NULL AND UPPER(m.resolution_outcome) <> 'CANCELLED' "
)


async def cohort_model_detail(
    session: AsyncSession, cohort_id: str, key: str, now: datetime, decision_cohort_limit: int
) -> dict[str, Any]:
    """`GET /api/cohorts/{id}/models/{familySlugOrLegacyId}`: one agent's week-by-week record
    (§12.1.8). Raises NotFound naming the cohort, the model or the agent that is missing."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound("Cohort not found")
    family = await find_family(session, key)
    if family is None:
        raise NotFound("Model not found")
    agents = _rows_raw(
        await session.execute(
            text(
                "SELECT a.*, ai.family_slug, ai.family_display_name, ai.release_display_name, "
                "ai.provider, ai.color FROM agents a "
                "JOIN agent_benchmark_identity_v ai ON ai.agent_id = a.id "
                "WHERE a.cohort_id = :cohort ORDER BY a.created_at, a.id"
            ),
            {"cohort": cohort_id},
        )
    )
    agent = next((a for a in agents if a["family_id"] == family.id), None)
    if agent is None:
        raise NotFound("Agent not found in this cohort")
    agent_id = agent["id"]
    for row in agents:
        row["is_archived"] = cohort.is_archived
    values = await agent_values(session, agents)
    value = values[agent_id]
    percents = [v.total_pnl_percent for v in values.values()]
    threshold = await current_threshold(session, decision_cohort_limit)
    cohort_row = row_dict(cohort)
    total_markets = await session.scalar(
        text(
            "SELECT COUNT(DISTINCT p.market_id) FROM positions p "
            "JOIN agents a ON a.id = p.agent_id WHERE a.cohort_id = :cohort"
        ),
        {"cohort": cohort_id},
    )

    positions = _rows_raw(
        await session.execute(
            text(
                "SELECT p.*, m.question AS market_question, m.market_type AS market_type, "
                "m.current_price AS market_price, m.current_prices AS market_prices, "
                f"{OPENING_DECISION} AS opening_decision_id "
                "FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = :agent AND p.status = 'open' AND m.status = 'active' "
                "ORDER BY p.opened_at DESC, p.id"
            ),
            {"agent": agent_id},
        )
    )
    open_rows = []
    for row in positions:
        side_price = stored_side_price(
            {
                "market_type": row.pop("market_type"),
                "current_price": row.pop("market_price"),
                "current_prices": row.pop("market_prices"),
            },
            row["side"],
        )
        open_rows.append(plain({**row, "current_price": side_price}))

    history = _rows_raw(
        await session.execute(
            text(
                "SELECT p.*, m.question AS market_question, m.status AS market_status, "
                "m.resolution_outcome AS resolution_outcome, "
                "(SELECT COALESCE(SUM(t.total_amount), 0) FROM trades t "
                "WHERE t.position_id = p.id AND t.trade_type = 'SELL') AS sold_proceeds, "
                "(SELECT COALESCE(SUM(t.cost_basis), 0) FROM trades t "
                "WHERE t.position_id = p.id AND t.trade_type = 'SELL') AS sold_cost_basis "
                "FROM positions p JOIN markets m ON m.id = p.market_id "
                "WHERE p.agent_id = :agent AND (p.status <> 'open' OR m.status <> 'active') "
                "ORDER BY COALESCE(p.closed_at, p.opened_at) DESC, p.id DESC LIMIT :limit"
            ),
            {"agent": agent_id, "limit": AGENT_HISTORY},
        )
    )
    closed_rows = []
    for row in history:
        sold = (float(row.pop("sold_proceeds") or 0), float(row.pop("sold_cost_basis") or 0))
        outcome, settlement, pnl = position_outcome(row, sold)
        closed_rows.append(
            plain({**row, "outcome": outcome, "settlement_value": settlement, "pnl": pnl})
        )

    trades = [
        {"id": row.pop("id"), "timestamp": iso(row.pop("executed_at")), **row}
        for row in _rows_raw(
            await session.execute(
                text(
                    "SELECT t.id, t.executed_at, t.trade_type, t.side, t.shares, t.price, "
                    "t.total_amount, t.decision_id, t.market_id, m.question AS market_question, "
                    "d.decision_week FROM trades t JOIN markets m ON m.id = t.market_id "
                    "LEFT JOIN decisions d ON d.id = t.decision_id WHERE t.agent_id = :agent "
                    "ORDER BY t.executed_at DESC, t.id DESC LIMIT :limit"
                ),
                {"agent": agent_id, "limit": AGENT_TRADES},
            )
        )
    ]
    trade_count = await session.scalar(
        text("SELECT COUNT(*) FROM trades WHERE agent_id = :agent"), {"agent": agent_id}
    )
    wins = (
        await session.execute(text(RESOLVED_BUYS + "AND t.agent_id = :agent"), {"agent": agent_id})
    ).one()

    decisions = _rows(
        await session.execute(
            text(
                "SELECT id, decision_week, decision_timestamp, action, reasoning FROM decisions "
                "WHERE agent_id = :agent ORDER BY decision_timestamp DESC, id DESC LIMIT :limit"
            ),
            {"agent": agent_id, "limit": AGENT_DECISIONS},
        )
    )
    legs: dict[str, list[dict[str, Any]]] = {d["id"]: [] for d in decisions}
    if legs:
        for leg in await session.execute(
            text(
                "SELECT t.decision_id, t.trade_type, t.side, t.shares, t.price, t.total_amount, "
                "t.market_id, m.question AS market_question FROM trades t "
                "JOIN markets m ON m.id = t.market_id WHERE t.decision_id IN :ids "
                "ORDER BY t.executed_at, t.id"
            ).bindparams(_ids()),
            {"ids": list(legs)},
        ):
            item = dict(leg._mapping)
            legs[item.pop("decision_id")].append(item)

    series = bucketed_series(
        await _snapshots(session, [agent_id]), {agent_id: family.slug}, MONTH_BUCKET_SECONDS
    )
    first_uses = _rows_raw(
        await session.execute(
            text(
                FIRST_RELEASE_USES + "WHERE d.agent_id = :agent AND d.action <> 'ERROR' "
                "GROUP BY di.family_slug, di.release_id"
            ),
            {"agent": agent_id},
        )
    )
    legacy_model_id = family.legacy_model_id or agent["model_id"]
    return {
        "cohort": {
            "id": cohort.id,
            "cohort_number": cohort.cohort_number,
            "status": cohort.status,
            "started_at": iso(cohort.started_at),
            "completed_at": iso(cohort.completed_at),
            "benchmark_config_id": cohort.benchmark_config_id,
            "current_week": elapsed_week_number(cohort.started_at, now),
            "total_markets": int(total_markets or 0),
            "is_archived": bool(cohort.is_archived),
            "archived_at": iso(cohort.archived_at),
            "archive_reason": cohort.archive_reason,
            **cohort_flags(cohort_row, threshold),
        },
        "model": {
            "id": family.slug,
            "family_id": family.id,
            "family_slug": family.slug,
            "slug": family.slug,
            "legacy_model_id": legacy_model_id,
            "display_name": agent["family_display_name"] or family.public_display_name,
            "provider": agent["provider"] or family.provider or "Unknown",
            "color": agent["color"] or family.color or FALLBACK_COLOR,
            "release_id": agent["release_id"],
            "release_name": agent["release_display_name"],
            "benchmark_config_model_id": agent["benchmark_config_model_id"],
        },
        "agent": {
            "id": agent_id,
            "family_slug": family.slug,
            "family_id": family.id,
            "legacy_model_id": legacy_model_id,
            "benchmark_config_model_id": agent["benchmark_config_model_id"],
            "status": agent["status"],
            "cash_balance": float(agent["cash_balance"]),
            "total_invested": float(agent["total_invested"]),
            "total_value": value.total_value,
            "total_pnl": value.total_pnl,
            "total_pnl_percent": value.total_pnl_percent,
            "brier_score": value.brier_score,
            "num_resolved_bets": value.num_resolved_bets,
            "rank": agent_rank(value.total_value, (v.total_value for v in values.values())),
            "total_agents": len(agents),
        },
        "stats": {
            "position_count": len(open_rows),
            "trade_count": int(trade_count or 0),
            "win_rate": (int(wins.wins or 0) / int(wins.total)) if wins.total else None,
            "cohort_avg_pnl_percent": sum(percents) / len(percents),
            "cohort_best_pnl_percent": max(percents),
            "cohort_worst_pnl_percent": min(percents),
        },
        "equity_curve": [
            {"snapshot_timestamp": date, "total_value": total}
            for date, total in series.get(family.slug, [])
        ],
        "release_changes": release_changes(first_uses),
        "decisions": [{**d, "markets": legs[d["id"]]} for d in decisions],
        "positions": open_rows,
        "closed_positions": closed_rows,
        "trades": trades,
        "updated_at": iso(now),
    }


async def get_cohort_model(ctx: Context, cohort_id: str, key: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        return await cohort_model_detail(
            session, cohort_id, key, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )


async def get_markets(ctx: Context, query: Mapping[str, str | None]) -> dict[str, Any]:
    """The market list (route and CLI)."""
    async with ctx.db.read() as session:
        return await list_markets(session, query, ctx.clock.now())


async def get_market(ctx: Context, market_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await market_detail(session, market_id, ctx.clock.now())
    if found is None:
        raise NotFound("Market not found")
    return found


async def get_cohort(ctx: Context, cohort_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await cohort_detail(
            session, cohort_id, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
    if found is None:
        raise NotFound("Cohort not found")
    return found


async def get_model(ctx: Context, key: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        found = await model_detail(
            session, key, ctx.clock.now(), ctx.settings.decision_cohort_limit
        )
    if found is None:
        raise NotFound("Model not found")
    return found


def decode_json(value: str | None, default: Any) -> Any:
    try:
        return json.loads(value) if value else default
    except ValueError:
        return default


__all__ = [
    "AgentValue",
    "agent_values",
    "cohort_detail",
    "cohort_flags",
    "cohort_model_detail",
    "decision_status",
    "decision_threshold",
    "int_param",
    "iso",
    "list_markets",
    "market_detail",
    "model_detail",
    "plain",
    "row_dict",
]
