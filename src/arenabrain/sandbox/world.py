"""The simulated world behind every emulator: one clock, one seeded random source, and the
state each emulator keeps (markets, model personas, fees, holders, keys), one field apiece."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arenabrain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from arenabrain.sandbox.polymarket import PolymarketWorld


@dataclass
class World:
    clock: Clock = field(default_factory=SystemClock)
    seed: int = 7
    rng: random.Random = field(init=False)
    # Each emulator's state, made by its own module on first use (`polymarket_state(world)`,
    # `openrouter_state`, `personas_state`, `bags_state`, `solana_state`).
    polymarket: PolymarketWorld | None = None
    openrouter: dict[str, Any] | None = None
    personas: dict[str, Any] | None = None
    bags: dict[str, Any] | None = None
    solana: dict[str, Any] | None = None
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
