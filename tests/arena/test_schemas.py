"""The arena's typed doors: every route documents its answer (and its body) in /openapi.json,
every answer matches its shape with every kind of row present, and an admin body with an
unknown or mistyped field is a 400 that names it and changes nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import func, select

from arenabrain.arena.admin import ACTIONS
from arenabrain.arena.models import BenchmarkConfig, ModelRelease
from arenabrain.arena.routes import router
from arenabrain.arena.schemas.admin import BenchmarkOverview, ReviewSummary
from arenabrain.arena.schemas.pages import CohortModelPage, CohortPage, MarketPage, MarketsPage
from arenabrain.arena.schemas.pages import ModelPage as ModelPageShape
from arenabrain.clock import FrozenClock
from arenabrain.settings import Settings
from tests.arena.test_cohort_model_page import CLAUDE, SUNDAY, seed_record, start
from tests.conftest import ADMIN_PASSWORD

NO_STORE = "no-store, no-cache, must-revalidate"
# Every arena door, and the ones that take a body.
ARENA_ROUTES = 31
WITH_BODY = {
    ("POST", "/api/admin/benchmark/releases"),
    ("POST", "/api/admin/benchmark/configs"),
    ("POST", "/api/admin/benchmark/default"),
    ("POST", "/api/admin/benchmark/rollover"),
    ("POST", "/api/admin/action"),
    ("POST", "/api/admin/export"),
}
# Doors that answer a file rather than JSON.
FILES = {("GET", "/api/admin/export"): "application/zip"}


@pytest.fixture
async def admin(make_client: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as http:
        login = await http.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        yield http


def ctx_of(http: httpx.AsyncClient) -> Any:
    return http._transport.app.state.ctx  # type: ignore[attr-defined]


def schema_of(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


def answer_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return operation["responses"]["200"]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


async def test_every_arena_route_documents_its_answer_and_its_body(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) == ARENA_ROUTES
    for route in routes:
        (method,) = route.methods
        operation = document["paths"][route.path_format][method.lower()]
        if (method, route.path) in FILES:
            assert set(operation["responses"]["200"]["content"]) == {FILES[method, route.path]}
            assert "requestBody" not in operation, route.path
            continue
        answer = answer_schema(operation)
        # A named shape (or a choice of named shapes), never a bare object.
        refs = [answer] if "$ref" in answer else answer["anyOf"]
        for ref in refs:
            assert schema_of(document, ref)["properties"], route.path
        if (method, route.path) in WITH_BODY:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema_of(document, body)["additionalProperties"] is False, route.path
        else:
            assert "requestBody" not in operation, route.path
    markets = document["paths"]["/api/markets"]["get"]["parameters"]
    assert {p["name"] for p in markets} == {
        "status",
        "category",
        "search",
        "sort",
        "cohort_bets",
        "limit",
        "offset",
    }


def free_form_objects(document: dict[str, Any], schema: Any, where: str) -> list[str]:
    """Where `schema` (refs followed) allows an object of any keys and values (a bare `dict`),
    or any value at all."""
    found: list[str] = []
    seen: set[str] = set()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
            return
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(document["components"]["schemas"][name], name)
            return
        bare = node.get("type") == "object" and not node.get("properties")
        if bare and node.get("additionalProperties", True) in (True, {}):
            found.append(where)
        if not set(node) - {"title", "description"}:  # `{}`: any value at all
            found.append(where)
        for key, value in node.get("properties", {}).items():
            walk(value, f"{where}.{key}")
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            walk(node.get(key), where)

    walk(schema, where)
    return found


async def test_no_arena_answer_holds_a_free_form_object(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    found = []
    for route in (r for r in router.routes if isinstance(r, APIRoute)):
        (method,) = route.methods
        answer = document["paths"][route.path_format][method.lower()]["responses"]["200"]
        for media in answer["content"].values():
            found += free_form_objects(document, media.get("schema"), f"{method} {route.path}")
    assert found == []


async def test_the_admin_action_body_lists_the_actions_there_are(
    client: httpx.AsyncClient,
) -> None:
    """Any other text is still the route's own 400 ("Unknown action"); the document names the
    actions so a client (and the API gate) can pick one."""
    document = (await client.get("/openapi.json")).json()
    body = document["paths"]["/api/admin/action"]["post"]["requestBody"]["content"]
    action = schema_of(document, body["application/json"]["schema"])["properties"]["action"]
    named = [choice for choice in action.get("anyOf", [action]) if "enum" in choice]
    assert [set(choice["enum"]) for choice in named] == [set(ACTIONS)]


REQUIRED_BODY_FIELDS = {
    # The reference's table of admin bodies (§12.3): what each route answers 400 without.
    "ReleaseIn": {
        "family_id",
        "release_name",
        "openrouter_id",
        "default_input_price_per_million",
        "default_output_price_per_million",
    },
    "ConfigIn": {"version_name", "assignments"},
    "AssignmentIn": {
        "family_id",
        "release_id",
        "input_price_per_million",
        "output_price_per_million",
    },
    "PromoteIn": {"config_id"},
    "RolloverIn": {"config_id"},
    "ActionIn": {"action"},
    "ExportIn": {"cohort_id", "from", "to"},
}


async def test_admin_bodies_document_the_fields_their_routes_require(
    client: httpx.AsyncClient,
) -> None:
    """The routes check these fields themselves, with the anchor's messages ("Model family is
    required"), and the document says they are required and what they hold."""
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name, fields in REQUIRED_BODY_FIELDS.items():
        assert set(schemas[name]["required"]) == fields, name
        for field in fields:
            shape = schemas[name]["properties"][field]
            assert "null" not in str(shape), (name, field)
    price = schemas["ReleaseIn"]["properties"]["default_input_price_per_million"]
    assert {choice["type"] for choice in price["anyOf"]} == {"number", "string"}
    assert schemas["ConfigIn"]["properties"]["assignments"]["minItems"] == 1


