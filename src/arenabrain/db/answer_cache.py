"""A cache of answers that is never stale: an answer is kept with the database's data
version it was computed at, and served only while that version has not moved.

On SQLite the version is `PRAGMA data_version`, read on a connection of its own that never
writes: it changes as soon as any other connection, in this process or another, commits. The
version is read before the answer is computed, so a write that lands during the computation
leaves the entry already out of date rather than hiding the write. A hit costs one pragma (a few
microseconds, no thread hand-off) and a dictionary lookup. Without a version (PostgreSQL, an
in-memory database, a checker that cannot open the file) nothing is cached and every answer is
computed afresh. Entries are bounded (least recently used go first), and concurrent misses of
one entry share one computation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from pydantic import BaseModel

from arenabrain.db.engine import Database

MAX_ENTRIES = 256


class DataVersion(Protocol):
    def current(self) -> int | None:
        """A number that changes whenever the data changes, or None when unknown."""

    def close(self) -> None:
        """Let go of whatever reads the version."""


class SqliteDataVersion:
    """`PRAGMA data_version` of a read-only connection opened on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def current(self) -> int | None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=0.1,
                )
            row = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self.close()
            return None
        return int(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class ResponseCache:
    """Answers keyed by what they answer, valid while the data version stands still."""

    def __init__(self, version: DataVersion | None, max_entries: int = MAX_ENTRIES) -> None:
        self.version = version
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._pending: dict[tuple[Hashable, int], asyncio.Future[bytes]] = {}

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """The answer for `key` and whether it came from the cache; `compute` makes it when
        the cached one is missing or out of date. Errors are raised, never cached."""
        version = self.version.current() if self.version is not None else None
        if version is None:
            return await compute(), False
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            return entry[1], True
        pending = self._pending.get((key, version))
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[(key, version)] = future
        try:
            body = await compute()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # waiters get it too; no "never retrieved" warning
            raise
        else:
            future.set_result(body)
            self._store(key, version, body)
            return body, False
        finally:
            del self._pending[(key, version)]

    async def json(
        self,
        key: Hashable,
        shape: type[BaseModel],
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> tuple[bytes, bool]:
        """The JSON answer for `key`, checked against `shape` when computed (an undeclared or
        missing key fails there), and whether it came from the cache."""

        async def render() -> bytes:
            return shape.model_validate(await compute()).model_dump_json().encode()

        return await self.get(key, render)

    def close(self) -> None:
        if self.version is not None:
            self.version.close()

    def _store(self, key: Hashable, version: int, body: bytes) -> None:
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def answer_cache(db: Database) -> ResponseCache:
    """The cache for `db`: versioned by `PRAGMA data_version` on a SQLite file, else none."""
    url = db.engine.url
    path = url.database if db.is_sqlite else None
    version = SqliteDataVersion(path) if path and path != ":memory:" else None
    return ResponseCache(version)
