"""Billing periods: half-open months in the organization's time zone, anchored, DST-proof."""

import calendar
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from dateutil import tz

from usagebill import BillingPeriod, InvalidValueError
from usagebill.periods import zone

DAY = 86_400
SECOND = timedelta(seconds=1)


def local(year: int, month: int, day: int, name: str, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=tz.gettz(name))


# --- labels, anchors, construction ----------------------------------------------------------


def test_label_round_trips_and_default_is_first_of_month_utc():
    """A period is named by the month it starts in; by default it starts on the 1st in UTC."""
    period = BillingPeriod.of("2026-10")
    assert period.label == "2026-10"
    assert period.start == datetime(2026, 10, 1, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 1, tzinfo=UTC)
    assert period.seconds == 31 * DAY  # 2,678,400
    assert str(period) == "2026-10 [2026-10-01T00:00:00+00:00, 2026-11-01T00:00:00+00:00)"


def test_december_rolls_into_next_year():
    """The period of December ends on January 1st of the next year."""
    period = BillingPeriod.of("2026-12")
    assert period.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert period.next().label == "2027-01"
    assert BillingPeriod.of("2027-01").previous() == period


def test_anchor_31_is_computed_from_the_anchor_never_chained():
    """Anchor 31: Jan 31 → Feb 28 → Mar 31 → Apr 30 → May 31 (not Mar 28 as chaining gives)."""
    # Pitfall: month-end anchors drifting (Polar #10664, Kill Bill #127).
    january = BillingPeriod.of("2026-01", anchor_day=31)
    starts = [january]
    for _ in range(4):
        starts.append(starts[-1].next())
    assert [p.start.date().isoformat() for p in starts] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    # Chaining "+1 month" from Feb 28 would give Mar 28: the drift the rule forbids.
    assert starts[2].start.day != 28
    # Each period ends where the next one starts.
    for first, second in itertools.pairwise(starts):
        assert first.end == second.start
    # Jan 31 → Feb 28 is 28 days; Feb 28 → Mar 31 is 31 days.
    assert january.seconds == 28 * DAY
    assert january.next().seconds == 31 * DAY


def test_anchor_31_in_a_leap_year_clamps_to_february_29():
    """Anchor 31 in 2024: Jan 31 → Feb 29 → Mar 31 (chaining would give Mar 29)."""
    january = BillingPeriod.of("2024-01", anchor_day=31)
    february = january.next()
    march = february.next()
    assert february.start == datetime(2024, 2, 29, tzinfo=UTC)
    assert march.start == datetime(2024, 3, 31, tzinfo=UTC)
    assert march.start != datetime(2024, 3, 29, tzinfo=UTC)
    # Jan 31 → Feb 29: 29 days; Feb 29 → Mar 31: 31 days.
    assert january.seconds == 29 * DAY
    assert february.seconds == 31 * DAY


def test_leap_years_give_february_its_29th_day():
    """February has 29 days in 2024 and 2000, 28 in 2026 and 1900."""
    assert BillingPeriod.of("2024-02").seconds == 29 * DAY
    assert BillingPeriod.of("2000-02").seconds == 29 * DAY
    assert BillingPeriod.of("2026-02").seconds == 28 * DAY
    assert BillingPeriod.of("1900-02").seconds == 28 * DAY


@pytest.mark.parametrize("anchor", [1, 15, 28, 29, 30, 31])
def test_every_anchor_tiles_a_year_without_gaps(anchor):
    """Twelve consecutive periods cover the year exactly: no gap, no overlap."""
    period = BillingPeriod.of("2026-01", anchor_day=anchor, timezone="Europe/Paris")
    total = 0
    for _ in range(12):
        following = period.next()
        assert period.end == following.start
        last_day = calendar.monthrange(period.start.year, period.start.month)[1]
        assert period.start.day == min(anchor, last_day)
        total += period.seconds
        period = following
    first = BillingPeriod.of("2026-01", anchor_day=anchor, timezone="Europe/Paris")
    # A year of local days: the two DST hours cancel out.
    assert total == int((period.start - first.start).total_seconds())


