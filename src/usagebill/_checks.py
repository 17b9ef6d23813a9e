"""The checks value types share, each rule written once, with one message shape.

As :mod:`attrs.validators` does, a check is a small validator for an attrs
field (``aware``, ``non_negative_int``, ``int_between``, ``non_empty_str``,
``flag``, ``instance_of``, ``optional``), or a plain function for arguments and parsers
(``check_aware``, ``check_non_negative_int``, ``check_non_empty_str``,
``check_currency``, ``instant``, ``local_instant``, ``time_zone``). Every one
raises :class:`~usagebill.errors.InvalidValueError`, whose message reads
``field rule (got value)``: ``at must be a timezone-aware datetime (got …)``.

Rating and the events parser inline a check or two where a call would cost
on their hot path; they raise with the rule named here, so every message
stays the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import attrs
from dateutil import tz

from usagebill.errors import InvalidValueError

__all__ = [
    "AWARE",
    "COUNT",
    "INSTANT",
    "MAX_COUNT",
    "MAX_TOTAL",
    "TEXT",
    "TOO_LARGE_TOTAL",
    "TOO_MANY",
    "Validator",
    "aware",
    "check_aware",
    "check_currency",
    "check_non_empty_str",
    "check_non_negative_int",
    "count_rule",
    "flag",
    "instance_of",
    "instant",
    "int_between",
    "local_instant",
    "non_empty_str",
    "non_negative_int",
    "optional",
    "time_zone",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
"""What attrs calls to check a field: ``(instance, attribute, value)``."""

AWARE: Final = "must be a timezone-aware datetime"
COUNT: Final = "must be a non-negative int"
MAX_COUNT: Final = 2**63 - 1
"""The largest count: a 64-bit integer, as SQL (BIGINT), Parquet and DuckDB store counts.

A larger one is no real usage, and its cost would have more digits than exact
money keeps (a count of 10**70 tokens made rating fail deep inside).
"""
TOO_MANY: Final = "must be at most 2**63 - 1 (a 64-bit count)"
MAX_TOTAL: Final = 2**127 - 1
"""The largest count a value type holds: a sum of up to 2**64 counts, each at most MAX_COUNT."""
TOO_LARGE_TOTAL: Final = "must be at most 2**127 - 1 (a sum of 64-bit counts)"
TEXT: Final = "must be a non-empty string"
INSTANT: Final = "must be an ISO 8601 datetime string with a UTC offset (Z or +02:00)"
_LOCAL_INSTANT: Final = "must be an ISO 8601 date or datetime (e.g. 2026-10-03 or 2026-10-03T09:15)"
_CURRENCY_RULE: Final = "must be a three-letter ISO 4217 code"
_TIME_ZONE_RULE: Final = "must be an IANA time zone name, e.g. Europe/Paris"

_CURRENCY: Final = re.compile(r"[A-Z]{3}", re.ASCII)
# IANA names: ASCII letters, digits and _ - +, in parts joined by /. No dot at all, so no
# "..", no "./", no file name such as "localtime.bak"; no leading / (an absolute path); and
# the longest IANA name has 32 characters.
_TIME_ZONE_KEY: Final = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*", re.ASCII)
_TIME_ZONE_LENGTH: Final = 64
# Files of a zoneinfo directory that are no IANA key, as zoneinfo.available_timezones() leaves
# them out: the "posix/" and "right/" copies (right/ counts leap seconds), and the rules file.
_NOT_ZONES: Final = frozenset({"posix", "right", "posixrules", "localtime"})


# --- attrs validators: the field is the attribute's name ---------------------------------------
# Each repeats its one-line condition rather than calling the plain check below: validators run
# for every value built (six counts per TokenUsage), and a call more would add to each.


def aware(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A timezone-aware datetime: a naive one is ambiguous, by hours."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(attribute.name, value, AWARE)


def non_negative_int(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A non-negative ``int`` up to :data:`MAX_TOTAL` (``True`` is not a count, nor is ``5.0``).

    A value type may hold a sum (a month's tokens), so its bound is far above one
    count's; counts read from outside are bounded where they are read
    (:func:`check_non_negative_int`).
    """
    if type(value) is not int or not 0 <= value <= MAX_TOTAL:
        raise InvalidValueError(attribute.name, value, count_rule(value, MAX_TOTAL))


def int_between(low: int, high: int) -> Validator:
    """An ``int`` from ``low`` to ``high``, both included (not a bool)."""
    rule = f"must be an int from {low} to {high}"

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not int or not low <= value <= high:
            raise InvalidValueError(attribute.name, value, rule)

    return check


