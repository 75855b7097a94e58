"""Backups and restores of the SQLite database: online copies while jobs write, integrity,
retention, restores that verify first, refuse a served database and keep what they replace."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arenabrain.app import create_app
from arenabrain.arena import markets
from arenabrain.cli import app as cli
from arenabrain.clock import FrozenClock
from arenabrain.db import backup
from arenabrain.db.migrate import known_revisions
from arenabrain.runtime import open_context
from arenabrain.sandbox import Sandbox
from arenabrain.settings import Settings

NOW = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_backup_taken_while_sync_markets_writes_is_intact_and_restores_to_a_working_service(
    make_settings: Callable[..., Settings],
    clock: FrozenClock,
    sandbox: Sandbox,
    db_path: Path,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    async with open_context(settings, clock=clock, transports=sandbox.transports()) as ctx:
        await markets.sync_markets(ctx)  # something to copy
        stop = asyncio.Event()

        async def writer() -> int:
            rounds = 0
            while not stop.is_set():
                clock.advance(minutes=5)
                await markets.sync_markets(ctx)
                rounds += 1
            return rounds

        writing = asyncio.create_task(writer())
        results = []
        for _ in range(3):
            clock.advance(minutes=1)  # each backup is named by its own moment
            results.append(await backup.create_backup(ctx))
            await asyncio.sleep(0)
        stop.set()
        rounds = await writing
    assert rounds >= 1
    assert all(r.integrity == "ok" for r in results)
    latest = Path(results[-1].path)
    assert backup.integrity(latest) == "ok"
    assert count(latest, "markets") == count(db_path, "markets") > 0
    # Retention: BACKUP_RETENTION_COUNT copies remain (7 by default; three were made).
    assert len(backup.backups_in(Path(settings.backup_path))) == 3

    restored = tmp_path / "restored" / "arenabrain.db"
    backup.restore_database(latest, restored, NOW, known_revisions())
    service = create_app(make_settings(DATABASE_PATH=str(restored)), clock=clock)
    async with service.router.lifespan_context(service):
        import httpx

        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            health = await http.get("/api/health")
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["database"]["status"] == "ok"


def make_database(path: Path, rows: int) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num TEXT)")
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (sorted(known_revisions())[-1],))
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    return path


def test_backups_are_named_by_utc_time_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    database = make_database(tmp_path / "live.db", 3)
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / "notes.txt").write_text("not a backup")
    made = [
        backup.backup_database(database, directory, NOW + timedelta(hours=h), keep=2)
        for h in range(3)
    ]
    assert Path(made[0].path).name == "arenabrain-20260307T230000Z.db"
    assert made[2].removed == ["arenabrain-20260307T230000Z.db"]
    assert [p.name for p in backup.backups_in(directory)] == [
        "arenabrain-20260308T000000Z.db",
        "arenabrain-20260308T010000Z.db",
    ]
    assert (directory / "notes.txt").exists()  # only the service's own files are pruned
    assert not list(directory.glob("*.partial"))


def test_a_backup_copies_rows_committed_by_another_writer_during_the_copy(tmp_path: Path) -> None:
    database = make_database(tmp_path / "live.db", 0)
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    done = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(database, timeout=5)
        try:
            while not done.is_set():
                conn.execute("INSERT INTO t VALUES (1)")
                conn.commit()
        finally:
            conn.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        copies = [backup.backup_database(database, tmp_path / "b", NOW, keep=1) for _ in range(5)]
    finally:
        done.set()
        thread.join()
    assert {c.integrity for c in copies} == {"ok"}
    assert 0 <= count(Path(copies[-1].path), "t") <= count(database, "t")


def test_restore_refuses_while_a_server_holds_the_database(tmp_path: Path) -> None:
    database = make_database(tmp_path / "live.db", 5)
    copy = backup.backup_database(database, tmp_path / "b", NOW, keep=1)
    with backup.serving(database), pytest.raises(backup.RestoreRefused, match="stop it first"):
        backup.restore_database(Path(copy.path), database, NOW, known_revisions())
    assert count(database, "t") == 5


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a database at all, just bytes" * 100, "not a readable arenabrain database"),
        (None, "schema this version does not know"),
        ("missing", "No backup file"),
    ],
)
def test_restore_verifies_the_backup_first_and_changes_nothing_when_it_is_bad(
    tmp_path: Path, content: bytes | str | None, reason: str
) -> None:
    database = make_database(tmp_path / "live.db", 5)
    bad = tmp_path / "bad.db"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is None:
        with sqlite3.connect(bad) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
            conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    with pytest.raises(backup.RestoreRefused, match=reason):
        backup.restore_database(bad, database, NOW, known_revisions())
    assert count(database, "t") == 5
    assert not list(tmp_path.glob("live.db.replaced-*"))


def test_restore_keeps_the_database_it_replaces(tmp_path: Path) -> None:
    database = make_database(tmp_path / "live.db", 5)
    copy = backup.backup_database(database, tmp_path / "b", NOW, keep=1)
    make_database(database, 10)  # the live database moves on after the backup
    kept = backup.restore_database(Path(copy.path), database, NOW, known_revisions())
    assert kept is not None and count(kept, "t") == 15
    assert count(database, "t") == 5


def test_backups_of_postgresql_are_left_to_pg_dump() -> None:
    with pytest.raises(backup.BackupUnsupported, match="pg_dump"):
        backup.sqlite_path("postgresql+asyncpg://u:p@localhost/arenabrain")


def test_backup_and_restore_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    monkeypatch.setenv("BACKUP_PATH", str(tmp_path / "backups"))
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    runner = CliRunner()
    made = runner.invoke(cli, ["backup", "--json"])
    assert made.exit_code == 0, made.output
    [file] = backup.backups_in(tmp_path / "backups")
    with backup.serving(db_path):
        refused = runner.invoke(cli, ["restore", str(file)])
    assert refused.exit_code == 2 and "stop it first" in refused.output
    restored = runner.invoke(cli, ["restore", str(file)])
    assert restored.exit_code == 0, restored.output
    assert "replaced database is kept" in restored.output
    assert os.path.exists(db_path)
