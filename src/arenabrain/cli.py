"""The `arenabrain` command line: the service, migrations, health, and every job by name.

Domain commands live beside their domains, each a Typer app added here by name, so each command
calls the same function as its route and its scheduler job."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated, Any

import typer

from arenabrain.arena.commands import commands as arena_commands
from arenabrain.console import JsonFlag, console, run_with_context, settings_or_exit, show
from arenabrain.context import Context
from arenabrain.credits.commands import commands as credits_commands

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
) -> None:
    """Run the HTTP service (and, when SCHEDULER_ENABLED, the scheduler)."""
    import uvicorn

    from arenabrain.app import create_app
    from arenabrain.db.backup import BackupUnsupported, serving, sqlite_path

    overrides = {"SANDBOX": "true"} if sandbox else {}
    settings = settings_or_exit(**overrides)
    application = create_app(settings)
    held: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    with contextlib.suppress(BackupUnsupported):
        held = serving(sqlite_path(settings.resolved_database_url()))
    with held:  # `arenabrain restore` refuses while this is held
        uvicorn.run(
            application,
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
        )


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
