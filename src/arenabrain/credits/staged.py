"""Rows a unit of work stages, to be written with one statement per table at its end.

Adding ORM objects one by one costs a flush (a statement, and through aiosqlite a hop to the
database thread) per row whenever anything else runs in between; a group of journal writes in
which every holder adds a key, attaches it to their allocation and audits it would cost three
statements per holder. Staged rows are written together instead: `write_staged` runs one
executemany per table (inserts) or per statement (updates), in the order each was first
staged, and the journal calls it before every commit (`phases/base.PhaseContext.journal`), so
a staged row commits or rolls back with the rest of its unit of work.

An update staged with `one_row` must change exactly one row each time, or the unit of work
fails (the count is checked per executemany where the driver reports it, else row by row).
A write must not read what another write staged in the same unit of work (staged rows are
not in the session). Repository functions: they take a session and never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy import insert as sql_insert
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.db.base import Base

_STAGED = "arenabrain.credits.staged"


class StagedRowsMissing(Exception):
    """A staged update found fewer rows than it must change."""


@dataclass
class _Batch:
    statement: Executable
    one_row: bool
    params: list[dict[str, Any]] = field(default_factory=list)


def _batch(session: AsyncSession, key: object, statement: Executable, one_row: bool) -> _Batch:
    batches: dict[object, _Batch] = session.info.setdefault(_STAGED, {})
    if key not in batches:
        batches[key] = _Batch(statement, one_row)
    return batches[key]


def insert(session: AsyncSession, model: type[Base], values: dict[str, Any]) -> None:
    """Stage a new row of `model` (attribute names as keys)."""
    _batch(session, model, sql_insert(model), False).params.append(values)


def execute(
    session: AsyncSession, statement: Executable, params: dict[str, Any], *, one_row: bool
) -> None:
    """Stage `statement` (a module constant: its executions are batched by identity) with
    `params`; with `one_row`, it must change exactly one row."""
    _batch(session, statement, statement, one_row).params.append(params)


def pending(session: AsyncSession) -> int:
    """How many statements' parameter sets are staged and not yet written."""
    return sum(len(batch.params) for batch in session.info.get(_STAGED, {}).values())


async def write_staged(session: AsyncSession) -> None:
    """Write every staged row, one executemany per batch."""
    batches: dict[object, _Batch] = session.info.pop(_STAGED, {})
    for batch in batches.values():
        if not batch.one_row:
            await session.execute(batch.statement, batch.params)
        elif session.get_bind().dialect.supports_sane_multi_rowcount:
            await _checked(session, batch.statement, batch.params)
        else:  # the driver cannot count an executemany's rows: one by one
            for params in batch.params:
                await _checked(session, batch.statement, [params])


async def _checked(
    session: AsyncSession, statement: Executable, params: list[dict[str, Any]]
) -> None:
    result = cast(CursorResult[Any], await session.execute(statement, params))
    if result.rowcount != len(params):
        raise StagedRowsMissing(
            f"{result.rowcount} of {len(params)} rows changed by a staged update: {statement}"
        )
