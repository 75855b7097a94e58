"""CreditBrain tables: the anchor's table and column names (so the runbook's SQL runs verbatim),
with the defects of reference §3.4 fixed and the tables crash-safe money handling needs.

Money is exact. Lamports, USDC base units and USD cents are integer columns and are the only
ones the application writes. The anchor's REAL columns (`claimed_sol`, `allocated_usd`, ...)
are kept for parity as generated (STORED) columns computed from the integer ones, so they can
never disagree with them and remain readable with `sqlite3`. One consequence for later
migrations: Alembic's SQLite batch copy tries to INSERT into generated columns, so a batch that
rebuilds one of these tables must drop and re-add its generated columns inside the same batch
(tests/credits/test_schema.py shows how). Adding a plain column needs no rebuild.

Strategies are soft-deleted (`deleted_at`). Foreign keys are declared so that a hard delete of
a strategy never fails on a raw FK error: history (runs, keys) is detached with SET NULL and
bookkeeping (locks, daily counts) is cascaded. Relationships are deliberately not declared:
repositories join explicitly, which keeps async sessions free of lazy loads. Without them the
unit of work does not order INSERTs across tables, so flush a parent row before its children."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from arenabrain.db.base import Base
from arenabrain.db.timestamps import UtcText

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
LIMIT_RESETS = ("daily", "weekly", "monthly")  # OpenRouter's enum; NULL means never
KEY_STATUSES = ("ACTIVE", "EXHAUSTED", "EXPIRED", "REVOKED", "ROTATED")
# A live key is one the holder can still spend from (an exhausted key is topped up next run).
LIVE_KEY_STATUSES = ("ACTIVE", "EXHAUSTED")
CLAIM_TX_STATUSES = ("pending", "sent", "confirmed", "failed")
KEY_MUTATION_STATUSES = ("PENDING", "APPLIED", "NOT_APPLIED", "UNKNOWN")
KEY_MUTATION_HELD = ("PENDING", "APPLIED", "UNKNOWN")  # may have moved the limit
BREAKER_STATES = ("CLOSED", "OPEN", "HALF_OPEN")
KEY_ROTATION_KINDS = ("ROTATE", "REVOKE")
KEY_ROTATION_STATUSES = ("PENDING", "DISABLED", "CREATED", "DONE")

ID = String(64)
WALLET = String(64)  # base58, compared case-sensitively everywhere
SIGNATURE = String(128)


def _one_of(column: str, values: Iterable[str]) -> str:
    """SQL for `column IN (...)`; a NULL column passes, as CHECK treats unknown as true."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _parity(expression: str) -> Computed:
    """An anchor REAL column derived from the exact integer column it mirrors."""
    return Computed(expression, persisted=True)


