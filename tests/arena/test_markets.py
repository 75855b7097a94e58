"""sync-markets against the Polymarket emulators: what is stored, that nothing is erased, the
status refresh of markets that matter, failures, and the bulk statements it uses."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from arenabrain.arena import cohorts, markets, pricing
from arenabrain.arena.models import Market, Position, SystemLog
from arenabrain.clients.polymarket import parse_market
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.errors import AppError
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.polymarket import (
    add_raw_market,
    close_market,
    configure_markets,
    inject_failure,
    listed_markets,
    market_prices,
    polymarket_state,
    remove_market,
    resolve_market,
    set_prices,
)
from arenabrain.settings import Settings

STORED_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$")


class NoSleep(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def no_sleep() -> NoSleep:
    """Retries in these tests record their delays instead of sleeping."""
    return NoSleep()


@pytest.fixture
def ctx_sleep(no_sleep: NoSleep) -> NoSleep:
    return no_sleep  # the `ctx` fixture's sleep


async def stored(ctx: Context) -> dict[str, Market]:
    async with ctx.db.read() as session:
        return {m.polymarket_id: m for m in (await session.scalars(select(Market))).all()}


async def events(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [{"severity": r.severity, **json.loads(r.event_data or "{}")} for r in rows]


async def open_position(ctx: Context, market: Market) -> None:
    await cohorts.start_cohort(ctx, force=True)
    async with ctx.db.write() as session:
        agent_id = (await session.scalars(select(cohorts.Agent.id))).first()
        session.add(
            Position(
                id=f"pos-{market.id}",
                agent_id=agent_id,
                market_id=market.id,
                side="YES",
                shares=10.0,
                avg_entry_price=0.5,
                total_cost=5.0,
                status="open",
            )
        )


# --- what a sync stores -----------------------------------------------------------------------


async def test_sync_stores_the_top_markets(ctx: Context, sandbox: Sandbox) -> None:
    result = await markets.sync_markets(ctx)
    assert result["success"] is True
    assert result["errors"] == []
    assert result["markets_updated"] == 0
    assert set(result) == {"success", "markets_added", "markets_updated", "errors", "duration_ms"}
    rows = await stored(ctx)
    assert result["markets_added"] == len(rows) > 40
    world = polymarket_state(sandbox.world)
    for pid, row in rows.items():
        sim = world.markets[pid]
        assert row.question == sim.question
        assert row.status == "active"
        if row.market_type == "binary":
            assert row.outcomes is None and row.current_prices is None
            assert row.current_price == market_prices(sandbox.world, pid)["Yes"]
            assert markets.token_map(row) == {
                "YES": sim.token_ids[sim.outcomes.index("Yes")],
                "NO": sim.token_ids[sim.outcomes.index("No")],
            }
        else:
            assert row.current_price is None
            assert json.loads(row.outcomes or "") == sim.outcomes
            assert json.loads(row.current_prices or "") == market_prices(sandbox.world, pid)
            assert markets.token_map(row) == dict(zip(sim.outcomes, sim.token_ids, strict=True))
    logged = await events(ctx, "market_sync_complete")
    assert logged == [
        {
            "severity": "info",
            "markets_added": len(rows),
            "markets_updated": 0,
            "status_updates": 0,
            "errors": 0,
            "duration_ms": result["duration_ms"],
        }
    ]


async def test_reversed_outcome_order_is_mapped_by_label(ctx: Context, sandbox: Sandbox) -> None:
    await markets.sync_markets(ctx)
    reversed_ = next(
        m for m in polymarket_state(sandbox.world).markets.values() if m.outcomes == ["No", "Yes"]
    )
    row = (await stored(ctx))[reversed_.id]
    assert row.current_price == market_prices(sandbox.world, reversed_.id)["Yes"]
    assert markets.token_map(row)["YES"] == reversed_.token_ids[1]


async def test_event_markets_are_deduplicated_and_keep_their_event(
    ctx: Context, sandbox: Sandbox
) -> None:
    await markets.sync_markets(ctx)
    rows = await stored(ctx)
    world = polymarket_state(sandbox.world)
    unlisted = [m for m in world.markets.values() if not m.listed and m.volume > 0]
    assert unlisted and all(m.id in rows for m in unlisted)
    for sim in unlisted:
        assert rows[sim.id].event_slug == world.events[sim.event_id]["slug"]
    untraded = [m for m in world.markets.values() if m.volume == 0 and not m.listed]
    assert untraded and not any(m.id in rows for m in untraded)
    assert len(rows) == len({r.polymarket_id for r in rows.values()})


async def test_only_the_top_count_by_volume_is_kept(
    make_settings: Callable[..., Settings], clock: FrozenClock, sandbox: Sandbox
) -> None:
    async with open_context(
        make_settings(TOP_MARKETS_COUNT="10"), clock=clock, transports=sandbox.transports()
    ) as ctx:
        result = await markets.sync_markets(ctx)
        rows = await stored(ctx)
        async with ctx.db.read() as session:
            top = await markets.top_active_markets(session, limit=3)
    assert result["markets_added"] == 10 and len(rows) == 10
    world = polymarket_state(sandbox.world)
    expected = sorted((m for m in world.markets.values() if m.volume > 0), key=lambda m: -m.volume)
    assert set(rows) == {m.id for m in expected[:10]}
    assert [m.polymarket_id for m in top] == [m.id for m in expected[:3]]


async def test_second_sync_updates_and_bumps_last_updated(ctx: Context, clock: FrozenClock) -> None:
    await markets.sync_markets(ctx)
    before = await stored(ctx)
    clock.advance(minutes=5)
    result = await markets.sync_markets(ctx)
    after = await stored(ctx)
    assert result["markets_added"] == 0 and result["markets_updated"] == len(before)
    for pid, row in after.items():
        assert row.id == before[pid].id
        assert row.first_seen_at == before[pid].first_seen_at
        assert row.last_updated_at == clock.now()


async def test_timestamps_are_stored_as_sqlite_text(ctx: Context, db_path: Path) -> None:
    await markets.sync_markets(ctx)
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT first_seen_at, last_updated_at, close_date FROM markets"
        ).fetchall()
        logs = conn.execute("SELECT created_at FROM system_logs").fetchall()
        (fresh,) = conn.execute(
            "SELECT COUNT(*) FROM markets WHERE last_updated_at > datetime(?, '-1 hour')",
            ("2026-03-01 00:30:00",),
        ).fetchone()
    assert all(STORED_TEXT.match(value) for row in rows + logs for value in row)
    assert fresh == len(rows)


async def test_upsert_never_erases_stored_values(ctx: Context, clock: FrozenClock) -> None:
    raw = {
        "id": "777",
        "question": "Will it rain?",
        "slug": "rain",
        "description": "Rain.",
        "category": "Weather",
        "endDate": "2026-06-01T00:00:00Z",
        "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.4", "0.6"]',
        "clobTokenIds": '["y", "n"]',
        "volumeNum": 1000.0,
        "liquidity": "50",
        "active": True,
        "closed": False,
        "events": [{"slug": "weather"}],
    }
    full = parse_market(raw)
    async with ctx.db.write() as session:
        await markets.upsert_markets(session, [full], clock.now())
    first = (await stored(ctx))["777"]
    sparse = replace(
        parse_market(
            {
                "id": "777",
                "outcomes": '["Yes", "No"]',
                "outcomePrices": '["oops", "0.6"]',
                "active": True,
            }
        ),
        question="Will it rain?",
    )
    assert sparse.close_date is None and sparse.volume is None and sparse.token_ids == {}
    clock.advance(hours=1)
    async with ctx.db.write() as session:
        outcome = await markets.upsert_markets(session, [sparse], clock.now())
    second = (await stored(ctx))["777"]
    assert outcome.added == 0 and outcome.updated == 1
    for column in (
        "id",
        "slug",
        "event_slug",
        "description",
        "category",
        "close_date",
        "current_price",
        "clob_token_ids",
        "volume",
        "liquidity",
        "first_seen_at",
    ):
        assert getattr(second, column) == getattr(first, column), column
    assert second.last_updated_at == clock.now()


async def test_a_new_market_without_close_date_gets_a_year(
    ctx: Context, clock: FrozenClock
) -> None:
    market = parse_market({"id": "9", "outcomes": '["Yes", "No"]', "question": "q"})
    async with ctx.db.write() as session:
        await markets.upsert_markets(session, [market], clock.now())
    assert (await stored(ctx))["9"].close_date == clock.now() + timedelta(days=365)


async def test_each_batch_is_one_bulk_statement(
    make_settings: Callable[..., Settings],
    clock: FrozenClock,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_markets(sandbox.world, 1300)
    async with open_context(
        make_settings(TOP_MARKETS_COUNT="1200"), clock=clock, transports=sandbox.transports()
    ) as ctx:
        through_sqlalchemy: list[str] = []
        bulk: list[int] = []  # rows per executemany handed to the driver

        def statements(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            through_sqlalchemy.append(statement.lstrip().upper())

        original = aiosqlite.Connection.executemany

        def executemany(self: Any, sql: str, parameters: Any) -> Any:
            if sql.lstrip().upper().startswith("INSERT INTO MARKETS"):
                bulk.append(len(parameters))
            return original(self, sql, parameters)

        event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", statements)
        monkeypatch.setattr(aiosqlite.Connection, "executemany", executemany)
        result = await markets.sync_markets(ctx)
    assert result["markets_added"] == 1200
    assert markets.UPSERT_BATCH == 1000 and bulk == [1000, 200]  # one executemany per batch
    assert not [s for s in through_sqlalchemy if s.startswith("INSERT INTO MARKETS")]


# --- malformed markets and failures -----------------------------------------------------------


async def test_malformed_markets_are_skipped_and_reported(ctx: Context, sandbox: Sandbox) -> None:
    add_raw_market(sandbox.world, {"id": "bad-1", "outcomes": "garbage", "volumeNum": 10})
    add_raw_market(sandbox.world, {"question": "no id", "outcomes": '["Yes", "No"]'})
    add_raw_market(sandbox.world, "not an object")
    result = await markets.sync_markets(ctx)
    assert sorted(result["errors"]) == [
        "bad-1: no outcomes",
        "unknown: market has neither id nor conditionId",
        "unknown: market is not an object",
    ]
    assert result["markets_added"] > 40 and "bad-1" not in await stored(ctx)
    assert (await events(ctx, "market_sync_complete"))[0]["errors"] == 3


async def test_gamma_outage_fails_the_sync_and_logs_it(
    ctx: Context, sandbox: Sandbox, no_sleep: NoSleep
) -> None:
    inject_failure(sandbox.world, "gamma", "/markets", status=503, times=3)
    with pytest.raises(AppError) as caught:
        await markets.sync_markets(ctx)
    assert caught.value.status_code == 500
    assert caught.value.message == "Polymarket API error: 503 Service Unavailable"
    assert await events(ctx, "market_sync_error") == [
        {"severity": "error", "error": "Polymarket API error: 503 Service Unavailable"}
    ]
    assert await stored(ctx) == {}
    assert no_sleep == [0.5, 1.0]


async def test_rate_limits_are_retried(ctx: Context, sandbox: Sandbox, no_sleep: NoSleep) -> None:
    inject_failure(sandbox.world, "gamma", "/events", status=429, times=1, retry_after="3")
    result = await markets.sync_markets(ctx)
    assert result["success"] and result["markets_added"] > 40
    assert no_sleep == [3.0]


# --- status refresh ---------------------------------------------------------------------------


async def test_a_decided_market_is_stored_closed_until_the_resolution_job_settles_it(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    """Runbook 6.4: markets are only marked resolved after settlement succeeds, so a sync that
    reads Polymarket's decision stores the market closed (never open positions on a resolved
    market, runbook 7.5)."""
    await markets.sync_markets(ctx)
    target = listed_markets(sandbox.world)[0]
    await open_position(ctx, (await stored(ctx))[target.id])
    resolve_market(sandbox.world, target.id, "Yes")
    clock.advance(minutes=5)
    await markets.sync_markets(ctx)
    row = (await stored(ctx))[target.id]
    assert row.status == "closed"
    assert row.resolution_outcome is None  # the resolution job settles it
    assert row.current_price == 1.0
    assert sandbox.world.calls("gamma", "GET", f"/markets/{target.id}") == 1
    assert (await events(ctx, "market_sync_complete"))[-1]["status_updates"] == 1


async def test_closed_market_without_winner_becomes_closed(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await markets.sync_markets(ctx)
    target = listed_markets(sandbox.world)[1]
    await open_position(ctx, (await stored(ctx))[target.id])
    close_market(sandbox.world, target.id)
    clock.advance(minutes=5)
    await markets.sync_markets(ctx)
    assert (await stored(ctx))[target.id].status == "closed"


async def test_market_past_its_close_date_is_refreshed(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await markets.sync_markets(ctx)
    target = min(
        (m for m in listed_markets(sandbox.world) if m.event_id is None),
        key=lambda m: m.end_date,
    )
    close_market(sandbox.world, target.id)  # no longer listed by /markets?closed=false
    clock.set(target.end_date + timedelta(minutes=1))
    await markets.sync_markets(ctx)
    assert (await stored(ctx))[target.id].status == "closed"


async def test_stale_markets_are_refreshed_oldest_first(ctx: Context, clock: FrozenClock) -> None:
    for number in range(3):
        market = parse_market(
            {"id": f"s{number}", "outcomes": '["Yes", "No"]', "endDate": "2027-01-01"}
        )
        async with ctx.db.write() as session:
            await markets.upsert_markets(session, [market], clock.now())
        clock.advance(hours=1)
    clock.advance(hours=4, minutes=30)
    async with ctx.db.read() as session:
        assert await markets.markets_needing_refresh(session, clock.now()) == ["s0", "s1"]
        assert await markets.markets_needing_refresh(session, clock.now(), stale_limit=1) == ["s0"]


async def test_gone_market_is_left_alone(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await markets.sync_markets(ctx)
    target = listed_markets(sandbox.world)[0]
    await open_position(ctx, (await stored(ctx))[target.id])
    remove_market(sandbox.world, target.id)
    close_market(sandbox.world, target.id)
    clock.advance(minutes=5)
    result = await markets.sync_markets(ctx)
    assert result["errors"] == []
    assert (await stored(ctx))[target.id].status == "active"


async def test_refresh_errors_are_reported_per_market(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await markets.sync_markets(ctx)
    target = listed_markets(sandbox.world)[0]
    await open_position(ctx, (await stored(ctx))[target.id])
    inject_failure(sandbox.world, "gamma", f"/markets/{target.id}", status=500, times=3)
    result = await markets.sync_markets(ctx)
    assert result["errors"] == [
        f"Status check {target.id}: Polymarket API error: 500 Internal Server Error"
    ]


async def test_settled_market_stays_resolved(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await markets.sync_markets(ctx)
    target = listed_markets(sandbox.world)[0]
    async with ctx.db.write() as session:
        row = (await session.scalars(select(Market).where(Market.polymarket_id == target.id))).one()
        row.status, row.resolution_outcome = "resolved", "YES"
        row.resolved_at = clock.now()
    clock.advance(minutes=5)
    await markets.sync_markets(ctx)  # Gamma still lists it as active
    row = (await stored(ctx))[target.id]
    assert (row.status, row.resolution_outcome) == ("resolved", "YES")


# --- prices for the other jobs ----------------------------------------------------------------


async def test_clob_prices_of_stored_markets_by_side(ctx: Context, sandbox: Sandbox) -> None:
    await markets.sync_markets(ctx)
    rows = list((await stored(ctx)).values())
    prices = await pricing.fetch_side_prices(ctx, rows)
    assert sandbox.world.calls("clob", "POST", "/midpoints") == 1
    for row in rows:
        now = market_prices(sandbox.world, row.polymarket_id)
        expected = {"YES": now["Yes"], "NO": now["No"]} if row.market_type == "binary" else now
        for side, price in expected.items():
            assert prices[(row.id, side)] == pytest.approx(Decimal(str(price)), abs=Decimal("1e-9"))


async def test_valuation_prices_no_like_execution(ctx: Context, sandbox: Sandbox) -> None:
    """A NO side is worth one minus YES's midpoint, as a trade would fill it, even when the NO
    token's own book says otherwise."""
    await markets.sync_markets(ctx)
    rows = [r for r in (await stored(ctx)).values() if r.market_type == "binary"]
    target = rows[0]
    set_prices(sandbox.world, target.polymarket_id, {"Yes": 0.6, "No": 0.45})
    prices = await pricing.fetch_side_prices(ctx, [target])
    assert prices[(target.id, "YES")] == Decimal("0.6")
    assert prices[(target.id, "NO")] == Decimal("0.4")


