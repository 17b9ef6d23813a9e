"""The flat plan: the billing model usage billing replaces, compared member by member.

A :class:`FlatPlan` is a fixed monthly fee per seat that includes a usage
allowance per seat, overage priced at API rates or blocked. A scenario holding
one *compares* it with the usage-billed invoice (:class:`PlanComparison`); it
is not billed.

The examples of this module compare ada's October, ten requests of 3.00 USD (a
million input tokens of Sonnet 4.6 each) on a Chat seat, with a flat plan of 30 USD a
Chat seat that includes 25 USD of usage (example fees, not Anthropic's):

>>> from datetime import datetime, UTC
>>> from usagebill import (BillingPeriod, Member, Product, Scenario, SeatCatalog,
...                        TokenUsage, UsageEvent, whatif)
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
...     at=datetime(2026, 9, 1, tzinfo=UTC))
>>> events = [UsageEvent(f"e{day}", "ada", "claude-sonnet-4-6", Product.CHAT,
...                      TokenUsage(input_tokens=1_000_000), datetime(2026, 10, day, tzinfo=UTC))
...           for day in range(1, 11)]
>>> plan = FlatPlan({"chat": Money("30"), "chat_claude_code": Money("60")}, Money("25"))
>>> comparison = whatif(org, events, BillingPeriod.of("2026-10"), Scenario((plan,))).comparison
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from usagebill import reports
from usagebill._frozendict import FrozenDict
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatCatalog
from usagebill.analysis.whatif.changes import Setting
from usagebill.billing.invoice import Invoice, build_invoice
from usagebill.errors import CurrencyMismatchError, InvalidValueError, short_repr
from usagebill.events import UsageEvent
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.reports import Column, Field, Kind, Report, Table, shown_amount, shown_change
from usagebill.usage import FailurePolicy

__all__ = ["FlatPlan", "Overage", "PlanComparison", "PlanRow"]

Overage = Literal["priced", "blocked"]
_ZERO: Final = Decimal(0)


def _money_amount(field: str, value: object) -> Money:
    if not isinstance(value, Money) or value.amount < 0:
        raise InvalidValueError(field, value, "must be a non-negative Money")
    return value


def _fees(value: object) -> FrozenDict[str, Money]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidValueError("fees", value, "must map each seat type to its monthly fee")
    for seat_type, fee in value.items():
        _money_amount(f"fees[{short_repr(seat_type)}]", fee)
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


def _allowance(value: object) -> Money:
    return _money_amount("allowance", value)


def _overage(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("priced", "blocked"):
        raise InvalidValueError("overage", value, "must be 'priced' or 'blocked'")


@attrs.frozen
class FlatPlan:
    """A flat plan: a monthly fee per seat including ``allowance`` of usage per seat.

    Usage beyond the allowance is ``"priced"`` at API rates, or ``"blocked"``
    (the member's requests stop once the next one would take their usage over
    the allowance — the same ``<=`` rule as a cap). Fees and allowance are
    prorated like seat fees, to the second the member held a seat; add-ons
    (HIPAA) keep their own fee.

    >>> plan.fees["chat"], plan.allowance, plan.overage
    (Money('30', 'USD'), Money('25', 'USD'), 'priced')
    """

    fees: FrozenDict[str, Money] = attrs.field(converter=_fees)
    allowance: Money = attrs.field(converter=_allowance)
    overage: Overage = attrs.field(default="priced", validator=_overage)

    def __attrs_post_init__(self) -> None:
        currency = self.allowance.currency
        for seat_type, fee in self.fees.items():
            if fee.currency != currency:
                raise CurrencyMismatchError(
                    currency, fee.currency, f"fees[{short_repr(seat_type)}]"
                )

    def describe(self) -> str:
        """One line for people."""
        fees = ", ".join(f"{name} {fee.rounded()}" for name, fee in sorted(self.fees.items()))
        overage = "priced at API rates" if self.overage == "priced" else "blocked"
        return (
            f"flat plan: {fees} a seat a month, {self.allowance.rounded()} of usage included "
            f"per seat, overage {overage}"
        )

    def apply(self, setting: Setting) -> Setting:
        """The setting unchanged: the plan is compared, not billed (its currency is checked)."""
        if self.allowance.currency != setting.org.currency:
            raise CurrencyMismatchError(setting.org.currency, self.allowance.currency, "allowance")
        return setting

    def compare(
        self,
        *,
        org: Organization,
        prices: PriceTable,
        period: BillingPeriod,
        invoice: Invoice,
        allowed: list[UsageEvent],
    ) -> PlanComparison:
        """This plan against ``invoice``, the usage-billed invoice of ``org``'s ``period``.

        ``allowed`` are the period's requests in time order (a blocking allowance
        lets them through up to the allowance); only ``"blocked"`` overage reads them.
        """
        return _compare(
            self, org=org, prices=prices, period=period, invoice=invoice, allowed=allowed
        )


@attrs.frozen
class PlanRow:
    """One member under the flat plan, beside what usage billing charged them.

    ``usage`` is the member's usage at API rates (their usage lines on the
    usage-billed invoice); ``included + overage + blocked == usage`` and
    ``total == flat_fee + overage``. ``difference`` is flat minus usage-billed:
    positive when the flat plan would have cost more.

    >>> ada = comparison.rows[0]  # 30.00 fee + (30.00 used - 25.00 included); 20.00 + 30.00
    >>> print(ada.user_id, ada.included, ada.overage, ada.total, ada.usage_billed, ada.difference)
    ada 25.00 USD 5.00 USD 35.00 USD 50.00 USD -15.00 USD
    """

    user_id: str
    flat_fee: Money
    usage: Money
    allowance: Money
    included: Money
    overage: Money
    blocked: Money
    total: Money
    usage_billed: Money
    difference: Money


_PLAN_COLUMNS: Final = (
    "flat_fee",
    "usage",
    "allowance",
    "included",
    "overage",
    "blocked",
    "total",
    "usage_billed",
    "difference",
)


@attrs.frozen
class PlanComparison:
    """A flat plan against the usage-billed invoice of the same events, member by member.

    ``totals`` sums each column of the rows (a :class:`PlanRow` keyed
    ``"total"``); every figure is rounded to the minor unit.

    >>> print(comparison.totals.total, comparison.totals.usage_billed)  # olga: 60.00 vs 40.00
    95.00 USD 90.00 USD
    >>> comparison.cheaper
    'usage'
    """

    plan: FlatPlan
    currency: str
    rows: tuple[PlanRow, ...]
    totals: PlanRow

    @property
    def cheaper(self) -> str:
        """``"flat"``, ``"usage"`` or ``"same"``: which model would have cost less."""
        difference = self.totals.difference.amount
        return "same" if not difference else ("usage" if difference > 0 else "flat")

    def to_report(self) -> Report:
        """The comparison as a report: the plan, a row per member and the totals; the verdict.

        Its data (CSV, records) has a row per member, amounts rounded as shown.
        """
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per member (amounts as Decimals), ready for ``pandas.DataFrame``."""
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """A plain-text table: one row per member, then the totals and the verdict."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The comparison as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per member, safe against spreadsheet formula injection."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


_LABELS: Final = {
    "flat_fee": "flat fee",
    "usage": "usage",
    "allowance": "allowance",
    "included": "included",
    "overage": "overage",
    "blocked": "blocked",
    "total": "flat total",
    "usage_billed": "usage-billed",
    "difference": "difference",
}
_VERDICTS: Final = {
    "flat": "the flat plan would have cost less",
    "usage": "usage billing cost less",
    "same": "both models cost the same",
}


def _report(comparison: PlanComparison) -> Report:
    currency = comparison.currency
    columns = (
        Column("user_id", "user"),
        *(
            Column(key, label, Kind.CHANGE if key == "difference" else Kind.AMOUNT)
            for key, label in _LABELS.items()
        ),
    )

    def cells(row: PlanRow) -> tuple[str | Money, ...]:
        return (row.user_id, *(getattr(row, key) for key in _PLAN_COLUMNS))

    totals = comparison.totals
    verdict = (
        f"Flat plan {shown_amount(totals.total)} vs usage-billed "
        f"{shown_amount(totals.usage_billed)} {currency}: {_VERDICTS[comparison.cheaper]} "
        f"({shown_change(totals.difference)})."
    )
    return Report(
        "plan",
        "Plan comparison",
        header=(Field("Plan", comparison.plan.describe()), Field("Currency", currency)),
        sections=(
            Table(
                "By member",
                columns,
                [cells(row) for row in comparison.rows],
                totals=[cells(totals)],
                note="difference = flat total - usage-billed: positive when the flat plan would "
                "have cost more",
            ),
        ),
        notes=[verdict],
        data=Table(
            "Members",
            (*columns, Column("currency")),
            [(*cells(row), currency) for row in comparison.rows],
        ),
    )


def _compare(
    plan: FlatPlan,
    *,
    org: Organization,
    prices: PriceTable,
    period: BillingPeriod,
    invoice: Invoice,
    allowed: list[UsageEvent],
) -> PlanComparison:
    currency = org.currency
    zero = Money.zero(currency)
    catalog = SeatCatalog(
        {
            name: attrs.evolve(seat, monthly_fee=plan.fees.get(name, seat.monthly_fee))
            for name, seat in org.catalog.seat_types.items()
        }
    )
    seat_lines = build_invoice(attrs.evolve(org, catalog=catalog), (), period, prices).seat_lines
    flat_fee: dict[str, Money] = {}
    seconds: dict[str, int] = {}
    for line in seat_lines:
        if line.add_on is None:
            if line.seat_type not in plan.fees:
                raise InvalidValueError(
                    "fees",
                    sorted(plan.fees),
                    f"must give a fee for seat type {short_repr(line.seat_type)}",
                )
            seconds[line.user_id] = seconds.get(line.user_id, 0) + line.seconds
        flat_fee[line.user_id] = flat_fee.get(line.user_id, zero) + line.amount
    usage: dict[str, Money] = {}
    for usage_line in invoice.usage_lines:
        usage[usage_line.user_id] = usage.get(usage_line.user_id, zero) + usage_line.amount
    allowance = {
        user_id: plan.allowance * held / period.seconds for user_id, held in seconds.items()
    }
    allowed_usage = _within(allowance, prices, allowed, currency, org.failure_policy)
    billed = {subtotal.key: subtotal.amount for subtotal in invoice.by_member}
    rows = []
    for user_id in sorted(flat_fee.keys() | billed.keys()):
        fee = flat_fee.get(user_id, zero)
        used = usage.get(user_id, zero)
        room = allowance.get(user_id, zero).rounded()
        if plan.overage == "priced":
            stopped = zero.rounded()
            included = min(used, room)
            over = used - included
        else:
            included = min(allowed_usage.get(user_id, zero).rounded(), used)
            stopped = used - included
            over = zero.rounded()
        total = fee + over
        usage_billed = billed.get(user_id, zero)
        rows.append(
            PlanRow(
                user_id,
                fee,
                used,
                room,
                included,
                over,
                stopped,
                total,
                usage_billed,
                total - usage_billed,
            )
        )
    sums = [Money.sum((getattr(row, name) for row in rows), currency) for name in _PLAN_COLUMNS]
    return PlanComparison(plan, currency, tuple(rows), PlanRow("total", *sums))


def _within(
    allowance: Mapping[str, Money],
    prices: PriceTable,
    events: list[UsageEvent],
    currency: str,
    policy: FailurePolicy,
) -> dict[str, Money]:
    """Per member, the usage a blocking allowance lets through.

    Requests in time order, each allowed while ``used + amount <= allowance``
    (a zero request always is), as a cap would.
    """
    used: dict[str, Decimal] = {}
    for event in events:
        usage = event.billed_usage(policy)
        amount = prices.amount(event.model, usage, event.at, event.modifiers)
        user_id = event.user_id
        so_far = used.get(user_id, _ZERO)
        room = allowance.get(user_id)
        if not amount or (room is not None and EXACT.add(so_far, amount) <= room.amount):
            used[user_id] = EXACT.add(so_far, amount)
    return {user_id: unchecked_money(amount, currency) for user_id, amount in used.items()}
