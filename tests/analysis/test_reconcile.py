"""Reconciliation against the provider's usage report: buckets, models, tokens, amounts, reasons.

Prices (built-in table): Sonnet 4.6 $3 / $15 per million input / output tokens (US-only
x1.1), Haiku 4.5 $1 / $5, Sonnet 4.5 above 200k prompt tokens $6 / $22.50 for the whole
request, Opus 5.5 $4 / $20 and in fast mode $8 / $40. Batch halves every token rate.
Changes are report minus events.
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from anthropic.types.beta.organization.beta_analytics_usage_report_time_bucket import (
    BetaAnalyticsUsageReportTimeBucket,
)

from builders import HAIKU, SONNET, event, october
from usagebill import (
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    LoadError,
    Modifiers,
    Money,
    TokenUsage,
    UnknownModelError,
)
from usagebill.analysis.reconcile import Tolerance, reconcile

HAIKU_ID = "claude-haiku-4-5-20251001"


def _row(model, *, uncached=0, output=0, write_5m=0, write_1h=0, read=0, searches=0, **extra):
    return {
        "model": model,
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": write_5m,
            "ephemeral_1h_input_tokens": write_1h,
        },
        "cache_read_input_tokens": read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": searches},
        **extra,
    }


def _bucket(day: int, *rows, hours: int = 24):
    start = datetime(2026, 10, day, tzinfo=UTC)
    return {
        "starting_at": start.isoformat().replace("+00:00", "Z"),
        "ending_at": (start + timedelta(hours=hours)).isoformat(),
        "results": list(rows),
    }


# Oct 3: Sonnet 1,000 in + 100 out (0.0045) and Haiku 10,000 cache reads + 1 web search
# (10,000 x $0.10/M + $10/1,000 = 0.011); Oct 4: Sonnet 2,000 in (0.006).
EVENTS = [
    event("e1", model=SONNET, at=october(3, 9), input_tokens=1_000, output_tokens=100),
    event("e2", model=HAIKU, at=october(3, 15), cache_read_tokens=10_000, web_search_requests=1),
    event("e3", model=SONNET, at=october(4, 9), input_tokens=2_000),
]
REPORT = {
    "data": [
        _bucket(
            3,
            _row(SONNET, uncached=1_000, output=100),
            _row("claude-haiku-4-5", read=10_000, searches=1),
        ),
        _bucket(4, _row(SONNET, uncached=2_000)),
    ],
    "has_more": False,
    "next_page": None,
}


def test_a_report_that_matches():
    """Every bucket and model matches: no differences, equal totals."""
    result = reconcile(EVENTS, REPORT)
    assert not result.differences
    assert [(line.starting_at.day, line.model) for line in result.matched] == [
        (3, HAIKU_ID),
        (3, SONNET),
        (4, SONNET),
    ]
    assert result.events_total == result.report_total == Money("0.0215")
    assert result.total_change == Money("0")
    assert result.buckets == 2
    assert (result.starting_at, result.ending_at) == (
        datetime(2026, 10, 3, tzinfo=UTC),
        datetime(2026, 10, 5, tzinfo=UTC),
    )
    haiku = result.matched[0]
    assert haiku.requests == 1
    assert (
        haiku.events == haiku.report == TokenUsage(cache_read_tokens=10_000, web_search_requests=1)
    )
    assert set(haiku.token_changes().values()) == {0}


def test_token_differences_are_listed_with_their_price():
    """300 more output tokens reported: +0.0045 (300 x $15 per million)."""
    report = {"data": [_bucket(3, _row(SONNET, uncached=1_000, output=400))]}
    (line,) = reconcile(EVENTS[:1], report).differences
    assert line.token_changes()["output_tokens"] == 300
    assert line.amount_change == Money("0.0045")
    assert line.reasons == ("output_tokens +300", "amount +0.0045 USD from the token differences")


def test_rows_on_one_side_only():
    """A model the report lacks, and one only the report has."""
    report = {
        "data": [
            _bucket(3, _row(HAIKU, read=10_000, searches=1), _row("claude-opus-4-6", output=1_000))
        ]
    }
    result = reconcile(EVENTS[:2], report)
    reasons = {line.model: line.reasons[0] for line in result.differences}
    assert reasons == {
        SONNET: "only in our events: the report has no row for this model",
        "claude-opus-4-6": "only in the report: no event of ours for this model",
    }
    opus = next(line for line in result.differences if line.model == "claude-opus-4-6")
    assert opus.amount_change == Money("0.025")  # 1,000 x $25 per million
    assert opus.requests == 0


def test_tolerances_are_inclusive():
    """10 tokens and 0.0003 may differ: 10 more output tokens (0.00015) match."""
    report = {"data": [_bucket(3, _row(SONNET, uncached=1_000, output=110))]}
    tolerance = Tolerance(tokens=10, amount=Money("0.0003"))
    result = reconcile(EVENTS[:1], report, tolerance=tolerance)
    assert not result.differences
    (line,) = result.matched
    assert line.reasons == ()
    assert result.total_change == Money("0.00015")
    assert not reconcile(EVENTS[:1], report, tolerance=Tolerance(tokens=9)).matched
    assert not reconcile(EVENTS[:1], report, tolerance=Tolerance(tokens=10)).matched  # money


def test_a_gap_from_tolerated_tokens_is_not_blamed_on_hidden_prices():
    """10 more output tokens are within a 10-token tolerance, but their 0.00015 is not within 0.

    The line differs because of those tokens, and says so: not a long-context or batch
    price the report hides (the tokens do not match exactly).
    """
    report = {"data": [_bucket(3, _row(SONNET, uncached=1_000, output=110))]}
    (line,) = reconcile(EVENTS[:1], report, tolerance=Tolerance(tokens=10)).differences
    assert line.reasons == (
        "amount +0.00015 USD from token differences within the token tolerance (output_tokens +10)",
    )


def test_equal_tokens_priced_differently_are_explained():
    """A long-context request: the report must say so (context_window) to price it the same."""
    # 300k x $6 = 1.80
    big = [event("t1", model="claude-sonnet-4-5", at=october(3, 9), input_tokens=300_000)]
    plain = {"data": [_bucket(3, _row("claude-sonnet-4-5", uncached=300_000))]}
    (line,) = reconcile(big, plain).differences
    assert line.amount_change == Money("-0.9")  # priced at $3: 0.90
    assert "at matching tokens" in line.reasons[0]
    grouped = {
        "data": [_bucket(3, _row("claude-sonnet-4-5", uncached=300_000, context_window="200k-1M"))]
    }
    assert not reconcile(big, grouped).differences


def test_modifiers_the_report_groups_by():
    """Batch (service_tier), US-only (inference_geo) and fast mode (speed) match when shown."""
    events = [
        event(
            "b",
            model=SONNET,
            at=october(3, 9),
            modifiers=Modifiers(batch=True),
            input_tokens=1_000_000,
        ),
        event("u", model=HAIKU, at=october(3, 9), output_tokens=1_000_000),
        event(
            "g",
            model=SONNET,
            at=october(4, 9),
            modifiers=Modifiers(us_only=True),
            input_tokens=1_000_000,
        ),
        event(
            "f",
            model="claude-opus-5-5",
            at=october(4, 9),
            modifiers=Modifiers(fast=True),
            output_tokens=1_000_000,
        ),
    ]
    report = {
        "data": [
            _bucket(
                3,
                _row(SONNET, uncached=1_000_000, service_tier="batch"),
                _row(HAIKU, output=1_000_000, service_tier="standard", workspace_id="w-1"),
            ),
            _bucket(
                4,
                _row(SONNET, uncached=1_000_000, inference_geo="us"),
                _row("claude-opus-5-5", output=1_000_000, speed="fast"),
            ),
        ]
    }
    result = reconcile(events, report)
    assert not result.differences
    # 1.50 (batch) + 5.00 + 3.30 (x1.1) + 40.00 (fast)
    assert result.report_total == Money("49.80")


def test_rows_that_cannot_be_priced():
    """No model, an unknown model, a priority tier, a modifier the model lacks: no price."""
    report = {
        "data": [
            _bucket(
                3,
                _row(None, output=10),
                _row("gpt-x", output=10),
                _row(SONNET, uncached=1_000, output=100, service_tier="priority"),
                _row(HAIKU, read=10_000, searches=1, inference_geo="us"),
            )
        ]
    }
    result = reconcile(EVENTS[:2], report)
    assert result.unpriced == 4
    reasons = {line.model: line.reasons[-1] for line in result.differences}
    assert reasons == {
        "(no model)": "the report row names no model",
        "gpt-x": "model 'gpt-x' is not in the price table",
        SONNET: "service tier 'priority' has no price in the table",
        HAIKU_ID: reasons[HAIKU_ID],
    }
    assert reasons[HAIKU_ID].startswith("cannot price the report row: us_only")
    assert all(line.report_amount is None for line in result.differences)
    assert result.report_total == Money("0")
    assert "4 rows not priced" in result.to_text()
    assert "not priced" in result._repr_html_()


def test_a_price_change_inside_a_bucket():
    """The report is priced at its bucket's start: Sonnet 5.5 changes price on Oct 7."""
    cached = event("p", model="claude-sonnet-5-5", at=october(7, 6), cache_read_tokens=1_000_000)
    report = {
        "data": [
            {
                "starting_at": "2026-10-06T12:00:00Z",
                "ending_at": "2026-10-07T12:00:00Z",
                "results": [_row("claude-sonnet-5-5", read=1_000_000)],
            }
        ]
    }
    (line,) = reconcile([cached], report).differences
    assert "a price changed inside the bucket" in line.reasons[0]
    assert line.amount_change == Money("0.10")  # cache reads: $0.20 → $0.10 per million


