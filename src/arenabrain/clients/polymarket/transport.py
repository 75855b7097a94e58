"""How every Polymarket call is made: JSON over httpx, with bounded retries on 429, 5xx and
transport errors (the shared `RetryPolicy`: exponential backoff, honouring `Retry-After`; the
sleep is injectable so tests never wait), failing with `PolymarketError` (the shared
`UpstreamError` mapping in the anchor's words)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from arenabrain.clients.errors import UpstreamError, send, status_error
from arenabrain.clients.retry import RetryPolicy

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


def retry_policy(sleep: Sleep = asyncio.sleep) -> RetryPolicy:
    """Polymarket's retries: 3 attempts, 0.5 s doubling up to 10 s without jitter, or the
    server's `Retry-After` (capped the same way) when it sends one."""
    return RetryPolicy(
        attempts=3,
        base_seconds=0.5,
        cap_seconds=10.0,
        jitter=False,
        honour_retry_after=True,
        sleep=sleep,
    )


class Transport:
    """One upstream (Gamma or the CLOB) over an httpx client whose base URL has no path prefix."""

    def __init__(self, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None) -> None:
        self.http = http
        self.retry = retry or retry_policy()

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
        policy = replace(self.retry, attempts=attempts) if attempts else self.retry
        return await policy.run(
            lambda: self._once(method, path, params, json, time_limit, allow),
            what=f"{UPSTREAM} {method} /{path}",
        )

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


def decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise PolymarketError(
            UPSTREAM,
            f"Polymarket answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from exc