def test_anchor_15_runs_from_the_15th_to_the_15th():
    """Anchor 15: the period labelled 2026-10 is [Oct 15, Nov 15)."""
    period = BillingPeriod.of("2026-10", anchor_day=15)
    assert (period.start, period.end) == (
        datetime(2026, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 15, tzinfo=UTC),
    )


def test_next_and_previous_round_trip():
    """next() then previous() (and the reverse) gives back the same period."""
    period = BillingPeriod.of("2026-03", anchor_day=31, timezone="America/New_York")
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.previous().end == period.start


@pytest.mark.parametrize("label", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", "x"])
def test_bad_labels_are_refused(label):
    """A label must be a month written YYYY-MM."""
    with pytest.raises(InvalidValueError, match="YYYY-MM") as error:
        BillingPeriod.of(label)
    assert error.value.field == "period"


@pytest.mark.parametrize("label", [None, 202610, ["2026-10"]])
def test_non_string_labels_are_refused(label):
    """A label that is not a string is a typed error, not a TypeError."""
    with pytest.raises(InvalidValueError, match="YYYY-MM"):
        BillingPeriod.of(label)


def test_non_ascii_digits_are_not_a_label():
    """Full-width digits are not a label (int() would accept them)."""
    with pytest.raises(InvalidValueError):
        BillingPeriod.of("２０２６-１０")


@pytest.mark.parametrize("label", ["0000-01", "9999-12"])
def test_months_outside_the_calendar_are_typed_errors(label):
    """Year 0 and a period ending in year 10000 are InvalidValueError, not a bare ValueError."""
    with pytest.raises(InvalidValueError, match="month"):
        BillingPeriod.of(label)


@pytest.mark.parametrize("index", ["24321", 24321.0, None])
def test_month_index_must_be_an_int(index):
    """The month index is an int: anything else is refused."""
    with pytest.raises(InvalidValueError):
        BillingPeriod(index)


@pytest.mark.parametrize("anchor", [0, 32, -1, "1", True, 1.0, None])
def test_bad_anchor_days_are_refused(anchor):
    """An anchor day is an int from 1 to 31 (not a bool, str or float)."""
    with pytest.raises(InvalidValueError, match="anchor_day") as error:
        BillingPeriod.of("2026-10", anchor_day=anchor)
    assert error.value.field == "anchor_day"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Europe/Paris ", None, 5])
def test_bad_timezones_are_refused(name):
    """A time zone must be an IANA name; the empty string is not the local zone."""
    with pytest.raises(InvalidValueError, match="IANA") as error:
        BillingPeriod.of("2026-10", timezone=name)
    assert error.value.field == "timezone"
    with pytest.raises(InvalidValueError):
        zone(name)


@pytest.mark.parametrize("name", ["../../etc/localtime", "a" * 1_500, "/etc/localtime", "UTC+3"])
def test_paths_and_long_names_are_refused_before_dateutil_sees_them(name):
    """dateutil would warn (../), raise OSError (1,500 characters) or read a file: typed error."""
    with pytest.raises(InvalidValueError, match="IANA") as error:
        zone(name)
    assert error.value.field == "timezone"
    with pytest.raises(InvalidValueError, match="IANA"):
        BillingPeriod.of("2026-10", timezone=name)


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Etc/GMT+5"])
def test_iana_names_are_zones(name):
    """A period in Etc/GMT+5 (UTC-5) starts at 05:00 UTC."""
    period = BillingPeriod.of("2026-10", timezone=name)
    assert period.timezone == name
    if name == "Etc/GMT+5":
        assert period.start.astimezone(UTC) == datetime(2026, 10, 1, 5, tzinfo=UTC)


# --- containing and contains: half-open -------------------------------------------------------


def test_contains_is_half_open():
    """The last second before end is inside; end itself belongs to the next period."""
    # Pitfalls: inclusive ends counting an instant twice (Novu #12191); last day lost (KB #1438).
    period = BillingPeriod.of("2026-10", timezone="Europe/Paris")
    assert period.contains(period.start)
    assert period.contains(period.end - SECOND)
    assert period.contains(period.end - timedelta(microseconds=1))
    assert not period.contains(period.end)
    assert not period.contains(period.start - timedelta(microseconds=1))
    assert period.next().contains(period.end)


@pytest.mark.parametrize("anchor", [1, 31])
def test_containing_around_a_boundary(anchor):
    """Just before, at and just after a boundary: the previous, the next, the next period."""
    period = BillingPeriod.of("2026-02", anchor_day=anchor, timezone="Asia/Tokyo")
    boundary = period.end
    before = BillingPeriod.containing(boundary - SECOND, anchor_day=anchor, timezone="Asia/Tokyo")
    at = BillingPeriod.containing(boundary, anchor_day=anchor, timezone="Asia/Tokyo")
    after = BillingPeriod.containing(boundary + SECOND, anchor_day=anchor, timezone="Asia/Tokyo")
    assert before == period
    assert at == after == period.next()


def test_containing_before_the_anchor_day_is_the_previous_month():
    """With anchor 15, October 10 falls in the period that began on September 15."""
    found = BillingPeriod.containing(datetime(2026, 10, 10, tzinfo=UTC), anchor_day=15)
    assert found.label == "2026-09"
    assert found.contains(datetime(2026, 10, 10, tzinfo=UTC))


def test_containing_accepts_any_offset_for_the_same_instant():
    """The same instant written with different offsets falls in the same period."""
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    as_tokyo = instant.astimezone(tz.gettz("Asia/Tokyo"))  # already Nov 1 there
    assert BillingPeriod.containing(instant, timezone="America/New_York") == (
        BillingPeriod.containing(as_tokyo, timezone="America/New_York")
    )


def test_naive_datetimes_are_refused():
    """A datetime without a UTC offset is ambiguous: refused by contains and containing."""
    period = BillingPeriod.of("2026-10")
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        period.contains(datetime(2026, 10, 5))
    with pytest.raises(InvalidValueError, match="timezone-aware") as error:
        BillingPeriod.containing(datetime(2026, 10, 5))
    assert error.value.field == "at"
    with pytest.raises(InvalidValueError):
        BillingPeriod.containing("2026-10-05T00:00:00Z")


# --- time zones and daylight saving -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label", "seconds"),
    [
        # Europe/Paris: clocks go forward on Mar 29 2026, back on Oct 25 2026.
        ("Europe/Paris", "2026-03", 31 * DAY - 3600),
        ("Europe/Paris", "2026-10", 31 * DAY + 3600),
        ("Europe/Paris", "2026-11", 30 * DAY),
        # America/New_York: forward on Mar 8 2026, back on Nov 1 2026 (so October is plain).
        ("America/New_York", "2026-03", 31 * DAY - 3600),
        ("America/New_York", "2026-10", 31 * DAY),
        ("America/New_York", "2026-11", 30 * DAY + 3600),
        ("Asia/Tokyo", "2026-03", 31 * DAY),  # no DST
    ],
)
def test_period_seconds_include_dst(name, label, seconds):
    """A month with a DST change has an hour less (spring) or more (autumn), in real seconds."""
    assert BillingPeriod.of(label, timezone=name).seconds == seconds


