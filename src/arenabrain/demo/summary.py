"""The demo's closing summary: the leaderboard with its intervals and the market baseline, each
cohort's state, the CreditBrain runs, read back from the database through the same read models
the API serves; and its rendering as Rich tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from arenabrain.arena.read_models.leaderboard import get_leaderboard
from arenabrain.context import Context
from arenabrain.credits import runs
from arenabrain.credits.schemas import RunView, StatsView
from arenabrain.demo.simulation import Happenings, plural, short

# Per cohort: its decisions, trades and positions (the read models give the rest).
_COHORT_COUNTS = text(
    "SELECT c.id, "
    "(SELECT COUNT(*) FROM decisions d WHERE d.cohort_id = c.id) AS decisions, "
    "(SELECT COUNT(*) FROM trades t JOIN agents a ON a.id = t.agent_id "
    " WHERE a.cohort_id = c.id) AS trades, "
    "(SELECT COUNT(*) FROM positions p JOIN agents a ON a.id = p.agent_id "
    " WHERE a.cohort_id = c.id AND p.status = 'open') AS open_positions, "
    "(SELECT COUNT(*) FROM positions p JOIN agents a ON a.id = p.agent_id "
    " WHERE a.cohort_id = c.id AND p.status <> 'open') AS closed_positions "
    "FROM cohorts c"
)
_ALLOCATIONS = text("SELECT run_id, COUNT(*) AS n FROM allocation_snapshots GROUP BY run_id")
_TOTALS = text(
    "SELECT (SELECT COUNT(*) FROM decisions) AS decisions, "
    "(SELECT COUNT(*) FROM trades) AS trades, "
    "(SELECT COUNT(*) FROM portfolio_snapshots) AS snapshots, "
    "(SELECT COUNT(*) FROM markets) AS markets, "
    "(SELECT COUNT(*) FROM markets WHERE status = 'resolved') AS resolved_markets, "
    "(SELECT COUNT(*) FROM positions WHERE status = 'settled') AS settled_positions, "
    "(SELECT COUNT(*) FROM usage_snapshots) AS usage_snapshots, "
    "(SELECT COUNT(*) FROM user_keys) AS keys"
)


RUN_ROWS = 8  # runs listed in the table (the first and the last half)


@dataclass
class Summary:
    leaderboard: list[dict[str, Any]]  # families by P/L, then the market baseline row
    cohorts: list[dict[str, Any]]  # newest first, with decisions, trades and positions
    runs: list[RunView]  # oldest first
    allocations: dict[str, int]  # run id -> holders allocated
    stats: StatsView
    totals: dict[str, int]


async def gather_summary(ctx: Context) -> Summary:
    board = await get_leaderboard(ctx)
    async with ctx.db.read() as session:
        counts = {row.id: row._asdict() for row in await session.execute(_COHORT_COUNTS)}
        allocations = {row.run_id: int(row.n) for row in await session.execute(_ALLOCATIONS)}
        totals = dict((await session.execute(_TOTALS)).one()._asdict())
    cohorts = [{**cohort, **counts.get(cohort["id"], {})} for cohort in board["cohorts"]]
    listed = await runs.list_runs(ctx, limit=1000)
    return Summary(
        leaderboard=board["leaderboard"],
        cohorts=cohorts,
        runs=list(reversed(listed)),
        allocations=allocations,
        stats=await runs.run_stats(ctx),
        totals={name: int(value or 0) for name, value in totals.items()},
    )


# --- rendering ------------------------------------------------------------------------------------


def interval(estimate: dict[str, Any] | None, digits: int = 2) -> tuple[str, str]:
    """An estimate's value and its `[low, high]` interval (`–` when there is no estimate)."""
    if not estimate or estimate.get("value") is None:
        return "–", ""
    value = f"{estimate['value']:.{digits}f}"
    if estimate.get("low") is None or estimate.get("high") is None:
        return value, ""
    return value, f"[{estimate['low']:.{digits}f}, {estimate['high']:.{digits}f}]"


