"""APP_ENV=production over the whole app: a cron route whose upstream fails answers the hidden
body (§13.5) with a reference id that the logged error line carries, next to the upstream text
that never reaches the caller. Development keeps the detail."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import inject_failure
from arenabrain.settings import Settings
from arenabrain.web.errors import INTERNAL_MESSAGE
from tests.arena.decisions.support import SUNDAY, chat_ready, load_world_markets, seed_cohort
from tests.conftest import cron_headers

GAMMA_DOWN = "Polymarket API error: 502 Bad Gateway"


async def no_sleep(_seconds: float) -> None:
    return None


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


def error_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("level") == "error"]


async def sync_with_gamma_down(client: httpx.AsyncClient, sandbox: Sandbox) -> httpx.Response:
    inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)
    return await client.post("/api/cron/sync-markets", headers=cron_headers())


async def test_production_cron_upstream_failure_is_hidden_with_a_logged_reference(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with make_client(make_settings(APP_ENV="production")) as client:
        response = await sync_with_gamma_down(client, sandbox)

    assert response.status_code == 500
    body = response.json()
    assert body == {"error": INTERNAL_MESSAGE, "statusCode": 500, "reference": body["reference"]}
    assert "Polymarket" not in response.text and "Bad Gateway" not in response.text
    logged = [r for r in error_lines(capsys.readouterr().out) if r.get("reference")]
    assert [r["reference"] for r in logged] == [body["reference"]]
    assert logged[0]["err"]["message"] == GAMMA_DOWN
    assert logged[0]["url"] == "/api/cron/sync-markets"


async def test_development_cron_upstream_failure_keeps_the_upstream_text(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    sandbox: Sandbox,
) -> None:
    async with make_client(make_settings(APP_ENV="development")) as client:
        response = await sync_with_gamma_down(client, sandbox)

    assert response.status_code == 500
    assert response.json()["error"] == GAMMA_DOWN


async def test_production_decision_run_502_hides_every_agent_error(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    ctx: Context,
    sandbox: Sandbox,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock.set(SUNDAY + timedelta(minutes=5))
    knobs = chat_ready(sandbox)
    await seed_cohort(ctx)
    await load_world_markets(ctx, sandbox)
    knobs["fail"] = True  # OpenRouter answers 503 to every model call

    async with make_client(make_settings(APP_ENV="production")) as client:
        response = await client.post("/api/cron/run-decisions", headers=cron_headers())

    assert response.status_code == 502
    body = response.json()
    assert body == {"error": INTERNAL_MESSAGE, "statusCode": 502, "reference": body["reference"]}
    [logged] = [r for r in error_lines(capsys.readouterr().out) if r.get("reference")]
    assert logged["reference"] == body["reference"]
    assert logged["err"]["message"].startswith("Decision run failed for all 7 processed agents")
