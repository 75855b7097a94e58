"""start-cohort: one cohort per week however it is called, seven frozen agents, the start
window, the runbook's SQL; and the decision window, completion sweep and archiving."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from arenabrain.arena import cohorts
from arenabrain.arena.models import (
    Agent,
    BenchmarkConfig,
    BenchmarkConfigModel,
    Cohort,
    Decision,
    Market,
    ModelFamily,
    Position,
    SystemLog,
)
from arenabrain.arena.seed import DEFAULT_CONFIG_ID, FAMILIES
from arenabrain.clock import FrozenClock
from arenabrain.context import Context

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)

RUNBOOK_COHORTS = """
  SELECT id, cohort_number, started_at, status
  FROM cohorts
  ORDER BY started_at DESC
  LIMIT 3;
"""
RUNBOOK_DUPLICATE_DECISIONS = """SELECT agent_id, cohort_id, decision_week, COUNT(*) AS cnt
FROM decisions
GROUP BY agent_id, cohort_id, decision_week
HAVING COUNT(*) > 1;"""
RUNBOOK_DUPLICATE_COHORTS = """SELECT started_at, COUNT(*) AS cnt
FROM cohorts
GROUP BY started_at
HAVING COUNT(*) > 1;"""
RUNBOOK_COHORTS_WITHOUT_CONFIG = """SELECT id, cohort_number
FROM cohorts
WHERE benchmark_config_id IS NULL
ORDER BY cohort_number DESC;"""
RUNBOOK_AGENTS_WITHOUT_LINEAGE = """SELECT id, cohort_id, model_id, family_id, release_id, benchmark_config_model_id
FROM agents
WHERE family_id IS NULL
   OR release_id IS NULL
   OR benchmark_config_model_id IS NULL
