"""The public read API of issue 11 (§12.1.2, §12.1.3, §12.1.9, §12.1.10, plus scoring): the
leaderboard with its market baseline, scores, intervals and sample sizes; the performance
chart's ranges, scopes and errors; the cohort list; the public decisions (which never show
prompts, raw answers or costs); the cache headers; bounded parameters; and the answer cache,
which never serves anything older than the last committed write.

State comes from the real write paths that exist (start-cohort, `execute_bets` at chosen
prices, run-decisions against the emulators). Settlement and snapshots are written by hand in
the shapes the resolution and snapshot jobs write, until those jobs exist."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, text, update

from arenabrain.arena.decisions.parser import Bet
from arenabrain.arena.execution.trades import execute_bets
from arenabrain.arena.models import (
    Agent,
    BrierScore,
    Cohort,
    Decision,
    Market,
    PortfolioSnapshot,
    Position,
    Trade,
)
from arenabrain.arena.read_models.performance import range_start
from arenabrain.arena.read_models.series import months_before
from arenabrain.arena.scoring import confidence_brier, side_won
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.db.answer_cache import ResponseCache
from arenabrain.sandbox import Sandbox
from tests.arena.decisions.support import SUNDAY, add_market, chat_ready, load_world_markets
from tests.conftest import cron_headers

CLAUDE = "anthropic-claude-opus"
GPT = "openai-gpt"
D = Decimal


def ctx_of(http: httpx.AsyncClient) -> Context:
    return http._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


async def start(http: httpx.AsyncClient) -> dict[str, str]:
    """This week's cohort through the cron route: `{family_id: agent_id, "cohort": id}`."""
    body = (await http.post("/api/cron/start-cohort", headers=cron_headers())).json()
    async with ctx_of(http).db.read() as session:
        agents = (
            await session.scalars(select(Agent).where(Agent.cohort_id == body["cohort_id"]))
        ).all()
    return {"cohort": body["cohort_id"], **{a.family_id: a.id for a in agents}}


async def bet(ctx: Context, agent_id: str, *legs: tuple[str, str, float, float | None]) -> None:
    """One BET decision of $100 legs `(market, side, price, p_yes)` through the real executor."""
    async with ctx.db.write() as session:
        report = await execute_bets(
            session,
            agent_id=agent_id,
            decision_id=None,
            lineage=None,
            bets=[
                Bet(market, side, D(100), None if p_yes is None else D(str(p_yes)))
                for market, side, _, p_yes in legs
            ],
            prices={(market, side): D(str(price)) for market, side, price, _ in legs},
            now=SUNDAY + timedelta(hours=1),
        )
    assert report.executed == len(legs), report.errors


async def resolve_by_hand(ctx: Context, market_id: str, winner: str) -> None:
    """What check-resolutions writes (§8.4-§8.6): each open position settled (winners paid a
    dollar a share, refunds at cost), the market resolved, one anchor Brier row per BUY."""
    now = SUNDAY + timedelta(days=3)
    async with ctx.db.write() as session:
        positions = (
            await session.scalars(
                select(Position).where(Position.market_id == market_id, Position.status == "open")
            )
        ).all()
        for position in positions:
            agent = await session.get(Agent, position.agent_id)
            assert agent is not None
            if winner == "CANCELLED":
                paid = position.total_cost
            else:
                paid = position.shares if side_won(position.side, winner) else 0.0
            agent.cash_balance += paid
            agent.total_invested = max(0.0, agent.total_invested - position.total_cost)
            position.status, position.current_value, position.closed_at = "settled", 0.0, now
            position.unrealized_pnl = 0.0
        await session.execute(
            update(Market)
            .where(Market.id == market_id)
            .values(status="resolved", resolution_outcome=winner, resolved_at=now)
        )
        if winner == "CANCELLED":
            return
        for trade in (
            await session.scalars(
                select(Trade).where(Trade.market_id == market_id, Trade.trade_type == "BUY")
            )
        ).all():
            won = side_won(trade.side, winner)
            session.add(
                BrierScore(
                    id=f"b-{trade.id}",
                    agent_id=trade.agent_id,
                    trade_id=trade.id,
                    market_id=market_id,
                    family_id=trade.family_id,
                    forecast_probability=trade.implied_confidence,
                    actual_outcome=1.0 if won else 0.0,
                    brier_score=confidence_brier(trade.implied_confidence or 0.0, won),
                )
            )


async def scored_world(http: httpx.AsyncClient) -> dict[str, str]:
    """Claude makes the four forecasts of test_scoring's hand-worked table (plus a bet without
    p_yes, a refunded one and one still open); GPT one losing NO bet. Then the markets resolve.

    Claude: m1 YES @0.6 p_yes 0.8 (wins), m2 YES @0.5 p_yes 0.3 (loses), m3 NO @0.7 p_yes 0.4
    (loses: NO's probability 0.6), Alice @0.8 p_yes 0.9 (wins), m1 YES @0.6 without p_yes
    (wins), void YES @0.5 (refunded), open YES @0.5 (marked at 120 later).
    GPT: m1 NO @0.4 p_yes 0.9 (NO's probability 0.1; loses)."""
    ids = await start(http)
    await trade_and_resolve(ctx_of(http), ids)
    return ids


