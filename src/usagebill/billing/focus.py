"""The FOCUS 1.2 export: an invoice as the cost and usage rows that FinOps tools read.

FOCUS (the FinOps Open Cost and Usage Specification) wants one row per charge
and period of use. The usage cube has no days, so the daily rows come from an
engine-independent breakdown: :class:`DailyUsage` sums the same events with
the pure engine, one cube per local day of the organization, and the export
checks that the days add up, bucket by bucket, to the invoice's lines — so
the rows can only describe what the invoice bills.

* **Usage rows**: one per user × model × token category × day (finer where the
  price differs: product, seat type, price version, tier, modifiers, failed
  requests). ``ConsumedQuantity`` is the tokens (or web searches);
  ``PricingQuantity`` the same in the price list's unit (``1000000 Tokens``,
  ``1000 Requests``); ``ListCost`` = ``ContractedCost`` = quantity × unit price,
  exactly.
* **Purchase rows**: one per seat (or add-on) line, for the part of the period
  held (``ChargeFrequency`` Recurring, ``PricingUnit`` Seat-Months).
* **BilledCost sums to the invoice total, under every rounding policy**: each
  invoice line's shown amount is spread over its rows by largest remainder
  (:func:`usagebill.rounding.spread`), so the rows of a line add up to the line
  and the rows of the invoice to its total. ``EffectiveCost`` equals it (no
  commitments to amortize).

Dates are UTC, ``YYYY-MM-DDTHH:mm:ssZ``, periods start inclusive and end
exclusive; blank cells are nulls; our own columns start with ``x_`` and come
after the specification's.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs

from usagebill import reports
from usagebill.accounts.organization import Organization
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.billing.engines.python import CubeBuilder
from usagebill.billing.invoice import Invoice
from usagebill.billing.lines import SeatFeeLine, UsageLine
from usagebill.errors import InvalidValueError
from usagebill.events import UsageEvent
from usagebill.money import EXACT
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import PriceTable
from usagebill.reports import Column, Kind, Table
from usagebill.rounding import spread
from usagebill.usage import TokenUsage

__all__ = ["FOCUS_COLUMNS", "DailyUsage", "focus_table", "to_focus_csv"]

PUBLISHER: Final = "Anthropic"
"""Who publishes the models the usage ran on."""
_FOCUS: Final = (
    ("BilledCost", Kind.AMOUNT),
    ("BillingAccountId", Kind.TEXT),
    ("BillingAccountName", Kind.TEXT),
    ("BillingCurrency", Kind.TEXT),
    ("BillingPeriodEnd", Kind.TEXT),
    ("BillingPeriodStart", Kind.TEXT),
    ("ChargeCategory", Kind.TEXT),
    ("ChargeClass", Kind.TEXT),
    ("ChargeDescription", Kind.TEXT),
    ("ChargeFrequency", Kind.TEXT),
    ("ChargePeriodEnd", Kind.TEXT),
    ("ChargePeriodStart", Kind.TEXT),
    ("ConsumedQuantity", Kind.COUNT),
    ("ConsumedUnit", Kind.TEXT),
    ("ContractedCost", Kind.EXACT),
    ("ContractedUnitPrice", Kind.EXACT),
    ("EffectiveCost", Kind.AMOUNT),
    ("InvoiceId", Kind.TEXT),
    ("InvoiceIssuerName", Kind.TEXT),
    ("ListCost", Kind.EXACT),
    ("ListUnitPrice", Kind.EXACT),
    ("PricingQuantity", Kind.EXACT),
    ("PricingUnit", Kind.TEXT),
    ("ProviderName", Kind.TEXT),
    ("PublisherName", Kind.TEXT),
    ("ServiceCategory", Kind.TEXT),
    ("ServiceName", Kind.TEXT),
    ("ServiceSubcategory", Kind.TEXT),
    ("SkuId", Kind.TEXT),
    ("SkuMeter", Kind.TEXT),
    ("SkuPriceId", Kind.TEXT),
    ("x_UserId", Kind.TEXT),
    ("x_SeatType", Kind.TEXT),
    ("x_Product", Kind.TEXT),
    ("x_TokenCategory", Kind.TEXT),
    ("x_PriceVersion", Kind.COUNT),
    ("x_Modifiers", Kind.TEXT),
    ("x_LongContext", Kind.FLAG),
    ("x_FailedRequests", Kind.FLAG),
)
FOCUS_COLUMNS: Final = tuple(Column(key, kind=kind) for key, kind in _FOCUS)
"""The export's columns: FOCUS 1.2's (alphabetical), then ours (``x_``)."""
_METERS: Final = {
    "input": ("Input Tokens", "Tokens", "1000000 Tokens"),
    "output": ("Output Tokens", "Tokens", "1000000 Tokens"),
    "cache write 5m": ("Cache Write (5 Minutes) Tokens", "Tokens", "1000000 Tokens"),
    "cache write 1h": ("Cache Write (1 Hour) Tokens", "Tokens", "1000000 Tokens"),
    "cache read": ("Cache Read Tokens", "Tokens", "1000000 Tokens"),
    "web search": ("Web Search Requests", "Requests", "1000 Requests"),
}
_DIGITS: Final = {1_000_000: 6, 1_000: 3}  # a price per million tokens, per 1,000 searches
_QUANTITY: Final = decimal.Context(prec=80, traps=[decimal.InvalidOperation])


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DailyUsage:
    """The events of a period summed per local day: one usage cube per day (the pure engine).

    ``skip`` are event ids to leave out — the conflicting ids of the invoice's
    cube, none of whose versions is billed. A repeat of an event falls on its
    day (same content, same instant), so each day's engine counts it once.

    A request at 02:00 UTC on 4 October is on the 3rd in New York:

    >>> from usagebill import Member, Money, Product, SeatCatalog
    >>> org = Organization.create(
    ...     "acme", SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
    ...     [Member("ada", "primary_owner", "chat")], at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     timezone="America/New_York")
    >>> late = UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CHAT,
    ...                   TokenUsage(input_tokens=1_000), datetime(2026, 10, 4, 2, tzinfo=UTC))
    >>> days = DailyUsage(org, BillingPeriod.of("2026-10", timezone="America/New_York"))
    >>> [(day.isoformat(), cube.events) for day, cube in days.add_all([late, late]).cubes().items()]
    [('2026-10-03', 1)]
    """

    def __init__(
        self,
        org: Organization,
        period: BillingPeriod,
        prices: PriceTable | None = None,
        *,
        skip: Iterable[str] = (),
    ) -> None:
        self.org, self.period = org, period
        self.prices = prices if prices is not None else PriceTable.builtin()
        self._zone = zone(period.timezone)
        self._skip = frozenset(skip)
        self._days: dict[date, CubeBuilder] = {}

    def _builder(self, at: datetime) -> CubeBuilder:
        day = at.astimezone(self._zone).date()
        builder = self._days.get(day)
        if builder is None:
            builder = self._days[day] = CubeBuilder(self.org, self.period, self.prices)
        return builder

    def add(self, event: UsageEvent) -> None:
        """Count one event on its day."""
        if event.event_id not in self._skip:
            self._builder(event.at).add(event)

    def add_all(self, events: Iterable[UsageEvent]) -> DailyUsage:
        """Count every event; returns the breakdown."""
        for event in events:
            self.add(event)
        return self

    def add_record(self, data: Mapping[str, Any]) -> None:
        """Count one event given as its JSON dict."""
        self.add(UsageEvent.from_dict(data))

    def cubes(self) -> dict[date, UsageCube]:
        """Each day's cube, by day."""
        return {day: builder.cube() for day, builder in sorted(self._days.items())}


