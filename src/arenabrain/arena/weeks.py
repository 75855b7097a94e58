"""Week arithmetic of the arena (pure): when a cohort week starts and which week a moment is in.

A cohort week starts on Sunday at 00:00:00 UTC. Every function takes the moment explicitly
(from the injected clock) and returns aware UTC datetimes or plain integers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_SECONDS = 86400
START_WINDOW_HOURS = 1  # the scheduled start may run until Sunday 00:59:59 UTC


def as_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive value is taken to be UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def week_start(moment: datetime) -> datetime:
    """Sunday 00:00:00 UTC of the week that contains `moment`."""
    moment = as_utc(moment)
    days_since_sunday = (moment.weekday() + 1) % 7  # Python: Monday=0 ... Sunday=6
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days_since_sunday)


def next_week_start(moment: datetime) -> datetime:
    """The Sunday 00:00:00 UTC strictly after the start of `moment`'s week."""
    return week_start(moment) + timedelta(days=7)


def in_start_window(moment: datetime) -> bool:
    """True on Sunday before 01:00 UTC, when the scheduled cohort start may create a cohort."""
    moment = as_utc(moment)
    return moment.weekday() == 6 and moment.hour < START_WINDOW_HOURS


def decision_week(started_at: datetime, moment: datetime) -> int:
    """The 1-based decision week of a cohort at `moment` (§6.6): whole UTC days elapsed
    between the two midnights, divided by seven, plus one."""
    start_day = as_utc(started_at).date()
    day = as_utc(moment).date()
    return (day - start_day).days // 7 + 1


def elapsed_week_number(started_at: datetime, moment: datetime) -> int:
    """`floor((julianday(now) - julianday(started_at)) / 7) + 1`: weeks by exact elapsed time,
    as the anchor's cohort-agent page computes `current_week`."""
    elapsed = (as_utc(moment) - as_utc(started_at)).total_seconds()
    return int(elapsed // (7 * DAY_SECONDS)) + 1
