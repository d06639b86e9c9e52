"""The one clock: library-local time in ``settings.TIME_ZONE``.

Every day/month/year boundary is computed here, in Python, and handed to SQL as a
parameter. Functions that depend on time take ``now`` so tests can inject it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone


def local_now() -> datetime:
    """Aware 'now' in the library's time zone."""
    return timezone.localtime()


def local_date(now: datetime | None = None) -> date:
    return timezone.localtime(now).date() if now is not None else local_now().date()


def day_start(day: date) -> datetime:
    """Naive local midnight: the wall-clock value stored in ``checkin_date``."""
    return datetime.combine(day, time.min)


def aware_day_start(day: date) -> datetime:
    return timezone.make_aware(day_start(day), timezone.get_default_timezone())


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def seconds_until_midnight(now: datetime) -> float:
    local = timezone.localtime(now)
    midnight = aware_day_start(next_day(local.date()))
    return max((midnight - local).total_seconds(), 0.0)
