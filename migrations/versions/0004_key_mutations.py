"""CreditBrain: the key mutation journal (an intent per top-up, settled against the key's real state before any later run touches that key).

Revision ID: 0004_key_mutations
Revises: 0003_credits
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (used as soon as the tables are added)
from alembic import op  # noqa: F401

revision: str = "0004_key_mutations"
down_revision: str | None = "0003_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
