"""The monthly invoice: prorated seat fees plus the period's usage, billed in arrears.

How an invoice is made:

* **Usage** is summed, in one pass, into one bucket per user, seat type,
  model, product, price version, context tier and modifiers — memory grows
  with those combinations, not with events. Rating is linear inside a bucket,
  so each bucket is priced once, exactly, at the end.
* **Seat fees** are prorated to the second from the seat history: a member pays
  each seat type (and add-on) for the fraction of the period they held it.
* **Rounding** happens once per shown line, by the one rule of
  :mod:`usagebill.money`; every total is the sum of the rounded lines under it.
* **Order does not matter**: events in any order, or split into parts built
  separately and merged, give the identical invoice. The same event twice
  counts once; the same id with different content is a conflict.
* **Failed requests** (events marked ``failed``) are billed by the
  organization's :class:`~usagebill.usage.FailurePolicy`, on lines of their own.
"""

from __future__ import annotations

import decimal
import hashlib
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from usagebill import reports, serde
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatTimeline
from usagebill.errors import ConflictError, InvalidValueError, UsageBillError, short_repr
from usagebill.events import FAILED, Record, UsageEvent, parse_record, record_of
from usagebill.money import EXACT, ROUNDING, Money, unchecked_money
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import ModelPrice, PriceTable, Rates
from usagebill.reports import Column, Field, Kind, Report, Table, counted, shown_amount
from usagebill.usage import FailurePolicy, Modifiers, Product, TokenUsage

__all__ = [
    "Invoice",
    "InvoiceBuilder",
    "SeatFeeLine",
    "Subtotal",
    "UsageLine",
    "build_invoice",
]

Outside = Literal["exclude", "reject"]
_ZERO: Final = Decimal(0)
_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))
"""Modifiers by their bits: a tuple index is cheaper than a call per event."""
_MODIFIER_BITS: Final = 7
# Prorated seat fees rarely terminate (a 31-day month has a factor 31): keep 30 decimals, far
# below the minor unit yet few enough digits that every sum of lines stays exact.
_PRORATION_QUANTUM: Final = Decimal("1e-30")
_PRORATION: Final = decimal.Context(
    prec=80, rounding=ROUNDING, traps=[decimal.InvalidOperation, decimal.DivisionByZero]
)


@attrs.frozen
class SeatFeeLine:
    """A member's seat (or add-on) fee for the part of the period they held it."""

    user_id: str
    seat_type: str
    add_on: str | None
    start: datetime
    end: datetime
    seconds: int
    monthly_fee: Money
    exact: Money
    amount: Money

    @property
    def description(self) -> str:
        """What the line is for, in words."""
        what = f"{self.seat_type} seat" if self.add_on is None else f"{self.add_on} add-on"
        return f"{what}, {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"


@attrs.frozen
class UsageLine:
    """One user's usage of one model and product, at one price version, tier and modifiers.

    ``failure_policy`` is set on the lines of requests that failed after they
    started: their usage is what that policy bills.
    """

    user_id: str
    seat_type: str
    model: str
    product: Product
    modifiers: Modifiers
    in_tier: bool
    price_from: datetime | None
    requests: int
    usage: TokenUsage
    rates: Rates
    web_search_per_1k: Decimal | None
    exact: Money
    amount: Money
    failure_policy: FailurePolicy | None = None

    @property
    def description(self) -> str:
        """The model, product and anything that changed the price, in words."""
        notes = [name for name, on in attrs.asdict(self.modifiers).items() if on]
        if self.failure_policy is not None:
            notes.append(f"failed after starting, {self.failure_policy.description}")
        if self.in_tier:
            notes.append("long-context tier")
        if self.price_from is not None:
            notes.append(f"price from {self.price_from:%Y-%m-%d}")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"{self.model}, {self.product}{extra}"


@attrs.frozen
class Subtotal:
    """The sum of the rounded lines of one user, seat type, model or product."""

    key: str
    amount: Money


