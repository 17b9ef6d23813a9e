"""The strict converter: round-trips of every value type, strict loading, paths, fuzzing."""

import enum
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pytest
from cattrs.errors import ClassValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from usagebill import (
    ContextTier,
    InvalidValueError,
    LoadError,
    ModelListing,
    ModelPrice,
    Modifiers,
    Money,
    PriceTable,
    Product,
    Rates,
    TokenUsage,
    UsageBillError,
    serde,
)
from usagebill._frozendict import FrozenDict
from usagebill.serde import from_dict, from_json, to_dict, to_json
from usagebill.testing import (
    context_tiers,
    model_listing_dicts,
    model_listings,
    model_price_dicts,
    model_prices,
    modifiers,
    modifiers_dicts,
    money,
    money_dicts,
    price_table_dicts,
    price_tables,
    rates,
    rates_dicts,
    token_usage_dicts,
    token_usages,
)

#: Whole tables are slow to draw: these tests run a quarter of the profile's examples.
heavy = settings(max_examples=max(10, settings().max_examples // 4))
HEAVY_TYPES = {ModelListing, PriceTable}

RATES = {
    "input": "3",
    "output": "15",
    "cache_write_5m": "3.75",
    "cache_write_1h": "6",
    "cache_read": "0.30",
}


def table_with(price: dict[str, object], **listing: object) -> dict[str, object]:
    """A one-model price table document around one price dict."""
    return {"version": "v", "models": {"m": {"prices": [price], **listing}}}


def problems(data: object, cls: type = PriceTable) -> list[tuple[str, str]]:
    """The (path, message) pairs a LoadError lists for ``data``."""
    with pytest.raises(LoadError) as caught:
        from_dict(data, cls)
    assert isinstance(caught.value, ValueError)
    return list(caught.value.problems)


# --- the dict form -----------------------------------------------------------------------------


def test_money_to_dict_writes_the_amount_as_a_string():
    """Decimals travel as strings, never floats: '12.30' stays '12.30'."""
    assert to_dict(Money("12.30")) == {"amount": "12.30", "currency": "USD"}
    assert from_dict({"amount": "12.30", "currency": "USD"}, Money) == Money("12.30")


def test_a_price_to_dict_writes_datetimes_with_their_offset():
    """Datetimes are ISO 8601 with the UTC offset; missing values are null."""
    price = ModelPrice(
        Rates(**RATES), effective_from=datetime(2026, 10, 7, tzinfo=UTC), us_only_multiplier="1.1"
    )
    data = to_dict(price)
    assert data["effective_from"] == "2026-10-07T00:00:00+00:00"
    assert data["rates"] == RATES
    assert data["long_context"] is None
    assert data["web_search_per_1k"] == "10"
    assert data["us_only_multiplier"] == "1.1"
    assert "_compiled" not in data
    assert "compiled" not in data


def test_a_listing_to_dict_writes_tuples_as_lists_and_dates_as_iso():
    """Aliases and prices become lists; the retirement date is YYYY-MM-DD."""
    listing = ModelListing(
        (ModelPrice(Rates(**RATES)),), aliases=("a", "b"), retired=date(2026, 4, 20)
    )
    data = to_dict(listing)
    assert data["aliases"] == ["a", "b"]
    assert isinstance(data["prices"], list)
    assert data["retired"] == "2026-04-20"
    assert from_dict(data, ModelListing) == listing


def test_a_table_to_dict_writes_models_as_a_plain_dict():
    """The models mapping is a JSON object keyed by model id, in order."""
    table = PriceTable(
        "v",
        {
            "b": ModelListing((ModelPrice(Rates(**RATES)),)),
            "a": ModelListing((ModelPrice(Rates(**RATES)),)),
        },
    )
    data = table.to_dict()
    assert list(data["models"]) == ["b", "a"]
    assert type(data["models"]) is dict
    assert PriceTable.from_dict(data) == table
    assert isinstance(PriceTable.from_dict(data).models, FrozenDict)


def test_to_json_is_deterministic_and_float_free(table):
    """The same value always gives the same JSON text, and it holds no floats."""
    text = to_json(table)
    assert text == to_json(PriceTable.from_dict(table.to_dict()))
    assert from_json(text, PriceTable) == table

    def no_floats(value: object) -> None:
        assert not isinstance(value, float)
        if isinstance(value, dict):
            for item in value.values():
                no_floats(item)
        elif isinstance(value, list):
            for item in value:
                no_floats(item)

    no_floats(json.loads(text))
    assert to_json(Money("1"), indent=2) == '{\n  "amount": "1",\n  "currency": "USD"\n}'


def test_integer_rates_are_accepted():
    """A JSON integer is exact, so "input": 3 is as good as "input": "3"."""
    loaded = from_dict({**RATES, "input": 3}, Rates)
    assert loaded.input == Decimal(3)


def test_datetimes_may_be_given_as_datetime_objects():
    """TOML gives datetime objects, not strings; aware ones load."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    loaded = from_dict({"rates": RATES, "effective_from": start}, ModelPrice)
    assert loaded.effective_from == start
    loaded = from_dict({"rates": RATES, "effective_from": "2026-01-01T00:00:00Z"}, ModelPrice)
    assert loaded.effective_from == start


def test_dates_may_be_given_as_date_objects():
    """TOML gives date objects for local dates; they load."""
    listing = {"prices": [{"rates": RATES}], "retired": date(2026, 4, 20)}
    assert from_dict(listing, ModelListing).retired == date(2026, 4, 20)


def test_optional_fields_may_be_left_out():
    """A minimal price is its rates; the rest takes the documented defaults."""
    price = from_dict({"rates": RATES}, ModelPrice)
    assert price == ModelPrice(Rates(**RATES))
    assert price.web_search_per_1k == Decimal(10)
    assert from_dict({}, TokenUsage) == TokenUsage()
    assert from_dict({}, Modifiers) == Modifiers()
    assert from_dict({"amount": "5"}, Money) == Money(5)


def test_the_converter_can_be_copied_and_extended():
    """make_converter() builds a fresh strict converter (tests and users may extend a copy)."""
    fresh = serde.make_converter()
    assert fresh is not serde.converter
    assert fresh.structure({"amount": "1", "currency": "EUR"}, Money) == Money(1, "EUR")


# --- round-trips -------------------------------------------------------------------------------

VALUE_STRATEGIES = {
    Money: money(),
    TokenUsage: token_usages(),
    Modifiers: modifiers(),
    Rates: rates(),
    ContextTier: context_tiers(),
    ModelPrice: model_prices(),
    ModelListing: model_listings(),
    PriceTable: price_tables(max_models=3),
}


@pytest.mark.parametrize("cls", list(VALUE_STRATEGIES), ids=lambda cls: cls.__name__)
def test_every_value_type_round_trips(cls):
    """to_dict then from_dict, and to_json then from_json, give an equal value."""

    @given(VALUE_STRATEGIES[cls])
    def round_trip(value):
        assert from_dict(to_dict(value), cls) == value
        text = to_json(value)
        assert from_json(text, cls) == value
        assert to_json(from_json(text, cls)) == text  # and the same text again

    (heavy(round_trip) if cls in HEAVY_TYPES else round_trip)()


@pytest.mark.parametrize(
    ("strategy", "cls"),
    [
        (money_dicts(), Money),
        (token_usage_dicts(), TokenUsage),
        (modifiers_dicts(), Modifiers),
        (rates_dicts(), Rates),
        (model_price_dicts(), ModelPrice),
        (model_listing_dicts(), ModelListing),
        (price_table_dicts(), PriceTable),
    ],
    ids=["Money", "TokenUsage", "Modifiers", "Rates", "ModelPrice", "ModelListing", "PriceTable"],
)
def test_every_dict_form_loads_and_writes_back_the_same(strategy, cls):
    """The dict strategies draw documents that load and write back unchanged."""

    @given(strategy)
    def same_dict(data):
        assert to_dict(from_dict(data, cls)) == data
        assert json.loads(json.dumps(data)) == data  # plain JSON data

    (heavy(same_dict) if cls in HEAVY_TYPES else same_dict)()


# --- strictness --------------------------------------------------------------------------------


def test_unknown_keys_are_refused_at_every_level():
    """An unknown key is a problem with its path, top level and nested."""
    data = table_with({"rates": {**RATES, "cached": "0"}, "discount": "5"})
    data["comment"] = "x"
    found = problems(data)
    shown = dict(found)
    assert shown["$"] == (
        "unknown keys ['comment']: this format has no such field (known: version, models, "
        "currency, source)"
    )
    assert shown["$.models['m'].prices[0]"].startswith(
        "unknown keys ['discount']: this format has no such field (known: rates, "
    )
    assert shown["$.models['m'].prices[0].rates"] == (
        "unknown keys ['cached']: this format has no such field (known: input, output, "
        "cache_write_5m, cache_write_1h, cache_read)"
    )


def test_every_problem_is_listed_with_its_path():
    """A float rate, a text count-like threshold, a bool and a naive date: all four listed."""
    data = table_with(
        {
            "rates": {**RATES, "output": 15.0, "cache_read": True},
            "long_context": {"above_prompt_tokens": "200000", "rates": RATES},
            "effective_from": "2026-01-01T00:00:00",
        }
    )
    with pytest.raises(LoadError) as caught:
        PriceTable.from_dict(data, source="prices.json")
    error = caught.value
    assert error.source == "prices.json"
    at = "$.models['m'].prices[0]"
    assert dict(error.problems) == {
        f"{at}.rates.output": "must be a decimal number written as a string (got 15.0)",
        f"{at}.rates.cache_read": "must be a decimal number written as a string (got True)",
        f"{at}.long_context.above_prompt_tokens": "must be an integer (got '200000')",
        f"{at}.effective_from": (
            "must be an ISO 8601 datetime string with a UTC offset (Z or +02:00)"
            " (got '2026-01-01T00:00:00')"
        ),
    }
    message = str(error)
    assert message.startswith("prices.json does not load (4 problems):\n")
    for path, text in error.problems:
        assert f"  {path}: {text}" in message


def test_a_negative_rate_is_reported_at_its_own_path():
    """The rate's own check names its field: $.models['m'].prices[0].rates.output."""
    assert problems(table_with({"rates": {**RATES, "output": "-15"}})) == [
        ("$.models['m'].prices[0].rates.output", "must not be negative (got Decimal('-15'))")
    ]


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        (
            {"version": "v", "models": {"m": {"prices": []}}},
            "$.models['m'].prices",
            "at least one price",
        ),
        (
            {"version": "v", "models": {"m": {"prices": [{"rates": RATES}, {"rates": RATES}]}}},
            "$.models['m'].prices[1].effective_from",
            "must be later than the price before it",
        ),
        (
            table_with(
                {
                    "rates": RATES,
                    "fast_long_context": {"above_prompt_tokens": 1, "rates": RATES},
                }
            ),
            "$.models['m'].prices[0].fast_long_context",
            "needs fast: a tier of fast mode",
        ),
        (
            table_with(
                {"rates": RATES, "long_context": {"above_prompt_tokens": -1, "rates": RATES}}
            ),
            "$.models['m'].prices[0].long_context.above_prompt_tokens",
            "non-negative int",
        ),
        (table_with({"rates": RATES}, aliases="m2"), "$.models['m'].aliases", "must be a list"),
        (
            {
                "version": "v",
                "models": {
                    "a": {"prices": [{"rates": RATES}], "aliases": ["b"]},
                    "b": {"prices": [{"rates": RATES}]},
                },
            },
            "$.models['b'].aliases",
            "is already a name of 'a'",
        ),
        ({"version": "v", "models": {}, "currency": "usd"}, "$.currency", "three-letter ISO 4217"),
        (
            table_with({"rates": RATES, "web_search_per_1k": "NaN"}),
            "$.models['m'].prices[0].web_search_per_1k",
            "finite",
        ),
        (
            table_with({"rates": RATES}, retired="2026-02-30"),
            "$.models['m'].retired",
            "ISO 8601 date",
        ),
        (table_with({"rates": RATES}, retired=20260220), "$.models['m'].retired", "ISO 8601 date"),
        (
            table_with({"rates": RATES, "effective_from": "soon"}),
            "$.models['m'].prices[0].effective_from",
            "ISO 8601 datetime",
        ),
        (
            table_with({"rates": RATES, "effective_from": 1_760_000_000}),
            "$.models['m'].prices[0].effective_from",
            "ISO 8601 datetime string",
        ),
        (
            table_with({"rates": RATES, "source": 5}),
            "$.models['m'].prices[0].source",
            "must be a string",
        ),
        ({"version": "v", "models": {"m": []}}, "$.models['m']", "must be a mapping"),
        ({"version": "v", "models": []}, "$.models", "must be a mapping"),
        (
            {"version": "v", "models": {"m": {"prices": "abc"}}},
            "$.models['m'].prices",
            "must be a list",
        ),
        (
            {"version": "v", "models": {"m": {"prices": [5]}}},
            "$.models['m'].prices[0]",
            "must be a mapping",
        ),
        (table_with({}), "$.models['m'].prices[0].rates", "required field 'rates' is missing"),
        ({"models": {}}, "$.version", "required field 'version' is missing"),
        ([], "$", "must be a mapping"),
        (None, "$", "must be a mapping"),
        ("prices.json", "$", "must be a mapping"),
    ],
)
def test_bad_values_are_reported_with_their_path(document, path, fragment):
    """Each rule broken in a document is a LoadError problem at the right path."""
    found = problems(document)
    assert len(found) == 1, found
    assert found[0][0] == path
    assert fragment in found[0][1]


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"input_tokens": "5"}, "$.input_tokens", "must be an integer (got '5')"),
        ({"input_tokens": True}, "$.input_tokens", "must be an integer (got True)"),
        ({"output_tokens": 5.0}, "$.output_tokens", "must be an integer (got 5.0)"),
        ({"cache_read_tokens": -1}, "$.cache_read_tokens", "must be a non-negative int (got -1)"),
        ({"tokens": 1}, "$", "unknown keys ['tokens']"),
        ([1, 2], "$", "must be a mapping"),
    ],
)
def test_token_usage_is_loaded_strictly(document, path, fragment):
    """'5' for a count, true for a count, a float, a negative: each refused with its path."""
    (found,) = problems(document, TokenUsage)
    assert found[0] == path
    assert fragment in found[1]


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"amount": 1.5}, "$.amount", "written as a string (got 1.5)"),
        ({"amount": "NaN"}, "$.amount", "finite"),
        ({"amount": "1" * 70}, "$.amount", "60 significant digits"),
        ({"amount": True}, "$.amount", "written as a string (got True)"),
        ({"amount": "1", "currency": "usd"}, "$.currency", "three-letter ISO 4217"),
        ({"amount": "1", "currency": 840}, "$.currency", "must be a string"),
        ({"currency": "USD"}, "$.amount", "required field 'amount' is missing"),
    ],
)
def test_money_is_loaded_strictly(document, path, fragment):
    """Money from a dict refuses floats, NaN, bools and bad currencies."""
    (found,) = problems(document, Money)
    assert found[0] == path
    assert fragment in found[1]


