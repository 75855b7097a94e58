"""Both Polymarket APIs over a context's upstreams: `client.gamma` for the catalog and
`client.clob` for prices, each retrying with the same policy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from arenabrain.clients.polymarket.clob import ClobClient
from arenabrain.clients.polymarket.gamma import GammaClient
from arenabrain.clients.polymarket.transport import Sleep, Transport, retry_policy


class PolymarketClient:
    """Gamma and the CLOB over httpx clients whose base URLs have no path prefix."""

    def __init__(
        self, gamma: httpx.AsyncClient, clob: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        retry = retry_policy(sleep)
        self.gamma = GammaClient(Transport(gamma, retry=retry))
        self.clob = ClobClient(Transport(clob, retry=retry))


def polymarket_client(ctx: Any) -> PolymarketClient:
    """The client over a context's upstreams; `ctx.extras["polymarket_sleep"]` replaces the sleep
    (tests inject a recorder so retries never wait)."""
    sleep = ctx.extras.get("polymarket_sleep", asyncio.sleep)
    return PolymarketClient(ctx.http.gamma, ctx.http.clob, sleep=sleep)
