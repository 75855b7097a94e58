"""Research exports of one cohort (§12.4, runbook §6.7): a ZIP of CSV files and a README,
written with the standard library under `<BACKUP_PATH>/exports`, downloadable for 24 hours.

Limits: a window of at most 7 days and at most 50,000 rows per table (a 400 names the table).
Time filters compare instants: the ISO inputs are parsed and bound in the stored text format
(`db.timestamps`), so `2026-03-01T00:00:00.000Z` means the same moment as the stored
`2026-03-01 00:00:00`. Without `include_prompts: true` the decisions leave out the prompts and
the raw model response. A cell that a spreadsheet would run as a formula (text starting with
`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`; plain numbers, negative ones
included, are written as they are. A download names an archive this module wrote; anything
else (another directory, an encoded separator, a NUL byte, a link) is not found."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.arena.models import Cohort, Decision
from arenabrain.arena.schemas.admin import ExportIn
from arenabrain.arena.system_logs import log_event
from arenabrain.arena.wire import iso
from arenabrain.context import Context
from arenabrain.db.timestamps import to_text
from arenabrain.errors import AppError, NotFound
from arenabrain.settings import Settings

ROW_CAP = 50_000
MAX_RANGE = timedelta(days=7)
RETENTION = timedelta(hours=24)
PROMPT_COLUMNS = frozenset({"prompt_system", "prompt_user", "raw_response"})

REQUIRED = "cohort_id, from, and to are required"
RANGE_TOO_LARGE = "Date range too large (max 7 days)"
TO_BEFORE_FROM = "`to` must be after `from`"
NO_TABLES = "No valid tables requested"
NOT_FOUND = "Not found"
FILE_REQUIRED = "file query param required"

_AGENTS = "SELECT id FROM agents WHERE cohort_id = :cohort"
_CONFIG = "SELECT benchmark_config_id FROM cohorts WHERE id = :cohort"
_WINDOW = "{column} >= :start AND {column} <= :end"

# What each table exports: the rows of the cohort, and of the window for the timed ones.
TABLE_FILTERS: dict[str, str] = {
    "cohorts": "FROM cohorts WHERE id = :cohort ORDER BY id",
    "agents": "FROM agents WHERE cohort_id = :cohort ORDER BY id",
    "model_families": "FROM model_families WHERE id IN (SELECT family_id FROM agents "
    "WHERE cohort_id = :cohort) ORDER BY sort_order, id",
    "model_releases": "FROM model_releases WHERE id IN (SELECT release_id FROM agents "
    "WHERE cohort_id = :cohort) ORDER BY id",
    "benchmark_configs": f"FROM benchmark_configs WHERE id IN ({_CONFIG}) ORDER BY id",
    "benchmark_config_models": f"FROM benchmark_config_models WHERE benchmark_config_id IN "
    f"({_CONFIG}) ORDER BY slot_order, id",
    "agent_benchmark_identity": "FROM agent_benchmark_identity_v WHERE cohort_id = :cohort "
    "ORDER BY agent_id",
    "api_costs": f"FROM api_costs WHERE agent_id IN ({_AGENTS}) AND "
    f"{_WINDOW.format(column='recorded_at')} ORDER BY recorded_at, id",
    "markets": f"FROM markets WHERE id IN (SELECT market_id FROM positions WHERE agent_id IN "
    f"({_AGENTS})) ORDER BY id",
    "decisions": f"FROM decisions WHERE cohort_id = :cohort AND "
    f"{_WINDOW.format(column='decision_timestamp')} ORDER BY decision_timestamp, id",
    "trades": f"FROM trades WHERE agent_id IN ({_AGENTS}) AND "
    f"{_WINDOW.format(column='executed_at')} ORDER BY executed_at, id",
    "positions": f"FROM positions WHERE agent_id IN ({_AGENTS}) AND opened_at <= :end AND "
    f"(closed_at IS NULL OR closed_at >= :start) ORDER BY opened_at, id",
    "portfolio_snapshots": f"FROM portfolio_snapshots WHERE agent_id IN ({_AGENTS}) AND "
    f"{_WINDOW.format(column='snapshot_timestamp')} ORDER BY snapshot_timestamp, id",
}
EXPORT_TABLES = tuple(TABLE_FILTERS)

ARCHIVE_NAME = re.compile(
    r"export-[A-Za-z0-9_-]{1,64}-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z(?:-\d{1,4})?\.zip"
)
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]|$)")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_-]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class ExportRequest:
    cohort_id: str
    start: datetime
    end: datetime
    tables: tuple[str, ...]
    include_prompts: bool


# --- validation -------------------------------------------------------------------------------


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 date or date-time as aware UTC (no offset means UTC); None if it is not one."""
    value = value.strip()
    if not _ISO_START.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def export_request(body: ExportIn) -> ExportRequest:
    """The checked request, in the anchor's order of checks; AppError (400) names the problem."""
    values = (body.cohort_id, body.from_, body.to)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise AppError(REQUIRED)
    assert body.cohort_id is not None and body.from_ is not None and body.to is not None
    start = parse_instant(body.from_)
    if start is None:
        raise AppError("Invalid from date")
    end = parse_instant(body.to)
    if end is None:
        raise AppError("Invalid to date")
    if end < start:
        raise AppError(TO_BEFORE_FROM)
    if end - start > MAX_RANGE:
        raise AppError(RANGE_TOO_LARGE)
    return ExportRequest(
        body.cohort_id.strip(),
        start,
        end,
        requested_tables(body.tables),
        body.include_prompts is True,
    )