@pytest.mark.parametrize("value", ["video", "CHAT", 5, True, None])
def test_a_str_enum_takes_only_its_members_values(value):
    """A product that does not exist is refused (the str hook would have let it through)."""
    with pytest.raises(LoadError, match=r"must be one of \['chat', 'file_creation'"):
        from_dict(value, Product)
    assert from_dict("chat", Product) is Product.CHAT


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@pytest.mark.parametrize("value", [3, True, "1", 1.0])
def test_an_int_enum_takes_only_its_members_values(value):
    """An IntEnum refuses true (== 1), "1" and 1.0 as well as unknown values."""
    with pytest.raises(LoadError, match=r"must be one of \[1, 2\]"):
        from_dict(value, Level)
    assert from_dict(1, Level) is Level.LOW


@pytest.mark.parametrize("cls", [dict[str, int], Mapping[str, int], FrozenDict[str, int]])
@pytest.mark.parametrize("data", [[], [["a", 1]], "a", 5, None])
def test_a_mapping_comes_from_a_json_object_only(cls, data):
    """A list, a string or a number where a mapping belongs is a LoadError, not AttributeError."""
    assert problems(data, cls) == [("$", f"must be a mapping (got {data!r})")]


def test_mapping_values_are_checked_with_their_key_in_the_path():
    """{"a": "x"} as dict[str, int]: the problem is at $['a']."""
    assert problems({"a": "x"}, dict[str, int]) == [("$['a']", "must be an integer (got 'x')")]


