"""The admin operations routes (§12.3): stats, logs, costs and actions, behind the session
cookie (no session, an expired one, a forged one, a logged-out one: 401), never cached, with
strict query parameters and the `admin_*` events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, insert, select, update

from arenabrain.arena.models import (
    Agent,
    BenchmarkConfigModel,
    Cohort,
    Decision,
    Market,
    ModelFamily,
    SystemLog,
)
from arenabrain.arena.routes import router
from arenabrain.arena.system_logs import log_event
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.db import backup
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import inject_failure
from arenabrain.settings import Settings
from arenabrain.web.auth import ADMIN_COOKIE, issue_admin_token
from arenabrain.web.errors import INTERNAL_MESSAGE
from tests.arena.decisions.support import SUNDAY, seed_cohort
from tests.conftest import ADMIN_PASSWORD, SESSION_SECRET

NO_STORE = "no-store, no-cache, must-revalidate"
# Every admin route but login/logout, a path parameter filled with a made-up id.
ADMIN_ROUTES = sorted(
    (method, route.path.replace("{review_id}", "some-review"))
    for route in router.routes
    if isinstance(route, APIRoute) and route.path.startswith("/api/admin/")
    for method in route.methods
)


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


async def events(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = (
            await session.scalars(
                select(SystemLog).where(SystemLog.event_type == event_type).order_by(SystemLog.id)
            )
        ).all()
    return [{"severity": r.severity, **json.loads(r.event_data or "{}")} for r in rows]


async def log_count(ctx: Context) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(SystemLog)) or 0)


async def login(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/admin/login", json={"password": ADMIN_PASSWORD})
    assert response.status_code == 200
    # Production marks the cookie Secure; the test client speaks plain HTTP, so send it as is.
    token = response.cookies[ADMIN_COOKIE]
    http.cookies.clear()
    http.cookies.set(ADMIN_COOKIE, token)


@pytest.fixture
async def http(
    make_client: Callable[[Settings], Any], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as client:
        yield client


@pytest.fixture
async def admin(http: httpx.AsyncClient) -> httpx.AsyncClient:
    await login(http)
    return http


# --- authentication and caching ---------------------------------------------------------------


async def forge(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    # A well-formed token signed with another secret, and one for a session never opened.
    http.cookies.set(ADMIN_COOKIE, issue_admin_token("not-the-secret", clock, "s" * 43))


async def never_opened(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    http.cookies.set(ADMIN_COOKIE, issue_admin_token(SESSION_SECRET, clock, "s" * 43))


async def expired(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    await login(http)
    clock.advance(days=7, seconds=1)


async def logged_out(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    await login(http)
    cookie = http.cookies[ADMIN_COOKIE]
    await http.delete("/api/admin/login")
    http.cookies.set(ADMIN_COOKIE, cookie)  # a copy kept after logout


async def no_cookie(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    return None


def test_every_admin_route_is_checked_here() -> None:
    assert len(ADMIN_ROUTES) == 14 and ("GET", "/api/admin/export") in ADMIN_ROUTES


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("session", [no_cookie, forge, never_opened, expired, logged_out])
async def test_admin_routes_answer_401_without_a_valid_session_and_are_not_cached(
    http: httpx.AsyncClient, clock: FrozenClock, method: str, path: str, session: Any
) -> None:
    await session(http, clock)
    before = await log_count(ctx_of(http))

    body = {"action": "backup"} if path.endswith("action") else {"cohort_id": "x"}
    response = await http.request(
        method, path, json=body if method == "POST" else None, params={"file": "x"}
    )

    assert (response.status_code, response.json()) == (
        401,
        {"error": "Unauthorized", "statusCode": 401},
    )
    assert response.headers["cache-control"] == NO_STORE
    assert response.headers["pragma"] == "no-cache"
    assert await log_count(ctx_of(http)) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/stats", None),
        ("GET", "/api/admin/logs?limit=999", None),
        ("GET", "/api/admin/costs", None),
        ("POST", "/api/admin/action", {"action": "nope"}),
        ("POST", "/api/admin/export", {}),
        ("GET", "/api/admin/export?file=nope.zip", None),
    ],
)
async def test_operations_answers_are_never_cached(
    admin: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    response = await admin.request(method, path, json=body)
    assert response.headers["cache-control"] == NO_STORE
    assert response.headers["pragma"] == "no-cache"


# --- stats ------------------------------------------------------------------------------------


async def test_stats_counts_active_cohorts_agents_markets_and_cost(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ctx = ctx_of(admin)
    await seed_cohort(ctx, number=1)
    await seed_cohort(ctx, number=2, started_at=SUNDAY + timedelta(days=7), archived=True)
    await seed_cohort(ctx, number=3, started_at=SUNDAY + timedelta(days=14), status="completed")
    await add_decisions(ctx, "cohort-1", [(0.25, 100, 10), (0.5, 200, 20), (None, None, None)])
    async with ctx.db.write() as session:
        for i in range(3):
            await session.execute(
                insert(Market).values(
                    id=f"m{i}", polymarket_id=f"p{i}", question="q", close_date=SUNDAY
                )
            )

    response = await admin.get("/api/admin/stats")

    assert response.status_code == 200
    assert response.json() == {
        "active_cohorts": 1,
        "total_agents": 21,
        "markets_tracked": 3,
        "total_api_cost": 0.75,
        "updated_at": "2026-03-01T00:00:00.000Z",
    }


# --- logs -------------------------------------------------------------------------------------


async def write_logs(ctx: Context, clock: FrozenClock) -> None:
    async with ctx.db.write() as session:
        for i, severity in enumerate(["info", "warning", "error", "info", "error"]):
            await log_event(
                session,
                f"event_{i}",
                {"i": i},
                severity,  # type: ignore[arg-type]
                clock.now() + timedelta(minutes=i),
            )


async def test_logs_newest_first_filtered_by_severity(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await write_logs(ctx_of(admin), clock)

    every = (await admin.get("/api/admin/logs")).json()
    errors = (await admin.get("/api/admin/logs", params={"severity": "error"})).json()
    two = (await admin.get("/api/admin/logs", params={"limit": "2", "severity": "all"})).json()
    every["logs"] = [log for log in every["logs"] if log["event_type"] != "admin_login_success"]

    assert [log["event_type"] for log in every["logs"][:5]] == [
        f"event_{i}" for i in (4, 3, 2, 1, 0)
    ]
    assert [log["event_type"] for log in errors["logs"]] == ["event_4", "event_2"]
    assert [log["event_type"] for log in two["logs"]] == ["event_4", "event_3"]
    first = errors["logs"][0]
    assert first["severity"] == "error" and json.loads(first["event_data"]) == {"i": 4}
    assert first["created_at"] == "2026-03-01T00:04:00.000Z"
    assert set(first) == {"id", "event_type", "event_data", "severity", "created_at"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "10abc"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"severity": "ERROR"}, "severity"),
        ({"severity": "debug"}, "severity"),
        ({"level": "error"}, "level"),
    ],
)
async def test_logs_query_is_strict_and_bounded(
    admin: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await admin.get("/api/admin/logs", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"query.{field}:")


async def test_logs_limit_500_is_the_largest_page(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    async with ctx_of(admin).db.write() as session:
        for i in range(502):
            await log_event(session, "bulk", {"i": i}, "info", clock.now())
    response = await admin.get("/api/admin/logs", params={"limit": "500"})
    assert response.status_code == 200 and len(response.json()["logs"]) == 500
    assert len((await admin.get("/api/admin/logs")).json()["logs"]) == 100


# --- costs ------------------------------------------------------------------------------------


async def add_decisions(
    ctx: Context,
    cohort_id: str,
    costs: list[tuple[float | None, int | None, int | None]],
    slot: int = 0,
) -> None:
    """One decision per (cost, input tokens, output tokens), each for the cohort's agent in
    `slot`, a week apart."""
    async with ctx.db.write() as session:
        agent_id = await session.scalar(
            select(Agent.id)
            .join(BenchmarkConfigModel, BenchmarkConfigModel.id == Agent.benchmark_config_model_id)
            .where(Agent.cohort_id == cohort_id)
            .order_by(BenchmarkConfigModel.slot_order)
            .offset(slot)
            .limit(1)
        )
        for week, (cost, tokens_in, tokens_out) in enumerate(costs, start=1):
            await session.execute(
                insert(Decision).values(
                    id=f"{cohort_id}-{slot}-d{week}",
                    agent_id=agent_id,
                    cohort_id=cohort_id,
                    decision_week=week,
                    decision_timestamp=SUNDAY + timedelta(days=7 * (week - 1)),
                    prompt_system="s",
                    prompt_user="u",
                    action="HOLD",
                    api_cost_usd=cost,
                    tokens_input=tokens_in,
                    tokens_output=tokens_out,
                )
            )


async def test_costs_per_active_family_per_cohort_and_in_total(admin: httpx.AsyncClient) -> None:
    ctx = ctx_of(admin)
    one = await seed_cohort(ctx, number=1)
    await seed_cohort(ctx, number=2, started_at=SUNDAY + timedelta(days=7))
    await add_decisions(ctx, "cohort-1", [(0.5, 1000, 100), (0.25, 500, 50)])
    await add_decisions(ctx, "cohort-2", [(1.0, 2000, 200)])
    await add_decisions(ctx, "cohort-2", [(2.0, 10, 1)], slot=1)
    first_family = one.agent_ids[0].removeprefix("cohort-1-")  # seeded in slot order
    second_family = one.agent_ids[1].removeprefix("cohort-1-")
    # A retired family's cost still counts in the summary, not among the active families.
    async with ctx.db.write() as session:
        await session.execute(
            update(ModelFamily).where(ModelFamily.id == second_family).values(status="retired")
        )

        family = await session.get(ModelFamily, first_family)
    assert family is not None

    body = (await admin.get("/api/admin/costs")).json()

    by_family = {row["family_id"]: row for row in body["costs_by_model"]}
    assert second_family not in by_family and len(by_family) == 6
    assert by_family[first_family] == {
        "family_slug": family.slug,
        "family_id": first_family,
        "legacy_model_id": family.legacy_model_id,
        "model_name": family.public_display_name,
        "color": family.color,
        "total_cost": 1.75,
        "total_input_tokens": 3500,
        "total_output_tokens": 350,
        "decision_count": 3,
    }
    idle = [row for fid, row in by_family.items() if fid != first_family]
    assert {(r["total_cost"], r["decision_count"]) for r in idle} == {(0.0, 0)}
    assert [
        (c["cohort_id"], c["total_cost"], c["decision_count"]) for c in body["costs_by_cohort"]
    ] == [
        ("cohort-2", 3.0, 2),
        ("cohort-1", 0.75, 2),
    ]
    assert body["summary"] == {
        "total_cost": 3.75,
        "total_input_tokens": 3510,
        "total_output_tokens": 351,
        "total_decisions": 4,
        "avg_cost_per_decision": 3.75 / 4,
    }


async def test_costs_without_decisions_are_zero(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/api/admin/costs")).json()
    assert body["summary"]["avg_cost_per_decision"] == 0.0
    assert len(body["costs_by_model"]) == 7 and body["costs_by_cohort"] == []


# --- actions ----------------------------------------------------------------------------------


async def test_start_cohort_action_forces_only_with_true(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ctx = ctx_of(admin)
    clock.advance(days=3)  # a Wednesday: only `force: true` starts the week's cohort
    refused = await admin.post("/api/admin/action", json={"action": "start-cohort"})
    typed = await admin.post("/api/admin/action", json={"action": "start-cohort", "force": "true"})
    forced = await admin.post("/api/admin/action", json={"action": "start-cohort", "force": True})

    assert refused.json() == {"success": False, "message": "Not Sunday or outside start window"}
    assert typed.status_code == 400 and typed.json()["error"].startswith("force:")
    assert forced.status_code == 200
    assert forced.json() == {
        "success": True,
        "cohort_id": forced.json()["cohort_id"],
        "cohort_number": 1,
        "agents_created": 7,
    }
    assert await events(ctx, "admin_start_cohort") == [
        {"severity": "info", "cohort_number": 1, "agents_created": 7}
    ]


async def test_sync_markets_action_counts_and_logs(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/admin/action", json={"action": "sync-markets"})
    body = response.json()
    assert response.status_code == 200 and body["success"] is True and body["markets_added"] > 40
    assert set(body) == {"success", "markets_added", "markets_updated"}
    [logged] = await events(ctx_of(admin), "admin_sync_markets")
    assert logged == {
        "severity": "info",
        "markets_added": body["markets_added"],
        "markets_updated": 0,
    }


async def test_check_cohorts_action_reports_completed_cohorts(
    admin: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ctx = ctx_of(admin)
    for number in range(1, 7):
        await seed_cohort(ctx, number=number, started_at=SUNDAY + timedelta(days=7 * (number - 1)))
    await add_decisions(ctx, "cohort-1", [(0.1, 1, 1)])  # cohort 1 left the 5-cohort window

    response = await admin.post("/api/admin/action", json={"action": "check-cohorts"})

    assert response.json() == {"success": True, "cohorts_completed": 1}
    assert await events(ctx, "admin_check_cohorts") == [{"severity": "info", "cohorts_checked": 1}]
    async with ctx.db.read() as session:
        assert (await session.get(Cohort, "cohort-1")).status == "completed"  # type: ignore[union-attr]


async def test_backup_action_writes_a_checked_copy(
    admin: httpx.AsyncClient, settings: Settings
) -> None:
    response = await admin.post("/api/admin/action", json={"action": "backup"})

    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    path = Path(body["backup_path"])
    assert path.parent == Path(settings.backup_path)
    assert backup.integrity(path) == "ok"
    assert await events(ctx_of(admin), "admin_backup") == [
        {"severity": "info", "backup_path": body["backup_path"]}
    ]


async def test_backup_action_on_postgresql_answers_400_with_the_pg_dump_hint(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def on_postgresql(_ctx: Context) -> None:
        raise backup.BackupUnsupported(backup.PG_DUMP_HINT)

    monkeypatch.setattr(backup, "create_backup", on_postgresql)
    response = await admin.post("/api/admin/action", json={"action": "backup"})
    assert (response.status_code, response.json()["error"]) == (400, backup.PG_DUMP_HINT)
    assert await events(ctx_of(admin), "admin_backup") == []


@pytest.mark.parametrize(
    "body",
    [{}, {"action": "nope"}, {"action": None}, {"action": "Backup"}, [1, 2]],
    ids=["missing", "unknown", "null", "case", "not an object"],
)
async def test_unknown_action_is_400_and_changes_nothing(
    admin: httpx.AsyncClient, body: Any
) -> None:
    before = await log_count(ctx_of(admin))
    response = await admin.post("/api/admin/action", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "Unknown action")
    assert await log_count(ctx_of(admin)) == before


async def test_action_body_fields_are_checked(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/admin/action", json={"action": "backup", "extra": 1})
    assert response.status_code == 400 and response.json()["error"].startswith("extra:")


async def no_sleep(_seconds: float) -> None:
    return None


async def test_failed_action_logs_admin_action_error_and_hides_detail_in_production(
    make_client: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    sandbox: Sandbox,
) -> None:
    async with make_client(make_settings(APP_ENV="production")) as http:
        await login(http)
        inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)
        response = await http.post("/api/admin/action", json={"action": "sync-markets"})
        logged = await events(ctx_of(http), "admin_action_error")

    assert response.status_code == 500
    assert response.json() == {
        "error": INTERNAL_MESSAGE,
        "statusCode": 500,
        "reference": response.json()["reference"],
    }
    assert response.headers["cache-control"] == NO_STORE
    assert logged == [{"severity": "error", "error": "Polymarket API error: 502 Bad Gateway"}]


async def test_failed_action_keeps_the_detail_in_development(
    admin: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)
    response = await admin.post("/api/admin/action", json={"action": "sync-markets"})
    assert response.status_code == 500
    assert response.json()["error"] == "Polymarket API error: 502 Bad Gateway"


async def test_logins_are_logged_in_system_logs(http: httpx.AsyncClient) -> None:
    refused = await http.post("/api/admin/login", json={"password": "wrong"})
    await login(http)

    assert refused.status_code == 401
    ctx = ctx_of(http)
    assert await events(ctx, "admin_login_failed") == [{"severity": "warning", "ip": "203.0.113.7"}]
    assert await events(ctx, "admin_login_success") == [{"severity": "info", "ip": "203.0.113.7"}]
