"""Sandbox mode is always labelled: every HTTP response carries `X-Arenabrain-Sandbox: true`
(errors too, an unhandled exception's 500 included), and the health endpoints say so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from arenabrain.settings import Settings
from tests.conftest import cron_headers

HEADER = "x-arenabrain-sandbox"


async def boom() -> None:
    raise RuntimeError("a bug nobody caught")


@asynccontextmanager
async def serving(
    make_client: Callable[[Settings], Any], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The app (lifespan running) with one route that raises, over a transport that returns
    the 500 the server sends instead of raising the app's exception into the test."""
    holder = make_client(settings)
    holder.app.add_api_route("/boom", boom)
    async with holder.app.router.lifespan_context(holder.app):
        transport = httpx.ASGITransport(app=holder.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def every_kind_of_answer(http: httpx.AsyncClient) -> dict[str, httpx.Response]:
    answers = {
        "200 live": await http.get("/health/live"),
        "200 ready": await http.get("/health/ready"),
        "200 arena health": await http.get("/api/health"),
        "404 unknown route": await http.get("/no/such/page"),
        "400 bad query": await http.get("/api/markets", params={"limit": "many"}),
        "401 cron without secret": await http.post("/api/cron/sync-markets"),
        "413 body too large": await http.post(
            "/api/admin/login",
            content=b"x" * (1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        ),
        "500 unhandled exception": await http.get("/boom"),
    }
    for _ in range(10):  # the cron routes allow 10 calls a minute per client
        answers["429 rate limited"] = await http.post(
            "/api/cron/take-snapshots", headers=cron_headers("wrong")
        )
    return answers


async def test_every_sandbox_response_carries_the_header_errors_included(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    async with serving(make_client, make_settings(SANDBOX="true")) as http:
        answers = await every_kind_of_answer(http)

    for name, response in answers.items():
        assert str(response.status_code) == name.split()[0], (name, response.text)
        assert response.headers.get(HEADER) == "true", name


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/api/health", "/health"])
async def test_the_health_endpoints_report_sandbox_mode(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings], path: str
) -> None:
    async with serving(make_client, make_settings(SANDBOX="true")) as http:
        response = await http.get(path)
    assert response.json()["sandbox"] is True


async def test_outside_sandbox_mode_nothing_claims_to_be_sandboxed(
    make_client: Callable[[Settings], Any], settings: Settings
) -> None:
    async with serving(make_client, settings) as http:
        answers = await every_kind_of_answer(http)
        bodies = [(await http.get(path)).json() for path in ("/health/live", "/api/health")]

    assert all(HEADER not in response.headers for response in answers.values())
    assert all("sandbox" not in body for body in bodies)
