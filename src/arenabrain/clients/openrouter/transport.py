"""How every OpenRouter call is sent, whichever part of the API it reaches: over the one httpx
client of `OPENROUTER_BASE_URL`, with the call's own bearer key (the chat key, the management
key, or none for the public catalog) set per request, and the shared error mapping
(`clients.errors`) worded by the calling family. No key ever reaches an error's text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError, json_body, send, status_error

UPSTREAM = "openrouter"
KEY_PATTERN = re.compile(r"sk-or-[A-Za-z0-9_-]+")


def redactor(key: str | None) -> Callable[[str], str]:
    """Blanks OpenRouter keys (and `key`) out of a text an upstream message might echo them in."""

    def redact(text: str) -> str:
        if key:
            text = text.replace(key, "[redacted]")
        return KEY_PATTERN.sub("[redacted]", text)

    return redact


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    key: str | None = None,
    label: str | None = None,
    error: type[UpstreamError] = UpstreamError,
    allow: tuple[int, ...] = (),
    headers: dict[str, str] | None = None,
    deadline: float | None = None,
    **kwargs: Any,
) -> tuple[httpx.Response, Any]:
    """One call: the response and its decoded JSON body (None when not JSON). A failure to get
    an answer, or a status of 300 or more that is not in `allow`, raises `error`.

    `label` (the path by default) names the call in errors: never a secret."""
    label = path if label is None else label
    sent = dict(headers or {})
    if key:
        # Per request, not on the shared client: each family of calls has its own key.
        sent["Authorization"] = f"Bearer {key}"
    response = await send(
        http,
        UPSTREAM,
        method,
        path,
        label=label,
        error=error,
        deadline=deadline,
        headers=sent,
        **kwargs,
    )
    body = json_body(response)
    if response.status_code >= 300 and response.status_code not in allow:
        raise status_error(UPSTREAM, label, response, body, redactor(key), error=error)
    return response, body
