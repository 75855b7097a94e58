"""How an HTTP exchange with a CreditBrain upstream (Bags, Solana RPC, OpenRouter keys) fails.

One rule for every client, so the phases' retry policy sees the same classification everywhere:
a timeout or a broken connection is a transient `UpstreamError`; an error status is an
`UpstreamError` carrying that status, transient for 408, 429 and the 5xx a retry can outlive.
Each client still decides which statuses are errors and how its success envelope looks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


async def send(
    http: httpx.AsyncClient,
    upstream: str,
    method: str,
    url: str,
    *,
    label: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """The response, whatever its status; a timeout or transport failure is transient.

    `label` (the URL by default) names the call in errors: never a secret."""
    label = url if label is None else label
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise UpstreamError(upstream, f"{label} timed out", transient=True) from None
    except httpx.TransportError as exc:
        reason = f"{label} failed: {type(exc).__name__}"
        raise UpstreamError(upstream, reason, transient=True) from None


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is not JSON (an HTML error page)."""
    try:
        return response.json()
    except ValueError:
        return None


def status_error(
    upstream: str,
    label: str,
    response: httpx.Response,
    body: Any,
    redact: Callable[[str], str] | None = None,
) -> UpstreamError:
    """The error for a response whose status the client refuses, with upstream's own message."""
    status = response.status_code
    detail = error_message(body) or response.reason_phrase or "error"
    if redact is not None:
        detail = redact(detail)
    return UpstreamError(
        upstream,
        f"{label} answered {status}: {detail}",
        status=status,
        transient=status in TRANSIENT_STATUSES,
    )


def error_message(body: Any) -> str | None:
    """The message of an error body: `{error: "..."}`, `{error: {message}}` or `{message}`."""
    if not isinstance(body, dict):
        return None
    error = body.get("error") or body.get("message")
    if isinstance(error, dict):
        error = error.get("message")
    return error[:300] if isinstance(error, str) and error else None
