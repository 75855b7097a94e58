"""What every phase handler receives and returns.

A handler gets a `PhaseContext` (the run's checkpoints, its strategy, the upstream ports, the
dry-run flag) and returns a `PhaseOutcome`: the checkpoint columns to set, the audit details,
and optionally rows to write. The runner commits all of that together with the transition to
the next state, in one unit of work; a handler that must record an external side effect the
moment it happens (a claim transaction, a created key) writes it through `journal`, its own
small unit, so a crash right after it loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.context import Context
from arenabrain.credits import staged
from arenabrain.credits.models import Run, Strategy
from arenabrain.credits.upstreams import CreditClients, Guard

T = TypeVar("T")
Persist = Callable[[AsyncSession], Awaitable[None]]


class PhaseFailure(Exception):
    """A phase failed for a reason its code and detail explain (the run becomes FAILED)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class PhaseOutcome:
    checkpoint: dict[str, Any] = field(default_factory=dict)  # runs columns to set
    details: dict[str, Any] = field(default_factory=dict)  # audit details of the transition
    persist: Persist | None = None  # rows committed atomically with the transition
    tx_signature: str | None = None


@dataclass
class PhaseContext:
    ctx: Context
    run: Run  # detached snapshot of the run row as the phase starts
    strategy: Strategy  # detached snapshot of the strategy row
    clients: CreditClients
    guard: Guard
    dry_run: bool
    log: Any
    holder: str | None = None  # the run lock's holder; journal writes refresh the lock
    leases: tuple[str, ...] = ()  # this phase's resource locks (phase_locks), refreshed too

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def now(self) -> datetime:
        return self.ctx.clock.now()

    async def journal(self, write: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Commit `write(session)` now, in its own unit of work.

        Rows the write staged (`credits/staged.py`) are written at its end, in the same unit.
        Each journal write also refreshes the run lock and the phase's resource locks (a
        heartbeat during long phases) and stops the phase with LockLost when another process
        has taken one of them over.

        A unit of work that has begun is finished (committed, or rolled back on its own error)
        even when the caller is cancelled meanwhile: cancelled halfway, the driver's connection
        would be dropped inside its transaction and keep SQLite's write lock until it is
        garbage-collected, blocking every other writer."""
        return await asyncio.shield(self._unit_of_work(write))

    async def _unit_of_work(self, write: Callable[[AsyncSession], Awaitable[T]]) -> T:
        from arenabrain.credits import locks

        async with self.ctx.db.write() as session:
            if self.holder is not None and not await locks.refresh(
                session, self.strategy.strategy_id, self.holder, self.now(), leases=self.leases
            ):
                raise locks.LockLost()
            result = await write(session)
            await staged.write_staged(session)  # rows `write` staged commit with it
            return result


Handler = Callable[[PhaseContext], Awaitable[PhaseOutcome]]


def error_code(exc: BaseException) -> str:
    """The run error code for an upstream error (the runbook's OPENROUTER_TIMEOUT included):
    `<UPSTREAM>_TIMEOUT`, `_RATE_LIMITED` (429), `_5XX` (an error status from 500 to 599),
    `_UNAVAILABLE` (an open breaker, or another transient failure) or `_ERROR`."""
    from arenabrain.clients.breakers import BreakerOpen
    from arenabrain.clients.errors import UpstreamError

    if isinstance(exc, PhaseFailure):
        return exc.code
    if isinstance(exc, UpstreamError):
        name = exc.upstream.upper().replace("-", "_").replace(" ", "_")
        if isinstance(exc, BreakerOpen):
            return f"{name}_UNAVAILABLE"
        if exc.transient and exc.status is None and "TIME" in str(exc).upper():
            return f"{name}_TIMEOUT"
        if exc.status == 429:
            return f"{name}_RATE_LIMITED"
        if exc.status is not None and 500 <= exc.status <= 599:
            return f"{name}_5XX"
        return f"{name}_UNAVAILABLE" if exc.transient else f"{name}_ERROR"
    if "database is locked" in str(exc):
        return "DB_LOCKED"
    return "PHASE_ERROR"


async def confirmation(pc: PhaseContext, kind: str, signature: str, lvbh: int) -> Any:
    """Wait for a sent (or perhaps sent) transaction: its status on chain decides (the client
    polls until it lands or its blockhash expires).

    An outcome still unknown when the client gives up, or when the RPC cannot be asked (a
    transient error, an open breaker), is not retried here: the phase fails with
    `<KIND>_TX_UNCONFIRMED` and the recorded signature is checked again on resume."""
    from arenabrain.clients.breakers import BreakerOpen
    from arenabrain.clients.errors import UpstreamError

    solana = pc.clients.solana
    try:
        return await pc.guard.call(
            "solana",
            lambda: solana.confirm(signature, lvbh),
            retry=False,
            what=f"confirm {kind.lower()}",
        )
    except UpstreamError as exc:
        if not exc.transient and not isinstance(exc, BreakerOpen):
            raise
        raise PhaseFailure(
            f"{kind}_TX_UNCONFIRMED",
            f"{kind.capitalize()} transaction {signature} is not confirmed yet ({exc}); "
            "resume the run to check it again",
        ) from exc
