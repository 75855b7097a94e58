"""How every Polymarket call is made: JSON over httpx, with bounded retries on 429, 5xx and
transport errors (exponential backoff, honouring `Retry-After`; the sleep is injectable so
tests never wait), and one error type for whatever still fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from arenabrain.clients.polymarket.parsing import to_number

LIST_TIMEOUT_SECONDS = 30.0

Sleep = Callable[[float], Awaitable[None]]


class PolymarketError(Exception):
    """A Polymarket call failed: `status` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, status: int | None = None, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out


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
        headers = {"Accept": "application/json"}
        for attempt in range(1, limit + 1):
            try:
                response = await self.http.request(
                    method, path, params=params, json=json, headers=headers, timeout=time_limit
                )
            except httpx.TimeoutException as exc:
                if attempt == limit:
                    raise PolymarketError(
                        f"Polymarket request timed out: {method} /{path}", timed_out=True
                    ) from exc
                await self.sleep(self._delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                if attempt == limit:
                    raise PolymarketError(f"Polymarket request failed: {exc}") from exc
                await self.sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                if attempt == limit:
                    raise PolymarketError(status_message(response), status)
                await self.sleep(self._delay(attempt, response))
                continue
            if status >= 400 and status not in allow:
                raise PolymarketError(status_message(response), status)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = to_number(response.headers.get("retry-after"))
            if after is not None and after >= 0:
                return min(after, self.max_delay_seconds)
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_delay_seconds))


def status_message(response: httpx.Response) -> str:
    return f"Polymarket API error: {response.status_code} {response.reason_phrase}".rstrip()


def decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise PolymarketError(
            f"Polymarket answered {response.status_code} with a body that is not JSON",
            response.status_code,
        ) from exc
