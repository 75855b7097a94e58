"""Throwaway PostgreSQL schemas for the arena tests that need a real PostgreSQL server.

Each schema is created on the server named by `ARENABRAIN_TEST_POSTGRES_URL` and dropped
afterwards. Alembic (psycopg, synchronous) reaches it through libpq's `options=-csearch_path=`;
asyncpg, the service's driver, does not take that option, so the service's engine gets the
search path on every new connection instead (`pin_search_path`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

ENV = "ARENABRAIN_TEST_POSTGRES_URL"


def server_url(what: str) -> str:
    """The test server's URL, or a skip that says what goes unexercised without it."""
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f"{ENV} not set: PostgreSQL {what} not exercised")
    return url


@contextmanager
def throwaway_schemas(url: str, prefix: str = "arena_test") -> Iterator[Any]:
    """A factory of fresh schemas on the server at `url`; yields `make() -> schema name` and
    drops every schema it made on the way out."""
    admin = sa.create_engine(url)
    created: list[str] = []

    def make() -> str:
        schema = f"{prefix}_{secrets.token_hex(4)}"
        with admin.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        created.append(schema)
        return schema

    try:
        yield make
    finally:
        for schema in created:
            _drop(admin, schema)
        admin.dispose()


def _drop(admin: sa.Engine, schema: str) -> None:
    """Drop a schema even when a failed test left a connection idle in a transaction on it
    (waiting for that connection would block the event loop that owns it, forever)."""
    with admin.begin() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :schema AND pid <> pg_backend_pid()"
            ),
            {"schema": schema},
        )
        connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def schema_url(url: str, schema: str) -> str:
    """A psycopg URL whose connections use `schema` (Alembic and synchronous engines)."""
    options = {"options": f"-csearch_path={schema}", "application_name": schema}
    return make_url(url).update_query_dict(options).render_as_string(hide_password=False)


def service_url(url: str) -> str:
    """The URL as an operator would give it in DATABASE_URL (`postgresql://`, no driver):
    the settings map it to asyncpg."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def pin_search_path(engine: AsyncEngine, schema: str) -> None:
    """Every new connection of the service's engine uses `schema` and is named after it (set
    outside any transaction, so a rollback cannot undo it)."""

    @event.listens_for(engine.sync_engine, "connect", insert=True)
    def _search_path(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET SESSION search_path TO {schema}")
        cursor.execute(f"SET SESSION application_name TO '{schema}'")  # see `_drop`
        cursor.close()
        dbapi_connection.autocommit = autocommit
