"""The shared checks: what each accepts and refuses, and the one message shape they share."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from dateutil import tz

from usagebill import InvalidValueError, Modifiers, PriceTable, TokenUsage
from usagebill._checks import (
    AWARE,
    COUNT,
    INSTANT,
    TEXT,
    aware,
    check_aware,
    check_currency,
    check_non_empty_str,
    check_non_negative_int,
    flag,
    instance_of,
    instant,
    int_between,
    local_instant,
    non_empty_str,
    non_negative_int,
    optional,
    time_zone,
)
from usagebill.errors import short_repr

PARIS = tz.gettz("Europe/Paris")
NAIVE = datetime(2026, 10, 3, 9, 15)  # naive on purpose


def refused(check, value, field="field"):
    """The InvalidValueError ``check`` raises for ``value``, its message in the one shape."""
    with pytest.raises(InvalidValueError) as caught:
        check(value, field)
    error = caught.value
    assert (error.field, error.value) == (field, value)
    assert str(error) == f"{field} {error.rule} (got {short_repr(value)})"
    return error


def validated(validator):
    """A one-field attrs class checked by ``validator``."""

    @attrs.frozen
    class Holder:
        field: object = attrs.field(validator=validator)

    return lambda value, _field="field": Holder(value)


# --- timezone-aware datetimes ---------------------------------------------------------------


AWARE_VALUES = [
    datetime(2026, 10, 3, tzinfo=UTC),
    datetime(2026, 10, 3, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 10, 3, tzinfo=PARIS),
]
NOT_AWARE = [NAIVE, date(2026, 10, 3), "2026-10-03T09:15:00Z", None, 1_790_000_000]


@pytest.mark.parametrize("value", AWARE_VALUES)
def test_aware_datetimes_are_accepted(value):
    """Any datetime with a UTC offset passes, whatever its tzinfo; check_aware returns it."""
    assert check_aware(value) is value
    assert validated(aware)(value).field is value


@pytest.mark.parametrize("value", NOT_AWARE)
def test_anything_else_is_refused_as_not_aware(value):
    """A naive datetime, a date, a string: 'must be a timezone-aware datetime', naming the field."""
    assert refused(check_aware, value, "as_of").rule == AWARE
    assert refused(validated(aware), value).rule == AWARE


def test_check_aware_names_at_by_default():
    """Most instants are called ``at``: that is the default field."""
    with pytest.raises(InvalidValueError, match=r"^at must be a timezone-aware datetime \(got"):
        check_aware(NAIVE)


# --- counts and names -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 2**63 - 1])
def test_non_negative_ints_are_counts(value):
    """0 and any positive int up to 2**63 - 1 (a 64-bit count, as SQL stores it) are counts."""
    assert check_non_negative_int(value, "input_tokens") == value
    assert validated(non_negative_int)(value).field == value


@pytest.mark.parametrize("value", [-1, True, False, 5.0, "5", Decimal(5), None])
def test_negative_numbers_bools_floats_and_strings_are_not_counts(value):
    """-1, a bool (an int subclass), 5.0, '5': 'must be a non-negative int'."""
    assert refused(check_non_negative_int, value, "input_tokens").rule == COUNT
    assert refused(validated(non_negative_int), value).rule == COUNT


@pytest.mark.parametrize("value", ["a", "ada lovelace", "é"])
def test_non_empty_strings_are_names(value):
    """Any non-empty str."""
    assert check_non_empty_str(value, "user_id") == value
    assert validated(non_empty_str)(value).field == value


@pytest.mark.parametrize("value", ["", None, 5, b"ada", ["ada"]])
def test_empty_strings_and_other_types_are_not_names(value):
    """'', None, bytes, a list: 'must be a non-empty string'."""
    assert refused(check_non_empty_str, value, "user_id").rule == TEXT
    assert refused(validated(non_empty_str), value).rule == TEXT


@pytest.mark.parametrize("value", [1, 15, 31])
def test_ints_between_the_bounds_pass(value):
    """int_between(1, 31) takes 1 to 31, both included (an anchor day)."""
    assert validated(int_between(1, 31))(value).field == value


@pytest.mark.parametrize("value", [0, 32, -1, True, 1.0, "1", None])
def test_ints_outside_the_bounds_and_other_types_are_refused(value):
    """0, 32, True (an int subclass), 1.0: 'must be an int from 1 to 31'."""
    assert refused(validated(int_between(1, 31)), value).rule == "must be an int from 1 to 31"


@pytest.mark.parametrize("value", [True, False])
def test_flags_are_bools(value):
    """True and False, nothing else."""
    assert validated(flag)(value).field is value


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_ones_and_strings_are_not_flags(value):
    """1, 0, 'true', None: 'must be True or False'."""
    assert refused(validated(flag), value).rule == "must be True or False"


# --- instances, optional values, currencies ---------------------------------------------------


def test_instance_of_raises_the_typed_error_naming_the_class():
    """attrs' instance_of raises a bare TypeError; ours an InvalidValueError, 'must be a X'."""
    check = validated(instance_of(TokenUsage))
    usage = TokenUsage(input_tokens=1)
    assert check(usage).field is usage
    assert refused(check, {"input_tokens": 1}).rule == "must be a TokenUsage"
    assert refused(validated(instance_of(PriceTable, "a price table")), "x").rule == (
        "must be a price table"
    )