async def trade_and_resolve(ctx: Context, ids: dict[str, str]) -> None:
    """The trades and resolutions of `scored_world` for agents `ids` (family id -> agent)."""
    for market_id in ("m1", "m2", "m3", "void", "open"):
        await add_market(ctx, market_id)
    await add_market(ctx, "race", outcomes=["Alice", "Bob"], prices={"Alice": 0.8, "Bob": 0.2})
    await bet(
        ctx,
        ids[CLAUDE],
        ("m1", "YES", 0.6, 0.8),
        ("m2", "YES", 0.5, 0.3),
        ("m3", "NO", 0.7, 0.4),
        ("race", "Alice", 0.8, 0.9),
        ("void", "YES", 0.5, 0.5),
        ("open", "YES", 0.5, 0.5),
    )
    await bet(ctx, ids[CLAUDE], ("m1", "YES", 0.6, None))
    await bet(ctx, ids[GPT], ("m1", "NO", 0.4, 0.9))
    for market_id, winner in (
        ("m1", "YES"),
        ("m2", "NO"),
        ("m3", "YES"),
        ("race", "ALICE"),
        ("void", "CANCELLED"),
    ):
        await resolve_by_hand(ctx, market_id, winner)
    async with ctx.db.write() as session:  # take-snapshots' mark of the open position
        await session.execute(
            update(Position).where(Position.market_id == "open").values(current_value=120.0)
        )


# --- leaderboard ----------------------------------------------------------------------------


async def test_leaderboard_ranks_by_marked_pnl_and_scores_forecasts_against_the_market(
    client: httpx.AsyncClient,
) -> None:
    await scored_world(client)
    response = await client.get("/api/leaderboard")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=45"
    body = response.json()
    assert list(body) == ["leaderboard", "cohorts", "models", "updated_at"]
    rows = body["leaderboard"]
    assert [r["kind"] for r in rows] == ["model"] * 7 + ["market_baseline"]
    by_family = {r["family_id"]: r for r in rows[:-1]}
    assert [r["family_id"] for r in rows[-3:-1]] == [CLAUDE, GPT]  # the two that lost money

    claude = by_family[CLAUDE]
    # Cash 10,000 - 700 staked + 333.33 (m1: 2 x 166.67 shares) + 125 (Alice) + 100 (refund),
    # plus the open position marked at 120.
    assert claude["total_pnl"] == pytest.approx(-700 + 1000 / 3 + 125 + 100 + 120)
    assert claude["total_pnl_percent"] == pytest.approx(claude["total_pnl"] / 100)
    assert claude["pnl_percent"] == {
        "value": pytest.approx(claude["total_pnl"] / 100),
        "low": pytest.approx(claude["total_pnl"] / 100),
        "high": pytest.approx(claude["total_pnl"] / 100),
        "n": 1,
    }
    scoring = claude["forecasting"]["scoring"]
    assert scoring["brier"]["value"] == pytest.approx(0.125) and scoring["brier"]["n"] == 4
    assert scoring["market_brier"]["value"] == pytest.approx(0.235)
    assert scoring["brier_skill"]["value"] == pytest.approx(1 - 0.125 / 0.235)
    assert scoring["log_score"]["value"] == pytest.approx(-0.40037, abs=1e-5)
    assert scoring["market_log_score"]["value"] == pytest.approx(-0.65777, abs=1e-5)
    for figure in scoring.values():
        assert figure["low"] <= figure["value"] <= figure["high"]
    # Wins: m1 twice and Alice out of five decided BUYs (the refund and the open bet count not).
    assert claude["forecasting"]["win_rate"]["value"] == pytest.approx(0.6)
    assert claude["forecasting"]["win_rate"]["n"] == 5
    assert claude["win_rate"] == pytest.approx(0.6)
    assert (claude["num_resolved_bets"], claude["num_cohorts"]) == (5, 1)
    assert claude["avg_brier_score"] == pytest.approx(
        claude["forecasting"]["confidence_brier"]["value"]
    )

    gpt = by_family[GPT]
    assert gpt["total_pnl"] == pytest.approx(-100.0)
    gpt_scoring = gpt["forecasting"]["scoring"]
    assert gpt_scoring["brier"] == {
        "value": pytest.approx(0.01),
        "low": pytest.approx(0.01),
        "high": pytest.approx(0.01),
        "n": 1,
    }
    assert gpt_scoring["brier_skill"]["value"] == pytest.approx(1 - 0.01 / 0.16)

    untested = by_family["google-gemini"]
    assert untested["total_pnl"] == 0.0 and untested["win_rate"] is None
    assert untested["forecasting"]["scoring"]["brier"] == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
    }

    baseline = rows[-1]
    assert baseline["display_name"] == "Market baseline"
    # The market's prices on all five forecasts: 0.16, 0.25, 0.49, 0.04 and GPT's 0.16.
    assert baseline["brier"]["value"] == pytest.approx(1.10 / 5) and baseline["brier"]["n"] == 5

    [cohort] = body["cohorts"]
    assert cohort["num_agents"] == 7 and cohort["total_markets_traded"] == 6
    assert (cohort["decision_status"], cohort["scoring_status"]) == ("decisioning", "current")
    assert len(body["models"]) == 7
    assert {"displayName", "currentReleaseName", "openrouterId"} <= set(body["models"][0])


