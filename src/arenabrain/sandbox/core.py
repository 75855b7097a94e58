"""The emulator registry and the transports that reach the emulators."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp

from arenabrain.sandbox.world import World

EmulatorFactory = Callable[[World], ASGIApp]
EMULATORS: dict[str, EmulatorFactory] = {}

# Modules that register emulators when imported.
EMULATOR_MODULES = (
    "arenabrain.sandbox.openrouter",
    "arenabrain.sandbox.polymarket",
    "arenabrain.sandbox.bags",
    "arenabrain.sandbox.solana",
)


def emulator(upstream: str) -> Callable[[EmulatorFactory], EmulatorFactory]:
    """Register the factory of the emulator that stands in for `upstream`."""

    def register(factory: EmulatorFactory) -> EmulatorFactory:
        EMULATORS[upstream] = factory
        return factory

    return register


def _load_emulators() -> None:
    for module in EMULATOR_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an emulator still being built
            if exc.name != module:
                raise


class Sandbox:
    """A world plus one ASGI emulator per upstream, reachable through httpx transports."""

    def __init__(self, world: World | None = None) -> None:
        _load_emulators()
        self.world = world or World()
        self.apps: dict[str, ASGIApp] = {name: make(self.world) for name, make in EMULATORS.items()}

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {name: httpx.ASGITransport(app=app) for name, app in self.apps.items()}
