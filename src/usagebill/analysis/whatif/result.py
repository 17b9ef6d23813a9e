"""What a what-if answers: the re-billed invoice beside the original, and what it denied.

A :class:`WhatIf` holds the scenario, the invoice as billed, the invoice under the
scenario (its :attr:`~WhatIf.diff` shows what changed), each request the scenario
would have denied (:class:`DeniedRequest`, with its :class:`DenialReason`), and any
flat-plan comparison.

The examples of this module move ada, who used Claude Code, to a Chat seat (example
fees, not Anthropic's):

>>> from datetime import datetime, UTC
>>> from usagebill import (BillingPeriod, Member, MoveSeats, Organization, SeatCatalog,
...                        TokenUsage, UsageEvent, whatif)
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"),
...      Member("ada", "member", "chat_claude_code")],
...     at=datetime(2026, 9, 1, tzinfo=UTC))
>>> events = [UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CLAUDE_CODE,
...                      TokenUsage(input_tokens=100_000), datetime(2026, 10, 3, tzinfo=UTC))]
>>> result = whatif(org, events, BillingPeriod.of("2026-10"),
...                 Scenario((MoveSeats(["ada"], "chat"),), name="ada on Chat"))
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import attrs

from usagebill import reports
from usagebill.accounts.limits import Spend
from usagebill.analysis.diff import InvoiceDiff, diff
from usagebill.analysis.whatif.flatplan import PlanComparison
from usagebill.analysis.whatif.scenario import Scenario
from usagebill.billing.invoice import Invoice
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.reports import Column, Field, Kind, Report, Table, shown_amount
from usagebill.usage import Product

__all__ = ["DenialReason", "DeniedRequest", "DeniedTotal", "WhatIf"]

_ZERO: Final = Decimal(0)


class DenialReason(enum.StrEnum):
    """Why the replay denied a request: the tightest binding level, or the seat's products.

    >>> [reason.value for reason in DenialReason]
    ['member', 'seat_type', 'organization', 'not_included']
    """

    MEMBER = "member"
    SEAT_TYPE = "seat_type"
    ORGANIZATION = "organization"
    NOT_INCLUDED = "not_included"


@attrs.frozen
class DeniedRequest:
    """A request the scenario would have denied, and the exact amount it carried.

    >>> [denied] = result.denied  # 100,000 input tokens at 3.00 USD a million
    >>> denied.event_id, denied.reason.value, denied.amount
    ('e1', 'not_included', Money('0.3', 'USD'))
    """

    event_id: str
    user_id: str
    seat_type: str
    at: datetime
    model: str
    product: Product
    amount: Money
    reason: DenialReason
    detail: str


@attrs.frozen
class DeniedTotal:
    """Denied requests of one user or one reason: how many, and their exact amount.

    >>> result.denied_by_user
    (DeniedTotal(key='ada', requests=1, amount=Money('0.3', 'USD')),)
    """

    key: str
    requests: int
    amount: Money


@attrs.frozen
class WhatIf:
    """A period re-billed under a scenario, beside the invoice as billed.

    ``invoice`` is the usage-billed invoice under the scenario's changes (for a
    :class:`FlatPlan` scenario it is what the plan is compared with);
    ``denied`` lists the requests the scenario would have denied, in time
    order; ``spend`` is the month-to-date spend at the end of a cap replay
    (``None`` without one).

    >>> print(result.baseline.total, result.invoice.total, result.diff.total.change)
    80.30 USD 60.00 USD -20.30 USD
    >>> result.replayed, result.spend is None
    (False, True)
    """

    scenario: Scenario
    baseline: Invoice
    invoice: Invoice
    denied: tuple[DeniedRequest, ...]
    replayed: bool
    spend: Spend | None
    comparison: PlanComparison | None

    @functools.cached_property
    def diff(self) -> InvoiceDiff:
        """``invoice`` minus ``baseline``, line by line (computed when first asked for)."""
        return diff(self.baseline, self.invoice)

    @property
    def denied_total(self) -> Money:
        """The exact amount of every denied request."""
        return Money.sum((request.amount for request in self.denied), self.invoice.currency)

    @property
    def denied_by_user(self) -> tuple[DeniedTotal, ...]:
        """Denied requests per user, sorted by user id."""
        return _denied_totals(((r.user_id, r) for r in self.denied), self.invoice.currency)

    @property
    def denied_by_level(self) -> tuple[DeniedTotal, ...]:
        """Denied requests per binding level (``member``, ``seat_type``, …, ``not_included``)."""
        return _denied_totals(((r.reason.value, r) for r in self.denied), self.invoice.currency)

    def denied_records(self) -> list[dict[str, Any]]:
        """One dict per denied request (the exact amount), ready for ``pandas.DataFrame``."""
        return reports.to_records(_denied_report(self))

    def to_report(self) -> Report:
        """The what-if as a report: the scenario; its parts what it denied, the diff, any plan.

        Its data (CSV, records) is the diff's: one row per invoice line identity.
        """
        diff_report = self.diff.to_report()
        parts = [_denied_report(self), diff_report]
        if self.comparison is not None:
            parts.append(self.comparison.to_report())
        replayed = "yes" if self.replayed else "no (the scenario does not change them)"
        return Report(
            "whatif",
            "What-if",
            self.scenario.name,
            header=(
                *(Field("Change", line) for line in self.scenario.describe()),
                Field("Caps replayed", replayed),
            ),
            data=diff_report.data,
            parts=parts,
        )

    def to_records(self) -> list[dict[str, Any]]:
        """The diff's records: one dict per invoice line identity, before and after."""
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """The scenario, what it denied, the invoice diff and any plan comparison."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The what-if as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """The diff's lines as CSV, safe against spreadsheet formula injection."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


