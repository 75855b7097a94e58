"""The CreditBrain runbook's CLI commands: `commands` is a Typer app that `cli.py` adds to
`arenabrain`.

Each command calls the same job as its HTTP route (the run commands go through the same
policy, lock and runner as POST /api/runs). Every command takes `--json`. Errors a user can
fix print one line to stderr and exit with code 1; so does a run that ends FAILED."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from arenabrain.clients.errors import UpstreamError
from arenabrain.console import JsonFlag, console, run_with_context, show
from arenabrain.context import Context
from arenabrain.credits import keys, pool, progress, rotation, runs, strategies
from arenabrain.credits.schemas import (
    RunStatus,
    RunView,
    StrategyCreate,
    StrategyUpdate,
    StrategyView,
)
from arenabrain.credits.wallets import wallet_problem
from arenabrain.errors import AppError

T = TypeVar("T")
commands = typer.Typer()

Id = Annotated[str, typer.Option("--id", help="Strategy id.")]
Distribution = Annotated[
    str | None,
    typer.Option(
        "--distribution",
        help="OWNER_ONLY, TOP_N_HOLDERS, EQUAL_SPLIT, WEIGHTED_BY_HOLDINGS or CUSTOM_LIST.",
    ),
]
TopN = Annotated[int | None, typer.Option("--top-n", help="Holders in TOP_N_HOLDERS mode.")]
KeyLimit = Annotated[str | None, typer.Option("--key-limit", help="Per-key limit in USD.")]
Reserve = Annotated[str | None, typer.Option("--reserve", help="Credit pool reserve, percent.")]
Threshold = Annotated[str | None, typer.Option("--threshold", help="Minimum claimable SOL.")]
Token = Annotated[
    str | None, typer.Option("--token", help="SPL mint whose holders receive credits.")
]
Schedule = Annotated[str | None, typer.Option("--schedule", help="Five-field cron (UTC).")]


def call(job: Callable[[Context], Awaitable[T]]) -> T:
    """Run a job; a user-fixable error becomes one line on stderr and exit code 1."""
    try:
        return run_with_context(job)
    except AppError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from None
    except UpstreamError as exc:
        print(f"Error: upstream failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def build(model: type[T], values: dict[str, Any]) -> T:
    try:
        return model.model_validate(  # type: ignore[attr-defined,no-any-return]
            {k: v for k, v in values.items() if v is not None}, by_name=True
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        print(f"Error: {problems}", file=sys.stderr)
        raise typer.Exit(1) from None


def number(value: str | None, flag: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        print(f"Error: {flag} must be a number (got {value!r})", file=sys.stderr)
        raise typer.Exit(1) from None


def strategy_fields(
    distribution: str | None,
    top_n: int | None,
    key_limit: str | None,
    reserve: str | None,
    threshold: str | None,
    token: str | None,
    schedule: str | None,
) -> dict[str, Any]:
    limit = number(key_limit, "--key-limit")
    return {
        "distribution": distribution,
        "distribution_top_n": top_n,
        "key_config": {"default_limit_usd": limit} if limit is not None else None,
        "credit_pool_reserve_pct": number(reserve, "--reserve"),
        "min_claim_threshold": number(threshold, "--threshold"),
        "distribution_token": token,
        "schedule": schedule,
    }


def print_fields(rows: Sequence[tuple[str, object]]) -> None:
    """Indented `Label: value` lines, values aligned; a row whose value is None is left out."""
    # The width counts every label, shown or not, so a block keeps one shape from run to run.
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        if value is not None:
            console.print(f"   {label + ':':<{width}}{value}", highlight=False)


def print_strategy(title: str, view: StrategyView, json_out: bool) -> None:
    if json_out:
        show(view, True)
        return
    console.print(title)
    print_fields(
        [
            ("ID", view.strategy_id),
            ("Owner", view.owner_wallet),
            ("Source", view.source),
            ("Status", view.status),
            ("Distribution", view.distribution),
            ("Token", view.distribution_token or "(not set)"),
            ("Key Limit", f"${view.key_config.default_limit_usd}/key"),
            ("Reserve", f"{view.credit_pool_reserve_pct:g}%"),
            ("Threshold", f"{view.min_claim_threshold} SOL"),
            ("Schedule", view.schedule),
        ]
    )


@commands.command("create-strategy")
def create_strategy_cmd(
    owner: Annotated[str, typer.Option("--owner", help="Owner wallet (the fee claimer).")],
    source: Annotated[
        str | None, typer.Option("--source", help="CLAIMABLE_POSITIONS or PARTNER_FEES.")
    ] = None,
    distribution: Distribution = None,
    top_n: TopN = None,
    key_limit: KeyLimit = None,
    reserve: Reserve = None,
    threshold: Threshold = None,
    token: Token = None,
    schedule: Schedule = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a strategy (unset options take the environment's defaults)."""
    fields = strategy_fields(distribution, top_n, key_limit, reserve, threshold, token, schedule)
    body = build(StrategyCreate, {"owner_wallet": owner, "source": source, **fields})
    view = call(lambda ctx: strategies.create_strategy(ctx, body))
    print_strategy("✅ Strategy created:", view, json_out)


