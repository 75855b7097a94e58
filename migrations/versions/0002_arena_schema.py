"""Forecaster Arena schema: every table of the anchor's final schema (with `trades.p_yes` and
`decisions.p_yes_flags`), its lineage guard triggers, the two identity views and the seeded
catalog.

Revision ID: 0002_arena
Revises: 0001_service
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

from arenabrain.arena.seed import seed_catalog

revision: str = "0002_arena"
down_revision: str | None = "0001_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Timestamps are text in SQLite's CURRENT_TIMESTAMP format on every database.
UTC_NOW = {
    "sqlite": "CURRENT_TIMESTAMP",
    "postgresql": "to_char(timezone('UTC', now()), 'YYYY-MM-DD HH24:MI:SS')",
}

TABLES = (
    "methodology_versions",
    "models",
    "model_families",
    "model_releases",
    "benchmark_configs",
    "benchmark_config_models",
    "cohorts",
    "agents",
    "markets",
    "positions",
    "decisions",
    "trades",
    "portfolio_snapshots",
    "market_price_snapshots",
    "brier_scores",
    "api_costs",
    "system_logs",
    "model_lineup_reviews",
    "performance_chart_cache",
)


@dataclass(frozen=True)
class Guard:
    """A write guard: `<name>_insert` and `<name>_update` triggers that abort with `message`
    when `violation` (SQL over NEW, valid in SQLite and PL/pgSQL alike) holds."""

    name: str
    table: str
    columns: tuple[str, ...]
    violation: str
    message: str


GUARDS = (
    Guard(
        name="cohorts_require_benchmark_config",
        table="cohorts",
        columns=("benchmark_config_id",),
        violation="NEW.benchmark_config_id IS NULL",
        message="cohorts.benchmark_config_id is required",
    ),
    Guard(
        name="agents_require_frozen_lineage",
        table="agents",
        columns=("family_id", "release_id", "benchmark_config_model_id"),
        violation=(
            "NEW.family_id IS NULL OR NEW.release_id IS NULL"
            " OR NEW.benchmark_config_model_id IS NULL"
        ),
        message="agents frozen lineage is required",
    ),
    Guard(
        name="benchmark_config_models_release_family_guard",
        table="benchmark_config_models",
        columns=("family_id", "release_id"),
        violation=(
            "NOT EXISTS (SELECT 1 FROM model_releases r"
            " WHERE r.id = NEW.release_id AND r.family_id = NEW.family_id)"
        ),
        message="benchmark config release/family mismatch",
    ),
    Guard(
        name="decisions_agent_cohort_guard",
        table="decisions",
        columns=("agent_id", "cohort_id"),
        violation=(
            "NOT EXISTS (SELECT 1 FROM agents a"
            " WHERE a.id = NEW.agent_id AND a.cohort_id = NEW.cohort_id)"
        ),
        message="decision agent/cohort mismatch",
    ),
    Guard(
        name="trades_relationship_guard",
        table="trades",
        columns=(
            "agent_id",
            "market_id",
            "side",
            "position_id",
            "decision_id",
            "family_id",
            "release_id",
        ),
        violation=(
            "(NEW.position_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM positions p"
            " WHERE p.id = NEW.position_id AND p.agent_id = NEW.agent_id"
            " AND p.market_id = NEW.market_id AND p.side = NEW.side))"
            " OR (NEW.decision_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM decisions d"
            " WHERE d.id = NEW.decision_id AND d.agent_id = NEW.agent_id))"
            " OR (NEW.release_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM model_releases r"
            " WHERE r.id = NEW.release_id AND r.family_id = NEW.family_id))"
        ),
        message="trade relationship mismatch",
    ),
)

AGENT_IDENTITY_VIEW = """
CREATE VIEW agent_benchmark_identity_v AS
SELECT
    a.id AS agent_id,
    a.cohort_id AS cohort_id,
    a.model_id AS legacy_model_id,
    a.family_id AS family_id,
    f.slug AS family_slug,
    bcm.family_display_name_snapshot AS family_display_name,
    bcm.short_display_name_snapshot AS short_display_name,
    a.release_id AS release_id,
    r.release_slug AS release_slug,
    bcm.release_display_name_snapshot AS release_display_name,
    bcm.provider_snapshot AS provider,
    bcm.color_snapshot AS color,
    bcm.openrouter_id_snapshot AS openrouter_id,
    bcm.input_price_per_million_snapshot AS input_price_per_million,
    bcm.output_price_per_million_snapshot AS output_price_per_million,
    a.benchmark_config_model_id AS benchmark_config_model_id