async def test_an_admin_body_without_a_required_field_keeps_the_anchor_message(
    admin: httpx.AsyncClient,
) -> None:
    release = await admin.post("/api/admin/benchmark/releases", json={})
    config = await admin.post("/api/admin/benchmark/configs", json={"version_name": "v"})
    action = await admin.post("/api/admin/action", json={"action": None})
    assert [r.status_code for r in (release, config, action)] == [400, 400, 400]
    assert release.json()["error"] == "Model family is required"
    assert config.json()["error"] == "At least one lineup assignment is required"
    assert action.json()["error"] == "Unknown action"


def check(shape: type[BaseModel], response: httpx.Response) -> dict[str, Any]:
    """The answer is 200 and reads back as its shape (no key undeclared, none missing)."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    shape.model_validate(body)
    return body


async def test_every_page_matches_its_shape_with_every_kind_of_row(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ids = await start(admin)
    # Open, sold, settled (won, lost, cancelled) and waiting positions; BUY and SELL trades;
    # a Brier score; snapshots; decisions.
    await seed_record(admin, ids)
    clock.set(SUNDAY + timedelta(days=8, hours=12))
    login = await admin.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
    assert login.status_code == 200  # the first session is over a week old
    listed = check(MarketsPage, await admin.get("/api/markets", params={"status": "all"}))
    assert len(listed["markets"]) == 6
    won = check(MarketPage, await admin.get("/api/markets/won"))
    assert len(won["trades"]) == 1 and len(won["brier_scores"]) == 1
    assert won["trades"][0]["family_slug"] == won["brier_scores"][0]["family_slug"] == CLAUDE
    live = check(MarketPage, await admin.get("/api/markets/live"))
    assert len(live["positions"]) == 1 and live["positions"][0]["decision_id"] == "d1"
    cohort = check(CohortPage, await admin.get(f"/api/cohorts/{ids['cohort']}"))
    assert len(cohort["recent_decisions"]) == 2 and cohort["equity_curves"]
    model = check(ModelPageShape, await admin.get(f"/api/models/{CLAUDE}"))
    assert model["equity_curve"] and model["recent_decisions"]
    page = check(CohortModelPage, await admin.get(f"/api/cohorts/{ids['cohort']}/models/{CLAUDE}"))
    assert len(page["closed_positions"]) == 5 and page["decisions"][1]["markets"]
    review = check(ReviewSummary, await admin.post("/api/admin/benchmark/reviews/check"))
    assert review["candidates"]
    overview = check(BenchmarkOverview, await admin.get("/api/admin/benchmark"))
    assert overview["latest_review"]["id"] == review["id"]


async def counts(http: httpx.AsyncClient) -> tuple[int, int]:
    async with ctx_of(http).db.read() as session:
        return (
            (await session.scalar(select(func.count()).select_from(ModelRelease))) or 0,
            (await session.scalar(select(func.count()).select_from(BenchmarkConfig))) or 0,
        )


GOOD_RELEASE = {
    "family_id": "openai-gpt",
    "release_name": "GPT-5.6",
    "openrouter_id": "openai/gpt-5.6",
    "default_input_price_per_million": 6,
    "default_output_price_per_million": 18,
}


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/admin/benchmark/releases", {**GOOD_RELEASE, "family": "openai-gpt"}, "family"),
        ("/api/admin/benchmark/releases", {**GOOD_RELEASE, "release_name": 5}, "release_name"),
        (
            "/api/admin/benchmark/releases",
            {**GOOD_RELEASE, "default_input_price_per_million": [6]},
            "default_input_price_per_million",
        ),
        (
            "/api/admin/benchmark/configs",
            {"version_name": "v", "assignments": [{"family_id": "x", "release": "r"}]},
            "assignments.0.release",
        ),
        ("/api/admin/benchmark/default", {"config_id": ["x"]}, "config_id"),
        ("/api/admin/benchmark/rollover", {"config_id": "x", "apply": "later"}, "apply"),
    ],
    ids=["unknown field", "number for text", "list for price", "unknown item field", "list", "x"],
)
async def test_a_malformed_admin_body_is_a_400_naming_the_field(
    admin: httpx.AsyncClient, path: str, body: dict[str, Any], named: str
) -> None:
    before = await counts(admin)
    response = await admin.post(path, json=body)
    assert response.status_code == 400
    assert re.match(rf"{re.escape(named)}[.:]", response.json()["error"]), response.text
    assert response.headers["cache-control"] == NO_STORE
    assert await counts(admin) == before


async def test_an_admin_body_that_is_not_an_object_reads_as_empty(
    admin: httpx.AsyncClient,
) -> None:
    for sent in ({"json": [1, 2]}, {"json": "text"}, {"content": b"[1, 2]"}, {}):
        response = await admin.post("/api/admin/benchmark/releases", **sent)
        assert (response.status_code, response.json()["error"]) == (
            400,
            "Model family is required",
        ), sent
