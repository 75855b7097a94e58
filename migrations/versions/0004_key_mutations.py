"""CreditBrain: the key mutation journal (an intent per top-up, settled against the key's real state before any later run touches that key).

Values are frozen here on purpose: a migration must not follow later edits of
`arenabrain.credits.models`.

Revision ID: 0004_key_mutations
Revises: 0003_credits
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_key_mutations"
down_revision: str | None = "0003_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("PENDING", "APPLIED", "NOT_APPLIED", "UNKNOWN")
PENDING = "status = 'PENDING'"
HELD = "status IN ('PENDING', 'APPLIED', 'UNKNOWN')"


def upgrade() -> None:
    op.create_table(
        "key_mutations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=False),
        sa.Column("holder_wallet", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        sa.Column("limit_before", sa.String(40), nullable=False),
        sa.Column("limit_after", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), server_default="PENDING", nullable=False),
        sa.Column("observed_limit", sa.String(40), nullable=True),
        sa.Column("settled_by_run", sa.String(64), nullable=True),
        # UtcText: 'YYYY-MM-DD HH:MM:SS[.ffffff]' text on every database.
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("settled_at", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in STATUSES) + ")",
            name=op.f("ck_key_mutations_status"),
        ),
        sa.CheckConstraint("allocated_cents > 0", name=op.f("ck_key_mutations_allocated_cents")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_key_mutations_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["allocation_snapshots.snapshot_id"],
            name=op.f("fk_key_mutations_snapshot_id_allocation_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_mutations")),
    )
    op.create_index(op.f("ix_key_mutations_key_hash"), "key_mutations", ["key_hash"])
    op.create_index(
        "ix_key_mutations_holder_status",
        "key_mutations",
        ["strategy_id", "holder_wallet", "status"],
    )
    op.create_index(
        "uq_key_mutations_pending_key",
        "key_mutations",
        ["key_hash"],
        unique=True,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    op.create_index(
        "uq_key_mutations_held_allocation",
        "key_mutations",
        ["snapshot_id"],
        unique=True,
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_table("key_mutations")  # its indexes go with it
