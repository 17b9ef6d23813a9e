"""The monthly invoice: a numbered, dated document of seat fees plus the period's usage.

How an invoice is made:

* **Usage** is summed, in one pass, into one bucket per user, seat type,
  model, product, price version, context tier and modifiers (a
  :class:`~usagebill.billing.cube.UsageCube`, which any engine can make) —
  memory grows with those combinations, not with events. Rating is linear
  inside a bucket, so each bucket is priced once, exactly, at the end.
* **Seat fees** are prorated to the second from the seat history: a member pays
  each seat type (and add-on) for the fraction of the period they held it.
* **Lines whose exact amount is zero are left out**; the others are rounded
  by the organization's :class:`~usagebill.rounding.RoundingPolicy`, in one
  place (:func:`usagebill.rounding.round_lines`), and every total is the sum
  of the rounded lines under it. The invoice prints the policy and how far
  the rounded total is from the exact one.
* **The document**: a number from the organization's numbering scheme, an
  issue date (given, or by default the day the period ends — never the
  clock), a due date from the payment terms, the seller and bill-to parties,
  the customer's purchase order. The invoice stays a pure function of its
  inputs: the same cube, organization, prices and date give the same bytes.
* **Caps and entitlements**: usage billed above a member's, a seat type's or
  the organization's cap is listed, by how much; usage of a product the
  member's seat did not include at the time is billed as it happened, and
  flagged.
* **Order does not matter**: events in any order, or split into parts built
  separately and merged, give the identical invoice. The same event twice
  counts once; the same id with different content is a conflict.
* **Failed requests** (events marked ``failed``) are billed by the
  organization's :class:`~usagebill.usage.FailurePolicy`, on lines of their own.

The examples of this module bill ada's October on a Chat seat (an example fee of
20.00, not Anthropic's), capped at 1.00 of usage: two requests of 500,000 input
tokens of Claude Sonnet 4.6, at 3.00 USD a million, 1.50 each:

>>> from usagebill import Member, Product, SeatCatalog, SpendLimits
>>> org = Organization.create(
...     "acme", SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("ada", "primary_owner", "chat")], at=datetime(2026, 9, 1, tzinfo=UTC),
...     limits=SpendLimits(members={"ada": Money("1")}))
>>> events = [UsageEvent(f"e{day}", "ada", "claude-sonnet-4-6", Product.CHAT,
...                      TokenUsage(input_tokens=500_000), datetime(2026, 10, day, tzinfo=UTC))
...           for day in (3, 4)]
>>> october = BillingPeriod.of("2026-10")
"""

from __future__ import annotations

import decimal
import hashlib
import json
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from usagebill import reports, serde
from usagebill.accounts.invoicing import Party
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatType
from usagebill.billing.cube import UsageCube, UsageKey
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.billing.lines import SeatFeeLine, Subtotal, UsageLine
from usagebill.errors import ConflictError, InvalidValueError
from usagebill.events import UsageEvent
from usagebill.money import EXACT, ROUNDING, Money, minor_unit, unchecked_money
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import ModelPrice, PriceTable, Rates
from usagebill.reports import (
    Block,
    Column,
    Field,
    Kind,
    Report,
    Table,
    counted,
    shown_amount,
)
from usagebill.rounding import RoundingPolicy, round_lines
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = [
    "CapExcess",
    "Invoice",
    "InvoiceBuilder",
    "SeatFeeLine",
    "Subtotal",
    "UsageLine",
    "build_invoice",
    "default_issue_date",
    "price_cube",
]

_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))
_PRODUCT_NAMES: Final = {product: (product.value, product.display_name) for product in Product}
_MODIFIER_ORDER: Final = tuple(
    (bool(bits & 1), bool(bits & 2), bool(bits & 4)) for bits in range(8)
)
"""Modifier bits as the order of usage lines compares them: batch, US-only, fast."""
"""Modifiers by their bits: a tuple index is cheaper than a call per event."""
# Prorated seat fees rarely terminate (a 31-day month has a factor 31): keep 30 decimals, far
# below the minor unit yet few enough digits that every sum of lines stays exact.
_PRORATION_QUANTUM: Final = Decimal("1e-30")
_PRORATION: Final = decimal.Context(
    prec=80, rounding=ROUNDING, traps=[decimal.InvalidOperation, decimal.DivisionByZero]
)
_SHOWN: Final = decimal.Context(prec=60, traps=[decimal.InvalidOperation])
_CAPS_NOTE: Final = (
    "Caps are enforced when a request is authorized (by the ledger or the gateway); the invoice "
    "bills every event it is given, as it happened. Usage can exceed a cap when events were "
    "recorded outside the ledger, when a cap was lowered during the period below what was "
    "already spent, or when the caps were changed after the period: the caps shown are those "
    "of the organization file this invoice was made with."
)
_ENTITLEMENT_NOTE: Final = (
    "A seat includes some products (Chat: chat, file creation, code execution; Chat + Claude "
    "Code: also Claude Code). Usage of a product the member's seat did not include at the "
    "time is billed as it happened, at the same rates, and listed here for review."
)


