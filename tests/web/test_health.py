from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from arenabrain.sandbox.openrouter import openrouter_state
from arenabrain.settings import Settings
from arenabrain.web import health


async def test_live_answers_ok_with_uptime(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["timestamp"] == "2026-03-01T00:00:00.000Z"
    assert isinstance(body["uptime"], float)


async def test_health_is_an_alias_of_live(client: httpx.AsyncClient) -> None:
    # The anchor's Docker health check and the deploy files' uptime check call `/health`.
    alias, live = await client.get("/health"), await client.get("/health/live")
    assert alias.status_code == 200
    assert alias.json().keys() == live.json().keys() == {"status", "timestamp", "uptime"}
    assert alias.json()["status"] == "ok"


async def test_ready_reports_both_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["dependencies"] == {"openrouter": True, "database": True}
    assert isinstance(body["responseTimeMs"], int)


async def test_ready_is_degraded_when_openrouter_is_down(
    client: httpx.AsyncClient, sandbox: Any
) -> None:
    openrouter_state(sandbox.world)["down"] = True
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["dependencies"] == {"openrouter": False, "database": True}


async def test_ready_answers_within_the_deadline_when_openrouter_hangs(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang(ctx: Any) -> bool:
        await asyncio.sleep(60)
        return True

    monkeypatch.setattr(health, "DEPENDENCY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(health, "openrouter_ok", hang)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["dependencies"]["openrouter"] is False
    assert response.json()["responseTimeMs"] < 1000


async def test_ready_is_degraded_when_the_database_is_dead(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dead(ctx: Any) -> bool:
        return False

    monkeypatch.setattr(health, "database_ok", dead)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["dependencies"] == {"openrouter": True, "database": False}


async def test_database_check_fails_on_broken_engine(client: httpx.AsyncClient) -> None:
    ctx = client._transport.app.state.ctx  # type: ignore[attr-defined]
    await ctx.db.engine.dispose()
    ctx.db.read_sessions.kw["bind"] = None  # no engine left to talk to
    assert await health.database_ok(ctx) is False


async def test_arena_health_ok_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    body = response.json()
    assert set(body["checks"]) == {"database", "environment", "data_integrity"}
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["environment"] == {"status": "ok"}


async def test_arena_health_never_names_missing_secrets(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(APP_ENV="production", CRON_SECRET="", OPENROUTER_API_KEY="")
    async with make_client(settings) as http:
        response = await http.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["environment"] == {
        "status": "error",
        "message": "Required configuration is incomplete",
    }
    assert "CRON_SECRET" not in response.text and "OPENROUTER" not in response.text


@pytest.mark.parametrize(
    ("management_key", "path"), [("sk-or-v1-management", "/credits"), (None, "/models")]
)
async def test_openrouter_is_asked_through_its_client_credits_with_a_key_else_the_catalog(
    management_key: str | None, path: str
) -> None:
    from types import SimpleNamespace

    import respx
    from pydantic import SecretStr

    from arenabrain.clients.openrouter.keys import OpenRouterKeys

    base = "https://openrouter.example/api/v1"
    answers = {
        "/credits": {"data": {"total_credits": 10, "total_usage": 1}},
        "/models": {"data": [{"id": "a/b"}]},
    }
    async with httpx.AsyncClient(base_url=base + "/") as http:
        ctx: Any = SimpleNamespace(
            settings=SimpleNamespace(
                openrouter_management_key=SecretStr(management_key) if management_key else None
            ),
            http=SimpleNamespace(openrouter=http),
            clients=SimpleNamespace(keys=OpenRouterKeys(http, management_key or "")),
        )
        with respx.mock(base_url=base, assert_all_called=False) as mock:
            route = mock.get(path).mock(return_value=httpx.Response(200, json=answers[path]))
            assert await health.openrouter_ok(ctx) is True
            sent = route.calls.last.request.headers.get("authorization")
            assert sent == (f"Bearer {management_key}" if management_key else None)
            route.mock(return_value=httpx.Response(401, json={"error": {"message": "no"}}))
            assert await health.openrouter_ok(ctx) is False
            route.mock(return_value=httpx.Response(200, json={"unexpected": True}))
            assert await health.openrouter_ok(ctx) is False
