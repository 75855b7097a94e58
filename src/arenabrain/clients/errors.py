"""How every upstream call fails: one `UpstreamError` hierarchy for every client.

An error names its `upstream`, the HTTP `status` when there was one, whether a retry can
outlive it (`transient`: 429, 5xx, timeouts, broken connections) and a short `reason` that
never carries a secret."""

from __future__ import annotations


class UpstreamError(Exception):
    """An upstream call failed. `transient` errors (429, 5xx, timeouts) may be retried."""

    def __init__(
        self, upstream: str, reason: str, *, status: int | None = None, transient: bool = False
    ) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.status = status
        self.transient = transient
