"""The public answers' data versions: each answer's queries read exactly the tables it declares
(`read_models.reads`), every one of those tables has a counter that every kind of write moves,
a write recomputes exactly the answers that read its table (and a write to any other table
none), and the versions live in the database, so a write by another process, or through
another service process over the same file, shows in the next answer."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, select, update

from arenabrain.arena import read_models
from arenabrain.arena.models import Agent, BrierScore, Market, PortfolioSnapshot, Trade
from arenabrain.arena.read_models import reads
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.db.answer_cache import ResponseCache
from arenabrain.db.service_models import VERSIONED_TABLES
from arenabrain.sandbox import Sandbox
from arenabrain.settings import Settings
from arenabrain.web import health
from tests.arena.decisions.support import SUNDAY, chat_ready, load_world_markets
from tests.conftest import cron_headers

FAMILY = "anthropic-claude-opus"
LEGACY = "claude-opus-4.5"
ANY_IDS = dict.fromkeys(("cohort", "resolved_market", "open_market", "decision"), "x")


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def world(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FrozenClock
) -> AsyncIterator[dict[str, str]]:
    """A decision week run for real, then one market resolved with its Brier row and one
    portfolio snapshot, so every versioned table holds a row; returns the ids pages use."""
    clock.set(SUNDAY + timedelta(minutes=5))
    chat_ready(sandbox)
    cohort = (await client.post("/api/cron/start-cohort", headers=cron_headers())).json()
    ctx = ctx_of(client)
    await load_world_markets(ctx, sandbox)
    assert (await client.post("/api/cron/run-decisions", headers=cron_headers())).status_code == 200
    async with ctx.db.write() as session:
        trade = (
            await session.execute(
                select(Trade.id, Trade.agent_id, Trade.market_id, Trade.decision_id)
                .join(Agent, Agent.id == Trade.agent_id)
                .where(Agent.family_id == FAMILY)
                .order_by(Trade.id)
                .limit(1)
            )
        ).one()
        open_market = await session.scalar(
            select(Trade.market_id).where(Trade.market_id != trade.market_id).limit(1)
        )
        await session.execute(
            update(Market)
            .where(Market.id == trade.market_id)
            .values(status="resolved", resolution_outcome="YES", resolved_at=clock.now())
        )
        await session.execute(
            insert(BrierScore).values(
                id="b-1",
                agent_id=trade.agent_id,
                trade_id=trade.id,
                market_id=trade.market_id,
                family_id=FAMILY,
                forecast_probability=0.6,
                actual_outcome=1.0,
                brier_score=0.16,
            )
        )
        await session.execute(
            insert(PortfolioSnapshot).values(
                id="s-1",
                agent_id=trade.agent_id,
                snapshot_timestamp=clock.now(),
                cash_balance=9000.0,
                positions_value=1000.0,
                total_value=10000.0,
                total_pnl=0.0,
                total_pnl_percent=0.0,
            )
        )
    assert open_market is not None
    yield {
        "cohort": cohort["cohort_id"],
        "resolved_market": trade.market_id,
        "open_market": open_market,
        "decision": trade.decision_id,
    }


def pages(ids: dict[str, str]) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    """Each public answer: the tables it declares and the requests that exercise its branches."""
    cohort = ids["cohort"]
    return {
        "get_markets": (
            reads.MARKETS,
            ["/api/markets", "/api/markets?status=all&cohort_bets=true&search=e&sort=created"],
        ),
        "get_market": (
            reads.MARKET,
            [f"/api/markets/{ids['open_market']}", f"/api/markets/{ids['resolved_market']}"],
        ),
        "get_cohorts": (reads.COHORTS, ["/api/cohorts"]),
        "get_cohort": (reads.COHORT, [f"/api/cohorts/{cohort}"]),
        "get_cohort_model": (
            reads.COHORT_MODEL,
            [f"/api/cohorts/{cohort}/models/{FAMILY}", f"/api/cohorts/{cohort}/models/{LEGACY}"],
        ),
        "get_model": (reads.MODEL, [f"/api/models/{FAMILY}", f"/api/models/{LEGACY}"]),
        "get_leaderboard": (reads.LEADERBOARD, ["/api/leaderboard"]),
        "get_performance_data": (
            reads.PERFORMANCE,
            [
                "/api/performance-data?range=1W",
                f"/api/performance-data?range=ALL&cohort_id={cohort}&family_id={FAMILY}",
            ],
        ),
        "get_recent_decisions": (reads.RECENT_DECISIONS, ["/api/decisions/recent"]),
        "get_decision": (reads.DECISION, [f"/api/decisions/{ids['decision']}"]),
        "_orphan_positions": (health.INTEGRITY_READS, ["/api/health"]),
    }


class TablesRead:
    """The tables every statement on `ctx`'s engine reads, from SQLite's authorizer. Setting
    the authorizer expires the connection's prepared statements, so each statement is prepared
    (and authorized) again rather than reused from the statement cache unseen."""

    def __init__(self, ctx: Context) -> None:
        self.found: set[str] = set()
        self.engine = ctx.db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self._watch)

    def _watch(self, conn: Any, *_: Any) -> None:
        # The driver's own sqlite3 connection (aiosqlite keeps it as `_conn`).
        conn.connection.driver_connection._conn.set_authorizer(self._authorize)

    def _authorize(self, action: int, table: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and table:
            self.found.add(table)
        return sqlite3.SQLITE_OK

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._watch)


def real_tables(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in found}


async def test_every_public_answer_reads_exactly_the_tables_it_declares(
    client: httpx.AsyncClient, world: dict[str, str], db_path: Path
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.ctx = replace(ctx_of(client), answers=ResponseCache(None))  # compute every time
    tables = real_tables(db_path)  # the identity views count as the tables under them
    watch = TablesRead(ctx_of(client))
    try:
        for name, (declared, paths) in pages(world).items():
            seen: set[str] = set()
            for path in paths:
                watch.found.clear()
                response = await client.get(path)
                assert response.status_code == 200, (path, response.text)
                read = watch.found & tables
                assert read <= set(declared), (path, sorted(read - set(declared)))
                seen |= read
            assert seen == set(declared), (name, sorted(set(declared) - seen))
    finally:
        watch.close()


def test_every_declared_table_has_a_data_version() -> None:
    declared = {table for tables, _ in pages(ANY_IDS).values() for table in tables}
    assert declared <= VERSIONED_TABLES


def versions(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT name, version FROM data_versions").fetchall())


def test_every_versioned_table_is_counted_and_has_a_trigger_for_each_kind_of_write(
    db_path: Path,
) -> None:
    with sqlite3.connect(db_path) as conn:
        triggers = {
            (table, name.rsplit("_", 1)[1])
            for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"
            )
            if name.startswith("data_version_")
        }
    assert set(versions(db_path)) == VERSIONED_TABLES
    assert triggers == {
        (t, kind) for t in VERSIONED_TABLES for kind in ("insert", "update", "delete")
    }


def test_an_insert_an_update_and_a_delete_each_move_their_tables_version(db_path: Path) -> None:
    before = versions(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO markets (id, polymarket_id, question, market_type, status, close_date) "
            "VALUES ('m', 'pm', 'Will it?', 'binary', 'active', '2026-12-31 00:00:00')"
        )
        conn.execute("UPDATE markets SET question = 'Will it rain?' WHERE id = 'm'")
        conn.execute("DELETE FROM markets WHERE id = 'm'")
        conn.execute("INSERT INTO system_logs (id, event_type, severity) VALUES ('l', 'x', 'info')")
    after = versions(db_path)
    assert after["markets"] == before["markets"] + 3
    assert {t: v for t, v in after.items() if t != "markets"} == {
        t: v for t, v in before.items() if t != "markets"
    }


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the answers computed (not served from the cache) since the last clear."""
    calls: list[str] = []

    def counting(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return await func(*args, **kwargs)

        return wrapped

    for name in pages(ANY_IDS):
        owner = health if name == "_orphan_positions" else read_models
        monkeypatch.setattr(owner, name, counting(name, getattr(owner, name)))
    yield calls


async def answer_all(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    for _, paths in pages(ids).values():
        for path in paths:
            assert (await client.get(path)).status_code == 200, path


def touch(db_path: Path, table: str) -> None:
    """A write that changes nothing but is a write: every row updated to itself."""
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE {table} SET rowid = rowid")


async def test_a_write_recomputes_exactly_the_answers_that_read_its_table(
    client: httpx.AsyncClient, world: dict[str, str], db_path: Path, computed: list[str]
) -> None:
    await answer_all(client, world)
    computed.clear()
    await answer_all(client, world)
    assert computed == []  # everything from the cache
    for table in sorted(VERSIONED_TABLES):
        before = versions(db_path)[table]
        touch(db_path, table)
        assert versions(db_path)[table] > before, table
        await answer_all(client, world)
        expected = {name for name, (declared, _) in pages(world).items() if table in declared}
        assert set(computed) == expected, table
        computed.clear()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO system_logs (id, event_type, severity) VALUES ('l1', 'x', 'info')",
        "INSERT INTO scheduler_leases (name, holder, acquired_at, expires_at) "
        "VALUES ('jobs', 'me', '2026-03-01 00:00:00', '2026-03-01 00:01:00')",
        "INSERT INTO admin_sessions (session_hash, created_at, expires_at) "
        "VALUES ('h', '2026-03-01 00:00:00', '2026-03-02 00:00:00')",
    ],
    ids=["system log", "scheduler lease", "admin session"],
)
async def test_a_write_to_a_table_no_answer_reads_recomputes_nothing(
    client: httpx.AsyncClient,
    world: dict[str, str],
    db_path: Path,
    computed: list[str],
    sql: str,
) -> None:
    await answer_all(client, world)
    computed.clear()
    with sqlite3.connect(db_path) as conn:
        conn.execute(sql)
    await answer_all(client, world)
    assert computed == []


