"""The forecasting record the public pages show: resolved BUY trades read in one indexed query,
scored by `arena.scoring`, grouped by family or by agent.

A forecast counts once its market is `resolved` with a decisive winner; trades of archived
cohorts are left out of family figures (they are not scored, as the anchor's `scoring_status`
says). Estimates are memoised by their inputs: the bootstrap runs again only when the resolved
record itself changes (a market resolves, a cohort is archived), not on every write."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.read_models.values import ids_param
from arenabrain.arena.scoring import (
    EMPTY,
    Estimate,
    Forecast,
    ForecastScores,
    decided,
    forecast_of_trade,
    mean_estimate,
    score_forecasts,
    seed_for,
    side_won,
)

# CROSS JOIN keeps SQLite's join order (resolved markets by their status index, then their
# trades by market) instead of a scan of every trade; other databases read it as a plain join.
_RESOLVED_BUYS = (
    "SELECT COALESCE(t.family_id, a.family_id) AS family_id, t.agent_id AS agent_id, "
    "t.side AS side, t.price AS price, t.p_yes AS p_yes, m.resolution_outcome AS winner "
    "FROM markets m CROSS JOIN trades t JOIN agents a ON a.id = t.agent_id "
    "JOIN cohorts c ON c.id = a.cohort_id "
    "WHERE t.market_id = m.id AND m.status = 'resolved' AND m.resolution_outcome IS NOT NULL "
    "AND t.trade_type = 'BUY' "
)
_CONFIDENCE_BRIERS = (
    "SELECT COALESCE(b.family_id, a.family_id) AS family_id, b.agent_id AS agent_id, "
    "b.brier_score AS brier_score FROM brier_scores b "
    "JOIN agents a ON a.id = b.agent_id JOIN cohorts c ON c.id = a.cohort_id "
)


@dataclass(frozen=True)
class Record:
    """What one family's (or agent's) resolved trades say: proper scores of its `p_yes`
    forecasts against the market, its win rate, and the anchor's implied-confidence Brier."""

    scoring: ForecastScores
    win_rate: Estimate
    confidence_brier: Estimate


EMPTY_RECORD = Record(ForecastScores(EMPTY, EMPTY, EMPTY, EMPTY, EMPTY), EMPTY, EMPTY)


@functools.lru_cache(maxsize=64)
def _scores(label: str, forecasts: tuple[Forecast, ...]) -> ForecastScores:
    return score_forecasts(forecasts, seed_for(label))


@functools.lru_cache(maxsize=512)
def _mean(label: str, values: tuple[float, ...]) -> Estimate:
    return mean_estimate(values, seed_for(label))


def estimate(label: str, values: Iterable[float]) -> Estimate:
    """`mean_estimate` of `values`, memoised; `label` names the aggregate (and seeds it)."""
    return _mean(label, tuple(sorted(values)))


def scores(label: str, forecasts: Iterable[Forecast]) -> ForecastScores:
    """`score_forecasts`, memoised by its inputs."""
    return _scores(
        label, tuple(sorted(forecasts, key=lambda f: (f.probability, f.market, f.happened)))
    )


async def resolved_buys(
    session: AsyncSession, *, agent_ids: Sequence[str] | None = None
) -> list[Any]:
    """Resolved BUY trades (family, agent, side, price, p_yes, winner): those of unarchived
    cohorts, or of the given agents."""
    if agent_ids is None:
        return list(await session.execute(text(_RESOLVED_BUYS + "AND c.is_archived = 0")))
    if not agent_ids:
        return []
    return list(
        await session.execute(
            text(_RESOLVED_BUYS + "AND t.agent_id IN :ids").bindparams(ids_param()),
            {"ids": list(agent_ids)},
        )
    )


async def confidence_briers(
    session: AsyncSession, *, agent_ids: Sequence[str] | None = None
) -> list[Any]:
    """The anchor's Brier rows (family, agent, score): unarchived cohorts, or given agents."""
    if agent_ids is None:
        return list(await session.execute(text(_CONFIDENCE_BRIERS + "WHERE c.is_archived = 0")))
    if not agent_ids:
        return []
    return list(
        await session.execute(
            text(_CONFIDENCE_BRIERS + "WHERE b.agent_id IN :ids").bindparams(ids_param()),
            {"ids": list(agent_ids)},
        )
    )


def _record(label: str, buys: Sequence[Any], briers: Sequence[Any]) -> Record:
    decided_buys = [b for b in buys if decided(b.winner)]
    forecasts = [
        f
        for f in (forecast_of_trade(b.side, b.price, b.p_yes, b.winner) for b in decided_buys)
        if f is not None
    ]
    return Record(
        scoring=scores(f"{label}:scores", forecasts),
        win_rate=estimate(
            f"{label}:wins", (1.0 if side_won(b.side, b.winner) else 0.0 for b in decided_buys)
        ),
        confidence_brier=estimate(f"{label}:confidence", (b.brier_score for b in briers)),
    )


def records_by(key: str, buys: Sequence[Any], briers: Sequence[Any]) -> dict[str, Record]:
    """One `Record` per value of `key` (`family_id` or `agent_id`) found in the rows."""
    grouped_buys: dict[str, list[Any]] = {}
    for row in buys:
        grouped_buys.setdefault(getattr(row, key), []).append(row)
    grouped_briers: dict[str, list[Any]] = {}
    for row in briers:
        grouped_briers.setdefault(getattr(row, key), []).append(row)
    return {
        group: _record(group, grouped_buys.get(group, []), grouped_briers.get(group, []))
        for group in grouped_buys.keys() | grouped_briers.keys()
    }


def market_baseline(buys: Sequence[Any]) -> ForecastScores:
    """The market's own prices scored on every forecast the models made."""
    forecasts = [
        f
        for f in (forecast_of_trade(b.side, b.price, b.p_yes, b.winner) for b in buys)
        if f is not None
    ]
    return scores("market-baseline:scores", forecasts)


async def scored_in_thread(
    key: str, buys: Sequence[Any], briers: Sequence[Any]
) -> tuple[dict[str, Record], ForecastScores]:
    """`records_by` and `market_baseline` off the event loop: when the record has changed, a
    bootstrap over thousands of forecasts takes a few hundred milliseconds."""

    def score() -> tuple[dict[str, Record], ForecastScores]:
        return records_by(key, buys, briers), market_baseline(buys)

    return await asyncio.to_thread(score)


def estimate_json(value: Estimate) -> dict[str, Any]:
    return {"value": value.value, "low": value.low, "high": value.high, "n": value.n}


def scoring_json(value: ForecastScores) -> dict[str, Any]:
    return {
        "brier": estimate_json(value.brier),
        "log_score": estimate_json(value.log_score),
        "market_brier": estimate_json(value.market_brier),
        "market_log_score": estimate_json(value.market_log_score),
        "brier_skill": estimate_json(value.brier_skill),
    }


def record_json(record: Record) -> dict[str, Any]:
    """A record as the pages show it (`schemas.pages.ForecastRecord`)."""
    return {
        "scoring": scoring_json(record.scoring),
        "win_rate": estimate_json(record.win_rate),
        "confidence_brier": estimate_json(record.confidence_brier),
    }


def record_of(records: Mapping[str, Record], key: str) -> Record:
    return records.get(key, EMPTY_RECORD)
