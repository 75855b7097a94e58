"""The sandbox's table of emulators: one per upstream the service talks to, each keeping its
state in its own field of the world."""

from __future__ import annotations

from arenabrain.clients.http import UPSTREAMS
from arenabrain.clock import FrozenClock
from arenabrain.sandbox import EMULATORS, Sandbox, World
from arenabrain.sandbox.bags import bags_state
from arenabrain.sandbox.openrouter import openrouter_state
from arenabrain.sandbox.personas import personas_state
from arenabrain.sandbox.polymarket import polymarket_state
from arenabrain.sandbox.solana import solana_state


def test_every_upstream_has_an_emulator_and_a_transport(clock: FrozenClock) -> None:
    assert sorted(EMULATORS) == sorted(UPSTREAMS)
    assert sorted(Sandbox(World(clock=clock)).transports()) == sorted(UPSTREAMS)


def test_each_emulator_makes_its_state_once_in_its_own_field(clock: FrozenClock) -> None:
    world = World(clock=clock)
    assert (world.polymarket, world.openrouter, world.personas, world.bags, world.solana) == (
        None,
        None,
        None,
        None,
        None,
    )
    made = [
        polymarket_state(world),
        openrouter_state(world),
        personas_state(world),
        bags_state(world),
        solana_state(world),
    ]
    assert made[0] is world.polymarket and made[1] is world.openrouter
    assert made[2] is world.personas and made[3] is world.bags and made[4] is world.solana
    again = [
        polymarket_state(world),
        openrouter_state(world),
        personas_state(world),
        bags_state(world),
        solana_state(world),
    ]
    assert all(a is b for a, b in zip(made, again, strict=True))
