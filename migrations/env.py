"""Alembic environment: synchronous migrations over a sync driver URL.

`arenabrain.db.migrate.upgrade` passes the URL in `config.attributes["url"]`; running
`alembic` by hand falls back to `sqlalchemy.url` in alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from arenabrain.metadata import target_metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
