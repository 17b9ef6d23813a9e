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
import html
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import attrs

from usagebill.accounts.limits import Spend
from usagebill.analysis.diff import InvoiceDiff, diff
from usagebill.analysis.whatif.flatplan import PlanComparison
from usagebill.analysis.whatif.scenario import Scenario
from usagebill.billing.invoice import Invoice
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.reports import shown_amount
from usagebill.usage import Product

__all__ = ["DenialReason", "DeniedRequest", "DeniedTotal", "WhatIf"]

_ZERO: Final = Decimal(0)
_WIDTH: Final = 100


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
        """One dict per denied request, ready for ``pandas.DataFrame``."""
        return [
            {
                "event_id": r.event_id,
                "user_id": r.user_id,
                "seat_type": r.seat_type,
                "at": r.at.isoformat(),
                "model": r.model,
                "product": r.product.value,
                "level": r.reason.value,
                "amount": r.amount.amount,
                "currency": r.amount.currency,
                "detail": r.detail,
            }
            for r in self.denied
        ]

    def to_records(self) -> list[dict[str, Any]]:
        """The diff's records: one dict per invoice line identity, before and after."""
        return self.diff.to_records()

    def to_text(self) -> str:
        """The scenario, what it denied, the invoice diff and any plan comparison."""
        out = [f"WHAT-IF: {self.scenario.name}", "=" * _WIDTH]
        out += [f"  - {line}" for line in self.scenario.describe()]
        out.append(
            f"Caps replayed: {'yes' if self.replayed else 'no (the scenario does not change them)'}"
        )
        out += ["", *_denied_text(self), self.diff.to_text()]
        if self.comparison is not None:
            out += ["PLAN COMPARISON", "-" * _WIDTH, self.comparison.to_text()]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The scenario and its invoice diff as Markdown."""
        head = [f"# What-if: {self.scenario.name}", ""]
        head += [f"- {line}" for line in self.scenario.describe()]
        head += [
            "",
            f"Denied requests: {len(self.denied):,} ({shown_amount(self.denied_total)})",
            "",
        ]
        return "\n".join(head) + "\n" + self.diff.to_markdown()

    def _repr_html_(self) -> str:
        esc = html.escape
        changes = "".join(f"<li>{esc(line)}</li>" for line in self.scenario.describe())
        denied = (
            f"<p>{len(self.denied):,} requests denied "
            f"({esc(shown_amount(self.denied_total))} {esc(self.invoice.currency)})</p>"
        )
        plan = "" if self.comparison is None else self.comparison._repr_html_()
        return (
            f"<div class='usagebill-whatif'><h3>What-if: {esc(self.scenario.name)}</h3>"
            f"<ul>{changes}</ul>{denied}{self.diff._repr_html_()}{plan}</div>"
        )


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


def _denied_text(result: WhatIf) -> list[str]:
    if not result.denied:
        return ["DENIED REQUESTS: none", ""]
    out = [
        (
            f"DENIED REQUESTS: {len(result.denied):,}, carrying "
            f"{shown_amount(result.denied_total)} {result.invoice.currency} "
            "(left out of the what-if invoice)"
        ),
        "-" * _WIDTH,
    ]
    for title, totals in (("by level", result.denied_by_level), ("by user", result.denied_by_user)):
        out.append(f"  {title}:")
        out += [
            f"    {total.key:<30}{total.requests:>10,} requests{shown_amount(total.amount):>16}"
            for total in totals
        ]
    return [*out, ""]