def test_token_map_rejects_inconsistent_rows() -> None:
    assert markets.token_map({"market_type": "binary", "clob_token_ids": None}) == {}
    assert markets.token_map({"market_type": "binary", "clob_token_ids": '["a"]'}) == {}
    assert markets.token_map({"market_type": "binary", "clob_token_ids": "oops"}) == {}
    multi = {"market_type": "multi_outcome", "clob_token_ids": '["a", "b"]', "outcomes": '["X"]'}
    assert markets.token_map(multi) == {}


def test_market_row_shapes() -> None:
    multi = parse_market(
        {
            "id": "m",
            "outcomes": '["Alice", "Bob"]',
            "outcomePrices": '["0.6", "bad"]',
            "clobTokenIds": '["a", "b"]',
            "endDate": "2026-05-01T00:00:00Z",
        }
    )
    row = markets.market_row(multi)
    assert row["outcomes"] == '["Alice","Bob"]'
    assert row["current_prices"] == '{"Alice":0.6}'
    assert row["clob_token_ids"] == '["a","b"]'
    assert row["close_date"] == datetime(2026, 5, 1, tzinfo=UTC)


async def test_added_and_updated_are_counted_exactly_in_a_mixed_batch(
    ctx: Context, clock: FrozenClock
) -> None:
    def binary(pid: str, end: str | None = "2027-01-01") -> Any:
        raw = {"id": pid, "question": pid, "outcomes": '["Yes", "No"]'}
        return parse_market({**raw, "endDate": end} if end else raw)

    async with ctx.db.write() as session:
        first = await markets.upsert_markets(
            session, [binary("a"), binary("b", None), binary("c")], clock.now()
        )
    assert (first.added, first.updated) == (3, 0)
    batch = [binary("b"), binary("d", None), binary("a", None), binary("e"), binary("d", None)]
    async with ctx.db.write() as session:
        second = await markets.upsert_markets(session, batch, clock.now())
    assert (second.added, second.updated) == (2, 2)  # d and e are new; d is written once
    assert sorted(await stored(ctx)) == ["a", "b", "c", "d", "e"]


