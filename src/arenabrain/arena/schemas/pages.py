"""The public pages (§12.1.2-§12.1.10). Chart points keep the stored bucket text
(`2026-03-01 00:00:00`), as the anchor's performance series do; other times are ISO."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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


# --- scoring --------------------------------------------------------------------------------


class Estimate(Shape):
    """A mean with its 95 % bootstrap interval and sample size; null figures when `n` is 0."""

    value: float | None
    low: float | None
    high: float | None
    n: int


class ForecastScores(Shape):
    """Proper scores of the stated probabilities (`p_yes`) of resolved forecasts, and the
    market's own prices at trade time scored on the same forecasts. Brier: lower is better;
    log score (natural log of the probability given to what happened, clipped at 0.01): higher
    is better; Brier skill `1 - brier / market_brier`: above 0 beats the market."""

    brier: Estimate
    log_score: Estimate
    market_brier: Estimate
    market_log_score: Estimate
    brier_skill: Estimate


class ForecastRecord(Shape):
    """A model's (or an agent's) record on resolved markets, every figure with its sample."""

    scoring: ForecastScores
    win_rate: Estimate  # resolved BUY trades whose side won (refunded markets left out)
    confidence_brier: Estimate  # the anchor's per-trade Brier of implied confidence


# --- markets ------------------------------------------------------------------------------------


# Offsets fit a 32-bit integer: every database holds it, and no page lies further out.
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]


class MarketsQuery(BaseModel):
    """`GET /api/markets` parameters. Numbers are whole decimal numbers within their range; an
    unknown status or sort, or a number out of range, is a 400 that names the parameter."""

    status: Literal["active", "closed", "resolved", "all"] = "active"
    category: str | None = Field(None, max_length=200)
    search: str | None = Field(None, max_length=200)  # words in the question, taken literally
    sort: Literal["volume", "close_date", "created"] = "volume"
    cohort_bets: Literal["true", "false"] = "false"  # `true`: markets held in running cohorts
    limit: int = Field(50, ge=0, le=100)
    offset: Offset = 0


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
    forecasting: ForecastRecord


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
    win_rate: float | None  # = forecasting.win_rate.value
    forecasting: ForecastRecord  # the family's unarchived agents
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
    forecasting: ForecastRecord


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


# --- leaderboard ----------------------------------------------------------------------------


class FamilyStanding(Shape):
    """One model family: the anchor's leaderboard row, plus its intervals and scores."""

    kind: Literal["model"]
    family_slug: str
    family_id: str
    legacy_model_id: str | None
    display_name: str
    provider: str
    color: str
    total_pnl: float  # summed over the family's unarchived agents, marked to market
    total_pnl_percent: float
    avg_brier_score: float | None  # = forecasting.confidence_brier.value
    num_cohorts: int
    num_resolved_bets: int  # = forecasting.confidence_brier.n
    win_rate: float | None  # = forecasting.win_rate.value
    pnl_percent: Estimate  # P/L percent per agent: mean (= total_pnl_percent), interval, n
    forecasting: ForecastRecord


class MarketBaseline(Shape):
    """The market's own price at trade time, scored on every forecast the models made."""

    kind: Literal["market_baseline"]
    display_name: str
    color: str
    brier: Estimate
    log_score: Estimate


Standing = Annotated[FamilyStanding | MarketBaseline, Field(discriminator="kind")]


class CohortSummary(CohortFlags, Shape):
    id: str
    cohort_number: int
    started_at: Moment
    status: str
    methodology_version: str
    is_archived: bool
    archived_at: Moment | None
    archive_reason: str | None
    num_agents: int
    total_markets_traded: int


class CatalogModel(Shape):
    """A public model family with the release future cohorts run (the anchor's keys)."""

    id: str  # the family slug
    family_id: str
    slug: str
    legacy_model_id: str | None
    displayName: str
    shortDisplayName: str
    provider: str
    color: str
    openrouterId: str | None
    currentReleaseId: str | None
    currentReleaseName: str | None


class LeaderboardPage(Shape):
    leaderboard: list[Standing]  # families by total P/L, then the market baseline
    cohorts: list[CohortSummary]  # newest first, archived ones too
    models: list[CatalogModel]
    updated_at: Moment | None


# --- performance chart ------------------------------------------------------------------------


class PerformanceQuery(BaseModel):
    """`GET /api/performance-data` parameters."""

    range: Literal["10M", "1H", "1D", "1W", "1M", "3M", "ALL"] = "1M"
    cohort_id: str | None = Field(None, min_length=1, max_length=100)
    family_id: str | None = Field(None, min_length=1, max_length=100)  # id, slug or legacy id


class PerformancePoint(BaseModel):
    """One bucket: its start (stored text) and each family's mean value, keyed by slug."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, float] = Field(init=False)

    date: str


class PerformancePage(Shape):
    data: list[PerformancePoint]
    models: list[CatalogModel]
    release_changes: list[ReleaseChange]
    range: str
    updated_at: Moment | None


# --- cohorts list ---------------------------------------------------------------------------


class CohortsQuery(BaseModel):
    limit: int = Field(50, ge=1, le=200)
    offset: Offset = 0


class CohortsPage(Shape):
    cohorts: list[CohortSummary]  # newest first
    total: int
    has_more: bool
    updated_at: Moment | None


# --- decisions ------------------------------------------------------------------------------


class RecentDecisionsQuery(BaseModel):
    limit: int = Field(10, ge=1, le=50)


class RecentDecision(Shape):
    id: str
    agent_id: str
    cohort_id: str
    decision_week: int
    decision_timestamp: Moment
    action: str
    reasoning: str | None
    model_display_name: str | None
    model_color: str | None
    family_slug: str | None
    legacy_model_id: str | None
    model_family_id: str | None
    model_release_id: str | None
    model_release_name: str | None
    cohort_number: int


class RecentDecisionsPage(Shape):
    decisions: list[RecentDecision]  # newest first
    updated_at: Moment | None


class DecisionView(Shape):
    """A decision as the public sees it: no prompts, answers, tokens, costs or errors."""

    id: str
    agent_id: str
    cohort_id: str
    decision_week: int
    decision_timestamp: Moment
    action: str
    reasoning: str | None
    created_at: Moment | None
    cohort_number: int
    model_name: str | None
    model_color: str | None
    model_provider: str | None
    family_slug: str | None
    legacy_model_id: str | None
    model_family_id: str | None
    model_release_id: str | None
    model_release_name: str | None


class DecisionTrade(Shape):
    id: str
    market_id: str
    position_id: str | None
    decision_id: str | None
    trade_type: str
    side: str
    shares: float
    price: float
    total_amount: float
    implied_confidence: float | None
    p_yes: float | None  # the model's stated probability that the market resolves YES
    cost_basis: float | None
    realized_pnl: float | None
    executed_at: Moment | None
    market_question: str
    market_slug: str | None
    market_event_slug: str | None


class DecisionPage(Shape):
    decision: DecisionView
    trades: list[DecisionTrade]
