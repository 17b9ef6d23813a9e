"""Reading JSON Lines: the fast path reads exactly what the strict reader reads, or steps aside."""

import json

from hypothesis import given
from hypothesis import strategies as st

from usagebill._documents import json_line
from usagebill.errors import UsageBillError
from usagebill.io.event_files import _plain_line

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
lines = st.one_of(
    values.map(lambda value: json.dumps(value) + "\n"),
    st.builds(
        lambda value, before, after: before + json.dumps(value) + after,
        values,
        st.sampled_from(["", " ", "\ufeff", "\t"]),
        st.sampled_from(["", "\n", "\r\n", " \n", "x", "]"]),
    ),
    st.text(),
)


@given(line=lines, as_bytes=st.booleans())
def test_the_fast_path_reads_what_json_line_reads(line, as_bytes):
    raw = line.encode("utf-8", "surrogatepass") if as_bytes else line
    fast = _plain_line(raw)
    try:
        strict = json_line(raw)
    except UsageBillError:
        assert fast is None
        return
    assert fast is None or fast == strict


def test_bad_bytes_and_constants_step_aside():
    assert _plain_line(b'{"a": 1}\n') == {"a": 1}
    assert _plain_line(b'{"a": "\xff"}\n') is None
    assert _plain_line('{"a": NaN}\n') is None
    assert _plain_line("[1]\n") is None
