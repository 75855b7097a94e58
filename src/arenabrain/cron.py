"""Crontab expressions: the one parser the scheduler, the strategies and the settings share.

Accepted: ASCII, five fields, standard cron meaning (weekdays numbered from Sunday, 0 or 7),
and a schedule that fires at least once in every calendar year (so `0 0 30 2 *`, which never
fires, and `0 0 29 2 *`, which fires one year in four, are refused where they are written
instead of silently never running)."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# A leap cycle: a schedule that fires in each of these years fires in every year.
_YEARS_CHECKED = range(2025, 2029)


def crontab_trigger(expression: str) -> CronTrigger:
    """A UTC trigger for a standard crontab expression; ValueError says what is wrong.

    Standard cron numbers weekdays from Sunday (0 or 7); APScheduler 3 numbers them from
    Monday, so numeric weekdays are rewritten as names before parsing."""
    if not expression.isascii():
        raise ValueError(f"cron expression must be plain ASCII: {expression!r}")
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression must have 5 fields: {expression!r}")
    fields[4] = _weekday_names(fields[4])
    trigger = CronTrigger.from_crontab(" ".join(fields), timezone="UTC")
    for year in _YEARS_CHECKED:
        fire = trigger.get_next_fire_time(None, datetime(year, 1, 1, tzinfo=UTC))
        if fire is None or fire >= datetime(year + 1, 1, 1, tzinfo=UTC):
            raise ValueError(f"cron expression does not fire every year: {expression!r}")
    return trigger


def _weekday_names(field: str) -> str:
    def name(token: str) -> str:
        if not token.isdigit():
            return token
        if int(token) > 7:
            raise ValueError(f"day of week out of range: {token}")
        return _WEEKDAYS[int(token)]

    parts = []
    for part in field.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if "-" in part:
            low, high = part.split("-", 1)
            if low.isdigit() and high.isdigit() and int(high) == 7 and int(low) > 0:
                parts.append(f"{name(low)}-sat" + step)
                parts.append("sun")
                continue
            part = f"{name(low)}-{name(high)}"
        else:
            part = name(part)
        parts.append(part + step)
    return ",".join(parts)