def test_stored_rows_are_the_written_columns_in_stored_form() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    dated_market = parse_market(
        {
            "id": "1",
            "outcomes": '["No", "Yes"]',
            "clobTokenIds": '["n", "y"]',
            "endDate": "2026-04-01",
        }
    )
    undated_market = parse_market(
        {"id": "2", "outcomes": '["A", "B"]', "outcomePrices": '["0.5", "0.5"]'}
    )
    dated, undated = markets.stored_rows([dated_market, undated_market], now)
    [row] = dated
    values = dict(zip(markets.WRITTEN_COLUMNS, row, strict=True))
    assert values == {
        **markets.market_row(dated_market),
        "id": values["id"],
        "close_date": "2026-04-01 00:00:00",
        "first_seen_at": "2026-03-01 12:00:00",
        "last_updated_at": "2026-03-01 12:00:00",
    }
    assert values["clob_token_ids"] == '["y","n"]'
    [other] = undated
    assert dict(zip(markets.WRITTEN_COLUMNS, other, strict=True))["close_date"] == (
        "2027-03-01 12:00:00"
    )


def test_fresh_ids_have_the_id_shape_and_do_not_repeat() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    ids = markets.fresh_ids(now, 5000)
    assert len(set(ids)) == 5000
    assert all(re.fullmatch(r"1772323200000-[0-9a-z]{9}", i) for i in ids)
    assert markets.fresh_ids(now, 0) == []


@settings(deadline=None)  # a pure property: a loaded machine must not fail it on time
@given(st.lists(st.text()))
def test_compact_strings_is_the_compact_json_of_the_list(items: list[str]) -> None:
    assert markets._compact_strings(items) == markets._compact(items)
