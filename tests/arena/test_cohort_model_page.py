"""`GET /api/cohorts/{id}/models/{familySlugOrLegacyId}` (§12.1.8): one model's record within
one cohort, its 404s, and how the family in the URL is resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from arenabrain.arena.models import (
    Agent,
    BrierScore,
    Decision,
    Market,
    ModelFamily,
    PortfolioSnapshot,
    Position,
    Trade,
)
from arenabrain.arena.read_models.cohort_model import agent_rank, position_outcome
from arenabrain.clock import FrozenClock
from tests.conftest import cron_headers

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)
CLAUDE = "anthropic-claude-opus"
GPT = "openai-gpt"


def ctx_of(http: httpx.AsyncClient) -> Any:
    return http._transport.app.state.ctx  # type: ignore[attr-defined]


async def start(http: httpx.AsyncClient) -> dict[str, str]:
    """This week's cohort; returns `{family_id: agent_id}` plus the cohort id under "cohort"."""
    body = (await http.post("/api/cron/start-cohort", headers=cron_headers())).json()
    async with ctx_of(http).db.read() as session:
        agents = (await session.scalars(select(Agent))).all()
    return {"cohort": body["cohort_id"], **{a.family_id: a.id for a in agents}}


def market(market_id: str, status: str = "active", outcome: str | None = None, **kw: Any) -> Market:
    return Market(
        id=market_id,
        polymarket_id=f"pm-{market_id}",
        question=f"Will {market_id} happen?",
        market_type=kw.get("market_type", "binary"),
        outcomes=kw.get("outcomes"),
        current_price=kw.get("current_price", 0.3),
        current_prices=kw.get("current_prices"),
        close_date=datetime(2026, 6, 1, tzinfo=UTC),
        status=status,
        resolution_outcome=outcome,
    )


def position(pid: str, agent: str, market_id: str, side: str, status: str, **kw: Any) -> Position:
    return Position(
        id=pid,
        agent_id=agent,
        market_id=market_id,
        side=side,
        shares=kw.get("shares", 200.0),
        avg_entry_price=0.5,
        total_cost=kw.get("total_cost", 100.0),
        current_value=kw.get("current_value"),
        status=status,
        opened_at=kw.get("opened_at", SUNDAY + timedelta(hours=1)),
        closed_at=kw.get("closed_at"),
    )


def trade(tid: str, agent: str, position_id: str, market_id: str, side: str, **kw: Any) -> Trade:
    return Trade(
        id=tid,
        agent_id=agent,
        market_id=market_id,
        position_id=position_id,
        decision_id=kw.get("decision_id", "d1"),
        trade_type=kw.get("trade_type", "BUY"),
        side=side,
        shares=kw.get("shares", 200.0),
        price=0.5,
        total_amount=kw.get("total_amount", 100.0),
        cost_basis=kw.get("cost_basis"),
        realized_pnl=kw.get("realized_pnl"),
        executed_at=kw.get("executed_at", SUNDAY + timedelta(hours=1)),
    )


async def seed_record(http: httpx.AsyncClient, ids: dict[str, str]) -> None:
    """Claude's week: one open bet (marked at 140), one sold out, three settled (won, lost,
    cancelled), one waiting on a closed market (never marked: it counts at its cost of 100); a
    snapshot worth 10,500 for Claude and 11,000 for GPT, older than what the positions say."""
    claude = ids[CLAUDE]
    async with ctx_of(http).db.write() as session:
        session.add_all(
            [
                market("live", current_price=0.3),
                market("sold"),
                market("waiting", status="closed"),
                market("won", status="resolved", outcome="YES"),
                market("lost", status="resolved", outcome="NO"),
                market("void", status="resolved", outcome="CANCELLED"),
            ]
        )
        await session.flush()
        session.add(
            Decision(
                id="d1",
                agent_id=claude,
                cohort_id=ids["cohort"],
                decision_week=1,
                decision_timestamp=SUNDAY + timedelta(hours=1),
                prompt_system="s",
                prompt_user="u",
                action="BET",
                reasoning="edge",
            )
        )
        session.add(
            Decision(
                id="d2",
                agent_id=claude,
                cohort_id=ids["cohort"],
                decision_week=2,
                decision_timestamp=SUNDAY + timedelta(days=7, hours=1),
                prompt_system="s",
                prompt_user="u",
                action="HOLD",
                reasoning="wait",
            )
        )
        session.add_all(
            [
                position("p-live", claude, "live", "NO", "open", current_value=140.0),
                position(
                    "p-sold",
                    claude,
                    "sold",
                    "YES",
                    "closed",
                    shares=0.0,
                    total_cost=0.0,
                    closed_at=SUNDAY + timedelta(days=2),
                ),
                position("p-wait", claude, "waiting", "YES", "open"),
                position(
                    "p-won", claude, "won", "yes", "settled", closed_at=SUNDAY + timedelta(days=3)
                ),
                position(
                    "p-lost", claude, "lost", "YES", "settled", closed_at=SUNDAY + timedelta(days=4)
                ),
                position(
                    "p-void", claude, "void", "YES", "settled", closed_at=SUNDAY + timedelta(days=5)
                ),
            ]
        )
        await session.flush()
        session.add_all(
            [
                trade("t-live", claude, "p-live", "live", "NO"),
                trade("t-sold", claude, "p-sold", "sold", "YES"),
                trade(
                    "t-sold-2",
                    claude,
                    "p-sold",
                    "sold",
                    "YES",
                    decision_id=None,
                    trade_type="SELL",
                    total_amount=130.0,
                    cost_basis=100.0,
                    realized_pnl=30.0,
                    executed_at=SUNDAY + timedelta(days=2),
                ),
                trade("t-wait", claude, "p-wait", "waiting", "YES"),
                trade("t-won", claude, "p-won", "won", "yes"),
                trade("t-lost", claude, "p-lost", "lost", "YES"),
                trade("t-void", claude, "p-void", "void", "YES"),
            ]
        )
        await session.flush()
        session.add(
            BrierScore(
                id="b1",
                agent_id=claude,
                trade_id="t-won",
                market_id="won",
                forecast_probability=0.7,
                actual_outcome=1.0,
                brier_score=0.09,
            )
        )
        for agent, total in ((claude, 10500.0), (ids[GPT], 11000.0)):
            session.add(
                PortfolioSnapshot(
                    id=f"s-{agent}",
                    agent_id=agent,
                    snapshot_timestamp=SUNDAY + timedelta(days=8),
                    cash_balance=total,
                    positions_value=0.0,
                    total_value=total,
                    total_pnl=total - 10000,
                    total_pnl_percent=(total - 10000) / 100,
                )
            )


