"""Usage events: validation, the dict form, and the strict reading of JSON records."""

import functools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

import builders
from usagebill import ConflictError, InvalidValueError, Modifiers, Product, TokenUsage, UsageEvent
from usagebill.events import deduplicated_between, parse_record, record_of

AT = datetime(2026, 10, 3, 9, 15, tzinfo=UTC)


event = functools.partial(
    builders.event,
    event_id="evt-1",
    at=AT,
    usage=TokenUsage(input_tokens=1200, output_tokens=350, cache_read_tokens=8000),
)
"""ada's Sonnet 4.6 chat request evt-1 at AT (any field given instead)."""


def record(**changes) -> dict:
    data = {
        "event_id": "evt-1",
        "user_id": "ada",
        "model": "claude-sonnet-4-6",
        "product": "chat",
        "at": "2026-10-03T09:15:00Z",
        "usage": {"input_tokens": 1200, "output_tokens": 350, "cache_read_tokens": 8000},
    }
    data.update(changes)
    return data


# --- UsageEvent -------------------------------------------------------------------------------


def test_event_to_dict_leaves_out_zeros_and_unset_modifiers():
    """to_dict gives the JSON form: zero counts and false modifiers are left out."""
    assert event().to_dict() == {
        "event_id": "evt-1",
        "user_id": "ada",
        "model": "claude-sonnet-4-6",
        "product": "chat",
        "at": "2026-10-03T09:15:00+00:00",
        "usage": {"input_tokens": 1200, "output_tokens": 350, "cache_read_tokens": 8000},
    }
    with_modifiers = event(modifiers=Modifiers(batch=True, fast=True)).to_dict()
    assert with_modifiers["modifiers"] == {"batch": True, "fast": True}


@pytest.mark.parametrize(
    "modifiers",
    [
        Modifiers(),
        Modifiers(batch=True),
        Modifiers(us_only=True),
        Modifiers(batch=True, us_only=True, fast=True),
    ],
)
def test_event_round_trips_through_its_dict_and_json(modifiers):
    """from_dict(to_dict(e)) == e, also through JSON text, with any modifiers."""
    original = event(
        modifiers=modifiers,
        usage=TokenUsage(1, 2, 3, 4, 5, 6),
        at=datetime(2026, 10, 3, 11, 15, tzinfo=timezone(timedelta(hours=2))),
    )
    assert UsageEvent.from_dict(original.to_dict()) == original
    assert UsageEvent.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_event_accepts_a_product_name():
    """The product may be given by its name; it is stored as the Product."""
    assert event(product="claude_code").product is Product.CLAUDE_CODE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", ""),
        ("event_id", 7),
        ("user_id", ""),
        ("user_id", None),
        ("model", ""),
        ("product", "bogus"),
        ("product", None),
        ("product", ["chat"]),
        ("at", datetime(2026, 10, 3)),
        ("at", "2026-10-03T09:15:00Z"),
        ("usage", {"input_tokens": 5}),
        ("modifiers", {"batch": True}),
    ],
)
def test_event_validation_names_the_field(field, value):
    """A bad field of a UsageEvent is an InvalidValueError naming that field."""
    with pytest.raises(InvalidValueError) as error:
        event(**{field: value})
    assert error.value.field == field


def test_record_of_and_modifier_bits():
    """record_of gives the plain values; modifier bits are batch 1, us_only 2, fast 4."""
    original = event(modifiers=Modifiers(batch=True, fast=True))
    assert record_of(original) == (
        "evt-1",
        "ada",
        "claude-sonnet-4-6",
        Product.CHAT,
        (1200, 350, 0, 0, 8000, 0),
        AT,
        5,
    )
    assert Modifiers().bits == 0
    assert Modifiers(us_only=True).bits == 2
    assert parse_record(original.to_dict()) == record_of(original)


# --- parse_record: strict ---------------------------------------------------------------------


def test_parse_record_reads_a_good_record():
    """A well-formed record gives its plain values; absent counts are zero."""
    assert parse_record(record(modifiers={"us_only": True})) == (
        "evt-1",
        "ada",
        "claude-sonnet-4-6",
        Product.CHAT,
        (1200, 350, 0, 0, 8000, 0),
        AT,
        2,
    )
    assert parse_record(record(modifiers={}))[6] == 0


@pytest.mark.parametrize("data", [[], "evt", None, 5])
def test_a_record_must_be_an_object(data):
    """A JSON value that is not an object is refused."""
    with pytest.raises(InvalidValueError, match="JSON object"):
        parse_record(data)


def test_unknown_keys_are_refused():
    """An unknown top-level key is an error listing it."""
    with pytest.raises(InvalidValueError, match="unknown keys") as error:
        parse_record(record(tokens=5, extra=1))
    assert error.value.value == ["extra", "tokens"]


@pytest.mark.parametrize("key", ["event_id", "user_id", "model", "product", "usage", "at"])
def test_missing_keys_are_named(key):
    """A missing required key is an error naming that key."""
    data = record()
    del data[key]
    with pytest.raises(InvalidValueError, match="needs this key") as error:
        parse_record(data)
    assert error.value.value == key


