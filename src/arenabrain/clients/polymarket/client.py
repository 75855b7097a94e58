"""Both Polymarket APIs over a context's upstreams: `client.gamma` for the catalog and
`client.clob` for prices, each retrying with the same policy."""

from __future__ import annotations

import asyncio

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
