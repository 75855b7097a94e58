"""OpenRouter's public model catalog (`GET /models`, no credentials): what the lineup review
reads, and what the readiness check asks when there is no management key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter.transport import UPSTREAM, exchange

CATALOG_PATH = "models"
FAILED = "OpenRouter model catalog request failed"


class CatalogError(UpstreamError):
    """The catalog could not be read; it reads as its reason alone (a failed review's message)."""

    def __str__(self) -> str:
        return self.reason

    @classmethod
    def timeout_reason(cls, label: str, deadline: float | None) -> str:
        return f"{FAILED}: timed out"

    @classmethod
    def failure_reason(cls, label: str, exc: httpx.RequestError) -> str:
        return f"{FAILED}: {exc}"

    @classmethod
    def status_reason(cls, label: str, response: httpx.Response, detail: str) -> str:
        return f"{FAILED}: {response.status_code} {response.reason_phrase}".rstrip()


async def fetch_catalog(http: httpx.AsyncClient) -> list[Mapping[str, Any]]:
    """Every model of the catalog, as OpenRouter describes it (objects of its `data` array)."""
    response, body = await exchange(
        http,
        "GET",
        CATALOG_PATH,
        error=CatalogError,
        headers={"Accept": "application/json"},
    )
    if body is None:
        raise CatalogError(
            UPSTREAM, "OpenRouter model catalog response was not JSON", status=response.status_code
        )
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise CatalogError(
            UPSTREAM,
            "OpenRouter model catalog response did not include a data array",
            status=response.status_code,
        )
    return [m for m in data if isinstance(m, Mapping)]
