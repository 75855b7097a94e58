"""The emulators, one per upstream name, and the transports that reach them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
from starlette.types import ASGIApp

from arenabrain.sandbox import bags, openrouter, polymarket, solana
from arenabrain.sandbox.world import World

EmulatorFactory = Callable[[World], ASGIApp]
# The upstream names are those of `clients.http.UPSTREAMS`: each gets its emulator.
EMULATORS: Mapping[str, EmulatorFactory] = {
    "openrouter": openrouter.build,
    "gamma": polymarket.build_gamma,
    "clob": polymarket.build_clob,
    "bags": bags.build,
    "helius": solana.build,
}


class Sandbox:
    """A world plus one ASGI emulator per upstream, reachable through httpx transports."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world or World()
        self.apps: dict[str, ASGIApp] = {name: make(self.world) for name, make in EMULATORS.items()}

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {name: httpx.ASGITransport(app=app) for name, app in self.apps.items()}