@attrs.frozen
class Invoice:
    """A finished monthly invoice. Every total is the sum of the shown lines under it.

    ``exact_total`` is the unrounded sum, for reconciliation; ``content_hash``
    is the SHA-256 of the invoice's JSON form without the hash.
    """

    organization: str
    period: BillingPeriod
    currency: str
    price_table: str
    seat_lines: tuple[SeatFeeLine, ...]
    usage_lines: tuple[UsageLine, ...]
    by_member: tuple[Subtotal, ...]
    by_seat_type: tuple[Subtotal, ...]
    by_model: tuple[Subtotal, ...]
    by_product: tuple[Subtotal, ...]
    seat_fees: Money
    usage_total: Money
    total: Money
    exact_total: Money
    events: int
    duplicates: int
    excluded: int
    content_hash: str = ""

    def line_count(self) -> int:
        """How many rounded lines the invoice shows."""
        return len(self.seat_lines) + len(self.usage_lines)

    def to_json(self, *, indent: int | None = None) -> str:
        """Deterministic JSON (same invoice, same bytes); :meth:`from_json` reads it back."""
        return serde.to_json(self, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Invoice:
        """Read an invoice written by :meth:`to_json`."""
        return serde.from_json(text, cls, source="invoice JSON")

    def to_report(self) -> reports.Report:
        """The invoice as a report: header, summary, subtotals, every line; its data the lines.

        The data (CSV, records) has one row per line with every column —
        seat-fee rows leave the usage columns blank and the reverse — with
        ``amount`` rounded as shown and ``exact`` unrounded.
        """
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per line, ready for ``pandas.DataFrame`` (amounts as Decimals)."""
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """A plain-text invoice, ``width`` characters wide."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The invoice as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per line, safe against spreadsheet formula injection."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


# --- building -------------------------------------------------------------------------------


class InvoiceBuilder:
    """Sums usage events into an invoice, one pass, any order; parts merge exactly.

    An accumulator (like :mod:`hashlib`'s): :meth:`add` events, :meth:`merge`
    builders of other parts of the same month, then :meth:`finish`.
    ``outside="reject"`` makes an event outside the period an error instead of
    a count; ``dedupe=False`` skips the memory of event ids, for sources that
    already guarantee each event once.
    """

    def __init__(
        self,
        org: Organization,
        period: BillingPeriod,
        prices: PriceTable | None = None,
        *,
        outside: Outside = "exclude",
        dedupe: bool = True,
    ) -> None:
        if outside not in ("exclude", "reject"):
            raise InvalidValueError("outside", outside, "must be 'exclude' or 'reject'")
        self.org = org
        self.period = period
        self.prices = prices if prices is not None else PriceTable.builtin()
        if self.prices.currency != org.currency:
            raise InvalidValueError(
                "prices", self.prices.version, f"must be in {org.currency} like the organization"
            )
        self._reject_outside = outside == "reject"
        self._seen: dict[str, tuple[Any, ...]] | None = {} if dedupe else None
        self._start = period.start.astimezone(UTC)
        self._end = period.end.astimezone(UTC)
        self._seats = SeatTimeline(org.seat_history)
        self._buckets: dict[tuple[Any, ...], list[int]] = {}
        self.events = 0
        self.duplicates = 0
        self.excluded = 0

    # --- adding ---------------------------------------------------------------------------

    def add(self, event: UsageEvent) -> None:
        """Count one event."""
        self._add(record_of(event))

    def add_all(self, events: Iterable[UsageEvent]) -> InvoiceBuilder:
        """Count every event of ``events``; returns the builder."""
        for event in events:
            self._add(record_of(event))
        return self

    def add_record(self, data: Mapping[str, Any]) -> None:
        """Count one event given as its JSON dict (the fast path for files)."""
        self._add(parse_record(data))

    def _add(self, record: Record) -> None:
        event_id, counts, at = record[0], record[4], record[5]
        content = record[1:]
        seen = self._seen
        if seen is not None:
            first = seen.setdefault(event_id, content)
            if first is not content:
                if first != content:
                    raise ConflictError(
                        "event_id", event_id, "was seen before with different content"
                    )
                self.duplicates += 1
                return
        if not self._start <= at < self._end:
            if self._reject_outside:
                if seen is not None:
                    del seen[event_id]
                raise InvalidValueError(
                    f"event {short_repr(event_id)} at", at, f"must fall in the period {self.period}"
                )
            self.excluded += 1
            return
        try:
            key, counts = self._bucket(content)
        except UsageBillError as error:
            if seen is not None:
                del seen[event_id]  # nothing of a refused event is kept
            error.add_note(f"in usage event {short_repr(event_id)}")
            raise
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [0, 0, 0, 0, 0, 0, 0]
        bucket[0] += 1
        bucket[1] += counts[0]
        bucket[2] += counts[1]
        bucket[3] += counts[2]
        bucket[4] += counts[3]
        bucket[5] += counts[4]
        bucket[6] += counts[5]
        self.events += 1

    def _bucket(self, content: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        """The bucket of an event's content (user, model, product, counts, instant, bits).

        Returns the bucket's key and the counts billed: all of them, or what the
        organization's failure policy bills of a request that failed after it started.
        """
        user_id, model, product, counts, at, bits = content
        if bits & FAILED:
            counts = attrs.astuple(self.org.failure_policy.billable(TokenUsage(*counts)))
        seat_type = self._seats.seat_at(user_id, at)
        model_id = self.prices.resolve(model)
        listing = self.prices.models[model_id]
        version = listing.version_at(at)
        price = listing.prices[version]
        tier = price.tier(fast=bits & 4 != 0)  # each mode has its own tier
        in_tier = tier is not None and counts[0] + counts[2] + counts[3] + counts[4] > (
            tier.above_prompt_tokens
        )
        if bits & _MODIFIER_BITS:  # refuse a modifier the model lacks now, not at finish()
            price.compiled(_MODIFIERS[bits & _MODIFIER_BITS], in_tier)
        return (user_id, seat_type, model_id, product, version, in_tier, bits), counts

    # --- merging and finishing ------------------------------------------------------------

    def merge(self, other: InvoiceBuilder) -> InvoiceBuilder:
        """Add another part of the same month into this builder; returns this builder."""
        self._check_mergeable(other)
        twice = self._seen_by_both(other)
        for key, counts in other._buckets.items():
            self._count(key, counts)
        self.events += other.events
        self.duplicates += other.duplicates
        self.excluded += other.excluded
        if self._seen is not None and other._seen is not None:
            self._seen.update(other._seen)
        for content in twice:
            # An event both parts counted: take one of its two counts back out.
            self.duplicates += 1
            if self._start <= content[4] < self._end:
                bucket, billed = self._bucket(content)
                self._count(bucket, [-1, *(-count for count in billed)])
                self.events -= 1
            else:
                self.excluded -= 1
        return self

    def _check_mergeable(self, other: InvoiceBuilder) -> None:
        if other is self:
            raise InvalidValueError("other", other.period.label, "must be another builder")
        if (other.org, other.period, other.prices) != (self.org, self.period, self.prices):
            raise InvalidValueError(
                "other", other.period.label, "must bill the same organization, period and prices"
            )
        if (self._seen is None) != (other._seen is None):
            raise InvalidValueError(
                "other", other.period.label, "must deduplicate events like this builder"
            )

    def _seen_by_both(self, other: InvoiceBuilder) -> list[tuple[Any, ...]]:
        """The content of every event both builders counted (a conflict if it differs)."""
        if self._seen is None or other._seen is None:
            return []
        twice = []
        for event_id, content in other._seen.items():
            first = self._seen.get(event_id)
            if first is not None:
                if first != content:
                    raise ConflictError("event_id", event_id, "was seen with different content")
                twice.append(content)
        return twice

    def _count(self, key: tuple[Any, ...], counts: Iterable[int]) -> None:
        bucket = self._buckets.setdefault(key, [0] * 7)
        for position, count in enumerate(counts):
            bucket[position] += count

    def finish(self) -> Invoice:
        """The invoice of everything added so far."""
        usage_lines = sorted(
            (self._usage_line(key, counts) for key, counts in self._buckets.items()),
            key=_usage_order,
        )
        seat_lines = _seat_lines(self.org, self.period)
        return _assemble(self, seat_lines, usage_lines)

    def _usage_line(self, key: tuple[Any, ...], counts: list[int]) -> UsageLine:
        user_id, seat_type, model_id, product, version, in_tier, bits = key
        price: ModelPrice = self.prices.models[model_id].prices[version]
        modifiers = _MODIFIERS[bits & _MODIFIER_BITS]
        usage = TokenUsage(*counts[1:])
        compiled = price.compiled(modifiers, in_tier)
        exact = unchecked_money(compiled.amount(usage), self.org.currency)
        return UsageLine(
            user_id=user_id,
            seat_type=seat_type,
            model=model_id,
            product=product,
            modifiers=modifiers,
            in_tier=in_tier,
            price_from=price.effective_from,
            requests=counts[0],
            usage=usage,
            rates=compiled.rates,
            web_search_per_1k=price.web_search_per_1k,
            exact=exact,
            amount=exact.rounded(),
            failure_policy=self.org.failure_policy if bits & FAILED else None,
        )


def _usage_order(line: UsageLine) -> tuple[Any, ...]:
    return (
        line.user_id,
        line.model,
        line.product.value,
        line.price_from.isoformat() if line.price_from else "",
        line.in_tier,
        attrs.astuple(line.modifiers),
        line.failure_policy is not None,
        line.seat_type,
    )


def _seat_lines(org: Organization, period: BillingPeriod) -> list[SeatFeeLine]:
    """Each member's seat and add-on fees, prorated to the second over the period."""
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    local = zone(period.timezone)
    total_seconds = period.seconds
    by_member: dict[str, list[Any]] = defaultdict(list)
    for change in org.seat_history:
        by_member[change.user_id].append(change)
    lines = []
    for user_id in sorted(by_member):
        changes = by_member[user_id]
        for position, change in enumerate(changes):
            if change.seat_type is None:
                continue
            held_from = max(change.at.astimezone(UTC), start)
            following = (
                changes[position + 1].at.astimezone(UTC) if position + 1 < len(changes) else end
            )
            held_to = min(following, end)
            seconds = int((held_to - held_from).total_seconds())
            if seconds <= 0:
                continue
            seat = org.catalog.get(change.seat_type)
            fees = [(None, seat.monthly_fee)]
            fees += [(name, seat.add_ons[name].monthly_fee) for name in sorted(change.add_ons)]
            for add_on, fee in fees:
                exact = _prorated(fee, seconds, total_seconds)
                lines.append(
                    SeatFeeLine(
                        user_id,
                        change.seat_type,
                        add_on,
                        held_from.astimezone(local),
                        held_to.astimezone(local),
                        seconds,
                        fee,
                        exact,
                        exact.rounded(),
                    )
                )
    return lines


def _prorated(fee: Money, seconds: int, total_seconds: int) -> Money:
    """``fee * seconds / total_seconds``: exact when the quotient terminates, else 30 decimals.

    Fractions of a 31-day month do not terminate, and long quotients of
    different magnitudes would not add up exactly (``EXACT`` traps): those are
    rounded, once, far below the minor unit.
    """
    context = _PRORATION.copy()  # its own flags: did this division round?
    share = context.divide(context.multiply(fee.amount, seconds), total_seconds)
    if context.flags[decimal.Inexact]:
        share = share.quantize(_PRORATION_QUANTUM, context=context)
    return unchecked_money(share, fee.currency)


def _subtotals(pairs: Iterable[tuple[str, Money]], currency: str) -> tuple[Subtotal, ...]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for key, amount in pairs:
        sums[key] = EXACT.add(sums[key], amount.amount)  # never the caller's decimal context
    return tuple(Subtotal(key, unchecked_money(sums[key], currency)) for key in sorted(sums))


def _assemble(
    builder: InvoiceBuilder, seat_lines: list[SeatFeeLine], usage_lines: list[UsageLine]
) -> Invoice:
    currency = builder.org.currency
    seat_fees = Money.sum((line.amount for line in seat_lines), currency)
    usage_total = Money.sum((line.amount for line in usage_lines), currency)
    lines: list[SeatFeeLine | UsageLine] = [*seat_lines, *usage_lines]
    exact = Money.sum((line.exact for line in lines), currency)
    invoice = Invoice(
        organization=builder.org.name,
        period=builder.period,
        currency=currency,
        price_table=builder.prices.version,
        seat_lines=tuple(seat_lines),
        usage_lines=tuple(usage_lines),
        by_member=_subtotals(((line.user_id, line.amount) for line in lines), currency),
        by_seat_type=_subtotals(((line.seat_type, line.amount) for line in lines), currency),
        by_model=_subtotals(((line.model, line.amount) for line in usage_lines), currency),
        by_product=_subtotals(
            ((line.product.value, line.amount) for line in usage_lines), currency
        ),
        seat_fees=seat_fees,
        usage_total=usage_total,
        total=seat_fees + usage_total,
        exact_total=exact,
        events=builder.events,
        duplicates=builder.duplicates,
        excluded=builder.excluded,
    )
    return attrs.evolve(invoice, content_hash=content_hash(invoice))


def content_hash(invoice: Invoice) -> str:
    """SHA-256 of the invoice's deterministic JSON, its own hash left empty."""
    text = serde.to_json(attrs.evolve(invoice, content_hash=""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_invoice(
    org: Organization,
    events: Iterable[UsageEvent],
    period: BillingPeriod,
    prices: PriceTable | None = None,
    *,
    outside: Outside = "exclude",
) -> Invoice:
    """The invoice of ``period`` for ``org`` from ``events`` (any iterable, any order).

    Pure: the same arguments give the same invoice, byte for byte in JSON.
    """
    return InvoiceBuilder(org, period, prices, outside=outside).add_all(events).finish()


# --- the invoice as a report ----------------------------------------------------------------

_TEXT: Final = ("kind", "user_id", "seat_type", "description", "add_on", "start", "end")
_LINE_COLUMNS: Final = (
    *(Column(key) for key in _TEXT),
    Column("seconds", kind=Kind.COUNT),
    Column("monthly_fee", kind=Kind.EXACT),
    *(Column(key) for key in ("model", "product", "modifiers")),
    Column("long_context", kind=Kind.FLAG),
    Column("price_from"),
    Column("requests", kind=Kind.COUNT),
    *(Column(field.name, kind=Kind.COUNT) for field in attrs.fields(TokenUsage)),
    *(Column(f"{field.name}_rate", kind=Kind.EXACT) for field in attrs.fields(Rates)),
    Column("web_search_per_1k", kind=Kind.EXACT),
    Column("exact", kind=Kind.EXACT),
    Column("amount", kind=Kind.AMOUNT),
    Column("currency"),
)
"""Every column of an invoice line, in the order of its CSV and records."""
_USAGE_BLANK: Final = (None,) * 18  # model … web_search_per_1k: blank on a seat-fee row
_SEAT_BLANK: Final = (None,) * 4  # add_on, start, end, seconds
_FEE_BLANK: Final = (None,)  # monthly_fee


_TOKENS: Final = operator.attrgetter(*(field.name for field in attrs.fields(TokenUsage)))
_RATES: Final = operator.attrgetter(*(field.name for field in attrs.fields(Rates)))
_FLAGS: Final = tuple(field.name for field in attrs.fields(Modifiers))


def _seat_row(line: SeatFeeLine, description: str) -> reports.Row:
    kind = "seat_fee" if line.add_on is None else "add_on"
    return (
        kind,
        line.user_id,
        line.seat_type,
        description,
        line.add_on,
        line.start.isoformat(),
        line.end.isoformat(),
        line.seconds,
        line.monthly_fee,
        *_USAGE_BLANK,
        line.exact,
        line.amount,
        line.amount.currency,
    )


def _usage_row(line: UsageLine, description: str) -> reports.Row:
    modifiers = line.modifiers
    return (
        "usage",
        line.user_id,
        line.seat_type,
        description,
        *_SEAT_BLANK,
        *_FEE_BLANK,
        line.model,
        line.product.value,
        "+".join(name for name in _FLAGS if getattr(modifiers, name)),
        line.in_tier,
        None if line.price_from is None else line.price_from.isoformat(),
        line.requests,
        *_TOKENS(line.usage),
        *_RATES(line.rates),
        line.web_search_per_1k,
        line.exact,
        line.amount,
        line.amount.currency,
    )


def _usage_detail(line: UsageLine) -> str:
    usage = line.usage
    parts = [counted(line.requests, "request"), f"in {usage.input_tokens:,}"]
    parts.append(f"out {usage.output_tokens:,}")
    if usage.cache_write_5m_tokens:
        parts.append(f"cache write 5m {usage.cache_write_5m_tokens:,}")
    if usage.cache_write_1h_tokens:
        parts.append(f"cache write 1h {usage.cache_write_1h_tokens:,}")
    if usage.cache_read_tokens:
        parts.append(f"cache read {usage.cache_read_tokens:,}")
    if usage.web_search_requests:
        parts.append(f"web searches {usage.web_search_requests:,}")
    return ", ".join(parts)


def _by_member(invoice: Invoice) -> list[SeatFeeLine | UsageLine]:
    """Every line, member by member (in the order of ``by_member``), seat fees first."""
    lines: dict[str, list[SeatFeeLine | UsageLine]] = {}
    every: list[SeatFeeLine | UsageLine] = [*invoice.seat_lines, *invoice.usage_lines]
    for line in every:
        lines.setdefault(line.user_id, []).append(line)
    return [line for subtotal in invoice.by_member for line in lines[subtotal.key]]


def _report(invoice: Invoice) -> Report:
    period = invoice.period
    amount = Column("amount", invoice.currency, Kind.AMOUNT)
    total_due = f"Total due ({invoice.currency})"

    def subtotals(title: str, key: str, items: tuple[Subtotal, ...]) -> Table:
        return Table(title, (Column(key, ""), amount), [(s.key, s.amount) for s in items])

    lines = _by_member(invoice)
    described = {id(line): line.description for line in lines}  # each line described once
    return Report(
        "invoice",
        "Invoice",
        invoice.organization,
        header=(
            Field("Organization", invoice.organization),
            Field(
                "Period",
                f"{period.label}: {period.start:%Y-%m-%d %H:%M %Z} to "
                f"{period.end:%Y-%m-%d %H:%M %Z} ({period.timezone}), billed in arrears",
            ),
            Field("Price table", invoice.price_table),
            Field(
                "Events",
                f"{invoice.events:,} billed, {invoice.duplicates:,} duplicates ignored, "
                f"{invoice.excluded:,} outside the period",
            ),
            Field(
                "Lines",
                f"{counted(len(invoice.by_member), 'user')}, "
                f"{counted(invoice.line_count(), 'line')}",
            ),
            Field("Content hash", invoice.content_hash),
        ),
        sections=(
            Table(
                "Summary",
                (Column("item", ""), amount),
                [("Seat fees", invoice.seat_fees), ("Usage", invoice.usage_total)],
                totals=[(total_due, invoice.total)],
            ),
            subtotals("By seat type", "seat_type", invoice.by_seat_type),
            subtotals("By model", "model", invoice.by_model),
            subtotals("By product", "product", invoice.by_product),
            subtotals("By user", "user_id", invoice.by_member),
            Table(
                "Lines",
                (
                    Column("user_id", "User", group=True),
                    Column("description", "Line"),
                    Column("detail", "Detail", under=True),
                    amount,
                ),
                [
                    (
                        line.user_id,
                        described[id(line)],
                        _usage_detail(line)
                        if isinstance(line, UsageLine)
                        else f"{line.seconds:,} s",
                        line.amount,
                    )
                    for line in lines
                ],
            ),
        ),
        bottom_line=Field(total_due, shown_amount(invoice.total)),
        data=Table(
            "Lines",
            _LINE_COLUMNS,
            [_seat_row(line, described[id(line)]) for line in invoice.seat_lines]
            + [_usage_row(line, described[id(line)]) for line in invoice.usage_lines],
        ),
    )
