"""Request bodies are bounded and safe to read before any route reads them: oversized bodies get
413, over-deep or non-finite JSON gets 400 (malformed JSON gets the route's own 400), each with
the standard error body and one info-level access line (never a 500 or an error-level line), on
every route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from arenabrain.web.body_limit import BodyLimitMiddleware
from arenabrain.web.errors import Unauthorized, install_error_handlers
from arenabrain.web.json_bodies import MAX_JSON_DEPTH, JsonBodyMiddleware, json_body_problem
from tests.conftest import ADMIN_PASSWORD, api_headers
from tests.credits.conftest import KEK

ENV = {
    "CREDITS_ENABLED": "true",
    "BAGS_API_KEY": "test-bags",
    "HELIUS_API_KEY": "test-helius",
    "OPENROUTER_MANAGEMENT_KEY": "test-management",
    "KEY_ENCRYPTION_KEY": KEK,
}
JSON = {"Content-Type": "application/json"}
# An arena admin route that parses its body by hand, and a CreditBrain route FastAPI parses.
ROUTES = {"admin login": ("/api/admin/login", {}), "credits": ("/api/strategies", api_headers())}


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


UNSAFE_JSON = {
    "100000 nested brackets": b"[" * 100_000 + b"]" * 100_000,
    "100000 unclosed brackets": b"[" * 100_000,
    "objects one level too deep": nested_objects(MAX_JSON_DEPTH + 1),
    "5000-digit integer": b'{"password": ' + b"9" * 5000 + b"}",
    "NaN literal": b'{"password": NaN}',
    "Infinity literal": b'{"a": {"b": [1, -Infinity]}}',
    "overflowing number": b'{"password": 1e999999}',
}
NOT_JSON = {
    "truncated": b'{"password": ',
    "trailing garbage": b'{"password": "x"} x',
    "not UTF-8": b'{"password": "\xff\xfe"}',
}


@pytest.fixture
async def http(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_settings(**ENV)) as client:
        yield client


@pytest.fixture
async def small(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with MAX_BODY_BYTES=4096."""
    async with make_client(make_settings(**ENV, MAX_BODY_BYTES="4096")) as client:
        yield client


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def assert_one_info_line(lines: list[dict[str, Any]], status: int) -> None:
    assert [(line["level"], line.get("res")) for line in lines] == [
        ("info", {"statusCode": status})
    ], lines


@pytest.mark.parametrize(("path", "headers"), ROUTES.values(), ids=ROUTES.keys())
@pytest.mark.parametrize("body", UNSAFE_JSON.values(), ids=UNSAFE_JSON.keys())
async def test_over_deep_or_non_finite_json_is_400_with_one_info_line(
    http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], path: str, headers, body: bytes
) -> None:
    log_lines(capsys)
    response = await http.post(path, headers={**headers, **JSON}, content=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["statusCode"] == 400 and "JSON" in error["error"]
    assert len(error["error"]) < 200
    assert_one_info_line(log_lines(capsys), 400)


@pytest.mark.parametrize(("path", "headers"), ROUTES.values(), ids=ROUTES.keys())
@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_malformed_json_gets_the_route_parsers_400_with_one_info_line(
    http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], path: str, headers, body: bytes
) -> None:
    log_lines(capsys)
    response = await http.post(path, headers={**headers, **JSON}, content=body)
    assert response.status_code == 400, response.text
    assert response.json()["statusCode"] == 400
    assert_one_info_line(log_lines(capsys), 400)


