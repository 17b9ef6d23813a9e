"""The pure engine's corners: the strict way for unusual records, merging rules, the second pass."""

import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from builders import OCTOBER, event, member, organization
from usage_months import months
from usagebill import (
    ConflictError,
    InvalidValueError,
    TokenUsage,
)
from usagebill.billing.engines.python import CubeBuilder

ORG = organization(member("olga", role="primary_owner"))
EVENT = event("e1", "olga", at=datetime(2026, 10, 3, tzinfo=UTC), input_tokens=10)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"user_id": None}, "needs this key"),
        ({"modifiers": {"batch": 1}}, "modifiers.batch must be true or false"),
        ({"modifiers": {"turbo": True}}, "must use only"),
        ({"extra": 1}, "unknown keys"),
        ({"at": "not a time"}, "ISO 8601"),
    ],
)
def test_unusual_records_take_the_strict_way(change, words):
    """The fast path hands anything unusual to the strict parser, which names what is wrong."""
    record = {**EVENT.to_dict(), **change}
    if change.get("user_id", "") is None:
        del record["user_id"]
    with pytest.raises(InvalidValueError, match=words):
        CubeBuilder(ORG, OCTOBER).add_record(record)


def test_empty_or_null_modifiers_are_none():
    builder = CubeBuilder(ORG, OCTOBER)
    builder.add_record({**EVENT.to_dict(), "modifiers": {}})
    builder.add_record({**EVENT.to_dict(), "event_id": "e2", "modifiers": None})
    assert builder.events == 2


def test_only_builders_of_the_same_kind_merge(monkeypatch):
    builder = CubeBuilder(ORG, OCTOBER)
    with pytest.raises(InvalidValueError, match="must be a builder"):
        builder.merge("builder")
    with pytest.raises(InvalidValueError, match="another builder"):
        builder.merge(builder)
    with pytest.raises(InvalidValueError, match="deduplicate events like"):
        builder.merge(CubeBuilder(ORG, OCTOBER, dedupe=False))
    other = CubeBuilder(ORG, OCTOBER)
    monkeypatch.setattr(other, "_scheme", other._scheme + 1)
    with pytest.raises(InvalidValueError, match="same Python"):
        builder.merge(other)
    with pytest.raises(InvalidValueError, match="'exclude' or 'reject'"):
        CubeBuilder(ORG, OCTOBER, outside="drop")


def test_a_builder_from_another_process_merges():
    """Digests hash no str (its hash differs per process): another process's part merges."""
    code = (
        "import pickle, sys, test_engine_python as t; "
        "sys.stdout.buffer.write(pickle.dumps(t.CubeBuilder(t.ORG, t.OCTOBER).add_all([t.EVENT])))"
    )
    here = Path(__file__).parent  # this module, and the builders it imports
    path = os.pathsep.join((str(here), str(here.parent)))
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)  # noqa: S603
    part = pickle.loads(done.stdout)  # noqa: S301  (our own child's bytes)
    merged = CubeBuilder(ORG, OCTOBER).add_all([EVENT]).merge(part)
    assert merged.pending == {"e1"}  # the same event, counted by both
    cube = merged.resolve([EVENT]).cube()
    assert (cube.events, cube.duplicates) == (1, 1)


def test_the_second_pass_skips_versions_never_counted():
    """A pending id's other versions (and other ids) pass through the second pass untouched."""
    changed = attrs.evolve(EVENT, usage=TokenUsage(input_tokens=11))
    builder = CubeBuilder(ORG, OCTOBER).add_all([EVENT, changed])
    builder.resolve([changed, attrs.evolve(EVENT, event_id="other")])
    assert builder.pending == {"e1"}
    with pytest.raises(ConflictError, match="resolve"):
        builder.cube()
    cube = builder.resolve([EVENT]).cube()
    assert (cube.events, cube.conflicting, cube.conflicts) == (0, 2, {"e1"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month=months())
def test_records_and_events_make_the_same_cube(month):
    """add_record's inlined fast path counts exactly as add does, failed requests included."""
    org, period, events = month
    by_event = CubeBuilder(org, period).add_all(events)
    by_record = CubeBuilder(org, period)
    for one in events:
        by_record.add_record(one.to_dict())
    assert by_record.pending == by_event.pending
    records = [one.to_dict() for one in events]
    assert by_record.resolve_records(records).cube() == by_event.resolve(events).cube()
