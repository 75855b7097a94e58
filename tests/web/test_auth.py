"""Every route family against missing, malformed, wrong and cross-family credentials."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from arenabrain.arena import admin_session
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.web.auth import (
    ADMIN_COOKIE,
    AdminAuth,
    ApiAuth,
    CronAuth,
    admin_token_session,
    issue_admin_token,
)
from arenabrain.web.errors import install_error_handlers
from tests.conftest import ADMIN_PASSWORD, API_TOKEN, CRON_SECRET, SESSION_SECRET


class Body(BaseModel):
    amount: int


def build_app(ctx: Context) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, production=ctx.settings.is_production)
    app.state.ctx = ctx
    app.include_router(admin_session.router)

    @app.post("/api/cron/job", dependencies=[CronAuth])
    async def cron_job(body: Body | None = None) -> dict[str, bool]:
        return {"ran": True}

    @app.post("/api/strategies", dependencies=[ApiAuth])
    async def api_route(body: Body) -> dict[str, int]:
        return {"amount": body.amount}

    @app.get("/api/admin/stats", dependencies=[AdminAuth])
    async def admin_route() -> dict[str, bool]:
        return {"admin": True}

    return app


@pytest.fixture
async def http(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(ctx), client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


BAD_HEADERS = {
    "missing": {},
    "wrong scheme": {"Authorization": f"Basic {CRON_SECRET}"},
    "raw secret": {"Authorization": CRON_SECRET},
    "lower-case scheme": {"Authorization": f"bearer {CRON_SECRET}"},
    "wrong token": {"Authorization": "Bearer nope"},
    "empty token": {"Authorization": "Bearer "},
    "api token": {"Authorization": f"Bearer {API_TOKEN}"},
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
async def test_cron_rejects_bad_credentials(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/api/cron/job", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_cron_accepts_the_secret_with_any_whitespace(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/cron/job", headers={"Authorization": f"Bearer   {CRON_SECRET}"}
    )
    assert response.status_code == 200


async def test_cron_fails_closed_in_production_without_secret(
    make_settings, clock, sandbox
) -> None:  # type: ignore[no-untyped-def]
    from arenabrain.runtime import open_context

    settings = make_settings(APP_ENV="production", CRON_SECRET="")
    async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
        transport = httpx.ASGITransport(app=build_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for token in ("", "dev-secret", "undefined"):
                response = await client.post(
                    "/api/cron/job", headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 401


async def test_cron_uses_dev_fallback_outside_production(make_settings, clock, sandbox) -> None:  # type: ignore[no-untyped-def]
    from arenabrain.runtime import open_context

    settings = make_settings(CRON_SECRET="")
    async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
        transport = httpx.ASGITransport(app=build_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/api/cron/job", headers={"Authorization": "Bearer dev-secret"}
            )
            assert response.status_code == 200


async def test_unauthenticated_bad_body_gets_401_not_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/strategies", content=b"{not json")
    assert response.status_code == 401
    authed = await http.post(
        "/api/strategies", content=b"{not json", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert authed.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Token x"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {CRON_SECRET}"},
    ],
    ids=["missing", "scheme", "wrong", "cron secret"],
)
async def test_api_rejects_bad_credentials(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/api/strategies", json={"amount": 1}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "statusCode": 401}


async def test_api_blocks_an_ip_after_five_failures_even_with_the_right_token(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    for _ in range(5):
        assert (
            await http.post(
                "/api/strategies", json={"amount": 1}, headers={"Authorization": "Bearer x"}
            )
        ).status_code == 401
    good = {"Authorization": f"Bearer {API_TOKEN}"}
    blocked = await http.post("/api/strategies", json={"amount": 1}, headers=good)
    assert blocked.status_code == 429
    clock.advance(minutes=16)
    assert (await http.post("/api/strategies", json={"amount": 1}, headers=good)).status_code == 200


async def login(http: httpx.AsyncClient, password: str = ADMIN_PASSWORD) -> httpx.Response:
    return await http.post("/api/admin/login", json={"password": password})


async def test_admin_login_sets_a_strict_http_only_cookie(http: httpx.AsyncClient) -> None:
    response = await login(http)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    cookie = response.headers["set-cookie"]
    assert f"{ADMIN_COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=604800" in cookie
    assert "Secure" not in cookie  # only in production
    assert (await http.get("/api/admin/stats")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Password required"),
        ({"password": 7}, 400, "Password required"),
        ({"password": "wrong"}, 401, "Invalid password"),
    ],
)
async def test_admin_login_rejects_bad_input(
    http: httpx.AsyncClient, body: object, status: int, message: str
) -> None:
    response = await http.post("/api/admin/login", json=body)
    assert response.status_code == status
    assert response.json()["error"] == message


async def test_admin_login_locks_out_after_five_failures_for_ten_minutes(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    for _ in range(5):
        assert (await login(http, "wrong")).status_code == 401
    locked = await login(http)
    assert locked.status_code == 429
    assert locked.json()["error"] == "Too many attempts. Please try again later."
    clock.advance(minutes=10, seconds=1)
    assert (await login(http)).status_code == 200


async def test_admin_login_is_unavailable_in_production_without_secrets(
    make_settings, clock, sandbox
) -> None:  # type: ignore[no-untyped-def]
    from arenabrain.runtime import open_context

    settings = make_settings(APP_ENV="production", ADMIN_SESSION_SECRET="")
    async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
        transport = httpx.ASGITransport(app=build_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await login(client)
    assert response.status_code == 503
    assert response.json()["error"] == "Admin authentication is not configured"


async def test_admin_rejects_missing_cookie(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/admin/stats")).status_code == 401


async def test_admin_rejects_expired_cookie(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    await login(http)
    clock.advance(days=7, seconds=1)
    assert (await http.get("/api/admin/stats")).status_code == 401


async def test_admin_accepts_cookie_just_inside_seven_days(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await login(http)
    clock.advance(days=6, hours=23)
    assert (await http.get("/api/admin/stats")).status_code == 200


async def test_admin_rejects_forged_and_future_cookies(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    forged = issue_admin_token("another-secret", clock, "any")
    http.cookies.set(ADMIN_COOKIE, forged)
    assert (await http.get("/api/admin/stats")).status_code == 401
    future = FrozenClock(clock.now() + timedelta(hours=1))
    http.cookies.set(ADMIN_COOKIE, issue_admin_token(SESSION_SECRET, future, "any"))
    assert (await http.get("/api/admin/stats")).status_code == 401
    http.cookies.set(ADMIN_COOKIE, base64.b64encode(b"admin:0:deadbeef").decode())
    assert (await http.get("/api/admin/stats")).status_code == 401


def test_admin_token_round_trip(clock: FrozenClock) -> None:
    token = issue_admin_token(SESSION_SECRET, clock, "session-1")
    assert admin_token_session(token, SESSION_SECRET, clock) == "session-1"
    assert admin_token_session(token, "other", clock) is None
    assert admin_token_session(token + "x", SESSION_SECRET, clock) is None
    assert admin_token_session(None, SESSION_SECRET, clock) is None


async def test_cron_rate_limit_is_ten_per_minute_per_ip(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    headers = {"Authorization": f"Bearer {CRON_SECRET}"}
    statuses = [(await http.post("/api/cron/job", headers=headers)).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    clock.advance(seconds=61)
    assert (await http.post("/api/cron/job", headers=headers)).status_code == 200


async def test_admin_rate_limit_applies_without_a_session_only(http: httpx.AsyncClient) -> None:
    statuses = [(await http.get("/api/admin/stats")).status_code for _ in range(31)]
    assert statuses == [401] * 30 + [429]
    await login(http)
    assert (await http.get("/api/admin/stats")).status_code == 200


async def test_proxy_headers_are_believed_only_when_trusted(make_settings, clock, sandbox) -> None:  # type: ignore[no-untyped-def]
    from arenabrain.runtime import open_context

    for trusted, expected_last in ((False, 429), (True, 200)):
        settings = make_settings(TRUST_PROXY_HEADERS=str(trusted).lower())
        async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
            transport = httpx.ASGITransport(app=build_app(ctx))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                headers = {"Authorization": f"Bearer {CRON_SECRET}"}
                for i in range(10):
                    await client.post(
                        "/api/cron/job", headers={**headers, "X-Forwarded-For": f"10.0.0.{i}"}
                    )
                last = await client.post(
                    "/api/cron/job", headers={**headers, "X-Forwarded-For": "10.0.0.99"}
                )
                assert last.status_code == expected_last


# --- server-side sessions (issue 10, item 8) ------------------------------------------------


async def login_cookie(http: httpx.AsyncClient) -> str:
    response = await login(http)
    assert response.status_code == 200
    http.cookies.clear()
    return response.cookies[ADMIN_COOKIE]


async def stats_with(http: httpx.AsyncClient, cookie: str) -> int:
    http.cookies.set(ADMIN_COOKIE, cookie)
    try:
        return (await http.get("/api/admin/stats")).status_code
    finally:
        http.cookies.clear()


async def test_logout_revokes_the_session_server_side(http: httpx.AsyncClient) -> None:
    cookie = await login_cookie(http)
    assert await stats_with(http, cookie) == 200
    http.cookies.set(ADMIN_COOKIE, cookie)
    logout = await http.delete("/api/admin/login")
    assert logout.status_code == 200 and logout.json() == {"success": True}
    assert f'{ADMIN_COOKIE}=""' in logout.headers["set-cookie"]
    http.cookies.clear()
    assert await stats_with(http, cookie) == 401  # the old cookie, replayed


async def test_logout_ends_only_its_own_session(http: httpx.AsyncClient) -> None:
    first, second = await login_cookie(http), await login_cookie(http)
    assert first != second
    http.cookies.set(ADMIN_COOKIE, first)
    await http.delete("/api/admin/login")
    http.cookies.clear()
    assert await stats_with(http, first) == 401
    assert await stats_with(http, second) == 200


async def test_logout_without_a_session_still_succeeds(http: httpx.AsyncClient) -> None:
    for cookie in (None, "garbage", issue_admin_token("another-secret", FrozenClock(), "x")):
        if cookie is not None:
            http.cookies.set(ADMIN_COOKIE, cookie)
        assert (await http.delete("/api/admin/login")).json() == {"success": True}
        http.cookies.clear()


async def test_a_signed_token_without_a_stored_session_is_refused(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    made_up = issue_admin_token(SESSION_SECRET, clock, "never-issued")
    assert await stats_with(http, made_up) == 401


async def test_changing_the_session_secret_revokes_every_session(
    http: httpx.AsyncClient, make_settings, clock, sandbox
) -> None:  # type: ignore[no-untyped-def]
    from arenabrain.runtime import open_context

    cookie = await login_cookie(http)
    settings = make_settings(ADMIN_SESSION_SECRET="a-brand-new-session-secret")
    async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
        transport = httpx.ASGITransport(app=build_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert await stats_with(client, cookie) == 401
            assert await stats_with(client, await login_cookie(client)) == 200


async def test_sessions_expire_after_seven_days_and_are_pruned(
    http: httpx.AsyncClient, ctx: Context, clock: FrozenClock
) -> None:
    from sqlalchemy import func, select

    from arenabrain.db.service_models import AdminSession

    old = await login_cookie(http)
    clock.advance(days=7, seconds=1)
    assert await stats_with(http, old) == 401
    await login_cookie(http)
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AdminSession)) == 1


async def test_the_database_keeps_only_a_hash_of_the_session_id(
    http: httpx.AsyncClient, ctx: Context
) -> None:
    from sqlalchemy import select

    from arenabrain.db.service_models import AdminSession

    cookie = await login_cookie(http)
    session_id = admin_token_session(cookie, SESSION_SECRET, ctx.clock)
    assert session_id is not None
    async with ctx.db.read() as session:
        (row,) = (await session.scalars(select(AdminSession))).all()
    assert session_id not in row.session_hash and len(row.session_hash) == 64


def test_the_migration_builds_the_admin_sessions_table_as_declared(db_path) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from arenabrain.metadata import target_metadata

    engine = sa.create_engine(f"sqlite:///{db_path}")
    with engine.connect() as connection:
        opts = {
            "compare_type": True,
            "include_object": lambda obj, name, kind, *_: (
                kind != "table" or name == "admin_sessions"
            ),
            "include_name": lambda name, kind, _p: kind != "table" or name == "admin_sessions",
        }
        context = MigrationContext.configure(connection, opts=opts)
        assert "admin_sessions" in sa.inspect(connection).get_table_names()
        assert compare_metadata(context, target_metadata) == []
    engine.dispose()
