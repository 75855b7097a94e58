"""The pipeline's phases, one module each, in the order they run."""

from __future__ import annotations

from arenabrain.credits.phases.allocating import allocating
from arenabrain.credits.phases.base import Handler
from arenabrain.credits.phases.bridging import bridging
from arenabrain.credits.phases.claiming import claiming
from arenabrain.credits.phases.funding import funding
from arenabrain.credits.phases.provisioning import provisioning
from arenabrain.credits.phases.swapping import swapping
from arenabrain.credits.state_machine import RunState

HANDLERS: dict[RunState, Handler] = {
    RunState.CLAIMING: claiming,
    RunState.SWAPPING: swapping,
    RunState.BRIDGING: bridging,
    RunState.FUNDING: funding,
    RunState.ALLOCATING: allocating,
    RunState.PROVISIONING: provisioning,
}