@attrs.frozen
class CapExcess:
    """Usage billed above a cap for the period: a member's, a seat type's pool, the organization's.

    ``level`` is ``member``, ``seat_type`` or ``organization``; ``key`` the user
    id, seat type or organization name, ``name`` its name for people;
    ``source`` where the cap comes from (for a member: their individual cap, or
    the default of their seat type or of the organization). ``usage`` is the
    usage billed (the sum of its shown usage lines; seat fees are not capped)
    and ``over`` how much of it is above the cap.

    >>> [excess] = build_invoice(org, events, october).caps_exceeded  # ada's 3.00 of 1.00
    >>> excess.level, excess.key, excess.source, excess.usage, excess.over
    ('member', 'ada', 'individual', Money('3', 'USD'), Money('2', 'USD'))
    """

    level: str
    key: str
    name: str
    cap: Money
    source: str
    usage: Money
    over: Money


@attrs.frozen
class Invoice:
    """A finished monthly invoice: a document with a number, dates, parties and explained lines.

    Every total is the sum of the shown lines under it. ``exact_total`` is the
    unrounded sum, for reconciliation; ``rounding`` the policy that rounded
    the lines; ``caps_exceeded`` the usage billed above a cap (lines of usage a
    seat did not include are flagged on the lines themselves:
    ``UsageLine.included``). ``content_hash`` is the SHA-256 of the invoice's
    JSON form without the hash.

    >>> invoice = build_invoice(org, events, october)
    >>> print(invoice.number, invoice.issued_on, invoice.due_on)
    INV-2026-10 2026-11-01 2026-12-01
    >>> print(invoice.seat_fees, invoice.usage_total, invoice.total)
    20.00 USD 3.00 USD 23.00 USD
    >>> Invoice.from_json(invoice.to_json()) == invoice
    True
    """

    number: str
    issued_on: date
    due_on: date
    terms: str
    seller: Party | None
    bill_to: Party
    purchase_order: str | None
    organization: str
    period: BillingPeriod
    currency: str
    price_table: str
    rounding: RoundingPolicy
    seat_lines: tuple[SeatFeeLine, ...]
    usage_lines: tuple[UsageLine, ...]
    by_member: tuple[Subtotal, ...]
    by_seat_type: tuple[Subtotal, ...]
    by_model: tuple[Subtotal, ...]
    by_product: tuple[Subtotal, ...]
    caps_exceeded: tuple[CapExcess, ...]
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

    @property
    def outside_seat(self) -> tuple[UsageLine, ...]:
        """The usage lines of a product the member's seat did not include at the time."""
        return tuple(line for line in self.usage_lines if not line.included)

    def to_json(self, *, indent: int | None = None) -> str:
        """Deterministic JSON (same invoice, same bytes); :meth:`from_json` reads it back."""
        return serde.to_json(self, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Invoice:
        """Read an invoice written by :meth:`to_json`."""
        return serde.from_json(text, cls, source="invoice JSON", computed=True)

    def to_report(self) -> reports.Report:
        """The invoice as a report: the document, summary, caps, subtotals, every line explained.

        The data (CSV, records) has one row per line with every column — the
        document's fields first, then the line's; seat-fee rows leave the usage
        columns blank and the reverse — with ``amount`` rounded as shown and
        ``exact`` unrounded.
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

    def to_html(self, *, paper: Literal["A4", "Letter"] = "A4") -> str:
        """The invoice as one self-contained, print-ready HTML page (A4 or US Letter).

        The same content as :meth:`to_text`; each member's lines start on a new
        page when the invoice has more than 40 lines.
        """
        return reports.to_html_page(self.to_report(), paper=paper)

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

    Two parts that both counted ``e3`` bill it once, as a duplicate, once a
    second pass has taken the extra count back out:

    >>> first = InvoiceBuilder(org, october).add_all(events[:1])
    >>> merged = first.merge(InvoiceBuilder(org, october).add_all(events))
    >>> sorted(merged.pending)
    ['e3']
    >>> invoice = merged.resolve(events).finish()
    >>> print(invoice.events, invoice.duplicates, invoice.total)
    2 1 23.00 USD
    """

    def finish(
        self, *, issued_on: date | None = None, purchase_order: str | None = None
    ) -> Invoice:
        """The invoice of everything added so far (a ConflictError if ids conflict).

        ``issued_on`` and ``purchase_order`` as :func:`price_cube` takes them.
        """
        return price_cube(
            self.cube(), self.org, self.prices, issued_on=issued_on, purchase_order=purchase_order
        )


def default_issue_date(period: BillingPeriod) -> date:
    """The day an invoice of ``period`` is issued unless told: the day the period ends.

    Billed in arrears, an invoice can be issued once its period is over: on the
    local date of the period's end (``2026-11-01`` for October). A date derived
    from the period, not read from a clock, keeps the invoice a pure function of
    its inputs.

    >>> default_issue_date(BillingPeriod.of("2026-10", timezone="America/New_York"))
    datetime.date(2026, 11, 1)
    """
    return period.end.date()


def price_cube(
    cube: UsageCube,
    org: Organization,
    prices: PriceTable | None = None,
    *,
    conflicts: Literal["raise", "set_aside"] = "raise",
    issued_on: date | None = None,
    purchase_order: str | None = None,
) -> Invoice:
    """The invoice of a usage cube: each bucket priced exactly, seat fees prorated, totals.

    Whatever engine made the cube, the same cube gives the same invoice, byte
    for byte. Ids that conflict (see :mod:`usagebill.billing.cube`) are a
    :class:`~usagebill.errors.ConflictError` naming them, unless
    ``conflicts="set_aside"``: then the invoice bills the rest, and the ids stay
    listed on the cube for someone to settle.

    ``issued_on`` dates the invoice (by default :func:`default_issue_date`: the
    day the period ends; never earlier); the due date follows from the
    organization's payment terms. ``purchase_order`` overrides the one of the
    organization file.
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
    document = _document(org, cube.period, issued_on, purchase_order)
    starts: dict[tuple[str, int], str] = {}  # each price's start, as the order compares it
    for key in cube.buckets:
        if (key.model, key.price_version) not in starts:
            start = prices.models[key.model].prices[key.price_version].effective_from
            starts[key.model, key.price_version] = start.isoformat() if start else ""
    order = sorted(cube.buckets, key=lambda key: _usage_order(key, starts))
    usage_fields = _usage_fields(prices, org, cube, order)
    seat_lines = _seat_lines(org, cube.period)
    return _assemble(org, cube, prices, document, seat_lines, usage_fields)


def _document(
    org: Organization, period: BillingPeriod, issued_on: date | None, purchase_order: str | None
) -> dict[str, Any]:
    """The document's fields: number, dates, terms, parties, purchase order."""
    settings = org.invoicing
    earliest = default_issue_date(period)
    given: object = issued_on  # checked: callers may pass anything
    if issued_on is None:
        issued_on = earliest
    elif not isinstance(given, date) or isinstance(given, datetime):
        raise InvalidValueError("issued_on", issued_on, "must be a date")
    elif issued_on < earliest:
        raise InvalidValueError(
            "issued_on",
            issued_on.isoformat(),
            f"must not be before {earliest.isoformat()}: the period is billed in arrears, once "
            "it has ended",
        )
    order: object = purchase_order
    if order is not None and (not isinstance(order, str) or not order):
        raise InvalidValueError("purchase_order", purchase_order, "must be a non-empty string")
    try:
        due_on = issued_on + timedelta(days=settings.net_days)
    except OverflowError:  # 9999-12-31 plus 30 days
        raise InvalidValueError(
            "issued_on",
            issued_on.isoformat(),
            f"must leave room for the due date {settings.net_days} days later, before year 10000",
        ) from None
    return {
        "number": settings.numbering.number(period),
        "issued_on": issued_on,
        "due_on": due_on,
        "terms": settings.terms,
        "seller": settings.seller,
        "bill_to": settings.bill_to or Party(org.name),
        "purchase_order": purchase_order or settings.purchase_order,
    }


def _usage_fields(
    prices: PriceTable,
    org: Organization,
    cube: UsageCube,
    order: Sequence[UsageKey],
) -> list[list[Any]]:
    """Each bucket's usage line as its field values in order (``amount``: the exact amount).

    Lists, not lines: a line is made once, when its rounded amount is known.
    Everything but the counts is looked up once per model, price, modifiers and
    seat type.
    """
    currency = org.currency
    failure_policy = org.failure_policy
    shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    seats: dict[str, tuple[str, SeatType]] = {}
    fields = []
    for key in order:
        counts = cube.buckets[key]
        found = shared.get((key.model, key.price_version, key.modifiers, key.in_tier))
        if found is None:
            listing = prices.models[key.model]
            price: ModelPrice = listing.prices[key.price_version]
            modifiers = _MODIFIERS[key.modifiers]
            compiled = price.compiled(modifiers, key.in_tier)
            found = shared[key.model, key.price_version, key.modifiers, key.in_tier] = (
                modifiers,
                price.effective_from,
                compiled,
                price.web_search_per_1k,
                listing.display_name or key.model,
            )
        modifiers, price_from, compiled, web_search, model_name = found
        seat_found = seats.get(key.seat_type)
        if seat_found is None:
            seat = org.catalog.get(key.seat_type)
            seat_found = seats[key.seat_type] = (seat.display_name or key.seat_type, seat)
        seat_name, seat = seat_found
        usage = TokenUsage(*counts[1:])
        exact = unchecked_money(compiled.amount(usage), currency)
        fields.append(
            [
                key.user_id,
                key.seat_type,
                key.model,
                key.product,
                modifiers,
                key.in_tier,
                price_from,
                counts.requests,
                usage,
                compiled.rates,
                web_search,
                exact,
                exact,  # amount: rounded with the other lines, by the organization's policy
                failure_policy if key.failed else None,
                model_name,
                seat_name,
                key.price_version,
                seat.includes_product(key.product),
            ]
        )
    return fields


_EXACT: Final = 11
_AMOUNT: Final = 12
"""Positions of ``exact`` and ``amount`` among a usage line's fields (:func:`_usage_fields`)."""


def _usage_order(key: UsageKey, starts: Mapping[tuple[str, int], str]) -> tuple[Any, ...]:
    """Lines by user, model, product, price start, tier, modifiers, failed, seat type."""
    return (
        key.user_id,
        key.model,
        key.product,  # a StrEnum: it sorts as its value
        starts[key.model, key.price_version],
        key.in_tier,
        _MODIFIER_ORDER[key.modifiers],
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
            fees: list[tuple[str | None, str | None, Money]] = [(None, None, seat.monthly_fee)]
            fees += [
                (name, seat.add_ons[name].display_name or name, seat.add_ons[name].monthly_fee)
                for name in sorted(change.add_ons)
            ]
            for add_on, add_on_name, fee in fees:
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
                        exact,  # rounded with the other lines, by the organization's policy
                        seat.display_name or change.seat_type,
                        add_on_name,
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


def _total(amounts: Iterable[Money], currency: str) -> Money:
    return Money.sum(amounts, currency)


def _subtotals(
    lines: Sequence[SeatFeeLine | UsageLine],
    key: Any,  # noqa: ANN401  (a function of a line: its user, seat type, model or product)
    currency: str,
    *,
    split: bool,
) -> tuple[Subtotal, ...]:
    """Per key: the sum of the shown lines, with their seat fees and usage apart when ``split``."""
    names: dict[str, str] = {}
    fees: dict[str, Decimal] = defaultdict(Decimal)
    usage: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        found, name = key(line)
        names.setdefault(found, name)
        into = fees if isinstance(line, SeatFeeLine) else usage
        into[found] = EXACT.add(into[found], line.amount.amount)  # never the caller's context
    subtotals = []
    for found in sorted(names):
        seat_fees = unchecked_money(fees[found], currency)
        used = unchecked_money(usage[found], currency)
        subtotals.append(
            Subtotal(
                found,
                seat_fees + used,
                names[found],
                seat_fees if split else None,
                used if split else None,
            )
        )
    return tuple(subtotals)


def _assemble(  # noqa: PLR0917  (the parts of an invoice, each made by its own function)
    org: Organization,
    cube: UsageCube,
    prices: PriceTable,
    document: Mapping[str, Any],
    seat_lines: list[SeatFeeLine],
    usage_fields: list[list[Any]],
) -> Invoice:
    currency = org.currency
    policy = org.invoicing.rounding
    # A line whose exact amount is zero bills nothing and is left out; the rest are rounded
    # together, by the one function that applies each policy.
    kept_seats = [line for line in seat_lines if line.exact]
    kept_usage = [fields for fields in usage_fields if fields[_EXACT]]
    rounded = round_lines(
        [line.exact for line in kept_seats] + [fields[_EXACT] for fields in kept_usage],
        policy,
        currency,
    )
    seats = [
        attrs.evolve(line, amount=amount)
        for line, amount in zip(kept_seats, rounded[: len(kept_seats)], strict=True)
    ]
    usages = []
    for fields, amount in zip(kept_usage, rounded[len(kept_seats) :], strict=True):
        fields[_AMOUNT] = amount
        usages.append(UsageLine(*fields))
    lines: list[SeatFeeLine | UsageLine] = [*seats, *usages]
    seat_fees = _total((line.amount for line in seats), currency)
    usage_total = _total((line.amount for line in usages), currency)
    invoice = Invoice(
        **document,
        organization=org.name,
        period=cube.period,
        currency=currency,
        price_table=prices.version,
        rounding=policy,
        seat_lines=tuple(seats),
        usage_lines=tuple(usages),
        by_member=_subtotals(
            lines, lambda line: (line.user_id, line.user_id), currency, split=True
        ),
        by_seat_type=_subtotals(
            lines, lambda line: (line.seat_type, line.seat_name), currency, split=True
        ),
        by_model=_subtotals(
            usages, lambda line: (line.model, line.model_name), currency, split=False
        ),
        by_product=_subtotals(
            usages,
            lambda line: _PRODUCT_NAMES[line.product],
            currency,
            split=False,
        ),
        caps_exceeded=_caps_exceeded(org, seats, usages, currency),
        seat_fees=seat_fees,
        usage_total=usage_total,
        total=seat_fees + usage_total,
        exact_total=_total((line.exact for line in lines), currency),
        events=cube.events,
        duplicates=cube.duplicates,
        excluded=cube.excluded,
    )
    return attrs.evolve(invoice, content_hash=content_hash(invoice))


def _caps_exceeded(
    org: Organization, seats: list[SeatFeeLine], usages: list[UsageLine], currency: str
) -> tuple[CapExcess, ...]:
    """Every member, seat type pool and the organization billed more usage than its cap.

    A member's cap is their effective limit for the seat they held last in the
    period (their last seat line); usage counts toward the seat type held when
    it was made, as the live decision counts it.
    """
    limits = org.limits
    by_member: dict[str, Decimal] = defaultdict(Decimal)
    by_seat_type: dict[str, Decimal] = defaultdict(Decimal)
    names: dict[str, str] = {}
    for line in usages:
        by_member[line.user_id] = EXACT.add(by_member[line.user_id], line.amount.amount)
        by_seat_type[line.seat_type] = EXACT.add(by_seat_type[line.seat_type], line.amount.amount)
        names[line.seat_type] = line.seat_name
    last_seat = {line.user_id: line.seat_type for line in seats if line.add_on is None}
    found = []
    for user_id in sorted(by_member):
        seat_type = last_seat.get(user_id) or next(
            line.seat_type for line in reversed(usages) if line.user_id == user_id
        )
        cap, source = limits.effective_cap(user_id, seat_type)
        found += _excess(
            level="member",
            key=user_id,
            name=user_id,
            cap=cap,
            source=source.value,
            billed=by_member[user_id],
            currency=currency,
        )
    for seat_type in sorted(by_seat_type):
        pool = limits.seat_type(seat_type).pool_cap
        found += _excess(
            level="seat_type",
            key=seat_type,
            name=names[seat_type],
            cap=pool,
            source="pool cap",
            billed=by_seat_type[seat_type],
            currency=currency,
        )
    total = Decimal(0)
    for amount in by_member.values():
        total = EXACT.add(total, amount)
    found += _excess(
        level="organization",
        key=org.name,
        name=org.name,
        cap=limits.organization.pool_cap,
        source="pool cap",
        billed=total,
        currency=currency,
    )
    return tuple(found)


def _excess(
    *,
    level: str,
    key: str,
    name: str,
    cap: Money | None,
    source: str,
    billed: Decimal,
    currency: str,
) -> list[CapExcess]:
    if cap is None or billed <= cap.amount:
        return []
    usage = unchecked_money(billed, currency)
    return [CapExcess(level, key, name, cap, source.replace("_", " "), usage, usage - cap)]


def content_hash(invoice: Invoice) -> str:
    """SHA-256 of the invoice's deterministic JSON, its own hash left empty.

    The same bytes as ``serde.to_json`` gives, made faster: the usage lines (all
    but a few of a large invoice's) are written by :class:`_UsageLineJSON`.
    """
    text = serde.to_json(attrs.evolve(invoice, content_hash="", usage_lines=()))
    head, tail = text.split(_NO_USAGE_LINES, 1)  # a key: a string value would escape its quotes
    digest = hashlib.sha256(head.encode("utf-8"))
    digest.update(b'"usage_lines": [')
    digest.update(", ".join(map(_UsageLineJSON().text, invoice.usage_lines)).encode("utf-8"))
    digest.update(b"]")
    digest.update(tail.encode("utf-8"))
    return digest.hexdigest()


_NO_USAGE_LINES: Final = '"usage_lines": []'


def _json(value: object) -> str:
    return json.dumps(serde.unstructure(value), ensure_ascii=False, allow_nan=False)


class _UsageLineJSON:
    """Usage lines as ``serde.to_json`` writes them, the parts lines share written once.

    Shared parts are cached by the identity of their values, which the invoice
    keeps alive while it is hashed: values that are equal but written
    differently (``Decimal("1")`` and ``Decimal("1.0")``) never share an entry.
    """

    def __init__(self) -> None:
        self._users: dict[str, str] = {}
        self._keys: dict[tuple[Any, ...], str] = {}
        self._rates: dict[tuple[int, int], str] = {}
        self._currencies: dict[str, str] = {}
        self._names: dict[tuple[Any, ...], str] = {}

    def text(self, line: UsageLine) -> str:
        """The line's JSON, byte for byte ``json.dumps(serde.unstructure(line))``."""
        usage, exact, amount = line.usage, line.exact, line.amount
        counts = (line.requests, *usage.counts)
        if not (
            type(usage) is TokenUsage
            and type(exact) is type(amount) is Money
            and type(exact.amount) is type(amount.amount) is Decimal
            and {type(count) for count in counts} == {int}
        ):
            return _json(line)  # an unusual line (made by hand): the slow way
        user = self._users.get(line.user_id)
        if user is None:
            user = self._users[line.user_id] = "{" + _fields(user_id=line.user_id)
        key = (
            line.seat_type,
            line.model,
            id(line.product),
            id(line.modifiers),
            id(line.in_tier),
            id(line.price_from),
        )
        bucket = self._keys.get(key)
        if bucket is None:
            bucket = self._keys[key] = ", " + _fields(
                seat_type=line.seat_type,
                model=line.model,
                product=line.product,
                modifiers=line.modifiers,
                in_tier=line.in_tier,
                price_from=line.price_from,
            )
        rates_key = (id(line.rates), id(line.web_search_per_1k))
        rates = self._rates.get(rates_key)
        if rates is None:
            rates = self._rates[rates_key] = _fields(
                rates=line.rates, web_search_per_1k=line.web_search_per_1k
            )
        names_key = (
            id(line.failure_policy),
            line.model_name,
            line.seat_name,
            id(line.price_version),
            id(line.included),
        )
        names = self._names.get(names_key)
        if names is None:
            names = self._names[names_key] = _fields(
                failure_policy=line.failure_policy,
                model_name=line.model_name,
                seat_name=line.seat_name,
                price_version=line.price_version,
                included=line.included,
            )
        return "".join(
            (
                user,
                bucket,
                _COUNTS % counts,
                rates,
                ', "exact": {"amount": "',
                str(exact.amount),
                self._currency(exact.currency),
                ', "amount": {"amount": "',
                str(amount.amount),
                self._currency(amount.currency),
                ", ",
                names,
                "}",
            )
        )

    def _currency(self, currency: str) -> str:
        found = self._currencies.get(currency)
        if found is None:
            found = self._currencies[currency] = '", ' + _fields(currency=currency) + "}"
        return found


def _fields(**fields: Any) -> str:  # noqa: ANN401  (any field of a line)
    """``"name": value`` pairs as ``serde.to_json`` writes them inside an object."""
    return ", ".join(f"{_json(name)}: {_json(value)}" for name, value in fields.items())


_COUNTS: Final = (
    ', "requests": %d, "usage": {"input_tokens": %d, "output_tokens": %d, '
    '"cache_write_5m_tokens": %d, "cache_write_1h_tokens": %d, "cache_read_tokens": %d, '
    '"web_search_requests": %d}, '
)


def build_invoice(
    org: Organization,
    events: Iterable[UsageEvent],
    period: BillingPeriod,
    prices: PriceTable | None = None,
    *,
    outside: Outside = "exclude",
    issued_on: date | None = None,
    purchase_order: str | None = None,
) -> Invoice:
    """The invoice of ``period`` for ``org`` from ``events`` (any iterable, any order).

    Pure: the same arguments give the same invoice, byte for byte in JSON. When an
    id conflicts, a list (any iterable but an iterator) is read a second time to
    take its first version back out, and the ids are a ConflictError.
    ``issued_on`` and ``purchase_order`` as :func:`price_cube` takes them.
    """
    builder = InvoiceBuilder(org, period, prices, outside=outside).add_all(events)
    if builder.pending and not isinstance(events, Iterator):
        builder.resolve(events)
    return builder.finish(issued_on=issued_on, purchase_order=purchase_order)


# --- the invoice as a report ----------------------------------------------------------------

_DOCUMENT_COLUMNS: Final = tuple(
    Column(key)
    for key in ("number", "issued_on", "due_on", "terms", "seller", "bill_to", "purchase_order")
)
_TEXT: Final = ("kind", "user_id", "seat_type", "description", "title", "add_on", "start", "end")
_LINE_COLUMNS: Final = (
    *_DOCUMENT_COLUMNS,
    *(Column(key) for key in _TEXT),
    Column("seconds", kind=Kind.COUNT),
    Column("monthly_fee", kind=Kind.EXACT),
    *(Column(key) for key in ("model", "product", "modifiers")),
    Column("long_context", kind=Kind.FLAG),
    Column("price_version", kind=Kind.COUNT),
    Column("price_from"),
    Column("included", kind=Kind.FLAG),
    Column("requests", kind=Kind.COUNT),
    *(Column(field.name, kind=Kind.COUNT) for field in attrs.fields(TokenUsage)),
    *(Column(f"{field.name}_rate", kind=Kind.EXACT) for field in attrs.fields(Rates)),
    Column("web_search_per_1k", kind=Kind.EXACT),
    Column("exact", kind=Kind.EXACT),
    Column("amount", kind=Kind.AMOUNT),
    Column("currency"),
    Column("seat_name"),
    Column("add_on_name"),
    Column("model_name"),
)
"""Every column of an invoice line, in the order of its CSV and records."""
_USAGE_BLANK: Final = (None,) * 20  # model … web_search_per_1k: blank on a seat-fee row
_SEAT_BLANK: Final = (None,) * 4  # add_on, start, end, seconds
_FEE_BLANK: Final = (None,)  # monthly_fee


_TOKENS: Final = operator.attrgetter(*(field.name for field in attrs.fields(TokenUsage)))
_RATES: Final = operator.attrgetter(*(field.name for field in attrs.fields(Rates)))
_FLAGS: Final = tuple(field.name for field in attrs.fields(Modifiers))


def _document_cells(invoice: Invoice) -> reports.Row:
    return (
        invoice.number,
        invoice.issued_on.isoformat(),
        invoice.due_on.isoformat(),
        invoice.terms,
        None if invoice.seller is None else invoice.seller.legal_name,
        invoice.bill_to.legal_name,
        invoice.purchase_order,
    )


def _seat_row(document: reports.Row, line: SeatFeeLine) -> reports.Row:
    kind = "seat_fee" if line.add_on is None else "add_on"
    return (
        *document,
        kind,
        line.user_id,
        line.seat_type,
        line.description,
        line.title,
        line.add_on,
        line.start.isoformat(),
        line.end.isoformat(),
        line.seconds,
        line.monthly_fee,
        *_USAGE_BLANK,
        line.exact,
        line.amount,
        line.amount.currency,
        line.seat_name,
        line.add_on_name,
        None,
    )


def _usage_row(document: reports.Row, line: UsageLine) -> reports.Row:
    modifiers = line.modifiers
    return (
        *document,
        "usage",
        line.user_id,
        line.seat_type,
        line.description,
        line.title,
        *_SEAT_BLANK,
        *_FEE_BLANK,
        line.model,
        line.product.value,
        "+".join(name for name in _FLAGS if getattr(modifiers, name)),
        line.in_tier,
        line.price_version,
        None if line.price_from is None else line.price_from.isoformat(),
        line.included,
        line.requests,
        *_TOKENS(line.usage),
        *_RATES(line.rates),
        line.web_search_per_1k,
        line.exact,
        line.amount,
        line.amount.currency,
        line.seat_name,
        None,
        line.model_name,
    )


def _exact_text(money: Money, places: int = 6) -> str:
    """An exact amount for people: all its digits up to ``places`` decimals, then ``…``."""
    amount = money.amount
    shown = amount.quantize(Decimal(1).scaleb(-places), ROUNDING, _SHOWN)
    text = f"{shown:,f}".rstrip("0")
    unit = minor_unit(money.currency)
    whole, _, decimals = text.partition(".")
    text = f"{whole}.{decimals.ljust(unit, '0')}" if unit else text.rstrip(".")
    return text + ("…" if shown != amount else "")


def _rounding_note(invoice: Invoice) -> str:
    lines = invoice.line_count()
    exact = invoice.exact_total
    change = invoice.total - exact.rounded()
    if change:
        direction = "more" if change.amount > 0 else "less"
        effect = f"{shown_amount(abs(change))} {direction} than the exact total rounded once"
    else:
        effect = "the exact total rounded once"
    return (
        f"Rounding: {invoice.rounding.description}. The {counted(lines, 'line')} come to "
        f"{_exact_text(exact)} before rounding; as shown they come to "
        f"{shown_amount(invoice.total)}, {effect} ({shown_amount(exact)}). Lines whose exact "
        "amount is zero are left out."
    )


def _seat_names(invoice: Invoice) -> dict[str, list[str]]:
    """Each member's seat types in the period, in order (their seat lines, then their usage)."""
    names: dict[str, list[str]] = defaultdict(list)
    every: list[SeatFeeLine | UsageLine] = [*invoice.seat_lines, *invoice.usage_lines]
    for line in every:
        if line.seat_name not in names[line.user_id]:
            names[line.user_id].append(line.seat_name)
    return names


def _line_rows(invoice: Invoice) -> list[reports.Row]:
    """Every line, member by member (seat fees first), explained; sub-cent lines folded.

    The rule for a line whose exact amount is under one minor unit: in the
    people's view each member's such lines are one row, whose amount is the
    sum of their shown amounts; the data (CSV, records, JSON, FOCUS) keeps
    every line.
    """
    seats = _seat_names(invoice)
    unit = Money(1, invoice.currency).amount.scaleb(-minor_unit(invoice.currency))
    cent = Money(unit, invoice.currency)
    period_seconds = invoice.period.seconds
    every: dict[str, list[SeatFeeLine | UsageLine]] = defaultdict(list)
    lines: list[SeatFeeLine | UsageLine] = [*invoice.seat_lines, *invoice.usage_lines]
    for line in lines:
        every[line.user_id].append(line)
    rows: list[reports.Row] = []
    for subtotal in invoice.by_member:
        user_id = subtotal.key
        held = seats[user_id]
        group = f"{user_id} · {', then '.join(held)}"
        small: list[SeatFeeLine | UsageLine] = []
        for line in every[user_id]:
            if abs(line.exact.amount) < unit:
                small.append(line)
                continue
            if isinstance(line, SeatFeeLine):
                rows.append((group, line.title, line.detail(period_seconds), line.amount))
                continue
            detail = line.detail
            if len(held) > 1:  # a seat change: say which seat each part belongs to
                detail = f"on the {line.seat_name} seat; {detail}"
            rows.append((group, line.title, detail, line.amount))
        if small:
            shown = Money.sum((line.amount for line in small), invoice.currency)
            exact = Money.sum((line.exact for line in small), invoice.currency)
            rows.append(
                (
                    group,
                    f"{counted(len(small), 'line')} under {shown_amount(cent)} each",
                    (
                        f"{_exact_text(exact)} exact in all, {shown_amount(shown)} as rounded; "
                        "each line is listed in the CSV, JSON and FOCUS exports"
                    ),
                    shown,
                )
            )
    return rows


def _party_block(title: str, party: Party) -> Block:
    return Block(title, party.lines)


def _report(invoice: Invoice) -> Report:
    period = invoice.period
    currency = invoice.currency
    amount = Column("amount", currency, Kind.AMOUNT)
    fees = Column("seat_fees", "Seat fees", Kind.AMOUNT)
    usage = Column("usage", "Usage", Kind.AMOUNT)
    total_due = f"Total due ({currency})"
    unit = Money(1, currency).amount.scaleb(-minor_unit(currency))
    every: list[SeatFeeLine | UsageLine] = [*invoice.seat_lines, *invoice.usage_lines]
    small = sum(1 for line in every if abs(line.exact.amount) < unit)

    def split(title: str, key: str, label: str, items: tuple[Subtotal, ...]) -> Table:
        return Table(
            title,
            (Column(key, label), fees, usage, amount),
            [(s.name or s.key, s.seat_fees, s.usage, s.amount) for s in items],
            totals=[("Total", invoice.seat_fees, invoice.usage_total, invoice.total)],
        )

    def used(title: str, key: str, label: str, items: tuple[Subtotal, ...]) -> Table:
        return Table(
            title,
            (Column(key, label), amount),
            [(s.name or s.key, s.amount) for s in items],
            totals=[("Usage", invoice.usage_total)],
        )

    blocks = [_party_block("From", invoice.seller)] if invoice.seller is not None else []
    blocks.append(_party_block("Bill to", invoice.bill_to))
    seats = _seat_names(invoice)
    document = _document_cells(invoice)
    return Report(
        "invoice",
        f"Invoice {invoice.number}",
        header=(
            Field("Invoice number", invoice.number),
            Field("Issued on", invoice.issued_on.isoformat()),
            Field("Due on", f"{invoice.due_on.isoformat()} ({invoice.terms})"),
            Field("Purchase order", invoice.purchase_order or "none given"),
            Field(
                "Period",
                f"{period.label}: {period.start:%Y-%m-%d %H:%M %Z} to "
                f"{period.end:%Y-%m-%d %H:%M %Z} ({period.timezone}), billed in arrears",
            ),
            Field("Customer account", invoice.organization),
            Field("Currency", currency),
            Field("Price table", invoice.price_table),
            Field("Rounding", invoice.rounding.value),
            Field(
                "Events",
                f"{invoice.events:,} billed, {invoice.duplicates:,} duplicates ignored, "
                f"{invoice.excluded:,} outside the period",
            ),
            Field(
                "Lines",
                f"{counted(len(invoice.by_member), 'member')}, "
                f"{counted(invoice.line_count(), 'line')}"
                + (f" ({small:,} under {shown_amount(Money(unit, currency))})" if small else ""),
            ),
            Field("Content hash", invoice.content_hash),
        ),
        blocks=blocks,
        sections=(
            Table(
                "Summary",
                (Column("item", ""), amount),
                [("Seat fees", invoice.seat_fees), ("Usage", invoice.usage_total)],
                totals=[(total_due, invoice.total)],
                note=_rounding_note(invoice),
            ),
            Table(
                "Usage above caps",
                (
                    Column("who", "Member, seat type or organization"),
                    Column("source", "Cap"),
                    Column("cap", "Cap amount", Kind.AMOUNT),
                    Column("usage", "Usage billed", Kind.AMOUNT),
                    Column("over", "Over by", Kind.AMOUNT),
                ),
                [
                    (
                        f"{excess.level.replace('_', ' ')} {excess.name}",
                        excess.source,
                        excess.cap,
                        excess.usage,
                        excess.over,
                    )
                    for excess in invoice.caps_exceeded
                ],
                empty="No member, seat type or the organization was billed more usage than its "
                "cap.",
                note=_CAPS_NOTE,
            ),
            Table(
                "Usage outside the seat held",
                (
                    Column("user_id", "Member"),
                    Column("seat", "Seat held"),
                    Column("line", "Usage"),
                    amount,
                ),
                [
                    (
                        line.user_id,
                        line.seat_name,
                        f"{line.model_name}, {line.product.display_name}",
                        line.amount,
                    )
                    for line in invoice.outside_seat
                ],
                empty="All usage was of products the member's seat included at the time.",
                note=_ENTITLEMENT_NOTE,
            ),
            split(
                "By seat type (seat fees and usage apart)",
                "seat_type",
                "Seat type",
                invoice.by_seat_type,
            ),
            used("By model", "model", "Model", invoice.by_model),
            used("By product", "product", "Product", invoice.by_product),
            Table(
                "By member",
                (Column("user_id", "Member"), Column("seat", "Seat"), fees, usage, amount),
                [
                    (s.key, ", then ".join(seats[s.key]), s.seat_fees, s.usage, s.amount)
                    for s in invoice.by_member
                ],
                totals=[("Total", "", invoice.seat_fees, invoice.usage_total, invoice.total)],
            ),
            Table(
                "Lines",
                (
                    Column("user_id", "Member", group=True),
                    Column("description", "Line"),
                    Column("detail", "How it is reached", under=True),
                    amount,
                ),
                _line_rows(invoice),
            ),
        ),
        bottom_line=Field(total_due, shown_amount(invoice.total)),
        data=Table(
            "Lines",
            _LINE_COLUMNS,
            [_seat_row(document, line) for line in invoice.seat_lines]
            + [_usage_row(document, line) for line in invoice.usage_lines],
        ),
    )
