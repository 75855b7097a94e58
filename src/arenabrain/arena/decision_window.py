"""The decision window (§4.6): which cohorts still get new decisions. Pure rules; the queries
that apply them live with the cohorts and the read models."""

from __future__ import annotations


def decision_threshold(latest_cohort_number: int, limit: int) -> int:
    """The lowest cohort number inside the decision window of the newest `limit` cohorts."""
    return max(1, latest_cohort_number - limit + 1)


def decision_status(status: str, is_archived: bool, number: int, threshold: int) -> str:
    """`completed`, `decisioning` (active, unarchived, inside the window) or `tracking_only`."""
    if status == "completed":
        return "completed"
    if is_archived:
        return "tracking_only"
    return "decisioning" if status == "active" and number >= threshold else "tracking_only"
