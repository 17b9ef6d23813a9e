"""tools/compare_prices.py: the cross-check against genai-prices and LiteLLM.

The comparison logic runs everywhere, against small fake datasets; the real
comparison runs when both packages are installed (tools/requirements.txt) and is
skipped otherwise. Every real disagreement must carry a reason that the
"where we differ, and why" table of docs/prices.md explains.
"""

import importlib.util
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from usagebill import PriceTable

ROOT = Path(__file__).parents[2]
_spec = importlib.util.spec_from_file_location(
    "compare_prices", ROOT / "tools" / "compare_prices.py"
)
assert _spec is not None
assert _spec.loader is not None
compare_prices = importlib.util.module_from_spec(_spec)
sys.modules["compare_prices"] = compare_prices  # dataclasses look their module up by name
_spec.loader.exec_module(compare_prices)

Key = compare_prices.Key
UNEXPLAINED = compare_prices.UNEXPLAINED
CUT = datetime(2026, 10, 7, tzinfo=UTC)  # Sonnet 5.5's cache reads: $0.20 -> $0.10


class Fake:
    """A dataset made of our own figures, with some of them changed from an instant on."""

    name = "fake 1.0"

    def __init__(self, table, models, changes=None, extra=()):
        self.table = table
        self.models = models
        self.changed = changes or {}  # model -> (from, {key: value or None})
        self.extra = list(extra)

    def model_ids(self):
        return [*self.models, *self.extra]

    def match(self, names):
        return [name for name in names[:1] if name in self.models]

    def changes(self, model_id):
        return [self.changed[model_id][0]] if model_id in self.changed else []

    def figures(self, model_id, at):
        figures = compare_prices.our_figures(self.table, model_id, at)
        start, changed = self.changed.get(model_id, (None, {}))
        if start is not None and at >= start:
            for key, value in changed.items():
                if value is None:
                    figures.pop(key, None)
                else:
                    figures[key] = value
        return figures


def test_a_dataset_equal_to_ours_has_no_disagreement(table):
    """Our own figures compared with themselves: nothing differs, every pair is counted."""
    found, compared = compare_prices.compare(table, Fake(table, list(table.models)))
    assert found == []
    assert compared > 25 * 5  # at least every category of every model


