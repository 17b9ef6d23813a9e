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
"""

from __future__ import annotations

import decimal
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from usagebill.accounts.organization import Organization
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.errors import ConflictError, InvalidValueError
from usagebill.events import UsageEvent
from usagebill.money import EXACT, ROUNDING, Money, unchecked_money
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import ModelPrice, PriceTable, Rates
from usagebill.usage import Modifiers, Product, TokenUsage

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
    """One user's usage of one model and product, at one price version, tier and modifiers."""

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

    @property
    def description(self) -> str:
        """The model, product and anything that changed the price, in words."""
        notes = [name for name, on in attrs.asdict(self.modifiers).items() if on]
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

    # Renderers live in usagebill.reports.render and serde; these are shortcuts to them.

    def to_json(self, *, indent: int | None = None) -> str:
        """Deterministic JSON (same invoice, same bytes); :meth:`from_json` reads it back."""
        from usagebill.serde import to_json  # noqa: PLC0415

        return to_json(self, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Invoice:
        """Read an invoice written by :meth:`to_json`."""
        from usagebill.serde import from_json  # noqa: PLC0415

        return from_json(text, cls, source="invoice JSON")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per line, ready for ``pandas.DataFrame``."""
        from usagebill.reports.render import to_records  # noqa: PLC0415

        return to_records(self)

    def to_text(self) -> str:
        """A plain-text invoice."""
        from usagebill.reports.render import to_text  # noqa: PLC0415

        return to_text(self)

    def to_markdown(self) -> str:
        """The invoice as Markdown."""
        from usagebill.reports.render import to_markdown  # noqa: PLC0415

        return to_markdown(self)

    def to_csv(self) -> str:
        """One CSV row per line, safe against spreadsheet formula injection."""
        from usagebill.reports.render import to_csv  # noqa: PLC0415

        return to_csv(self)

    def _repr_html_(self) -> str:
        from usagebill.reports.render import to_html  # noqa: PLC0415

        return to_html(self)


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
    usage_lines = [_usage_line(prices, org.currency, key, cube.buckets[key]) for key in order]
    seat_lines = _seat_lines(org, cube.period)
    return _assemble(org, cube, prices, seat_lines, usage_lines)


def _usage_line(prices: PriceTable, currency: str, key: UsageKey, counts: UsageCounts) -> UsageLine:
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
    )


def _usage_order(key: UsageKey, starts: Mapping[tuple[str, int], str]) -> tuple[Any, ...]:
    """Lines by user, model, product, price start, tier, modifiers (batch, US-only, fast), seat."""
    bits = key.modifiers
    return (
        key.user_id,
        key.model,
        key.product.value,
        starts[key.model, key.price_version],
        key.in_tier,
        (bool(bits & 1), bool(bits & 2), bool(bits & 4)),
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
    from usagebill.serde import to_json  # noqa: PLC0415  (serde sits above invoices)

    text = to_json(attrs.evolve(invoice, content_hash=""))
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
