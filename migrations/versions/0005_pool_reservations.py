"""CreditBrain: pool reservations (what each allocation promises, held until provisioned or released) and the signer-wallet lock.

Revision ID: 0005_pool_reservations
Revises: 0004_key_mutations
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (used as soon as the tables are added)
from alembic import op  # noqa: F401

revision: str = "0005_pool_reservations"
down_revision: str | None = "0004_key_mutations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