class Strategy(Base):
    """A fee-to-credits configuration for one Bags token; soft-deleted via `deleted_at`."""

    __tablename__ = "strategies"
    __mapper_args__ = {"eager_defaults": True}

    strategy_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_wallet: Mapped[str] = mapped_column(WALLET, index=True)
    source: Mapped[str] = mapped_column(
        String(32), default="CLAIMABLE_POSITIONS", server_default="CLAIMABLE_POSITIONS"
    )
    # The SPL mint whose holders receive credit; '' until configured (the anchor's default).
    distribution_token: Mapped[str] = mapped_column(WALLET, default="", server_default="")
    distribution_mode: Mapped[str] = mapped_column(
        String(32), default="TOP_N_HOLDERS", server_default="TOP_N_HOLDERS"
    )
    distribution_top_n: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    # The anchor's `key_config` and `swap_config` JSON blobs, as typed columns.
    key_limit_usd_cents: Mapped[int] = mapped_column(
        BigInteger, default=1000, server_default="1000"
    )
    key_limit_reset: Mapped[str | None] = mapped_column(
        String(16), default="monthly", server_default="monthly"
    )
    key_expiry_days: Mapped[int] = mapped_column(Integer, default=365, server_default="365")
    swap_slippage_bps: Mapped[int] = mapped_column(Integer, default=50, server_default="50")
    swap_max_price_impact_bps: Mapped[int] = mapped_column(
        Integer, default=300, server_default="300"
    )
    credit_pool_reserve_pct: Mapped[float] = mapped_column(Float, default=10.0, server_default="10")
    exclusion_list: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # CUSTOM_LIST: JSON object wallet -> weight; only listed wallets qualify.
    custom_allocations: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    schedule: Mapped[str] = mapped_column(
        String(128), default="0 */6 * * *", server_default="0 */6 * * *"
    )
    min_claim_threshold_lamports: Mapped[int] = mapped_column(
        BigInteger, default=5_000_000_000, server_default="5000000000"
    )
    min_claim_threshold: Mapped[float | None] = mapped_column(
        Float, _parity("min_claim_threshold_lamports / 1000000000.0")
    )
    status: Mapped[str] = mapped_column(
        String(16), default="ACTIVE", server_default="ACTIVE", index=True
    )
    last_run_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UtcText())
    updated_at: Mapped[datetime] = mapped_column(UtcText())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint(_one_of("source", FEE_SOURCES), name="source"),
        CheckConstraint(_one_of("distribution_mode", DISTRIBUTION_MODES), name="distribution_mode"),
        CheckConstraint(_one_of("status", STRATEGY_STATUSES), name="status"),
        CheckConstraint(_one_of("key_limit_reset", LIMIT_RESETS), name="key_limit_reset"),
        CheckConstraint("distribution_top_n >= 1", name="distribution_top_n"),
        CheckConstraint("key_limit_usd_cents >= 0", name="key_limit_usd_cents"),
        CheckConstraint("key_expiry_days >= 0", name="key_expiry_days"),
        CheckConstraint("swap_slippage_bps BETWEEN 0 AND 10000", name="swap_slippage_bps"),
        CheckConstraint(
            "swap_max_price_impact_bps BETWEEN 0 AND 10000", name="swap_max_price_impact_bps"
        ),
        CheckConstraint(
            "credit_pool_reserve_pct >= 0 AND credit_pool_reserve_pct <= 50",
            name="credit_pool_reserve_pct",
        ),
        CheckConstraint("min_claim_threshold_lamports >= 0", name="min_claim_threshold_lamports"),
    )


