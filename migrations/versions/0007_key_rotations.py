"""CreditBrain: the key rotation journal (each rotation or revocation of a holder key, step by
step, so a crash between its OpenRouter calls is finished by the next run or rotation).

Values are frozen here on purpose: a migration must not follow later edits of
`arenabrain.credits.models`.

Revision ID: 0007_key_rotations
Revises: 0006_admin_sessions
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_key_rotations"
down_revision: str | None = "0006_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("ROTATE", "REVOKE")
STATUSES = ("PENDING", "DISABLED", "CREATED", "DONE")
OPEN = "status <> 'DONE'"


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN (" + ", ".join(repr(v) for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="PENDING", nullable=False),
        sa.Column("strategy_id", sa.String(64), nullable=True),
        sa.Column("holder_wallet", sa.String(64), nullable=False),
        sa.Column("old_key_id", sa.String(64), nullable=False),
        sa.Column("old_key_hash", sa.String(128), nullable=False),
        sa.Column("new_key_name", sa.String(128), nullable=True),
        sa.Column("new_key_hash", sa.String(128), nullable=True),
        sa.Column("limit_usd_cents", sa.BigInteger(), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        # UtcText: 'YYYY-MM-DD HH:MM:SS[.ffffff]' text on every database.
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=True),
        sa.CheckConstraint(_one_of("kind", KINDS), name=op.f("ck_key_rotations_kind")),
        sa.CheckConstraint(_one_of("status", STATUSES), name=op.f("ck_key_rotations_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    op.create_index("ix_key_rotations_strategy_status", "key_rotations", ["strategy_id", "status"])
    op.create_index("ix_key_rotations_holder_wallet", "key_rotations", ["holder_wallet"])
    op.create_index(
        "uq_key_rotations_open_key",
        "key_rotations",
        ["old_key_hash"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")  # its indexes go with it
