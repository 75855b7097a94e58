"""The operator-facing event log (`system_logs`, catalog in §16 of the reference).

Events are written inside the caller's unit of work, so an event never describes a change
that was rolled back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import SystemLog
from arenabrain.db.ids import new_id

Severity = Literal["info", "warning", "error"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


async def log_event(
    session: AsyncSession,
    event_type: str,
    data: Mapping[str, Any] | None,
    severity: Severity = "info",
    now: datetime | None = None,
) -> None:
    """Add one event row to the session's transaction (committed with it)."""
    values: dict[str, Any] = {
        "id": new_id(now),
        "event_type": event_type,
        "event_data": json.dumps(dict(data), default=_plain) if data is not None else None,
        "severity": severity,
    }
    if now is not None:
        values["created_at"] = now
    await session.execute(insert(SystemLog).values(**values))