def test_optional_accepts_none_and_checks_anything_else():
    """optional(v): None passes; any other value is checked by v."""
    check = validated(optional(aware))
    assert check(None).field is None
    assert check(AWARE_VALUES[0]).field is AWARE_VALUES[0]
    assert refused(check, NAIVE).rule == AWARE


@pytest.mark.parametrize("value", ["USD", "EUR", "JPY"])
def test_three_capital_letters_are_a_currency(value):
    """ISO 4217 codes are three ASCII capitals."""
    assert check_currency(value) == value


@pytest.mark.parametrize("value", ["usd", "US", "USDX", "ÜSD", "", 840, None])
def test_anything_else_is_not_a_currency(value):
    """Lower case, too short or long, non-ASCII, a number: refused, naming currency."""
    error = refused(check_currency, value, "currency")
    assert error.rule == "must be a three-letter ISO 4217 code"


# --- ISO 8601 instants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-03T09:15:00Z", datetime(2026, 10, 3, 9, 15, tzinfo=UTC)),
        ("2026-10-03T11:15:00+02:00", datetime(2026, 10, 3, 9, 15, tzinfo=UTC)),
        ("2026-10-03T09:15:00.250000+00:00", datetime(2026, 10, 3, 9, 15, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_instants_with_an_offset_are_read(text, expected):
    """Z and ±HH:MM offsets give the instant they write."""
    assert instant(text) == expected
    assert instant(text).utcoffset() is not None


def test_an_aware_datetime_is_an_instant_as_it_is():
    """Loaders may hand over datetimes already parsed (TOML does): aware ones pass."""
    at = datetime(2026, 10, 3, tzinfo=PARIS)
    assert instant(at) is at


@pytest.mark.parametrize(
    "value",
    ["2026-10-03T09:15:00", "2026-10-03", "yesterday", "2026-10-03T25:00:00Z", "", 1_790_000_000,
     None, NAIVE, date(2026, 10, 3)],
)  # fmt: skip
def test_naive_malformed_and_non_string_instants_get_one_message(value):
    """A local time, a date, junk, a number: the one ISO 8601 message, naming the field."""
    error = refused(instant, value, "at")
    assert error.rule == INSTANT
    assert "ISO 8601 datetime string with a UTC offset" in str(error)


def test_with_a_local_zone_a_date_is_its_midnight_there():
    """The CLI reads '--as-of 2026-10-15' as local midnight, a naive datetime as local time."""
    assert local_instant("2026-10-15", "--as-of", PARIS) == datetime(
        2026, 10, 14, 22, tzinfo=UTC
    )  # Paris is UTC+2 in October (CEST)
    assert local_instant("2026-10-15T12:00", "--as-of", UTC) == datetime(
        2026, 10, 15, 12, tzinfo=UTC
    )
    assert local_instant("2026-10-15T12:00+05:00", "--as-of", PARIS).utcoffset() == timedelta(
        hours=5
    )


def test_with_a_local_zone_a_naive_datetime_is_local_and_an_aware_one_stays():
    """Datetimes as well as strings: naive ones get the zone, aware ones pass as they are."""
    assert local_instant(NAIVE, "--at", UTC) == NAIVE.replace(tzinfo=UTC)
    aware_one = AWARE_VALUES[2]
    assert local_instant(aware_one, "--at", UTC) is aware_one


def test_with_a_local_zone_a_skipped_time_moves_forward():
    """02:30 on 2026-03-29 does not exist in Paris (clocks go 02:00 → 03:00): it becomes 03:30."""
    at = local_instant("2026-03-29T02:30", "--at", PARIS)
    assert at.replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_with_a_local_zone_junk_gets_the_date_or_datetime_message():
    """Where a local time is allowed, the message says so."""
    error = refused(lambda value, field: local_instant(value, field, UTC), "soon", "--at")
    assert str(error) == (
        "--at must be an ISO 8601 date or datetime (e.g. 2026-10-03 or 2026-10-03T09:15)"
        " (got 'soon')"
    )
    for value in (5, None, date(2026, 10, 3)):
        assert refused(lambda v, field: local_instant(v, field, UTC), value, "--at").rule == (
            error.rule
        )


# --- time zones -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Etc/GMT+5", "Europe/Paris"])
def test_iana_names_are_time_zones(name):
    """IANA names, with their letters, digits, '_', '-', '+' and '/'."""
    assert time_zone(name) is tz.gettz(name)


def test_etc_gmt_plus_5_is_five_hours_behind():
    """IANA's Etc/GMT+5 is UTC-5 (POSIX sign), read from the database as it is."""
    assert datetime(2026, 1, 1, tzinfo=time_zone("Etc/GMT+5")).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/localtime",  # dateutil warns (an error in dateutil 4): a path out of its tree
        "/etc/localtime",  # an absolute path: dateutil would read any file
        "a" * 1_500,  # longer than a file name may be: dateutil's OSError (Errno 36)
        "Europe/../../../etc/passwd",
        "./UTC",
        "Europe//Paris",
        "Europe/Paris/",
        "America/New York",  # dateutil would read it as New_York: not the IANA name
        "UTC+3",  # a POSIX rule (meaning UTC-3), not an IANA name
        "Mars/Olympus",
        "",
        "Europe/Paris\x00",
        None,
        5,
    ],
)
def test_anything_but_an_iana_name_is_refused_before_dateutil_sees_it(name):
    """Paths, a 1,500-character name, POSIX rules, unknown names: the typed error, no warning."""
    error = refused(time_zone, name, "timezone")
    assert error.rule == "must be an IANA time zone name, e.g. Europe/Paris"
    assert len(str(error)) < 150  # the 1,500 characters are not all shown


