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
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from usagebill import reports, serde
from usagebill.accounts.organization import Organization
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.errors import ConflictError, InvalidValueError
from usagebill.events import UsageEvent
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
    "price_cube",
]

_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))
"""Modifiers by their bits: a tuple index is cheaper than a call per event."""
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


class InvoiceBuilder(CubeBuilder):
    """Sums usage events into an invoice, one pass, any order; parts merge exactly.

    An accumulator (like :mod:`hashlib`'s): :meth:`add` events, :meth:`merge`
    builders of other parts of the same month, then :meth:`finish`. It is the
    pure-Python engine (:class:`~usagebill.billing.engines.python.CubeBuilder`)
    that also prices what it summed; :meth:`cube` gives the usage cube itself.
    ``outside="reject"`` makes an event outside the period an error instead of
    a count; ``dedupe=False`` skips the memory of event ids, for sources that
    already guarantee each event once.
    """

    def finish(self) -> Invoice:
        """The invoice of everything added so far (a ConflictError if ids conflict)."""
        return price_cube(self.cube(), self.org, self.prices)


def price_cube(
    cube: UsageCube,
    org: Organization,
    prices: PriceTable | None = None,
    *,
    conflicts: Literal["raise", "set_aside"] = "raise",
) -> Invoice:
    """The invoice of a usage cube: each bucket priced exactly, seat fees prorated, totals.

    Whatever engine made the cube, the same cube gives the same invoice, byte
    for byte. Ids that conflict (see :mod:`usagebill.billing.cube`) are a
    :class:`~usagebill.errors.ConflictError` naming them, unless
    ``conflicts="set_aside"``: then the invoice bills the rest, and the ids stay
    listed on the cube for someone to settle.
    """
    prices = prices if prices is not None else PriceTable.builtin()
    if conflicts not in ("raise", "set_aside"):
        raise InvalidValueError("conflicts", conflicts, "must be 'raise' or 'set_aside'")
    if (cube.organization, cube.price_table) != (org.name, prices.version):
        raise InvalidValueError(
            "cube",
            (cube.organization, cube.price_table),
            f"must be a cube of organization {org.name!r} made with prices {prices.version!r}",
        )
    if prices.currency != org.currency:
        raise InvalidValueError(
            "prices", prices.version, f"must be in {org.currency} like the organization"
        )
    if cube.conflicts and conflicts == "raise":
        ids = sorted(cube.conflicts)
        raise ConflictError(
            "event_id",
            ids[:10],
            f"({len(ids)} ids, {cube.conflicting} events) was seen with different contents: "
            "none of their versions is billed until the source is corrected",
        )
    starts: dict[tuple[str, int], str] = {}  # each price's start, as the order compares it
    for key in cube.buckets:
        if (key.model, key.price_version) not in starts:
            start = prices.models[key.model].prices[key.price_version].effective_from
            starts[key.model, key.price_version] = start.isoformat() if start else ""
    order = sorted(cube.buckets, key=lambda key: _usage_order(key, starts))
    usage_lines = [
        _usage_line(prices, org.currency, org.failure_policy, key, cube.buckets[key])
        for key in order
    ]
    seat_lines = _seat_lines(org, cube.period)
    return _assemble(org, cube, prices, seat_lines, usage_lines)


def _usage_line(
    prices: PriceTable,
    currency: str,
    failure_policy: FailurePolicy,
    key: UsageKey,
    counts: UsageCounts,
) -> UsageLine:
    price: ModelPrice = prices.models[key.model].prices[key.price_version]
    modifiers = _MODIFIERS[key.modifiers]
    usage = TokenUsage(*counts[1:])
    compiled = price.compiled(modifiers, key.in_tier)
    exact = unchecked_money(compiled.amount(usage), currency)
    return UsageLine(
        user_id=key.user_id,
        seat_type=key.seat_type,
        model=key.model,
        product=key.product,
        modifiers=modifiers,
        in_tier=key.in_tier,
        price_from=price.effective_from,
        requests=counts.requests,
        usage=usage,
        rates=compiled.rates,
        web_search_per_1k=price.web_search_per_1k,
        exact=exact,
        amount=exact.rounded(),
        failure_policy=failure_policy if key.failed else None,
    )


def _usage_order(key: UsageKey, starts: Mapping[tuple[str, int], str]) -> tuple[Any, ...]:
    """Lines by user, model, product, price start, tier, modifiers, failed, seat type."""
    bits = key.modifiers
    return (
        key.user_id,
        key.model,
        key.product.value,
        starts[key.model, key.price_version],
        key.in_tier,
        (bool(bits & 1), bool(bits & 2), bool(bits & 4)),
        key.failed,
        key.seat_type,
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
    org: Organization,
    cube: UsageCube,
    prices: PriceTable,
    seat_lines: list[SeatFeeLine],
    usage_lines: list[UsageLine],
) -> Invoice:
    currency = org.currency
    seat_fees = Money.sum((line.amount for line in seat_lines), currency)
    usage_total = Money.sum((line.amount for line in usage_lines), currency)
    lines: list[SeatFeeLine | UsageLine] = [*seat_lines, *usage_lines]
    exact = Money.sum((line.exact for line in lines), currency)
    invoice = Invoice(
        organization=org.name,
        period=cube.period,
        currency=currency,
        price_table=prices.version,
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
        events=cube.events,
        duplicates=cube.duplicates,
        excluded=cube.excluded,
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

    Pure: the same arguments give the same invoice, byte for byte in JSON. When an
    id conflicts, a list (any iterable but an iterator) is read a second time to
    take its first version back out, and the ids are a ConflictError.
    """
    builder = InvoiceBuilder(org, period, prices, outside=outside).add_all(events)
    if builder.pending and not isinstance(events, Iterator):
        builder.resolve(events)
    return builder.finish()


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