@commands.command("list-strategies")
def list_strategies_cmd(json_out: JsonFlag = False) -> None:
    """List every strategy."""
    views = call(strategies.list_strategies)
    if json_out:
        show(views, True)
    elif not views:
        console.print("No strategies found. Create one with: arenabrain create-strategy")
    else:
        rows = [
            {
                "ID": v.strategy_id,
                "Owner": v.owner_wallet,
                "Status": v.status,
                "Distribution": v.distribution,
                "Schedule": v.schedule,
            }
            for v in views
        ]
        show(rows, False, title=f"📊 Strategies ({len(views)})")


@commands.command("update-strategy")
def update_strategy_cmd(
    strategy_id: Id,
    distribution: Distribution = None,
    top_n: TopN = None,
    key_limit: KeyLimit = None,
    reserve: Reserve = None,
    threshold: Threshold = None,
    token: Token = None,
    schedule: Schedule = None,
    status: Annotated[str | None, typer.Option("--status", help="ACTIVE or PAUSED.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Change some of a strategy's settings."""
    if status is not None and status not in ("ACTIVE", "PAUSED"):
        print("Error: --status must be ACTIVE or PAUSED", file=sys.stderr)
        raise typer.Exit(1)
    fields = strategy_fields(distribution, top_n, key_limit, reserve, threshold, token, schedule)
    body = build(StrategyUpdate, {**fields, "status": status})
    view = call(lambda ctx: strategies.update_strategy(ctx, strategy_id, body))
    print_strategy("✅ Strategy updated:", view, json_out)


@commands.command("delete-strategy")
def delete_strategy_cmd(strategy_id: Id, json_out: JsonFlag = False) -> None:
    """Delete a strategy (kept as deleted history when it has runs or keys)."""
    result = call(lambda ctx: strategies.delete_strategy(ctx, strategy_id))
    if json_out:
        show(result, True)
    else:
        kind = " (soft: its runs and keys stay readable)" if result.soft else ""
        console.print(f"✅ Strategy {strategy_id} deleted{kind}.")


def print_run(status: RunStatus, json_out: bool, *, audit: bool = True) -> None:
    """The run's state, times, figures and error; then (`audit`) its phase audit log as a
    table."""
    if json_out:
        show(status, True)
        return
    run = status.run
    finished = f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "(in progress)"
    skipped = run.bridging_skipped_reason
    mark = "✅" if run.state == "COMPLETE" else "❌" if run.state == "FAILED" else "⏳"
    console.print(f"{mark} Run {run.run_id}: {run.state}" + (" (dry run)" if run.dry_run else ""))
    print_fields(
        [
            ("Strategy", run.strategy_id),
            ("Started", f"{run.started_at:%Y-%m-%d %H:%M:%S}"),
            ("Finished", finished),
            *progress.summary(status),
            ("Bridged", f"${run.bridged_usdc} USDC" if run.bridged_usdc else None),
            ("Bridging", f"skipped: {skipped}" if skipped else None),
            ("Funded", f"${run.funded_usdc} credits" if run.funded_usdc else None),
            ("Error", f"{run.error.code}: {run.error.detail}" if run.error else None),
            ("Failed in", run.error.failed_state if run.error else None),
        ]
    )
    if audit:
        print_audit(status)


def print_audit(status: RunStatus) -> None:
    """The full phase audit log, oldest first, as a table (`--json` has every detail)."""
    table = Table(title=f"📋 Audit Log ({len(status.audit_log)} entries)", title_justify="left")
    for column in ("Time (UTC)", "Phase", "Action"):
        table.add_column(column, no_wrap=True)
    table.add_column("Details", overflow="fold")
    for entry in status.audit_log:
        details = dict(entry.details)
        if entry.tx_signature:
            details["txSignature"] = entry.tx_signature
        table.add_row(
            f"{entry.timestamp:%Y-%m-%d %H:%M:%S}", entry.phase, entry.action, brief(details)
        )
    # Piped or captured, a table is as wide as it needs to be, not the default 80 columns.
    (console if console.is_terminal else Console(width=240)).print(table)


def brief(details: dict[str, Any]) -> str:
    """`key=value` for the scalar details; lists and objects by their size."""
    parts = []
    for key, value in details.items():
        if key in ("fromPhase", "toPhase", "runId"):
            continue  # the row says so already
        if isinstance(value, list):
            parts.append(f"{key}=[{len(value)}]")
        elif isinstance(value, dict):
            parts.append(f"{key}={{{', '.join(map(str, value))}}}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


class Progress:
    """Shows a run phase by phase: a Rich live table on a terminal, else plain lines (on
    stderr with --json, so stdout stays one JSON document)."""

    def __init__(self, json_out: bool, out: Console | None = None) -> None:
        self.out = out or (Console(stderr=True) if json_out else console)
        self.live: Live | None = None
        if not json_out and self.out.is_terminal:
            self.live = Live(console=self.out, auto_refresh=False, transient=False)
        self.shown = 0

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, status: RunStatus) -> None:
        if self.live is not None:
            self.live.update(phase_table(status), refresh=True)
            return
        for line in progress.new_lines(status, self.shown):
            self.out.print(line, highlight=False, markup=False)
        self.shown = len(status.audit_log)


STYLES = {"done": "green", "skipped": "yellow", "failed": "red", "running": "cyan"}


def phase_table(status: RunStatus) -> Table:
    table = Table(title=f"Run {status.run.run_id}: {status.run.state}", title_justify="left")
    for column in ("Phase", "Status", "Detail"):
        table.add_column(column, overflow="fold")
    for row in progress.phase_rows(status):
        style = STYLES.get(row.status, "dim")
        table.add_row(row.phase, f"[{style}]{row.status}[/]", row.note)
    return table


@commands.command("run")
def run_cmd(
    strategy_id: Annotated[
        str | None, typer.Option("--strategy", help="Start a run for this strategy.")
    ] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Resume this FAILED run.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Start a pipeline run (--strategy) or resume a failed one (--resume), showing each phase
    as it goes, then the run's summary. Exit code 1 unless the run ends COMPLETE."""
    if (strategy_id is None) == (resume is None):
        print("Error: pass exactly one of --strategy <id> or --resume <run-id>", file=sys.stderr)
        raise typer.Exit(1)
    shown = Progress(json_out)

    async def job(ctx: Context) -> RunStatus:
        known: list[str] = [resume] if resume is not None else []

        def created(view: RunView) -> None:
            known.append(view.run_id)

        if resume is not None:
            execution = runs.resume_run(ctx, resume, "cli")
        else:
            assert strategy_id is not None
            execution = runs.start_run(ctx, strategy_id, "cli", on_created=created)
        task = asyncio.ensure_future(execution)
        with shown:
            async for status in progress.follow(ctx, task, lambda: known[0] if known else None):
                shown.update(status)
        view = await task  # a refusal (404, 409, 403, ...) is raised here
        return await runs.run_status(ctx, run_id=view.run_id)

    if not json_out:
        what = f"Resuming run {resume}" if resume else f"Starting pipeline run for {strategy_id}"
        console.print(f"{'🔄' if resume else '🚀'} {what}...")
    status = call(job)
    print_run(status, json_out, audit=False)
    if status.run.state != "COMPLETE":
        raise typer.Exit(1)


@commands.command("status")
def status_cmd(
    run_id: Annotated[str | None, typer.Option("--run", help="A run id.")] = None,
    strategy_id: Annotated[
        str | None, typer.Option("--strategy", help="The latest run of this strategy.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """A run's state, timestamps, error and full phase audit log (a table)."""
    if (run_id is None) == (strategy_id is None):
        print("Error: pass exactly one of --run <id> or --strategy <id>", file=sys.stderr)
        raise typer.Exit(1)
    status = call(lambda ctx: runs.run_status(ctx, run_id=run_id, strategy_id=strategy_id))
    print_run(status, json_out)


@commands.command("abandon-run")
def abandon_run_cmd(
    run_id: Annotated[str, typer.Option("--run", help="The FAILED run to give up on.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit log.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Give up on a FAILED run for good: never resumed; its unprovisioned credit is freed."""

    async def job(ctx: Context) -> RunStatus:
        await runs.abandon_run(ctx, run_id, "cli", reason)
        return await runs.run_status(ctx, run_id=run_id)

    print_run(call(job), json_out)


@commands.command("pool-status")
def pool_status_cmd(json_out: JsonFlag = False) -> None:
    """Credit pool balance, promised headroom, reserve, availability and runway."""
    view = call(pool.pool_status)
    if json_out:
        show(view, True)
        return
    console.print("💰 Credit Pool Status:")
    print_fields(
        [
            ("Balance", f"${view.total_balance_usd:.2f}"),
            ("Promised", f"${view.promised_usd:.2f}"),
            ("Reserve", f"${view.reserved_usd:.2f} ({view.reserve_pct:g}%)"),
            ("Available", f"${view.available_usd:.2f}"),
            ("Allocated", f"${view.total_allocated_usd:.2f} (lifetime)"),
            ("Runway", view.runway),
        ]
    )


@commands.command("list-keys")
def list_keys_cmd(
    strategy_id: Annotated[
        str | None, typer.Option("--strategy", help="Only this strategy's holder keys.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List holder keys of a strategy, or every key on the OpenRouter account."""
    if strategy_id is not None:
        local = call(lambda ctx: keys.keys_for_strategy(ctx, strategy_id))
        if json_out:
            show(local, True)
        elif not local:
            console.print(f"No keys found for strategy {strategy_id}.")
        else:
            rows = [
                {
                    "Hash": k.openrouter_key_hash,
                    "Wallet": k.holder_wallet,
                    "Limit": f"${k.spending_limit_usd:.2f}",
                    "Usage": f"${k.current_usage_usd:.2f}",
                    "Status": k.status,
                }
                for k in local
            ]
            show(rows, False, title=f"🔑 Keys of strategy {strategy_id}")
        return
    remote = call(keys.list_remote_keys)
    if json_out:
        show(remote, True)
    elif not remote:
        console.print("No keys found on OpenRouter.")
    else:
        rows = [
            {
                "Hash": k["hash"],
                "Name": k["name"],
                "Limit": k["limit"],
                "Usage": k["usage"],
                "Remaining": k["limit_remaining"],
                "Status": "DISABLED" if k["disabled"] else "ACTIVE",
            }
            for k in remote
        ]
        show(rows, False, title="🔑 OpenRouter keys")


Wallet = Annotated[str, typer.Option("--wallet", help="The holder's wallet (base58).")]


def checked_wallet(value: str) -> str:
    problem = wallet_problem(value)
    if problem:
        print(f"Error: --wallet {problem}", file=sys.stderr)
        raise typer.Exit(1)
    return value


@commands.command("rotate-key")
def rotate_key_cmd(wallet: Wallet, json_out: JsonFlag = False) -> None:
    """Replace a holder's key with a new one (same remaining allowance, reset and expiry),
    ready for the holder to collect; the old key is disabled, then deleted."""
    checked_wallet(wallet)
    result = call(lambda ctx: rotation.rotate_wallet(ctx, wallet, "cli"))
    if json_out:
        show(result, True)
        return
    console.print(f"🔄 Key rotated for {wallet}:")
    expires = f"{result.expires_at:%Y-%m-%d %H:%M:%S}" if result.expires_at else "never"
    print_fields(
        [
            ("Old key", result.old_hash),
            ("New key", result.new_hash),
            ("Limit", f"${result.spending_limit_usd}"),
            ("Reset", result.limit_reset or "never"),
            ("Expires", expires),
            ("Next", "the holder collects the new key with a wallet signature"),
        ]
    )


@commands.command("revoke-key")
def revoke_key_cmd(wallet: Wallet, json_out: JsonFlag = False) -> None:
    """Disable, then delete, a holder's key; the next run gives the wallet a new key."""
    checked_wallet(wallet)
    result = call(lambda ctx: rotation.revoke_wallet(ctx, wallet, "cli"))
    if json_out:
        show(result, True)
        return
    console.print(f"🗑️  Key {result.hash} of {wallet} revoked (disabled, then deleted).")
