"""Hostile documents for the fuzz tests: random junk, and targeted mutations of valid ones.

As the ``whenever`` library fuzzes its parsers, the property is that only the
documented exceptions escape an entry point that takes outside data. The junk
is JSON-like values (and, for files, bytes); a mutation takes a valid document
and breaks it in the ways people and programs do: a key dropped or added, a
value of the wrong type, float money, NaN, negative or boolean counts, a local
time without offset, huge and deep values, odd unicode.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from hypothesis import strategies as st

DEPTH: Final = 2_000
"""Deeper than any recursive reader survives: what a RecursionError would come from."""


def deep_list(depth: int = DEPTH) -> list[Any]:
    """``[[[…]]]``, ``depth`` levels, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int = DEPTH) -> dict[str, Any]:
    """``{"a": {"a": …}}``, ``depth`` levels."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE: Final[tuple[object, ...]] = (
    None,
    True,
    False,
    0,
    -1,
    -(2**63),
    2**64,
    10**5_000,  # more digits than Python writes out (sys.int_max_str_digits)
    -(10**5_000),
    1.5,
    0.1,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("-Infinity"),
    Decimal("1E+999999999"),
    Decimal("1" * 200),
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 20_000,
    "NaN",
    "Infinity",
    "-1",
    "1e999999999",
    "1" * 5_000,
    "0.1",
    "1.5",
    "true",
    "null",
    "٣",  # an Arabic-Indic digit: str.isdigit() says yes, int() reads it
    "１",  # a full-width digit
    "\u202eevil",  # right-to-left override
    "\ufeffbom",
    "e\u0301",  # a combining accent
    "\U0001f600",
    "\ud800",  # a lone surrogate: no UTF-8 for it
    "2026-10-05T12:00:00",  # a local time without offset
    "2026-10-05",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-23:59",
    "../../etc/localtime",
    "/etc/localtime",
    "a" * 1_500,
    "Europe/Paris",
    "USD",
    "usd",
    "chat",
    "claude-sonnet-4-6",
    datetime(2026, 10, 5, 12),
    b"\xff\xfe",
    [],
    {},
    [1, "two", None],
    {"": None},
    {"unknown": 1},
    deep_list(),
    deep_dict(),
)
"""Values that break rules, or the readers behind them."""


def _hostile(index: int) -> object:
    """A fresh copy of a hostile container: a mutation may change it, and draws must not leak."""
    value = HOSTILE[index]
    if isinstance(value, (list, dict)) and value:
        first = next(iter(value.values() if isinstance(value, dict) else value))
        if isinstance(first, (list, dict)):  # the deep ones: made anew (deepcopy would recurse)
            return deep_list() if isinstance(value, list) else deep_dict()
    return copy.deepcopy(value)


# Drawn by index: hypothesis writes out the elements of sampled_from, and 10**5000 has no repr.
hostile_values: Final = st.integers(0, len(HOSTILE) - 1).map(_hostile)

json_junk: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | hostile_values,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON-like value (and some that JSON has not), nested a little."""


def json_text(document: object) -> str:
    """``document`` as JSON text, as a careless writer would make it (NaN written, any type).

    Integers are written however long (10**5000 too: Python's limit is the reader's to meet).
    """
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(document, default=str, ensure_ascii=False)
    except RecursionError:  # a 2,000-deep list
        return "[" * 2_000
    finally:
        sys.set_int_max_str_digits(limit)


_MOST_PLACES: Final = 3_000


def toml_text(document: object) -> str:
    """``document`` as TOML (inline tables and arrays), for a mutated file.

    A root that is not a table, a None (TOML has no null) or an int too long to write comes
    out as text that does not parse: the reader must say so, too.
    """
    if not isinstance(document, dict):
        return _toml_value(document)
    return "".join(f"{_toml_key(key)} = {_toml_value(value)}\n" for key, value in document.items())


def _toml_key(key: object) -> str:
    return json.dumps(str(key), ensure_ascii=False)


def _toml_value(value: object, depth: int = 0) -> str:  # noqa: PLR0911  (one return per type)
    if depth > 100:  # a deep hostile value: cut, as the writer would give up
        return "[" * 600
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() < 10_000 else "1" * 5_000
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {_toml_value(v, depth + 1)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return str(value) if isinstance(value, Decimal) else "null"


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate written as its (invalid) three bytes."""
    return text.encode("utf-8", "surrogatepass")


def _places(document: object) -> list[tuple[Any, Any]]:
    """The (container, key or index) pairs of ``document``, found without recursion.

    The walk stops after a few thousand: a deep value put in by a mutation is a
    place to break as a whole, not level by level.
    """
    places: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            continue
        for key, value in items:
            places.append((node, key))
            if isinstance(value, (dict, list)) and len(places) < _MOST_PLACES:
                stack.append(value)
    return places


@st.composite
def mutations(draw: st.DrawFn, document: object, *, most: int = 3) -> Any:
    """``document`` with one to ``most`` places broken (a fresh copy: the original is kept)."""
    broken = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, most))):
        places = _places(broken)
        if not places:
            return draw(json_junk)
        container, key = draw(st.sampled_from(places))
        value = container[key]
        how = draw(st.sampled_from(("drop", "add", "hostile", "junk", "retype", "wrap")))
        if how == "drop":
            del container[key]
        elif how == "add":
            if isinstance(container, dict):
                container[draw(st.text(max_size=8) | st.sampled_from(("", "extra")))] = draw(
                    json_junk
                )
            else:
                container.insert(key, draw(json_junk))
        elif how == "hostile":
            container[key] = draw(hostile_values)
        elif how == "junk":
            container[key] = draw(json_junk)
        elif how == "retype":  # the same value, written as another type
            container[key] = _retyped(value, draw(st.integers(0, 3)))
        else:
            container[key] = draw(st.sampled_from(([value], {"value": value})))
    return broken


def _retyped(value: object, which: int) -> object:
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except ArithmeticError:
            return [value]
        small = number.is_finite() and number.adjusted() < 30  # int() of 1e999999999 takes ages
        return (float(number), int(number) if small else 0, [value], None)[which]
    if isinstance(value, bool):
        return (int(value), str(value).lower(), None, [value])[which]
    if isinstance(value, int) and value.bit_length() < 64:  # str(10**5000) fails
        return (str(value), float(value), value > 0, -value - 1)[which]
    return (type(value).__name__, None, 0, "")[which]


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` (a file's bytes) with a few edits: bytes replaced, cut, or hostile text put in."""
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(("insert", "replace", "cut", "truncate")))
        if how == "truncate":
            data = data[:position]
            continue
        if how == "cut":
            data = data[:position] + data[position + draw(st.integers(1, 40)) :]
            continue
        piece = draw(
            st.binary(min_size=1, max_size=8)
            | st.sampled_from(
                (
                    b"\xff",
                    b"\xe9",
                    b"\xef\xbb\xbf",
                    b"\r\n",
                    b"\r",
                    b"\x00",
                    b"[" * 600,
                    b"{" * 600,
                    b"9" * 5_000,
                    b"NaN",
                    b"-Infinity",
                    b"1e999999999",
                    b'"',
                    b"'''",
                    b"\n[[x]]\n",
                    b"\nextra = 1\n",
                    "\u202e".encode(),
                )
            )
        )
        end = position + (len(piece) if how == "replace" else 0)
        data = data[:position] + piece + data[end:]
    return data
