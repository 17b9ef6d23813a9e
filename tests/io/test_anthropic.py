"""Reading Anthropic's usage reports: rows as plain values, the SDK's own readers reused."""

from datetime import UTC, datetime

import pytest
from anthropic.types.beta.organization.beta_analytics_usage_report_time_bucket import (
    BetaAnalyticsUsageReportTimeBucket,
)
from hypothesis import given
from hypothesis import strategies as st

from usagebill import Modifiers, TokenUsage, UsageBillError
from usagebill.errors import LoadError
from usagebill.io.anthropic import ReportBucket, ReportRow, UsageReport

SONNET = "claude-sonnet-4-6"
RESULT = {
    "model": SONNET,
    "uncached_input_tokens": 1200,
    "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 40},
    "cache_read_input_tokens": 8000,
    "output_tokens": 350,
    "server_tool_use": {"web_search_requests": 2},
    "context_window": "200k-1M",
    "service_tier": "batch",
    "inference_geo": "us",
    "speed": "fast",
    "workspace_id": "ws-1",
}


def bucket(day: int, *results: dict) -> dict:
    return {
        "starting_at": f"2026-10-{day:02d}T00:00:00Z",
        "ending_at": f"2026-10-{day + 1:02d}T00:00:00Z",
        "results": list(results),
    }


def test_a_row_reads_every_count_and_modifier():
    """Each count lands in its TokenUsage field; the grouping keys become modifiers and tier."""
    report = UsageReport.from_anthropic({"data": [bucket(3, RESULT)], "has_more": False})
    assert report.buckets == (
        ReportBucket(datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC)),
    )
    assert report.rows == (
        ReportRow(
            bucket=0,
            model=SONNET,
            usage=TokenUsage(
                input_tokens=1200,
                output_tokens=350,
                cache_write_5m_tokens=30,
                cache_write_1h_tokens=40,
                cache_read_tokens=8000,
                web_search_requests=2,
            ),
            modifiers=Modifiers(batch=True, us_only=True, fast=True),
            service_tier="batch",
            context_window="200k-1M",
        ),
    )
    assert report.rows[0].long_context


def test_a_row_is_a_messages_usage_under_other_names():
    """The same figures read by TokenUsage/Modifiers.from_anthropic, input renamed."""
    row = UsageReport.from_anthropic({"data": [bucket(3, RESULT)]}).rows[0]
    usage = {**RESULT, "input_tokens": RESULT["uncached_input_tokens"]}
    assert row.usage == TokenUsage.from_anthropic(usage)
    assert row.modifiers == Modifiers.from_anthropic(usage)


def test_optional_parts_default_to_zero_and_standard():
    """Only the input and output counts are required; no grouping key means standard rates."""
    minimal = {"uncached_input_tokens": 5, "output_tokens": 7}
    row = UsageReport.from_anthropic({"data": [bucket(3, minimal)]}).rows[0]
    assert row == ReportRow(0, None, TokenUsage(input_tokens=5, output_tokens=7), Modifiers())
    assert not row.long_context


def test_buckets_come_in_time_order_and_rows_point_at_theirs():
    """Buckets given out of order are sorted; each row names its bucket's position."""
    later = {**RESULT, "model": "later"}
    report = UsageReport.from_anthropic({"data": [bucket(5, later), bucket(3, RESULT)]})
    assert [b.starting_at.day for b in report.buckets] == [3, 5]
    assert [(row.bucket, row.model) for row in report.rows] == [(0, SONNET), (1, "later")]


def test_the_sdks_objects_read_like_dicts():
    """A list of the SDK's bucket objects (its auto-paginating iterator) is a report too."""
    data = [bucket(3, RESULT), bucket(4)]
    objects = [BetaAnalyticsUsageReportTimeBucket.model_validate(b) for b in data]
    assert UsageReport.from_anthropic(objects) == UsageReport.from_anthropic({"data": data})


def test_every_problem_of_a_row_is_listed():
    """Two bad counts of one row are two problems, each with its path."""
    with pytest.raises(LoadError) as error:
        UsageReport.from_anthropic({"data": [bucket(3, {"output_tokens": -1})]})
    assert dict(error.value.problems) == {
        "$.data[0].results[0].uncached_input_tokens": "is required",
        "$.data[0].results[0].output_tokens": "must be a non-negative int (got -1)",
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "data",
        "results",
        "starting_at",
        "ending_at",
        "uncached_input_tokens",
        "output_tokens",
        "cache_creation",
        "model",
        "has_more",
    ]
)


@given(
    junk=JSON,
    key=KEYS,
    value=JSON | st.sampled_from(["2026-10-03T00:00:00Z", "2026-10-03"]),
)
def test_junk_raises_only_usagebill_errors(junk, key, value):
    """Junk anywhere, or a good report with one value replaced: a report or a typed error."""
    good = {"data": [bucket(3, dict(RESULT))]}
    for candidate in (junk, _replaced(good, key, value)):
        try:
            read = UsageReport.from_anthropic(candidate)
        except UsageBillError:
            continue
        assert all(0 <= row.bucket < len(read.buckets) for row in read.rows)


def _replaced(data: object, key: str, value: object) -> object:
    """``data`` with every ``key`` set to ``value``, at any depth."""
    if isinstance(data, dict):
        return {k: value if k == key else _replaced(v, key, value) for k, v in data.items()}
    if isinstance(data, list):
        return [_replaced(item, key, value) for item in data]
    return data
