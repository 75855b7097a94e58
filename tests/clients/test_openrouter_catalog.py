"""OpenRouter's public model catalog against respx: what is sent, what is kept, and every way
it fails as one `CatalogError` (an `UpstreamError`) in the lineup review's words."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from arenabrain.clients.errors import UpstreamError
from arenabrain.clients.openrouter import CatalogError, fetch_catalog

BASE = "https://openrouter.example/api/v1"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=BASE + "/") as client:
        yield client


@respx.mock
async def test_the_catalog_is_read_without_credentials_and_keeps_only_objects(
    http: httpx.AsyncClient,
) -> None:
    route = respx.get(f"{BASE}/models").mock(
        return_value=httpx.Response(200, json={"data": [{"id": "a/b"}, "junk", 3, {"id": "c/d"}]})
    )
    assert await fetch_catalog(http) == [{"id": "a/b"}, {"id": "c/d"}]
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert request.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("answer", "reason", "status", "transient"),
    [
        (
            httpx.Response(503),
            "OpenRouter model catalog request failed: 503 Service Unavailable",
            503,
            True,
        ),
        (
            httpx.Response(401, json={"error": {"message": "no"}}),
            "OpenRouter model catalog request failed: 401 Unauthorized",
            401,
            False,
        ),
        (
            httpx.Response(200, text="<html>"),
            "OpenRouter model catalog response was not JSON",
            200,
            False,
        ),
        (
            httpx.Response(200, json={"data": "oops"}),
            "OpenRouter model catalog response did not include a data array",
            200,
            False,
        ),
        (
            httpx.ConnectError("refused"),
            "OpenRouter model catalog request failed: refused",
            None,
            True,
        ),
        (
            httpx.ReadTimeout("slow"),
            "OpenRouter model catalog request failed: timed out",
            None,
            True,
        ),
    ],
)
@respx.mock
async def test_every_failure_is_one_catalog_error(
    http: httpx.AsyncClient,
    answer: httpx.Response | Exception,
    reason: str,
    status: int | None,
    transient: bool,
) -> None:
    if isinstance(answer, Exception):
        respx.get(f"{BASE}/models").mock(side_effect=answer)
    else:
        respx.get(f"{BASE}/models").mock(return_value=answer)
    with pytest.raises(CatalogError) as caught:
        await fetch_catalog(http)
    error = caught.value
    assert isinstance(error, UpstreamError) and error.upstream == "openrouter"
    assert str(error) == error.reason == reason
    assert (error.status, error.transient) == (status, transient)
