"""Stored rows as the arena's JSON shows them (`wire.row_dict`/`wire.plain`): every column,
timestamps as ISO 8601 UTC text (`2026-03-01T00:00:00.000Z`), 0/1 flags as booleans, JSON
text columns (`outcomes`, `current_prices`, `clob_token_ids`, `metadata_json`) as stored text.

Answers are exact: a key the code adds without declaring it here fails the answer (in the
tests first), so the documented shape cannot drift from the served one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Moment = str  # ISO 8601 UTC with milliseconds and `Z`


class Shape(BaseModel):
    """An arena answer: exactly the declared keys."""

    model_config = ConfigDict(extra="forbid")


class MarketRow(Shape):
    id: str
    polymarket_id: str
    slug: str | None
    event_slug: str | None
    question: str
    description: str | None
    category: str | None
    market_type: str
    outcomes: str | None
    close_date: Moment
    status: str
    current_price: float | None
    current_prices: str | None
    clob_token_ids: str | None
    volume: float | None
    liquidity: float | None
    resolution_outcome: str | None
    resolved_at: Moment | None
    first_seen_at: Moment | None
    last_updated_at: Moment | None


class PositionRow(Shape):
    id: str
    agent_id: str
    market_id: str
    side: str
    shares: float
    avg_entry_price: float
    total_cost: float
    current_value: float | None
    unrealized_pnl: float | None
    status: str
    opened_at: Moment | None
    closed_at: Moment | None


class TradeRow(Shape):
    id: str
    agent_id: str
    market_id: str
    position_id: str | None
    decision_id: str | None
    family_id: str | None
    release_id: str | None
    benchmark_config_model_id: str | None
    trade_type: str
    side: str
    shares: float
    price: float
    total_amount: float
    implied_confidence: float | None
    cost_basis: float | None
    realized_pnl: float | None
    executed_at: Moment | None
    p_yes: float | None


class BrierScoreRow(Shape):
    id: str
    agent_id: str
    trade_id: str
    market_id: str
    family_id: str | None
    release_id: str | None
    benchmark_config_model_id: str | None
    forecast_probability: float
    actual_outcome: float
    brier_score: float
    calculated_at: Moment | None


class CohortRow(Shape):
    id: str
    cohort_number: int
    started_at: Moment
    status: str
    completed_at: Moment | None
    methodology_version: str
    benchmark_config_id: str
    is_archived: bool
    archived_at: Moment | None
    archive_reason: str | None
    initial_balance: float
    created_at: Moment | None


class FamilyRow(Shape):
    id: str
    slug: str
    legacy_model_id: str | None
    provider: str
    family_name: str
    public_display_name: str
    short_display_name: str
    color: str | None
    status: str
    sort_order: int
    created_at: Moment | None
    retired_at: Moment | None


class ReleaseRow(Shape):
    id: str
    family_id: str
    release_name: str
    release_slug: str
    openrouter_id: str
    provider: str
    metadata_json: str | None
    release_status: str
    created_at: Moment | None
    retired_at: Moment | None
    first_used_cohort_number: int | None
    last_used_cohort_number: int | None


class ConfigRow(Shape):
    id: str
    version_name: str
    methodology_version: str
    notes: str | None
    created_by: str | None
    is_default_for_future_cohorts: bool
    created_at: Moment | None


class SlotRow(Shape):
    """One frozen slot of a lineup config (`benchmark_config_models`)."""

    id: str
    benchmark_config_id: str
    family_id: str
    release_id: str
    slot_order: int
    family_display_name_snapshot: str
    short_display_name_snapshot: str
    release_display_name_snapshot: str
    provider_snapshot: str
    color_snapshot: str | None
    openrouter_id_snapshot: str
    input_price_per_million_snapshot: float
    output_price_per_million_snapshot: float
    created_at: Moment | None