class Run(Base):
    """One pipeline run. `state` is the phase being executed (or about to be); the checkpoint
    columns carry each phase's output to the next, so a resume re-enters the failed phase."""

    __tablename__ = "runs"
    __mapper_args__ = {"eager_defaults": True}

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    # NULL only once its strategy row was hard-deleted; the run itself is kept as history.
    strategy_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("strategies.strategy_id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(16), default="PENDING", server_default="PENDING")
    trigger: Mapped[str] = mapped_column(String(16))  # entry point that started or resumed it
    dry_run: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True, name="dry_run"), default=False, server_default=false()
    )
    started_at: Mapped[datetime] = mapped_column(UtcText())
    finished_at: Mapped[datetime | None] = mapped_column(UtcText())

    # CLAIMING. Individual transactions are in claim_transactions.
    claimed_lamports: Mapped[int | None] = mapped_column(BigInteger)
    claimed_sol: Mapped[float | None] = mapped_column(
        Float, _parity("claimed_lamports / 1000000000.0")
    )
    claimed_tx_sig: Mapped[str | None] = mapped_column(SIGNATURE)
    # SWAPPING. The signature is recorded as soon as the transaction is signed, before it is
    # sent, so a resume checks it on chain instead of swapping twice.
    swapped_usdc_base_units: Mapped[int | None] = mapped_column(BigInteger)
    swapped_usdc: Mapped[float | None] = mapped_column(
        Float, _parity("swapped_usdc_base_units / 1000000.0")
    )
    swap_tx_sig: Mapped[str | None] = mapped_column(SIGNATURE)
    swap_quote_snapshot: Mapped[str | None] = mapped_column(Text)  # JSON
    # BRIDGING
    bridged_usdc_base_units: Mapped[int | None] = mapped_column(BigInteger)
    bridged_usdc: Mapped[float | None] = mapped_column(
        Float, _parity("bridged_usdc_base_units / 1000000.0")
    )
    bridge_tx_hash: Mapped[str | None] = mapped_column(SIGNATURE)
    bridging_skipped_reason: Mapped[str | None] = mapped_column(Text)
    # FUNDING
    funded_usdc_base_units: Mapped[int | None] = mapped_column(BigInteger)
    funded_usdc: Mapped[float | None] = mapped_column(
        Float, _parity("funded_usdc_base_units / 1000000.0")
    )
    funding_tx_hash: Mapped[str | None] = mapped_column(SIGNATURE)
    funding_skipped_reason: Mapped[str | None] = mapped_column(Text)
    # ALLOCATING (the anchor's `allocated_usdc`, renamed as §3.7 says; per-holder rows are in
    # allocation_snapshots)
    allocated_cents: Mapped[int | None] = mapped_column(BigInteger)
    allocated_usd: Mapped[float | None] = mapped_column(Float, _parity("allocated_cents / 100.0"))
    # PROVISIONING
    keys_provisioned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    keys_updated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    error_failed_state: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(_one_of("state", RUN_STATES), name="state"),
        CheckConstraint(_one_of("error_failed_state", RUN_STATES), name="error_failed_state"),
        CheckConstraint(_one_of("trigger", RUN_TRIGGERS), name="trigger"),
        CheckConstraint(
            "claimed_lamports >= 0 AND swapped_usdc_base_units >= 0"
            " AND bridged_usdc_base_units >= 0 AND funded_usdc_base_units >= 0"
            " AND allocated_cents >= 0 AND keys_provisioned >= 0 AND keys_updated >= 0",
            name="amounts_not_negative",
        ),
        Index("ix_runs_strategy_id_started_at", "strategy_id", "started_at"),
        # The runbook's failed-runs query: WHERE state = ... ORDER BY started_at DESC.
        Index("ix_runs_state_started_at", "state", "started_at"),
        Index("ix_runs_started_at", "started_at"),
    )


class ClaimTransaction(Base):
    """One claim transaction of a run, written before it is sent, so that a crash mid-claim
    loses nothing and a resume checks the recorded signatures before claiming again."""

    __tablename__ = "claim_transactions"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.run_id", ondelete="CASCADE"))
    strategy_id: Mapped[str] = mapped_column(ID)  # a copy; the transaction outlives strategies
    position_key: Mapped[str] = mapped_column(String(128))  # the position's token mint / vault
    tx_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    signature: Mapped[str | None] = mapped_column(SIGNATURE, unique=True)
    # Once the chain is past this height, an unconfirmed transaction can no longer land.
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger)
    lamports_expected: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcText())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint(_one_of("status", CLAIM_TX_STATUSES), name="status"),
        CheckConstraint("lamports_expected >= 0", name="lamports_expected"),
        UniqueConstraint("run_id", "position_key", "tx_index"),
        Index("ix_claim_transactions_status", "status"),
    )


class AuditEntry(Base):
    """One audit row per transition or failure; `phase` is the state before the event."""

    __tablename__ = "audit_log"

    log_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.run_id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(16), index=True)
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # JSON
    tx_signature: Mapped[str | None] = mapped_column(SIGNATURE)
    timestamp: Mapped[datetime] = mapped_column(UtcText(), index=True)

    __table_args__ = (Index("ix_audit_log_run_id_timestamp", "run_id", "timestamp"),)


