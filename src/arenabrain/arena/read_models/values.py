"""What the public pages share: agents' values, equity series in time buckets, the release
changes drawn on the charts, and the SQL pieces and row conversions the pages' queries use.

Archived cohorts are left out of aggregates and live values are used for them, as the anchor
does."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.cohorts import INITIAL_BALANCE
from arenabrain.arena.wire import iso, plain
from arenabrain.db.timestamps import from_text, to_text

FALLBACK_COLOR = "#94A3B8"
WEEK_SECONDS = 7 * 86400
MONTH_BUCKET_SECONDS = 6 * 3600

# The decision that opened position `p`: its earliest BUY, else the earliest BUY of the same
# agent, market and side (rows written before trades carried a position id).
OPENING_DECISION = (
    "COALESCE((SELECT t.decision_id FROM trades t WHERE t.position_id = p.id "
    "AND t.trade_type = 'BUY' ORDER BY t.executed_at, t.id LIMIT 1), "
    "(SELECT t.decision_id FROM trades t WHERE t.agent_id = p.agent_id "
    "AND t.market_id = p.market_id AND t.side = p.side AND t.trade_type = 'BUY' "
    "ORDER BY t.executed_at, t.id LIMIT 1))"
)

FIRST_RELEASE_USES = (
    "SELECT di.family_slug AS family_slug, MAX(di.family_display_name) AS family_name, "
    "di.release_id AS release_id, MAX(di.release_display_name) AS release_name, "
    "MAX(di.color) AS color, MIN(d.decision_timestamp) AS first_at "
    "FROM decisions d JOIN decision_benchmark_identity_v di ON di.decision_id = d.id "
    "JOIN cohorts c ON c.id = d.cohort_id "
)


def rows(result: Any) -> list[dict[str, Any]]:
    """Result rows as JSON values (`plain`)."""
    return [plain(dict(row._mapping)) for row in result]


def raw_rows(result: Any) -> list[dict[str, Any]]:
    """Result rows as dicts of stored values."""
    return [dict(row._mapping) for row in result]


def ids_param(name: str = "ids") -> Any:
    """An expanding `IN :ids` parameter."""
    return bindparam(name, expanding=True)


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
            ).bindparams(ids_param()),
            {"ids": ids},
        )
    }
    held: dict[str, Any] = dict(
        (
            await session.execute(
                text(
                    "SELECT agent_id, SUM(COALESCE(current_value, total_cost)) FROM positions "
                    "WHERE status = 'open' AND agent_id IN :ids GROUP BY agent_id"
                ).bindparams(ids_param()),
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
            ).bindparams(ids_param()),
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


def bucket_text(moment: datetime, seconds: int) -> str:
    """The start of the epoch-aligned bucket containing `moment`, as stored text."""
    epoch = int(moment.timestamp())
    return to_text(datetime.fromtimestamp(epoch - epoch % seconds, UTC), fraction=False)


async def snapshots(
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
    return list(await session.execute(text(sql).bindparams(ids_param()), params))


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