def test_events_in_a_gap_or_outside_the_span():
    """Oct 4 missing from the report: a difference; events after the last bucket: apart."""
    report = {"data": [_bucket(3, _row(SONNET, uncached=1_000, output=100)), _bucket(5)]}
    late = event("late", model=SONNET, at=october(9, 9), input_tokens=1_000_000)
    again = event("again", model=SONNET, at=october(4, 20), output_tokens=1)
    result = reconcile([EVENTS[0], EVENTS[2], again, late], report)
    (gap,) = result.differences
    assert gap.reasons[0] == "no report bucket covers these events"
    assert gap.requests == 2
    assert (gap.starting_at, gap.ending_at) == (
        datetime(2026, 10, 4, tzinfo=UTC),
        datetime(2026, 10, 5, tzinfo=UTC),
    )
    assert (result.outside_events, result.outside_amount) == (1, Money("3"))
    assert "1 events outside the report's span (3.00 USD)" in result.to_text()


def test_an_empty_report_leaves_every_event_outside():
    """No buckets: nothing compared, every event counted apart."""
    result = reconcile(EVENTS, {"data": []})
    assert (result.lines, result.outside_events) == ((), 3)
    assert result.starting_at is None
    assert "empty report" in result.to_text()


def test_duplicates_count_once_conflicts_are_refused():
    """A retried event counts once; the same id with other content is refused."""
    assert not reconcile([*EVENTS, EVENTS[0]], REPORT).differences
    other = attrs.evolve(EVENTS[0], usage=TokenUsage(input_tokens=1))
    with pytest.raises(ConflictError):
        reconcile([*EVENTS, other], REPORT)


