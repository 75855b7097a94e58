"""The one error mapping: statuses and messages, and 5xx bodies hidden in production (§13.5)
with a reference id that the logged error line carries too."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from arenabrain.arena.routes import NoStoreRoute
from arenabrain.errors import AppError, Conflict, NotConfigured, ServiceUnavailable
from arenabrain.logging import configure_logging
from arenabrain.web.errors import INTERNAL_MESSAGE, install_error_handlers

UPSTREAM_TEXT = "Polymarket API error: 502 Bad Gateway"


def app_with_failures(production: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, production=production)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail from the database layer")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("A run is already in progress for this strategy")

    @app.get("/upstream")
    async def upstream() -> None:
        raise AppError(UPSTREAM_TEXT, 502, results=[{"error": "upstream said no"}], runId="r1")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise ServiceUnavailable("OpenRouter answered 503: upstream maintenance")

    @app.get("/not-configured")
    async def not_configured() -> None:
        raise NotConfigured("Admin authentication is not configured")

    admin = APIRouter(route_class=NoStoreRoute)

    @admin.get("/admin-upstream")
    async def admin_upstream() -> None:
        raise AppError(UPSTREAM_TEXT, 500)

    app.include_router(admin)
    return app


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    yield stream
    configure_logging("info")


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def get(production: bool, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_with_failures(production), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/boom", 500), ("/upstream", 502), ("/unavailable", 503), ("/admin-upstream", 500)],
)
async def test_production_5xx_body_is_the_internal_message_with_a_logged_reference(
    path: str, status: int, log_lines: io.StringIO
) -> None:
    response = await get(True, path)

    assert response.status_code == status
    body = response.json()
    assert body == {"error": INTERNAL_MESSAGE, "statusCode": status, "reference": body["reference"]}
    assert len(body["reference"]) >= 12
    [logged] = [r for r in records(log_lines) if r.get("reference") == body["reference"]]
    assert logged["level"] == "error"
    assert logged["statusCode"] == status and logged["url"] == path
    assert logged["err"]["message"] not in response.text


async def test_production_5xx_keeps_upstream_text_in_the_log_only(log_lines: io.StringIO) -> None:
    response = await get(True, "/upstream")

    assert "upstream" not in response.text.replace('"reference"', "")
    assert "r1" not in response.text
    [logged] = [r for r in records(log_lines) if r.get("reference")]
    assert logged["err"]["message"] == UPSTREAM_TEXT


async def test_each_5xx_gets_its_own_reference(log_lines: io.StringIO) -> None:
    first, second = await get(True, "/boom"), await get(True, "/boom")
    assert first.json()["reference"] != second.json()["reference"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/boom", 500, "secret detail from the database layer"),
        ("/upstream", 502, UPSTREAM_TEXT),
        ("/unavailable", 503, "OpenRouter answered 503: upstream maintenance"),
        ("/admin-upstream", 500, UPSTREAM_TEXT),
    ],
)
async def test_development_5xx_keeps_the_detail_and_a_reference(
    path: str, status: int, message: str, log_lines: io.StringIO
) -> None:
    response = await get(False, path)

    assert response.status_code == status
    assert response.json()["error"] == message
    [logged] = [r for r in records(log_lines) if r.get("reference")]
    assert logged["reference"] == response.json()["reference"]


async def test_development_5xx_keeps_the_extra_fields() -> None:
    body = (await get(False, "/upstream")).json()
    assert body["results"] == [{"error": "upstream said no"}] and body["runId"] == "r1"


async def test_production_keeps_a_not_configured_message(log_lines: io.StringIO) -> None:
    response = await get(True, "/not-configured")
    assert response.status_code == 503
    assert response.json()["error"] == "Admin authentication is not configured"


async def test_domain_errors_keep_status_and_message() -> None:
    response = await get(True, "/conflict")
    missing = await get(True, "/nowhere")
    assert response.status_code == 409
    assert response.json() == {
        "error": "A run is already in progress for this strategy",
        "statusCode": 409,
    }
    assert missing.status_code == 404
    assert missing.json()["error"] == "Route GET:/nowhere not found"


async def test_4xx_answers_log_no_error_line(log_lines: io.StringIO) -> None:
    await get(True, "/conflict")
    assert [r for r in records(log_lines) if r["level"] == "error"] == []
