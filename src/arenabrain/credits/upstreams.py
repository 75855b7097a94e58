"""How the pipeline reaches its upstreams: the port implementations, each call guarded by the
upstream's circuit breaker and (when the call is idempotent) retried on transient errors.

`credit_clients(ctx)` builds the real clients once per context (`clients.credits_wiring`);
tests put fakes of the ports in `ctx.extras[CLIENTS]` instead."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from arenabrain.clients.errors import UpstreamError as UpstreamError
from arenabrain.clients.retry import RetryPolicy
from arenabrain.context import Context
from arenabrain.credits import breakers
from arenabrain.credits.breakers import Breakers
from arenabrain.credits.ports import BagsPort, HoldersPort, KeysPort, SignerPort, SolanaPort

T = TypeVar("T")
CLIENTS = "credit_clients"  # the key `clients.credits_wiring` memoises under
BREAKERS = "credits.breakers"
SLEEP = "credits.sleep"  # an injected `async sleep(seconds)`; tests never really wait
RNG = "credits.rng"


class CreditClients(Protocol):
    @property
    def bags(self) -> BagsPort: ...

    @property
    def solana(self) -> SolanaPort: ...

    @property
    def holders(self) -> HoldersPort: ...

    @property
    def keys(self) -> KeysPort: ...

    @property
    def signer(self) -> SignerPort | None: ...


def credit_clients(ctx: Context) -> CreditClients:
    """The upstream clients of this context, built on first use."""
    found: CreditClients | None = ctx.extras.get(CLIENTS)
    if found is None:
        found = build_clients(ctx)
        ctx.extras[CLIENTS] = found
    return found


def build_clients(ctx: Context) -> CreditClients:
    from arenabrain.clients.credits_wiring import credit_clients as wiring

    clients: CreditClients = wiring(ctx)
    return clients


class Guard:
    """Calls an upstream through its breaker, with retries for idempotent calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        found: Breakers | None = ctx.extras.get(BREAKERS)
        if found is None:
            found = ctx.extras[BREAKERS] = Breakers()
        self.breakers = found
        self.retry = RetryPolicy(
            sleep=ctx.extras.get(SLEEP, asyncio.sleep),
            rng=ctx.extras.get(RNG) or random.Random(),
        )

    async def call(
        self,
        upstream: str,
        call: Callable[[], Awaitable[T]],
        *,
        retry: bool = True,
        what: str = "",
    ) -> T:
        """Run `call()`; retry transient failures only when `retry` (the call is idempotent)."""

        async def attempt() -> T:
            return await self._through_breaker(upstream, call)

        if retry:
            return await self.retry.run(attempt, what=what or upstream)
        return await attempt()

    async def _through_breaker(self, upstream: str, call: Callable[[], Awaitable[T]]) -> T:
        if upstream not in self.breakers.items:
            async with self.ctx.db.read() as session:
                await self.breakers.get(session, upstream)
        breaker = self.breakers.items[upstream]
        before = breaker.snapshot()
        breaker.before_call(self.ctx.clock.now())
        try:
            result = await call()
        except UpstreamError as exc:
            if exc.transient:
                breaker.record_failure(self.ctx.clock.now())
            else:
                breaker.record_success()
            await self._persist(breaker, before)
            raise
        except BaseException:
            breaker.trial_in_flight = False
            raise
        breaker.record_success()
        await self._persist(breaker, before)
        return result

    async def _persist(self, breaker: breakers.CircuitBreaker, before: Any) -> None:
        if breaker.snapshot() == before:
            return
        async with self.ctx.db.write() as session:
            await breakers.save(session, breaker, self.ctx.clock.now())
