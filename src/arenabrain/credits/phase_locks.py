"""The locks a run holds during some of its phases, on what strategies share.

- **The signer wallet, CLAIMING..SWAPPING.** Every live strategy's owner must be the signer, so
  they all claim into and swap from one wallet; one run at a time draws on it. (What a claim or
  swap produced is read from its own transaction, so a run that failed and released the lock
  still counts only its own money when it resumes.)
- **The credit pool, ALLOCATING.** A run reads what the pool can still give (GET /credits, the
  headroom of live keys, the allocations other runs have not provisioned yet) and records its
  plan, which from then on counts as promised (pool.py). Two runs doing that at once would
  both promise the same free credit.

A run takes the lock as it enters the first phase that needs it and releases it once the last
such phase is committed (before the next phase starts, or when the run stops). The lock is
refreshed with the run lock (every journal write, every phase boundary) and a stale one is
taken over, exactly as the run lock is (locks.py). Dry runs move nothing and take neither.

A lock held by another run is **waited for, bounded**: WAIT_SCHEDULE polls for about 15
minutes (a claim and a swap take a minute or two), keeping this run's own lock alive. Past it
the run fails with SIGNER_WALLET_BUSY or CREDIT_POOL_BUSY in the phase it was entering, before
that phase did anything, and `arenabrain run --resume <id>` continues it later. A lock left by
a process that died is taken over once it expires (LOCK_TTL), so at worst runs wait that long."""

from __future__ import annotations

from collections.abc import Sequence

from arenabrain.context import Context
from arenabrain.credits import locks
from arenabrain.credits.locks import HeldLock, LockLost, ResourceBusy
from arenabrain.credits.models import Run, Strategy
from arenabrain.credits.phases.base import PhaseFailure
from arenabrain.credits.ports import SignerPort
from arenabrain.credits.state_machine import RunState
from arenabrain.logging import get_logger

WALLET_BUSY = "SIGNER_WALLET_BUSY"
POOL_BUSY = "CREDIT_POOL_BUSY"
POOL = "credit-pool"
# Seconds between attempts: about 15 minutes in all.
WAIT_SCHEDULE: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0) + (30.0,) * 29


def wallet_resource(address: str) -> str:
    return f"wallet:{address}"


def needed(run: Run, strategy: Strategy, signer: SignerPort | None) -> tuple[str, ...]:
    """The resource locks the run's current phase must hold."""
    if run.dry_run:
        return ()
    state = RunState(run.state)
    if state in (RunState.CLAIMING, RunState.SWAPPING):
        # Claiming requires signer == owner; without a signer the phase fails before any send.
        return (wallet_resource(signer.public_key if signer else strategy.owner_wallet),)
    if state is RunState.ALLOCATING:
        return (POOL,)
    return ()


def busy_failure(resource: str, held: HeldLock, run_id: str) -> PhaseFailure:
    waited = round(sum(WAIT_SCHEDULE) / 60)
    resume = f"resume it with `arenabrain run --resume {run_id}` once that run is done"
    if resource == POOL:
        return PhaseFailure(
            POOL_BUSY,
            f"The credit pool was being allocated by run {held.run_id} (strategy "
            f"{held.strategy_id}) for over {waited} minutes; this run allocated nothing: {resume}",
        )
    wallet = resource.removeprefix("wallet:")
    return PhaseFailure(
        WALLET_BUSY,
        f"Signer wallet {wallet} was claiming or swapping for run {held.run_id} (strategy "
        f"{held.strategy_id}) for over {waited} minutes; this run sent nothing: {resume}",
    )


class PhaseLocks:
    """The resource locks one runner holds for one run."""

    def __init__(self, ctx: Context, holder: str, run_id: str, strategy_id: str) -> None:
        self.ctx = ctx
        self.holder = holder
        self.run_id = run_id
        self.strategy_id = strategy_id
        self.held: tuple[str, ...] = ()

    async def hold(self, wanted: Sequence[str]) -> None:
        """Hold exactly `wanted`: release the others, take the missing ones (waiting)."""
        extra = [r for r in self.held if r not in wanted]
        if extra:
            await self.release(extra)
        for resource in wanted:
            if resource not in self.held:
                await self.take(resource)

    async def take(self, resource: str) -> None:
        sleep = self.ctx.sleep
        log = get_logger()
        for delay in (*WAIT_SCHEDULE, None):
            now = self.ctx.clock.now()
            async with self.ctx.db.write() as session:
                # Waiting keeps this run's own locks alive (and notices losing them).
                if not await locks.refresh(
                    session, self.strategy_id, self.holder, now, leases=self.held
                ):
                    raise LockLost()
                try:
                    reaped = await locks.take(
                        session,
                        resource,
                        self.holder,
                        now,
                        run_id=self.run_id,
                        strategy_id=self.strategy_id,
                    )
                except ResourceBusy as busy:
                    held = busy.held
                else:
                    self.held = (*self.held, resource)
                    if reaped is not None:
                        log.info("Cleaned stale lock", resource=resource, staleRunId=reaped.run_id)
                    return
            if delay is None:
                raise busy_failure(resource, held, self.run_id)
            if delay == WAIT_SCHEDULE[0]:
                log.info("Waiting for a lock", resource=resource, heldByRunId=held.run_id)
            await sleep(delay)

    async def release(self, resources: Sequence[str] | None = None) -> None:
        """Release the named locks (all held ones by default)."""
        names = list(self.held if resources is None else resources)
        if not names:
            return
        async with self.ctx.db.write() as session:
            await locks.release_resources(session, self.holder, names)
        self.held = tuple(r for r in self.held if r not in names)