class HolderSnapshot(Base):
    """Every holder seen by a run's snapshot of the distribution token, excluded ones too, so
    ALLOCATING can be resumed and audited without asking the chain again."""

    __tablename__ = "holder_snapshots"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.run_id", ondelete="CASCADE"))
    token_mint: Mapped[str] = mapped_column(WALLET)
    holder_wallet: Mapped[str] = mapped_column(WALLET, index=True)
    # Raw base units as decimal text: an SPL amount is a u64, beyond a signed 64-bit INTEGER.
    token_balance: Mapped[str] = mapped_column(String(32))
    excluded_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcText())

    __table_args__ = (UniqueConstraint("run_id", "holder_wallet"),)


class AllocationSnapshot(Base):
    """One holder's allocation in one run; PROVISIONING reads these."""

    __tablename__ = "allocation_snapshots"
    __mapper_args__ = {"eager_defaults": True}

    snapshot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.run_id", ondelete="CASCADE"))
    holder_wallet: Mapped[str] = mapped_column(WALLET, index=True)
    token_balance: Mapped[str] = mapped_column(String(32))  # raw base units, as text (u64)
    allocation_weight: Mapped[float] = mapped_column(Float)  # 0..1, informational
    allocated_cents: Mapped[int] = mapped_column(BigInteger)
    allocated_usd: Mapped[float | None] = mapped_column(Float, _parity("allocated_cents / 100.0"))
    key_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint("allocated_cents >= 0", name="allocated_cents"),
        # One allocation per holder per run, so re-running ALLOCATING cannot double-allocate.
        UniqueConstraint("run_id", "holder_wallet"),
    )


class CreditPoolAllocation(Base):
    """The credit pool's ledger behind /api/credit-pool/history."""

    __tablename__ = "credit_pool_allocations"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("runs.run_id", ondelete="SET NULL"), index=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_usd: Mapped[float | None] = mapped_column(Float, _parity("amount_cents / 100.0"))
    created_at: Mapped[datetime] = mapped_column(UtcText(), index=True)


class UserKey(Base):
    """A holder's OpenRouter key. The plaintext is kept encrypted only until the holder proves
    wallet ownership and collects it once; after that only OpenRouter's hash remains."""

    __tablename__ = "user_keys"
    __mapper_args__ = {"eager_defaults": True}

    key_id: Mapped[str] = mapped_column(ID, primary_key=True)
    strategy_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("strategies.strategy_id", ondelete="SET NULL")
    )
    holder_wallet: Mapped[str] = mapped_column(WALLET, index=True)
    openrouter_key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    key_name: Mapped[str] = mapped_column(String(128))  # creditbrain-<strategy[:8]>-<wallet[:8]>
    encrypted_key: Mapped[str | None] = mapped_column(Text)  # NULL once collected
    collected_at: Mapped[datetime | None] = mapped_column(UtcText())
    limit_usd_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    spending_limit_usd: Mapped[float | None] = mapped_column(
        Float, _parity("limit_usd_cents / 100.0")
    )
    limit_reset: Mapped[str | None] = mapped_column(String(16))
    # Usage is OpenRouter's own float measurement, mirrored by the usage sync.
    current_usage_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    total_allocated_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_allocated_usd: Mapped[float | None] = mapped_column(
        Float, _parity("total_allocated_cents / 100.0")
    )
    status: Mapped[str] = mapped_column(
        String(16), default="ACTIVE", server_default="ACTIVE", index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcText())
    updated_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime | None] = mapped_column(UtcText())
    last_synced_at: Mapped[datetime | None] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint(_one_of("status", KEY_STATUSES), name="status"),
        CheckConstraint(_one_of("limit_reset", LIMIT_RESETS), name="limit_reset"),
        CheckConstraint(
            "limit_usd_cents >= 0 AND total_allocated_cents >= 0", name="amounts_not_negative"
        ),
        Index("ix_user_keys_strategy_id_holder_wallet", "strategy_id", "holder_wallet"),
        # The anchor's UNIQUE(strategy_id, holder_wallet) made re-provisioning after a revoke
        # fail (D4); only one live key per holder and strategy is the real invariant.
        Index(
            "uq_user_keys_live_holder",
            "strategy_id",
            "holder_wallet",
            unique=True,
            sqlite_where=text(_one_of("status", LIVE_KEY_STATUSES)),
            postgresql_where=text(_one_of("status", LIVE_KEY_STATUSES)),
        ),
    )


