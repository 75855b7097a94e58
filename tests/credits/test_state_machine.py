"""The run state machine: the transition table, phase order and resume semantics."""

from __future__ import annotations

import pytest

from arenabrain.credits.state_machine import (
    PHASES,
    InvalidTransition,
    NotResumable,
    RunState,
    allowed,
    check_transition,
    next_state,
    phases_from,
    resume_phase,
    transition_action,
)

S = RunState
ALLOWED = {
    S.PENDING: {S.CLAIMING, S.FAILED},
    S.CLAIMING: {S.SWAPPING, S.FAILED},
    S.SWAPPING: {S.BRIDGING, S.FAILED},
    S.BRIDGING: {S.FUNDING, S.FAILED},
    S.FUNDING: {S.ALLOCATING, S.FAILED},
    S.ALLOCATING: {S.PROVISIONING, S.FAILED},
    S.PROVISIONING: {S.COMPLETE, S.FAILED},
    S.COMPLETE: set(),
    S.FAILED: set(PHASES),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(source: RunState, target: RunState) -> None:
    assert allowed(source, target) == (target in ALLOWED[source])


def test_invalid_transition_message_names_both_states_and_the_options() -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition("PENDING", "SWAPPING")
    assert str(info.value) == (
        "Invalid state transition: PENDING → SWAPPING. Allowed: [CLAIMING, FAILED]"
    )


def test_phase_order() -> None:
    assert [next_state(s) for s in (S.PENDING, *PHASES)] == [*PHASES, S.COMPLETE]
    with pytest.raises(InvalidTransition):
        next_state(S.COMPLETE)
    assert phases_from(S.PENDING) == PHASES
    assert phases_from(S.ALLOCATING) == (S.ALLOCATING, S.PROVISIONING)
    assert phases_from(S.COMPLETE) == ()


@pytest.mark.parametrize("phase", PHASES)
def test_resume_reenters_the_failed_phase(phase: RunState) -> None:
    assert resume_phase(S.FAILED, phase) == phase
    assert phases_from(resume_phase(S.FAILED, phase))[0] == phase


@pytest.mark.parametrize("failed_state", [None, "PENDING"])
def test_a_run_that_failed_before_claiming_resumes_at_claiming(failed_state) -> None:
    assert resume_phase(S.FAILED, failed_state) == S.CLAIMING


@pytest.mark.parametrize("state", [s for s in S if s is not S.FAILED])
def test_only_failed_runs_can_be_resumed(state: RunState) -> None:
    with pytest.raises(NotResumable) as info:
        resume_phase(state, None)
    assert str(info.value) == (
        f"Cannot resume run in state {state}. Only FAILED runs can be resumed."
    )


def test_audit_action_names() -> None:
    assert transition_action(S.PENDING, S.CLAIMING) == "start:PENDING->CLAIMING"
    assert transition_action(S.CLAIMING, S.SWAPPING) == "transition:CLAIMING->SWAPPING"
    assert transition_action(S.FAILED, S.PROVISIONING) == "resume:FAILED->PROVISIONING"
