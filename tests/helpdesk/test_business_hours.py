"""Business-hours arithmetic: opening hours, weekends, holidays, DST changes, round the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.helpdesk.business_hours import (
    Calendar,
    CalendarError,
    add_business_minutes,
    business_minutes_between,
    format_day_hours,
    parse_day_hours,
)

NINE_TO_FIVE = (((540, 1020),),) * 5 + ((), ())
PHOENIX = ZoneInfo("America/Phoenix")
BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def office(timezone: str = "America/Phoenix", **kwargs) -> Calendar:
    return Calendar(timezone=timezone, weekly=NINE_TO_FIVE, **kwargs)


def test_minutes_inside_one_working_day():
    start = local(PHOENIX, 2026, 3, 2, 10, 0)  # a Monday
    assert add_business_minutes(office(), start, 90) == local(PHOENIX, 2026, 3, 2, 11, 30)
    assert business_minutes_between(office(), start, local(PHOENIX, 2026, 3, 2, 11, 30)) == 90


def test_time_outside_hours_starts_counting_at_the_next_opening():
    evening = local(PHOENIX, 2026, 3, 2, 20, 15)
    assert add_business_minutes(office(), evening, 30) == local(PHOENIX, 2026, 3, 3, 9, 30)
    early = local(PHOENIX, 2026, 3, 3, 6, 0)
    assert add_business_minutes(office(), early, 30) == local(PHOENIX, 2026, 3, 3, 9, 30)
    assert business_minutes_between(office(), evening, local(PHOENIX, 2026, 3, 3, 9, 0)) == 0


def test_a_target_that_uses_up_the_day_ends_at_closing_time():
    start = local(PHOENIX, 2026, 3, 2, 9, 0)
    assert add_business_minutes(office(), start, 480) == local(PHOENIX, 2026, 3, 2, 17, 0)
    assert add_business_minutes(office(), start, 481) == local(PHOENIX, 2026, 3, 3, 9, 1)


def test_weekends_are_skipped():
    friday = local(PHOENIX, 2026, 3, 6, 16, 0)
    monday = local(PHOENIX, 2026, 3, 9, 10, 0)
    assert add_business_minutes(office(), friday, 120) == monday
    assert business_minutes_between(office(), friday, monday) == 120
    assert business_minutes_between(office(), monday, friday) == -120


def test_public_holidays_of_the_country_and_region_are_closed():
    arizona = office(holiday_country="US", holiday_subdivision="AZ")
    # Independence Day 2026 is a Saturday, observed on Friday 3 July.
    thursday = local(PHOENIX, 2026, 7, 2, 16, 30)
    assert add_business_minutes(arizona, thursday, 60) == local(PHOENIX, 2026, 7, 6, 9, 30)
    assert arizona.is_closed_day(date(2026, 7, 3))
    assert not office().is_closed_day(date(2026, 7, 3))
    christmas_eve = local(PHOENIX, 2026, 12, 24, 16, 0)
    assert add_business_minutes(arizona, christmas_eve, 120) == local(PHOENIX, 2026, 12, 28, 10, 0)


def test_extra_closed_dates():
    closed = office(closed_dates=frozenset({date(2026, 3, 3)}))
    start = local(PHOENIX, 2026, 3, 2, 16, 0)
    assert add_business_minutes(closed, start, 120) == local(PHOENIX, 2026, 3, 4, 10, 0)


def test_spring_forward_weekend_in_europe():
    """Friday 16:00 CET plus two business hours is Monday 10:00 CEST: one UTC hour less."""
    friday = local(BERLIN, 2026, 3, 27, 16, 0)
    due = add_business_minutes(office("Europe/Berlin"), friday, 120)
    assert due == local(BERLIN, 2026, 3, 30, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert (due - friday) == timedelta(days=2, hours=17)


def test_fall_back_weekend_in_europe():
    friday = local(BERLIN, 2026, 10, 23, 16, 0)
    due = add_business_minutes(office("Europe/Berlin"), friday, 120)
    assert due == local(BERLIN, 2026, 10, 26, 10, 0)
    assert (due - friday) == timedelta(days=2, hours=19)


def test_round_the_clock_days_are_23_and_25_hours_long_at_dst_changes():
    always = Calendar(timezone="America/Los_Angeles", weekly=(((0, 1440),),) * 7)
    spring = local(LOS_ANGELES, 2026, 3, 8, 0, 0)
    assert business_minutes_between(always, spring, local(LOS_ANGELES, 2026, 3, 9, 0, 0)) == 23 * 60
    fall = local(LOS_ANGELES, 2026, 11, 1, 0, 0)
    assert business_minutes_between(always, fall, local(LOS_ANGELES, 2026, 11, 2, 0, 0)) == 25 * 60
    assert add_business_minutes(always, spring, 23 * 60) == local(LOS_ANGELES, 2026, 3, 9, 0, 0)


def test_hours_across_the_skipped_and_repeated_hour():
    # 01:00-03:00 on the spring-forward night: 02:00-03:00 does not exist, one hour is open.
    night = Calendar(timezone="America/Los_Angeles", weekly=(((60, 180),),) * 7)
    spring_day = local(LOS_ANGELES, 2026, 3, 8, 0, 0)
    assert business_minutes_between(night, spring_day, spring_day + timedelta(hours=20)) == 60
    # 00:00-03:00 on the fall-back night lasts four hours (01:00-02:00 happens twice).
    early = Calendar(timezone="America/Los_Angeles", weekly=(((0, 180),),) * 7)
    fall_day = local(LOS_ANGELES, 2026, 11, 1, 0, 0)
    assert business_minutes_between(early, fall_day, fall_day + timedelta(hours=12)) == 240


def test_round_the_clock_calendar_counts_every_minute():
    always = Calendar.round_the_clock()
    start = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)  # a Saturday night
    assert add_business_minutes(always, start, 90) == start + timedelta(minutes=90)
    assert business_minutes_between(always, start, start + timedelta(hours=2)) == 120
    assert always.is_open(start)


def test_is_open_and_next_opening():
    calendar = office()
    assert calendar.is_open(local(PHOENIX, 2026, 3, 2, 9, 0))
    assert not calendar.is_open(local(PHOENIX, 2026, 3, 2, 17, 0))
    assert calendar.next_opening(local(PHOENIX, 2026, 3, 7, 12, 0)) == local(
        PHOENIX, 2026, 3, 9, 9, 0
    )
    assert calendar.next_opening(local(PHOENIX, 2026, 3, 2, 12, 0)) == local(
        PHOENIX, 2026, 3, 2, 12, 0
    )


def test_several_ranges_a_day_and_zero_minutes():
    split = Calendar(timezone="UTC", weekly=(((540, 720), (780, 1020)),) * 7)
    start = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert add_business_minutes(split, start, 120) == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert add_business_minutes(split, start, 0) == start
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(split, start, -1)


def test_a_calendar_that_is_never_open_is_refused():
    never = Calendar(timezone="UTC")
    with pytest.raises(CalendarError):
        add_business_minutes(never, datetime(2026, 3, 2, tzinfo=UTC), 10)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(office(), datetime(2026, 3, 2, 10, 0), 10)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("09:00-17:00", ((540, 1020),)),
        (" 13:00-17:00, 09:00-12:00 ", ((540, 720), (780, 1020))),
        ("00:00-24:00", ((0, 1440),)),
        ("", ()),
        ("closed", ()),
    ],
)
def test_parse_opening_hours(text, ranges):
    assert parse_day_hours(text) == ranges
    assert parse_day_hours(format_day_hours(ranges)) == ranges


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-5", "not a range"),
        ("17:00-09:00", "ends before it starts"),
        ("09:00-25:00", "not a time of day"),
        ("09:00-12:00, 11:00-14:00", "overlap"),
    ],
)
def test_bad_opening_hours(text, message):
    with pytest.raises(CalendarError, match=message):
        parse_day_hours(text)