class KeyMutation(Base):
    """One top-up of a key's limit, journaled before its PATCH is sent; PENDING until the PATCH's
    answer or the key's real state settles it (the rule is in `credits/mutations.py`)."""

    __tablename__ = "key_mutations"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128), index=True)
    strategy_id: Mapped[str] = mapped_column(ID)  # a copy; the journal outlives strategies
    holder_wallet: Mapped[str] = mapped_column(WALLET)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.run_id", ondelete="CASCADE"))
    snapshot_id: Mapped[str] = mapped_column(
        ID, ForeignKey("allocation_snapshots.snapshot_id", ondelete="CASCADE")
    )
    allocated_cents: Mapped[int] = mapped_column(BigInteger)
    # USD as exact decimal text: a new limit is max(limit, usage) + allocation, and OpenRouter
    # counts usage finer than cents.
    limit_before: Mapped[str] = mapped_column(String(40))
    limit_after: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="PENDING", server_default="PENDING")
    observed_limit: Mapped[str | None] = mapped_column(String(40))  # the limit that settled it
    settled_by_run: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UtcText())
    settled_at: Mapped[datetime | None] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint(_one_of("status", KEY_MUTATION_STATUSES), name="status"),
        CheckConstraint("allocated_cents > 0", name="allocated_cents"),
        Index("ix_key_mutations_holder_status", "strategy_id", "holder_wallet", "status"),
        # A key has at most one unsettled mutation: a new one waits for the last to settle.
        Index(
            "uq_key_mutations_pending_key",
            "key_hash",
            unique=True,
            sqlite_where=text("status = 'PENDING'"),
            postgresql_where=text("status = 'PENDING'"),
        ),
        # An allocation is applied at most once (unknown outcomes count as applied).
        Index(
            "uq_key_mutations_held_allocation",
            "snapshot_id",
            unique=True,
            sqlite_where=text(_one_of("status", KEY_MUTATION_HELD)),
            postgresql_where=text(_one_of("status", KEY_MUTATION_HELD)),
        ),
    )


class KeyRotation(Base):
    """One rotation or revocation of a holder's key, journaled step by step so that a crash
    between its OpenRouter calls is finished, never repeated (the steps are in
    `credits/rotation.py`). The rows are also its audit trail."""

    __tablename__ = "key_rotations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="PENDING", server_default="PENDING")
    strategy_id: Mapped[str | None] = mapped_column(ID)  # a copy; the journal outlives strategies
    holder_wallet: Mapped[str] = mapped_column(WALLET)
    old_key_id: Mapped[str] = mapped_column(ID)
    old_key_hash: Mapped[str] = mapped_column(String(128))
    new_key_name: Mapped[str | None] = mapped_column(String(128))
    new_key_hash: Mapped[str | None] = mapped_column(String(128))
    limit_usd_cents: Mapped[int | None] = mapped_column(BigInteger)  # the new key's limit
    trigger: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)  # why the last attempt stopped
    created_at: Mapped[datetime] = mapped_column(UtcText())
    updated_at: Mapped[datetime] = mapped_column(UtcText())
    finished_at: Mapped[datetime | None] = mapped_column(UtcText())

    __table_args__ = (
        CheckConstraint(_one_of("kind", KEY_ROTATION_KINDS), name="kind"),
        CheckConstraint(_one_of("status", KEY_ROTATION_STATUSES), name="status"),
        Index("ix_key_rotations_strategy_status", "strategy_id", "status"),
        Index("ix_key_rotations_holder_wallet", "holder_wallet"),
        # A key is rotated or revoked by one journal entry at a time.
        Index(
            "uq_key_rotations_open_key",
            "old_key_hash",
            unique=True,
            sqlite_where=text("status <> 'DONE'"),
            postgresql_where=text("status <> 'DONE'"),
        ),
    )


