"""Reconciliation: our events against the provider's own usage report, to the cent.

Finance closes a month when what we metered matches what the provider says
it served. :func:`reconcile` sets the period's usage events (priced with the
same :class:`~usagebill.pricing.prices.PriceTable` as the invoice) beside the
provider's usage report, per time bucket and model, token category by token
category, and lists every difference beyond a :class:`Tolerance` — with a
reason for each, so every cent of the gap is explained.

**The report** is Anthropic's Admin API usage report (the Messages usage
report, or the Enterprise analytics usage report of the ``anthropic`` SDK), in
any form :meth:`UsageReport.from_anthropic <usagebill.io.anthropic.UsageReport.from_anthropic>`
reads: a page, a list of pages or of buckets, or the SDK's own objects. Group
the report by model — a row without one cannot be priced. Rows priced
differently are recognised when the report is grouped by them:
``context_window`` ``"200k-1M"`` (the long-context tier), ``service_tier``
``"batch"``, ``inference_geo`` ``"us"`` and ``speed`` ``"fast"``; other
service tiers (priority, flex) have no price in the table. Any other key
(``workspace_id``, ``api_key_id``, ``product``, ``requests``…) is ignored: it
does not change a price. Every problem of the report is reported at once, with
its path, in a :class:`~usagebill.errors.LoadError`.

**Matching.** The buckets of the report set the grid (daily or hourly; they
must not overlap). Each event falls in the bucket containing its instant and
counts under its model's canonical id (aliases resolved). An event inside the
report's span but in no bucket is a difference ("no bucket"); events before
the first bucket or after the last are outside the comparison and counted
apart. The report's rows are priced at the price in force at their bucket's
start. Ask for buckets that align with the billing period (hourly buckets for
a period that starts at local midnight away from UTC).

**Why amounts can differ at equal tokens.** A usage report sums tokens; the
price of a request depends on its own prompt (the context tier), its
modifiers, and its instant (a price change inside a bucket). Unless the report
is grouped by those, its rows are priced at standard rates, and the difference
is listed with that reason.

**Failed requests.** An event marked ``failed`` (a timeout, a stream cut
short) counts as the organization's :class:`~usagebill.usage.FailurePolicy`
bills it, as on the invoice; the provider bills what it served. A line that
differs and holds failed requests says how many, and how they were billed.

Signs: every change is **report minus events**.

The examples below reconcile one request of ours with a report that says it
served 50 more output tokens:

>>> from datetime import datetime, UTC
>>> from usagebill import Product
>>> events = [UsageEvent("evt-1", "ada", "claude-sonnet-4-6", Product.CHAT,
...                      TokenUsage(input_tokens=1_200, output_tokens=350, cache_read_tokens=8_000),
...                      datetime(2026, 10, 3, 9, tzinfo=UTC))]
>>> report = {"data": [{"starting_at": "2026-10-03T00:00:00Z",
...                     "ending_at": "2026-10-04T00:00:00Z",
...                     "results": [{"model": "claude-sonnet-4-6", "uncached_input_tokens": 1_200,
...                                  "cache_read_input_tokens": 8_000, "output_tokens": 400}]}]}
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs

from usagebill import reports
from usagebill._checks import non_negative_int
from usagebill.errors import CurrencyMismatchError, InvalidValueError, UsageBillError, short_repr
from usagebill.events import UsageEvent, deduplicated
from usagebill.io.anthropic import ReportRow, UsageReport
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.reports import Column, Field, Kind, Report, Table, shown_amount
from usagebill.usage import FailurePolicy, TokenUsage

__all__ = ["ReconLine", "Reconciliation", "Tolerance", "reconcile"]

_ZERO: Final = Decimal(0)
_CATEGORIES: Final = tuple(field.name for field in attrs.fields(TokenUsage))
_NO_MODEL: Final = "(no model)"
_STANDARD_TIERS: Final = frozenset({None, "standard", "batch"})


def _optional_money(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, Money) or value.amount < 0):
        raise InvalidValueError(attribute.name, value, "must be a non-negative Money or None")


@attrs.frozen
class Tolerance:
    """How far a bucket and model may differ and still count as matched.

    ``tokens``: per token category, absolute; ``amount``: the priced amount,
    absolute (``None``: zero). Both are inclusive: a difference equal to the
    tolerance matches.

    >>> loose = Tolerance(tokens=100, amount=Money("0.01"))  # 100 tokens a category, a cent
    >>> [len(reconcile(events, report, tolerance=t).differences) for t in (Tolerance(), loose)]
    [1, 0]
    """

    tokens: int = attrs.field(default=0, validator=non_negative_int)
    amount: Money | None = attrs.field(default=None, validator=_optional_money)


@attrs.frozen
class ReconLine:
    """One bucket and model: our events and the report side by side.

    ``report_amount`` is ``None`` when the report's rows could not be priced
    (``reasons`` says why). ``matched`` means within the tolerance. ``failed``
    counts the ``requests`` that failed after they started.

    >>> [line] = reconcile(events, report).lines
    >>> line.matched, line.reasons
    (False, ('output_tokens +50', 'amount +0.00075 USD from the token differences'))
    """

    starting_at: datetime
    ending_at: datetime
    model: str
    requests: int
    events: TokenUsage
    report: TokenUsage
    events_amount: Money
    report_amount: Money | None
    matched: bool
    reasons: tuple[str, ...]
    failed: int = 0

    def token_changes(self) -> dict[str, int]:
        """Report minus events, per token category."""
        return {
            name: getattr(self.report, name) - getattr(self.events, name) for name in _CATEGORIES
        }

    @property
    def amount_change(self) -> Money | None:
        """Report minus events, exact (``None`` when the report side has no price)."""
        return None if self.report_amount is None else self.report_amount - self.events_amount


@attrs.frozen
class Reconciliation:
    """Every bucket and model of the events and the report, matched or not.

    ``events_total`` and ``report_total`` are exact sums over the report's
    span (``report_total`` leaves out rows it could not price, counted in
    ``unpriced``); ``outside_events`` and ``outside_amount`` are the events
    before or after the report's span, not compared.

    >>> result = reconcile(events, report)
    >>> print(result.events_total, result.report_total, result.total_change)  # 50 x 15 / 10**6
    0.01125 USD 0.012 USD 0.00075 USD
    """

    currency: str
    price_table: str
    tolerance: Tolerance
    starting_at: datetime | None
    ending_at: datetime | None
    buckets: int
    lines: tuple[ReconLine, ...]
    events_total: Money
    report_total: Money
    unpriced: int
    outside_events: int
    outside_amount: Money

    @property
    def differences(self) -> tuple[ReconLine, ...]:
        """The lines beyond the tolerance, by bucket then model."""
        return tuple(line for line in self.lines if not line.matched)

    @property
    def matched(self) -> tuple[ReconLine, ...]:
        """The lines within the tolerance."""
        return tuple(line for line in self.lines if line.matched)

    @property
    def total_change(self) -> Money:
        """Report minus events over the span, exact (unpriced rows left out)."""
        return self.report_total - self.events_total

    def to_report(self) -> Report:
        """The reconciliation as a report: the gap explained, every difference and why.

        The data (CSV, records) has one row per bucket and model, matched or
        not: both sides' counts per token category, the exact amounts and the
        change, the reasons.
        """
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per bucket and model, both sides and the changes, for ``pandas``."""
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """A plain-text reconciliation: the totals, how the gap splits, every difference."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The reconciliation as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per bucket and model."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


# --- comparing ------------------------------------------------------------------------------


class _Side:
    """One side's sums per (bucket, model): tokens, requests, exact amount, what went wrong."""

    def __init__(self) -> None:
        self.usage: dict[tuple[int, str], list[int]] = {}
        self.requests: dict[tuple[int, str], int] = {}
        self.amounts: dict[tuple[int, str], Decimal] = {}
        self.unpriced: dict[tuple[int, str], list[str]] = {}
        self.failed: dict[tuple[int, str], int] = {}

    def add(
        self, key: tuple[int, str], usage: TokenUsage, amount: Decimal | None, *, failed: bool
    ) -> None:
        counts = self.usage.setdefault(key, [0] * len(_CATEGORIES))
        for position, count in enumerate(attrs.astuple(usage)):
            counts[position] += count
        self.requests[key] = self.requests.get(key, 0) + 1
        if failed:
            self.failed[key] = self.failed.get(key, 0) + 1
        if amount is not None:
            self.amounts[key] = EXACT.add(self.amounts.get(key, _ZERO), amount)


