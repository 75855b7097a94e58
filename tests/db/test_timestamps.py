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


def test_from_text_reads_utc_offsets_of_both_signs() -> None:
    """An offset is honoured whatever its sign: 05:00 at +05:00 is midnight UTC."""
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    assert from_text("2026-03-01T05:00:00+05:00") == midnight
    assert from_text("2026-03-01 05:30:00+05:30") == midnight
    assert from_text("2026-02-28T19:00:00-05:00") == midnight
    assert from_text("2026-03-01T00:00:00.000Z") == midnight
    assert from_text("2026-03-01 00:00:00") == midnight
    assert from_text("2026-03-01T05:00:00.250000+05:00") == midnight.replace(microsecond=250000)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-9, minutes=-30))]
        ),
    )
)
def test_from_text_of_an_iso_string_with_offset_is_the_same_moment(moment: datetime) -> None:
    assert from_text(moment.isoformat()) == moment
