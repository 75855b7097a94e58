"""CreditBrain schema: strategies, runs and their checkpoints, claim transactions, audit log,
holder and allocation snapshots, the credit pool ledger, user keys and their claim nonces,
usage snapshots, daily run counts, run locks, circuit breakers and webhooks.

The anchor's REAL amount columns are generated from the exact integer ones (lamports, USDC base
units, cents). A later SQLite batch rebuild of strategies, runs, allocation_snapshots,
credit_pool_allocations or user_keys must drop and re-add those generated columns inside the
batch, since Alembic's copy would INSERT into them. Values are frozen here on purpose: a
migration must not follow later edits of `arenabrain.credits.models`.

Revision ID: 0003_credits
Revises: 0002_arena
Create Date: 2026-11-22
"""

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_credits"
down_revision: str | None = "0002_arena"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_STATES = (
    "PENDING",
    "CLAIMING",
    "SWAPPING",
    "BRIDGING",
    "FUNDING",
    "ALLOCATING",
    "PROVISIONING",
    "COMPLETE",
    "FAILED",
)
RUN_TRIGGERS = ("scheduler", "api", "cli", "resume")
DISTRIBUTION_MODES = (
    "OWNER_ONLY",
    "TOP_N_HOLDERS",
    "EQUAL_SPLIT",
    "WEIGHTED_BY_HOLDINGS",
    "CUSTOM_LIST",
)
FEE_SOURCES = ("CLAIMABLE_POSITIONS", "PARTNER_FEES")
STRATEGY_STATUSES = ("ACTIVE", "PAUSED", "ERROR")
LIMIT_RESETS = ("daily", "weekly", "monthly")
KEY_STATUSES = ("ACTIVE", "EXHAUSTED", "EXPIRED", "REVOKED", "ROTATED")
LIVE_KEY = "status IN ('ACTIVE', 'EXHAUSTED')"
CLAIM_TX_STATUSES = ("pending", "sent", "confirmed", "failed")
BREAKER_STATES = ("CLOSED", "OPEN", "HALF_OPEN")


