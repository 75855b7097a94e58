"""The OpenAPI document tells the truth about statuses, with one error body schema, and
trailing-slash variants of routes answer as the routes do (never a 307 redirect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from fastapi import FastAPI

from tests.arena.test_schemas import free_form_objects
from tests.conftest import ADMIN_PASSWORD, api_headers
from tests.web.test_request_bodies import ENV

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def app(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> FastAPI:
    wrapper = make_client(make_settings(**ENV))
    return wrapper.app  # type: ignore[no-any-return]


@pytest.fixture
async def http(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_settings(**ENV)) as client:
        yield client


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def error_schema(operation: dict[str, Any], status: str) -> Any:
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_no_operation_documents_422_and_every_one_documents_400_and_413(app: FastAPI) -> None:
    document = app.openapi()
    assert len(operations(document)) > 40
    for method, path, operation in operations(document):
        statuses = operation["responses"]
        assert "422" not in statuses, (method, path)
        for status in ("400", "413"):
            assert error_schema(operation, status) == ERROR_REF, (method, path, status)


def test_one_error_body_schema_and_no_fastapi_validation_schemas(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    body = schemas["ErrorBody"]
    assert body["required"] == ["error", "statusCode"]
    assert body["properties"]["statusCode"]["type"] == "integer"
    assert body["additionalProperties"] is True  # e.g. the run id of a refused run


def test_protected_operations_document_401_and_429(app: FastAPI) -> None:
    protected = [
        (method, path, operation)
        for method, path, operation in operations(app.openapi())
        if path.startswith(("/api/cron/", "/api/strategies", "/api/runs", "/api/keys"))
        or (path.startswith("/api/admin/") and path != "/api/admin/login")
    ]
    assert len(protected) > 25
    for method, path, operation in protected:
        for status in ("401", "429"):
            assert error_schema(operation, status) == ERROR_REF, (method, path, status)
    public = app.openapi()["paths"]["/api/health"]["get"]["responses"]
    assert "401" not in public


def test_every_operation_has_one_tag_naming_its_group(app: FastAPI) -> None:
    tags = {(method, path): op.get("tags") for method, path, op in operations(app.openapi())}
    assert {tuple(t or ()) for t in tags.values()} == {
        ("health",),
        ("arena",),
        ("cron",),
        ("admin",),
        ("credits",),
    }
    assert tags["POST", "/api/cron/run-decisions"] == ["cron"]
    assert tags["POST", "/api/admin/login"] == tags["GET", "/api/admin/stats"] == ["admin"]
    assert tags["GET", "/api/leaderboard"] == ["arena"]
    assert tags["GET", "/health/ready"] == tags["GET", "/api/health"] == ["health"]


def test_the_login_documents_its_password_body_and_its_answer(app: FastAPI) -> None:
    """The route reads its body by hand (a body that is not an object reads as `{}`), and the
    document still says what it takes."""
    body = app.openapi()["paths"]["/api/admin/login"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["password"]
    assert schema["properties"]["password"]["type"] == "string"
    schemas = app.openapi()["components"]["schemas"]
    for method in ("post", "delete"):
        answer = app.openapi()["paths"]["/api/admin/login"][method]["responses"]["200"]
        ref = answer["content"]["application/json"]["schema"]["$ref"]
        assert schemas[ref.rsplit("/", 1)[1]]["required"] == ["success"]


def test_guarded_operations_document_the_credentials_they_take(app: FastAPI) -> None:
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["cronSecret"] == schemes["apiToken"] | {"description": ANY}
    assert schemes["apiToken"]["scheme"] == "bearer"
    assert schemes["adminSession"] | {"description": ""} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "forecaster_admin",
        "description": "",
    }
    required = {
        (method, path): [name for req in op.get("security", []) for name in req]
        for method, path, op in operations(document)
    }
    assert required["POST", "/api/cron/run-decisions"] == ["cronSecret"]
    assert required["GET", "/api/admin/stats"] == ["adminSession"]
    assert required["GET", "/api/strategies"] == ["apiToken"]
    for public in (
        ("GET", "/api/leaderboard"),
        ("GET", "/api/health"),
        ("POST", "/api/admin/login"),
        ("POST", "/api/keys/claim"),
    ):
        assert required[public] == [], public
    guarded = [key for key, names in required.items() if names]
    assert len(guarded) > 40
    for method, path in guarded:  # a credential can be refused, and its guard limits tries
        assert {"401", "429"} <= documented(document, method, path), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("POST", "/api/runs", {"403", "404", "409", "429", "502", "503"}),
        ("POST", "/api/runs/{run_id}/resume", {"400", "403", "404", "409", "502", "503"}),
        ("DELETE", "/api/strategies/{strategy_id}", {"404", "409"}),
        ("PATCH", "/api/strategies/{strategy_id}", {"400", "404"}),
        ("GET", "/api/keys", {"502"}),
        ("GET", "/api/keys/{key_hash}", {"404", "502"}),
        ("DELETE", "/api/keys/wallet/{wallet}", {"400", "404", "502"}),
        ("GET", "/api/credit-pool", {"502"}),
        ("POST", "/api/admin/login", {"400", "401", "429", "503"}),
        ("GET", "/health/ready", {"503"}),
        # An upstream that fails: the arena jobs' own 5xx answers.
        ("POST", "/api/cron/sync-markets", {"500"}),
        ("POST", "/api/cron/check-resolutions", {"500"}),
        ("POST", "/api/cron/take-snapshots", {"500"}),
        ("POST", "/api/cron/check-model-lineup", {"502"}),
        ("POST", "/api/cron/run-decisions", {"502"}),
        ("POST", "/api/admin/action", {"500"}),
    ],
)
def test_operations_document_the_statuses_they_answer(
    app: FastAPI, method: str, path: str, statuses: set[str]
) -> None:
    documented = set(app.openapi()["paths"][path][method.lower()]["responses"])
    assert statuses <= documented, statuses - documented


def test_integer_ranges_show_in_the_document(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    top_n = schemas["StrategyCreate"]["properties"]["distributionTopN"]["anyOf"][0]
    assert (top_n["minimum"], top_n["maximum"]) == (1, 10_000)
    expiry = schemas["KeyConfigIn"]["properties"]["expiryDays"]["anyOf"][0]
    assert (expiry["minimum"], expiry["maximum"]) == (0, 3650)
    assert "owner_wallet" not in schemas["StrategyCreate"]["properties"]


@pytest.fixture
async def admin(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_settings(**ENV)) as client:
        login = await client.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        yield client


def documented(document: dict[str, Any], method: str, path: str) -> set[str]:
    return set(document["paths"][path][method.lower()]["responses"])


RELEASE = {
    "release_name": "Fuzz Release",
    "openrouter_id": "fuzz/release",
    "default_input_price_per_million": 1,
    "default_output_price_per_million": 2,
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/admin/benchmark/default", {"config_id": "no-such-config"}, 404),
        ("POST", "/api/admin/benchmark/rollover", {"config_id": "no-such-config"}, 404),
        ("POST", "/api/admin/benchmark/releases", {**RELEASE, "family_id": "no-such"}, 404),
        (
            "POST",
            "/api/admin/export",
            {"cohort_id": "no-such-cohort", "from": "2026-03-01", "to": "2026-03-02"},
            404,
        ),
        ("GET", "/api/admin/export?file=no-such-export.zip", None, 404),
    ],
)
async def test_an_admin_refusal_answers_a_documented_status(
    admin: httpx.AsyncClient, method: str, path: str, body: Any, status: int
) -> None:
    response = await admin.request(method, path, json=body)
    assert response.status_code == status, response.text
    document = (await admin.get("/openapi.json")).json()
    assert str(status) in documented(document, method, path.split("?")[0])


async def test_an_admin_conflict_answers_a_documented_409(admin: httpx.AsyncClient) -> None:
    overview = (await admin.get("/api/admin/benchmark")).json()
    family = overview["families"][0]["id"]
    first = await admin.post("/api/admin/benchmark/releases", json={**RELEASE, "family_id": family})
    again = await admin.post("/api/admin/benchmark/releases", json={**RELEASE, "family_id": family})
    assert (first.status_code, again.status_code) == (200, 409), again.text
    config = overview["configs"][0]
    lineup = [
        {
            "family_id": slot["family_id"],
            "release_id": slot["release_id"],
            "input_price_per_million": slot["input_price_per_million_snapshot"],
            "output_price_per_million": slot["output_price_per_million_snapshot"],
        }
        for slot in config["models"]
    ]
    same_name = await admin.post(
        "/api/admin/benchmark/configs",
        json={"version_name": config["version_name"], "assignments": lineup},
    )
    assert same_name.status_code == 409, same_name.text
    document = (await admin.get("/openapi.json")).json()
    assert "409" in documented(document, "POST", "/api/admin/benchmark/releases")
    assert "409" in documented(document, "POST", "/api/admin/benchmark/configs")


async def test_a_validation_error_answers_400_with_the_error_body(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/api/strategies", headers=api_headers(), json={"x": 1})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "statusCode"}


# --- trailing slashes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/strategies", {}),
        ("GET", "/api/strategies", api_headers()),
        ("POST", "/api/runs", {}),
        ("POST", "/api/runs", api_headers()),
        ("GET", "/api/admin/benchmark", {}),
        ("POST", "/api/cron/sync-markets", {}),
        ("GET", "/api/health", {}),
        ("GET", "/health/live", {}),
        ("GET", "/api/nowhere", {}),
    ],
)
async def test_a_trailing_slash_answers_as_the_route_does(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    plain = await http.request(method, path, headers=headers, json={})
    slashed = await http.request(method, path + "/", headers=headers, json={})
    assert slashed.status_code == plain.status_code != 307
    assert "location" not in slashed.headers
    if plain.status_code != 200:
        assert slashed.json() == plain.json()


# A phase's audit record is the phase's own JSON object (a log entry, one shape per phase and
# action): the one answer documented as an object of any keys.
FREE_FORM = {"AuditView.details"}


def test_no_answer_holds_a_free_form_object(app: FastAPI) -> None:
    """Every answer of every operation (errors aside) has a declared shape, so the API gate's
    "response matches its schema" means something."""
    document = app.openapi()
    found = set()
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            for media in answer.get("content", {}).values():
                where = f"{method} {path} {status}"
                found |= set(free_form_objects(document, media.get("schema"), where))
            if status.startswith("2") and path != "/api/admin/export":
                assert answer.get("content"), (method, path, status)
    assert found == FREE_FORM


def test_every_creditbrain_answer_has_a_precise_schema(app: FastAPI) -> None:
    """No bare `dict`: a schema check of a CreditBrain answer means something."""
    schemas = app.openapi()["components"]["schemas"]
    credits = [
        (method, path, operation)
        for method, path, operation in operations(app.openapi())
        if "credits" in operation.get("tags", [])
    ]
    assert len(credits) > 20
    for method, path, operation in credits:
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        schema = schema.get("items", schema)
        # One model, or one of a few (GET /api/keys/{key_hash} also answers a wallet's key).
        for one in schema.get("anyOf", [schema]):
            assert "$ref" in one, (method, path, schema)
            model = schemas[one["$ref"].rsplit("/", 1)[1]]
            assert model["properties"], (method, path)
