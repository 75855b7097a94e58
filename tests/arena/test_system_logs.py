"""The `system_logs` catalog (§16): each error event is caused for real by the code that does
the work, carries the catalog's severity and keys, and is listed by the runbook's §4.3 query
(run verbatim with the `sqlite3` CLI)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from arenabrain.arena import (
    admin,
    backups,
    cohorts,
    lineup,
    markets,
    pricing,
    resolution,
    snapshots,
)
from arenabrain.arena.decisions import engine, loading
from arenabrain.arena.decisions.parser import Bet
from arenabrain.arena.execution.trades import execute_bets
from arenabrain.arena.models import BenchmarkConfig, Market, SystemLog
from arenabrain.arena.schemas.admin import ActionIn
from arenabrain.arena.system_logs import CATALOG
from arenabrain.clock import FrozenClock
from arenabrain.context import Context
from arenabrain.errors import AppError
from arenabrain.sandbox import Sandbox
from arenabrain.sandbox.openrouter import openrouter_state
from arenabrain.sandbox.polymarket import inject_failure, polymarket_state, resolve_market
from tests.arena.decisions.support import SUNDAY, chat_ready, load_world_markets, seed_cohort

RECENT_ERRORS = """
  SELECT severity, event_type, created_at
  FROM system_logs
  WHERE severity = 'error'
  ORDER BY created_at DESC
  LIMIT 50;
