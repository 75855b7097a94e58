"""The public pages (§12.1.4-§12.1.8). Chart points keep the stored bucket text
(`2026-03-01 00:00:00`), as the anchor's performance series do; other times are ISO."""

from __future__ import annotations

from pydantic import BaseModel

from arenabrain.arena.schemas.rows import (
    BrierScoreRow,
    CohortRow,
    MarketRow,
    Moment,
    PositionRow,
    Shape,
    TradeRow,
)

# --- pieces several pages share -----------------------------------------------------------------


class SlotDisplay(BaseModel):
    """How a model is shown beside a row: the frozen slot's names and colour."""

    model_display_name: str | None
    model_release_name: str | None
    model_color: str | None
    family_slug: str | None
    legacy_model_id: str | None


class ReleaseChange(Shape):
    """A release that replaced another within a family, dated by its first decision."""

    date: Moment | None
    model_id: str
    model_name: str | None
    previous_release_name: str | None
    release_name: str | None
    color: str


class EquityPoint(Shape):
    snapshot_timestamp: str  # the bucket, as stored text
    total_value: float


class CohortFlags(BaseModel):
    """Whether a cohort is scored and still gets decisions."""

    scoring_status: str  # current or archived
    decision_eligible: bool
    decision_status: str  # decisioning, tracking_only or completed


# --- markets ------------------------------------------------------------------------------------


class MarketsQuery(BaseModel):
    """`GET /api/markets` parameters. Numbers are read as the anchor reads them: leading digits
    (`10abc` is 10); missing, not a number or negative gives the default."""

    status: str | None = None  # active (default), closed, resolved or all
    category: str | None = None
    search: str | None = None  # words in the question, case-insensitive, taken literally
    sort: str | None = None  # volume (default), close_date or created
    cohort_bets: str | None = None  # `true`: markets held in running cohorts only
    limit: str | None = None  # default 50, at most 100
    offset: str | None = None


class MarketListed(MarketRow):
    positions_count: int


class MarketStats(Shape):
    total_markets: int
    active_markets: int
    markets_with_positions: int
    categories_count: int


class MarketsPage(Shape):
    markets: list[MarketListed]
    total: int
    has_more: bool
    categories: list[str]
    stats: MarketStats
    updated_at: Moment | None


class MarketPosition(SlotDisplay, PositionRow):
    family_id: str | None
    release_id: str | None
    decision_id: str | None  # the decision that opened it


class MarketTrade(SlotDisplay, TradeRow):
    pass


class MarketBrierScore(SlotDisplay, BrierScoreRow):
    pass


class MarketPage(Shape):
    market: MarketRow
    positions: list[MarketPosition]
    trades: list[MarketTrade]
    brier_scores: list[MarketBrierScore]
    updated_at: Moment | None


# --- cohorts ------------------------------------------------------------------------------------


class CohortView(CohortFlags, CohortRow):
    pass


class CohortAgent(Shape):
    id: str
    family_slug: str | None
    family_id: str
    legacy_model_id: str
    release_id: str
    benchmark_config_model_id: str
    model_display_name: str
    model_color: str
    model_release_name: str | None
    cash_balance: float
    total_invested: float
    status: str
    total_value: float
    total_pnl: float
    total_pnl_percent: float
    brier_score: float | None
    position_count: int
    trade_count: int
    num_resolved_bets: int


class CohortStats(Shape):
    week_number: int
    total_trades: int
    total_positions_open: int
    markets_with_positions: int
    total_resolved_bets: int
    avg_brier_score: float | None


class CurvePoint(Shape):
    date: str  # the bucket, as stored text
    value: float


class CohortDecision(Shape):
    id: str
    agent_id: str
    cohort_id: str
    decision_week: int
    decision_timestamp: Moment
    action: str
    reasoning: str | None
    cohort_number: int
    model_display_name: str | None
    model_color: str | None
    family_slug: str | None
    legacy_model_id: str | None
    family_id: str | None
    release_id: str | None
    model_release_name: str | None


class CohortPage(Shape):
    cohort: CohortView
    agents: list[CohortAgent]  # richest first
    stats: CohortStats
    equity_curves: dict[str, list[CurvePoint]]  # per family slug, weekly buckets
    release_changes: list[ReleaseChange]
    recent_decisions: list[CohortDecision]
    updated_at: Moment | None


