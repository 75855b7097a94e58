"""The application context: built once (`runtime.open_context`), passed explicitly to every job.

Every field is typed and built up front; a test swaps one with `dataclasses.replace`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arenabrain.clients.breakers import Breakers
from arenabrain.clients.bundle import Clients
from arenabrain.clients.http import Upstreams
from arenabrain.clock import Clock, Sleep
from arenabrain.db.answer_cache import ResponseCache
from arenabrain.db.engine import Database
from arenabrain.ratelimit import Guards
from arenabrain.settings import Settings

if TYPE_CHECKING:  # the emulators are imported only when sandbox mode needs them
    from arenabrain.sandbox import Sandbox


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database
    clock: Clock
    http: Upstreams  # the httpx client of each upstream, closed with the context
    log: Any
    clients: Clients  # every upstream client, over `http`
    guards: Guards  # the per-process rate limiters of the HTTP doors
    breakers: Breakers  # the per-process circuit breakers of the upstreams
    sleep: Sleep  # every wait between retries and polls goes through this
    rng: random.Random  # retry jitter
    answers: ResponseCache  # public answers, valid while the data version stands still
    sandbox: Sandbox | None = None  # the emulators, in sandbox mode
