"""What the arena's cron jobs answer (`POST /api/cron/*`, and the CLI prints the same)."""

from __future__ import annotations

from typing import Literal

from arenabrain.arena.schemas.rows import Moment, Shape


class MarketSync(Shape):
    success: bool
    markets_added: int
    markets_updated: int
    errors: list[str]  # markets Gamma sent that could not be used, and failed status checks
    duration_ms: int


class CohortStarted(Shape):
    success: Literal[True]
    cohort_id: str
    cohort_number: int
    agents_created: int  # the agents of the cohort (all of them, also when it existed)


class CohortNotStarted(Shape):
    success: Literal[False]
    message: str | None


class LineupChecked(Shape):
    success: bool
    review_id: str
    status: str  # `open` (candidates to review) or `no_changes`
    candidate_count: int
    checked_at: Moment | None


class CohortRef(Shape):
    cohort_id: str
    cohort_number: int


class AgentDecision(Shape):
    """One agent's outcome; `trades_executed` and `error` only when there is one."""

    agent_id: str
    model_id: str
    decision_id: str
    action: str  # BET, SELL, HOLD, ERROR or SKIPPED
    success: bool
    trades_executed: int | None = None
    error: str | None = None


class CohortDecisions(Shape):
    cohort_id: str
    cohort_number: int
    week_number: int
    agents_processed: int
    decisions: list[AgentDecision]
    errors: list[str]


class DecisionRun(Shape):
    """A run that did not fail as a whole (one in which every agent failed answers 502)."""

    success: bool
    cohort_bootstrap: CohortRef | None
    decision_cohort_limit: int
    tracking_active_cohorts: int
    decision_eligible_cohorts: int
    cohorts_processed: int
    total_agents: int
    total_errors: int
    duration_ms: int
    results: list[CohortDecisions]


class ResolutionCheck(Shape):
    """What check-resolutions did (§5.4); `errors` is a count (the messages are logged)."""

    success: bool
    markets_checked: int
    markets_resolved: int  # cancelled (refunded) markets included
    positions_settled: int  # refunded positions included
    cohorts_completed: int
    errors: int
    duration_ms: int


class SnapshotsTaken(Shape):
    """What take-snapshots did (§5.5); `errors` is a count (per-agent failures are logged)."""

    success: bool
    snapshots_taken: int
    positions_updated: int
    errors: int
    duration_ms: int


class BackupCreated(Shape):
    success: bool
    backup_path: str
    duration_ms: int
