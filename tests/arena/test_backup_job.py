"""The backup job (reference §5.7): a checked copy under BACKUP_PATH, logged as `backup_created`;
on PostgreSQL a 400 naming `pg_dump`, logged as `backup_error`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from arenabrain.arena import backups
from arenabrain.arena.jobs import JOBS
from arenabrain.arena.models import SystemLog
from arenabrain.context import Context
from arenabrain.db.backup import PG_DUMP_HINT, integrity
from arenabrain.errors import AppError
from arenabrain.jobs import by_name
from tests.conftest import cron_headers


async def logged(ctx: Context) -> list[tuple[str, str | None, dict[str, object]]]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(SystemLog).where(SystemLog.event_type.like("backup%")))
        return [(r.event_type, r.severity, json.loads(r.event_data or "{}")) for r in rows]


async def test_backup_writes_a_checked_copy_and_logs_it(ctx: Context, db_path: Path) -> None:
    body = await backups.backup(ctx)
    assert body["success"] is True and set(body) == {"success", "backup_path", "duration_ms"}
    copy = Path(body["backup_path"])
    assert copy.parent == db_path.parent / "backups" and integrity(copy) == "ok"
    [(event, severity, data)] = await logged(ctx)
    assert (event, severity, data["path"]) == ("backup_created", "info", str(copy))


async def test_backup_on_postgresql_is_a_400_naming_pg_dump(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.db, "url", "postgresql+asyncpg://arena@db.internal/arenabrain")
    with pytest.raises(AppError) as caught:
        await backups.backup(ctx)
    assert (caught.value.status_code, caught.value.message) == (400, PG_DUMP_HINT)
    [(event, severity, data)] = await logged(ctx)
    assert (event, severity, data) == ("backup_error", "error", {"error": PG_DUMP_HINT})


async def test_route_requires_the_cron_bearer_and_answers_the_job(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/cron/backup")).status_code == 401
    answer = await client.post("/api/cron/backup", headers=cron_headers())
    assert answer.status_code == 200 and answer.json()["success"] is True


def test_scheduler_runs_it_saturday_at_23_00() -> None:
    job = by_name(JOBS)["backup"]
    assert (job.crontab, job.func) == ("0 23 * * 6", backups.backup)