# --- models (families) --------------------------------------------------------------------------


class ModelView(Shape):
    id: str  # the family slug
    family_id: str
    slug: str
    legacy_model_id: str | None
    display_name: str
    short_display_name: str
    provider: str
    color: str
    current_release_id: str | None
    current_release_name: str | None


class CohortPerformance(Shape):
    cohort_id: str
    cohort_number: int
    cohort_status: str
    methodology_version: str
    is_archived: bool
    archived_at: Moment | None
    archive_reason: str | None
    scoring_status: str
    agent_status: str
    cash_balance: float
    total_value: float
    total_pnl: float
    total_pnl_percent: float
    brier_score: float | None
    num_resolved_bets: int


class ModelDecision(Shape):
    id: str
    cohort_id: str
    decision_week: int
    decision_timestamp: Moment
    action: str
    reasoning: str | None
    cohort_number: int
    model_release_id: str | None
    model_release_name: str | None


class ModelPage(Shape):
    model: ModelView
    num_cohorts: int
    total_pnl: float
    avg_pnl_percent: float
    avg_brier_score: float | None
    win_rate: float | None
    cohort_performance: list[CohortPerformance]
    archived_cohort_performance: list[CohortPerformance]
    recent_decisions: list[ModelDecision]
    equity_curve: list[EquityPoint]  # the last 30 days, 6-hour buckets
    release_changes: list[ReleaseChange]
    updated_at: Moment | None


# --- one model in one cohort --------------------------------------------------------------------


class CohortOfModel(Shape):
    id: str
    cohort_number: int
    status: str
    started_at: Moment | None
    completed_at: Moment | None
    benchmark_config_id: str
    current_week: int
    total_markets: int
    is_archived: bool
    archived_at: Moment | None
    archive_reason: str | None
    scoring_status: str
    decision_eligible: bool
    decision_status: str


class ModelInCohort(Shape):
    id: str  # the family slug
    family_id: str
    family_slug: str
    slug: str
    legacy_model_id: str
    display_name: str
    provider: str
    color: str
    release_id: str
    release_name: str | None
    benchmark_config_model_id: str


class AgentInCohort(Shape):
    id: str
    family_slug: str
    family_id: str
    legacy_model_id: str
    benchmark_config_model_id: str
    status: str
    cash_balance: float
    total_invested: float
    total_value: float
    total_pnl: float
    total_pnl_percent: float
    brier_score: float | None
    num_resolved_bets: int
    rank: int  # 1 + agents of the cohort worth strictly more
    total_agents: int


class AgentStats(Shape):
    position_count: int
    trade_count: int
    win_rate: float | None
    cohort_avg_pnl_percent: float
    cohort_best_pnl_percent: float
    cohort_worst_pnl_percent: float


class DecisionLeg(Shape):
    trade_type: str
    side: str
    shares: float
    price: float
    total_amount: float
    market_id: str
    market_question: str


class AgentDecisionView(Shape):
    id: str
    decision_week: int
    decision_timestamp: Moment
    action: str
    reasoning: str | None
    markets: list[DecisionLeg]  # the trades the decision made


class OpenPosition(PositionRow):
    market_question: str
    opening_decision_id: str | None
    current_price: float | None  # the stored (Gamma) price of the position's side


class PastPosition(PositionRow):
    market_question: str
    market_status: str
    resolution_outcome: str | None
    outcome: str  # EXITED, WON, LOST, CANCELLED, PENDING or UNKNOWN
    settlement_value: float | None
    pnl: float | None


class AgentTrade(Shape):
    id: str
    timestamp: Moment | None
    trade_type: str
    side: str
    shares: float
    price: float
    total_amount: float
    decision_id: str | None
    market_id: str
    market_question: str
    decision_week: int | None


class CohortModelPage(Shape):
    cohort: CohortOfModel
    model: ModelInCohort
    agent: AgentInCohort
    stats: AgentStats
    equity_curve: list[EquityPoint]  # 6-hour buckets
    release_changes: list[ReleaseChange]
    decisions: list[AgentDecisionView]
    positions: list[OpenPosition]
    closed_positions: list[PastPosition]
    trades: list[AgentTrade]
    updated_at: Moment | None
