"""Tables the service itself needs, outside either domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from arenabrain.db.base import Base
from arenabrain.db.timestamps import UtcText


class SchedulerLease(Base):
    """One row per named lease; the holder runs the scheduled jobs until `expires_at`."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime] = mapped_column(UtcText())


class AdminSession(Base):
    """One row per live admin session; logging out deletes it, so a copied cookie stops working.

    Only a SHA-256 hash of the session id is stored: the id travels in the signed cookie."""

    __tablename__ = "admin_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcText())
    expires_at: Mapped[datetime] = mapped_column(UtcText(), index=True)


# The tables whose every write moves their `data_versions` counter (migration 0008 adds the
# rows and triggers; a table added here needs a migration of its own).
VERSIONED_TABLES = frozenset(
    {
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
    }
)


class DataVersion(Base):
    """One counter per versioned table, moved by a trigger on every write of that table: a
    cached answer is valid while the counters of the tables it read stand still."""

    __tablename__ = "data_versions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, server_default="0")
