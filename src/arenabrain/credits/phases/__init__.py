"""The pipeline's phases in the order they run (BRIDGING and FUNDING share `treasury`)."""

from __future__ import annotations

from arenabrain.credits.phases.allocating import allocating
from arenabrain.credits.phases.base import Handler
from arenabrain.credits.phases.claiming import claiming
from arenabrain.credits.phases.provisioning import provisioning
from arenabrain.credits.phases.swapping import swapping
from arenabrain.credits.phases.treasury import bridging, funding
from arenabrain.credits.state_machine import RunState

HANDLERS: dict[RunState, Handler] = {
    RunState.CLAIMING: claiming,
    RunState.SWAPPING: swapping,
    RunState.BRIDGING: bridging,
    RunState.FUNDING: funding,
    RunState.ALLOCATING: allocating,
    RunState.PROVISIONING: provisioning,
}