def requested_tables(tables: Sequence[str] | None) -> tuple[str, ...]:
    if tables is None:
        return EXPORT_TABLES
    unknown = sorted({t for t in tables if t not in TABLE_FILTERS})
    if unknown:
        raise AppError(f"Unknown tables: {', '.join(unknown)} (known: {', '.join(EXPORT_TABLES)})")
    wanted = set(tables)
    if not wanted:
        raise AppError(NO_TABLES)
    return tuple(t for t in EXPORT_TABLES if t in wanted)


# --- names ------------------------------------------------------------------------------------


def sanitise_cohort_id(cohort_id: str) -> str:
    """Letters, digits, `_` and `-` only (other runs become one `-`), at most 64 characters."""
    cleaned = re.sub(r"-{2,}", "-", _UNSAFE_RUN.sub("-", cohort_id.strip())).strip("-")
    return cleaned[:64].strip("-") or "cohort"


def archive_name(cohort_id: str, now: datetime, serial: int = 1) -> str:
    """`export-<cohort>-<ISO time with ':' and '.' as '-'>[-<serial>].zip`."""
    stamp = (iso(now) or "").replace(":", "-").replace(".", "-")
    suffix = f"-{serial}" if serial > 1 else ""
    return f"export-{sanitise_cohort_id(cohort_id)}-{stamp}{suffix}.zip"


def exports_dir(settings: Settings) -> Path:
    return Path(settings.backup_path).expanduser() / "exports"


def archive_path(directory: Path, file: str | None) -> Path:
    """The archive `file` names inside `directory`; NotFound for any other name or file."""
    if not file:
        raise AppError(FILE_REQUIRED)
    if not ARCHIVE_NAME.fullmatch(file):
        raise NotFound(NOT_FOUND)
    path = directory / file
    if path.is_symlink() or not path.is_file() or path.resolve().parent != directory.resolve():
        raise NotFound(NOT_FOUND)
    return path


def remove_stale(directory: Path, now: datetime) -> list[str]:
    """Delete archives (and unfinished ones) last written more than 24 hours before `now`."""
    if not directory.is_dir():
        return []
    cutoff = (now - RETENTION).timestamp()
    removed = []
    for entry in directory.iterdir():
        name = entry.name.removesuffix(".partial")
        if not ARCHIVE_NAME.fullmatch(name) or entry.is_symlink() or not entry.is_file():
            continue
        if entry.stat().st_mtime < cutoff:
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


# --- CSV --------------------------------------------------------------------------------------


def csv_cell(value: Any) -> str:
    """A value as CSV text: NULL is empty; formula-like text gets a leading `'`."""
    if value is None:
        return ""
    cell = str(value)
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


# --- the archive ------------------------------------------------------------------------------


def _columns(table: str, include_prompts: bool) -> str:
    if table != "decisions" or include_prompts:
        return "*"
    return ", ".join(c.name for c in Decision.__table__.columns if c.name not in PROMPT_COLUMNS)


