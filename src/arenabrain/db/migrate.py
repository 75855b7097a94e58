"""Apply Alembic migrations; used by `arenabrain migrate`, start-up and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def sync_url(url: str) -> str:
    """Alembic runs on the synchronous drivers: sqlite3 and psycopg/asyncpg-free URLs."""
    return url.replace("sqlite+aiosqlite://", "sqlite://").replace(
        "postgresql+asyncpg://", "postgresql+psycopg://"
    )


def alembic_config(url: str) -> Config:
    ini = PROJECT_ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(_script_location()))
    cfg.attributes["url"] = sync_url(url)
    return cfg


def _script_location() -> Path:
    bundled = Path(__file__).resolve().parent.parent / "_migrations"
    return bundled if bundled.exists() else PROJECT_ROOT / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the newest)."""
    from arenabrain.db.engine import ensure_sqlite_directory

    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Same as `upgrade`, from inside a running event loop (Alembic itself is synchronous)."""
    await asyncio.to_thread(upgrade, url, revision)


def known_revisions() -> set[str]:
    """Every schema revision this version of the service can migrate from."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()}
