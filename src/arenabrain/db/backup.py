"""Backups and restores of the SQLite database.

A backup is an online, consistent copy made with SQLite's backup API in one step (one read
transaction: in WAL mode writers go on meanwhile and the copy is the database as of its start),
checked with `PRAGMA integrity_check`, named with its UTC time under BACKUP_PATH; only the
newest BACKUP_RETENTION_COUNT copies are kept.

A restore verifies the file first (integrity and a schema this service knows), refuses while a
server holds the database (`serving` takes a file lock beside the database for its lifetime),
keeps the replaced database beside it, and copies the backup in through the same API (so WAL
and SHM files are handled by SQLite, not by file copies).

On PostgreSQL backups are the database's job (`pg_dump`); `BackupUnsupported` says so."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url

from arenabrain.clock import Clock
from arenabrain.db.engine import Database
from arenabrain.settings import Settings

BACKUP_NAME = re.compile(r"^arenabrain-(\d{8}T\d{6}(?:\d{6})?Z)\.db$")
PG_DUMP_HINT = (
    "Backups of a PostgreSQL database are the database's job: "
    'pg_dump --format=custom --file=arenabrain.dump "$DATABASE_URL" (see docs/operations.md)'
)


class BackupUnsupported(Exception):
    """The configured database is not a SQLite file."""


class RestoreRefused(Exception):
    """The restore cannot go ahead safely; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: str
    size_bytes: int
    integrity: str
    removed: list[str]


def sqlite_path(database_url: str) -> Path:
    """The database file of a SQLite URL; BackupUnsupported for any other database."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise BackupUnsupported(PG_DUMP_HINT)
    if parsed.database == ":memory:":
        raise BackupUnsupported("An in-memory database has no file to back up")
    return Path(parsed.database).expanduser()


def backup_name(now: datetime) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%S") + (f"{now.microsecond:06d}" if now.microsecond else "")
    return f"arenabrain-{stamp}Z.db"


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of a database file ('ok' when intact)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(row[0]) for row in rows)


def copy_database(source: Path, target: Path) -> None:
    """Copy `source` into `target` with SQLite's backup API, in one consistent step."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def backup_database(database: Path, directory: Path, now: datetime, keep: int) -> BackupResult:
    """Write a checked copy of `database` into `directory`; keep the newest `keep` copies."""
    if not database.exists():
        raise FileNotFoundError(f"No database at {database}")
    directory = directory.expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / backup_name(now)
    partial = target.with_suffix(".db.partial")
    partial.unlink(missing_ok=True)
    copy_database(database, partial)
    verdict = integrity(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"The backup copy failed its integrity check: {verdict}")
    os.replace(partial, target)  # a backup file that exists is a complete one
    removed = prune(directory, keep)
    return BackupResult(str(target), target.stat().st_size, verdict, removed)


class BackupContext(Protocol):
    """What the backup job needs of the context (the database adapter knows no more of it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...


async def create_backup(ctx: BackupContext) -> BackupResult:
    """Back up the service's SQLite database under BACKUP_PATH (the backup job)."""
    settings = ctx.settings
    return await asyncio.to_thread(
        backup_database,
        sqlite_path(ctx.db.url),
        Path(settings.backup_path),
        ctx.clock.now(),
        settings.backup_retention_count,
    )


def backups_in(directory: Path) -> list[Path]:
    """This service's backup files in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if BACKUP_NAME.match(p.name))


def prune(directory: Path, keep: int) -> list[str]:
    stale = backups_in(directory)[:-keep] if keep > 0 else []
    for path in stale:
        path.unlink(missing_ok=True)
    return [p.name for p in stale]


# --- the serving lock and restores ------------------------------------------------------------


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serving")


@contextmanager
def serving(database: Path) -> Iterator[None]:
    """Hold the database for a server's lifetime (released by the OS if the process dies)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(database), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # several servers may share one database
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _assert_not_served(database: Path, handle: object) -> None:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[arg-type]
    except BlockingIOError:
        raise RestoreRefused(
            f"A server is using {database}; stop it first (systemctl stop arenabrain), "
            "then run the restore again"
        ) from None


def verify_backup(path: Path, known_revisions: set[str]) -> None:
    if not path.is_file():
        raise RestoreRefused(f"No backup file at {path}")
    try:
        verdict = integrity(path)
        conn = sqlite3.connect(path)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path} is not a readable arenabrain database ({exc})") from None
    if verdict != "ok":
        raise RestoreRefused(f"{path} failed its integrity check: {verdict}")
    if revision is None or revision[0] not in known_revisions:
        found = revision[0] if revision else "none"
        raise RestoreRefused(f"{path} has a schema this version does not know ({found})")


def restore_database(
    backup: Path, database: Path, now: datetime, known_revisions: set[str]
) -> Path | None:
    """Replace `database` with `backup`; returns where the replaced database was kept."""
    verify_backup(backup, known_revisions)
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(database), "a+") as handle:
        _assert_not_served(database, handle)
        kept = None
        if database.exists():
            kept = database.with_name(f"{database.name}.replaced-{backup_name(now)[11:-3]}")
            copy_database(database, kept)
        copy_database(backup, database)
        verdict = integrity(database)
        if verdict != "ok":  # not expected: the copy came from a verified file
            raise RuntimeError(f"The restored database failed its integrity check: {verdict}")
        fcntl.flock(handle, fcntl.LOCK_UN)
    return kept
