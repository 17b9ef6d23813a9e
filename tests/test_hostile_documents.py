"""The one place outside text is decoded (usagebill._documents): only typed errors come out.

Every reader (events files, organization, scenario and price files, invoice JSON) decodes
through these three functions, so their property is every reader's: whatever the text,
the value or a typed error — never RecursionError, UnicodeDecodeError or a bare ValueError.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from usagebill._documents import MAX_DEPTH, json_document, json_line, toml_document
from usagebill.errors import InvalidValueError, LoadError

# Pieces a hostile document is made of: brackets to nest deep, long digit runs, NaN, a byte
# order mark, bytes that are not UTF-8, surrogates, NUL, line ends.
_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        '"a": ',
        ",",
        "9" * 5_000,
        "-1e999",
        "NaN",
        "Infinity",
        "\ufeff",
        "\x00",
        "\r\n",
        "\n",
        '"\\ud800"',
        "x = ",
        "[[a]]",
        "'''",
        '"',
        "1979-05-27T07:32:00Z",
    ]
)
hostile_text = st.lists(_PIECES | st.text(max_size=8), max_size=30).map("".join)
hostile_bytes = st.binary(max_size=60) | hostile_text.map(lambda t: t.encode("utf-8", "replace"))


def _typed(kind: type[Exception], call, *args):
    """What ``call`` raised if it is a ``kind``, else None; any other exception propagates."""
    try:
        call(*args)
    except kind as error:
        return error
    return None


def _nested(depth: int, kind: str) -> str:
    opening, closing = {"list": ("[", "]"), "object": ('{"a": ', "}")}[kind]
    return opening * depth + "1" + closing * depth


@given(hostile_text | hostile_bytes)
@example("[" * 100_000 + "]" * 100_000)
@example("9" * 5_000)
@example(b'{"a": "caf\xe9"}')
def test_a_json_document_is_a_value_or_a_load_error(text):
    error = _typed(LoadError, json_document, text, "doc.json")
    assert error is None or (error.source == "doc.json" and error.problems)


@given(hostile_text | hostile_bytes)
@example(b'{"event_id": "caf\xe9"}\n')
@example('{"a": 1\n')
def test_a_json_line_is_a_value_or_an_invalid_value_error(line):
    error = _typed(InvalidValueError, json_line, line)
    assert error is None or (error.field == "line" and len(str(error)) < 400)  # shown cut short


@given(hostile_bytes | hostile_text.map(str.encode))
@example(b"x = " + b"[" * 500 + b"]" * 500)
@example(b"x = " + b"9" * 5_000)
@example(b"\xef\xbb\xbfname = 'x'")
def test_a_toml_document_is_tables_or_a_load_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("toml") / "doc.toml"
    path.write_bytes(data)
    error = _typed(LoadError, toml_document, path)
    assert error is None or error.source == str(path)


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH), st.sampled_from(["list", "object"]))
def test_nesting_is_refused_past_the_limit_and_only_there(depth, kind):
    text = _nested(depth, kind)
    if depth <= MAX_DEPTH:
        assert json_document(text, "doc.json") == json.loads(text)
    else:
        with pytest.raises(LoadError, match="nested too deeply"):
            json_document(text, "doc.json")


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH))
def test_toml_nesting_is_refused_past_the_limit_and_only_there(tmp_path_factory, depth):
    path = tmp_path_factory.mktemp("toml") / "deep.toml"
    path.write_text("x = " + "[" * depth + "1" + "]" * depth)
    if depth < MAX_DEPTH:  # the table holding x is one level more
        assert toml_document(path) == tomllib.loads(path.read_text())
    elif depth > MAX_DEPTH:
        with pytest.raises(LoadError, match="nested too deeply"):
            toml_document(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=20,
)


@given(json_values)
def test_what_json_writes_reads_back_the_same(value):
    """No valid document is refused: every JSON value json.dumps writes (shallow) reads back."""
    text = json.dumps(value)
    assert json_document(text, "doc.json") == value
    assert json_line(text.encode()) == value
