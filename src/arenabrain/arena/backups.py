"""backup: the arena's weekly database backup (reference §5.7), Saturday 23:00 UTC before the
next weekly cycle. The copy itself is `db.backup.create_backup`; this job logs it for the
operator (`backup_created`, or `backup_error`) and answers as the anchor did. On PostgreSQL
backups are the database's job: the job answers 400 with the `pg_dump` hint."""

from __future__ import annotations

import time
from typing import Any

from arenabrain.arena.system_logs import log_event
from arenabrain.context import Context
from arenabrain.db.backup import BackupUnsupported, create_backup
from arenabrain.errors import AppError


async def backup(ctx: Context) -> dict[str, Any]:
    """Write a checked copy of the SQLite database under BACKUP_PATH and log it."""
    started = time.perf_counter()
    now = ctx.clock.now()
    try:
        result = await create_backup(ctx)
    except Exception as exc:
        async with ctx.db.write() as session:
            await log_event(session, "backup_error", {"error": str(exc)}, "error", now)
        if isinstance(exc, BackupUnsupported):
            raise AppError(str(exc), 400) from exc
        raise
    duration_ms = int((time.perf_counter() - started) * 1000)
    async with ctx.db.write() as session:
        await log_event(
            session,
            "backup_created",
            {"path": result.path, "duration_ms": duration_ms},
            "info",
            now,
        )
    return {"success": True, "backup_path": result.path, "duration_ms": duration_ms}
