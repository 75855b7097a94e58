"""Data versions: one counter per table that public answers read, moved by a trigger on every
insert, update and delete of that table, so a cached answer can be checked against exactly the
tables it was computed from. The counters live in the database: a write by any process, or by
an operator's `sqlite3`, moves them.

Triggers are SQLite's only: on PostgreSQL the counters stay at 0 and the service caches no
answer (it reads versions from a SQLite file only).

The table list is frozen here on purpose: a migration must not follow later edits of
`arenabrain.db.service_models.VERSIONED_TABLES` (a table added there needs a migration of its
own that adds its row and triggers).

Revision ID: 0008_data_versions
Revises: 0007_key_rotations
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_data_versions"
down_revision: str | None = "0007_key_rotations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "agents",
    "benchmark_config_models",
    "benchmark_configs",
    "brier_scores",
    "cohorts",
    "decisions",
    "markets",
    "model_families",
    "model_releases",
    "portfolio_snapshots",
    "positions",
    "trades",
)
EVENTS = ("insert", "update", "delete")


def _trigger(table: str, event: str) -> str:
    return (
        f"CREATE TRIGGER data_version_{table}_{event} AFTER {event.upper()} ON {table} "
        f"BEGIN UPDATE data_versions SET version = version + 1 WHERE name = '{table}'; END"
    )


def upgrade() -> None:
    data_versions = op.create_table(
        "data_versions",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_versions")),
    )
    op.bulk_insert(data_versions, [{"name": table, "version": 0} for table in TABLES])
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in EVENTS:
                op.execute(_trigger(table, event))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS data_version_{table}_{event}")
    op.drop_table("data_versions")