"""

Driver = Callable[[Context, Sandbox, pytest.MonkeyPatch], Awaitable[None]]


async def no_sleep(_seconds: float) -> None:
    return None


async def gamma_down(ctx: Context, sandbox: Sandbox) -> None:
    inject_failure(sandbox.world, "gamma", "/markets", status=502, times=3)


async def decision_week(ctx: Context, sandbox: Sandbox) -> dict[str, Any]:
    ctx.clock.set(SUNDAY + timedelta(minutes=5))  # type: ignore[attr-defined]
    knobs = chat_ready(sandbox)
    await seed_cohort(ctx)
    await load_world_markets(ctx, sandbox)
    return knobs


class Boom(RuntimeError):
    pass


def boom(*_args: Any, **_kwargs: Any) -> Any:
    raise Boom("disk I/O error")


# --- drivers: each causes its event the way production would meet it -------------------------


async def sync_against_a_gamma_outage(ctx: Context, sandbox: Sandbox, _mp: Any) -> None:
    await gamma_down(ctx, sandbox)
    with pytest.raises(AppError):
        await markets.sync_markets(ctx)


async def start_without_a_default_config(ctx: Context, _sandbox: Sandbox, _mp: Any) -> None:
    async with ctx.db.write() as session:
        await session.execute(update(BenchmarkConfig).values(is_default_for_future_cohorts=0))
    assert (await cohorts.start_cohort(ctx, force=True))["success"] is False


async def start_when_the_database_fails(
    ctx: Context, _sandbox: Sandbox, mp: pytest.MonkeyPatch
) -> None:
    mp.setattr(cohorts, "start_new_cohort", boom)
    with pytest.raises(Boom):
        await cohorts.start_cohort(ctx, force=True)


async def every_model_call_fails(ctx: Context, sandbox: Sandbox, _mp: Any) -> None:
    knobs = await decision_week(ctx, sandbox)
    knobs["fail"] = True
    assert (await engine.run_decisions(ctx))["success"] is False


async def markets_cannot_be_loaded(ctx: Context, sandbox: Sandbox, mp: pytest.MonkeyPatch) -> None:
    await decision_week(ctx, sandbox)
    mp.setattr(loading, "top_markets", boom)
    with pytest.raises(Boom):
        await engine.run_decisions(ctx)


async def a_cohort_cannot_be_loaded(ctx: Context, sandbox: Sandbox, mp: pytest.MonkeyPatch) -> None:
    await decision_week(ctx, sandbox)
    mp.setattr(loading, "decision_agents", boom)
    await engine.run_decisions(ctx)


async def a_position_cannot_be_settled(
    ctx: Context, sandbox: Sandbox, mp: pytest.MonkeyPatch
) -> None:
    [market_id] = await load_world_markets(ctx, sandbox, count=1)
    cohort = await seed_cohort(ctx)
    async with ctx.db.read() as session:
        market = await session.get(Market, market_id)
    assert market is not None
    side = "YES" if market.market_type == "binary" else json.loads(market.outcomes or "[]")[0]
    prices = await pricing.fetch_side_prices(ctx, [market])
    async with ctx.db.write() as session:
        await execute_bets(
            session,
            agent_id=cohort.agent_ids[0],
            decision_id=None,
            lineage=None,
            bets=[Bet(market_id, side, Decimal(100), None)],
            prices=prices,
            now=ctx.clock.now(),
        )
    sim = polymarket_state(sandbox.world).markets[market.polymarket_id]
    resolve_market(sandbox.world, sim.id, sim.outcomes[0])
    await markets.sync_markets(ctx)
    mp.setattr(resolution, "settle_position", boom)
    assert (await resolution.check_resolutions(ctx))["errors"] == 1


async def the_resolution_check_fails(
    ctx: Context, _sandbox: Sandbox, mp: pytest.MonkeyPatch
) -> None:
    mp.setattr(resolution, "markets_to_check", boom)
    with pytest.raises(Boom):
        await resolution.check_resolutions(ctx)


async def the_snapshot_run_fails(ctx: Context, _sandbox: Sandbox, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(snapshots, "tracked_agents", boom)
    with pytest.raises(Boom):
        await snapshots.take_snapshots(ctx)


async def the_backup_fails(ctx: Context, _sandbox: Sandbox, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(backups, "create_backup", boom)
    with pytest.raises(Boom):
        await backups.backup(ctx)


async def a_bet_on_an_unknown_market(ctx: Context, sandbox: Sandbox, _mp: Any) -> None:
    knobs = await decision_week(ctx, sandbox)
    bet = {"market_id": "nope", "side": "YES", "amount": 60}
    answer = json.dumps({"action": "BET", "bets": [bet], "reasoning": "r"})
    knobs["scripts"] = {model: [answer] for model in await lineup_models(ctx)}
    await engine.run_decisions(ctx)


async def lineup_models(ctx: Context) -> list[str]:
    from arenabrain.arena.models import Agent, BenchmarkConfigModel

    async with ctx.db.read() as session:
        rows = await session.scalars(
            select(BenchmarkConfigModel.openrouter_id_snapshot).join(
                Agent, Agent.benchmark_config_model_id == BenchmarkConfigModel.id
            )
        )
        return list(rows.all())


async def an_admin_action_fails(ctx: Context, sandbox: Sandbox, _mp: Any) -> None:
    await gamma_down(ctx, sandbox)
    with pytest.raises(AppError):
        await admin.run_action(ctx, ActionIn(action="sync-markets"))


async def the_model_catalog_is_down(ctx: Context, sandbox: Sandbox, _mp: Any) -> None:
    openrouter_state(sandbox.world)["down"] = True
    with pytest.raises(AppError):
        await lineup.check_model_lineup(ctx)


ERROR_EVENTS: dict[str, Driver] = {
    "market_sync_error": sync_against_a_gamma_outage,
    "cohort_start_error": start_without_a_default_config,
    "start_cohort_error": start_when_the_database_fails,
    "decisions_run_failed": every_model_call_fails,
    "decisions_run_error": markets_cannot_be_loaded,
    "cohort_decisions_error": a_cohort_cannot_be_loaded,
    "agent_decision_error": every_model_call_fails,
    "agent_decision_execution_failed": a_bet_on_an_unknown_market,
    "trade_error": a_bet_on_an_unknown_market,
    "admin_action_error": an_admin_action_fails,
    "admin_model_lineup_review_failed": the_model_catalog_is_down,
    "market_resolution_partial_failure": a_position_cannot_be_settled,
    "check_resolutions_error": the_resolution_check_fails,
    "take_snapshots_error": the_snapshot_run_fails,
    "backup_error": the_backup_fails,
}


def test_every_error_event_of_the_catalog_is_driven_here() -> None:
    errors = {name for name, spec in CATALOG.items() if "error" in spec.severity}
    assert errors == set(ERROR_EVENTS)


def sqlite3_rows(db: Path, sql: str) -> list[list[str]]:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line tool is not installed")
    done = subprocess.run(
        ["sqlite3", str(db), sql], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stderr == ""
    return [line.split("|") for line in done.stdout.splitlines() if line]


@pytest.mark.parametrize("event_type", sorted(ERROR_EVENTS))
async def test_error_event_is_emitted_with_its_severity_and_keys(
    ctx: Context,
    sandbox: Sandbox,
    clock: FrozenClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    event_type: str,
) -> None:
    await ERROR_EVENTS[event_type](ctx, sandbox, monkeypatch)

    async with ctx.db.read() as session:
        rows = (
            await session.scalars(select(SystemLog).where(SystemLog.event_type == event_type))
        ).all()
        every = (await session.scalars(select(SystemLog))).all()
    assert rows, f"{event_type} was not logged"
    spec = CATALOG[event_type]
    for row in rows:
        data = json.loads(row.event_data or "{}")
        assert spec.accepts(row.severity, set(data)), (row.severity, sorted(data))
    # Every other event the scenario wrote is in the catalog too, with its shape.
    for row in every:
        assert row.event_type in CATALOG, row.event_type
        assert CATALOG[row.event_type].accepts(row.severity, set(json.loads(row.event_data))), (
            row.event_type
        )
    listed = sqlite3_rows(db_path, RECENT_ERRORS)
    assert ["error", event_type] in [line[:2] for line in listed]