def _price_row(prices: PriceTable, row: ReportRow, at: datetime) -> tuple[str, Decimal | None, str]:
    """The row's model id, its exact amount (``None``: cannot be priced) and why not."""
    if row.model is None:
        return _NO_MODEL, None, "the report row names no model"
    try:
        model = prices.resolve(row.model)
    except UsageBillError:
        return row.model, None, f"model {short_repr(row.model)} is not in the price table"
    if row.service_tier not in _STANDARD_TIERS:
        return model, None, f"service tier {short_repr(row.service_tier)} has no price in the table"
    try:
        price = prices.price(model, at)
        return model, price.compiled(row.modifiers, row.long_context).amount(row.usage), ""
    except UsageBillError as error:
        return model, None, f"cannot price the report row: {error}"


def _reasons(
    key: tuple[int, str],
    *,
    events: _Side,
    report: _Side,
    changes: dict[str, int],
    amount_change: Decimal | None,
    tolerance: tuple[int, Decimal],
    currency: str,
) -> tuple[bool, list[str]]:
    tokens, money = tolerance
    reasons = []
    if key not in report.usage:
        reasons.append("only in our events: the report has no row for this model")
    elif key not in events.usage:
        reasons.append("only in the report: no event of ours for this model")
    reasons += [f"{name} {change:+,}" for name, change in changes.items() if abs(change) > tokens]
    tokens_match = len(reasons) == 0
    if amount_change is None:
        reasons += sorted(set(report.unpriced.get(key, ())))
        return False, reasons
    if abs(amount_change) > money:
        shown = _signed_exact(unchecked_money(amount_change, currency))
        if tokens_match and any(changes.values()):
            # Token differences the token tolerance accepts still change the amount: that,
            # not a hidden price, is the gap (and an amount tolerance would accept it too).
            tolerated = ", ".join(f"{name} {n:+,}" for name, n in changes.items() if n)
            reasons.append(
                f"amount {shown} from token differences within the token tolerance ({tolerated})"
            )
        elif tokens_match:
            reasons.append(
                f"amount {shown} at matching tokens: the report does not say which "
                "requests were long-context, batch, US-only or fast (group it by context_window, "
                "service_tier, inference_geo and speed), or a price changed inside the bucket"
            )
        else:
            reasons.append(f"amount {shown} from the token differences")
        return False, reasons
    return tokens_match, reasons


