"""The `arenabrain` command line: the service, migrations, health, and every job by name.

Domain commands live beside their domains and are registered here, so each command calls the
same function as its route and its scheduler job."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from arenabrain.context import Context
from arenabrain.logging import configure_logging
from arenabrain.settings import Settings, SettingsError, load_settings, read_environment

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="arenabrain: Forecaster Arena and CreditBrain."
)
console = Console()
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
T = TypeVar("T")

# Modules that add their commands to `app` when imported.
COMMAND_MODULES = ("arenabrain.arena.commands", "arenabrain.credits.commands")


def settings_or_exit(**overrides: str) -> Settings:
    """Load settings; on bad configuration print every problem and exit with code 2."""
    try:
        return load_settings({**read_environment(), **overrides})
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(2) from None


def run_with_context(
    func: Callable[[Context], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run one job function with a freshly opened context (migrated database, clients)."""
    from arenabrain.runtime import open_context

    settings = settings or settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values(), stream=sys.stderr)

    async def main() -> T:
        async with open_context(settings) as ctx:
            return await func(ctx)

    return asyncio.run(main())


def plain(value: Any) -> Any:
    """Turn results (dataclasses, pydantic models, Decimals, datetimes) into JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def show(
    result: Any, json_out: bool, columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    """Print a result as JSON (`--json`) or as a Rich table (lists) / key-value table (objects)."""
    data = plain(result)
    if json_out:
        print(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, list):
        rows = [row for row in data if isinstance(row, dict)]
        names = list(columns or (rows[0].keys() if rows else []))
        table = Table(title=title)
        for name in names:
            table.add_column(name)
        for row in rows:
            table.add_row(*[_cell(row.get(name)) for name in names])
        console.print(table)
        return
    if isinstance(data, dict):
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in data.items():
            table.add_row(str(key), _cell(value))
        console.print(table)
        return
    console.print(data)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


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


def _load_commands() -> None:
    for module in COMMAND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main() -> None:
    _load_commands()
    app()


if __name__ == "__main__":
    main()
