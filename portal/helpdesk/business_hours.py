"""Business-hours arithmetic: a weekly calendar with holidays in its own timezone, and time
added or measured in its open minutes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import holidays

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MINUTES_PER_DAY = 24 * 60
# How far ahead to look for an open minute before deciding a calendar is never open.
MAX_DAYS_AHEAD = 3 * 366

Range = tuple[int, int]
"""Opening hours on one day: minutes after local midnight, start inclusive, end exclusive."""

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class CalendarError(ValueError):
    """Opening hours that cannot be understood or are never open."""


@cache
def _timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA timezone, such as America/Phoenix. Looked up among the known
    names: asking ZoneInfo to open an arbitrary name can fail in ways it does not promise (a
    folder such as "America", a name too long for the file system)."""
    return name in _timezone_names()


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


@dataclass(frozen=True)
class Calendar:
    """When a support tier is at work: weekly hours in a timezone, minus public holidays of a
    country (and subdivision) and extra closed dates; or open round the clock."""

    timezone: str = "UTC"
    weekly: tuple[tuple[Range, ...], ...] = field(default_factory=lambda: ((),) * 7)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    always_open: bool = False

    @classmethod
    def round_the_clock(cls) -> Calendar:
        return cls(always_open=True)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_closed_day(self, day: date) -> bool:
        if day in self.closed_dates:
            return True
        if self.holiday_country:
            return day in _public_holidays(self.holiday_country, self.holiday_subdivision, day.year)
        return False

    def day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of one local day, in UTC (DST changes give 23- or 25-hour days)."""
        if self.is_closed_day(day):
            return []
        zone = self.zone
        intervals = []
        for start_minute, end_minute in self.weekly[day.weekday()]:
            start = _local_to_utc(day, start_minute, zone)
            end = _local_to_utc(day, end_minute, zone)
            if end > start:
                intervals.append((start, end))
        return intervals

    def open_intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals from `start` onwards (the first one clipped to begin at `start`)."""
        start = _as_utc(start)
        if self.always_open:
            yield start, datetime.max.replace(tzinfo=UTC)
            return
        # Start a day early: a local day can begin before `start`'s UTC date.
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(MAX_DAYS_AHEAD):
            for interval_start, interval_end in self.day_intervals(day):
                if interval_end <= start:
                    continue
                yield max(interval_start, start), interval_end
            day += timedelta(days=1)
        raise CalendarError("these opening hours are never open")

    def is_open(self, when: datetime) -> bool:
        return self.next_opening(when) == _as_utc(when)

    def next_opening(self, when: datetime) -> datetime:
        """`when` itself if the calendar is open then, otherwise the next moment it opens."""
        interval_start, _ = next(self.open_intervals(when))
        return interval_start


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("business-hours arithmetic needs timezone-aware datetimes")
    return value.astimezone(UTC)


def _local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Local wall time `minute` minutes into `day` as UTC; 24:00 is the next midnight. A time
    skipped by a DST change is read with the offset before the change, as zoneinfo does."""
    if minute >= MINUTES_PER_DAY:
        local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    else:
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


def add_business_minutes(calendar: Calendar, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` open minutes after `start` (a due time lands at a closing time
    rather than the next opening when it uses up a day exactly)."""
    if minutes < 0:
        raise ValueError("cannot add a negative number of business minutes")
    start = _as_utc(start)
    if minutes == 0:
        return start
    if calendar.always_open:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    for interval_start, interval_end in calendar.open_intervals(start):
        span = interval_end - interval_start
        if remaining <= span:
            return interval_start + remaining
        remaining -= span
    # open_intervals gives up (raising) long before this line; it is here for the type checker.
    raise CalendarError("these opening hours are never open")


def business_minutes_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Open minutes from `start` to `end` (negative when `end` is earlier)."""
    start, end = _as_utc(start), _as_utc(end)
    if end < start:
        return -business_minutes_between(calendar, end, start)
    if calendar.always_open:
        return (end - start).total_seconds() / 60
    total = timedelta()
    for interval_start, interval_end in calendar.open_intervals(start):
        if interval_start >= end:
            break
        total += min(interval_end, end) - interval_start
    return total.total_seconds() / 60


def parse_day_hours(text: str) -> tuple[Range, ...]:
    """ "09:00-12:00, 13:00-17:00" as minute ranges; empty or "closed" means closed all day."""
    text = text.strip()
    if not text or text.lower() == "closed":
        return ()
    ranges: list[Range] = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise CalendarError(f"{part.strip()!r} is not a range like 09:00-17:00")
        start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
        if start_m > 59 or end_m > 59 or start_h > 23 or end_h > 24 or (end_h == 24 and end_m):
            raise CalendarError(f"{part.strip()!r} is not a time of day")
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        if end <= start:
            raise CalendarError(f"{part.strip()!r} ends before it starts")
        ranges.append((start, end))
    ranges.sort()
    for (_, previous_end), (next_start, _) in pairwise(ranges):
        if next_start < previous_end:
            raise CalendarError("the ranges overlap")
    return tuple(ranges)


def format_day_hours(ranges: tuple[Range, ...] | list[Range]) -> str:
    """The inverse of parse_day_hours ("" for a closed day)."""
    return ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in ranges)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
