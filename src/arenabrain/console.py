"""What every command shares: loading settings (or exiting with every problem), running a job
with a freshly opened context, and printing its result as JSON (`--json`) or as a table.

Domain commands import these; `cli.py` assembles the commands into one `arenabrain`."""

from __future__ import annotations

import asyncio
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
from arenabrain.logging import STDERR, configure_logging
from arenabrain.settings import Settings, SettingsError, load_settings, read_environment

console = Console()
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
T = TypeVar("T")


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
    configure_logging(settings.log_level, settings.secret_values(), stream=STDERR)

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
