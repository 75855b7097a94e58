"""The arena's JSON conventions, shared by the admin answers and the public pages: keys are
snake_case; row timestamps are ISO 8601 UTC with milliseconds and `Z`
(`2026-03-01T00:00:00.000Z`); 0/1 flag columns are booleans; JSON text columns are decoded."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect

from arenabrain.db.timestamps import from_text

TIME_KEYS = frozenset(
    {
        "added_at",
        "archived_at",
        "calculated_at",
        "checked_at",
        "close_date",
        "closed_at",
        "completed_at",
        "created_at",
        "decision_timestamp",
        "executed_at",
        "first_seen_at",
        "generated_at",
        "last_updated_at",
        "opened_at",
        "recorded_at",
        "resolved_at",
        "retired_at",
        "reviewed_at",
        "snapshot_timestamp",
        "started_at",
    }
)
FLAG_KEYS = frozenset({"is_archived", "is_default_for_future_cohorts", "is_active"})


def iso(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`; accepts datetimes and stored text."""
    if value is None:
        return None
    moment = from_text(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON values: timestamps as ISO, 0/1 flags as booleans."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in TIME_KEYS and value is not None:
            with contextlib.suppress(ValueError):  # an unparseable value is shown as stored
                value = iso(value)
        elif key in FLAG_KEYS and value is not None:
            value = bool(value)
        out[key] = value
    return out


def row_dict(obj: Any) -> dict[str, Any]:
    """Every mapped column of an ORM object, as JSON values."""
    mapper = inspect(obj).mapper
    return plain({column.key: getattr(obj, column.key) for column in mapper.column_attrs})


def decode_json(value: str | None, default: Any) -> Any:
    """A JSON text column's value; `default` when it is empty or not JSON."""
    try:
        return json.loads(value) if value else default
    except ValueError:
        return default
