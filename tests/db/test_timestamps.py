"""Stored timestamp text: `YYYY-MM-DD HH:MM:SS` plus an optional fraction, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from arenabrain.db.timestamps import TEXT_FORMAT, from_text, to_text


def reference(moment: datetime, fraction: bool) -> str:
    """The definition: strftime of the UTC moment, plus `.ffffff` when there is a fraction."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime(TEXT_FORMAT)
    if fraction and moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5, minutes=-30))]),
    ),
    st.booleans(),
)
def test_to_text_matches_its_definition(moment: datetime, fraction: bool) -> None:
    assert to_text(moment, fraction=fraction) == reference(moment, fraction)


def test_examples_round_trip() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 5, 250000, tzinfo=UTC)
    assert to_text(moment) == "2026-03-01 12:30:05.250000"
    assert to_text(moment, fraction=False) == "2026-03-01 12:30:05"
    assert to_text(moment.replace(microsecond=0)) == "2026-03-01 12:30:05"
    assert to_text(datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-02-28 23:00:00"
    )
    assert from_text(to_text(moment)) == moment