def _denied_totals(
    pairs: Iterable[tuple[str, DeniedRequest]], currency: str
) -> tuple[DeniedTotal, ...]:
    counts: dict[str, int] = {}
    sums: dict[str, Decimal] = {}
    for key, request in pairs:
        counts[key] = counts.get(key, 0) + 1
        sums[key] = EXACT.add(sums.get(key, _ZERO), request.amount.amount)
    return tuple(
        DeniedTotal(key, counts[key], unchecked_money(sums[key], currency)) for key in sorted(sums)
    )


_DENIED_COLUMNS: Final = (
    *(Column(key) for key in ("event_id", "user_id", "seat_type", "at", "model", "product")),
    Column("level"),
    Column("amount", kind=Kind.EXACT),
    Column("currency"),
    Column("detail"),
)


def _denied_report(result: WhatIf) -> Report:
    """What the scenario denied: totals by level and by user; its data every request."""
    currency = result.invoice.currency
    count = len(result.denied)
    subject = (
        f"{count:,}, carrying {shown_amount(result.denied_total)} {currency} "
        "(left out of the what-if invoice)"
        if count
        else "none"
    )
    sections = [
        Table(
            title,
            (
                Column(key, ""),
                Column("requests", "requests", Kind.COUNT),
                Column("amount", currency, Kind.AMOUNT),
            ),
            [(total.key, total.requests, total.amount) for total in totals],
        )
        for title, key, totals in (
            ("By level", "level", result.denied_by_level),
            ("By user", "user_id", result.denied_by_user),
        )
        if totals
    ]
    return Report(
        "denied",
        "Denied requests",
        subject,
        sections=sections,
        data=Table(
            "Denied requests",
            _DENIED_COLUMNS,
            [
                (
                    r.event_id,
                    r.user_id,
                    r.seat_type,
                    r.at.isoformat(),
                    r.model,
                    r.product.value,
                    r.reason.value,
                    r.amount,
                    r.amount.currency,
                    r.detail,
                )
                for r in result.denied
            ],
        ),
    )