async def test_leaderboard_of_an_empty_arena(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/leaderboard")).json()
    empty = {"value": None, "low": None, "high": None, "n": 0}
    assert body["leaderboard"] == [
        {
            "kind": "market_baseline",
            "display_name": "Market baseline",
            "color": "#64748B",
            "brier": empty,
            "log_score": empty,
        }
    ]
    assert body["cohorts"] == [] and len(body["models"]) == 7


async def test_archived_cohorts_leave_the_leaderboard_but_stay_in_its_cohort_list(
    client: httpx.AsyncClient,
) -> None:
    ids = await scored_world(client)
    async with ctx_of(client).db.write() as session:
        await session.execute(
            update(Cohort).where(Cohort.id == ids["cohort"]).values(is_archived=1)
        )
    body = (await client.get("/api/leaderboard")).json()
    assert [r["kind"] for r in body["leaderboard"]] == ["market_baseline"]
    assert body["leaderboard"][0]["brier"]["n"] == 0
    assert body["cohorts"][0]["is_archived"] is True
    assert body["cohorts"][0]["scoring_status"] == "archived"


async def test_answers_are_never_older_than_the_last_committed_write(
    client: httpx.AsyncClient, db_path: Any
) -> None:
    ids = await start(client)
    first = (await client.get("/api/leaderboard")).json()
    assert {r["total_pnl"] for r in first["leaderboard"][:-1]} == {0.0}
    again = await client.get("/api/leaderboard")
    assert again.json() == first
    # A write through a connection of another process: the next answer shows it.
    other = sqlite3.connect(db_path)
    other.execute("UPDATE agents SET cash_balance = 10250 WHERE id = ?", (ids[CLAUDE],))
    other.commit()
    other.close()
    after = (await client.get("/api/leaderboard")).json()
    claude = next(r for r in after["leaderboard"] if r.get("family_id") == CLAUDE)
    assert claude["total_pnl"] == 250.0
    # And through the service's own engine.
    async with ctx_of(client).db.write() as session:
        await session.execute(update(Agent).where(Agent.id == ids[GPT]).values(cash_balance=9900))
    latest = (await client.get("/api/leaderboard")).json()
    gpt = next(r for r in latest["leaderboard"] if r.get("family_id") == GPT)
    assert gpt["total_pnl"] == -100.0


# --- the answer cache -----------------------------------------------------------------------


class Versions:
    """Data versions a test moves by hand: table "t" at `value` (None: unknown)."""

    def __init__(self) -> None:
        self.value: int | None = 1

    def current(self) -> dict[str, int] | None:
        return None if self.value is None else {"t": self.value, "other": 0}

    def close(self) -> None:
        pass


def counting(calls: list[int], body: bytes = b"{}") -> Callable[[], Any]:
    async def compute() -> bytes:
        calls.append(1)
        await asyncio.sleep(0)
        return body

    return compute


async def test_the_cache_serves_an_answer_until_a_table_it_read_moves() -> None:
    versions, calls = Versions(), []
    cache = ResponseCache(versions)
    assert (await cache.get("k", ["t"], counting(calls)))[:2] == (b"{}", False)
    assert (await cache.get("k", ["t"], counting(calls)))[:2] == (b"{}", True)
    assert len(calls) == 1
    versions.value = 2
    assert (await cache.get("k", ["t"], counting(calls, b"[]")))[:2] == (b"[]", False)
    assert len(calls) == 2


async def test_an_answer_that_reads_only_unmoved_tables_stays_cached() -> None:
    versions, calls = Versions(), []
    cache = ResponseCache(versions)
    await cache.get("k", ["other"], counting(calls))
    versions.value = 2
    assert (await cache.get("k", ["other"], counting(calls))).hit is True
    assert len(calls) == 1


async def test_without_a_version_nothing_is_cached() -> None:
    versions, calls = Versions(), []
    versions.value = None
    cache = ResponseCache(versions)
    await cache.get("k", ["t"], counting(calls))
    await cache.get("k", ["t"], counting(calls))
    assert len(calls) == 2


async def test_an_answer_reading_a_table_without_a_version_is_never_cached() -> None:
    calls: list[int] = []
    cache = ResponseCache(Versions())
    await cache.get("k", ["t", "unversioned"], counting(calls))
    answer = await cache.get("k", ["t", "unversioned"], counting(calls))
    assert len(calls) == 2 and answer.hit is False and answer.versions is None


async def test_concurrent_misses_share_one_computation_and_errors_are_not_kept() -> None:
    calls: list[int] = []
    cache = ResponseCache(Versions())
    answers = await asyncio.gather(*(cache.get("k", ["t"], counting(calls)) for _ in range(5)))
    assert len(calls) == 1 and {answer.body for answer in answers} == {b"{}"}

    async def fail() -> bytes:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await cache.get("bad", ["t"], fail)
    assert (await cache.get("bad", ["t"], counting(calls)))[:2] == (b"{}", False)


async def test_the_cache_keeps_a_bounded_number_of_answers() -> None:
    calls: list[int] = []
    cache = ResponseCache(Versions(), max_entries=2)
    for key in ("a", "b", "a", "c"):
        await cache.get(key, ["t"], counting(calls))
    assert len(calls) == 3  # "a" was a hit; "b", the least recent, went when "c" came
    assert (await cache.get("a", ["t"], counting(calls))).hit is True
    assert (await cache.get("b", ["t"], counting(calls))).hit is False


# --- performance chart ----------------------------------------------------------------------


async def snapshot(ctx: Context, agent_id: str, moment: datetime, value: float) -> None:
    async with ctx.db.write() as session:
        await session.execute(
            insert(PortfolioSnapshot).values(
                id=f"s-{agent_id}-{moment.isoformat()}",
                agent_id=agent_id,
                snapshot_timestamp=moment,
                cash_balance=value,
                positions_value=0.0,
                total_value=value,
                total_pnl=value - 10000,
                total_pnl_percent=(value - 10000) / 100,
            )
        )


async def charted_world(http: httpx.AsyncClient, clock: FrozenClock) -> dict[str, str]:
    """Two weekly cohorts. Claude's first agent is snapshotted every 10 minutes from Monday
    00:00 to Wednesday 00:00 (value 10,000 + minutes / 10); its second agent (cohort 2) on
    the second Monday at 12:00 and 12:10 (10,100 and 10,300); GPT's first agent once."""
    ctx = ctx_of(http)
    first = await start(http)
    clock.set(SUNDAY + timedelta(days=7))
    second = await start(http)
    monday = SUNDAY + timedelta(days=1)
    for step in range(2 * 144 + 1):
        await snapshot(ctx, first[CLAUDE], monday + timedelta(minutes=10 * step), 10000 + step)
    later = SUNDAY + timedelta(days=8, hours=12)
    await snapshot(ctx, second[CLAUDE], later, 10100.0)
    await snapshot(ctx, second[CLAUDE], later + timedelta(minutes=10), 10300.0)
    await snapshot(ctx, first[GPT], monday, 9000.0)
    return {"first": first["cohort"], "second": second["cohort"]}


async def chart(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get("/api/performance-data", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_performance_ranges_end_at_the_latest_snapshot_in_buckets_of_their_size(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    cohorts = await charted_world(client, clock)
    response = await client.get("/api/performance-data", params={"range": "10M"})
    assert response.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=600"
    assert 'cache;desc="miss"' in response.headers["server-timing"]
    again = await client.get("/api/performance-data", params={"range": "10M"})
    assert 'cache;desc="hit"' in again.headers["server-timing"]
    body = response.json()
    assert list(body) == ["data", "models", "release_changes", "range", "updated_at"]
    assert body["range"] == "10M"
    # Ends at the latest snapshot (second Monday 12:10); starts 10 minutes before it.
    assert body["data"] == [
        {"date": "2026-03-09 12:00:00", CLAUDE: 10100.0},
        {"date": "2026-03-09 12:10:00", CLAUDE: 10300.0},
    ]
    week = (await chart(client, range="1W"))["data"]
    # Hourly buckets from 2 March 12:10: Claude's first agent alone until the second's
    # snapshots, each bucket holding the latest snapshot of the hour.
    assert week[0] == {"date": "2026-03-02 12:00:00", CLAUDE: 10000 + 6 * 12 + 5}
    assert week[-1] == {"date": "2026-03-09 12:00:00", CLAUDE: 10300.0}
    assert len(week) == 12 + 24 + 1 + 1  # 2 March 12:00 to 4 March 00:00, the second Monday
    everything = (await chart(client, range="ALL"))["data"]
    # Weekly buckets start on Thursdays (epoch weeks): 26 Feb and 5 March.
    assert [p["date"] for p in everything] == ["2026-02-26 00:00:00", "2026-03-05 00:00:00"]
    assert everything[0] == {"date": "2026-02-26 00:00:00", CLAUDE: 10288.0, GPT: 9000.0}
    # A cohort alone: the first cohort's agents only, its own latest snapshot ends the range.
    scoped = (await chart(client, range="1D", cohort_id=cohorts["first"]))["data"]
    assert scoped[-1] == {"date": "2026-03-04 00:00:00", CLAUDE: 10288.0}
    assert len(scoped) == 145
    only_gpt = await chart(client, range="ALL", family_id=GPT)
    assert only_gpt["data"] == [{"date": "2026-02-26 00:00:00", GPT: 9000.0}]
    assert [m["family_id"] for m in only_gpt["models"]] == [GPT]


async def test_performance_means_agents_of_a_family_per_bucket(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    cohorts = await charted_world(client, clock)
    ctx = ctx_of(client)
    async with ctx.db.read() as session:
        agents = {
            cohort_id: agent_id
            for agent_id, cohort_id in await session.execute(
                select(Agent.id, Agent.cohort_id).where(Agent.family_id == CLAUDE)
            )
        }
    moment = SUNDAY + timedelta(days=9)
    await snapshot(ctx, agents[cohorts["first"]], moment, 11000.0)
    await snapshot(ctx, agents[cohorts["second"]], moment, 12000.0)
    await snapshot(ctx, agents[cohorts["second"]], moment - timedelta(minutes=5), 1.0)
    last = (await chart(client, range="10M"))["data"]
    # 10 March 00:00: each agent's latest snapshot of the bucket, averaged.
    assert last[-1] == {"date": "2026-03-10 00:00:00", CLAUDE: 11500.0}
    assert last[0] == {"date": "2026-03-09 23:50:00", CLAUDE: 1.0}


async def test_archived_cohorts_leave_the_chart_unless_asked_for(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    cohorts = await charted_world(client, clock)
    async with ctx_of(client).db.write() as session:
        await session.execute(
            update(Cohort).where(Cohort.id == cohorts["second"]).values(is_archived=1)
        )
    unscoped = (await chart(client, range="10M"))["data"]
    assert unscoped == [
        {"date": "2026-03-03 23:50:00", CLAUDE: 10287.0},
        {"date": "2026-03-04 00:00:00", CLAUDE: 10288.0},
    ]
    archived = (await chart(client, range="10M", cohort_id=cohorts["second"]))["data"]
    assert archived[-1] == {"date": "2026-03-09 12:10:00", CLAUDE: 10300.0}


async def test_performance_of_an_empty_arena(client: httpx.AsyncClient) -> None:
    body = await chart(client)
    assert (body["data"], body["range"], body["release_changes"]) == ([], "1M", [])
    assert len(body["models"]) == 7


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"range": "2Y"}, 400, "query.range: "),
        ({"range": "1m"}, 400, "query.range: "),
        ({"cohort_id": "nope"}, 404, "Unknown cohort_id"),
        ({"family_id": "nope"}, 404, "Unknown family_id"),
        ({"cohort_id": ""}, 400, "query.cohort_id: "),
        ({"family_id": "x" * 101}, 400, "query.family_id: "),
    ],
)
async def test_performance_refuses_bad_ranges_and_unknown_ids(
    client: httpx.AsyncClient, params: dict[str, str], status: int, message: str
) -> None:
    response = await client.get("/api/performance-data", params=params)
    assert response.status_code == status
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize(
    ("end", "range_key", "expected"),
    [
        (datetime(2026, 3, 31, 12, tzinfo=UTC), "1M", datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 3, 31, tzinfo=UTC), "1M", datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), "3M", datetime(2025, 10, 15, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), "ALL", datetime(2016, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), "1W", datetime(2026, 2, 22, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), "10M", datetime(2026, 2, 28, 23, 50, tzinfo=UTC)),
    ],
)
def test_range_starts(end: datetime, range_key: str, expected: datetime) -> None:
    assert range_start(end, range_key) == expected


