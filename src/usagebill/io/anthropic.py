"""Anthropic's Admin API usage reports, read into plain frozen rows.

The shape is that of the Messages usage report and of the Enterprise analytics
usage report of the ``anthropic`` SDK (``BetaAnalyticsUsageReportTimeBucket``)::

    {"data": [{"starting_at": "2026-10-01T00:00:00Z",
               "ending_at": "2026-10-02T00:00:00Z",
               "results": [{"model": "claude-sonnet-4-6",
                            "uncached_input_tokens": 1200,
                            "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                               "ephemeral_1h_input_tokens": 0},
                            "cache_read_input_tokens": 8000,
                            "output_tokens": 350,
                            "server_tool_use": {"web_search_requests": 0}}]}],
     "has_more": false, "next_page": null}

Accepted: one page as a dict, a list of pages (every page fetched: the last
must not say ``has_more``), a list of buckets (what the SDK's auto-paginating
``list()`` yields), or the SDK's own objects (read through their
``model_dump``). Per result: ``uncached_input_tokens`` and ``output_tokens``
are required; ``cache_read_input_tokens``, ``cache_creation`` and
``server_tool_use`` default to zero; ``model`` names the model. A row's
``context_window``, ``service_tier``, ``inference_geo`` and ``speed`` (present
when the report is grouped by them) are kept; any other key is ignored. Buckets
must not overlap. Counts must be non-negative integers; every problem is
reported at once, with its path, in a :class:`~usagebill.errors.LoadError`.

A result row is a Messages API ``usage`` under other names (``uncached_input_tokens``
is ``input_tokens``), so its tokens and modifiers are read by
:meth:`TokenUsage.from_anthropic <usagebill.usage.TokenUsage.from_anthropic>` and
:meth:`Modifiers.from_anthropic <usagebill.usage.Modifiers.from_anthropic>`, once
the reader has checked every field (to name every problem, not only the first).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from usagebill._checks import check_non_negative_int, instant
from usagebill.errors import InvalidValueError, LoadError, short_repr
from usagebill.usage import Modifiers, TokenUsage

__all__ = ["LONG_CONTEXT_WINDOW", "ReportBucket", "ReportRow", "UsageReport"]

LONG_CONTEXT_WINDOW: Final = "200k-1M"
"""The ``context_window`` of rows priced at a model's long-context tier."""

# Each count of a result row: the object it sits in ("" for the row itself), its key, required.
_COUNTS: Final = (
    ("", "uncached_input_tokens", True),
    ("", "output_tokens", True),
    ("cache_creation", "ephemeral_5m_input_tokens", False),
    ("cache_creation", "ephemeral_1h_input_tokens", False),
    ("", "cache_read_input_tokens", False),
    ("server_tool_use", "web_search_requests", False),
)
_PARTS: Final = ("cache_creation", "server_tool_use")
_TEXTS: Final = ("model", "service_tier", "context_window")


@attrs.frozen
class ReportBucket:
    """One time bucket of a report: ``[starting_at, ending_at)``, in UTC.

    >>> day = ReportBucket(datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC))
    >>> day.ending_at - day.starting_at
    datetime.timedelta(days=1)
    """

    starting_at: datetime
    ending_at: datetime


@attrs.frozen
class ReportRow:
    """One result of a bucket: its model, its tokens, and how it was run.

    ``bucket`` is the position of its bucket in :attr:`UsageReport.buckets`.
    ``model``, ``service_tier`` and ``context_window`` are ``None`` when the
    report is not grouped by them.

    >>> row = ReportRow(0, "claude-sonnet-4-6", TokenUsage(input_tokens=300_000), Modifiers(),
    ...                 context_window="200k-1M")
    >>> row.long_context, row.modifiers.batch
    (True, False)
    """

    bucket: int
    model: str | None
    usage: TokenUsage
    modifiers: Modifiers
    service_tier: str | None = None
    context_window: str | None = None

    @property
    def long_context(self) -> bool:
        """Tell whether the row is priced at the model's long-context tier."""
        return self.context_window == LONG_CONTEXT_WINDOW


