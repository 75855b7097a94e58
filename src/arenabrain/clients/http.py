"""One httpx.AsyncClient per upstream, with timeouts, created in the lifespan.

Tests and the sandbox replace the network by passing a transport per upstream name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import httpx

from arenabrain.settings import Settings

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
UPSTREAMS = ("gamma", "clob", "openrouter", "bags", "helius")


@dataclass(frozen=True)
class Upstreams:
    gamma: httpx.AsyncClient
    clob: httpx.AsyncClient
    openrouter: httpx.AsyncClient
    bags: httpx.AsyncClient
    helius: httpx.AsyncClient

    async def aclose(self) -> None:
        for item in fields(self):
            await getattr(self, item.name).aclose()


def base_urls(settings: Settings) -> dict[str, str]:
    return {
        "gamma": settings.polymarket_gamma_url,
        "clob": settings.polymarket_clob_url,
        "openrouter": settings.openrouter_base_url,
        "bags": settings.bags_api_base_url,
        "helius": settings.resolved_helius_rpc_url(),
    }


def build_upstreams(
    settings: Settings, transports: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> Upstreams:
    """Clients for every upstream; `transports` (by upstream name) replaces the network."""
    transports = transports or {}
    urls = base_urls(settings)
    clients = {}
    for name in UPSTREAMS:
        # Helius's URL carries its key as a query parameter: it becomes a default parameter.
        url = httpx.URL(urls[name])
        clients[name] = httpx.AsyncClient(
            base_url=url.copy_with(query=None, path=url.path.rstrip("/") + "/"),
            params=url.params,
            timeout=DEFAULT_TIMEOUT,
            transport=transports.get(name),
            headers={"User-Agent": "arenabrain/0.1"},
        )
    return Upstreams(**clients)