FROM agents a
LEFT JOIN model_families f ON f.id = a.family_id
LEFT JOIN model_releases r ON r.id = a.release_id
LEFT JOIN benchmark_config_models bcm ON bcm.id = a.benchmark_config_model_id
"""

# A decision's own frozen lineage wins; the agent's identity fills what it lacks.
DECISION_IDENTITY_VIEW = """
CREATE VIEW decision_benchmark_identity_v AS
SELECT
    d.id AS decision_id,
    COALESCE(d.family_id, ai.family_id) AS family_id,
    COALESCE(f.slug, ai.family_slug) AS family_slug,
    ai.legacy_model_id AS legacy_model_id,
    COALESCE(bcm.family_display_name_snapshot, f.public_display_name, ai.family_display_name)
        AS family_display_name,
    COALESCE(bcm.short_display_name_snapshot, f.short_display_name, ai.short_display_name)
        AS short_display_name,
    COALESCE(d.release_id, ai.release_id) AS release_id,
    COALESCE(r.release_slug, ai.release_slug) AS release_slug,
    COALESCE(bcm.release_display_name_snapshot, r.release_name, ai.release_display_name)
        AS release_display_name,
    COALESCE(bcm.provider_snapshot, r.provider, ai.provider, 'Unknown') AS provider,
    COALESCE(bcm.color_snapshot, f.color, ai.color, '#94A3B8') AS color,
    COALESCE(bcm.openrouter_id_snapshot, r.openrouter_id, ai.openrouter_id) AS openrouter_id,
    COALESCE(bcm.input_price_per_million_snapshot, ai.input_price_per_million)
        AS input_price_per_million,
    COALESCE(bcm.output_price_per_million_snapshot, ai.output_price_per_million)
        AS output_price_per_million,
    COALESCE(d.benchmark_config_model_id, ai.benchmark_config_model_id)
        AS benchmark_config_model_id
FROM decisions d
LEFT JOIN agent_benchmark_identity_v ai ON ai.agent_id = d.agent_id
LEFT JOIN model_families f ON f.id = d.family_id
LEFT JOIN model_releases r ON r.id = d.release_id
LEFT JOIN benchmark_config_models bcm ON bcm.id = d.benchmark_config_model_id
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in UTC_NOW:
        raise RuntimeError(f"The arena schema supports SQLite and PostgreSQL, not {dialect}")
    _create_tables(now=sa.text(UTC_NOW[dialect]))
    for guard in GUARDS:
        _create_guard(guard, dialect)
    op.execute(AGENT_IDENTITY_VIEW)
    op.execute(DECISION_IDENTITY_VIEW)
    seed_catalog(op.get_bind())


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS decision_benchmark_identity_v")
    op.execute("DROP VIEW IF EXISTS agent_benchmark_identity_v")
    # Dropping a table drops its triggers; PostgreSQL keeps the trigger functions.
    for table in reversed(TABLES):
        op.drop_table(table)
    if dialect == "postgresql":
        for guard in GUARDS:
            op.execute(f"DROP FUNCTION IF EXISTS {guard.name}_fn()")


