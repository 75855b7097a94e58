"""Forecaster Arena tables, with the anchor's table and column names (§2.2 of the reference).

Operators run the runbook's SQL against these tables with `sqlite3`, so names, text
timestamps and index names follow the anchor; the lineage triggers and the two identity
views live in the Alembic migration. No relationships are declared: repositories join
explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    desc,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from arenabrain.db.base import Base
from arenabrain.db.timestamps import UtcText


class utc_now_text(FunctionElement[str]):
    """Server-side "now" in the stored text format, for rows written by raw SQL."""

    type = String()
    inherit_cache = True


@compiles(utc_now_text)
def _utc_now_default(element: utc_now_text, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite already renders 'YYYY-MM-DD HH:MM:SS' in UTC


@compiles(utc_now_text, "postgresql")
def _utc_now_postgresql(element: utc_now_text, compiler: SQLCompiler, **kw: Any) -> str:
    # A bare CURRENT_TIMESTAMP cast to text would carry the session's time zone offset.
    return "to_char(timezone('UTC', now()), 'YYYY-MM-DD HH24:MI:SS')"


def _now_default() -> Any:
    return mapped_column(UtcText(), server_default=utc_now_text())


def _fk(target: str, *, nullable: bool = False, name: str | None = None) -> Any:
    return mapped_column(Text, ForeignKey(target, name=name), nullable=nullable)


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)


def _flag(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN (0, 1)", name=column)


OPEN_ONLY = text("status = 'open'")
DECISION_ONLY = text("decision_id IS NOT NULL")

COHORT_STATUSES = ("active", "completed")
FAMILY_STATUSES = ("active", "paused", "retired")
RELEASE_STATUSES = ("active", "deprecated", "retired")
AGENT_STATUSES = ("active", "bankrupt")
MARKET_TYPES = ("binary", "multi_outcome")
MARKET_STATUSES = ("active", "closed", "resolved")
POSITION_STATUSES = ("open", "closed", "settled")
DECISION_ACTIONS = ("BET", "SELL", "HOLD", "ERROR")
TRADE_TYPES = ("BUY", "SELL")
PRICE_SOURCES = ("clob", "fallback")
PRICE_VALIDATION_STATUSES = ("accepted", "accepted_with_gamma_disagreement", "fallback")
LOG_SEVERITIES = ("info", "warning", "error")
LINEUP_REVIEW_STATUSES = ("open", "no_changes", "approved", "dismissed", "failed")
CHART_RANGES = ("10M", "1H", "1D", "1W", "1M", "3M", "ALL")


class MethodologyVersion(Base):
    __tablename__ = "methodology_versions"

    version: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    changes_summary: Mapped[str | None] = mapped_column(Text)
    effective_from_cohort: Mapped[int | None] = mapped_column(Integer)
    document_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = _now_default()


class LegacyModel(Base):
    """The anchor's original model catalog; `agents.model_id` still points here."""

    __tablename__ = "models"
    __table_args__ = (_flag("is_active"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    openrouter_id: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[int | None] = mapped_column(Integer, default=1, server_default=text("1"))
    added_at: Mapped[datetime | None] = _now_default()


class ModelFamily(Base):
    """A stable public competitor slot (e.g. "Claude"), whatever release it runs."""

    __tablename__ = "model_families"
    __table_args__ = (
        _one_of("status", FAMILY_STATUSES),
        Index("idx_model_families_status_order", "status", "sort_order"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    legacy_model_id: Mapped[str | None] = mapped_column(Text, unique=True)
    provider: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    public_display_name: Mapped[str] = mapped_column(Text)
    short_display_name: Mapped[str] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime | None] = _now_default()
    retired_at: Mapped[datetime | None] = mapped_column(UtcText())


class ModelRelease(Base):
    """One exact OpenRouter model within a family; immutable once used."""

    __tablename__ = "model_releases"
    __table_args__ = (
        UniqueConstraint("family_id", "release_slug"),
        _one_of("release_status", RELEASE_STATUSES),
        Index(
            "idx_model_releases_family_status", "family_id", "release_status", desc("created_at")
        ),
        Index("idx_model_releases_openrouter", "openrouter_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    family_id: Mapped[str] = _fk("model_families.id")
    release_name: Mapped[str] = mapped_column(Text)
    release_slug: Mapped[str] = mapped_column(Text)
    openrouter_id: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    release_status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    created_at: Mapped[datetime | None] = _now_default()
    retired_at: Mapped[datetime | None] = mapped_column(UtcText())
    first_used_cohort_number: Mapped[int | None] = mapped_column(Integer)
    last_used_cohort_number: Mapped[int | None] = mapped_column(Integer)


class BenchmarkConfig(Base):
    """A complete lineup manifest; new cohorts freeze the one flagged as default."""

    __tablename__ = "benchmark_configs"
    __table_args__ = (
        _flag("is_default_for_future_cohorts"),
        Index("idx_benchmark_configs_default", "is_default_for_future_cohorts", desc("created_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    version_name: Mapped[str] = mapped_column(Text, unique=True)
    methodology_version: Mapped[str] = _fk("methodology_versions.version")
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    is_default_for_future_cohorts: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    created_at: Mapped[datetime | None] = _now_default()


class BenchmarkConfigModel(Base):
    """One frozen lineup slot: the release to call and the prices to charge for it."""

    __tablename__ = "benchmark_config_models"
    __table_args__ = (
        UniqueConstraint("benchmark_config_id", "family_id"),
        Index("idx_benchmark_config_models_config_slot", "benchmark_config_id", "slot_order"),
        Index("idx_benchmark_config_models_release", "release_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    # The conventional constraint name would pass PostgreSQL's 63-character limit.
    benchmark_config_id: Mapped[str] = _fk(
        "benchmark_configs.id", name="fk_benchmark_config_models_benchmark_config_id"
    )
    family_id: Mapped[str] = _fk("model_families.id")
    release_id: Mapped[str] = _fk("model_releases.id")
    slot_order: Mapped[int] = mapped_column(Integer)
    family_display_name_snapshot: Mapped[str] = mapped_column(Text)
    short_display_name_snapshot: Mapped[str] = mapped_column(Text)
    release_display_name_snapshot: Mapped[str] = mapped_column(Text)
    provider_snapshot: Mapped[str] = mapped_column(Text)
    color_snapshot: Mapped[str | None] = mapped_column(Text)
    openrouter_id_snapshot: Mapped[str] = mapped_column(Text)
    input_price_per_million_snapshot: Mapped[float] = mapped_column(Float)
    output_price_per_million_snapshot: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime | None] = _now_default()


class Cohort(Base):
    """One weekly competition, pinned to the benchmark config it started with."""

    __tablename__ = "cohorts"
    __table_args__ = (
        _one_of("status", COHORT_STATUSES),
        _flag("is_archived"),
        Index("idx_cohorts_started_unique", "started_at", unique=True),
        Index("idx_cohorts_status", "status"),
        Index("idx_cohorts_archived_status", "is_archived", "status"),
        Index("idx_cohorts_started", desc("started_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    cohort_number: Mapped[int] = mapped_column(Integer, unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcText())
    status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    completed_at: Mapped[datetime | None] = mapped_column(UtcText())
    methodology_version: Mapped[str] = mapped_column(
        Text, ForeignKey("methodology_versions.version"), server_default="v1"
    )
    benchmark_config_id: Mapped[str] = _fk("benchmark_configs.id")
    is_archived: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    archived_at: Mapped[datetime | None] = mapped_column(UtcText())
    archive_reason: Mapped[str | None] = mapped_column(Text)
    initial_balance: Mapped[float] = mapped_column(
        Float, default=10000.0, server_default=text("10000.0")
    )
    created_at: Mapped[datetime | None] = _now_default()


class Agent(Base):
    """A cohort's frozen copy of one lineup slot, with its paper bankroll."""

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("cohort_id", "benchmark_config_model_id"),
        _one_of("status", AGENT_STATUSES),
        Index("idx_agents_cohort", "cohort_id"),
        Index("idx_agents_model", "model_id"),
        Index("idx_agents_family", "family_id"),
        Index("idx_agents_release", "release_id"),
        Index("idx_agents_config_model", "benchmark_config_model_id"),
        Index("idx_agents_status", "status"),
        Index("idx_agents_cohort_family", "cohort_id", "family_id"),
        Index("idx_agents_status_balance", "status", desc("cash_balance")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    cohort_id: Mapped[str] = _fk("cohorts.id")
    model_id: Mapped[str] = _fk("models.id")
    family_id: Mapped[str] = _fk("model_families.id")
    release_id: Mapped[str] = _fk("model_releases.id")
    benchmark_config_model_id: Mapped[str] = _fk("benchmark_config_models.id")
    cash_balance: Mapped[float] = mapped_column(
        Float, default=10000.0, server_default=text("10000.0")
    )
    total_invested: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0.0"))
    status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    created_at: Mapped[datetime | None] = _now_default()


class Market(Base):
    """A Polymarket market as last synced; prices are Gamma's, JSON kept as text."""

    __tablename__ = "markets"
    __table_args__ = (
        _one_of("market_type", MARKET_TYPES),
        _one_of("status", MARKET_STATUSES),
        Index("idx_markets_status", "status"),
        Index("idx_markets_polymarket", "polymarket_id"),
        Index("idx_markets_category", "category"),
        Index("idx_markets_volume", desc("volume")),
        Index("idx_markets_close_date", "close_date"),
        Index("idx_markets_status_resolved", "status", desc("resolved_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    polymarket_id: Mapped[str] = mapped_column(Text, unique=True)
    slug: Mapped[str | None] = mapped_column(Text)
    event_slug: Mapped[str | None] = mapped_column(Text)
    question: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    market_type: Mapped[str] = mapped_column(Text, default="binary", server_default="binary")
    outcomes: Mapped[str | None] = mapped_column(Text)
    close_date: Mapped[datetime] = mapped_column(UtcText())
    status: Mapped[str] = mapped_column(Text, default="active", server_default="active")
    current_price: Mapped[float | None] = mapped_column(Float)
    current_prices: Mapped[str | None] = mapped_column(Text)
    clob_token_ids: Mapped[str | None] = mapped_column(Text)
    volume: Mapped[float | None] = mapped_column(Float)
    liquidity: Mapped[float | None] = mapped_column(Float)
    resolution_outcome: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcText())
    first_seen_at: Mapped[datetime | None] = _now_default()
    last_updated_at: Mapped[datetime | None] = _now_default()


class Position(Base):
    """An agent's holding of one side of one market; at most one open row per side."""

    __tablename__ = "positions"
    __table_args__ = (
        _one_of("status", POSITION_STATUSES),
        Index(
            "idx_positions_open_agent_market_side",
            "agent_id",
            "market_id",
            "side",
            unique=True,
            sqlite_where=OPEN_ONLY,
            postgresql_where=OPEN_ONLY,
        ),
        Index("idx_positions_agent", "agent_id"),
        Index("idx_positions_market", "market_id"),
        Index("idx_positions_status", "status"),
        Index("idx_positions_agent_status", "agent_id", "status"),
        Index("idx_positions_agent_market", "agent_id", "market_id"),
        Index("idx_positions_agent_market_status", "agent_id", "market_id", "status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent_id: Mapped[str] = _fk("agents.id")
    market_id: Mapped[str] = _fk("markets.id")
    side: Mapped[str] = mapped_column(Text)
    shares: Mapped[float] = mapped_column(Float)
    avg_entry_price: Mapped[float] = mapped_column(Float)
    total_cost: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float | None] = mapped_column(Float)
    unrealized_pnl: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(Text, default="open", server_default="open")
    opened_at: Mapped[datetime | None] = _now_default()
    closed_at: Mapped[datetime | None] = mapped_column(UtcText())


class Decision(Base):
    """One agent's answer for one decision week; the row is claimed, then finalized."""

    __tablename__ = "decisions"
    __table_args__ = (
        _one_of("action", DECISION_ACTIONS),
        Index(
            "idx_decisions_agent_cohort_week_unique",
            "agent_id",
            "cohort_id",
            "decision_week",
            unique=True,
        ),
        Index("idx_decisions_agent", "agent_id"),
        Index("idx_decisions_cohort", "cohort_id"),
        Index("idx_decisions_timestamp", desc("decision_timestamp")),
        Index("idx_decisions_family", "family_id"),
        Index("idx_decisions_release", "release_id"),
        Index("idx_decisions_config_model", "benchmark_config_model_id"),
        Index("idx_decisions_agent_week", "agent_id", "decision_week"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent_id: Mapped[str] = _fk("agents.id")
    cohort_id: Mapped[str] = _fk("cohorts.id")
    family_id: Mapped[str | None] = _fk("model_families.id", nullable=True)
    release_id: Mapped[str | None] = _fk("model_releases.id", nullable=True)
    benchmark_config_model_id: Mapped[str | None] = _fk("benchmark_config_models.id", nullable=True)
    decision_week: Mapped[int] = mapped_column(Integer)
    decision_timestamp: Mapped[datetime] = mapped_column(UtcText())
    prompt_system: Mapped[str] = mapped_column(Text)
    prompt_user: Mapped[str] = mapped_column(Text)
    raw_response: Mapped[str | None] = mapped_column(Text)
    parsed_response: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int | None] = mapped_column(Integer, default=0, server_default=text("0"))
    action: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    tokens_input: Mapped[int | None] = mapped_column(Integer)
    tokens_output: Mapped[int | None] = mapped_column(Integer)
    api_cost_usd: Mapped[float | None] = mapped_column(Float)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = _now_default()
    # JSON list of the contradictions found between a BET's p_yes and its side.
    p_yes_flags: Mapped[str | None] = mapped_column(Text)


class Trade(Base):
    """One executed BUY or SELL, with the lineage frozen at execution time."""

    __tablename__ = "trades"
    __table_args__ = (
        _one_of("trade_type", TRADE_TYPES),
        CheckConstraint("p_yes IS NULL OR (p_yes >= 0 AND p_yes <= 1)", name="p_yes"),
        Index("idx_trades_agent", "agent_id"),
        Index("idx_trades_market", "market_id"),
        Index("idx_trades_decision", "decision_id"),
        Index("idx_trades_family", "family_id"),
        Index("idx_trades_release", "release_id"),
        Index("idx_trades_config_model", "benchmark_config_model_id"),
        Index("idx_trades_executed", desc("executed_at")),
        Index("idx_trades_market_executed", "market_id", desc("executed_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent_id: Mapped[str] = _fk("agents.id")
    market_id: Mapped[str] = _fk("markets.id")
    position_id: Mapped[str | None] = _fk("positions.id", nullable=True)
    decision_id: Mapped[str | None] = _fk("decisions.id", nullable=True)
    family_id: Mapped[str | None] = _fk("model_families.id", nullable=True)
    release_id: Mapped[str | None] = _fk("model_releases.id", nullable=True)
    benchmark_config_model_id: Mapped[str | None] = _fk("benchmark_config_models.id", nullable=True)
    trade_type: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(Text)
    shares: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    total_amount: Mapped[float] = mapped_column(Float)
    implied_confidence: Mapped[float | None] = mapped_column(Float)
    cost_basis: Mapped[float | None] = mapped_column(Float)
    realized_pnl: Mapped[float | None] = mapped_column(Float)
    executed_at: Mapped[datetime | None] = _now_default()
    # The model's own probability that the market resolves YES (BET trades only).
    p_yes: Mapped[float | None] = mapped_column(Float)


class PortfolioSnapshot(Base):
    """An agent's marked-to-market value at one 10-minute bucket."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        UniqueConstraint("agent_id", "snapshot_timestamp"),
        Index("idx_snapshots_agent", "agent_id"),
        Index("idx_snapshots_timestamp", desc("snapshot_timestamp")),
        Index("idx_snapshots_agent_timestamp", "agent_id", desc("snapshot_timestamp")),
        Index(
            "idx_snapshots_timestamp_agent_value",
            desc("snapshot_timestamp"),
            "agent_id",
            "total_value",
        ),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent_id: Mapped[str] = _fk("agents.id")
    snapshot_timestamp: Mapped[datetime] = mapped_column(UtcText())
    cash_balance: Mapped[float] = mapped_column(Float)
    positions_value: Mapped[float] = mapped_column(Float)
    total_value: Mapped[float] = mapped_column(Float)
    total_pnl: Mapped[float] = mapped_column(Float)
    total_pnl_percent: Mapped[float] = mapped_column(Float)
    brier_score: Mapped[float | None] = mapped_column(Float)
    num_resolved_bets: Mapped[int | None] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    created_at: Mapped[datetime | None] = _now_default()


class MarketPriceSnapshot(Base):
    """Which price a snapshot run accepted for a market, and why."""

    __tablename__ = "market_price_snapshots"
    __table_args__ = (
        UniqueConstraint("market_id", "snapshot_timestamp"),
        _one_of("source", PRICE_SOURCES),
        _one_of("validation_status", PRICE_VALIDATION_STATUSES),
        Index("idx_market_price_snapshots_market_time", "market_id", desc("snapshot_timestamp")),
        Index(
            "idx_market_price_snapshots_status_time",
            "validation_status",
            desc("snapshot_timestamp"),
        ),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    market_id: Mapped[str] = _fk("markets.id")
    snapshot_timestamp: Mapped[datetime] = mapped_column(UtcText())
    source: Mapped[str] = mapped_column(Text)
    accepted_price: Mapped[float | None] = mapped_column(Float)
    accepted_prices: Mapped[str | None] = mapped_column(Text)
    gamma_price: Mapped[float | None] = mapped_column(Float)
    gamma_prices: Mapped[str | None] = mapped_column(Text)
    clob_token_ids: Mapped[str | None] = mapped_column(Text)
    validation_status: Mapped[str] = mapped_column(Text)
    anomaly_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = _now_default()


class BrierScore(Base):
    """The Brier score of one BUY trade once its market resolved (one row per trade)."""

    __tablename__ = "brier_scores"
    __table_args__ = (
        Index("idx_brier_trade", "trade_id", unique=True),
        Index("idx_brier_agent", "agent_id"),
        Index("idx_brier_market", "market_id"),
        Index("idx_brier_family", "family_id"),
        Index("idx_brier_release", "release_id"),
        Index("idx_brier_config_model", "benchmark_config_model_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent_id: Mapped[str] = _fk("agents.id")
    trade_id: Mapped[str] = _fk("trades.id")
    market_id: Mapped[str] = _fk("markets.id")
    family_id: Mapped[str | None] = _fk("model_families.id", nullable=True)
    release_id: Mapped[str | None] = _fk("model_releases.id", nullable=True)
    # The conventional constraint name would pass PostgreSQL's 63-character limit.
    benchmark_config_model_id: Mapped[str | None] = _fk(
        "benchmark_config_models.id",
        nullable=True,
        name="fk_brier_scores_benchmark_config_model_id",
    )
    forecast_probability: Mapped[float] = mapped_column(Float)
    actual_outcome: Mapped[float] = mapped_column(Float)
    brier_score: Mapped[float] = mapped_column(Float)
    calculated_at: Mapped[datetime | None] = _now_default()


class ApiCost(Base):
    """What one decision's model calls cost (one row per decision)."""

    __tablename__ = "api_costs"
    __table_args__ = (
        Index(
            "idx_api_costs_decision_unique",
            "decision_id",
            unique=True,
            sqlite_where=DECISION_ONLY,
            postgresql_where=DECISION_ONLY,
        ),
        Index("idx_api_costs_recorded", desc("recorded_at")),
        Index("idx_api_costs_model", "model_id"),
        Index("idx_api_costs_agent", "agent_id"),
        Index("idx_api_costs_family", "family_id"),
        Index("idx_api_costs_release", "release_id"),
        Index("idx_api_costs_config_model", "benchmark_config_model_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    model_id: Mapped[str] = _fk("models.id")
    agent_id: Mapped[str | None] = _fk("agents.id", nullable=True)
    family_id: Mapped[str | None] = _fk("model_families.id", nullable=True)
    release_id: Mapped[str | None] = _fk("model_releases.id", nullable=True)
    benchmark_config_model_id: Mapped[str | None] = _fk("benchmark_config_models.id", nullable=True)
    decision_id: Mapped[str | None] = _fk("decisions.id", nullable=True)
    tokens_input: Mapped[int | None] = mapped_column(Integer)
    tokens_output: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime | None] = _now_default()


class SystemLog(Base):
    """An operator-facing event (catalog in §16 of the reference)."""

    __tablename__ = "system_logs"
    __table_args__ = (
        _one_of("severity", LOG_SEVERITIES),
        Index("idx_logs_type", "event_type"),
        Index("idx_logs_severity", "severity"),
        Index("idx_logs_created", desc("created_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_type: Mapped[str] = mapped_column(Text)
    event_data: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(Text, default="info", server_default="info")
    created_at: Mapped[datetime | None] = _now_default()


class ModelLineupReview(Base):
    """One check of the OpenRouter catalog for newer releases, awaiting an admin."""

    __tablename__ = "model_lineup_reviews"
    __table_args__ = (
        _one_of("status", LINEUP_REVIEW_STATUSES),
        Index("idx_model_lineup_reviews_checked_at", desc("checked_at")),
        Index("idx_model_lineup_reviews_status", "status", desc("checked_at")),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = _now_default()
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcText())
    target_config_id: Mapped[str | None] = _fk("benchmark_configs.id", nullable=True)
    candidate_lineup_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    catalog_summary_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = _now_default()


class PerformanceChartCache(Base):
    """A persisted performance-chart payload for one range."""

    __tablename__ = "performance_chart_cache"
    __table_args__ = (_one_of("range_key", CHART_RANGES),)

    cache_key: Mapped[str] = mapped_column(Text, primary_key=True)
    cohort_id: Mapped[str | None] = _fk("cohorts.id", nullable=True)
    range_key: Mapped[str] = mapped_column(Text)
    payload_json: Mapped[str] = mapped_column(Text)
    generated_at: Mapped[datetime | None] = _now_default()