def _key(line: UsageLine) -> UsageKey:
    return UsageKey(
        line.user_id,
        line.seat_type,
        line.model,
        line.product,
        line.price_version,
        line.in_tier,
        line.modifiers.bits,
        line.failure_policy is not None,
    )


def focus_table(invoice: Invoice, days: Mapping[date, UsageCube]) -> Table:
    """The FOCUS rows of ``invoice``, its usage split by the ``days`` of :class:`DailyUsage`.

    The days must add up, bucket by bucket, to the invoice's usage lines (the
    same events, the same organization and prices): anything else is an
    :class:`~usagebill.errors.InvalidValueError`.
    """
    lines = {_key(line): line for line in invoice.usage_lines}
    per_line: dict[UsageKey, list[tuple[date, UsageCounts]]] = defaultdict(list)
    for day, cube in sorted(days.items()):
        for key, counts in cube.buckets.items():
            if key in lines:
                per_line[key].append((day, counts))
    for key, line in lines.items():
        found = [counts for _, counts in per_line.get(key, [])]
        total = sum(found[1:], found[0]) if found else None
        if total is None or (total.requests, TokenUsage(*total[1:])) != (line.requests, line.usage):
            raise InvalidValueError(
                "days",
                f"{line.user_id}, {line.model}, {line.product.value}",
                "must add up to the invoice's line: the daily breakdown must be made of the "
                "events the invoice was made of",
            )
    common = _common(invoice)
    rows: list[reports.Row] = [_purchase_row(common, invoice, line) for line in invoice.seat_lines]
    for key, line in lines.items():
        rows += _usage_rows(common, invoice, line, per_line[key])
    return Table("FOCUS", FOCUS_COLUMNS, rows)