def _one_of(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    # op.f(): the name is final, so the metadata's naming convention does not prefix it again.
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    # UtcText: 'YYYY-MM-DD HH:MM:SS[.ffffff]' text on every database.
    return sa.Column(name, sa.String(32), nullable=nullable)


def _parity(name: str, expression: str) -> sa.Column:
    return sa.Column(name, sa.Float(), sa.Computed(expression, persisted=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "strategies",
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("owner_wallet", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), server_default="CLAIMABLE_POSITIONS", nullable=False),
        sa.Column("distribution_token", sa.String(64), server_default="", nullable=False),
        sa.Column(
            "distribution_mode", sa.String(32), server_default="TOP_N_HOLDERS", nullable=False
        ),
        sa.Column("distribution_top_n", sa.Integer(), server_default="100", nullable=False),
        sa.Column("key_limit_usd_cents", sa.BigInteger(), server_default="1000", nullable=False),
        sa.Column("key_limit_reset", sa.String(16), server_default="monthly", nullable=True),
        sa.Column("key_expiry_days", sa.Integer(), server_default="365", nullable=False),
        sa.Column("swap_slippage_bps", sa.Integer(), server_default="50", nullable=False),
        sa.Column("swap_max_price_impact_bps", sa.Integer(), server_default="300", nullable=False),
        sa.Column("credit_pool_reserve_pct", sa.Float(), server_default="10", nullable=False),
        sa.Column("exclusion_list", sa.Text(), server_default="[]", nullable=False),
        sa.Column("custom_allocations", sa.Text(), server_default="{}", nullable=False),
        sa.Column("schedule", sa.String(128), server_default="0 */6 * * *", nullable=False),
        sa.Column(
            "min_claim_threshold_lamports",
            sa.BigInteger(),
            server_default="5000000000",
            nullable=False,
        ),
        _parity("min_claim_threshold", "min_claim_threshold_lamports / 1000000000.0"),
        sa.Column("status", sa.String(16), server_default="ACTIVE", nullable=False),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("deleted_at", nullable=True),
        _check("strategies", "source", _one_of("source", FEE_SOURCES)),
        _check("strategies", "distribution_mode", _one_of("distribution_mode", DISTRIBUTION_MODES)),
        _check("strategies", "status", _one_of("status", STRATEGY_STATUSES)),
        _check("strategies", "key_limit_reset", _one_of("key_limit_reset", LIMIT_RESETS)),
        _check("strategies", "distribution_top_n", "distribution_top_n >= 1"),
        _check("strategies", "key_limit_usd_cents", "key_limit_usd_cents >= 0"),
        _check("strategies", "key_expiry_days", "key_expiry_days >= 0"),
        _check("strategies", "swap_slippage_bps", "swap_slippage_bps BETWEEN 0 AND 10000"),
        _check(
            "strategies",
            "swap_max_price_impact_bps",
            "swap_max_price_impact_bps BETWEEN 0 AND 10000",
        ),
        _check(
            "strategies",
            "credit_pool_reserve_pct",
            "credit_pool_reserve_pct >= 0 AND credit_pool_reserve_pct <= 50",
        ),
        _check("strategies", "min_claim_threshold_lamports", "min_claim_threshold_lamports >= 0"),
        sa.PrimaryKeyConstraint("strategy_id", name=op.f("pk_strategies")),
    )
    op.create_index(op.f("ix_strategies_owner_wallet"), "strategies", ["owner_wallet"])
    op.create_index(op.f("ix_strategies_status"), "strategies", ["status"])

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), server_default="PENDING", nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column(
            "dry_run",
            sa.Boolean(create_constraint=True, name="dry_run"),
            server_default=sa.false(),
            nullable=False,
        ),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("claimed_lamports", sa.BigInteger(), nullable=True),
        _parity("claimed_sol", "claimed_lamports / 1000000000.0"),
        sa.Column("claimed_tx_sig", sa.String(128), nullable=True),
        sa.Column("swapped_usdc_base_units", sa.BigInteger(), nullable=True),
        _parity("swapped_usdc", "swapped_usdc_base_units / 1000000.0"),
        sa.Column("swap_tx_sig", sa.String(128), nullable=True),
        sa.Column("swap_quote_snapshot", sa.Text(), nullable=True),
        sa.Column("bridged_usdc_base_units", sa.BigInteger(), nullable=True),
        _parity("bridged_usdc", "bridged_usdc_base_units / 1000000.0"),
        sa.Column("bridge_tx_hash", sa.String(128), nullable=True),
        sa.Column("bridging_skipped_reason", sa.Text(), nullable=True),
        sa.Column("funded_usdc_base_units", sa.BigInteger(), nullable=True),
        _parity("funded_usdc", "funded_usdc_base_units / 1000000.0"),
        sa.Column("funding_tx_hash", sa.String(128), nullable=True),
        sa.Column("funding_skipped_reason", sa.Text(), nullable=True),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=True),
        _parity("allocated_usd", "allocated_cents / 100.0"),
        sa.Column("keys_provisioned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("keys_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("error_failed_state", sa.String(16), nullable=True),
        _check("runs", "state", _one_of("state", RUN_STATES)),
        _check("runs", "error_failed_state", _one_of("error_failed_state", RUN_STATES)),
        _check("runs", "trigger", _one_of("trigger", RUN_TRIGGERS)),
        _check(
            "runs",
            "amounts_not_negative",
            "claimed_lamports >= 0 AND swapped_usdc_base_units >= 0"
            " AND bridged_usdc_base_units >= 0 AND funded_usdc_base_units >= 0"
            " AND allocated_cents >= 0 AND keys_provisioned >= 0 AND keys_updated >= 0",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.strategy_id"],
            name=op.f("fk_runs_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_strategy_id_started_at", "runs", ["strategy_id", "started_at"])
    op.create_index("ix_runs_state_started_at", "runs", ["state", "started_at"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])

    op.create_table(
        "claim_transactions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("position_key", sa.String(128), nullable=False),
        sa.Column("tx_index", sa.Integer(), server_default="0", nullable=False),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("lamports_expected", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("confirmed_at", nullable=True),
        _check("claim_transactions", "status", _one_of("status", CLAIM_TX_STATUSES)),
        _check("claim_transactions", "lamports_expected", "lamports_expected >= 0"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_claim_transactions_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_transactions")),
        sa.UniqueConstraint(
            "run_id",
            "position_key",
            "tx_index",
            name=op.f("uq_claim_transactions_run_id_position_key_tx_index"),
        ),
        sa.UniqueConstraint("signature", name=op.f("uq_claim_transactions_signature")),
    )
    op.create_index("ix_claim_transactions_status", "claim_transactions", ["status"])

    op.create_table(
        "audit_log",
        sa.Column("log_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("tx_signature", sa.String(128), nullable=True),
        _timestamp("timestamp"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_audit_log_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("log_id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_run_id_timestamp", "audit_log", ["run_id", "timestamp"])
    op.create_index(op.f("ix_audit_log_phase"), "audit_log", ["phase"])
    op.create_index(op.f("ix_audit_log_timestamp"), "audit_log", ["timestamp"])

    op.create_table(
        "holder_snapshots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("token_mint", sa.String(64), nullable=False),
        sa.Column("holder_wallet", sa.String(64), nullable=False),
        sa.Column("token_balance", sa.String(32), nullable=False),
        sa.Column("excluded_reason", sa.String(64), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_holder_snapshots_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holder_snapshots")),
        sa.UniqueConstraint(
            "run_id", "holder_wallet", name=op.f("uq_holder_snapshots_run_id_holder_wallet")
        ),
    )
    op.create_index(
        op.f("ix_holder_snapshots_holder_wallet"), "holder_snapshots", ["holder_wallet"]
    )

    op.create_table(
        "allocation_snapshots",
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("holder_wallet", sa.String(64), nullable=False),
        sa.Column("token_balance", sa.String(32), nullable=False),
        sa.Column("allocation_weight", sa.Float(), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        _parity("allocated_usd", "allocated_cents / 100.0"),
        sa.Column("key_hash", sa.String(128), nullable=True),
        _timestamp("created_at"),
        _check("allocation_snapshots", "allocated_cents", "allocated_cents >= 0"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_allocation_snapshots_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("pk_allocation_snapshots")),
        sa.UniqueConstraint(
            "run_id", "holder_wallet", name=op.f("uq_allocation_snapshots_run_id_holder_wallet")
        ),
    )
    op.create_index(
        op.f("ix_allocation_snapshots_holder_wallet"), "allocation_snapshots", ["holder_wallet"]
    )

    op.create_table(
        "credit_pool_allocations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        _parity("amount_usd", "amount_cents / 100.0"),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_credit_pool_allocations_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_pool_allocations")),
    )
    op.create_index(
        op.f("ix_credit_pool_allocations_run_id"), "credit_pool_allocations", ["run_id"]
    )
    op.create_index(
        op.f("ix_credit_pool_allocations_created_at"), "credit_pool_allocations", ["created_at"]
    )

    op.create_table(
        "user_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=True),
        sa.Column("holder_wallet", sa.String(64), nullable=False),
        sa.Column("openrouter_key_hash", sa.String(128), nullable=False),
        sa.Column("key_name", sa.String(128), nullable=False),
        sa.Column("encrypted_key", sa.Text(), nullable=True),
        _timestamp("collected_at", nullable=True),
        sa.Column("limit_usd_cents", sa.BigInteger(), server_default="0", nullable=False),
        _parity("spending_limit_usd", "limit_usd_cents / 100.0"),
        sa.Column("limit_reset", sa.String(16), nullable=True),
        sa.Column("current_usage_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("total_allocated_cents", sa.BigInteger(), server_default="0", nullable=False),
        _parity("total_allocated_usd", "total_allocated_cents / 100.0"),
        sa.Column("status", sa.String(16), server_default="ACTIVE", nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("expires_at", nullable=True),
        _timestamp("last_synced_at", nullable=True),
        _check("user_keys", "status", _one_of("status", KEY_STATUSES)),
        _check("user_keys", "limit_reset", _one_of("limit_reset", LIMIT_RESETS)),
        _check(
            "user_keys",
            "amounts_not_negative",
            "limit_usd_cents >= 0 AND total_allocated_cents >= 0",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.strategy_id"],
            name=op.f("fk_user_keys_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_user_keys")),
        sa.UniqueConstraint("openrouter_key_hash", name=op.f("uq_user_keys_openrouter_key_hash")),
    )
    op.create_index(op.f("ix_user_keys_holder_wallet"), "user_keys", ["holder_wallet"])
    op.create_index(op.f("ix_user_keys_status"), "user_keys", ["status"])
    op.create_index(
        "ix_user_keys_strategy_id_holder_wallet", "user_keys", ["strategy_id", "holder_wallet"]
    )
    op.create_index(
        "uq_user_keys_live_holder",
        "user_keys",
        ["strategy_id", "holder_wallet"],
        unique=True,
        sqlite_where=sa.text(LIVE_KEY),
        postgresql_where=sa.text(LIVE_KEY),
    )

    op.create_table(
        "key_claim_nonces",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("wallet", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["user_keys.key_id"],
            name=op.f("fk_key_claim_nonces_key_id_user_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_claim_nonces")),
        sa.UniqueConstraint("nonce", name=op.f("uq_key_claim_nonces_nonce")),
    )
    op.create_index(op.f("ix_key_claim_nonces_key_id"), "key_claim_nonces", ["key_id"])

    op.create_table(
        "usage_snapshots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=True),
        sa.Column("usage", sa.Float(), server_default="0", nullable=False),
        sa.Column("usage_daily", sa.Float(), server_default="0", nullable=False),
        sa.Column("usage_weekly", sa.Float(), server_default="0", nullable=False),
        sa.Column("usage_monthly", sa.Float(), server_default="0", nullable=False),
        sa.Column("limit_remaining", sa.Float(), nullable=True),
        sa.Column("limit", sa.Float(), nullable=True),  # quoted by SQLAlchemy: a reserved word
        _timestamp("polled_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_snapshots")),
    )
    op.create_index(
        "ix_usage_snapshots_key_hash_polled_at", "usage_snapshots", ["key_hash", "polled_at"]
    )
    op.create_index(
        "ix_usage_snapshots_strategy_id_polled_at", "usage_snapshots", ["strategy_id", "polled_at"]
    )

    op.create_table(
        "daily_run_counts",
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.strategy_id"],
            name=op.f("fk_daily_run_counts_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("strategy_id", "date", name=op.f("pk_daily_run_counts")),
    )

    op.create_table(
        "run_locks",
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(128), nullable=False),
        _timestamp("acquired_at"),
        _timestamp("refreshed_at"),
        _timestamp("expires_at"),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.strategy_id"],
            name=op.f("fk_run_locks_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("strategy_id", name=op.f("pk_run_locks")),
    )

    op.create_table(
        "circuit_breakers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), server_default="CLOSED", nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        _timestamp("opened_at", nullable=True),
        _timestamp("updated_at"),
        _check("circuit_breakers", "state", _one_of("state", BREAKER_STATES)),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_circuit_breakers")),
    )

    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), server_default='["COMPLETE","FAILED"]', nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column(
            "active",
            sa.Boolean(create_constraint=True, name="active"),
            server_default=sa.true(),
            nullable=False,
        ),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_webhooks")),
    )


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in (
        "webhooks",
        "circuit_breakers",
        "run_locks",
        "daily_run_counts",
        "usage_snapshots",
        "key_claim_nonces",
        "user_keys",
        "credit_pool_allocations",
        "allocation_snapshots",
        "holder_snapshots",
        "audit_log",
        "claim_transactions",
        "runs",
        "strategies",
    ):
        op.drop_table(table)