def test_months_before_keeps_the_time_and_clamps_the_day() -> None:
    assert months_before(datetime(2026, 5, 31, 8, 30, tzinfo=UTC), 3) == datetime(
        2026, 2, 28, 8, 30, tzinfo=UTC
    )
    assert months_before(datetime(2026, 12, 10, tzinfo=UTC), 12) == datetime(
        2025, 12, 10, tzinfo=UTC
    )


# --- cohort list ----------------------------------------------------------------------------


async def test_cohort_list_pages_newest_first(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await start(client)
    clock.set(SUNDAY + timedelta(days=7))
    await start(client)
    body = (await client.get("/api/cohorts")).json()
    assert [c["cohort_number"] for c in body["cohorts"]] == [2, 1]
    assert (body["total"], body["has_more"]) == (2, False)
    assert set(body["cohorts"][0]) == {
        "id",
        "cohort_number",
        "started_at",
        "status",
        "methodology_version",
        "is_archived",
        "archived_at",
        "archive_reason",
        "num_agents",
        "total_markets_traded",
        "scoring_status",
        "decision_eligible",
        "decision_status",
    }
    assert body["cohorts"][1]["started_at"] == "2026-03-01T00:00:00.000Z"
    page = (await client.get("/api/cohorts", params={"limit": 1, "offset": 1})).json()
    assert [c["cohort_number"] for c in page["cohorts"]] == [1] and page["has_more"] is False
    first = (await client.get("/api/cohorts", params={"limit": 1})).json()
    assert first["has_more"] is True


async def test_cohort_list_of_an_empty_arena(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/cohorts")).json()
    assert (body["cohorts"], body["total"], body["has_more"]) == ([], 0, False)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/cohorts", {"limit": "0"}, "limit"),
        ("/api/cohorts", {"limit": "201"}, "limit"),
        ("/api/cohorts", {"offset": "9223372036854775808"}, "offset"),
        ("/api/decisions/recent", {"limit": "51"}, "limit"),
        ("/api/decisions/recent", {"limit": "0"}, "limit"),
        ("/api/decisions/recent", {"limit": "ten"}, "limit"),
    ],
)
async def test_list_parameters_are_bounded(
    client: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"query.{field}: ")


