"""The sandbox: emulators of every upstream, driven by one simulated world.

Each emulator is an ASGI app built from the `World`; `Sandbox.transports()` gives an httpx
transport per upstream name, so clients talk to the emulators exactly as to the real services.
Sandbox mode is never implicit: it is on only with SANDBOX=true or `serve --sandbox`."""

from arenabrain.sandbox.core import EMULATORS, Sandbox
from arenabrain.sandbox.scenario import WorldSetup, configure_demo_world
from arenabrain.sandbox.world import World

__all__ = ["EMULATORS", "Sandbox", "World", "WorldSetup", "configure_demo_world"]
