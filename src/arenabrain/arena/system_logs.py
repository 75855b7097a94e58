"""The operator-facing event log (`system_logs`) and its catalog (§16 of the reference).

Events are written inside the caller's unit of work, so an event never describes a change
that was rolled back. `CATALOG` lists every event the service writes, with its severity and
the keys of its `event_data`; the code that does the work emits it, and the tests check each
error event against this table (the runbook's §4.3 query lists those)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import SystemLog
from arenabrain.db.ids import new_id

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class EventSpec:
    """One event type: its severities, the keys it always carries and those it may add."""

    severity: tuple[Severity, ...]
    keys: frozenset[str]
    optional: frozenset[str] = frozenset()

    def accepts(self, severity: str | None, keys: set[str]) -> bool:
        return severity in self.severity and self.keys <= keys <= self.keys | self.optional


def _spec(severity: str, keys: str, optional: str = "") -> EventSpec:
    severities = tuple(cast(Severity, level) for level in severity.split("|"))
    return EventSpec(severities, frozenset(keys.split()), frozenset(optional.split()))


_RUN_SUMMARY = (
    "cohorts_processed decision_cohort_limit tracking_active_cohorts decision_eligible_cohorts "
    "total_agents total_errors successful_agents duration_ms"
)
_SELL = "proceeds cost_basis realized_pnl"

CATALOG: Mapping[str, EventSpec] = {
    # markets (sync)
    "market_sync_complete": _spec(
        "info", "markets_added markets_updated status_updates errors duration_ms"
    ),
    "market_sync_error": _spec("error", "error"),
    # cohorts
    "cohort_started": _spec("info", "cohort_id cohort_number num_agents benchmark_config_id"),
    "cohort_start_error": _spec("error", "error"),
    "start_cohort_error": _spec("error", "error"),
    "cohort_completed": _spec("info", "cohort_id cohort_number"),
    # decisions and execution
    "decisions_run_complete": _spec("info", _RUN_SUMMARY),
    "decisions_run_failed": _spec("error", f"{_RUN_SUMMARY} error sample_errors"),
    "decisions_run_error": _spec("error", "error"),
    "cohort_decisions_complete": _spec(
        "info", "cohort_id cohort_number week_number agents_processed errors"
    ),
    # a claim that failed before it was held also names its agent
    "cohort_decisions_error": _spec("error", "cohort_id error", "agent_id"),
    "agent_decision_error": _spec("error", "agent_id model_id error"),
    "agent_decision_execution_failed": _spec(
        "error", "agent_id decision_id action attempted_trades trades_executed errors"
    ),
    # BUY keys; a SELL has no amount and adds proceeds, cost basis and realised P/L
    "trade_executed": _spec(
        "info", "agent_id trade_id type market_id side shares price", f"amount {_SELL}"
    ),
    "trade_error": _spec("error", "agent_id error"),
    # resolution and settlement
    "resolution_check_complete": _spec(
        "info", "markets_checked markets_resolved positions_settled errors"
    ),
    "resolution_unknown_winner": _spec(
        "warning", "market_id polymarket_id question error fallback_outcome"
    ),
    "market_resolution_partial_failure": _spec(
        "error", "market_id polymarket_id winning_outcome positions_settled errors"
    ),
    "market_resolved": _spec(
        "info", "market_id polymarket_id winning_outcome positions_settled brier_scores_recorded"
    ),
    "position_settled": _spec(
        "info",
        "position_id agent_id market_id side winning_outcome settlement_value cost_basis pnl",
    ),
    "brier_scores_skipped": _spec("warning", "market_id skipped_count recorded_count"),
    "position_refunded": _spec("info", "position_id agent_id market_id refund_amount"),
    # why the market is refunded (cancelled, 50/50, delisted, undecided past the grace period)
    "market_cancelled": _spec("info", "market_id positions_refunded", "reason"),
    "check_resolutions_error": _spec("error", "error"),
    # snapshots (a price fallback is a warning, a Gamma/CLOB disagreement is info)
    "snapshots_taken": _spec("info", "snapshots positions_updated errors duration_ms"),
    "take_snapshots_error": _spec("error", "error"),
    "price_validation_anomaly": _spec(
        "warning|info", "market_id polymarket_id snapshot_timestamp source status reason"
    ),
    # backup
    "backup_created": _spec("info", "path duration_ms"),
    "backup_error": _spec("error", "error"),
    # admin
    "admin_login_success": _spec("info", "ip"),
    "admin_login_failed": _spec("warning", "ip"),
    "admin_start_cohort": _spec("info", "cohort_number agents_created"),
    "admin_sync_markets": _spec("info", "markets_added markets_updated"),
    "admin_check_cohorts": _spec("info", "cohorts_checked"),
    "admin_backup": _spec("info", "backup_path"),
    "admin_action_error": _spec("error", "error"),
    "admin_export_created": _spec("info", "cohort_id tables from to include_prompts file"),
    "admin_benchmark_release_created": _spec(
        "info", "family_id release_id release_name openrouter_id"
    ),
    "admin_benchmark_config_created": _spec(
        "info", "benchmark_config_id version_name family_count"
    ),
    "admin_benchmark_config_promoted": _spec("info", "benchmark_config_id version_name"),
    # lineup review (open reviews are a warning: someone should look)
    "admin_model_lineup_review_checked": _spec("info|warning", "review_id status candidate_count"),
    "admin_model_lineup_review_failed": _spec("error", "review_id error"),
    "admin_model_lineup_review_approved": _spec(
        "info", "review_id benchmark_config_id version_name selected_upgrade_count"
    ),
    "admin_model_lineup_review_dismissed": _spec("info", "review_id prior_status"),
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


async def log_event(
    session: AsyncSession,
    event_type: str,
    data: Mapping[str, Any] | None,
    severity: Severity = "info",
    now: datetime | None = None,
) -> None:
    """Add one event row to the session's transaction (committed with it)."""
    values: dict[str, Any] = {
        "id": new_id(now),
        "event_type": event_type,
        "event_data": json.dumps(dict(data), default=_plain) if data is not None else None,
        "severity": severity,
    }
    if now is not None:
        values["created_at"] = now
    await session.execute(insert(SystemLog).values(**values))