def _common(invoice: Invoice) -> dict[str, Any]:
    seller = invoice.seller.legal_name if invoice.seller is not None else invoice.organization
    return {
        "BillingAccountId": invoice.organization,
        "BillingAccountName": invoice.bill_to.legal_name,
        "BillingCurrency": invoice.currency,
        "BillingPeriodEnd": _utc(invoice.period.end),
        "BillingPeriodStart": _utc(invoice.period.start),
        "ChargeClass": None,
        "InvoiceId": invoice.number,
        "InvoiceIssuerName": seller,
        "ProviderName": seller,
        "PublisherName": PUBLISHER,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "Claude Enterprise",
        "ServiceSubcategory": "Generative AI",
    }


def _row(values: Mapping[str, Any]) -> reports.Row:
    return tuple(values.get(column.key) for column in FOCUS_COLUMNS)


def _purchase_row(common: Mapping[str, Any], invoice: Invoice, line: SeatFeeLine) -> reports.Row:
    fraction = _QUANTITY.divide(Decimal(line.seconds), Decimal(invoice.period.seconds))
    fraction = fraction.quantize(Decimal("1e-30"), context=_QUANTITY).normalize(_QUANTITY)
    sku = f"seat:{line.seat_type}" if line.add_on is None else f"add-on:{line.add_on}"
    return _row(
        {
            **common,
            "BilledCost": line.amount,
            "ChargeCategory": "Purchase",
            "ChargeDescription": f"{line.title} ({line.user_id})",
            "ChargeFrequency": "Recurring",
            "ChargePeriodEnd": _utc(line.end),
            "ChargePeriodStart": _utc(line.start),
            "ContractedCost": line.exact,
            "ContractedUnitPrice": line.monthly_fee,
            "EffectiveCost": line.amount,
            "ListCost": line.exact,
            "ListUnitPrice": line.monthly_fee,
            "PricingQuantity": fraction,
            "PricingUnit": "Seat-Months",
            "SkuId": sku,
            "SkuMeter": "Seat" if line.add_on is None else "Add-on",
            "SkuPriceId": f"{sku}:monthly",
            "x_UserId": line.user_id,
            "x_SeatType": line.seat_type,
        }
    )


def _usage_rows(
    common: Mapping[str, Any],
    invoice: Invoice,
    line: UsageLine,
    days: list[tuple[date, UsageCounts]],
) -> list[reports.Row]:
    local = zone(invoice.period.timezone)
    parts: list[tuple[date, Any]] = []
    for day, counts in days:
        daily = attrs.evolve(line, usage=TokenUsage(*counts[1:]))
        parts += [(day, charge) for charge in daily.charges()]
    billed = spread(line.amount, [charge.amount for _, charge in parts])
    modifiers = "+".join(name for name, on in attrs.asdict(line.modifiers).items() if on)
    version = f"v{line.price_version + 1}"
    rows = []
    for (day, charge), amount in zip(parts, billed, strict=True):
        meter, consumed_unit, pricing_unit = _METERS[charge.category]
        start = datetime.combine(day, time(), local)
        end = datetime.combine(day + timedelta(days=1), time(), local)
        category = charge.category.replace(" ", "_")
        sku = f"{line.model}:{category}"
        price_id = ":".join(
            part
            for part in (sku, version, "long_context" if line.in_tier else "", modifiers)
            if part
        )
        quantity = Decimal(charge.quantity).scaleb(-_DIGITS[charge.per], EXACT)
        rows.append(
            _row(
                {
                    **common,
                    "BilledCost": amount,
                    "ChargeCategory": "Usage",
                    "ChargeDescription": f"{line.title}: {meter.lower()} ({line.user_id})",
                    "ChargeFrequency": "Usage-Based",
                    "ChargePeriodEnd": _utc(max(min(end, invoice.period.end), start)),
                    "ChargePeriodStart": _utc(max(start, invoice.period.start)),
                    "ConsumedQuantity": charge.quantity,
                    "ConsumedUnit": consumed_unit,
                    "ContractedCost": charge.amount,
                    "ContractedUnitPrice": charge.rate,
                    "EffectiveCost": amount,
                    "ListCost": charge.amount,
                    "ListUnitPrice": charge.rate,
                    "PricingQuantity": quantity,
                    "PricingUnit": pricing_unit,
                    "SkuId": sku,
                    "SkuMeter": meter,
                    "SkuPriceId": price_id,
                    "x_UserId": line.user_id,
                    "x_SeatType": line.seat_type,
                    "x_Product": line.product.value,
                    "x_TokenCategory": category,
                    "x_PriceVersion": line.price_version,
                    "x_Modifiers": modifiers or None,
                    "x_LongContext": line.in_tier,
                    "x_FailedRequests": line.failure_policy is not None,
                }
            )
        )
    return rows


def to_focus_csv(invoice: Invoice, days: Mapping[date, UsageCube]) -> str:
    """The FOCUS rows as CSV (blank cells for nulls, plain numbers, UTC dates)."""
    return reports.to_csv(focus_table(invoice, days))
