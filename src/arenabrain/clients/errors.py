"""How every upstream call fails: one `UpstreamError` hierarchy, and one mapping from the
outcome of an HTTP exchange to it, shared by every client.

An error names its `upstream`, the HTTP `status` when there was one, whether a retry can
outlive it (`transient`) and a short `reason` that never carries a secret. The mapping:
- a timeout is transient (`timed_out`); a broken connection is transient; any other failure to
  get a response (an undecodable body, a redirect loop) is not;
- an error status carries that status, transient when `transient_status` says a retry can
  outlive it (408, 429 and the 5xx of an overloaded or restarting server), with the
  `Retry-After` the server advised and the upstream's own message from the body.
Each client decides which statuses are errors and how its success envelope looks. A subclass
keeps its upstream's wording of the same outcomes (`*_reason`), which callers show and store."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import httpx

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class UpstreamError(Exception):
    """An upstream call failed. `transient` errors (429, 5xx, timeouts) may be retried."""

    def __init__(
        self,
        upstream: str,
        reason: str,
        *,
        status: int | None = None,
        transient: bool = False,
        timed_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.status = status
        self.transient = transient
        self.timed_out = timed_out
        self.retry_after = retry_after  # seconds the server asked us to wait, when it said

    @classmethod
    def transient_status(cls, status: int) -> bool:
        return status in TRANSIENT_STATUSES

    @classmethod
    def timeout_reason(cls, label: str, deadline: float | None) -> str:
        return f"{label} timed out"

    @classmethod
    def failure_reason(cls, label: str, exc: httpx.RequestError) -> str:
        return f"{label} failed: {type(exc).__name__}"

    @classmethod
    def status_reason(cls, label: str, response: httpx.Response, detail: str) -> str:
        return f"{label} answered {response.status_code}: {detail}"


async def send(
    http: httpx.AsyncClient,
    upstream: str,
    method: str,
    url: str,
    *,
    label: str | None = None,
    error: type[UpstreamError] = UpstreamError,
    deadline: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """The response, whatever its status; a failure to get one raises `error`.

    `label` (the URL by default) names the call in errors: never a secret. `deadline` bounds
    the whole exchange, not only each network wait."""
    label = url if label is None else label
    try:
        if deadline is None:
            return await http.request(method, url, **kwargs)
        async with asyncio.timeout(deadline):
            return await http.request(method, url, timeout=httpx.Timeout(deadline), **kwargs)
    except (TimeoutError, httpx.TimeoutException):
        reason = error.timeout_reason(label, deadline)
        raise error(upstream, reason, transient=True, timed_out=True) from None
    except httpx.RequestError as exc:
        transient = isinstance(exc, httpx.TransportError)
        raise error(upstream, error.failure_reason(label, exc), transient=transient) from None


def status_error(
    upstream: str,
    label: str,
    response: httpx.Response,
    body: Any,
    redact: Callable[[str], str] | None = None,
    *,
    error: type[UpstreamError] = UpstreamError,
) -> UpstreamError:
    """The error for a response whose status the client refuses, with upstream's own message."""
    status = response.status_code
    detail = error_message(body) or response.reason_phrase or "error"
    if redact is not None:
        detail = redact(detail)
    return error(
        upstream,
        error.status_reason(label, response, detail),
        status=status,
        transient=error.transient_status(status),
        retry_after=retry_after(response),
    )


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is not JSON (an HTML error page)."""
    try:
        return response.json()
    except ValueError:
        return None


def error_message(body: Any) -> str | None:
    """The message of an error body: `{error: "..."}`, `{error: {message}}` or `{message}`."""
    if not isinstance(body, dict):
        return None
    error = body.get("error") or body.get("message")
    if isinstance(error, dict):
        error = error.get("message")
    return error[:300] if isinstance(error, str) and error else None


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, when given as a number (an HTTP date is not worth a parser)."""
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
