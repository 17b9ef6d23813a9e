"""Error messages never fail: a value too big to write, or just too long, is shown cut short."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebill import (
    InvalidValueError,
    LoadError,
    Money,
    MoneyTypeError,
    PriceTable,
    Product,
    TokenUsage,
    UnknownModelError,
    UsageEvent,
)
from usagebill.errors import UnknownNameError, short_repr
from usagebill.serde import from_dict

HUGE = 10**5000  # Python refuses to write an int of more than 4,300 digits: repr() raises
TEN_MB = "x" * 10_000_000
AT = datetime(2026, 10, 3, tzinfo=UTC)
SHORT = 200  # every message below fits in this many characters


def record(**changes: object) -> dict[str, object]:
    """A valid event dict, with ``changes``."""
    return {
        "event_id": "evt-1",
        "user_id": "ada",
        "model": "claude-sonnet-4-6",
        "product": "chat",
        "at": "2026-10-03T09:15:00Z",
        "usage": {"input_tokens": 1},
    } | changes


# --- the examples of the issue: each raised a bare ValueError while building its message -------


def test_a_huge_negative_count_from_anthropic_is_the_typed_error():
    """TokenUsage.from_anthropic, input_tokens -10**5000: the count is described, not written."""
    with pytest.raises(InvalidValueError) as caught:
        TokenUsage.from_anthropic({"input_tokens": -HUGE, "output_tokens": 1})
    assert str(caught.value) == (
        "input_tokens must be a non-negative int (got <negative int of 5,001 digits>)"
    )
    assert caught.value.value == -HUGE  # the value itself is kept whole


def test_a_huge_int_as_currency_is_the_typed_error():
    """Money('1', 10**5000): the currency check names the field and describes the int."""
    with pytest.raises(InvalidValueError) as caught:
        Money("1", HUGE)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "currency must be a three-letter ISO 4217 code (got <int of 5,001 digits>)"
    )


def test_a_huge_int_as_an_amount_is_the_typed_error():
    """10**5000 + 1 has too many digits for exact arithmetic: said without writing them."""
    with pytest.raises(InvalidValueError, match=r"\(got <int of 5,001 digits>\)$"):
        Money(HUGE + 1)


@pytest.mark.parametrize("read", [UsageEvent.from_dict, lambda data: UsageEvent(**data)])
def test_a_huge_int_as_event_id_is_the_typed_error(read):
    """An event whose event_id is a 5,001-digit int: 'must be a non-empty string'."""
    data = record(event_id=HUGE)
    if read is not UsageEvent.from_dict:
        data |= {"product": Product.CHAT, "usage": TokenUsage(input_tokens=1), "at": AT}
    with pytest.raises(InvalidValueError) as caught:
        read(data)
    assert str(caught.value) == "event_id must be a non-empty string (got <int of 5,001 digits>)"


def test_a_huge_int_added_to_money_is_the_type_error():
    """Money + 10**5000 suggests writing Money(…): with the int described."""
    with pytest.raises(MoneyTypeError, match=r"write Money\(<int of 5,001 digits>, 'USD'\)"):
        Money("1") + HUGE  # type: ignore[operator]


def test_a_huge_int_as_model_is_an_unknown_model():
    """The price table looks up any name; a huge int is unknown, said without writing it."""
    with pytest.raises(UnknownModelError) as caught:
        PriceTable.builtin().resolve(HUGE)  # type: ignore[arg-type]
    assert str(caught.value) == "unknown model <int of 5,001 digits>; see PriceTable.model_ids()"


# --- a 10 MB string is shown by its first characters ------------------------------------------


def test_a_10_mb_string_is_cut_in_an_invalid_value_message():
    """An event whose 'at' is 10 MB of junk: the message shows 60 characters and '…'."""
    with pytest.raises(InvalidValueError) as caught:
        UsageEvent.from_dict(record(at=TEN_MB))
    message = str(caught.value)
    assert len(message) < SHORT
    assert message.endswith("(got '" + "x" * 59 + "…)")
    assert caught.value.value is TEN_MB


def test_a_10_mb_string_is_cut_in_an_unknown_name_message():
    """An unknown 10 MB model name: UnknownModelError's message is short."""
    with pytest.raises(UnknownModelError) as caught:
        PriceTable.builtin().resolve(TEN_MB)
    assert len(str(caught.value)) < SHORT


def test_a_10_mb_string_is_cut_in_a_load_error():
    """A loader's problem shows the value cut, and a 10 MB key of the path too."""
    with pytest.raises(LoadError) as caught:
        from_dict({"amount": TEN_MB, "currency": "USD"}, Money)
    ((path, message),) = caught.value.problems
    assert path == "$.amount"
    assert len(message) < SHORT
    with pytest.raises(LoadError) as caught:
        from_dict({TEN_MB: "1"}, dict[str, int])
    ((path, message),) = caught.value.problems
    assert len(path) < SHORT
    assert len(str(caught.value)) < 2 * SHORT


def test_a_10_mb_id_is_cut_in_an_unknown_name():
    """UnknownNameError shows the name by short_repr too."""
    assert len(str(UnknownNameError("member", TEN_MB))) < SHORT


# --- short_repr -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-1, "-1"),
        ("ada", "'ada'"),
        (None, "None"),
        ([1, "two", {"three": 3}], "[1, 'two', {'three': 3}]"),
        ({"b": 1, "a": 2}, "{'b': 1, 'a': 2}"),  # insertion order, as repr
        (10**57, repr(10**57)),  # 58 digits: short enough to write out
        (10**60, "<int of 61 digits>"),
        (10**60 - 1, "<int of 60 digits>"),
        (-(10**60), "<negative int of 61 digits>"),
        ([HUGE], "[<int of 5,001 digits>]"),
        ("x" * 61, "'" + "x" * 59 + "…"),
        (b"y" * 100, "b'" + "y" * 58 + "…"),
    ],
)
def test_short_repr_is_repr_cut_short(value, shown):
    """Short values are their repr; long ones are cut at 60 characters; long ints described."""
    assert short_repr(value) == shown


def test_short_repr_of_deep_and_self_containing_values_is_bounded():
    """100,000 nested lists (repr() would overflow the stack), a dict that contains itself."""
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert short_repr(deep) == "[[[[[…]]]]]"
    loop: dict[str, object] = {}
    loop["self"] = loop
    assert short_repr(loop).startswith("{'self': {'self':")


def test_short_repr_of_a_value_whose_repr_fails_names_its_type():
    """A repr that raises is no reason for the message to fail."""

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError

    assert short_repr(Broken()) == "<Broken object>"


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4000, max_value=10**6000)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner, inner),
    max_leaves=30,
)


@given(VALUES)
def test_short_repr_never_fails_and_stays_short(value):
    """Any value: at most 60 characters and "…"; a value shown whole is its repr exactly."""
    shown = short_repr(value)
    assert len(shown) <= 61
    if "…" not in shown and "<" not in shown:  # nothing cut nor described
        assert shown == repr(value)
