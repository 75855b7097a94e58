"""Week arithmetic: Sunday 00:00:00 UTC starts a week, whatever the moment's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from arenabrain.arena.weeks import (
    decision_week,
    elapsed_week_number,
    in_start_window,
    next_week_start,
    week_start,
)

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)
PREVIOUS_SUNDAY = datetime(2026, 2, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC), PREVIOUS_SUNDAY),
        (datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), PREVIOUS_SUNDAY),
        (datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC), SUNDAY),
        (datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=UTC), SUNDAY),
        (datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), SUNDAY),
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), SUNDAY),  # Monday
        (datetime(2026, 3, 4, 12, 0, tzinfo=UTC), SUNDAY),  # mid-week
        (datetime(2026, 3, 7, 23, 59, 59, tzinfo=UTC), SUNDAY),  # Saturday night
        (datetime(2026, 3, 8, 0, 0, tzinfo=UTC), SUNDAY + timedelta(days=7)),
        # Sunday 01:00 in UTC+02:00 is still Saturday 23:00 UTC.
        (datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), PREVIOUS_SUNDAY),
        (datetime(2026, 3, 4, 12, 0), SUNDAY),  # naive values are UTC
        (datetime(2027, 1, 1, 8, 0, tzinfo=UTC), datetime(2026, 12, 27, tzinfo=UTC)),
    ],
)
def test_week_start(moment: datetime, expected: datetime) -> None:
    assert week_start(moment) == expected
    assert week_start(moment).tzinfo is not None


def test_week_start_is_idempotent_and_next_week_follows() -> None:
    assert week_start(week_start(datetime(2026, 3, 4, tzinfo=UTC))) == SUNDAY
    assert next_week_start(datetime(2026, 3, 4, tzinfo=UTC)) == SUNDAY + timedelta(days=7)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 3, 1, 0, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 1, 1, 0, tzinfo=UTC), False),
        (datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), False),
    ],
)
def test_start_window_is_sunday_before_one(moment: datetime, expected: bool) -> None:
    assert in_start_window(moment) is expected


@pytest.mark.parametrize(
    ("moment", "week"),
    [
        (datetime(2026, 3, 1, 0, 5, tzinfo=UTC), 1),
        (datetime(2026, 3, 7, 23, 59, 59, tzinfo=UTC), 1),
        (datetime(2026, 3, 8, 0, 5, tzinfo=UTC), 2),
        (datetime(2026, 3, 15, tzinfo=UTC), 3),
        (datetime(2026, 3, 29, tzinfo=UTC), 5),
    ],
)
def test_decision_week_examples_of_the_anchor(moment: datetime, week: int) -> None:
    assert decision_week(SUNDAY, moment) == week


def test_elapsed_week_number_counts_exact_weeks() -> None:
    assert elapsed_week_number(SUNDAY, SUNDAY + timedelta(days=7, seconds=-1)) == 1
    assert elapsed_week_number(SUNDAY, SUNDAY + timedelta(days=7)) == 2
