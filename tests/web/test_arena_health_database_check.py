"""`/api/health`'s database check: the answer cache's read of the data versions is a query the
database just answered, so a warm `/api/health` makes no round trip through the engine; where
there are no versions to read (PostgreSQL, an unreadable file) the engine is asked, and when
neither answers the database is reported unavailable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from arenabrain.context import Context
from arenabrain.db.answer_cache import ResponseCache, SqliteDataVersions


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


def without_versions(http: httpx.AsyncClient) -> Context:
    app = http._transport.app  # type: ignore[attr-defined]
    app.state.ctx = replace(ctx_of(http), answers=ResponseCache(None))
    return ctx_of(http)


class Statements(list[str]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", self.seen)

    def seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.append(statement)


async def test_a_warm_arena_health_makes_no_engine_round_trip(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/health")).status_code == 200  # the integrity probe ran
    statements = Statements(ctx_of(client))
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == {"status": "ok"}
    assert statements == []


async def test_without_data_versions_arena_health_asks_the_engine(
    client: httpx.AsyncClient,
) -> None:
    statements = Statements(without_versions(client))
    response = await client.get("/api/health")
    assert response.json()["checks"]["database"] == {"status": "ok"}
    assert any("SELECT 1" in s for s in statements)


async def test_arena_health_reports_the_database_unavailable_when_nothing_answers(
    client: httpx.AsyncClient,
) -> None:
    ctx = without_versions(client)
    await ctx.db.engine.dispose()
    ctx.db.read_sessions.kw["bind"] = None  # no engine left to talk to
    response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "status": "error",
        "message": "Database unavailable",
    }


def test_data_versions_of_a_missing_file_are_unknown(tmp_path: Path) -> None:
    versions = SqliteDataVersions(str(tmp_path / "missing.db"))
    assert versions.current() is None
    assert ResponseCache(versions).database_answers() is False
