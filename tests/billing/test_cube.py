"""The usage cube: a value that merges associatively and commutatively, checked on every field."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebill import BillingPeriod, InvalidValueError, Product
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey

OCTOBER = BillingPeriod.of("2026-10")

keys = st.builds(
    UsageKey,
    user_id=st.sampled_from(["ada", "bob"]),
    seat_type=st.sampled_from(["chat", "chat_claude_code"]),
    model=st.sampled_from(["claude-sonnet-4-6", "claude-haiku-4-5"]),
    product=st.sampled_from(list(Product)),
    price_version=st.integers(0, 1),
    in_tier=st.booleans(),
    modifiers=st.integers(0, 7),
    failed=st.booleans(),
)
counts = st.builds(UsageCounts, *[st.integers(0, 10**12)] * 7)


@st.composite
def cubes(draw: st.DrawFn) -> UsageCube:
    conflicts = draw(st.frozensets(st.sampled_from(["x", "y", "z"])))
    return UsageCube(
        "acme",
        OCTOBER,
        "claude-2026-11-25",
        draw(st.dictionaries(keys, counts, max_size=4)),
        duplicates=draw(st.integers(0, 5)),
        excluded=draw(st.integers(0, 5)),
        conflicts=conflicts,
        conflicting=2 * len(conflicts) + draw(st.integers(0, 3)) * bool(conflicts),
    )


@given(cubes(), cubes(), cubes())
def test_merge_is_associative_and_commutative(a, b, c):
    """(a + b) + c == a + (b + c) and a + b == b + a: parts merge in any grouping and order."""
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    total = a + b + c
    assert total.events == a.events + b.events + c.events
    assert total.conflicts == a.conflicts | b.conflicts | c.conflicts


@given(cubes())
def test_the_empty_cube_is_the_identity(a):
    """Merging an empty cube changes nothing; empty buckets are dropped."""
    empty = UsageCube("acme", OCTOBER, "claude-2026-11-25")
    assert a + empty == a
    again = UsageCube.from_rows(
        "acme", OCTOBER, "claude-2026-11-25", a.rows(), duplicates=a.duplicates,
        excluded=a.excluded, conflicts=a.conflicts, conflicting=a.conflicting,
    )  # fmt: skip
    assert again == a


def test_rows_with_the_same_key_add_up():
    """A GROUP BY's partial rows may repeat a key: they add."""
    key = ("ada", "chat", "claude-sonnet-4-6", "chat", 0, False, 1, False)
    cube = UsageCube.from_rows("acme", OCTOBER, "v", [(*key, 1, 2, 3, 4, 5, 6, 7)] * 2)
    (counts,) = cube.buckets.values()
    assert counts == UsageCounts(2, 4, 6, 8, 10, 12, 14)
    assert next(iter(cube.buckets)).product is Product.CHAT


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (("ada", "chat", "m", "dance", 0, False, 0, False, *[1] * 7), "product must be one of"),
        (
            ("", "chat", "m", "chat", 0, False, 0, False, *[1] * 7),
            "user_id must be a non-empty string",
        ),
        (("ada", "chat", "m", "chat", -1, False, 0, False, *[1] * 7), "price_version"),
        (("ada", "chat", "m", "chat", 0, False, 8, False, *[1] * 7), "modifier bits"),
        (("ada", "chat", "m", "chat", 0, False, 0, False, 1, -5, *[1] * 5), "input_tokens"),
        (("ada", "chat", "m", "chat", 0, False, 0), "8 key and 7 count columns"),
    ],
)
def test_bad_rows_are_refused(row, words):
    with pytest.raises(InvalidValueError, match=words):
        UsageCube.from_rows("acme", OCTOBER, "v", [row])


def test_only_cubes_of_the_same_bill_merge():
    cube = UsageCube("acme", OCTOBER, "v")
    with pytest.raises(InvalidValueError, match="same organization, period and prices"):
        cube.merge(UsageCube("acme", OCTOBER.next(), "v"))
    with pytest.raises(InvalidValueError, match="must be a UsageCube"):
        cube.merge("cube")
    with pytest.raises(InvalidValueError, match="conflicting"):
        UsageCube("acme", OCTOBER, "v", conflicts={"x"}, conflicting=1)