@attrs.frozen
class Month:
    label: str


@attrs.frozen
class Report:
    month: Month


def test_a_hook_error_keeps_the_path_of_its_field():
    """A field's hook naming itself (here 'period') is not appended twice to the path."""
    conv = serde.make_converter()

    def month(data, _type):
        raise InvalidValueError("period", data, "must be a month written YYYY-MM")

    conv.register_structure_hook(Month, month)
    with pytest.raises(ClassValidationError) as caught:
        conv.structure({"month": "x"}, Report)
    assert serde._problems(caught.value) == [
        ("$.month", "must be a month written YYYY-MM (got 'x')")
    ]


def test_other_converter_errors_keep_their_own_message():
    """Errors that are not ours (here cattrs' fixed-length tuple) are listed as they read."""
    (found,) = problems([1, 2, 3], tuple[int, int])
    assert found == ("$", "Too many values in [1, 2, 3] to structure as tuple[int, int]")


def test_modifier_flags_must_be_json_booleans():
    """1 is not true."""
    assert problems({"batch": 1, "fast": "true"}, Modifiers) == [
        ("$.batch", "must be true or false (got 1)"),
        ("$.fast", "must be true or false (got 'true')"),
    ]


def test_from_json_reports_bytes_that_are_not_text():
    """Bytes in no Unicode encoding are a LoadError too, not a UnicodeDecodeError."""
    with pytest.raises(LoadError):
        from_json(b'{"amount": "\xff"}', Money)