def _create_guard(guard: Guard, dialect: str) -> None:
    columns = ", ".join(guard.columns)
    if dialect == "sqlite":
        for suffix, event in (("insert", "INSERT"), ("update", f"UPDATE OF {columns}")):
            op.execute(
                f"CREATE TRIGGER {guard.name}_{suffix} BEFORE {event} ON {guard.table}\n"
                f"FOR EACH ROW WHEN {guard.violation}\n"
                f"BEGIN SELECT RAISE(ABORT, '{guard.message}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {guard.name}_fn() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n"
        f"    IF {guard.violation} THEN\n"
        f"        RAISE EXCEPTION '{guard.message}' USING ERRCODE = 'integrity_constraint_violation';\n"
        f"    END IF;\n"
        f"    RETURN NEW;\n"
        f"END\n"
        f"$$"
    )
    for suffix, event in (("insert", "INSERT"), ("update", f"UPDATE OF {columns}")):
        op.execute(
            f"CREATE TRIGGER {guard.name}_{suffix} BEFORE {event} ON {guard.table}\n"
            f"FOR EACH ROW EXECUTE FUNCTION {guard.name}_fn()"
        )


def _create_tables(now: sa.TextClause) -> None:
    open_only = sa.text("status = 'open'")
    decision_only = sa.text("decision_id IS NOT NULL")

    op.create_table(
        "methodology_versions",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("changes_summary", sa.Text(), nullable=True),
        sa.Column("effective_from_cohort", sa.Integer(), nullable=True),
        sa.Column("document_hash", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_methodology_versions")),
    )

    op.create_table(
        "models",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("openrouter_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("color", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Integer(), server_default=sa.text("1"), nullable=True),
        sa.Column("added_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("openrouter_id", name=op.f("uq_models_openrouter_id")),
        sa.CheckConstraint("is_active IN (0, 1)", name=op.f("ck_models_is_active")),
    )

    op.create_table(
        "model_families",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("legacy_model_id", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("public_display_name", sa.Text(), nullable=False),
        sa.Column("short_display_name", sa.Text(), nullable=False),
        sa.Column("color", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("retired_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_families")),
        sa.UniqueConstraint("slug", name=op.f("uq_model_families_slug")),
        sa.UniqueConstraint("legacy_model_id", name=op.f("uq_model_families_legacy_model_id")),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'retired')", name=op.f("ck_model_families_status")
        ),
    )
    op.create_index("idx_model_families_status_order", "model_families", ["status", "sort_order"])

    op.create_table(
        "model_releases",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=False),
        sa.Column("release_name", sa.Text(), nullable=False),
        sa.Column("release_slug", sa.Text(), nullable=False),
        sa.Column("openrouter_id", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("release_status", sa.Text(), server_default="active", nullable=False),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("retired_at", sa.String(32), nullable=True),
        sa.Column("first_used_cohort_number", sa.Integer(), nullable=True),
        sa.Column("last_used_cohort_number", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_releases")),
        sa.UniqueConstraint(
            "family_id", "release_slug", name=op.f("uq_model_releases_family_id_release_slug")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["model_families.id"],
            name=op.f("fk_model_releases_family_id_model_families"),
        ),
        sa.CheckConstraint(
            "release_status IN ('active', 'deprecated', 'retired')",
            name=op.f("ck_model_releases_release_status"),
        ),
    )
    op.create_index(
        "idx_model_releases_family_status",
        "model_releases",
        ["family_id", "release_status", sa.text("created_at DESC")],
    )
    op.create_index("idx_model_releases_openrouter", "model_releases", ["openrouter_id"])

    op.create_table(
        "benchmark_configs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("version_name", sa.Text(), nullable=False),
        sa.Column("methodology_version", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "is_default_for_future_cohorts",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmark_configs")),
        sa.UniqueConstraint("version_name", name=op.f("uq_benchmark_configs_version_name")),
        sa.ForeignKeyConstraint(
            ["methodology_version"],
            ["methodology_versions.version"],
            name=op.f("fk_benchmark_configs_methodology_version_methodology_versions"),
        ),
        sa.CheckConstraint(
            "is_default_for_future_cohorts IN (0, 1)",
            name=op.f("ck_benchmark_configs_is_default_for_future_cohorts"),
        ),
    )
    op.create_index(
        "idx_benchmark_configs_default",
        "benchmark_configs",
        ["is_default_for_future_cohorts", sa.text("created_at DESC")],
    )

    op.create_table(
        "benchmark_config_models",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("benchmark_config_id", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=False),
        sa.Column("release_id", sa.Text(), nullable=False),
        sa.Column("slot_order", sa.Integer(), nullable=False),
        sa.Column("family_display_name_snapshot", sa.Text(), nullable=False),
        sa.Column("short_display_name_snapshot", sa.Text(), nullable=False),
        sa.Column("release_display_name_snapshot", sa.Text(), nullable=False),
        sa.Column("provider_snapshot", sa.Text(), nullable=False),
        sa.Column("color_snapshot", sa.Text(), nullable=True),
        sa.Column("openrouter_id_snapshot", sa.Text(), nullable=False),
        sa.Column("input_price_per_million_snapshot", sa.Float(), nullable=False),
        sa.Column("output_price_per_million_snapshot", sa.Float(), nullable=False),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmark_config_models")),
        sa.UniqueConstraint(
            "benchmark_config_id",
            "family_id",
            name=op.f("uq_benchmark_config_models_benchmark_config_id_family_id"),
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_id"],
            ["benchmark_configs.id"],
            name=op.f("fk_benchmark_config_models_benchmark_config_id"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["model_families.id"],
            name=op.f("fk_benchmark_config_models_family_id_model_families"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["model_releases.id"],
            name=op.f("fk_benchmark_config_models_release_id_model_releases"),
        ),
    )
    op.create_index(
        "idx_benchmark_config_models_config_slot",
        "benchmark_config_models",
        ["benchmark_config_id", "slot_order"],
    )
    op.create_index(
        "idx_benchmark_config_models_release", "benchmark_config_models", ["release_id"]
    )

    op.create_table(
        "cohorts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("cohort_number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("completed_at", sa.String(32), nullable=True),
        sa.Column("methodology_version", sa.Text(), server_default="v1", nullable=False),
        sa.Column("benchmark_config_id", sa.Text(), nullable=False),
        sa.Column("is_archived", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("archived_at", sa.String(32), nullable=True),
        sa.Column("archive_reason", sa.Text(), nullable=True),
        sa.Column("initial_balance", sa.Float(), server_default=sa.text("10000.0"), nullable=False),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("cohort_number", name=op.f("uq_cohorts_cohort_number")),
        sa.ForeignKeyConstraint(
            ["methodology_version"],
            ["methodology_versions.version"],
            name=op.f("fk_cohorts_methodology_version_methodology_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_id"],
            ["benchmark_configs.id"],
            name=op.f("fk_cohorts_benchmark_config_id_benchmark_configs"),
        ),
        sa.CheckConstraint("status IN ('active', 'completed')", name=op.f("ck_cohorts_status")),
        sa.CheckConstraint("is_archived IN (0, 1)", name=op.f("ck_cohorts_is_archived")),
    )
    op.create_index("idx_cohorts_started_unique", "cohorts", ["started_at"], unique=True)
    op.create_index("idx_cohorts_status", "cohorts", ["status"])
    op.create_index("idx_cohorts_archived_status", "cohorts", ["is_archived", "status"])
    op.create_index("idx_cohorts_started", "cohorts", [sa.text("started_at DESC")])

    op.create_table(
        "agents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("cohort_id", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=False),
        sa.Column("release_id", sa.Text(), nullable=False),
        sa.Column("benchmark_config_model_id", sa.Text(), nullable=False),
        sa.Column("cash_balance", sa.Float(), server_default=sa.text("10000.0"), nullable=False),
        sa.Column("total_invested", sa.Float(), server_default=sa.text("0.0"), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint(
            "cohort_id",
            "benchmark_config_model_id",
            name=op.f("uq_agents_cohort_id_benchmark_config_model_id"),
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_agents_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_agents_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["model_families.id"], name=op.f("fk_agents_family_id_model_families")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["model_releases.id"], name=op.f("fk_agents_release_id_model_releases")
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_model_id"],
            ["benchmark_config_models.id"],
            name=op.f("fk_agents_benchmark_config_model_id_benchmark_config_models"),
        ),
        sa.CheckConstraint("status IN ('active', 'bankrupt')", name=op.f("ck_agents_status")),
    )
    op.create_index("idx_agents_cohort", "agents", ["cohort_id"])
    op.create_index("idx_agents_model", "agents", ["model_id"])
    op.create_index("idx_agents_family", "agents", ["family_id"])
    op.create_index("idx_agents_release", "agents", ["release_id"])
    op.create_index("idx_agents_config_model", "agents", ["benchmark_config_model_id"])
    op.create_index("idx_agents_status", "agents", ["status"])
    op.create_index("idx_agents_cohort_family", "agents", ["cohort_id", "family_id"])
    op.create_index("idx_agents_status_balance", "agents", ["status", sa.text("cash_balance DESC")])

    op.create_table(
        "markets",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("polymarket_id", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=True),
        sa.Column("event_slug", sa.Text(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("market_type", sa.Text(), server_default="binary", nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=True),
        sa.Column("close_date", sa.String(32), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("current_price", sa.Float(), nullable=True),
        sa.Column("current_prices", sa.Text(), nullable=True),
        sa.Column("clob_token_ids", sa.Text(), nullable=True),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("liquidity", sa.Float(), nullable=True),
        sa.Column("resolution_outcome", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.String(32), nullable=True),
        sa.Column("first_seen_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("last_updated_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markets")),
        sa.UniqueConstraint("polymarket_id", name=op.f("uq_markets_polymarket_id")),
        sa.CheckConstraint(
            "market_type IN ('binary', 'multi_outcome')", name=op.f("ck_markets_market_type")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'closed', 'resolved')", name=op.f("ck_markets_status")
        ),
    )
    op.create_index("idx_markets_status", "markets", ["status"])
    op.create_index("idx_markets_polymarket", "markets", ["polymarket_id"])
    op.create_index("idx_markets_category", "markets", ["category"])
    op.create_index("idx_markets_volume", "markets", [sa.text("volume DESC")])
    op.create_index("idx_markets_close_date", "markets", ["close_date"])
    op.create_index(
        "idx_markets_status_resolved", "markets", ["status", sa.text("resolved_at DESC")]
    )

    op.create_table(
        "positions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("market_id", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("shares", sa.Float(), nullable=False),
        sa.Column("avg_entry_price", sa.Float(), nullable=False),
        sa.Column("total_cost", sa.Float(), nullable=False),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("unrealized_pnl", sa.Float(), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("opened_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("closed_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_positions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_positions_market_id_markets")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'settled')", name=op.f("ck_positions_status")
        ),
    )
    op.create_index(
        "idx_positions_open_agent_market_side",
        "positions",
        ["agent_id", "market_id", "side"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_index("idx_positions_agent", "positions", ["agent_id"])
    op.create_index("idx_positions_market", "positions", ["market_id"])
    op.create_index("idx_positions_status", "positions", ["status"])
    op.create_index("idx_positions_agent_status", "positions", ["agent_id", "status"])
    op.create_index("idx_positions_agent_market", "positions", ["agent_id", "market_id"])
    op.create_index(
        "idx_positions_agent_market_status", "positions", ["agent_id", "market_id", "status"]
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("cohort_id", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("release_id", sa.Text(), nullable=True),
        sa.Column("benchmark_config_model_id", sa.Text(), nullable=True),
        sa.Column("decision_week", sa.Integer(), nullable=False),
        sa.Column("decision_timestamp", sa.String(32), nullable=False),
        sa.Column("prompt_system", sa.Text(), nullable=False),
        sa.Column("prompt_user", sa.Text(), nullable=False),
        sa.Column("raw_response", sa.Text(), nullable=True),
        sa.Column("parsed_response", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("tokens_input", sa.Integer(), nullable=True),
        sa.Column("tokens_output", sa.Integer(), nullable=True),
        sa.Column("api_cost_usd", sa.Float(), nullable=True),
        sa.Column("response_time_ms", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("p_yes_flags", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_decisions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_decisions_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["model_families.id"], name=op.f("fk_decisions_family_id_model_families")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["model_releases.id"],
            name=op.f("fk_decisions_release_id_model_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_model_id"],
            ["benchmark_config_models.id"],
            name=op.f("fk_decisions_benchmark_config_model_id_benchmark_config_models"),
        ),
        sa.CheckConstraint(
            "action IN ('BET', 'SELL', 'HOLD', 'ERROR')", name=op.f("ck_decisions_action")
        ),
    )
    op.create_index(
        "idx_decisions_agent_cohort_week_unique",
        "decisions",
        ["agent_id", "cohort_id", "decision_week"],
        unique=True,
    )
    op.create_index("idx_decisions_agent", "decisions", ["agent_id"])
    op.create_index("idx_decisions_cohort", "decisions", ["cohort_id"])
    op.create_index("idx_decisions_timestamp", "decisions", [sa.text("decision_timestamp DESC")])
    op.create_index("idx_decisions_family", "decisions", ["family_id"])
    op.create_index("idx_decisions_release", "decisions", ["release_id"])
    op.create_index("idx_decisions_config_model", "decisions", ["benchmark_config_model_id"])
    op.create_index("idx_decisions_agent_week", "decisions", ["agent_id", "decision_week"])

    op.create_table(
        "trades",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("market_id", sa.Text(), nullable=False),
        sa.Column("position_id", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.Text(), nullable=True),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("release_id", sa.Text(), nullable=True),
        sa.Column("benchmark_config_model_id", sa.Text(), nullable=True),
        sa.Column("trade_type", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("shares", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("total_amount", sa.Float(), nullable=False),
        sa.Column("implied_confidence", sa.Float(), nullable=True),
        sa.Column("cost_basis", sa.Float(), nullable=True),
        sa.Column("realized_pnl", sa.Float(), nullable=True),
        sa.Column("executed_at", sa.String(32), server_default=now, nullable=True),
        sa.Column("p_yes", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_trades_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_trades_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_trades_position_id_positions")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_trades_decision_id_decisions")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["model_families.id"], name=op.f("fk_trades_family_id_model_families")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["model_releases.id"], name=op.f("fk_trades_release_id_model_releases")
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_model_id"],
            ["benchmark_config_models.id"],
            name=op.f("fk_trades_benchmark_config_model_id_benchmark_config_models"),
        ),
        sa.CheckConstraint("trade_type IN ('BUY', 'SELL')", name=op.f("ck_trades_trade_type")),
        sa.CheckConstraint(
            "p_yes IS NULL OR (p_yes >= 0 AND p_yes <= 1)", name=op.f("ck_trades_p_yes")
        ),
    )
    op.create_index("idx_trades_agent", "trades", ["agent_id"])
    op.create_index("idx_trades_market", "trades", ["market_id"])
    op.create_index("idx_trades_decision", "trades", ["decision_id"])
    op.create_index("idx_trades_family", "trades", ["family_id"])
    op.create_index("idx_trades_release", "trades", ["release_id"])
    op.create_index("idx_trades_config_model", "trades", ["benchmark_config_model_id"])
    op.create_index("idx_trades_executed", "trades", [sa.text("executed_at DESC")])
    op.create_index(
        "idx_trades_market_executed", "trades", ["market_id", sa.text("executed_at DESC")]
    )

    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("snapshot_timestamp", sa.String(32), nullable=False),
        sa.Column("cash_balance", sa.Float(), nullable=False),
        sa.Column("positions_value", sa.Float(), nullable=False),
        sa.Column("total_value", sa.Float(), nullable=False),
        sa.Column("total_pnl", sa.Float(), nullable=False),
        sa.Column("total_pnl_percent", sa.Float(), nullable=False),
        sa.Column("brier_score", sa.Float(), nullable=True),
        sa.Column("num_resolved_bets", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshots")),
        sa.UniqueConstraint(
            "agent_id",
            "snapshot_timestamp",
            name=op.f("uq_portfolio_snapshots_agent_id_snapshot_timestamp"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_portfolio_snapshots_agent_id_agents")
        ),
    )
    op.create_index("idx_snapshots_agent", "portfolio_snapshots", ["agent_id"])
    op.create_index(
        "idx_snapshots_timestamp", "portfolio_snapshots", [sa.text("snapshot_timestamp DESC")]
    )
    op.create_index(
        "idx_snapshots_agent_timestamp",
        "portfolio_snapshots",
        ["agent_id", sa.text("snapshot_timestamp DESC")],
    )
    op.create_index(
        "idx_snapshots_timestamp_agent_value",
        "portfolio_snapshots",
        [sa.text("snapshot_timestamp DESC"), "agent_id", "total_value"],
    )

    op.create_table(
        "market_price_snapshots",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("market_id", sa.Text(), nullable=False),
        sa.Column("snapshot_timestamp", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("accepted_price", sa.Float(), nullable=True),
        sa.Column("accepted_prices", sa.Text(), nullable=True),
        sa.Column("gamma_price", sa.Float(), nullable=True),
        sa.Column("gamma_prices", sa.Text(), nullable=True),
        sa.Column("clob_token_ids", sa.Text(), nullable=True),
        sa.Column("validation_status", sa.Text(), nullable=False),
        sa.Column("anomaly_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_price_snapshots")),
        sa.UniqueConstraint(
            "market_id",
            "snapshot_timestamp",
            name=op.f("uq_market_price_snapshots_market_id_snapshot_timestamp"),
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_market_price_snapshots_market_id_markets")
        ),
        sa.CheckConstraint(
            "source IN ('clob', 'fallback')", name=op.f("ck_market_price_snapshots_source")
        ),
        sa.CheckConstraint(
            "validation_status IN ('accepted', 'accepted_with_gamma_disagreement', 'fallback')",
            name=op.f("ck_market_price_snapshots_validation_status"),
        ),
    )
    op.create_index(
        "idx_market_price_snapshots_market_time",
        "market_price_snapshots",
        ["market_id", sa.text("snapshot_timestamp DESC")],
    )
    op.create_index(
        "idx_market_price_snapshots_status_time",
        "market_price_snapshots",
        ["validation_status", sa.text("snapshot_timestamp DESC")],
    )

    op.create_table(
        "brier_scores",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("trade_id", sa.Text(), nullable=False),
        sa.Column("market_id", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("release_id", sa.Text(), nullable=True),
        sa.Column("benchmark_config_model_id", sa.Text(), nullable=True),
        sa.Column("forecast_probability", sa.Float(), nullable=False),
        sa.Column("actual_outcome", sa.Float(), nullable=False),
        sa.Column("brier_score", sa.Float(), nullable=False),
        sa.Column("calculated_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brier_scores")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_brier_scores_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.id"], name=op.f("fk_brier_scores_trade_id_trades")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_brier_scores_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["model_families.id"],
            name=op.f("fk_brier_scores_family_id_model_families"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["model_releases.id"],
            name=op.f("fk_brier_scores_release_id_model_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_model_id"],
            ["benchmark_config_models.id"],
            name=op.f("fk_brier_scores_benchmark_config_model_id"),
        ),
    )
    op.create_index("idx_brier_trade", "brier_scores", ["trade_id"], unique=True)
    op.create_index("idx_brier_agent", "brier_scores", ["agent_id"])
    op.create_index("idx_brier_market", "brier_scores", ["market_id"])
    op.create_index("idx_brier_family", "brier_scores", ["family_id"])
    op.create_index("idx_brier_release", "brier_scores", ["release_id"])
    op.create_index("idx_brier_config_model", "brier_scores", ["benchmark_config_model_id"])

    op.create_table(
        "api_costs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("family_id", sa.Text(), nullable=True),
        sa.Column("release_id", sa.Text(), nullable=True),
        sa.Column("benchmark_config_model_id", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.Text(), nullable=True),
        sa.Column("tokens_input", sa.Integer(), nullable=True),
        sa.Column("tokens_output", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_costs")),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_api_costs_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_api_costs_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["model_families.id"], name=op.f("fk_api_costs_family_id_model_families")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["model_releases.id"],
            name=op.f("fk_api_costs_release_id_model_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_config_model_id"],
            ["benchmark_config_models.id"],
            name=op.f("fk_api_costs_benchmark_config_model_id_benchmark_config_models"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_api_costs_decision_id_decisions")
        ),
    )
    op.create_index(
        "idx_api_costs_decision_unique",
        "api_costs",
        ["decision_id"],
        unique=True,
        sqlite_where=decision_only,
        postgresql_where=decision_only,
    )
    op.create_index("idx_api_costs_recorded", "api_costs", [sa.text("recorded_at DESC")])
    op.create_index("idx_api_costs_model", "api_costs", ["model_id"])
    op.create_index("idx_api_costs_agent", "api_costs", ["agent_id"])
    op.create_index("idx_api_costs_family", "api_costs", ["family_id"])
    op.create_index("idx_api_costs_release", "api_costs", ["release_id"])
    op.create_index("idx_api_costs_config_model", "api_costs", ["benchmark_config_model_id"])

    op.create_table(
        "system_logs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_data", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), server_default="info", nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_logs")),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'error')", name=op.f("ck_system_logs_severity")
        ),
    )
    op.create_index("idx_logs_type", "system_logs", ["event_type"])
    op.create_index("idx_logs_severity", "system_logs", ["severity"])
    op.create_index("idx_logs_created", "system_logs", [sa.text("created_at DESC")])

    op.create_table(
        "model_lineup_reviews",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.String(32), server_default=now, nullable=False),
        sa.Column("reviewed_at", sa.String(32), nullable=True),
        sa.Column("target_config_id", sa.Text(), nullable=True),
        sa.Column("candidate_lineup_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("catalog_summary_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_lineup_reviews")),
        sa.ForeignKeyConstraint(
            ["target_config_id"],
            ["benchmark_configs.id"],
            name=op.f("fk_model_lineup_reviews_target_config_id_benchmark_configs"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'no_changes', 'approved', 'dismissed', 'failed')",
            name=op.f("ck_model_lineup_reviews_status"),
        ),
    )
    op.create_index(
        "idx_model_lineup_reviews_checked_at", "model_lineup_reviews", [sa.text("checked_at DESC")]
    )
    op.create_index(
        "idx_model_lineup_reviews_status",
        "model_lineup_reviews",
        ["status", sa.text("checked_at DESC")],
    )

    op.create_table(
        "performance_chart_cache",
        sa.Column("cache_key", sa.Text(), nullable=False),
        sa.Column("cohort_id", sa.Text(), nullable=True),
        sa.Column("range_key", sa.Text(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("generated_at", sa.String(32), server_default=now, nullable=True),
        sa.PrimaryKeyConstraint("cache_key", name=op.f("pk_performance_chart_cache")),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_performance_chart_cache_cohort_id_cohorts")
        ),
        sa.CheckConstraint(
            "range_key IN ('10M', '1H', '1D', '1W', '1M', '3M', 'ALL')",
            name=op.f("ck_performance_chart_cache_range_key"),
        ),
    )
