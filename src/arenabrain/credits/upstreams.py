"""How the pipeline reaches its upstreams: the port implementations, each call guarded by the
upstream's circuit breaker and (when the call is idempotent) retried on transient errors.

The clients are the context's (`ctx.clients`; tests swap in fakes of the ports), and so are
the breakers, the sleep between retries and the jitter's random source."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from arenabrain.clients.breakers import CircuitBreaker
from arenabrain.clients.errors import UpstreamError as UpstreamError
from arenabrain.clients.retry import RetryPolicy
from arenabrain.context import Context
from arenabrain.credits import breakers
from arenabrain.credits.ports import BagsPort, HoldersPort, KeysPort, SignerPort, SolanaPort

T = TypeVar("T")


class CreditClients(Protocol):
    """What the pipeline needs of `ctx.clients`."""

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


class Guard:
    """Calls an upstream through its breaker, with retries for idempotent calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.breakers = ctx.breakers
        self.retry = RetryPolicy(sleep=ctx.sleep, rng=ctx.rng)

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
                await breakers.get(session, self.breakers, upstream)
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

    async def _persist(self, breaker: CircuitBreaker, before: Any) -> None:
        if breaker.snapshot() == before:
            return
        async with self.ctx.db.write() as session:
            await breakers.save(session, breaker, self.ctx.clock.now())
