"""The application context: built once in the lifespan, passed explicitly to every job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arenabrain.clients.http import Upstreams
from arenabrain.clock import Clock
from arenabrain.db.engine import Database
from arenabrain.settings import Settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database
    clock: Clock
    http: Upstreams
    log: Any
    # Process-local singletons that domain modules attach (rate limiters, breakers, the world).
    extras: dict[str, Any] = field(default_factory=dict)