@attrs.frozen
class UsageReport:
    """A usage report as plain values: its buckets in time order, and every result row.

    >>> report = UsageReport.from_anthropic({"data": [{
    ...     "starting_at": "2026-10-03T00:00:00Z", "ending_at": "2026-10-04T00:00:00Z",
    ...     "results": [{"model": "claude-sonnet-4-6", "uncached_input_tokens": 1_000,
    ...                  "output_tokens": 400, "service_tier": "batch"}]}]})
    >>> row = report.rows[0]
    >>> report.buckets[row.bucket].starting_at.isoformat(), row.usage.output_tokens
    ('2026-10-03T00:00:00+00:00', 400)
    >>> row.modifiers.batch, row.long_context
    (True, False)
    """

    buckets: tuple[ReportBucket, ...]
    rows: tuple[ReportRow, ...]

    @classmethod
    def from_anthropic(cls, report: object) -> UsageReport:
        """Read a report (a page, a list of pages or of buckets, or the SDK's objects).

        Every problem is listed, with its path, in one :class:`~usagebill.errors.LoadError`;
        a report that is not a page nor a list is an :class:`~usagebill.errors.InvalidValueError`.
        """
        reader = _Reader()
        found = _read_buckets(reader, _pages(report))
        rows = []
        for number, (_start, _end, results, path) in enumerate(found):
            for position, result in enumerate(results):
                row = reader.row(result, number, f"{path}.results[{position}]")
                if row is not None:
                    rows.append(row)
        if reader.problems:
            raise LoadError("usage report", reader.problems)
        buckets = tuple(ReportBucket(start, end) for start, end, _results, _path in found)
        return cls(buckets, tuple(rows))


class _Reader:
    """Reads report pages, gathering every problem with its path."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def instant(self, value: object, path: str) -> datetime | None:
        try:
            return instant(value, path).astimezone(UTC)
        except InvalidValueError as error:
            self.problem(path, error.detail)
            return None

    def count(self, data: Mapping[str, Any], key: str, path: str, *, required: bool) -> None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(f"{path}.{key}", "is required")
            return
        try:
            check_non_negative_int(value, key)
        except InvalidValueError as error:
            self.problem(f"{path}.{key}", error.detail)

    def part(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(f"{path}.{key}", f"must be an object (got {short_repr(value)})")
            return {}
        return value

    def text(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            self.problem(f"{path}.{key}", f"must be a string or null (got {short_repr(value)})")
            return None
        return value

    def row(self, data: object, bucket: int, path: str) -> ReportRow | None:
        """The row at ``path``, or ``None`` once its problems are noted."""
        if not isinstance(data, Mapping):
            self.problem(path, f"must be an object (got {short_repr(data)})")
            return None
        known = len(self.problems)
        parts = {"": data} | {key: self.part(data, key, path) for key in _PARTS}
        for part, key, required in _COUNTS:
            self.count(parts[part], key, f"{path}.{part}" if part else path, required=required)
        model, service_tier, context_window = (self.text(data, key, path) for key in _TEXTS)
        if len(self.problems) > known:
            return None
        usage = TokenUsage.from_anthropic(
            {
                "input_tokens": data["uncached_input_tokens"],
                "output_tokens": data["output_tokens"],
                "cache_read_input_tokens": data.get("cache_read_input_tokens"),
                "cache_creation": parts["cache_creation"],
                "server_tool_use": parts["server_tool_use"],
            }
        )
        return ReportRow(
            bucket, model, usage, Modifiers.from_anthropic(data), service_tier, context_window
        )


def _plain(value: object) -> object:
    """An SDK object as its JSON form; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _pages(report: object) -> list[object]:
    """The report as a list of pages: a page, a list of pages, or a list of buckets."""
    report = _plain(report)
    if isinstance(report, Mapping):
        return [report]
    if isinstance(report, Sequence) and not isinstance(report, (str, bytes)):
        items = [_plain(item) for item in report]
        if items and all(isinstance(item, Mapping) and "results" in item for item in items):
            return [{"data": items}]  # the buckets of an SDK auto-paginating iterator
        return items
    raise InvalidValueError("report", report, "must be a report page (a dict) or a list of pages")


def _read_buckets(
    reader: _Reader, pages: list[object]
) -> list[tuple[datetime, datetime, list[object], str]]:
    """Every time bucket of every page, sorted: start, end, results and where it is."""
    buckets: list[tuple[datetime, datetime, list[object], str]] = []
    for number, page in enumerate(pages):
        where = "$" if len(pages) == 1 else f"$[{number}]"
        if not isinstance(page, Mapping) or not isinstance(page.get("data"), list):
            reader.problem(where, "must be an object with a 'data' list of time buckets")
            continue
        if number == len(pages) - 1 and page.get("has_more") is True:
            reader.problem(f"{where}.has_more", "is true: fetch every page and pass them all")
        for position, bucket in enumerate(page["data"]):
            path = f"{where}.data[{position}]"
            if not isinstance(bucket, Mapping) or not isinstance(bucket.get("results"), list):
                reader.problem(path, "must be an object with a 'results' list")
                continue
            start = reader.instant(bucket.get("starting_at"), f"{path}.starting_at")
            end = reader.instant(bucket.get("ending_at"), f"{path}.ending_at")
            if start is None or end is None:
                continue
            if end <= start:
                reader.problem(f"{path}.ending_at", "must come after starting_at")
                continue
            buckets.append((start, end, bucket["results"], path))
    buckets.sort(key=lambda bucket: bucket[0])
    for previous, following in itertools.pairwise(buckets):
        if following[0] < previous[1]:
            reader.problem(following[3], f"overlaps the bucket at {previous[3]}")
    return buckets