# --- modifier bits ----------------------------------------------------------------------------


def test_modifier_bits_are_batch_1_us_only_2_fast_4():
    """Each of the eight combinations has its bits, and from_bits gives it back (shared)."""
    for bits in range(8):
        modifiers = Modifiers.from_bits(bits)
        assert modifiers == Modifiers(batch=bool(bits & 1), us_only=bool(bits & 2), fast=bits >= 4)
        assert modifiers.bits == bits
        assert Modifiers.of(modifiers.batch, modifiers.us_only, modifiers.fast) is modifiers


@pytest.mark.parametrize("bits", [8, -1, True, "1", None])
def test_from_bits_refuses_what_no_modifiers_have(bits):
    """Only 0 to 7 are bits of modifiers (a negative index would wrap round)."""
    with pytest.raises(InvalidValueError, match="must be an int from 0 to 7"):
        Modifiers.from_bits(bits)


def test_rating_inlines_the_same_bits(table, at):
    """compiled() and cost() inline Modifiers.bits: they agree with compiled_bits(bits)."""
    price = table.price("claude-sonnet-4-6", at)
    for bits in range(8):
        modifiers = Modifiers.from_bits(bits)
        for in_tier in (False, True):
            try:
                compiled = price.compiled(modifiers, in_tier)
            except InvalidValueError:  # a modifier the model does not offer (fast mode)
                continue
            assert compiled is price.compiled_bits(bits | in_tier << 3)
            usage = TokenUsage(input_tokens=250_000 if in_tier else 1_000, output_tokens=500)
            assert (
                table.cost(
                    "claude-sonnet-4-6",
                    usage,
                    at,
                    batch=modifiers.batch,
                    us_only=modifiers.us_only,
                    fast=modifiers.fast,
                )
                == table.quote("claude-sonnet-4-6", usage, at, modifiers).amount
            )