ORDER BY created_at DESC;"""


def sqlite3_cli(db_path: Path, sql: str) -> list[list[str]]:
    done = subprocess.run(
        ["sqlite3", "-separator", "|", str(db_path), sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("|") for line in done.stdout.splitlines() if line]


async def count(ctx: Context, model: Any, *where: Any) -> int:
    async with ctx.db.read() as session:
        return (await session.scalar(select(func.count()).select_from(model).where(*where))) or 0


async def logs(ctx: Context, event_type: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        return [{"severity": r.severity, **json.loads(r.event_data or "{}")} for r in rows]


# --- starting ---------------------------------------------------------------------------------


async def test_start_creates_one_cohort_with_seven_funded_agents(ctx: Context) -> None:
    body = await cohorts.start_cohort(ctx)
    assert body == {
        "success": True,
        "cohort_id": body["cohort_id"],
        "cohort_number": 1,
        "agents_created": 7,
    }
    async with ctx.db.read() as session:
        cohort = await session.get(Cohort, body["cohort_id"])
        agents = await cohorts.cohort_agents(session, body["cohort_id"])
        slots = {
            s.id: s
            for s in (
                await session.scalars(
                    select(BenchmarkConfigModel).where(
                        BenchmarkConfigModel.benchmark_config_id == DEFAULT_CONFIG_ID
                    )
                )
            ).all()
        }
    assert cohort is not None
    assert cohort.started_at == SUNDAY
    assert (cohort.status, cohort.methodology_version, cohort.is_archived) == ("active", "v2", 0)
    assert cohort.benchmark_config_id == DEFAULT_CONFIG_ID
    legacy = {f.id: f.legacy_model_id for f in FAMILIES}
    assert {a.benchmark_config_model_id for a in agents} == set(slots)
    for agent in agents:
        slot = slots[agent.benchmark_config_model_id]
        assert (agent.family_id, agent.release_id) == (slot.family_id, slot.release_id)
        assert agent.model_id == legacy[agent.family_id]
        assert (agent.cash_balance, agent.total_invested, agent.status) == (10000.0, 0.0, "active")
    assert await logs(ctx, "cohort_started") == [
        {
            "severity": "info",
            "cohort_id": body["cohort_id"],
            "cohort_number": 1,
            "num_agents": 7,
            "benchmark_config_id": DEFAULT_CONFIG_ID,
        }
    ]


async def test_twenty_concurrent_starts_make_one_cohort_and_seven_agents(ctx: Context) -> None:
    results = await asyncio.gather(*(cohorts.start_cohort(ctx) for _ in range(20)))
    assert {r["cohort_id"] for r in results} == {results[0]["cohort_id"]}
    assert all(r["success"] and r["agents_created"] == 7 for r in results)
    assert await count(ctx, Cohort) == 1
    assert await count(ctx, Agent) == 7
    assert len(await logs(ctx, "cohort_started")) == 1


async def test_concurrent_forced_starts_mid_week(ctx: Context, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 4, 15, 30, tzinfo=UTC))
    results = await asyncio.gather(*(cohorts.start_cohort(ctx, force=True) for _ in range(20)))
    assert len({r["cohort_id"] for r in results}) == 1
    assert await count(ctx, Cohort) == 1 and await count(ctx, Agent) == 7
    async with ctx.db.read() as session:
        assert (await session.scalars(select(Cohort.started_at))).one() == SUNDAY


async def test_second_start_in_same_week_returns_existing_cohort(
    ctx: Context, clock: FrozenClock
) -> None:
    first = await cohorts.start_cohort(ctx)
    clock.advance(days=3)
    again = await cohorts.start_cohort(ctx)
    assert again == first
    assert len(await logs(ctx, "cohort_started")) == 1


async def test_outside_the_window_nothing_starts_without_force(
    ctx: Context, clock: FrozenClock
) -> None:
    clock.set(SUNDAY + timedelta(hours=1))
    body = await cohorts.start_cohort(ctx)
    assert body == {"success": False, "message": "Not Sunday or outside start window"}
    assert await count(ctx, Cohort) == 0
    forced = await cohorts.start_cohort(ctx, force=True)
    assert forced["success"] and forced["agents_created"] == 7


async def test_next_week_gets_the_next_number(ctx: Context, clock: FrozenClock) -> None:
    first = await cohorts.start_cohort(ctx)
    clock.set(SUNDAY + timedelta(days=7, minutes=1))
    second = await cohorts.start_cohort(ctx)
    assert (first["cohort_number"], second["cohort_number"]) == (1, 2)
    assert await count(ctx, Agent) == 14


async def test_no_default_config_is_reported_and_logged(ctx: Context) -> None:
    async with ctx.db.write() as session:
        await session.execute(update(BenchmarkConfig).values(is_default_for_future_cohorts=0))
    body = await cohorts.start_cohort(ctx, force=True)
    message = "No default benchmark config is configured for future cohorts"
    assert body == {"success": False, "message": message}
    assert await logs(ctx, "cohort_start_error") == [{"severity": "error", "error": message}]
    assert await count(ctx, Cohort) == 0


async def test_agent_creation_is_idempotent_and_pinned(ctx: Context, clock: FrozenClock) -> None:
    body = await cohorts.start_cohort(ctx)
    async with ctx.db.write() as session:
        cohort = await session.get(Cohort, body["cohort_id"])
        assert cohort is not None
        assert await cohorts.create_agents(session, cohort, clock.now()) == 0
        with pytest.raises(cohorts.CohortError, match="is pinned to benchmark config"):
            await cohorts.create_agents(session, cohort, clock.now(), config_id="other")
    assert await count(ctx, Agent) == 7


async def test_a_cohort_missing_agents_gets_them_on_the_next_start(ctx: Context) -> None:
    body = await cohorts.start_cohort(ctx)
    async with ctx.db.write() as session:
        doomed = (await session.scalars(select(Agent).limit(2))).all()
        for agent in doomed:
            await session.delete(agent)
    again = await cohorts.start_cohort(ctx)
    assert again == body
    assert await count(ctx, Agent) == 7


async def test_runbook_cohort_and_lineage_sql(
    ctx: Context, clock: FrozenClock, db_path: Path
) -> None:
    await asyncio.gather(*(cohorts.start_cohort(ctx) for _ in range(5)))
    clock.set(SUNDAY + timedelta(days=9, hours=5))  # a Tuesday: forced start, normalised
    await cohorts.start_cohort(ctx, force=True)
    rows = sqlite3_cli(db_path, RUNBOOK_COHORTS)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("2", "2026-03-08 00:00:00", "active"),
        ("1", "2026-03-01 00:00:00", "active"),
    ]
    for sql in (
        RUNBOOK_DUPLICATE_DECISIONS,
        RUNBOOK_DUPLICATE_COHORTS,
        RUNBOOK_COHORTS_WITHOUT_CONFIG,
        RUNBOOK_AGENTS_WITHOUT_LINEAGE,
    ):
        assert sqlite3_cli(db_path, sql) == [], sql
    (configs,) = sqlite3_cli(db_path, "SELECT COUNT(DISTINCT benchmark_config_id) FROM cohorts")
    assert configs == ["1"]


# --- decision window, completion, archiving -------------------------------------------------------


async def start_weeks(ctx: Context, clock: FrozenClock, weeks: int) -> list[str]:
    ids = []
    for week in range(weeks):
        clock.set(SUNDAY + timedelta(days=7 * week))
        ids.append((await cohorts.start_cohort(ctx))["cohort_id"])
    return ids


async def eligible(ctx: Context, limit: int = 5) -> list[int]:
    async with ctx.db.read() as session:
        found = await cohorts.decision_eligible_cohorts(session, limit)
    return [c.cohort_number for c in found]


async def test_decision_window_is_the_newest_cohorts(ctx: Context, clock: FrozenClock) -> None:
    ids = await start_weeks(ctx, clock, 7)
    assert await eligible(ctx) == [7, 6, 5, 4, 3]
    assert await eligible(ctx, limit=1) == [7]
    async with ctx.db.write() as session:
        assert await cohorts.archive_cohorts(session, [ids[4]], "test", clock.now()) == 1
        assert await cohorts.archive_cohorts(session, [ids[4]], "test", clock.now()) == 0
        await session.execute(update(Cohort).where(Cohort.id == ids[5]).values(status="completed"))
    assert await eligible(ctx) == [7, 4, 3]  # no back-fill from older cohorts


async def test_no_cohorts_no_eligibility(ctx: Context) -> None:
    assert await eligible(ctx) == []


async def add_decision(ctx: Context, cohort_id: str, clock: FrozenClock) -> str:
    async with ctx.db.write() as session:
        agent = (
            await session.scalars(select(Agent).where(Agent.cohort_id == cohort_id).limit(1))
        ).one()
        session.add(
            Decision(
                id=f"d-{cohort_id}",
                agent_id=agent.id,
                cohort_id=cohort_id,
                decision_week=1,
                decision_timestamp=clock.now(),
                prompt_system="s",
                prompt_user="u",
                action="HOLD",
            )
        )
        return agent.id


async def test_completion_waits_for_the_end_of_the_decision_window(
    ctx: Context, clock: FrozenClock
) -> None:
    ids = await start_weeks(ctx, clock, 7)
    for cohort_id in ids:
        await add_decision(ctx, cohort_id, clock)
    # Cohort 2 still holds a position; cohorts 3-7 are inside the window of 5.
    async with ctx.db.write() as session:
        session.add(Market(id="m1", polymarket_id="p1", question="q", close_date=clock.now()))
        agent = (await session.scalars(select(Agent).where(Agent.cohort_id == ids[1]))).first()
        assert agent is not None
        await session.flush()
        session.add(
            Position(
                id="p1",
                agent_id=agent.id,
                market_id="m1",
                side="YES",
                shares=1,
                avg_entry_price=0.5,
                total_cost=0.5,
            )
        )
    assert await cohorts.check_cohorts(ctx) == 1
    async with ctx.db.read() as session:
        statuses = {
            c.cohort_number: (c.status, c.completed_at)
            for c in (await session.scalars(select(Cohort))).all()
        }
    assert statuses[1] == ("completed", clock.now())
    assert all(statuses[n][0] == "active" for n in range(2, 8))
    assert await logs(ctx, "cohort_completed") == [
        {"severity": "info", "cohort_id": ids[0], "cohort_number": 1}
    ]
    assert await cohorts.check_cohorts(ctx) == 0


async def test_a_cohort_without_decisions_never_completes(ctx: Context, clock: FrozenClock) -> None:
    await start_weeks(ctx, clock, 7)
    assert await cohorts.check_cohorts(ctx) == 0


async def test_archiving_a_methodology(ctx: Context, clock: FrozenClock) -> None:
    ids = await start_weeks(ctx, clock, 2)
    async with ctx.db.write() as session:
        await session.execute(
            update(Cohort).where(Cohort.id == ids[0]).values(methodology_version="v1")
        )
        changed = await cohorts.archive_methodology(session, "v1", "historical v1", clock.now())
    assert changed == 1
    async with ctx.db.read() as session:
        archived = await session.get(Cohort, ids[0])
    assert archived is not None
    assert (archived.is_archived, archived.archive_reason) == (1, "historical v1")
    assert await eligible(ctx) == [2]


async def test_agents_use_the_family_id_when_no_legacy_model_exists(ctx: Context) -> None:
    async with ctx.db.read() as session:
        family = await session.get(ModelFamily, "openai-gpt")
    assert cohorts._legacy_id(family, "openai-gpt") == "gpt-5.1"
    assert cohorts._legacy_id(None, "new-family") == "new-family"
