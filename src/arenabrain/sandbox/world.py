"""The simulated world behind every emulator: one clock, one seeded random source, and the
state each domain's emulators share (markets, model personas, fees, holders, keys)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from arenabrain.clock import Clock, SystemClock


@dataclass
class World:
    clock: Clock = field(default_factory=SystemClock)
    seed: int = 7
    rng: random.Random = field(init=False)
    # Per-domain state, keyed by the emulator module that owns it.
    state: dict[str, Any] = field(default_factory=dict)
    # Every request each emulator received, for tests that count external calls.
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def record(self, upstream: str, method: str, path: str) -> None:
        self.requests.append((upstream, method, path))

    def calls(self, upstream: str, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for u, m, p in self.requests
            if u == upstream and (method is None or m == method) and (path is None or p == path)
        )