def _theirs(
    prices: PriceTable, rows: list[ReportRow], grid: list[tuple[datetime, datetime]]
) -> _Side:
    """The report's side: each row priced at its bucket's start."""
    theirs = _Side()
    for row in rows:
        model, amount, why = _price_row(prices, row, grid[row.bucket][0])
        key = (row.bucket, model)
        theirs.add(key, row.usage, amount, failed=False)
        if amount is None:
            theirs.unpriced.setdefault(key, []).append(why)
    return theirs


def _ours(
    events: Iterable[UsageEvent],
    prices: PriceTable,
    grid: list[tuple[datetime, datetime]],
    policy: FailurePolicy,
) -> tuple[_Side, int, Decimal]:
    """Our side: each event once, as billed, in its bucket; a gap day becomes a bucket.

    Returns the side, and the count and amount of the events outside the span.
    """
    span = (grid[0][0], grid[-1][1]) if grid else None
    starts = [start for start, _end in grid]
    buckets = len(grid)
    ours = _Side()
    gaps: dict[datetime, int] = {}
    outside = 0
    outside_amount = _ZERO
    for event in deduplicated(events):
        at = event.at.astimezone(UTC)
        usage = event.billed_usage(policy)
        try:
            model = prices.resolve(event.model)
            amount = prices.amount(model, usage, event.at, event.modifiers)
        except UsageBillError as error:
            error.in_event(event.event_id)
            raise
        if span is None or not span[0] <= at < span[1]:
            outside += 1
            outside_amount = EXACT.add(outside_amount, amount)
            continue
        position = bisect.bisect_right(starts, at, hi=buckets) - 1
        if at >= grid[position][1]:  # in a gap between buckets: a day of its own
            day = at.replace(hour=0, minute=0, second=0, microsecond=0)
            if day not in gaps:
                gaps[day] = len(grid)
                grid.append((day, day + timedelta(days=1)))
            position = gaps[day]
        ours.add((position, model), usage, amount, failed=event.failed)
    return ours, outside, outside_amount