def test_an_event_with_an_unknown_model_is_named():
    """Our own events must price: an unknown model raises, naming the event."""
    with pytest.raises(UnknownModelError) as error:
        reconcile([event("x", model="gpt-x", at=october(3, 9))], REPORT)
    assert "in usage event 'x'" in error.value.__notes__


# --- the report's shape ---------------------------------------------------------------------


def test_pages_and_buckets_and_sdk_objects():
    """A list of pages, a list of buckets, and the SDK's own bucket objects all read alike."""
    first = {"data": REPORT["data"][:1], "has_more": True, "next_page": "p2"}
    second = {"data": REPORT["data"][1:], "has_more": False}
    assert not reconcile(EVENTS, [first, second]).differences
    buckets = [BetaAnalyticsUsageReportTimeBucket.model_validate(b) for b in REPORT["data"]]
    assert not reconcile(EVENTS, buckets).differences
    assert not reconcile(EVENTS, list(REPORT["data"])).differences
    as_objects = {
        "data": [
            {**bucket, "starting_at": datetime.fromisoformat(bucket["starting_at"])}
            for bucket in REPORT["data"]
        ]
    }
    assert not reconcile(EVENTS, as_objects).differences


def test_a_page_that_says_more_is_to_come():
    """The last page must not say has_more: the report would be incomplete."""
    with pytest.raises(LoadError, match="has_more"):
        reconcile(EVENTS, {**REPORT, "has_more": True})


def test_every_problem_of_a_report_is_listed_with_its_path():
    """Bad counts, instants and shapes: one LoadError, every problem with its path."""
    report = {
        "data": [
            {
                "starting_at": "2026-10-03T00:00:00Z",
                "ending_at": "2026-10-04T00:00:00Z",
                "results": [
                    {"model": SONNET, "output_tokens": -1},
                    {
                        "model": 7,
                        "uncached_input_tokens": 1,
                        "output_tokens": 1,
                        "cache_creation": [],
                    },
                    "row",
                ],
            },
            {"starting_at": "yesterday", "ending_at": "2026-10-04", "results": []},
            {
                "starting_at": "2026-10-05T00:00:00Z",
                "ending_at": "2026-10-05T00:00:00Z",
                "results": [],
            },
            {"starting_at": 5, "ending_at": "2026-10-06T00:00:00Z", "results": []},
            {"results": "none"},
        ]
    }
    with pytest.raises(LoadError) as error:
        reconcile(EVENTS, report)
    problems = dict(error.value.problems)
    assert problems["$.data[0].results[0].uncached_input_tokens"] == "is required"
    assert "non-negative int" in problems["$.data[0].results[0].output_tokens"]
    assert "string or null" in problems["$.data[0].results[1].model"]
    assert "must be an object" in problems["$.data[0].results[1].cache_creation"]
    assert "must be an object" in problems["$.data[0].results[2]"]
    # One message for every ISO 8601 instant (the report reader once said "RFC 3339").
    assert "ISO 8601 datetime" in problems["$.data[1].starting_at"]
    assert "UTC offset" in problems["$.data[1].ending_at"]
    assert "after starting_at" in problems["$.data[2].ending_at"]
    assert "ISO 8601 datetime string" in problems["$.data[3].starting_at"]
    assert "'results' list" in problems["$.data[4]"]