def test_a_planted_difference_is_reported_with_its_date_range(table):
    """Opus 4.7 input at $6 from 2026-11-01 in theirs: one row, from then on, unexplained."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    changes = {"claude-opus-4-7": (start, {Key("standard", None, "input"): Decimal(6)})}
    found, _ = compare_prices.compare(table, Fake(table, list(table.models), changes))
    assert len(found) == 1
    (row,) = found
    assert (row.model, str(row.key), row.start, row.end) == (
        "claude-opus-4-7",
        "standard input",
        start,
        None,
    )
    assert (row.ours, row.theirs, row.reason) == (Decimal(5), Decimal(6), UNEXPLAINED)
    assert compare_prices.main.__doc__


def test_no_history_is_explained_and_ranges_merge(table):
    """Theirs has Sonnet 5.5's cache read at today's $0.10 for all time: one merged row,
    release to 2026-10-07, explained as no-history (and the batch figure likewise)."""

    class Today(Fake):
        def figures(self, model_id, at):  # noqa: ARG002  (the same figures at every instant)
            today = datetime(2026, 11, 1, tzinfo=UTC)
            return compare_prices.our_figures(self.table, model_id, today)

    found, _ = compare_prices.compare(table, Today(table, list(table.models)))
    rows = {(row.model, str(row.key)): row for row in found}
    read = rows["claude-sonnet-5-5", "standard cache_read"]
    assert (read.start, read.end, read.ours, read.theirs) == (
        None,
        CUT,
        Decimal("0.20"),
        Decimal("0.1"),
    )
    assert read.reason == "no-history"
    # The 4.6 premium before GA is missing from a dataset without history, and explained so.
    tier = rows["claude-opus-4-6", "standard >200,000 input"]
    assert (tier.end, tier.ours, tier.theirs, tier.reason) == (
        datetime(2026, 3, 13, tzinfo=UTC),
        Decimal(10),
        None,
        "no-history",
    )
    assert all(row.reason == "no-history" for row in found), found


def test_missing_models_on_either_side(table):
    """A model only we know is one row; a model only they know is one row."""
    models = [m for m in table.models if m != "claude-3-haiku-20240307"]
    found, _ = compare_prices.compare(table, Fake(table, models, extra=["claude-9"]))
    assert [(row.model, row.theirs_id, row.key, row.reason) for row in found] == [
        ("claude-3-haiku-20240307", "", None, "retired-dropped"),
        ("", "claude-9", None, UNEXPLAINED),
    ]


def test_a_withdrawn_rise_is_explained(table):
    """A Sonnet 5 rise from 2026-09-01 in theirs is the known, withdrawn one."""
    rise = datetime(2026, 9, 1, tzinfo=UTC)
    changes = {"claude-sonnet-5": (rise, {Key("standard", None, "input"): Decimal(3)})}
    found, _ = compare_prices.compare(table, Fake(table, list(table.models), changes))
    assert [(row.start, row.reason) for row in found] == [(rise, "sonnet-5-rise-withdrawn")]


def test_the_report_lists_rows_and_counts(table):
    """The report prints each row (model, figure, range, both values, reason) and the counts."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    changes = {"claude-opus-4-7": (start, {Key("standard", None, "input"): Decimal(6)})}
    dataset = Fake(table, list(table.models), changes)
    found, compared = compare_prices.compare(table, dataset)
    text = compare_prices.report(dataset, found, compared, summary=False)
    lines = text.splitlines()
    assert (
        lines[0] == f"== fake 1.0: 1 disagreements ({compared} figure x date range pairs compared)"
    )
    assert re.fullmatch(
        r"claude-opus-4-7 +claude-opus-4-7 +standard input +2026-11-01 +now +5 +6  UNEXPLAINED",
        lines[2],
    )
    assert lines[-1].split() == [UNEXPLAINED, "1"]
    assert compare_prices.report(dataset, found, compared, summary=True).count("\n") == 2


# --- the real datasets --------------------------------------------------------------------------

HAVE_DATASETS = (
    importlib.util.find_spec("genai_prices") is not None
    and compare_prices.litellm_data_file() is not None
)
real = pytest.mark.skipif(
    not HAVE_DATASETS, reason="genai-prices and litellm are not installed (tools/requirements.txt)"
)


def _documented_reasons():
    text = (ROOT / "docs" / "prices.md").read_text("utf-8")
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.MULTILINE))


def test_every_reason_is_documented():
    """Each reason the tool knows is a row of the table on the prices page, and no other."""
    assert _documented_reasons() == {reason.id for reason in compare_prices.REASONS}


@real
@pytest.mark.parametrize("name", ["genai-prices", "litellm"])
def test_every_disagreement_with_the_public_datasets_is_explained(name):
    """Each disagreement is fixed in our data or explained on the prices page."""
    table = PriceTable.builtin()
    (dataset,) = compare_prices.load_datasets([name])
    found, compared = compare_prices.compare(table, dataset)
    assert compared > 200
    unexplained = [row for row in found if row.reason == UNEXPLAINED]
    assert unexplained == []
    assert {row.reason for row in found} <= _documented_reasons()


@real
def test_genai_prices_agrees_with_the_4_6_history():
    """genai-prices also has the >200K premium until 2026-03-13: no standard-mode difference."""
    table = PriceTable.builtin()
    (dataset,) = compare_prices.load_datasets(["genai-prices"])
    found, _ = compare_prices.compare(table, dataset)
    for row in found:
        if row.model in {"claude-opus-4-6", "claude-sonnet-4-6"}:
            assert row.key is not None
            assert row.key.mode in {"fast", "batch", "us-only"}, row


@real
def test_the_command_exits_0_when_everything_is_explained(capsys):
    """`python tools/compare_prices.py --summary` prints the counts and exits 0."""
    assert compare_prices.main(["--summary"]) == 0
    out = capsys.readouterr().out
    assert "== genai-prices" in out
    assert "== LiteLLM" in out