def reconcile(
    events: Iterable[UsageEvent],
    report: object,
    prices: PriceTable | None = None,
    *,
    tolerance: Tolerance | None = None,
    failure_policy: FailurePolicy = FailurePolicy.REPORTED,
) -> Reconciliation:
    """Compare ``events`` with the provider's usage ``report``, per bucket and model.

    ``failure_policy`` is the organization's (``org.failure_policy``): failed
    requests count as the invoice bills them.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Product, TokenUsage
    >>> events = [UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CHAT,
    ...                      TokenUsage(input_tokens=1_000, output_tokens=100),
    ...                      datetime(2026, 10, 3, 9, tzinfo=UTC))]
    >>> report = {"data": [{"starting_at": "2026-10-03T00:00:00Z",
    ...                     "ending_at": "2026-10-04T00:00:00Z",
    ...                     "results": [{"model": "claude-sonnet-4-6",
    ...                                  "uncached_input_tokens": 1_000,
    ...                                  "output_tokens": 400}]}]}
    >>> result = reconcile(events, report)
    >>> [(line.model, line.reasons[0]) for line in result.differences]
    [('claude-sonnet-4-6', 'output_tokens +300')]
    >>> result.total_change             # 300 output tokens at $15 per million
    Money('0.0045', 'USD')
    """
    prices = prices if prices is not None else PriceTable.builtin()
    tolerance = tolerance if tolerance is not None else Tolerance()
    if not isinstance(tolerance, Tolerance):
        raise InvalidValueError("tolerance", tolerance, "must be a Tolerance")
    if not isinstance(failure_policy, FailurePolicy):
        raise InvalidValueError("failure_policy", failure_policy, "must be a FailurePolicy")
    currency = prices.currency
    if tolerance.amount is not None and tolerance.amount.currency != currency:
        raise CurrencyMismatchError(currency, tolerance.amount.currency, "tolerance.amount")
    read = UsageReport.from_anthropic(report)
    buckets = [(bucket.starting_at, bucket.ending_at) for bucket in read.buckets]
    rows = [row for row in read.rows if row.usage]  # a row of no tokens has nothing to compare
    grid = list(buckets)
    theirs = _theirs(prices, rows, grid)
    ours, outside, outside_amount = _ours(events, prices, grid, failure_policy)
    span = (buckets[0][0], buckets[-1][1]) if buckets else None
    limits = (tolerance.tokens, _ZERO if tolerance.amount is None else tolerance.amount.amount)
    lines = []
    for key in sorted(ours.usage.keys() | theirs.usage.keys(), key=lambda k: (grid[k[0]][0], k[1])):
        usage_ours = TokenUsage(*ours.usage.get(key, [0] * len(_CATEGORIES)))
        usage_theirs = TokenUsage(*theirs.usage.get(key, [0] * len(_CATEGORIES)))
        changes = {
            name: getattr(usage_theirs, name) - getattr(usage_ours, name) for name in _CATEGORIES
        }
        ours_amount = ours.amounts.get(key, _ZERO)
        theirs_amount = None if key in theirs.unpriced else theirs.amounts.get(key, _ZERO)
        change = None if theirs_amount is None else EXACT.subtract(theirs_amount, ours_amount)
        matched, reasons = _reasons(
            key,
            events=ours,
            report=theirs,
            changes=changes,
            amount_change=change,
            tolerance=limits,
            currency=currency,
        )
        if key[0] >= len(buckets):
            reasons.insert(0, "no report bucket covers these events")
            matched = False
        failed = ours.failed.get(key, 0)
        if failed and not matched:
            reasons.append(
                f"{failed:,} of our requests failed after starting, {failure_policy.description}"
                " (the provider bills what it served)"
            )
        start, end = grid[key[0]]
        lines.append(
            ReconLine(
                starting_at=start,
                ending_at=end,
                model=key[1],
                requests=ours.requests.get(key, 0),
                events=usage_ours,
                report=usage_theirs,
                events_amount=unchecked_money(ours_amount, currency),
                report_amount=None
                if theirs_amount is None
                else unchecked_money(theirs_amount, currency),
                matched=matched,
                reasons=tuple(reasons),
                failed=failed,
            )
        )
    return Reconciliation(
        currency=currency,
        price_table=prices.version,
        tolerance=tolerance,
        starting_at=None if span is None else span[0],
        ending_at=None if span is None else span[1],
        buckets=len(buckets),
        lines=tuple(lines),
        events_total=Money.sum((line.events_amount for line in lines), currency),
        report_total=Money.sum(
            (line.report_amount for line in lines if line.report_amount is not None), currency
        ),
        unpriced=sum(len(why) for why in theirs.unpriced.values()),
        outside_events=outside,
        outside_amount=unchecked_money(outside_amount, currency),
    )


