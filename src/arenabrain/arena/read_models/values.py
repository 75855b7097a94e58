"""What the public pages share: agents' values, equity series in time buckets, the release
changes drawn on the charts, and the SQL pieces and row conversions the pages' queries use.

Archived cohorts are left out of aggregates and live values are used for them, as the anchor
does."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.cohorts import INITIAL_BALANCE
from arenabrain.arena.wire import iso, plain

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
    """Each agent's marked value, `cash + sum(current_value)` of its open positions (a position
    never marked yet counts at cost), with its anchor Brier score. Live figures: they move with
    every committed trade, settlement and snapshot, where the latest snapshot lags them."""
    ids = [a["id"] for a in agents]
    if not ids:
        return {}
    totals = {
        row.id: row
        for row in await session.execute(
            text(
                "SELECT a.id, a.cash_balance, a.cash_balance + "
                "COALESCE(SUM(COALESCE(p.current_value, p.total_cost)), 0) AS total_value "
                "FROM agents a LEFT JOIN positions p ON p.agent_id = a.id AND p.status = 'open' "
                "WHERE a.id IN :ids GROUP BY a.id, a.cash_balance"
            ).bindparams(ids_param()),
            {"ids": ids},
        )
    }
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
    for agent_id in ids:
        row = totals[agent_id]
        scores = brier.get(agent_id)
        values[agent_id] = AgentValue(
            cash_balance=float(row.cash_balance),
            total_value=float(row.total_value),
            brier_score=float(scores.avg_brier)
            if scores and scores.avg_brier is not None
            else None,
            num_resolved_bets=int(scores.n) if scores else 0,
        )
    return values


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
