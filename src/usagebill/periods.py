"""Monthly billing periods in the organization's time zone, half-open ``[start, end)``.

A period starts at midnight, local time, on the anchor day of its month. An
anchor past a month's end falls on the month's last day and comes back after
(anchor 31: Jan 31, Feb 28 or 29, Mar 31). Each start is computed from the
anchor and the month — never by adding "one month" to the previous start,
which drifts (Jan 31 → Feb 29 → Mar 29). Because periods are half-open, an
instant belongs to exactly one period, and the last second of a month is not
lost.

A period's length is measured in real seconds, so a month with a daylight
saving change has an hour more or less; seat fees are prorated by those
seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import attrs
from dateutil import tz
from dateutil.relativedelta import relativedelta

from usagebill._checks import check_aware, int_between, time_zone
from usagebill.errors import InvalidValueError

__all__ = ["BillingPeriod", "zone"]

_LABEL = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


def zone(name: object) -> tzinfo:
    """The time zone called ``name`` (IANA, e.g. ``Europe/Paris``), or a typed error.

    Only IANA names: a path such as ``../../etc/localtime`` never reaches the file system.
    """
    return time_zone(name)


def _month_start(index: int, anchor_day: int, where: tzinfo) -> datetime:
    """Local midnight of the anchor day in month ``index`` (months since year 0)."""
    year, month = divmod(index, 12)
    # A wall-clock date first (the zone comes after: DST may move local midnight).
    naive = datetime(year, month + 1, 1) + relativedelta(day=anchor_day)  # noqa: DTZ001
    return tz.resolve_imaginary(naive.replace(tzinfo=where))


# datetime spans years 1 to 9999: a period must start and end within them.
_FIRST_MONTH = 12  # 0001-01
_LAST_MONTH = 9999 * 12 + 10  # 9999-11 (its period ends in 9999-12)


def _month_index(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or not _FIRST_MONTH <= value <= _LAST_MONTH:
        # Shown as the label it would have (9999-12), not as the index (119999).
        year, month = divmod(value, 12) if type(value) is int and value >= 0 else (0, -1)
        shown = f"{year:04d}-{month + 1:02d}" if month >= 0 and year < 10**6 else value
        raise InvalidValueError("period", shown, "must be a month from 0001-01 to 9999-11")


@attrs.frozen
class BillingPeriod:
    """One monthly billing period; ``label`` is the year and month it starts in.

    >>> period = BillingPeriod.of("2026-01", anchor_day=31, timezone="America/New_York")
    >>> [str(p.start.date()) for p in (period, period.next(), period.next().next())]
    ['2026-01-31', '2026-02-28', '2026-03-31']
    >>> period.contains(period.end), period.next().contains(period.end)
    (False, True)
    """

    month_index: int = attrs.field(validator=_month_index)
    anchor_day: int = attrs.field(default=1, validator=int_between(1, 31))
    timezone: str = "UTC"
    start: datetime = attrs.field(init=False, eq=False, repr=False)
    end: datetime = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        where = zone(self.timezone)
        object.__setattr__(self, "start", _month_start(self.month_index, self.anchor_day, where))
        object.__setattr__(self, "end", _month_start(self.month_index + 1, self.anchor_day, where))

    @classmethod
    def of(cls, label: str, *, anchor_day: int = 1, timezone: str = "UTC") -> BillingPeriod:
        """The period starting in month ``label`` (``"YYYY-MM"``)."""
        try:
            match = _LABEL.fullmatch(label)
        except TypeError:
            match = None
        if match is None or not 1 <= int(match[2]) <= 12:
            raise InvalidValueError("period", label, "must be a month written YYYY-MM")
        return cls(int(match[1]) * 12 + int(match[2]) - 1, anchor_day, timezone)

    @classmethod
    def containing(
        cls, at: datetime, *, anchor_day: int = 1, timezone: str = "UTC"
    ) -> BillingPeriod:
        """The period that ``at`` (a timezone-aware instant) falls in."""
        local = check_aware(at).astimezone(zone(timezone))
        period = cls(local.year * 12 + local.month - 1, anchor_day, timezone)
        return period if period.start <= at else period.previous()

    @property
    def label(self) -> str:
        """The year and month the period starts in, e.g. ``2026-10``."""
        year, month = divmod(self.month_index, 12)
        return f"{year:04d}-{month + 1:02d}"

    @property
    def seconds(self) -> int:
        """The period's length in real seconds (DST changes included)."""
        # Subtracting datetimes of one tzinfo ignores offsets: compare in UTC instead.
        elapsed = self.end.astimezone(UTC) - self.start.astimezone(UTC)
        return int(elapsed / timedelta(seconds=1))

    def contains(self, at: datetime) -> bool:
        """Tell whether ``at`` falls in ``[start, end)``."""
        return self.start <= check_aware(at) < self.end

    def next(self) -> BillingPeriod:
        """The period after this one."""
        return attrs.evolve(self, month_index=self.month_index + 1)

    def previous(self) -> BillingPeriod:
        """The period before this one."""
        return attrs.evolve(self, month_index=self.month_index - 1)

    def __str__(self) -> str:
        return f"{self.label} [{self.start.isoformat()}, {self.end.isoformat()})"
