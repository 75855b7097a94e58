"""The runbook's decision SQL (sections 5.3, 5.4, 7.1, 7.2), run verbatim with the `sqlite3`
CLI against the service's database file after a sandbox decision run.

The runbook compares timestamps with SQLite's `datetime('now', ...)`, the real current time, so
this test puts the frozen clock at the real current second (the only wall-clock read)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.arena.decisions.support import chat_ready, load_world_markets, seed_cohort

from arenabrain.arena.decisions import claims
from arenabrain.arena.decisions.engine import run_decisions
from arenabrain.arena.weeks import week_start
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.sandbox import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 CLI")

DECISION_COVERAGE = """
  SELECT cohort_id, decision_week, COUNT(*) AS decisions
  FROM decisions
  WHERE decision_timestamp > datetime('now', '-24 hours')
  GROUP BY cohort_id, decision_week
  ORDER BY decision_timestamp DESC;
"""
TRADES_RECORDED = """
  SELECT d.id, d.action, COUNT(t.id) AS trades
  FROM decisions d
  LEFT JOIN trades t ON t.decision_id = d.id
  WHERE d.decision_timestamp > datetime('now', '-24 hours')
  GROUP BY d.id, d.action
  ORDER BY d.decision_timestamp DESC;
"""
IN_PROGRESS = """
SELECT id, agent_id, cohort_id, decision_week, decision_timestamp
FROM decisions
WHERE action = 'ERROR'
  AND error_message = '__IN_PROGRESS__'
ORDER BY decision_timestamp DESC;
"""
DUPLICATE_DECISIONS = """
SELECT agent_id, cohort_id, decision_week, COUNT(*) AS cnt
FROM decisions
GROUP BY agent_id, cohort_id, decision_week
HAVING COUNT(*) > 1;
"""
DUPLICATE_COHORTS = """
SELECT started_at, COUNT(*) AS cnt
FROM cohorts
GROUP BY started_at
HAVING COUNT(*) > 1;
"""


def sqlite3(db: Path, sql: str) -> list[list[str]]:
    done = subprocess.run(
        ["sqlite3", str(db), sql], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stderr == ""
    return [line.split("|") for line in done.stdout.splitlines() if line]


async def test_runbook_decision_sql_after_a_sandbox_week(
    ctx: Context, sandbox: Sandbox, clock: FrozenClock, db_path: Path
) -> None:
    clock.set(datetime.now(UTC).replace(microsecond=0))
    knobs = chat_ready(sandbox)
    knobs["styles"] = {}
    cohort = await seed_cohort(ctx, started_at=week_start(clock.now()))
    await load_world_markets(ctx, sandbox)
    # One agent's bet names a market the database does not know: a BET with zero trades.
    knobs["scripts"] = {
        cohort.models[cohort.agent_ids[0]]: [
            '{"action": "BET", "bets": [{"market_id": "nope", "side": "YES", "amount": 60}], "reasoning": "r"}'
        ]
    }
    body = await run_decisions(ctx)
    assert body["total_agents"] == 7

    # 5.3: one row per active agent in each decision-eligible cohort, no duplicates.
    assert sqlite3(db_path, DECISION_COVERAGE) == [["cohort-1", "1", "7"]]

    # 5.4: HOLD rows have no trades; BET/SELL rows have trades unless execution failed.
    rows = sqlite3(db_path, TRADES_RECORDED)
    assert len(rows) == 7
    results = {d["decision_id"]: d for d in body["results"][0]["decisions"]}
    for decision_id, action, trades in rows:
        assert action == results[decision_id]["action"]
        if action == "HOLD":
            assert trades == "0"
        elif results[decision_id]["success"]:
            assert int(trades) >= 1
        else:
            assert trades == "0"  # retryable: the next run asks again
    assert ["BET", "0"] in [row[1:] for row in rows]

    # 7.1: nothing is in progress once the run is over; a fresh claim shows up.
    assert sqlite3(db_path, IN_PROGRESS) == []
    claim = await claims.claim_decision(
        ctx.db, agent_id=cohort.agent_ids[1], cohort_id=cohort.id, decision_week=2, now=clock.now()
    )
    [row] = sqlite3(db_path, IN_PROGRESS)
    assert row[:4] == [claim.decision_id, cohort.agent_ids[1], cohort.id, "2"]

    # 7.2: no duplicate decision rows and no duplicate cohorts, also after a re-run.
    await run_decisions(ctx)
    assert sqlite3(db_path, DUPLICATE_DECISIONS) == []
    assert sqlite3(db_path, DUPLICATE_COHORTS) == []
    assert sorted(sqlite3(db_path, DECISION_COVERAGE)) == [
        ["cohort-1", "1", "7"],
        ["cohort-1", "2", "1"],
    ]
