"""CreditBrain: locks on what strategies share (the signer wallet, the credit pool).

Pool reservations need no table: an allocation not yet provisioned (`allocation_snapshots.
key_hash IS NULL`) of a run that can still provision counts as promised (see credits/pool.py).
What needs one is the lock that serialises the claim-to-swap stretch per signer wallet and
ALLOCATING across runs: `resource_locks`, with the rules of `run_locks`.

Revision ID: 0005_pool_reservations
Revises: 0004_key_mutations
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_pool_reservations"
down_revision: str | None = "0004_key_mutations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column:
    # UtcText: 'YYYY-MM-DD HH:MM:SS[.ffffff]' text on every database.
    return sa.Column(name, sa.String(32), nullable=False)


def upgrade() -> None:
    op.create_table(
        "resource_locks",
        sa.Column("resource", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("strategy_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(128), nullable=False),
        _timestamp("acquired_at"),
        _timestamp("refreshed_at"),
        _timestamp("expires_at"),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_resource_locks")),
    )
    op.create_index(op.f("ix_resource_locks_holder"), "resource_locks", ["holder"])


def downgrade() -> None:
    op.drop_index(op.f("ix_resource_locks_holder"), table_name="resource_locks")
    op.drop_table("resource_locks")
