"""Fixed-window counters per key, in process memory, on the injected clock; and `Guards`, the
limiters the HTTP doors share (one set per context: `Context.guards`)."""

from __future__ import annotations

from dataclasses import dataclass

from arenabrain.clock import Clock


@dataclass
class _Window:
    count: int
    resets_at: float


class FixedWindowLimiter:
    """Counts events per key; a key is limited once its count in the window exceeds `limit`."""

    def __init__(self, limit: int, window_seconds: float, clock: Clock) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _current(self, key: str) -> _Window | None:
        window = self._windows.get(key)
        if window is not None and window.resets_at <= self._now():
            del self._windows[key]
            return None
        return window

    def hit(self, key: str) -> bool:
        """Record one event; True when it is still within the limit."""
        window = self._current(key)
        if window is None:
            window = self._windows[key] = _Window(0, self._now() + self.window)
        window.count += 1
        if len(self._windows) > 10_000:
            self.sweep()
        return window.count <= self.limit

    def blocked(self, key: str) -> bool:
        """True when `key` has already used up the window (checked without counting)."""
        window = self._current(key)
        return window is not None and window.count >= self.limit

    def remaining(self, key: str) -> int:
        window = self._current(key)
        return self.limit - (window.count if window else 0)

    def retry_after(self, key: str) -> int:
        window = self._current(key)
        return max(1, int(window.resets_at - self._now())) if window else 0

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def sweep(self) -> None:
        now = self._now()
        self._windows = {k: w for k, w in self._windows.items() if w.resets_at > now}


class Guards:
    """The per-process rate limiters, built once per app on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self.cron = FixedWindowLimiter(10, 60, clock)
        self.admin = FixedWindowLimiter(30, 60, clock)
        self.login_failures = FixedWindowLimiter(5, 600, clock)
        self.api_failures = FixedWindowLimiter(5, 900, clock)
        self.run_starts = FixedWindowLimiter(5, 60, clock)  # CreditBrain POST /api/runs
        # The CreditBrain API as a whole, per client address (the anchor's global limit).
        self.api_requests = FixedWindowLimiter(100, 60, clock)
        # Holder key collection (public): per client address, and per wallet whatever the
        # address, so neither one machine nor a botnet can grind one wallet's challenges.
        self.claim_addresses = FixedWindowLimiter(20, 60, clock)
        self.claim_wallets = FixedWindowLimiter(10, 900, clock)