async def table_rows(
    session: AsyncSession, table: str, request: ExportRequest, cap: int = ROW_CAP
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The table's rows for the request, as stored; AppError (400) above `cap` rows."""
    query = f"SELECT {_columns(table, request.include_prompts)} {TABLE_FILTERS[table]} LIMIT :over"
    result = await session.execute(
        text(query),
        {
            "cohort": request.cohort_id,
            "start": to_text(request.start),
            "end": to_text(request.end),
            "over": cap + 1,
        },
    )
    rows = [tuple(row) for row in result.all()]
    if len(rows) > cap:
        raise AppError(f"{table} exceeds row cap ({cap}). Narrow the window.")
    return list(result.keys()), rows


def readme_text(
    request: ExportRequest,
    counts: Mapping[str, int],
    now: datetime,
    schema_version: str,
    methodology_version: str,
) -> str:
    lines = [
        "Forecaster Arena export (arenabrain)",
        "",
        f"Generated at: {iso(now)}",
        f"Cohort: {request.cohort_id}",
        f"Range: {iso(request.start)} to {iso(request.end)} (inclusive, UTC)",
        f"Include prompts: {'yes' if request.include_prompts else 'no'}",
        f"Schema version: {schema_version}",
        f"Methodology version: {methodology_version}",
        "",
        "Tables (rows):",
        *(f"  {table}.csv: {counts[table]}" for table in request.tables),
        "",
        f"Each table holds at most {ROW_CAP} rows; a larger table fails the export, so narrow",
        "the window. api_costs, decisions, trades and portfolio_snapshots are filtered to the",
        "window; positions that were open during it are included; the other tables hold the",
        "cohort's rows. Timestamps are UTC text as stored (YYYY-MM-DD HH:MM:SS[.ffffff]).",
        "Without prompts, decisions leave out prompt_system, prompt_user and raw_response.",
        "",
        "Identity: every agent is one frozen benchmark slot. agent_benchmark_identity gives",
        "each agent's family, release, display names and per-million prices as frozen when the",
        "cohort started; join other tables to it on agent_id (decisions, trades and api_costs",
        "also carry family_id, release_id and benchmark_config_model_id).",
        "",
        "Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a",
        "carriage return) are prefixed with ' ; plain numbers are written as they are.",
    ]
    return "\n".join(lines) + "\n"


def write_archive(directory: Path, name: str, files: Mapping[str, str], now: datetime) -> Path:
    """Write `files` (name -> text) as one ZIP; the archive appears complete or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    partial = directory / (name + ".partial")
    stamp = now.astimezone(UTC).timetuple()[:6]
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for file_name, content in files.items():
                info = zipfile.ZipInfo(file_name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def free_name(directory: Path, cohort_id: str, now: datetime) -> str:
    serial = 1
    while (directory / archive_name(cohort_id, now, serial)).exists():
        serial += 1
    return archive_name(cohort_id, now, serial)


async def create_export(ctx: Context, body: ExportIn) -> dict[str, Any]:
    """Export one cohort's tables for a window of at most 7 days as a ZIP of CSV files."""
    request = export_request(body)
    now = ctx.clock.now()
    directory = exports_dir(ctx.settings)
    await asyncio.to_thread(remove_stale, directory, now)
    async with ctx.db.read() as session:
        cohort = await session.get(Cohort, request.cohort_id)
        if cohort is None:
            raise NotFound("Unknown cohort")
        tables = {table: await table_rows(session, table, request) for table in request.tables}
        schema = await session.scalar(text("SELECT version_num FROM alembic_version"))
    files = {f"{table}.csv": csv_text(*tables[table]) for table in request.tables}
    counts = {table: len(rows) for table, (_, rows) in tables.items()}
    files["README.txt"] = readme_text(request, counts, now, str(schema), cohort.methodology_version)
    name = await asyncio.to_thread(free_name, directory, request.cohort_id, now)
    await asyncio.to_thread(write_archive, directory, name, files, now)
    info = {
        "cohort_id": request.cohort_id,
        "from": iso(request.start),
        "to": iso(request.end),
        "tables": list(request.tables),
        "include_prompts": request.include_prompts,
    }
    async with ctx.db.write() as session:
        await log_event(session, "admin_export_created", {**info, "file": name}, "info", now)
    return {"success": True, "download_url": f"/api/admin/export?file={name}", "info": info}


async def export_file(ctx: Context, file: str | None) -> Path:
    """The archive to send for `GET /api/admin/export?file=` (stale archives are gone first)."""
    directory = exports_dir(ctx.settings)
    await asyncio.to_thread(remove_stale, directory, ctx.clock.now())
    return archive_path(directory, file)