async def test_a_hand_parsed_body_without_content_type_is_checked_too(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/api/admin/login", content=b"[" * 100_000)
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


async def test_non_finite_literals_name_their_place(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/strategies",
        headers={**api_headers(), **JSON},
        content=b'{"keyConfig": {"defaultLimitUsd": NaN}}',
    )
    assert response.status_code == 400
    assert "keyConfig.defaultLimitUsd" in response.json()["error"]


async def test_json_at_the_depth_limit_reaches_the_route(http: httpx.AsyncClient) -> None:
    body = b'{"password": "wrong", "x": ' + nested_objects(MAX_JSON_DEPTH - 1) + b"}"
    response = await http.post("/api/admin/login", headers=JSON, content=body)
    assert response.status_code == 401  # the route read it and judged the password


@pytest.mark.parametrize(("path", "headers"), ROUTES.values(), ids=ROUTES.keys())
async def test_a_declared_oversized_body_is_413_before_anything_reads_it(
    small: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], path: str, headers
) -> None:
    log_lines(capsys)
    body = json.dumps({"password": "x" * 5000}).encode()
    response = await small.post(path, headers={**headers, **JSON}, content=body)
    assert response.status_code == 413
    assert response.json() == {
        "error": "Request body is larger than 4096 bytes",
        "statusCode": 413,
    }
    assert_one_info_line(log_lines(capsys), 413)


async def test_a_streamed_oversized_body_is_413(small: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"password": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = await small.post("/api/admin/login", headers=JSON, content=chunks())
    assert response.status_code == 413
    assert response.json()["statusCode"] == 413


async def test_a_body_within_the_limit_is_served(small: httpx.AsyncClient) -> None:
    body = json.dumps({"password": ADMIN_PASSWORD, "pad": "x" * 3000}).encode()
    assert len(body) <= 4096
    response = await small.post("/api/admin/login", headers=JSON, content=body)
    assert response.status_code == 200


async def test_the_default_limit_refuses_a_16_mb_login_unread(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    async with make_client(make_settings()) as client:
        response = await client.post(
            "/api/admin/login", headers=JSON, content=b'{"password": "' + b"x" * 16_000_000 + b'"}'
        )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is larger than 1048576 bytes"


# --- the two middlewares on their own -----------------------------------------------------


async def require_key(request: Request) -> None:
    if request.headers.get("x-key") != "k":
        raise Unauthorized()


def toy_app(seen: list[bytes]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, production=True)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(body)
        return {"bytes": len(body)}

    @app.post("/guarded", dependencies=[Depends(require_key)])
    async def guarded(request: Request) -> dict[str, Any]:
        return {"read": await request.json()}

    @app.post("/unread")
    async def unread() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)
    return app


async def post(app: FastAPI, path: str = "/echo", **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, **kwargs)


async def test_a_route_that_authenticates_before_reading_still_answers_401_first() -> None:
    deep = b"[" * 40 + b"]" * 40  # within the toy limit of 100 bytes
    stranger = await post(toy_app([]), "/guarded", content=deep, headers=JSON)
    assert stranger.status_code == 401
    known = await post(toy_app([]), "/guarded", content=deep, headers={**JSON, "x-key": "k"})
    assert known.status_code == 400
    assert known.json() == {
        "error": f"JSON body nests deeper than {MAX_JSON_DEPTH} levels",
        "statusCode": 400,
    }


async def test_a_body_no_route_reads_is_ignored() -> None:
    response = await post(toy_app([]), "/unread", content=b"[" * 40 + b"]" * 40, headers=JSON)
    assert response.json() == {"ok": True}


async def test_the_route_gets_the_body_the_checks_read() -> None:
    seen: list[bytes] = []
    body = b'{"a": [1, 2, {"b": "c"}]}'
    response = await post(toy_app(seen), content=body, headers=JSON)
    assert response.json() == {"bytes": len(body)} and seen == [body]


async def test_an_oversized_body_never_reaches_the_route() -> None:
    seen: list[bytes] = []
    response = await post(toy_app(seen), content=b"[" + b"1," * 100 + b"1]", headers=JSON)
    assert response.status_code == 413 and seen == []


async def test_the_limit_is_inclusive() -> None:
    seen: list[bytes] = []
    body = b'"' + b"x" * 98 + b'"'
    assert len(body) == 100
    assert (await post(toy_app(seen), content=body, headers=JSON)).status_code == 200


async def test_form_bodies_are_not_read_as_json() -> None:
    seen: list[bytes] = []
    response = await post(toy_app(seen), data={"a": "b"})
    assert response.status_code == 200 and seen == [b"a=b"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", None),
        (b"{}", None),
        (b'{"a": [1, {"b": null}]}', None),
        (b"[" * 10 + b"]" * 10, None),
        (b"{", None),  # not JSON at all: the route's parser answers it
        (b"[" * 40 + b"]" * 40, f"JSON body nests deeper than {MAX_JSON_DEPTH} levels"),
        (b"[" * 100_000 + b"]" * 100_000, f"JSON body nests deeper than {MAX_JSON_DEPTH} levels"),
        (b'{"a": {"b": [0, NaN]}}', "a.b.1: NaN is not a JSON number"),
        (b'{"a": 1e400}', "a: 1e400 is not a finite JSON number"),
        (b'{"a": [' + b"1" * 101 + b"]}", "a.0: a JSON integer of more than 100 digits"),
        (b'"\xff"', None),
    ],
)
def test_json_body_problem(body: bytes, problem: str | None) -> None:
    found = json_body_problem(body)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


async def test_the_lifespan_passes_through_every_middleware(
    make_settings: Callable[..., Any],
) -> None:
    """uvicorn sends the lifespan scope (no headers) through the whole middleware stack; a
    middleware that reads headers first would fail start-up, and uvicorn's default `auto`
    lifespan would then serve every request without a context."""
    from arenabrain.app import create_app

    app = create_app(make_settings())
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
