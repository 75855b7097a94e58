"""Timestamps are stored as UTC text that SQLite compares correctly with
`datetime('now', ...)`: `YYYY-MM-DD HH:MM:SS` plus an optional `.ffffff` fraction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_text(moment: datetime, *, fraction: bool = True) -> str:
    """Render an aware (or naive-UTC) datetime as stored text."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if not fraction and moment.microsecond:
        moment = moment.replace(microsecond=0)
    if moment.year >= 1000:
        # The same text as the strftime below, several times faster (a 10,000-market sync
        # renders thousands of close dates); isoformat would zero-pad earlier years.
        return moment.isoformat(" ")
    text = moment.strftime(TEXT_FORMAT)
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text


def from_text(text: str) -> datetime:
    """Parse stored text as aware UTC. Also reads ISO text from imported rows: a `T`
    separator, a `Z`, or a UTC offset of either sign (the moment is converted, never cut)."""
    parsed = datetime.fromisoformat(text.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class UtcText(TypeDecorator[datetime]):
    """A datetime column stored as sortable UTC text on every database."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return to_text(from_text(value))
        return to_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return from_text(value)
