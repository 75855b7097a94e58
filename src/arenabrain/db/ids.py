"""Generated identifiers: sortable by creation time, unique without coordination."""

from __future__ import annotations

import secrets
from datetime import datetime

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(now: datetime | None = None) -> str:
    """`<epoch-ms>-<9 base-36 chars>`, the anchor's id shape (sortable, collision-safe)."""
    millis = int(now.timestamp() * 1000) if now is not None else _wall_millis()
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(9))
    return f"{millis}-{suffix}"


def _wall_millis() -> int:
    import time

    return int(time.time() * 1000)