async def test_the_page_of_a_model_in_a_cohort(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    ids = await start(client)
    await seed_record(client, ids)
    clock.set(SUNDAY + timedelta(days=8, hours=12))
    response = await client.get(f"/api/cohorts/{ids['cohort']}/models/{CLAUDE}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "cohort",
        "model",
        "agent",
        "stats",
        "equity_curve",
        "release_changes",
        "decisions",
        "positions",
        "closed_positions",
        "trades",
        "updated_at",
    ]
    assert body["cohort"] == {
        "id": ids["cohort"],
        "cohort_number": 1,
        "status": "active",
        "started_at": "2026-03-01T00:00:00.000Z",
        "completed_at": None,
        "benchmark_config_id": body["cohort"]["benchmark_config_id"],
        "current_week": 2,
        "total_markets": 6,
        "is_archived": False,
        "archived_at": None,
        "archive_reason": None,
        "scoring_status": "current",
        "decision_eligible": True,
        "decision_status": "decisioning",
    }
    assert body["model"] == {
        "id": CLAUDE,
        "family_id": CLAUDE,
        "family_slug": CLAUDE,
        "slug": CLAUDE,
        "legacy_model_id": "claude-opus-4.5",
        "display_name": "Claude",
        "provider": "Anthropic",
        "color": "#F59E0B",
        "release_id": "anthropic-claude-opus--claude-opus-4.7",
        "release_name": "Claude Opus 4.7",
        "benchmark_config_model_id": body["agent"]["benchmark_config_model_id"],
    }
    agent = body["agent"]
    assert agent["id"] == ids[CLAUDE] and agent["benchmark_config_model_id"]
    # Marked to market: cash 10,000 + the open bet's mark 140 + the unmarked one at cost 100;
    # the snapshots lag the positions and are not used for the headline value.
    assert (agent["total_value"], agent["total_pnl"], agent["total_pnl_percent"]) == (
        10240.0,
        240.0,
        pytest.approx(2.4),
    )
    assert (agent["brier_score"], agent["num_resolved_bets"]) == (0.09, 1)
    assert (agent["rank"], agent["total_agents"], agent["status"]) == (1, 7, "active")
    assert body["stats"] == {
        "position_count": 1,
        "trade_count": 7,
        "win_rate": 0.5,  # "yes" won on a YES market (any case), YES lost; CANCELLED counts not
        "cohort_avg_pnl_percent": pytest.approx(2.4 / 7),
        "cohort_best_pnl_percent": pytest.approx(2.4),
        "cohort_worst_pnl_percent": 0.0,
    }
    assert body["equity_curve"] == [
        {"snapshot_timestamp": "2026-03-09 00:00:00", "total_value": 10500.0}
    ]
    assert body["release_changes"] == []

    week2, week1 = body["decisions"]
    assert (week2["id"], week2["action"], week2["markets"]) == ("d2", "HOLD", [])
    assert week1["decision_timestamp"] == "2026-03-01T01:00:00.000Z"
    assert set(week1) == {
        "id",
        "decision_week",
        "decision_timestamp",
        "action",
        "reasoning",
        "markets",
    }
    assert len(week1["markets"]) == 6
    assert week1["markets"][0] == {
        "trade_type": "BUY",
        "side": "NO",
        "shares": 200.0,
        "price": 0.5,
        "total_amount": 100.0,
        "market_id": "live",
        "market_question": "Will live happen?",
    }

    [live] = body["positions"]
    assert (live["id"], live["market_question"], live["opening_decision_id"]) == (
        "p-live",
        "Will live happen?",
        "d1",
    )
    assert live["current_price"] == pytest.approx(0.7)  # the NO side of a 30 % YES market
    assert live["opened_at"] == "2026-03-01T01:00:00.000Z"

    history = {
        p["id"]: (p["outcome"], p["settlement_value"], p["pnl"]) for p in body["closed_positions"]
    }
    assert history == {
        "p-sold": ("EXITED", 130.0, 30.0),
        "p-wait": ("PENDING", None, None),
        "p-won": ("WON", 200.0, 100.0),
        "p-lost": ("LOST", 0.0, -100.0),
        "p-void": ("CANCELLED", 100.0, 0.0),
    }
    assert [p["id"] for p in body["closed_positions"]][:3] == ["p-void", "p-lost", "p-won"]

    assert len(body["trades"]) == 7
    sell = body["trades"][0]
    assert sell == {
        "id": "t-sold-2",
        "timestamp": "2026-03-03T00:00:00.000Z",
        "trade_type": "SELL",
        "side": "YES",
        "shares": 200.0,
        "price": 0.5,
        "total_amount": 130.0,
        "decision_id": None,
        "market_id": "sold",
        "market_question": "Will sold happen?",
        "decision_week": None,
    }
    assert body["trades"][1]["decision_week"] == 1
    assert body["updated_at"] == "2026-03-09T12:00:00.000Z"


async def test_a_fresh_agent_has_an_empty_record(client: httpx.AsyncClient) -> None:
    ids = await start(client)
    body = (await client.get(f"/api/cohorts/{ids['cohort']}/models/{GPT}")).json()
    assert body["agent"]["total_value"] == 10000.0 and body["agent"]["rank"] == 1
    assert body["stats"]["win_rate"] is None and body["stats"]["cohort_avg_pnl_percent"] == 0.0
    assert body["cohort"]["current_week"] == 1 and body["cohort"]["total_markets"] == 0
    for key in ("equity_curve", "decisions", "positions", "closed_positions", "trades"):
        assert body[key] == [], key


@pytest.mark.parametrize("key", ["anthropic-claude-opus", "claude", "claude-opus-4.5"])
async def test_the_model_is_found_by_family_id_slug_or_legacy_id(
    client: httpx.AsyncClient, key: str
) -> None:
    ids = await start(client)
    async with ctx_of(client).db.write() as session:  # a slug that differs from the family id
        await session.execute(
            update(ModelFamily).where(ModelFamily.id == CLAUDE).values(slug="claude")
        )
    body = (await client.get(f"/api/cohorts/{ids['cohort']}/models/{key}")).json()
    assert body["agent"]["id"] == ids[CLAUDE]
    assert (body["model"]["id"], body["model"]["family_id"]) == ("claude", CLAUDE)
    assert body["model"]["legacy_model_id"] == "claude-opus-4.5"


async def test_not_found_names_what_is_missing(client: httpx.AsyncClient) -> None:
    ids = await start(client)
    async with ctx_of(client).db.write() as session:
        session.add(
            ModelFamily(
                id="acme-x",
                slug="acme-x",
                provider="Acme",
                family_name="X",
                public_display_name="X",
                short_display_name="X",
            )
        )
    for path, message in (
        (f"/api/cohorts/nope/models/{CLAUDE}", "Cohort not found"),
        (f"/api/cohorts/{ids['cohort']}/models/nope", "Model not found"),
        (f"/api/cohorts/{ids['cohort']}/models/acme-x", "Agent not found in this cohort"),
    ):
        response = await client.get(path)
        assert (response.status_code, response.json()) == (
            404,
            {"error": message, "statusCode": 404},
        ), path


@pytest.mark.parametrize(
    ("status", "market_status", "side", "outcome", "expected"),
    [
        ("closed", "active", "YES", None, ("EXITED", 130.0, 30.0)),
        ("settled", "resolved", "YES", "YES", ("WON", 200.0, 100.0)),
        ("settled", "resolved", "Lakers", "LAKERS", ("WON", 200.0, 100.0)),
        ("settled", "resolved", "NO", "YES", ("LOST", 0.0, -100.0)),
        ("settled", "resolved", "NO", "CANCELLED", ("CANCELLED", 100.0, 0.0)),
        ("settled", "resolved", "NO", None, ("UNKNOWN", None, None)),
        ("open", "closed", "YES", None, ("PENDING", None, None)),
        ("open", "resolved", "YES", "YES", ("UNKNOWN", None, None)),
    ],
)
def test_position_outcomes(
    status: str, market_status: str, side: str, outcome: str | None, expected: tuple[Any, ...]
) -> None:
    row = {
        "status": status,
        "market_status": market_status,
        "side": side,
        "resolution_outcome": outcome,
        "shares": 200.0,
        "total_cost": 100.0,
    }
    assert position_outcome(row, (130.0, 100.0)) == expected


def test_rank_counts_only_strictly_richer_agents() -> None:
    assert agent_rank(10.0, [12.0, 10.0, 10.0, 8.0]) == 2
    assert agent_rank(12.0, [12.0, 10.0]) == 1
