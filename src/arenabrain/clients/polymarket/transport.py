"""How every Polymarket call is made: JSON over httpx, with bounded retries on 429, 5xx and
transport errors (exponential backoff, honouring `Retry-After`; the sleep is injectable so
tests never wait), failing with `PolymarketError` (the shared `UpstreamError` mapping in the
anchor's words)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError, send, status_error

UPSTREAM = "polymarket"
LIST_TIMEOUT_SECONDS = 30.0

Sleep = Callable[[float], Awaitable[None]]


class PolymarketError(UpstreamError):
    """A Polymarket call (Gamma or the CLOB) failed, in the anchor's words: it reads as its
    reason alone, which names Polymarket."""

    def __str__(self) -> str:
        return self.reason

    @classmethod
    def transient_status(cls, status: int) -> bool:
        return status == 429 or status >= 500

    @classmethod
    def timeout_reason(cls, label: str, deadline: float | None) -> str:
        return f"Polymarket request timed out: {label}"

    @classmethod
    def failure_reason(cls, label: str, exc: httpx.RequestError) -> str:
        return f"Polymarket request failed: {exc}"

    @classmethod
    def status_reason(cls, label: str, response: httpx.Response, detail: str) -> str:
        return f"Polymarket API error: {response.status_code} {response.reason_phrase}".rstrip()


class Transport:
    """One upstream (Gamma or the CLOB) over an httpx client whose base URL has no path prefix."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_delay_seconds: float = 10.0,
    ) -> None:
        self.http = http
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.max_delay_seconds = max_delay_seconds

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        time_limit: float = LIST_TIMEOUT_SECONDS,
    ) -> Any:
        """`send` and decode the JSON body."""
        response = await self.send(method, path, params=params, json=json, time_limit=time_limit)
        return decode(response)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        time_limit: float = LIST_TIMEOUT_SECONDS,
        allow: tuple[int, ...] = (),
        attempts: int | None = None,
    ) -> httpx.Response:
        """One call with bounded retries on 429, 5xx and transport errors; any other non-2xx
        status that is not in `allow` raises `PolymarketError`."""
        limit = attempts or self.max_attempts
        for attempt in range(1, limit + 1):
            try:
                return await self._once(method, path, params, json, time_limit, allow)
            except PolymarketError as exc:
                if not exc.transient or attempt == limit:
                    raise
                await self.sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        time_limit: float,
        allow: tuple[int, ...],
    ) -> httpx.Response:
        response = await send(
            self.http,
            UPSTREAM,
            method,
            path,
            label=f"{method} /{path}",
            error=PolymarketError,
            params=params,
            json=json,
            headers={"Accept": "application/json"},
            timeout=time_limit,
        )
        if response.status_code >= 400 and response.status_code not in allow:
            raise status_error(UPSTREAM, path, response, None, error=PolymarketError)
        return response

    def _delay(self, attempt: int, after: float | None) -> float:
        if after is not None:
            return min(after, self.max_delay_seconds)
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_delay_seconds))


def decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise PolymarketError(
            UPSTREAM,
            f"Polymarket answered {response.status_code} with a body that is not JSON",
            response.status_code,
        ) from exc
