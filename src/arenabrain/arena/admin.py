"""The admin's operations page (§12.3): headline stats, the event log, what the models cost, and
the jobs an admin may run by hand (`POST /api/admin/action`).

Costs come from the decisions' recorded costs (every model call a decision made, retries
included), grouped by the family the decision was made for and by cohort. Actions call the same
functions as the cron routes; each success logs its `admin_*` event, and an action that throws
logs `admin_action_error` and lets the error through to the one error mapping (which hides 5xx
detail in production)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Float, Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena import cohorts, markets
from arenabrain.arena.benchmark import active_families
from arenabrain.arena.models import Agent, Cohort, Decision, Market, SystemLog
from arenabrain.arena.schemas.admin import ActionIn, LogsQuery
from arenabrain.arena.system_logs import Severity, log_event
from arenabrain.arena.wire import iso, row_dict
from arenabrain.context import Context
from arenabrain.db import backup
from arenabrain.errors import AppError

UNKNOWN_ACTION = "Unknown action"


# --- stats and logs ---------------------------------------------------------------------------


async def admin_stats(ctx: Context) -> dict[str, Any]:
    """Active cohorts, agents, markets tracked and the total recorded model cost."""
    async with ctx.db.read() as session:
        active = await session.scalar(
            select(func.count())
            .select_from(Cohort)
            .where(Cohort.status == "active", Cohort.is_archived == 0)
        )
        agents = await session.scalar(select(func.count()).select_from(Agent))
        tracked = await session.scalar(select(func.count()).select_from(Market))
        cost = await session.scalar(select(func.coalesce(func.sum(Decision.api_cost_usd), 0.0)))
    return {
        "active_cohorts": active or 0,
        "total_agents": agents or 0,
        "markets_tracked": tracked or 0,
        "total_api_cost": float(cost or 0.0),
        "updated_at": iso(ctx.clock.now()),
    }


async def admin_logs(ctx: Context, query: LogsQuery) -> dict[str, Any]:
    """The newest `system_logs` rows, of one severity or all."""
    statement = select(SystemLog).order_by(SystemLog.created_at.desc(), SystemLog.id.desc())
    if query.severity != "all":
        statement = statement.where(SystemLog.severity == query.severity)
    async with ctx.db.read() as session:
        logs = (await session.scalars(statement.limit(query.limit))).all()
    return {"logs": [row_dict(log) for log in logs], "updated_at": iso(ctx.clock.now())}


# --- costs ------------------------------------------------------------------------------------


def _totals(*group: Any) -> Any:
    """Cost, tokens and decision count per `group` (every decision row, in progress included)."""
    return select(
        *group,
        cast(func.coalesce(func.sum(Decision.api_cost_usd), 0.0), Float).label("total_cost"),
        cast(func.coalesce(func.sum(Decision.tokens_input), 0), Integer).label("input"),
        cast(func.coalesce(func.sum(Decision.tokens_output), 0), Integer).label("output"),
        func.count(Decision.id).label("decisions"),
    )


def _figures(row: Any) -> dict[str, Any]:
    return {
        "total_cost": float(row.total_cost) if row is not None else 0.0,
        "total_input_tokens": int(row.input) if row is not None else 0,
        "total_output_tokens": int(row.output) if row is not None else 0,
        "decision_count": int(row.decisions) if row is not None else 0,
    }


async def _family_costs(session: AsyncSession) -> list[dict[str, Any]]:
    # A decision counts for the family it was made for, else its agent's (older rows).
    family = func.coalesce(Decision.family_id, Agent.family_id).label("family")
    statement = _totals(family).join(Agent, Agent.id == Decision.agent_id).group_by(family)
    by_family = {row.family: row for row in (await session.execute(statement)).all()}
    return [
        {
            "family_slug": f.slug,
            "family_id": f.id,
            "legacy_model_id": f.legacy_model_id,
            "model_name": f.public_display_name,
            "color": f.color,
            **_figures(by_family.get(f.id)),
        }
        for f in await active_families(session)
    ]


async def _cohort_costs(session: AsyncSession) -> list[dict[str, Any]]:
    statement = _totals(Decision.cohort_id).group_by(Decision.cohort_id)
    by_cohort = {row.cohort_id: row for row in (await session.execute(statement)).all()}
    every = (
        await session.execute(
            select(Cohort.id, Cohort.cohort_number).order_by(Cohort.cohort_number.desc())
        )
    ).all()
    return [
        {"cohort_id": cid, "cohort_number": number, **_figures(by_cohort.get(cid))}
        for cid, number in every
    ]


async def admin_costs(ctx: Context) -> dict[str, Any]:
    """Recorded model costs per active family and per cohort, and the totals of every decision."""
    async with ctx.db.read() as session:
        by_family = await _family_costs(session)
        by_cohort = await _cohort_costs(session)
        overall = _figures((await session.execute(_totals())).one())
    decisions = overall["decision_count"]
    return {
        "costs_by_model": by_family,
        "costs_by_cohort": by_cohort,
        "summary": {
            "total_cost": overall["total_cost"],
            "total_input_tokens": overall["total_input_tokens"],
            "total_output_tokens": overall["total_output_tokens"],
            "total_decisions": decisions,
            "avg_cost_per_decision": overall["total_cost"] / decisions if decisions else 0.0,
        },
        "updated_at": iso(ctx.clock.now()),
    }


# --- actions ----------------------------------------------------------------------------------


async def _log(ctx: Context, event: str, data: dict[str, Any], severity: Severity = "info") -> None:
    async with ctx.db.write() as session:
        await log_event(session, event, data, severity, ctx.clock.now())


async def _start_cohort(ctx: Context, force: bool) -> dict[str, Any]:
    started = (await cohorts.maybe_start_cohort(ctx, force)).body()
    if started["success"]:
        await _log(
            ctx,
            "admin_start_cohort",
            {
                "cohort_number": started["cohort_number"],
                "agents_created": started["agents_created"],
            },
        )
    return started


async def _sync_markets(ctx: Context, _force: bool) -> dict[str, Any]:
    synced = await markets.sync_markets(ctx)
    counts = {key: synced[key] for key in ("markets_added", "markets_updated")}
    await _log(ctx, "admin_sync_markets", counts)
    return {"success": True, **counts}


async def _check_cohorts(ctx: Context, _force: bool) -> dict[str, Any]:
    completed = await cohorts.check_cohorts(ctx)
    await _log(ctx, "admin_check_cohorts", {"cohorts_checked": completed})
    return {"success": True, "cohorts_completed": completed}


async def _backup(ctx: Context, _force: bool) -> dict[str, Any]:
    try:
        made = await backup.create_backup(ctx)
    except backup.BackupUnsupported as exc:  # PostgreSQL: the cron route's 400 and pg_dump hint
        raise AppError(str(exc)) from exc
    await _log(ctx, "admin_backup", {"backup_path": made.path})
    return {"success": True, "backup_path": made.path}


ACTIONS: dict[str, Callable[[Context, bool], Awaitable[dict[str, Any]]]] = {
    "start-cohort": _start_cohort,
    "sync-markets": _sync_markets,
    "check-cohorts": _check_cohorts,
    "backup": _backup,
}


async def run_action(ctx: Context, body: ActionIn) -> dict[str, Any]:
    """Run one admin action now: start-cohort (`force: true` any day), sync-markets,
    check-cohorts or backup."""
    action = ACTIONS.get(body.action or "")
    if action is None:
        raise AppError(UNKNOWN_ACTION)
    try:
        return await action(ctx, body.force is True)
    except AppError as exc:
        if exc.status_code >= 500:
            await _log(ctx, "admin_action_error", {"error": exc.message}, "error")
        raise
    except Exception as exc:
        await _log(ctx, "admin_action_error", {"error": str(exc) or type(exc).__name__}, "error")
        raise
