"""CreditBrain keeps its upstreams' circuit breakers (`clients.breakers`) in the
`circuit_breakers` table, so an OPEN breaker outlives a restart: a breaker is loaded on its
first use in a process and saved whenever its state changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from arenabrain.clients.breakers import Breakers, BreakerState, CircuitBreaker
from arenabrain.credits.models import CircuitBreakerState


async def get(session: AsyncSession, breakers: Breakers, name: str) -> CircuitBreaker:
    """The breaker `name` of this process, loaded from its saved state on first use."""
    found = breakers.items.get(name)
    if found is None:
        row = await session.get(CircuitBreakerState, name)
        if row is None:
            found = breakers.add(name)
        else:
            found = breakers.add(
                name, BreakerState(row.state), row.consecutive_failures, row.opened_at
            )
    return found


async def save(session: AsyncSession, breaker: CircuitBreaker, now: datetime) -> None:
    """Write a breaker's state (upsert by name)."""
    row = await session.get(CircuitBreakerState, breaker.name)
    if row is None:
        row = CircuitBreakerState(name=breaker.name)
        session.add(row)
    row.state = str(breaker.state)
    row.consecutive_failures = breaker.failures
    row.opened_at = breaker.opened_at
    row.updated_at = now


async def load_all(session: AsyncSession) -> list[CircuitBreakerState]:
    result = await session.scalars(select(CircuitBreakerState).order_by(CircuitBreakerState.name))
    return list(result)