class KeyClaimNonce(Base):
    """A server nonce the holder signs with their wallet to collect a key; usable once."""

    __tablename__ = "key_claim_nonces"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    key_id: Mapped[str] = mapped_column(
        ID, ForeignKey("user_keys.key_id", ondelete="CASCADE"), index=True
    )
    wallet: Mapped[str] = mapped_column(WALLET)
    nonce: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime] = mapped_column(UtcText())
    used_at: Mapped[datetime | None] = mapped_column(UtcText())


class UsageSnapshot(Base):
    """One poll of one key's usage from OpenRouter (a time series; no FK, pruned on its own)."""

    __tablename__ = "usage_snapshots"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    strategy_id: Mapped[str | None] = mapped_column(ID)
    usage: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    usage_daily: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    usage_weekly: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    usage_monthly: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    limit_remaining: Mapped[float | None] = mapped_column(Float)
    # A reserved word: SQLAlchemy quotes it, which is the anchor's D2 fix.
    limit: Mapped[float | None] = mapped_column(Float)
    polled_at: Mapped[datetime] = mapped_column(UtcText())

    __table_args__ = (
        Index("ix_usage_snapshots_key_hash_polled_at", "key_hash", "polled_at"),
        Index("ix_usage_snapshots_strategy_id_polled_at", "strategy_id", "polled_at"),
    )


class DailyRunCount(Base):
    """Runs started per strategy per UTC day, for MAX_DAILY_RUNS."""

    __tablename__ = "daily_run_counts"

    strategy_id: Mapped[str] = mapped_column(
        ID, ForeignKey("strategies.strategy_id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunLock(Base):
    """At most one run per strategy; the holder refreshes it at every phase boundary and a lock
    past `expires_at` may be taken over."""

    __tablename__ = "run_locks"

    strategy_id: Mapped[str] = mapped_column(
        ID, ForeignKey("strategies.strategy_id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[str | None] = mapped_column(ID)  # the lock is taken before the run exists
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcText())
    refreshed_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime] = mapped_column(UtcText())


class ResourceLock(Base):
    """A lock a run holds during some phases on what strategies share: the signer wallet
    (`wallet:<address>`, CLAIMING..SWAPPING) or the credit pool (`credit-pool`, ALLOCATING).
    Refreshed together with the holder's run lock; past `expires_at` it may be taken over."""

    __tablename__ = "resource_locks"

    resource: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ID)
    strategy_id: Mapped[str | None] = mapped_column(ID)
    holder: Mapped[str] = mapped_column(String(128), index=True)
    acquired_at: Mapped[datetime] = mapped_column(UtcText())
    refreshed_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime] = mapped_column(UtcText())


class CircuitBreakerState(Base):
    """A circuit breaker's state, persisted so an OPEN breaker outlives a restart."""

    __tablename__ = "circuit_breakers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="CLOSED", server_default="CLOSED")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    opened_at: Mapped[datetime | None] = mapped_column(UtcText())
    updated_at: Mapped[datetime] = mapped_column(UtcText())

    __table_args__ = (CheckConstraint(_one_of("state", BREAKER_STATES), name="state"),)


class Webhook(Base):
    """A run-completion webhook (the anchor's table; its sender was never wired)."""

    __tablename__ = "webhooks"

    webhook_id: Mapped[str] = mapped_column(ID, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(
        Text, default='["COMPLETE","FAILED"]', server_default='["COMPLETE","FAILED"]'
    )
    secret: Mapped[str] = mapped_column(Text)  # the HMAC-SHA256 signing secret
    active: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True, name="active"), default=True, server_default=true()
    )
    created_at: Mapped[datetime] = mapped_column(UtcText())