@pytest.mark.parametrize("name", ["Europe/Paris", "America/New_York"])
def test_billing_day_does_not_move_with_dst(name):
    """Every period of the year starts at local midnight on the anchor day, DST or not."""
    # Pitfall: DST moving the billing day (Kill Bill #743).
    period = BillingPeriod.of("2026-01", anchor_day=1, timezone=name)
    offsets = set()
    for _ in range(12):
        start = period.start
        assert (start.day, start.hour, start.minute) == (1, 0, 0)
        offsets.add(start.utcoffset())
        period = period.next()
    assert len(offsets) == 2  # winter and summer offsets both seen: midnight kept in both


def test_a_missing_local_midnight_starts_the_day_at_its_first_instant():
    """Santiago skips 00:00-01:00 on 2026-09-06: that period starts at 01:00, with no gap."""
    # Chile moves its clocks from 00:00 (-04) to 01:00 (-03): both sides meet at 04:00 UTC.
    september = BillingPeriod.of("2026-09", anchor_day=6, timezone="America/Santiago")
    august = september.previous()
    assert (september.start.hour, september.start.utcoffset()) == (1, timedelta(hours=-3))
    assert august.end == september.start == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert august.seconds == 31 * DAY  # Aug 6 00:00 -04 to Sep 6 01:00 -03
    assert september.seconds == 30 * DAY - 3600
    assert (
        BillingPeriod.containing(
            september.start - SECOND, anchor_day=6, timezone="America/Santiago"
        )
        == august
    )