# --- the reconciliation as a report --------------------------------------------------------


def _signed_exact(money: Money) -> str:
    """An exact change with its sign, e.g. ``+0.0045 USD``."""
    return f"+{money}" if money.amount > 0 else str(money)


def _span(result: Reconciliation) -> str:
    if result.starting_at is None or result.ending_at is None:
        return "empty report"
    return (
        f"{result.starting_at:%Y-%m-%d %H:%M} to {result.ending_at:%Y-%m-%d %H:%M} UTC, "
        f"{result.buckets:,} buckets"
    )


def _summary(result: Reconciliation) -> list[tuple[str, str]]:
    currency = result.currency
    listed = Money.sum(
        (line.amount_change for line in result.differences if line.amount_change is not None),
        currency,
    )
    within = Money.sum(
        (line.amount_change for line in result.matched if line.amount_change is not None),
        currency,
    )
    tolerance = result.tolerance
    allowed = Money.zero(currency) if tolerance.amount is None else tolerance.amount
    return [
        ("Report", f"{_span(result)}; priced with {result.price_table}"),
        (
            "Tolerance",
            f"{tolerance.tokens:,} tokens per category, {shown_amount(allowed)} {currency}",
        ),
        ("Events", f"{shown_amount(result.events_total)} {currency} (exact {result.events_total})"),
        (
            "Report total",
            f"{shown_amount(result.report_total)} {currency} (exact {result.report_total})"
            + (f", {result.unpriced:,} rows not priced" if result.unpriced else ""),
        ),
        (
            "Gap",
            (
                f"{_signed_exact(result.total_change)} = {_signed_exact(listed)} in "
                f"{len(result.differences):,} differences + {_signed_exact(within)} within "
                f"tolerance ({len(result.matched):,} lines)"
            ),
        ),
        (
            "Not compared",
            (
                f"{result.outside_events:,} events outside the report's span "
                f"({shown_amount(result.outside_amount)} {currency})"
            ),
        ),
    ]


def _report(result: Reconciliation) -> Report:
    currency = result.currency
    change = Column("amount_change", "change", Kind.EXACT_CHANGE, missing="not priced")
    counts = [
        Column(f"{side}_{name}", kind=Kind.COUNT)
        for name in _CATEGORIES
        for side in ("events", "report")
    ]
    return Report(
        "reconciliation",
        "Reconciliation",
        "our events against the provider's usage report",
        header=tuple(Field(label, value) for label, value in _summary(result)),
        sections=(
            Table(
                f"Differences (report minus events, {currency})",
                (
                    Column("bucket", "Bucket", group=True),
                    Column("model", "Model"),
                    Column("reasons", "Why", under=True),
                    change,
                ),
                [
                    (
                        f"{line.starting_at:%Y-%m-%d %H:%M}",
                        line.model,
                        "; ".join(line.reasons),
                        line.amount_change,
                    )
                    for line in result.differences
                ],
                empty="none: every bucket and model matches within the tolerance",
            ),
        ),
        data=Table(
            "Buckets and models",
            (
                Column("starting_at"),
                Column("ending_at"),
                Column("model"),
                Column("matched", kind=Kind.FLAG),
                Column("requests", kind=Kind.COUNT),
                Column("failed", kind=Kind.COUNT),
                *counts,
                Column("events_amount", kind=Kind.EXACT),
                Column("report_amount", kind=Kind.EXACT),
                change,
                Column("currency"),
                Column("reasons"),
            ),
            [
                (
                    line.starting_at.isoformat(),
                    line.ending_at.isoformat(),
                    line.model,
                    line.matched,
                    line.requests,
                    line.failed,
                    *(
                        getattr(usage, name)
                        for name in _CATEGORIES
                        for usage in (line.events, line.report)
                    ),
                    line.events_amount,
                    line.report_amount,
                    line.amount_change,
                    currency,
                    "; ".join(line.reasons),
                )
                for line in result.lines
            ],
        ),
    )
