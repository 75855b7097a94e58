"""Arena CLI commands: `arenabrain sync-markets`, `start-cohort`, `check-model-lineup`,
`markets`, `run-decisions`, `check-resolutions`, `take-snapshots`. Each calls the same function
as its cron route (or public read route). `commands` is a Typer app that `cli.py` adds to
`arenabrain`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from arenabrain.arena import cohorts, lineup, markets, read_models, resolution, snapshots
from arenabrain.arena.decisions import engine as decisions
from arenabrain.console import JsonFlag, run_with_context, show
from arenabrain.context import Context
from arenabrain.errors import AppError

commands = typer.Typer()
MARKET_COLUMNS = ("polymarket_id", "question", "status", "current_price", "volume")


def run(job: Callable[[Context], Awaitable[Any]], json_out: bool, **options: Any) -> Any:
    """Run a job; an `AppError` is printed as `{"error": ...}` and exits with code 1."""
    try:
        result = run_with_context(job)
    except AppError as exc:
        show({"error": exc.message, "statusCode": exc.status_code}, json_out)
        raise typer.Exit(1) from None
    show(result, json_out, **options)
    return result


@commands.command("sync-markets")
def sync_markets_cmd(json_out: JsonFlag = False) -> None:
    """Sync the top Polymarket markets now and refresh the ones that matter."""
    run(markets.sync_markets, json_out)


@commands.command("start-cohort")
def start_cohort_cmd(
    force: Annotated[
        bool, typer.Option("--force", help="Start this week's cohort on any day.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Start this week's cohort (only on Sunday before 01:00 UTC unless --force)."""

    async def job(ctx: Context) -> dict[str, Any]:
        return await cohorts.start_cohort(ctx, force=force)

    if not run(job, json_out).get("success"):
        raise typer.Exit(1)


@commands.command("check-model-lineup")
def check_model_lineup_cmd(json_out: JsonFlag = False) -> None:
    """Check OpenRouter for newer model releases and store a review for an admin."""
    run(lineup.check_model_lineup, json_out)


@commands.command("markets")
def markets_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many.")] = 20,
    status: Annotated[str, typer.Option("--status", help="active, closed, resolved or all.")] = (
        "active"
    ),
    search: Annotated[str | None, typer.Option("--search", help="Words in the question.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List stored markets, highest volume first (what GET /api/markets serves)."""
    query = {"limit": str(limit), "status": status, "search": search}

    async def job(ctx: Context) -> Any:
        return await read_models.get_markets(ctx, query)

    page = run_with_context(job)
    if json_out:
        show(page, True)
        return
    show(page["markets"], False, columns=MARKET_COLUMNS, title=f"{page['total']} markets")


@commands.command("run-decisions")
def run_decisions_cmd(json_out: JsonFlag = False) -> None:
    """Ask every agent of the decision-eligible cohorts for this week's decision and trade it."""
    if not run(decisions.run_decisions, json_out).get("success"):
        raise typer.Exit(1)


@commands.command("check-resolutions")
def check_resolutions_cmd(json_out: JsonFlag = False) -> None:
    """Settle the markets Polymarket has resolved, refund cancelled ones, complete cohorts."""
    run(resolution.check_resolutions, json_out)


@commands.command("take-snapshots")
def take_snapshots_cmd(json_out: JsonFlag = False) -> None:
    """Mark every open position to market and record this 10-minute portfolio snapshot."""
    run(snapshots.take_snapshots, json_out)