@pytest.mark.parametrize("product", ["bogus", "Chat", "", True, 1, None, ["chat"], {"a": 1}])
def test_unknown_product_is_named(product):
    """An unknown product is an error about the product field, listing the known ones."""
    with pytest.raises(InvalidValueError, match="must be one of") as error:
        parse_record(record(product=product))
    assert error.value.field == "product"
    assert error.value.value == product


@pytest.mark.parametrize(
    ("field", "value"),
    [("event_id", ""), ("event_id", 5), ("user_id", None), ("user_id", ""), ("model", 3.5)],
)
def test_ids_must_be_non_empty_strings(field, value):
    """Event id, user id and model are non-empty strings."""
    with pytest.raises(InvalidValueError, match="non-empty string") as error:
        parse_record(record(**{field: value}))
    assert error.value.field == field


@pytest.mark.parametrize("count", ["5", 1.0, 5.5, True, False, None, -1, [5]])
@pytest.mark.parametrize("name", ["input_tokens", "cache_read_tokens", "web_search_requests"])
def test_counts_must_be_non_negative_ints(name, count):
    """A count as "5", 1.0, true or -1 is refused, naming usage.<field>."""
    with pytest.raises(InvalidValueError, match="non-negative int") as error:
        parse_record(record(usage={"output_tokens": 3, name: count}))
    assert error.value.field == f"usage.{name}"
    assert error.value.value == count or count is None


def test_usage_must_be_an_object_with_known_keys():
    """usage is an object of the known token counts, nothing else."""
    with pytest.raises(InvalidValueError, match="JSON object of token counts"):
        parse_record(record(usage=[1, 2]))
    with pytest.raises(InvalidValueError, match="unknown keys") as error:
        parse_record(record(usage={"input_tokens": 1, "prompt_tokens": 5}))
    assert error.value.field == "usage"
    assert error.value.value == ["prompt_tokens"]


def test_an_empty_usage_is_all_zeros():
    """An empty usage object is a request that used nothing."""
    assert parse_record(record(usage={}))[4] == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("stamp", "rule"),
    [
        ("2026-10-03T09:15:00", "UTC offset"),
        ("2026-10-03", "UTC offset"),
        ("yesterday", "ISO 8601 datetime"),
        ("2026-10-03T25:00:00Z", "ISO 8601 datetime"),
        (1_790_000_000, "ISO 8601 datetime string"),
        (None, "ISO 8601 datetime string"),
    ],
)
def test_timestamps_must_be_iso_with_an_offset(stamp, rule):
    """A naive, malformed or non-string timestamp is an error naming at."""
    with pytest.raises(InvalidValueError, match=rule) as error:
        parse_record(record(at=stamp))
    assert error.value.field == "at"


def test_timestamps_keep_their_instant():
    """Z and +02:00 are read as the instants they write."""
    assert parse_record(record(at="2026-10-03T11:15:00+02:00"))[5] == AT


@pytest.mark.parametrize("flag", [1, 0, "true", None])
def test_modifier_flags_must_be_booleans(flag):
    """A modifier written as 1 (or "true", or null) is refused, naming modifiers.<name>."""
    with pytest.raises(InvalidValueError, match="true or false") as error:
        parse_record(record(modifiers={"batch": flag}))
    assert error.value.field == "modifiers.batch"


@pytest.mark.parametrize("modifiers", [{"turbo": True}, ["batch"], "batch"])
def test_modifiers_must_use_known_names(modifiers):
    """Modifiers are an object of batch, us_only and fast only."""
    with pytest.raises(InvalidValueError, match="must use only") as error:
        parse_record(record(modifiers=modifiers))
    assert error.value.field == "modifiers"


def test_from_dict_is_as_strict_as_parse_record():
    """UsageEvent.from_dict refuses what parse_record refuses."""
    with pytest.raises(InvalidValueError, match=r"usage\.input_tokens"):
        UsageEvent.from_dict(record(usage={"input_tokens": "5"}))


# --- deduplicated_between ----------------------------------------------------------------------


def test_deduplicated_between_keeps_each_event_once_in_the_window_in_time_order():
    """A repeat is dropped, the window is [start, end), ties in time go by id, members filter."""
    late = event(event_id="b", at=AT + timedelta(hours=1))
    tie = event(event_id="a", at=AT + timedelta(hours=1))
    early = event(event_id="c", user_id="bob", at=AT)
    at_end = event(event_id="d", at=AT + timedelta(days=1))
    events = [late, tie, early, late, at_end]
    assert deduplicated_between(events, AT, AT + timedelta(days=1)) == [early, tie, late]
    assert deduplicated_between(events, AT, AT + timedelta(days=1), members={"bob"}) == [early]


def test_deduplicated_between_refuses_a_conflicting_repeat():
    """The same id with other content is a conflict, as in deduplicated()."""
    other = event(user_id="bob")
    with pytest.raises(ConflictError):
        deduplicated_between([event(), other], AT, AT + timedelta(days=1))
