"""Public answers replayed before routing (`web.answer_replay`): the same status, headers and
body as the computed answer, logged and labelled like any other, kept per request target, never
for an error, a non-GET or after a write to a table the answer read; the kept replies are
bounded."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from arenabrain.arena.models import Market
from arenabrain.context import Context
from arenabrain.db.answer_cache import Reply, ResponseCache
from arenabrain.logging import configure_logging
from arenabrain.settings import Settings
from tests.arena.decisions.support import add_market
from tests.conftest import cron_headers


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


def count_computations(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call into the answer cache from a route (a replay makes none)."""
    calls: list[Any] = []
    json_answer = ctx.answers.json

    async def counted(key: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(key)
        return await json_answer(key, *args, **kwargs)

    monkeypatch.setattr(ctx.answers, "json", counted)
    return calls


async def test_a_kept_answer_is_replayed_before_routing_with_the_same_headers_and_body(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await client.post("/api/cron/start-cohort", headers=cron_headers())
    calls = count_computations(ctx_of(client), monkeypatch)
    first = await client.get("/api/leaderboard")
    again = await client.get("/api/leaderboard")
    assert len(calls) == 1  # the second never reached the route
    assert again.status_code == first.status_code == 200
    assert again.headers.multi_items() == first.headers.multi_items()
    assert again.content == first.content
    assert again.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=45"


async def test_a_replay_is_logged_and_labelled_in_sandbox_mode(
    make_client: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    async with make_client(make_settings(SANDBOX="true")) as http:
        out = io.StringIO()
        configure_logging("info", stream=out)
        try:
            answers = [await http.get("/api/cohorts") for _ in range(2)]
        finally:
            configure_logging("info")
    assert [a.headers["x-arenabrain-sandbox"] for a in answers] == ["true", "true"]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    access = [line for line in lines if line.get("msg") == "request completed"]
    assert [(line["req"]["url"], line["res"]["statusCode"]) for line in access] == [
        ("/api/cohorts", 200),
        ("/api/cohorts", 200),
    ]


async def test_a_trailing_slash_is_replayed_as_the_path_without_it(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_computations(ctx_of(client), monkeypatch)
    first = await client.get("/api/decisions/recent")
    slashed = await client.get("/api/decisions/recent/")
    assert len(calls) == 1 and slashed.content == first.content


async def test_each_query_string_has_its_own_replay(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    for market_id in ("a", "b"):
        await add_market(ctx, market_id)
    one = (await client.get("/api/markets?limit=1")).json()
    two = (await client.get("/api/markets?limit=2")).json()
    assert len(one["markets"]) == 1 and len(two["markets"]) == 2
    calls = count_computations(ctx, monkeypatch)
    assert (await client.get("/api/markets?limit=1")).json() == one
    assert (await client.get("/api/markets?limit=2")).json() == two
    assert calls == []


async def test_an_error_answer_is_never_kept(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/markets/late")).status_code == 404
    assert (await client.get("/api/markets/late")).status_code == 404
    await add_market(ctx_of(client), "late")
    assert (await client.get("/api/markets/late")).status_code == 200


async def test_only_a_get_is_replayed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/leaderboard")).status_code == 200
    assert (await client.post("/api/leaderboard")).status_code == 405
    assert (await client.head("/api/leaderboard")).status_code == 405


async def test_a_write_to_a_table_the_answer_read_ends_its_replay(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    await add_market(ctx, "m1", question="Will it rain?")
    calls = count_computations(ctx, monkeypatch)
    assert (await client.get("/api/markets/m1")).json()["market"]["question"] == "Will it rain?"
    assert len((await client.get("/api/markets/m1")).content) and len(calls) == 1  # replayed
    async with ctx.db.write() as session:
        await session.execute(
            update(Market).where(Market.id == "m1").values(question="Will it snow?")
        )
    renamed = (await client.get("/api/markets/m1")).json()
    assert len(calls) == 2 and renamed["market"]["question"] == "Will it snow?"


class Versions:
    def __init__(self) -> None:
        self.value = 1

    def current(self) -> dict[str, int]:
        return {"t": self.value}

    def close(self) -> None:
        pass


def reply(body: bytes, version: int = 1) -> Reply:
    return Reply(tables=("t",), versions=(version,), headers=(), body=body)


def test_kept_replies_are_bounded_and_end_when_their_tables_move() -> None:
    versions = Versions()
    cache = ResponseCache(versions, max_entries=2)
    for path in ("/a", "/b", "/c"):
        cache.keep_reply((path, b""), reply(path.encode()))
    assert cache.reply(("/a", b"")) is None  # the least recently kept went first
    assert [cache.reply((p, b"")).body for p in ("/b", "/c")] == [b"/b", b"/c"]  # type: ignore[union-attr]
    versions.value = 2
    assert cache.reply(("/b", b"")) is None