async def test_a_commit_by_another_process_shows_in_the_next_answer(
    client: httpx.AsyncClient, world: dict[str, str], db_path: Path
) -> None:
    path = f"/api/decisions/{world['decision']}"
    assert (await client.get(path)).json()["decision"]["reasoning"] != "Rewritten elsewhere"
    await client.get(path)  # replayed now
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute(\"UPDATE decisions SET reasoning = 'Rewritten elsewhere' WHERE id = ?\","
        " (sys.argv[2],))\n"
        "conn.commit()\n"
    )
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(db_path), world["decision"]
    )
    assert await writer.wait() == 0
    assert (await client.get(path)).json()["decision"]["reasoning"] == "Rewritten elsewhere"


async def test_two_service_processes_over_one_database_each_see_the_others_writes(
    client: httpx.AsyncClient,
    world: dict[str, str],
    make_client: Callable[[Settings], Any],
    settings: Settings,
) -> None:
    """Two apps, each with its own context and cache (as two uvicorn workers have), over one
    database file: a write committed through one is in the other's next answer."""
    path = f"/api/cohorts/{world['cohort']}/models/{FAMILY}"
    async with make_client(settings) as other:
        first = (await other.get(path)).json()
        assert (await other.get(path)).json() == first  # kept by the other process
        async with ctx_of(client).db.write() as session:
            await session.execute(
                update(Agent)
                .where(Agent.cohort_id == world["cohort"], Agent.family_id == FAMILY)
                .values(cash_balance=Agent.cash_balance + 500)
            )
        after = (await other.get(path)).json()
    assert after["agent"]["cash_balance"] == pytest.approx(first["agent"]["cash_balance"] + 500)