# --- decisions ------------------------------------------------------------------------------

PRIVATE_KEYS = {
    "prompt_system",
    "prompt_user",
    "raw_response",
    "parsed_response",
    "tokens_input",
    "tokens_output",
    "api_cost_usd",
    "error_message",
    "retry_count",
    "response_time_ms",
    "p_yes_flags",
}


@pytest.fixture
async def decided(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """A decision week run for real: start-cohort, the emulator's markets, run-decisions."""
    clock.set(SUNDAY + timedelta(minutes=5))
    chat_ready(sandbox)
    await start(client)
    await load_world_markets(ctx_of(client), sandbox)
    response = await client.post("/api/cron/run-decisions", headers=cron_headers())
    assert response.status_code == 200, response.text
    yield client


async def test_recent_decisions_newest_first_without_private_fields(
    decided: httpx.AsyncClient,
) -> None:
    response = await decided.get("/api/decisions/recent", params={"limit": 5})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=120, stale-while-revalidate=30"
    body = response.json()
    assert len(body["decisions"]) == 5
    stamps = [(d["decision_timestamp"], d["id"]) for d in body["decisions"]]
    assert stamps == sorted(stamps, reverse=True)
    first = body["decisions"][0]
    assert first["family_slug"] and first["model_release_name"] and first["cohort_number"] == 1
    assert not PRIVATE_KEYS & set(first)
    assert len((await decided.get("/api/decisions/recent")).json()["decisions"]) == 7


async def test_recent_decisions_leave_out_errors_and_archived_cohorts(
    decided: httpx.AsyncClient,
) -> None:
    async with ctx_of(decided).db.write() as session:
        ids = (await session.scalars(select(Decision.id).order_by(Decision.id))).all()
        await session.execute(update(Decision).where(Decision.id == ids[0]).values(action="ERROR"))
    listed = (await decided.get("/api/decisions/recent", params={"limit": 50})).json()
    assert ids[0] not in {d["id"] for d in listed["decisions"]}
    assert len(listed["decisions"]) == 6
    async with ctx_of(decided).db.write() as session:
        await session.execute(update(Cohort).values(is_archived=1))
    assert (await decided.get("/api/decisions/recent")).json()["decisions"] == []


async def test_a_decision_shows_its_trades_but_never_prompts_answers_or_costs(
    decided: httpx.AsyncClient,
) -> None:
    async with ctx_of(decided).db.read() as session:
        traded = (
            await session.execute(
                select(Decision)
                .join(Trade, Trade.decision_id == Decision.id)
                .order_by(Decision.id)
                .limit(1)
            )
        ).scalar_one()
    response = await decided.get(f"/api/decisions/{traded.id}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["decision", "trades"]
    assert body["decision"]["id"] == traded.id and body["decision"]["model_name"]
    assert not PRIVATE_KEYS & set(body["decision"])
    assert body["trades"] and body["trades"][0]["market_question"]
    assert {"implied_confidence", "p_yes", "market_slug"} <= set(body["trades"][0])
    raw = response.text
    for secret in (traded.prompt_system, traded.prompt_user, traded.raw_response):
        assert secret and secret[:60] not in raw
    keys = set(body["decision"]).union(*(set(t) for t in body["trades"]))
    assert not PRIVATE_KEYS & keys and not any("cost_usd" in k or "token" in k for k in keys)


async def test_unknown_decision_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/decisions/nope")
    assert (response.status_code, response.json()["error"]) == (404, "Decision not found")


async def test_recent_decisions_of_an_empty_arena(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/decisions/recent")).json()["decisions"] == []


# --- the pages show marked values and real records ------------------------------------------


async def test_cohort_and_model_pages_show_forecasting_records(client: httpx.AsyncClient) -> None:
    ids = await scored_world(client)
    cohort = (await client.get(f"/api/cohorts/{ids['cohort']}")).json()
    claude = next(a for a in cohort["agents"] if a["family_id"] == CLAUDE)
    assert claude["forecasting"]["scoring"]["brier"]["value"] == pytest.approx(0.125)
    assert claude["total_value"] == pytest.approx(10000 - 700 + 1000 / 3 + 125 + 100 + 120)
    assert cohort["stats"]["total_resolved_bets"] == 6
    model = (await client.get(f"/api/models/{CLAUDE}")).json()
    assert model["win_rate"] == pytest.approx(0.6)
    assert model["forecasting"]["scoring"]["brier_skill"]["value"] == pytest.approx(
        1 - 0.125 / 0.235
    )
    page = (await client.get(f"/api/cohorts/{ids['cohort']}/models/{GPT}")).json()
    assert page["stats"]["win_rate"] == 0.0
    assert page["agent"]["forecasting"]["scoring"]["brier"]["n"] == 1


# --- the documented shapes ------------------------------------------------------------------

READ_ROUTES = (
    "/api/leaderboard",
    "/api/performance-data",
    "/api/cohorts",
    "/api/decisions/recent",
    "/api/decisions/{decision_id}",
)


async def test_every_read_route_documents_a_precise_answer(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path in READ_ROUTES:
        answer = document["paths"][path]["get"]["responses"]["200"]
        reference = answer["content"]["application/json"]["schema"]["$ref"]
        assert reference.rsplit("/", 1)[1] in schemas, path
    assert "404" in document["paths"]["/api/performance-data"]["get"]["responses"]
    standing = schemas["LeaderboardPage"]["properties"]["leaderboard"]["items"]
    assert standing["discriminator"]["propertyName"] == "kind"
    assert schemas["PerformancePoint"]["additionalProperties"] == {"type": "number"}
    assert schemas["Estimate"]["additionalProperties"] is False


async def test_decision_routes_read_only_named_columns(ctx: Context) -> None:
    """A column added to `decisions` stays private: the queries name what they show."""
    from arenabrain.arena.read_models import decisions

    for sql in (decisions._RECENT, decisions._DECISION):
        assert "d.*" not in sql and "SELECT *" not in sql
        for key in PRIVATE_KEYS:
            assert key not in sql
    async with ctx.db.read() as session:
        await session.execute(text(decisions._RECENT), {"limit": 1})


# --- generated requests ---------------------------------------------------------------------

FUZZED = (*READ_ROUTES, "/api/markets")


def test_generated_requests_to_the_read_routes_never_fail_or_break_their_schema(
    make_client: Callable[..., Any], settings: Any
) -> None:
    """schemathesis over the read routes' OpenAPI operations, fixed seed, against an arena with
    resolved forecasts: no 5xx, every status documented, every answer matching its schema."""
    import itertools

    import schemathesis
    from hypothesis import HealthCheck, given, seed
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode

    from tests.web.test_api_fuzz import CHECKS, _httpx_kwargs, has_body_or_query

    with asyncio.Runner() as runner:
        wrapper = make_client(settings)
        http: httpx.AsyncClient = runner.run(wrapper.__aenter__())
        try:
            runner.run(scored_world(http))
            schema = schemathesis.openapi.from_dict(wrapper.app.openapi())
            operations = [
                result.ok() for result in schema.get_all_operations() if result.ok().path in FUZZED
            ]
            assert len(operations) == len(FUZZED)
            statuses: set[int] = set()
            for operation, mode in itertools.product(operations, GenerationMode):
                if mode is GenerationMode.NEGATIVE and not has_body_or_query(
                    operation.definition.raw
                ):
                    continue

                @seed(20261204)
                @hypothesis_settings(
                    max_examples=15 if mode is GenerationMode.POSITIVE else 10,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(mode))
                def check(case: Any) -> None:
                    kwargs = case.as_transport_kwargs(base_url="http://testserver")
                    response = runner.run(http.request(**_httpx_kwargs(kwargs)))
                    statuses.add(response.status_code)
                    case.validate_response(response, checks=CHECKS)

                check()
        finally:
            runner.run(wrapper.__aexit__(None, None, None))
    assert {200, 400} <= statuses and not {s for s in statuses if s >= 500}


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
async def pg_ctx(
    make_settings: Callable[..., Any], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Context]:
    """A context on a fresh PostgreSQL schema (skipped without a test server)."""
    from arenabrain.db.migrate import upgrade_async
    from arenabrain.runtime import open_context
    from tests.arena.postgres import (
        pin_search_path,
        schema_url,
        server_url,
        service_url,
        throwaway_schemas,
    )

    url = server_url("read models")
    with throwaway_schemas(url) as make_schema:
        schema = make_schema()
        await upgrade_async(schema_url(url, schema))
        settings = make_settings(DATABASE_URL=service_url(url))
        async with open_context(
            settings, clock=clock, transports=sandbox.transports(), migrate=False
        ) as context:
            pin_search_path(context.db.engine, schema)
            yield context


@pytest.mark.postgres
async def test_the_read_models_answer_the_same_on_postgresql(pg_ctx: Context) -> None:
    from arenabrain.arena import read_models
    from tests.arena.decisions.support import seed_cohort

    cohort = await seed_cohort(pg_ctx)
    ids = {"cohort": cohort.id, **{a.split("cohort-1-", 1)[1]: a for a in cohort.agent_ids}}
    await trade_and_resolve(pg_ctx, ids)
    for step in range(3):
        await snapshot(pg_ctx, ids[CLAUDE], SUNDAY + timedelta(minutes=10 * step), 10000.0 + step)
    board = await read_models.get_leaderboard(pg_ctx)
    claude = next(r for r in board["leaderboard"] if r.get("family_id") == CLAUDE)
    assert claude["forecasting"]["scoring"]["brier"]["value"] == pytest.approx(0.125)
    assert board["leaderboard"][-1]["brier"]["n"] == 5
    assert board["cohorts"][0]["total_markets_traded"] == 6
    for range_key, bucket in (
        ("10M", "2026-03-01 00:20:00"),
        ("1D", "2026-03-01 00:20:00"),
        ("1M", "2026-03-01 00:00:00"),
        ("ALL", "2026-02-26 00:00:00"),
    ):
        chart = await read_models.get_performance_data(pg_ctx, range_key, None, None)
        assert chart["data"][-1] == {"date": bucket, CLAUDE: 10002.0}, range_key
    scoped = await read_models.get_performance_data(pg_ctx, "1W", cohort.id, CLAUDE)
    assert [m["family_id"] for m in scoped["models"]] == [CLAUDE]
    assert (await read_models.get_cohorts(pg_ctx, {"limit": 10, "offset": 0}))["total"] == 1
    assert (await read_models.get_recent_decisions(pg_ctx, 10))["decisions"] == []
    page = await read_models.get_cohort(pg_ctx, cohort.id)
    assert page["equity_curves"][CLAUDE] == [{"date": "2026-02-26 00:00:00", "value": 10002.0}]
    model = await read_models.get_model(pg_ctx, CLAUDE)
    assert model["win_rate"] == pytest.approx(0.6)


# --- every public page through the answer cache ---------------------------------------------


def commit_elsewhere(db_path: Any, sql: str, *params: Any) -> None:
    """A write through a connection of another process (what the service's cache cannot see
    coming): the next answer must show it."""
    other = sqlite3.connect(db_path)
    other.execute(sql, params)
    other.commit()
    other.close()


async def test_detail_pages_are_never_older_than_the_last_committed_write(
    decided: httpx.AsyncClient, db_path: Any
) -> None:
    async with ctx_of(decided).db.read() as session:
        traded = (
            await session.execute(
                select(Decision.id, Decision.cohort_id, Trade.market_id, Agent.family_id)
                .join(Trade, Trade.decision_id == Decision.id)
                .join(Agent, Agent.id == Decision.agent_id)
                .order_by(Decision.id)
                .limit(1)
            )
        ).one()
    decision, cohort, market, family = traded
    pages = {
        "market": f"/api/markets/{market}",
        "cohort": f"/api/cohorts/{cohort}",
        "model": f"/api/models/{family}",
        "cohort-model": f"/api/cohorts/{cohort}/models/{family}",
        "decision": f"/api/decisions/{decision}",
    }
    first = {name: (await decided.get(path)).json() for name, path in pages.items()}
    for name, path in pages.items():  # served again from the cache, unchanged
        assert (await decided.get(path)).json() == first[name], name

    commit_elsewhere(db_path, "UPDATE markets SET question = 'Renamed?' WHERE id = ?", market)
    assert (await decided.get(pages["market"])).json()["market"]["question"] == "Renamed?"
    commit_elsewhere(db_path, "UPDATE decisions SET reasoning = 'Rewritten' WHERE id = ?", decision)
    assert (await decided.get(pages["decision"])).json()["decision"]["reasoning"] == "Rewritten"

    async with ctx_of(decided).db.write() as session:  # through the service's own engine
        await session.execute(
            update(Agent)
            .where(Agent.cohort_id == cohort, Agent.family_id == family)
            .values(cash_balance=Agent.cash_balance + 1000)
        )
    cohort_page = (await decided.get(pages["cohort"])).json()
    before = next(a for a in first["cohort"]["agents"] if a["family_id"] == family)
    after = next(a for a in cohort_page["agents"] if a["family_id"] == family)
    assert after["total_value"] == pytest.approx(before["total_value"] + 1000)
    model_page = (await decided.get(pages["model"])).json()
    assert model_page != first["model"]
    cohort_model = (await decided.get(pages["cohort-model"])).json()
    assert cohort_model["agent"]["cash_balance"] == pytest.approx(
        first["cohort-model"]["agent"]["cash_balance"] + 1000
    )


async def test_cached_cohort_pages_move_to_the_next_week_at_midnight_without_a_write(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ids = await start(client)
    clock.set(SUNDAY + timedelta(days=6, hours=23))
    cohort_path = f"/api/cohorts/{ids['cohort']}"
    model_path = f"/api/cohorts/{ids['cohort']}/models/{CLAUDE}"
    assert (await client.get(cohort_path)).json()["stats"]["week_number"] == 1
    assert (await client.get(model_path)).json()["cohort"]["current_week"] == 1
    clock.set(SUNDAY + timedelta(days=7))
    assert (await client.get(cohort_path)).json()["stats"]["week_number"] == 2
    assert (await client.get(model_path)).json()["cohort"]["current_week"] == 2


async def test_arena_health_sees_an_integrity_problem_committed_after_its_last_answer(
    client: httpx.AsyncClient, db_path: Any
) -> None:
    ids = await start(client)
    assert (await client.get("/api/health")).json()["checks"]["data_integrity"] == {"status": "ok"}
    await add_market(ctx_of(client), "m1")
    commit_elsewhere(db_path, "DELETE FROM agents WHERE id = ?", "none")  # moves the version only
    assert (await client.get("/api/health")).status_code == 200
    await bet(ctx_of(client), ids[CLAUDE], ("m1", "YES", 0.5, 0.6))
    # Foreign keys are off on this connection, as they are for any careless tool.
    commit_elsewhere(
        db_path, "UPDATE positions SET agent_id = 'gone' WHERE agent_id = ?", ids[CLAUDE]
    )
    response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["data_integrity"] == {
        "status": "error",
        "message": "Integrity issues detected",
    }


async def test_readers_in_a_loop_never_block_a_writer_or_see_a_locked_database(
    client: httpx.AsyncClient,
) -> None:
    ids = await start(client)
    ctx = ctx_of(client)
    stop = asyncio.Event()
    statuses: list[int] = []

    async def read_loop(path: str) -> None:
        while not stop.is_set():
            response = await client.get(path)
            statuses.append(response.status_code)
            assert "database is locked" not in response.text
            # A replayed answer over the in-process transport never waits on anything, so a
            # reader must yield as a real client's round trip would, or it starves the writer.
            await asyncio.sleep(0)

    readers = [
        asyncio.create_task(read_loop(path))
        for path in (
            "/api/leaderboard",
            f"/api/cohorts/{ids['cohort']}",
            "/api/markets?limit=50",
            "/api/health",
        )
    ]
    try:
        for step in range(20):
            async with ctx.db.write() as session:
                await session.execute(
                    update(Agent).where(Agent.id == ids[GPT]).values(cash_balance=10000 + step)
                )
            await asyncio.sleep(0)
    finally:
        stop.set()
        await asyncio.gather(*readers)
    assert statuses and set(statuses) == {200}
    latest = (await client.get("/api/leaderboard")).json()
    gpt = next(r for r in latest["leaderboard"] if r.get("family_id") == GPT)
    assert gpt["total_pnl"] == 19.0
