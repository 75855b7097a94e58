"""A cache of answers that is never stale: an answer is kept with the data versions of the
tables it read, and served only while none of them has moved.

The versions are the `data_versions` counters, one per table, which a trigger moves on every
insert, update and delete of that table, whoever commits it (this process, another one, an
operator's `sqlite3`). So a write invalidates exactly the answers that read what it wrote: a
scheduler lease renewal or a system log line invalidates nothing public, a market sync leaves
the performance chart alone. They are read on a read-only connection of the cache's own, and
only when `PRAGMA data_version` (which moves as soon as any other connection commits) says the
database changed: a hit costs one pragma (a few microseconds, no thread hand-off) and a
dictionary lookup. The versions are read before the answer is computed, so a write that lands
during the computation leaves the entry already out of date rather than hiding the write.

Two levels share the versions. `get`/`json` keep an answer's body by what it answers (the
route's parsed parameters), and concurrent misses of one entry share one computation. A
`Reply` keeps a whole HTTP answer (headers and body) by the request target as sent, so that
`web.answer_replay` can send it again before routing. Both are bounded (least recently used
go first).

Without versions (PostgreSQL, an in-memory database, a file that cannot be read) nothing is
cached and every answer is computed afresh."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel

from arenabrain.db.engine import Database

MAX_ENTRIES = 256
Target = tuple[str, bytes]  # (path, raw query string)
RawHeaders = Sequence[tuple[bytes, bytes]]


class DataVersions(Protocol):
    def current(self) -> Mapping[str, int] | None:
        """Each versioned table's counter, or None when unknown."""

    def close(self) -> None:
        """Let go of whatever reads the versions."""


class SqliteDataVersions:
    """The `data_versions` counters of a SQLite file, read on a read-only connection opened on
    first use, again only after `PRAGMA data_version` moved."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._seen: int | None = None
        self._versions: dict[str, int] | None = None

    def current(self) -> Mapping[str, int] | None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=0.1,
                )
            (seen,) = self._connection.execute("PRAGMA data_version").fetchone()
            if seen != self._seen or self._versions is None:
                # Read after the pragma: a commit in between moves the pragma again, so the
                # counters are read once more next time; they are never older than `seen`.
                found = self._connection.execute("SELECT name, version FROM data_versions")
                self._versions = {str(name): int(version) for name, version in found}
                self._seen = seen
        except sqlite3.Error:
            self.close()
            return None
        return self._versions

    def close(self) -> None:
        self._seen = self._versions = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Answer(NamedTuple):
    body: bytes
    hit: bool  # served from the cache
    versions: tuple[int, ...] | None  # of the tables read, as computed; None when uncached


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole 200 answer kept for replay: valid while `tables` stand at `versions` and, when
    the answer also depends on the day, until `valid_until`."""

    tables: tuple[str, ...]
    versions: tuple[int, ...]
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    valid_until: datetime | None = None
    timed: bool = False  # a fresh Server-Timing header is added to each replay


class ResponseCache:
    """Answers keyed by what they answer, valid while the tables they read stand still."""

    def __init__(self, versions: DataVersions | None, max_entries: int = MAX_ENTRIES) -> None:
        self.data_versions = versions
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[tuple[int, ...], bytes]] = OrderedDict()
        self._pending: dict[tuple[Hashable, tuple[int, ...]], asyncio.Future[bytes]] = {}
        self._replies: OrderedDict[Target, Reply] = OrderedDict()

    def versions_of(self, tables: Sequence[str]) -> tuple[int, ...] | None:
        """The current versions of `tables`, or None when unknown (a table without a counter
        included: its answers are never cached)."""
        current = self.data_versions.current() if self.data_versions is not None else None
        if current is None:
            return None
        try:
            return tuple([current[table] for table in tables])
        except KeyError:
            return None

    def database_answers(self) -> bool:
        """Whether the data versions could be read just now: the database file answered a
        query (False when there are no versions to read, as on PostgreSQL)."""
        return self.data_versions is not None and self.data_versions.current() is not None

    async def get(
        self, key: Hashable, tables: Sequence[str], compute: Callable[[], Awaitable[bytes]]
    ) -> Answer:
        """The answer for `key`, which reads `tables`; `compute` makes it when the cached one
        is missing or out of date. Errors are raised, never cached."""
        versions = self.versions_of(tables)
        if versions is None:
            return Answer(await compute(), False, None)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == versions:
            self._entries.move_to_end(key)
            return Answer(entry[1], True, versions)
        pending = self._pending.get((key, versions))
        if pending is not None:
            return Answer(await asyncio.shield(pending), False, versions)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[(key, versions)] = future
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
            self._entries[key] = (versions, body)
            self._bound(self._entries)
            return Answer(body, False, versions)
        finally:
            del self._pending[(key, versions)]

    async def json(
        self,
        key: Hashable,
        tables: Sequence[str],
        shape: type[BaseModel],
        compute: Callable[[], Awaitable[Any]],
    ) -> Answer:
        """The JSON answer for `key`, checked against `shape` when computed (an undeclared or
        missing key fails there)."""

        async def render() -> bytes:
            return shape.model_validate(await compute()).model_dump_json().encode()

        return await self.get(key, tables, render)

    def keep_reply(self, target: Target, reply: Reply) -> None:
        """Keep `reply` as the answer to a GET of `target` while it stands."""
        self._replies[target] = reply
        self._replies.move_to_end(target)
        self._bound(self._replies)

    def reply(self, target: Target) -> Reply | None:
        """The kept answer to a GET of `target` if its tables have not moved since; the
        caller checks `valid_until` against its clock."""
        reply = self._replies.get(target)
        if reply is None or self.versions_of(reply.tables) != reply.versions:
            return None
        self._replies.move_to_end(target)
        return reply

    def close(self) -> None:
        if self.data_versions is not None:
            self.data_versions.close()

    def _bound(self, entries: OrderedDict[Any, Any]) -> None:
        while len(entries) > self.max_entries:
            entries.popitem(last=False)


def answer_cache(db: Database) -> ResponseCache:
    """The cache for `db`: versioned by its `data_versions` on a SQLite file, else none."""
    url = db.engine.url
    path = url.database if db.is_sqlite else None
    versions = SqliteDataVersions(path) if path and path != ":memory:" else None
    return ResponseCache(versions)
