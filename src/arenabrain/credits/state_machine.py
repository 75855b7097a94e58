"""The run state machine: states, allowed transitions, phase order and resume.

A run's `state` names the phase being executed (or about to be). A phase that succeeds moves
the run to the next state; any state can fail to FAILED, which records the failed phase in
`error_failed_state`. **Resume re-enters the failed phase** (the runbook's semantics, not the
anchor's B5): a run that failed in PROVISIONING resumes at PROVISIONING, skipping CLAIMING,
SWAPPING, BRIDGING, FUNDING and ALLOCATING, whose checkpoints it reuses.

Audit action strings (one row per event, `phase` = the state before the event):
`start:PENDING->CLAIMING`, `transition:<from>-><to>`, `fail:<state>`, `resume:FAILED-><phase>`,
`policy:rejected` (kill switch or daily cap at an entry point).
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    PENDING = "PENDING"
    CLAIMING = "CLAIMING"
    SWAPPING = "SWAPPING"
    BRIDGING = "BRIDGING"
    FUNDING = "FUNDING"
    ALLOCATING = "ALLOCATING"
    PROVISIONING = "PROVISIONING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


PHASES: tuple[RunState, ...] = (
    RunState.CLAIMING,
    RunState.SWAPPING,
    RunState.BRIDGING,
    RunState.FUNDING,
    RunState.ALLOCATING,
    RunState.PROVISIONING,
)
ORDER: tuple[RunState, ...] = (RunState.PENDING, *PHASES, RunState.COMPLETE)
TERMINAL = frozenset({RunState.COMPLETE, RunState.FAILED})

TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.CLAIMING, RunState.FAILED}),
    RunState.CLAIMING: frozenset({RunState.SWAPPING, RunState.FAILED}),
    RunState.SWAPPING: frozenset({RunState.BRIDGING, RunState.FAILED}),
    RunState.BRIDGING: frozenset({RunState.FUNDING, RunState.FAILED}),
    RunState.FUNDING: frozenset({RunState.ALLOCATING, RunState.FAILED}),
    RunState.ALLOCATING: frozenset({RunState.PROVISIONING, RunState.FAILED}),
    RunState.PROVISIONING: frozenset({RunState.COMPLETE, RunState.FAILED}),
    RunState.COMPLETE: frozenset(),
    RunState.FAILED: frozenset(PHASES),
}


class InvalidTransition(ValueError):
    pass


class NotResumable(ValueError):
    """Only FAILED runs can be resumed."""


def allowed(source: RunState | str, target: RunState | str) -> bool:
    return RunState(target) in TRANSITIONS[RunState(source)]


def check_transition(source: RunState | str, target: RunState | str) -> None:
    """Raise InvalidTransition (with the anchor's message) unless source -> target is allowed."""
    src, dst = RunState(source), RunState(target)
    if dst not in TRANSITIONS[src]:
        options = ", ".join(str(s) for s in sorted(TRANSITIONS[src], key=_rank))
        raise InvalidTransition(f"Invalid state transition: {src} → {dst}. Allowed: [{options}]")


def next_state(phase: RunState | str) -> RunState:
    """The state a run moves to when `phase` succeeds (PENDING starts with CLAIMING)."""
    state = RunState(phase)
    if state in TERMINAL:
        raise InvalidTransition(f"{state} has no next state")
    return ORDER[ORDER.index(state) + 1]


def phases_from(state: RunState | str) -> tuple[RunState, ...]:
    """The phases still to execute for a run in `state` (PENDING: all of them)."""
    current = RunState(state)
    if current is RunState.PENDING:
        return PHASES
    if current not in PHASES:
        return ()
    return PHASES[PHASES.index(current) :]


def resume_phase(state: RunState | str, failed_state: RunState | str | None) -> RunState:
    """The phase a resumed run re-enters: the one it failed in (PENDING or unknown: CLAIMING)."""
    if RunState(state) is not RunState.FAILED:
        raise NotResumable(
            f"Cannot resume run in state {RunState(state)}. Only FAILED runs can be resumed."
        )
    if failed_state is None:
        return RunState.CLAIMING
    failed = RunState(failed_state)
    return failed if failed in PHASES else RunState.CLAIMING


def transition_action(source: RunState | str, target: RunState | str) -> str:
    src, dst = RunState(source), RunState(target)
    if src is RunState.PENDING:
        return f"start:{src}->{dst}"
    if src is RunState.FAILED:
        return f"resume:{src}->{dst}"
    return f"transition:{src}->{dst}"


def fail_action(state: RunState | str) -> str:
    return f"fail:{RunState(state)}"


def _rank(state: str) -> int:
    return ORDER.index(RunState(state)) if state in ORDER else len(ORDER)
