"""The `arenabrain` command line: the service, migrations, health, and every job by name.

Domain commands live beside their domains, each a Typer app added here by name, so each command
calls the same function as its route and its scheduler job."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from arenabrain.arena.commands import commands as arena_commands
from arenabrain.console import JsonFlag, console, run_with_context, settings_or_exit, show
from arenabrain.context import Context
from arenabrain.credits.commands import commands as credits_commands
from arenabrain.settings import SettingsError, read_environment

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="arenabrain: Forecaster Arena and CreditBrain."
)
app.add_typer(arena_commands)
app.add_typer(credits_commands)


@app.command("serve")
def serve(
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Serve against the in-process emulators.")
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (default HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (default PORT).")] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            help="Sandbox mode: how many times faster than the wall the world's clock runs "
            "(default 60, a cohort within a minute; 1: real time; 0: it stands still).",
        ),
    ] = None,
) -> None:
    """Run the HTTP service (and, when SCHEDULER_ENABLED, the scheduler)."""
    import uvicorn

    from arenabrain.app import create_app
    from arenabrain.db.backup import BackupUnsupported, serving, sqlite_path
    from arenabrain.demo.serving import DEFAULT_SPEED, serve_sandbox, speed_problem

    overrides = {"SANDBOX": "true"} if sandbox else {}
    settings = settings_or_exit(**overrides)
    if settings.sandbox:
        settings = settings_or_exit(**sandbox_defaults(overrides, speed))
    if speed is not None and not settings.sandbox:
        exit_with("--speed: the world's clock exists in sandbox mode only (--sandbox)")
    problem = speed_problem(DEFAULT_SPEED if speed is None else speed)
    if problem:
        exit_with(problem)
    held: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    with contextlib.suppress(BackupUnsupported):
        held = serving(sqlite_path(settings.resolved_database_url()))
    with held:  # `arenabrain restore` refuses while this is held
        if settings.sandbox:
            serve_sandbox(
                settings,
                host or settings.host,
                port or settings.port,
                DEFAULT_SPEED if speed is None else speed,
                console,
            )
            return
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
        )


@app.command("demo")
def demo(
    weeks: Annotated[int, typer.Option("--weeks", help="Simulated weeks (1 to 52).")] = 4,
    seed: Annotated[
        int, typer.Option("--seed", help="The world's seed: the same seed, the same story.")
    ] = 7,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            help="While serving afterwards, how many times faster than the wall the world's "
            "clock runs (0: it stands still).",
        ),
    ] = 60.0,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after the summary; do not serve the API.")
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Directory for the demo's database, backups and log (default: a new "
            "temporary one; never DATABASE_PATH).",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (default HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (default PORT).")] = None,
) -> None:
    """Simulate weeks of both systems against the sandbox in about a minute, print what
    happened, then serve the API on the simulated state until interrupted."""
    from arenabrain.demo.run import DemoOptions, DemoRefused, run_demo
    from arenabrain.demo.serving import speed_problem

    problem = speed_problem(speed)
    if problem:
        exit_with(problem)
    options = DemoOptions(weeks, seed, speed, not no_serve, directory, host, port)
    try:
        run_demo(options, read_environment(), console)
    except SettingsError as exc:
        exit_with(str(exc))
    except DemoRefused as exc:
        exit_with(f"demo: {exc}")


def sandbox_defaults(overrides: dict[str, str], speed: float | None) -> dict[str, str]:
    """Sandbox mode runs both systems, and a fast clock logs warnings only (its jobs fire
    every few seconds), unless the environment says otherwise."""
    environment = read_environment()
    defaults = {"CREDITS_ENABLED": "true"}
    if speed != 1:
        defaults["LOG_LEVEL"] = "warn"
    return {**{k: v for k, v in defaults.items() if k not in environment}, **overrides}


def exit_with(message: str) -> NoReturn:
    """Say what is wrong on stderr and stop with exit code 2 (bad usage or configuration)."""
    print(message, file=sys.stderr)
    raise typer.Exit(2)


@app.command("migrate")
def migrate() -> None:
    """Apply every database migration (creates the database file when missing)."""
    from arenabrain.db.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.resolved_database_url())
    console.print("database is at the newest schema")


@app.command("health")
def health(json_out: JsonFlag = False) -> None:
    """Check the dependencies (database and OpenRouter), as /health/ready does."""
    from arenabrain.web.health import database_ok, openrouter_ok, within_deadline

    async def check(ctx: Context) -> dict[str, Any]:
        openrouter, database = await asyncio.gather(
            within_deadline(openrouter_ok(ctx)), within_deadline(database_ok(ctx))
        )
        return {
            "status": "ok" if openrouter and database else "degraded",
            "dependencies": {"openrouter": openrouter, "database": database},
        }

    result = run_with_context(check)
    show(result, json_out)
    if result["status"] != "ok":
        raise typer.Exit(1)


@app.command("backup")
def backup(json_out: JsonFlag = False) -> None:
    """Write a checked, consistent copy of the SQLite database under BACKUP_PATH."""
    from arenabrain.db.backup import BackupUnsupported, create_backup

    try:
        show(run_with_context(create_backup), json_out)
    except BackupUnsupported as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(2) from None


@app.command("restore")
def restore(
    file: Annotated[str, typer.Argument(help="The backup file to restore (from BACKUP_PATH).")],
) -> None:
    """Replace the database with a verified backup (the server must be stopped first)."""
    from pathlib import Path

    from arenabrain.clock import SystemClock
    from arenabrain.db.backup import (
        BackupUnsupported,
        RestoreRefused,
        restore_database,
        sqlite_path,
    )
    from arenabrain.db.migrate import known_revisions

    settings = settings_or_exit()
    try:
        database = sqlite_path(settings.resolved_database_url())
        kept = restore_database(
            Path(file).expanduser(), database, SystemClock().now(), known_revisions()
        )
    except (BackupUnsupported, RestoreRefused) as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(2) from None
    if kept is not None:
        console.print(f"the replaced database is kept at {kept}")
    console.print(f"restored {database} from {file}; start the service to migrate it if needed")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