def test_overlapping_buckets_are_refused():
    """Two buckets covering the same instant cannot both count it."""
    report = {"data": [_bucket(3), _bucket(3, hours=12)]}
    with pytest.raises(LoadError, match="overlaps"):
        reconcile(EVENTS, report)


@pytest.mark.parametrize("report", ["report", 42, [{"nope": 1}], {"data": "all"}])
def test_a_report_of_the_wrong_shape(report):
    """Not a page, or pages without a data list, are refused."""
    with pytest.raises((InvalidValueError, LoadError)):
        reconcile(EVENTS, report)


def test_tolerances_are_checked():
    """Negative or non-integer token tolerances, amounts in another currency: refused."""
    with pytest.raises(InvalidValueError, match="tokens"):
        Tolerance(tokens=-1)
    with pytest.raises(InvalidValueError, match="amount"):
        Tolerance(amount=Decimal("0.01"))
    with pytest.raises(CurrencyMismatchError):
        reconcile(EVENTS, REPORT, tolerance=Tolerance(amount=Money("0.01", "EUR")))
    with pytest.raises(InvalidValueError, match="tolerance"):
        reconcile(EVENTS, REPORT, tolerance=0)


# --- output ---------------------------------------------------------------------------------


def test_records_text_and_html():
    """One record per bucket and model; the text explains the gap to the cent."""
    report = {
        "data": [
            _bucket(3, _row(SONNET, uncached=1_000, output=400)),
            _bucket(4, _row(SONNET, uncached=2_000)),
        ]
    }
    result = reconcile([EVENTS[0], EVENTS[2]], report, tolerance=Tolerance(tokens=0))
    records = result.to_records()
    assert [record["matched"] for record in records] == [False, True]
    first = records[0]
    assert (first["events_output_tokens"], first["report_output_tokens"]) == (100, 400)
    assert first["amount_change"] == Decimal("0.004500")
    assert first["reasons"].startswith("output_tokens +300")
    text = result.to_text()
    assert "RECONCILIATION" in text
    assert "+0.0045 USD = +0.0045 USD in 1 differences + 0.00 USD within tolerance" in text
    assert "output_tokens +300" in text
    page = result._repr_html_()
    assert "usagebill-reconciliation" in page
    assert "1 differences" in page
    assert "none: every bucket and model matches" in reconcile(EVENTS, REPORT).to_text()


def test_report_groups_differences_by_bucket_and_keeps_every_line_in_its_data():
    """Differences under their bucket, each change signed and exact; 'not priced' if none."""
    report = {
        "data": [
            _bucket(
                3,
                _row(SONNET, uncached=1_000, output=400),  # 300 more output tokens: +0.0045
                _row("gpt-x", uncached=1),
            ),
            _bucket(4, _row(SONNET, uncached=2_000)),
        ]
    }
    result = reconcile([EVENTS[0], EVENTS[2]], report)
    (differences,) = result.to_report().sections
    assert differences.title == "Differences (report minus events, USD)"
    assert [row[:2] + row[3:] for row in differences.rows] == [
        ("2026-10-03 00:00", "claude-sonnet-4-6", Money("0.0045")),
        ("2026-10-03 00:00", "gpt-x", None),
    ]
    lines = result.to_text().splitlines()
    assert lines[lines.index("2026-10-03 00:00") + 1].endswith("+0.0045")
    assert lines[lines.index("2026-10-03 00:00") + 3].endswith("not priced")
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert [row["model"] for row in rows] == ["claude-sonnet-4-6", "gpt-x", "claude-sonnet-4-6"]
    assert [row["matched"] for row in rows] == ["False", "False", "True"]
    assert rows[0]["amount_change"] == "0.00450000"  # exact, as computed
    assert rows[1]["amount_change"] == ""  # not priced
    assert "| 2026-10-03 00:00 | gpt-x |" in result.to_markdown()