def flag(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A ``bool``: ``1`` and ``"yes"`` are not flags."""
    if type(value) is not bool:
        raise InvalidValueError(attribute.name, value, "must be True or False")


def non_empty_str(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A non-empty ``str``: an id or a name."""
    if not isinstance(value, str) or not value:
        raise InvalidValueError(attribute.name, value, TEXT)


def instance_of(kind: type, what: str = "") -> Validator:
    """An instance of ``kind`` (``what`` names it in the message: ``"a PriceTable"``).

    attrs' own ``instance_of`` raises a bare TypeError; this one the typed error.
    """
    rule = f"must be {what or 'a ' + kind.__name__}"

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidValueError(attribute.name, value, rule)

    return check


def optional(validator: Validator) -> Validator:
    """``None``, or what ``validator`` accepts."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return check


# --- plain checks: they return the value, so a caller can check and use it in one go ------------


def check_aware(value: object, field: str = "at") -> datetime:
    """``value`` if it is a timezone-aware datetime."""
    if type(value) is datetime and value.tzinfo is UTC:  # the common case, checked first
        return value
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(field, value, AWARE)
    return value


def check_non_negative_int(value: object, field: str) -> int:
    """``value`` if it is a count read from outside: an ``int`` from 0 to :data:`MAX_COUNT`."""
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise InvalidValueError(field, value, count_rule(value))
    return value


def count_rule(value: object, limit: int = MAX_COUNT) -> str:
    """The rule a value that is no count breaks: not a non-negative int, or above ``limit``."""
    if type(value) is not int or value <= limit:
        return COUNT
    return TOO_MANY if limit == MAX_COUNT else TOO_LARGE_TOTAL


def check_non_empty_str(value: object, field: str) -> str:
    """``value`` if it is a non-empty ``str``."""
    if not isinstance(value, str) or not value:
        raise InvalidValueError(field, value, TEXT)
    return value


def check_currency(value: object, field: str = "currency") -> str:
    """``value`` if it is an ISO 4217 code: three capital letters (``USD``)."""
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise InvalidValueError(field, value, _CURRENCY_RULE)
    return value


def instant(value: object, field: str = "at") -> datetime:
    """An ISO 8601 string with a UTC offset (or an aware datetime) as an aware datetime.

    A local time is ambiguous (by hours): ``Z`` or ``+02:00`` must say which instant.
    """
    # The events parser's hot path: local times have their own function, because a keyword
    # parameter for their zone cost a tenth of this call (measured).
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValueError(field, value, INSTANT) from None
        if at.tzinfo is not None:  # a parsed offset is fixed: no utcoffset() call needed
            return at if 1 < at.year < 9999 else _in_utc_range(at, field)
    elif isinstance(value, datetime) and value.utcoffset() is not None:
        return value if 1 < value.year < 9999 else _in_utc_range(value, field)
    raise InvalidValueError(field, value, INSTANT)


def _in_utc_range(at: datetime, field: str) -> datetime:
    """``at`` if it has a UTC time: 9999-12-31T23:00-05:00 is in the year 10000 in UTC."""
    try:
        at.astimezone(UTC)
    except OverflowError:
        raise InvalidValueError(field, at, "must fall within the years 1 to 9999 in UTC") from None
    return at


def local_instant(value: object, field: str, where: tzinfo) -> datetime:
    """:func:`instant`, where a date or a datetime without offset is wall-clock time ``where``.

    A date is its midnight; a time that a DST change skips moves forward (as the
    clocks did). For people typing a date on the command line.
    """
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValueError(field, value, _LOCAL_INSTANT) from None
    elif isinstance(value, datetime):
        at = value
    else:
        raise InvalidValueError(field, value, _LOCAL_INSTANT)
    if at.utcoffset() is not None:
        return at
    try:
        return tz.resolve_imaginary(at.replace(tzinfo=where))
    except OverflowError:  # 9999-12-31T23:00 a zone west of UTC: the year 10000 in UTC
        raise InvalidValueError(field, value, "must fall before the year 10000 in UTC") from None


def time_zone(name: object, field: str = "timezone") -> tzinfo:
    """The time zone of an IANA name (``America/New_York``, ``Etc/GMT+5``, ``UTC``).

    The name is checked before dateutil sees it: a path (``../../etc/localtime``,
    ``/etc/localtime``) or a very long name would reach the file system. POSIX
    rules (``UTC+3``, which means UTC-3) and the machine's local zone are not
    IANA names either.
    """
    if not isinstance(name, str) or len(name) > _TIME_ZONE_LENGTH:
        raise InvalidValueError(field, name, _TIME_ZONE_RULE)
    found = _zone(name)
    if found is None:
        raise InvalidValueError(field, name, _TIME_ZONE_RULE)
    return found


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo | None:
    """The zone of a checked key, or None (memoised: every BillingPeriod looks one up)."""
    if not _TIME_ZONE_KEY.fullmatch(name) or name.partition("/")[0] in _NOT_ZONES:
        return None
    # With no dot in the key, dateutil never warns that the key leaves its search path (its
    # DeprecatedTzKeyWarning), so no warnings filter is needed here: catch_warnings() would
    # swap the process's filters, which is not thread-safe.
    try:
        found = tz.gettz(name)
    except (OSError, ValueError):  # e.g. a name longer than the file system allows
        return None
    if found is None or isinstance(found, (tz.tzstr, tz.tzlocal)):
        return None
    return found