def _table(title: str, *columns: str) -> Table:
    """A compact table; columns named with a leading `<` are left-aligned, the rest right."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        left = column.startswith("<")
        table.add_column(column.lstrip("<"), justify="left" if left else "right", no_wrap=True)
    return table


def leaderboard_table(summary: Summary) -> Table:
    table = _table(
        "Leaderboard, best first (intervals: 95% bootstrap)",
        "<model",
        "P/L $",
        "P/L %",
        "<interval",
        "Brier",
        "<interval",
        "bets",
    )
    for row in summary.leaderboard:
        if row["kind"] == "market_baseline":
            brier = row["brier"]
            table.add_row(
                row["display_name"], "", "", "", *interval(brier), str(brier.get("n") or 0)
            )
            continue
        brier = row["forecasting"]["scoring"]["brier"]
        table.add_row(
            row["display_name"],
            f"{row['total_pnl']:+,.0f}",
            *interval(row["pnl_percent"], 1),
            *interval(brier),
            str(brier.get("n") or 0),
        )
    table.caption = "P/L % per cohort; Brier score of the p_yes of resolved bets (lower is better)"
    return table


def cohorts_table(summary: Summary) -> Table:
    table = _table(
        "Cohorts",
        "#",
        "<started",
        "<status",
        "models",
        "decisions",
        "trades",
        "open",
        "closed",
    )
    for cohort in summary.cohorts:
        table.add_row(
            str(cohort["cohort_number"]),
            _day(cohort["started_at"]),
            str(cohort["status"]),
            str(cohort["num_agents"]),
            str(cohort.get("decisions", 0)),
            str(cohort.get("trades", 0)),
            str(cohort.get("open_positions", 0)),
            str(cohort.get("closed_positions", 0)),
        )
    return table


def _day(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return f"{moment:%a %d %b}"


def _amount(value: Any, digits: int) -> str:
    return f"{float(value or 0):,.{digits}f}"


def runs_table(summary: Summary) -> Table:
    table = _table(
        "CreditBrain runs",
        "<started",
        "<state",
        "SOL",
        "USDC",
        "$ alloc.",
        "holders",
        "keys",
        "top-ups",
    )
    shown: list[RunView | None] = list(summary.runs)
    if len(shown) > RUN_ROWS:  # the first and the last, the totals say the rest
        shown = [*shown[: RUN_ROWS // 2], None, *shown[-(RUN_ROWS // 2) :]]
    for run in shown:
        if run is None:
            table.add_row("…", f"{len(summary.runs) - RUN_ROWS // 2 * 2} more", *[""] * 6)
            continue
        table.add_row(
            f"{run.started_at:%a %d %b}",
            run.state if run.error is None else f"{run.state} {run.error.code}",
            _amount(run.claimed_sol, 3),
            _amount(run.swapped_usdc, 2),
            _amount(run.allocated_usd, 2),
            str(summary.allocations.get(run.run_id, 0)),
            str(run.keys_provisioned),
            str(run.keys_updated),
        )
    return table


def render_summary(console: Console, summary: Summary, story: Happenings, wall_s: float) -> None:
    totals, stats = summary.totals, summary.stats
    weeks = (story.end - story.start).days // 7
    console.rule(
        f"[bold]{weeks} simulated week{'s' if weeks != 1 else ''} "
        f"({story.start:%a %d %b %Y} → {story.end:%a %d %b %Y}) in {wall_s:.1f} s"
    )
    console.print(leaderboard_table(summary))
    console.print(cohorts_table(summary))
    console.print(
        f"Arena: {totals['decisions']} decisions, {totals['trades']} trades, "
        f"{totals['snapshots']} portfolio snapshots; {totals['resolved_markets']} of "
        f"{totals['markets']} markets resolved, {plural(totals['settled_positions'], 'position')} "
        "settled; "
        f"{plural(len(story.backups), 'backup')}.\n"
    )
    console.print(runs_table(summary))
    console.print(
        f"CreditBrain: {stats.completed_runs} of {stats.total_runs} runs complete, "
        f"{_amount(stats.total_claimed_sol, 3)} SOL claimed, "
        f"{_amount(stats.total_swapped_usdc, 2)} USDC swapped, "
        f"${_amount(stats.total_allocated_usd, 2)} allocated; {totals['keys']} holder keys "
        f"({stats.total_keys_updated} top-ups), {totals['usage_snapshots']} usage readings. "
        f"Allocations stay within the ${story.pool_credits:,.0f} of OpenRouter credits the "
        "operator funded (less the reserve) and each key's cap."
    )
    if story.collected is not None:
        got = story.collected
        console.print(
            f"Holder {short(got.wallet)} collected its key {got.key_prefix}… with a wallet "
            f"signature on {got.collected_at:%a %d %b %H:%M} (spending limit "
            f"${got.spending_limit_usd})."
        )
    if story.failures:
        console.print(f"[yellow]{len(story.failures)} job runs failed (see the log):[/yellow]")
        for failure in story.failures[:5]:
            console.print(f"  {failure}")