def test_paris_march_starts_and_ends_at_local_midnight():
    """Paris, March 2026: from 23:00 UTC on Feb 28 to 22:00 UTC on Mar 31."""
    period = BillingPeriod.of("2026-03", timezone="Europe/Paris")
    assert period.start.astimezone(UTC) == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert period.end.astimezone(UTC) == datetime(2026, 3, 31, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "local_midnight_in_utc", "east"),
    [
        # Nov 1 00:00 local, in UTC:
        ("Asia/Tokyo", datetime(2026, 10, 31, 15, tzinfo=UTC), True),  # UTC+9
        ("Pacific/Auckland", datetime(2026, 10, 31, 11, tzinfo=UTC), True),  # UTC+13 (NZDT)
        ("America/Los_Angeles", datetime(2026, 11, 1, 7, tzinfo=UTC), False),  # UTC-7 (PDT)
        ("Pacific/Honolulu", datetime(2026, 11, 1, 10, tzinfo=UTC), False),  # UTC-10
    ],
)
def test_an_instant_falls_in_exactly_one_period_east_and_west_of_utc(
    name, local_midnight_in_utc, east
):
    """The UTC end of a month falls in exactly one local period: no double invoice east of UTC."""
    # Pitfall: customers east of UTC invoiced twice (Lago #879).
    october = BillingPeriod.of("2026-10", timezone=name)
    november = october.next()
    assert october.end == local_midnight_in_utc
    for instant in (
        datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        local_midnight_in_utc - SECOND,
        local_midnight_in_utc,
    ):
        holders = [p for p in (october.previous(), october, november) if p.contains(instant)]
        assert len(holders) == 1
        assert holders == [BillingPeriod.containing(instant, timezone=name)]
    # The last second of October in UTC is already November east of UTC, still October west.
    last_utc_second = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    assert BillingPeriod.containing(last_utc_second, timezone=name) == (
        november if east else october
    )
    assert BillingPeriod.containing(local_midnight_in_utc - SECOND, timezone=name) == october
    assert BillingPeriod.containing(local_midnight_in_utc, timezone=name) == november


def test_period_in_a_zone_differs_from_utc_period_by_the_offset():
    """Tokyo's October starts nine hours before UTC's."""
    tokyo = BillingPeriod.of("2026-10", timezone="Asia/Tokyo")
    assert BillingPeriod.of("2026-10").start - tokyo.start == timedelta(hours=9)
    assert tokyo.start == local(2026, 10, 1, "Asia/Tokyo")


def test_equality_ignores_derived_bounds_and_periods_are_hashable():
    """Two periods with the same month, anchor and zone are equal and hash alike."""
    one = BillingPeriod.of("2026-10", anchor_day=5, timezone="Europe/Paris")
    two = BillingPeriod(one.month_index, 5, "Europe/Paris")
    assert one == two
    assert len({one, two}) == 1
    assert one != BillingPeriod.of("2026-10", anchor_day=5)
