from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from arenabrain.errors import Conflict
from arenabrain.web.errors import install_error_handlers


def app_with_failures(production: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, production=production)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail from the database layer")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("A run is already in progress for this strategy")

    return app


@pytest.mark.parametrize(
    ("production", "message"),
    [(True, "An internal error occurred"), (False, "secret detail from the database layer")],
)
async def test_unexpected_errors_are_hidden_in_production(production: bool, message: str) -> None:
    transport = httpx.ASGITransport(app=app_with_failures(production), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": message, "statusCode": 500}


async def test_domain_errors_keep_status_and_message() -> None:
    transport = httpx.ASGITransport(app=app_with_failures(True))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/conflict")
        missing = await client.get("/nowhere")
    assert response.status_code == 409
    assert response.json()["error"] == "A run is already in progress for this strategy"
    assert missing.status_code == 404
    assert missing.json()["error"] == "Route GET:/nowhere not found"
