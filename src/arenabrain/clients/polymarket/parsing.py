"""Polymarket's dialect, read into plain values: numbers that come as JSON numbers or numeric
strings, arrays that come JSON-encoded inside strings, loose booleans, dates that are date-only
or full ISO, and the stored side of an outcome. Pure; shared by the Gamma and CLOB clients."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any


def side_label(label: str, binary: bool) -> str:
    """The stored side of an outcome: `YES`/`NO` for binary markets, the label otherwise."""
    return label.strip().upper() if binary else label


def to_number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_price(value: Any) -> float | None:
    """A probability in [0, 1] from a number or numeric string, else None."""
    number = to_number(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def decode_list(value: Any) -> list[Any] | None:
    """A list from a JSON array or a JSON-encoded string array; None when it is neither."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, list) else None
    return None


def parse_close_date(value: Any) -> datetime | None:
    """A Gamma date (`2026-12-31`, `2026-12-31T12:00:00Z`, with offsets or fractions) as aware
    UTC; None when absent or unreadable (including years past 9999)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def text_value(value: Any) -> str | None:
    """A non-blank string, or a number as text; else None."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def flag(value: Any) -> bool:
    """A boolean that may come as the string `"true"`."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