def test_from_json_reports_broken_json_with_its_line():
    """Text that is not JSON is a LoadError naming the line."""
    with pytest.raises(LoadError) as caught:
        from_json('{\n  "amount": ', Money, source="money.json")
    (problem,) = caught.value.problems
    assert problem[0] == "line 2"
    assert caught.value.source == "money.json"


# --- fuzzing: only LoadError escapes -----------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["0", "-1", "1e999999999", "NaN", "USD", "2026-01-01T00:00:00Z", "claude"])
)
json_like = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

LOADABLE = [Money, TokenUsage, Modifiers, Rates, ContextTier, ModelPrice, ModelListing, PriceTable]


def load_error(load, *args):
    """Call ``load``; return the LoadError it raised, or None. Anything else propagates."""
    try:
        load(*args)
    except LoadError as error:
        return error
    return None


@given(json_like, st.sampled_from(LOADABLE))
def test_junk_raises_only_load_errors(junk, cls):
    """Whatever JSON-like data comes in, the only exception out is a LoadError."""
    error = load_error(from_dict, junk, cls)
    if error is not None:
        assert isinstance(error, UsageBillError)
        assert error.problems
        for path, message in error.problems:
            assert path.startswith("$")
            assert message


@st.composite
def mutated_documents(draw):
    """A valid price table document with one value somewhere replaced by junk."""
    document = draw(price_table_dicts())
    containers = []

    def walk(node):
        if isinstance(node, dict):
            containers.extend((node, key) for key in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            containers.extend((node, index) for index in range(len(node)))
            for value in node:
                walk(value)

    walk(document)
    if containers:
        node, key = draw(st.sampled_from(containers))
        node[key] = draw(json_like)
    if draw(st.booleans()) and isinstance(document, dict):
        document[draw(st.text(max_size=5))] = draw(json_leaves)
    return document


@heavy
@given(mutated_documents())
def test_nearly_valid_tables_raise_only_load_errors(document):
    """A good document with one junk value deep inside loads or raises LoadError, nothing else."""
    error = load_error(PriceTable.from_dict, document)
    assert error is None or error.problems


@given(st.text(max_size=40) | st.binary(max_size=40))
def test_junk_text_raises_only_load_errors(text):
    """from_json of arbitrary text or bytes raises only LoadError."""
    for cls in (Money, TokenUsage, PriceTable):
        error = load_error(from_json, text, cls)
        assert error is None or error.problems
