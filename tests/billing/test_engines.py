"""Every engine agrees with the pure-Python reference: the same cube, the same invoice bytes.

The months come from tests/usage_months.py: retries, conflicts, seat changes mid-day, a price
change mid-month, prompts at and over a tier's threshold, events outside the period, four time
zones; each is written in one of the source formats (JSON Lines plain or gzip, Parquet, CSV,
pandas, Polars, Arrow).
"""

import functools
import hashlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import event
from usage_months import FORMATS, changing_month, months, write
from usagebill import (
    ConflictError,
    InvalidValueError,
    InvoiceBuilder,
    LoadError,
    Modifiers,
    TokenUsage,
    UnknownModelError,
    UnknownNameError,
    UnsupportedModifierError,
)
from usagebill.billing.invoice import price_cube

engine = pytest.importorskip("usagebill.billing.engines.duckdb")

ENGINE_RUNS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
ORG, OCTOBER, _ = changing_month("Asia/Tokyo")
AT = OCTOBER.start.astimezone(UTC) + timedelta(days=3)


def reference(org, period, events):
    """The pure engine's cube: one pass, then the second pass conflicts need."""
    return InvoiceBuilder(org, period).add_all(events).resolve(events).cube()


def bill(cube, org):
    return price_cube(cube, org, conflicts="set_aside")


ev = functools.partial(event, user_id="olga", at=AT)
"""olga's Sonnet 4.6 chat request three days into the period (unless told)."""


@ENGINE_RUNS
@given(month=months(), fmt=st.sampled_from(FORMATS))
def test_duckdb_agrees_with_the_pure_engine(month, fmt):
    """The same cube from every format, and the same invoice, byte for byte."""
    org, period, events = month
    with tempfile.TemporaryDirectory() as directory:
        cube = engine.cube(write(events, Path(directory), fmt), org, period)
    expected = reference(org, period, events)
    assert cube == expected
    invoice = bill(expected, org)
    assert bill(cube, org).to_json() == invoice.to_json()
    # The hash, written the fast way, is still that of the invoice's JSON written by serde.
    blank = attrs.evolve(invoice, content_hash="").to_json()
    assert invoice.content_hash == hashlib.sha256(blank.encode()).hexdigest()


def test_a_worked_month_in_every_format(tmp_path):
    """e1 twice (a retry), e2 in two versions (a conflict), e3 outside, e4 billed."""
    e2 = ev("e2", output_tokens=10)
    events = [
        ev("e1", input_tokens=1_000),
        ev("e1", input_tokens=1_000),
        e2,
        attrs.evolve(e2, usage=TokenUsage(output_tokens=11)),
        ev("e3", at=OCTOBER.end, input_tokens=5),
        ev("e4", input_tokens=2_000),
    ]
    expected = reference(ORG, OCTOBER, events)
    assert (expected.events, expected.duplicates, expected.excluded) == (2, 1, 1)
    assert (expected.conflicts, expected.conflicting) == ({"e2"}, 2)
    for fmt in FORMATS:
        directory = tmp_path / fmt.replace(".", "-")
        directory.mkdir()
        assert engine.cube(write(events, directory, fmt), ORG, OCTOBER) == expected, fmt
    with pytest.raises(ConflictError, match="e2"):
        engine.invoice(write(events, tmp_path, "jsonl"), ORG, OCTOBER)


def test_globs_and_lists_of_files(tmp_path):
    """A glob and a list read every file; a retry in another file is still a duplicate."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write([ev("e1", input_tokens=1), ev("e2", input_tokens=2)], first, "parquet")
    write([ev("e2", input_tokens=2), ev("e3", input_tokens=3)], second, "parquet")
    expected = reference(ORG, OCTOBER, [ev("e1", input_tokens=1), ev("e2", input_tokens=2)] * 2)
    for source in (
        str(tmp_path / "*" / "events.parquet"),
        [first / "events.parquet", second / "events.parquet"],
    ):
        cube = engine.cube(source, ORG, OCTOBER, memory_limit="200MB", threads=1)
        assert (cube.events, cube.duplicates) == (3, 1)
        assert cube.buckets != expected.buckets  # e3 is there too


@pytest.mark.parametrize(
    ("event", "error", "words"),
    [
        (ev(user_id="zed"), UnknownNameError, "unknown member 'zed'"),
        (ev(model="claude-sonet-4-6"), UnknownModelError, "did you mean"),
        (
            ev(user_id="bob", at=OCTOBER.end - timedelta(seconds=1)),
            InvalidValueError,
            "held no seat",
        ),
        (ev(modifiers=Modifiers(fast=True)), UnsupportedModifierError, "fast"),
    ],
)
def test_events_that_cannot_be_billed_raise_the_pure_engines_error(tmp_path, event, error, words):
    """The same typed error as the pure engine, noted with the event's id."""
    with pytest.raises(error, match=words) as raised:
        InvoiceBuilder(ORG, OCTOBER).add(event)
    with pytest.raises(error, match=words) as again:
        engine.cube(write([ev("ok"), event], tmp_path, "jsonl"), ORG, OCTOBER)
    assert again.value.__notes__ == raised.value.__notes__ == ["in usage event 'e1'"]


def test_outside_reject(tmp_path):
    """outside='reject' refuses an event outside the period, as the pure engine does."""
    late = ev(at=OCTOBER.end)
    with pytest.raises(InvalidValueError, match="must fall in the period"):
        engine.cube(write([late], tmp_path, "parquet"), ORG, OCTOBER, outside="reject")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"usage": {"input_tokens": -1}}, "usage.input_tokens"),
        ({"usage": {"input_tokens": 1.5}}, "usage.input_tokens"),
        ({"product": "dance"}, "product"),
        ({"at": "2026-10-05T12:00:00"}, "at"),
        ({"at": "yesterday"}, "at"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_bad_json_lines_are_refused(tmp_path, line, field):
    """A bad value stops the run with an error naming the field and the event."""
    good = ev().to_dict()
    path = tmp_path / "events.jsonl"
    import json  # noqa: PLC0415

    path.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "event_id": "bad", **line}) + "\n"
    )
    with pytest.raises(InvalidValueError, match="of event 'bad'") as error:
        engine.cube(path, ORG, OCTOBER)
    assert error.value.field == field


def test_bad_tables_are_refused(tmp_path):
    """A table without a required column, a naive timestamp, or an unknown suffix."""
    import pandas as pd  # noqa: PLC0415

    with pytest.raises(LoadError, match="user_id"):
        engine.cube(pd.DataFrame({"event_id": ["a"]}), ORG, OCTOBER)
    naive = pd.DataFrame(
        {"event_id": ["a"], "user_id": ["olga"], "model": ["m"], "product": ["chat"],
         "at": [datetime(2026, 10, 5)]}
    )  # fmt: skip
    with pytest.raises(LoadError, match="timestamp with time zone"):
        engine.cube(naive, ORG, OCTOBER)
    with pytest.raises(InvalidValueError, match="must end in one of"):
        engine.cube(tmp_path / "events.xlsx", ORG, OCTOBER)
    with pytest.raises(InvalidValueError, match="pandas, Polars or Arrow"):
        engine.cube(42, ORG, OCTOBER)
    with pytest.raises(LoadError):
        engine.cube(tmp_path / "missing.parquet", ORG, OCTOBER)
