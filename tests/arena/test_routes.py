"""The arena's HTTP doors: authentication of every cron and admin route, bad input, and the
public read shapes (§12.1.4-§12.1.7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from arenabrain.arena.markets import upsert_markets
from arenabrain.arena.models import Agent, Cohort, Market, ModelLineupReview, Position
from arenabrain.clients.polymarket import parse_market
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.settings import Settings
from tests.conftest import ADMIN_PASSWORD, API_TOKEN, cron_headers

CRON_ROUTES = [
    "/api/cron/sync-markets",
    "/api/cron/start-cohort",
    "/api/cron/check-model-lineup",
]
ADMIN_ROUTES = [
    ("GET", "/api/admin/benchmark"),
    ("POST", "/api/admin/benchmark/releases"),
    ("POST", "/api/admin/benchmark/configs"),
    ("POST", "/api/admin/benchmark/default"),
    ("POST", "/api/admin/benchmark/rollover"),
    ("POST", "/api/admin/benchmark/reviews/check"),
    ("POST", "/api/admin/benchmark/reviews/some-id/approve"),
    ("POST", "/api/admin/benchmark/reviews/some-id/dismiss"),
]
NO_STORE = "no-store, no-cache, must-revalidate"


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


async def rows(http: httpx.AsyncClient, model: Any) -> int:
    async with ctx_of(http).db.read() as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", CRON_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {API_TOKEN}"}],
    ids=["missing", "wrong", "other family's token"],
)
async def test_cron_routes_need_the_cron_bearer(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.post(path, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "Unauthorized")
    assert await rows(client, Cohort) == 0 and await rows(client, Market) == 0
    assert await rows(client, ModelLineupReview) == 0


async def test_cron_routes_answer_with_the_bearer(client: httpx.AsyncClient) -> None:
    synced = await client.post("/api/cron/sync-markets", headers=cron_headers())
    assert synced.status_code == 200 and synced.json()["markets_added"] > 40
    started = await client.post("/api/cron/start-cohort", headers=cron_headers())
    assert started.status_code == 200 and started.json()["agents_created"] == 7
    checked = await client.post("/api/cron/check-model-lineup", headers=cron_headers())
    assert checked.status_code == 200 and checked.json()["status"] == "open"


async def test_cron_routes_are_post_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/cron/sync-markets", headers=cron_headers())).status_code == 405


async def test_force_must_be_exactly_true(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    clock.advance(days=2)
    for value in ("TRUE", "1", "yes"):
        response = await client.post(
            "/api/cron/start-cohort", params={"force": value}, headers=cron_headers()
        )
        assert response.json() == {
            "success": False,
            "message": "Not Sunday or outside start window",
        }
    forced = await client.post(
        "/api/cron/start-cohort", params={"force": "true"}, headers=cron_headers()
    )
    assert forced.json()["success"] is True


async def test_lineup_catalog_failure_is_502(client: httpx.AsyncClient, sandbox: Any) -> None:
    from arenabrain.sandbox.openrouter import openrouter_state

    openrouter_state(sandbox.world)["down"] = True
    response = await client.post("/api/cron/check-model-lineup", headers=cron_headers())
    assert response.status_code == 502
    assert response.json()["error"].startswith("OpenRouter model catalog request failed")


async def test_gamma_outage_is_500(client: httpx.AsyncClient, sandbox: Any) -> None:
    from arenabrain.sandbox.polymarket import inject_failure

    inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)
    response = await client.post("/api/cron/sync-markets", headers=cron_headers())
    assert response.status_code == 500
    assert response.json()["error"] == "Polymarket API error: 502 Bad Gateway"


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_need_the_session_cookie(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={})
    assert (response.status_code, response.json()["error"]) == (401, "Unauthorized")
    assert response.headers["cache-control"] == NO_STORE
    client.cookies.set("forecaster_admin", "admin.x.y")
    forged = await client.request(method, path, json={})
    assert forged.status_code == 401
    assert await rows(client, ModelLineupReview) == 0


@pytest.fixture
async def admin(make_client: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as http:
        login = await http.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        yield http


async def test_admin_review_routes(admin: httpx.AsyncClient, sandbox: Any) -> None:
    checked = await admin.post("/api/admin/benchmark/reviews/check")
    assert checked.status_code == 200 and checked.headers["cache-control"] == NO_STORE
    review = checked.json()
    assert review["status"] == "open" and review["candidate_count"] == 1
    unknown = await admin.post("/api/admin/benchmark/reviews/nope/approve")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Unknown lineup review")
    assert unknown.headers["cache-control"] == NO_STORE
    dismissed = await admin.post(f"/api/admin/benchmark/reviews/{review['id']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["review"]["status"] == "dismissed"
    again = await admin.post(f"/api/admin/benchmark/reviews/{review['id']}/approve")
    assert (again.status_code, again.json()["error"]) == (
        400,
        "Lineup review is dismissed and cannot be approved",
    )
    from arenabrain.sandbox.openrouter import openrouter_state

    openrouter_state(sandbox.world)["down"] = True
    failed = await admin.post("/api/admin/benchmark/reviews/check")
    assert failed.status_code == 200 and failed.json()["status"] == "failed"


async def test_admin_bad_input_changes_nothing(admin: httpx.AsyncClient) -> None:
    before = await rows(admin, Agent), await rows(admin, Cohort)
    for path, body in (
        ("/api/admin/benchmark/configs", {"version_name": "x", "assignments": [{}]}),
        ("/api/admin/benchmark/default", {"config_id": 7}),
        ("/api/admin/benchmark/rollover", {"apply": True}),
    ):
        response = await admin.post(path, json=body)
        assert response.status_code == 400, path
        assert response.json()["statusCode"] == 400
    assert (await rows(admin, Agent), await rows(admin, Cohort)) == before


# --- public reads -----------------------------------------------------------------------------


async def seed_markets(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    specs = [
        ("1", "Will 100% of votes be counted?", "Politics", 500.0, "2026-06-01", False),
        ("2", "Will snake_case win?", "Technology", 900.0, "2026-04-01", False),
        ("3", "Will BTC hit 1m?", "Crypto", None, "2026-05-01", False),
        ("4", "Will it rain in Paris?", None, 100.0, "2026-03-15", True),
        ("5", "Who wins: Lakers vs Celtics?", "Sports", 300.0, "2026-07-01", False),
    ]
    markets = []
    for pid, question, category, volume, close, closed in specs:
        outcomes = '["Lakers", "Celtics"]' if pid == "5" else '["Yes", "No"]'
        markets.append(
            parse_market(
                {
                    "id": pid,
                    "question": question,
                    "category": category,
                    "volumeNum": volume,
                    "endDate": close,
                    "outcomes": outcomes,
                    "outcomePrices": '["0.3", "0.7"]',
                    "clobTokenIds": '["a' + pid + '", "b' + pid + '"]',
                    "closed": closed,
                }
            )
        )
    async with ctx_of(http).db.write() as session:
        for offset, market in enumerate(markets):
            await upsert_markets(session, [market], clock.now().replace(minute=offset))


async def market_ids(http: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await http.get("/api/markets", params=params)
    assert response.status_code == 200
    return [m["polymarket_id"] for m in response.json()["markets"]]


async def test_market_list_filters_sorts_and_pages(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await seed_markets(client, clock)
    response = await client.get("/api/markets")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert [m["polymarket_id"] for m in body["markets"]] == ["2", "1", "5", "3"]
    assert (body["total"], body["has_more"]) == (4, False)
    assert body["categories"] == ["Crypto", "Politics", "Sports", "Technology"]
    assert body["stats"] == {
        "total_markets": 5,
        "active_markets": 4,
        "markets_with_positions": 0,
        "categories_count": 4,
    }
    first = body["markets"][0]
    assert first["positions_count"] == 0 and first["status"] == "active"
    assert first["close_date"] == "2026-04-01T00:00:00.000Z"
    assert body["updated_at"] == "2026-03-01T00:00:00.000Z"
    assert await market_ids(client, status="all") == ["2", "1", "5", "4", "3"]
    assert await market_ids(client, status="closed") == ["4"]
    assert await market_ids(client, category="Crypto") == ["3"]
    assert await market_ids(client, search="100%") == ["1"]  # % is literal
    assert await market_ids(client, search="%") == ["1"]
    assert await market_ids(client, search="_") == ["2"]  # _ is literal
    assert await market_ids(client, search="WILL b") == ["3"]  # case-insensitive
    assert await market_ids(client, sort="close_date") == ["2", "3", "1", "5"]
    assert await market_ids(client, sort="created") == ["5", "3", "2", "1"]
    page = (await client.get("/api/markets", params={"limit": 2, "offset": 1})).json()
    assert [m["polymarket_id"] for m in page["markets"]] == ["1", "5"]
    assert page["has_more"] is True


@pytest.mark.parametrize(("limit", "expected"), [("100", 100), ("10", 10), ("0", 0), (None, 50)])
async def test_market_limit_within_range(
    client: httpx.AsyncClient, clock: FrozenClock, limit: str | None, expected: int
) -> None:
    many = [
        parse_market({"id": str(i), "outcomes": '["Yes", "No"]', "volumeNum": i})
        for i in range(120)
    ]
    async with ctx_of(client).db.write() as session:
        await upsert_markets(session, many, clock.now())
    params = {} if limit is None else {"limit": limit}
    assert len(await market_ids(client, **params)) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"offset": "9223372036854775808"}, "offset"),  # past SQLite's INTEGER: once a 500
        ({"offset": "2147483648"}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "500"}, "limit"),
        ({"limit": "10abc"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"sort": "price"}, "sort"),
        ({"status": "open"}, "status"),
        ({"cohort_bets": "yes"}, "cohort_bets"),
        ({"search": "x" * 201}, "search"),
    ],
)
async def test_market_list_refuses_bad_parameters_naming_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/markets", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"query.{field}: ")


async def test_positions_count_and_cohort_bets(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await seed_markets(client, clock)
    await client.post("/api/cron/start-cohort", headers=cron_headers())
    async with ctx_of(client).db.write() as session:
        market = (await session.scalars(select(Market).where(Market.polymarket_id == "3"))).one()
        for n, agent in enumerate((await session.scalars(select(Agent).limit(2))).all()):
            session.add(
                Position(
                    id=f"p{n}",
                    agent_id=agent.id,
                    market_id=market.id,
                    side="YES",
                    shares=10,
                    avg_entry_price=0.3,
                    total_cost=3,
                )
            )
    body = (await client.get("/api/markets", params={"cohort_bets": "true"})).json()
    assert [(m["polymarket_id"], m["positions_count"]) for m in body["markets"]] == [("3", 2)]
    assert body["stats"]["markets_with_positions"] == 1
    detail = (await client.get(f"/api/markets/{market.id}")).json()
    assert set(detail) == {"market", "positions", "trades", "brier_scores", "updated_at"}
    assert len(detail["positions"]) == 2
    position = detail["positions"][0]
    assert position["model_display_name"] in {"GPT", "Gemini"}
    assert position["family_slug"] and position["model_release_name"] and position["model_color"]
    assert position["decision_id"] is None
    assert detail["brier_scores"] == [] and detail["trades"] == []


async def test_not_found_messages(client: httpx.AsyncClient) -> None:
    for path, message in (
        ("/api/markets/nope", "Market not found"),
        ("/api/cohorts/nope", "Cohort not found"),
        ("/api/models/nope", "Model not found"),
    ):
        response = await client.get(path)
        assert (response.status_code, response.json()["error"]) == (404, message)


async def test_cohort_page(client: httpx.AsyncClient) -> None:
    started = (await client.post("/api/cron/start-cohort", headers=cron_headers())).json()
    body = (await client.get(f"/api/cohorts/{started['cohort_id']}")).json()
    assert set(body) == {
        "cohort",
        "agents",
        "stats",
        "equity_curves",
        "release_changes",
        "recent_decisions",
        "updated_at",
    }
    cohort = body["cohort"]
    assert cohort["started_at"] == "2026-03-01T00:00:00.000Z"
    assert cohort["is_archived"] is False
    assert (cohort["decision_status"], cohort["decision_eligible"], cohort["scoring_status"]) == (
        "decisioning",
        True,
        "current",
    )
    assert len(body["agents"]) == 7
    agent = body["agents"][0]
    assert agent["total_value"] == 10000.0 and agent["total_pnl"] == 0.0
    assert agent["legacy_model_id"] and agent["model_release_name"] and agent["family_slug"]
    assert body["stats"] == {
        "week_number": 1,
        "total_trades": 0,
        "total_positions_open": 0,
        "markets_with_positions": 0,
        "total_resolved_bets": 0,
        "avg_brier_score": None,
    }


@pytest.mark.parametrize("key", ["anthropic-claude-opus", "claude-opus-4.5"])
async def test_model_page_by_slug_or_legacy_id(client: httpx.AsyncClient, key: str) -> None:
    await client.post("/api/cron/start-cohort", headers=cron_headers())
    body = (await client.get(f"/api/models/{key}")).json()
    assert body["model"] == {
        "id": "anthropic-claude-opus",
        "family_id": "anthropic-claude-opus",
        "slug": "anthropic-claude-opus",
        "legacy_model_id": "claude-opus-4.5",
        "display_name": "Claude",
        "short_display_name": "Claude",
        "provider": "Anthropic",
        "color": "#F59E0B",
        "current_release_id": "anthropic-claude-opus--claude-opus-4.7",
        "current_release_name": "Claude Opus 4.7",
    }
    assert body["num_cohorts"] == 1 and body["total_pnl"] == 0.0
    assert body["win_rate"] is None and body["archived_cohort_performance"] == []
    assert body["cohort_performance"][0]["scoring_status"] == "current"
