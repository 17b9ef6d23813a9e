"""Invoice diffs: what changed between two invoices, line by line and total by total.

A diff answers "why is this bill different?" — after a what-if, between two
months, between a draft and the final invoice. Its rules:

* **Lines are matched by identity**, never by position: a seat line by its
  user, seat type, add-on and start; a usage line by its user, model, product,
  modifiers, context tier and price version. A member who changed seat type
  mid-period has one usage line per seat type; they share an identity and are
  summed, so moving a member to another seat shows as a seat-fee change, not as
  usage removed and added again.
* **Every change is signed** (after - before) and computed from the rounded
  amounts the invoices show, so for every line and every total
  ``before + change == after`` to the cent. A line present on one side only
  counts as zero on the other.
* **Nothing is dropped**: :attr:`InvoiceDiff.lines` holds every identity of
  either invoice, unchanged ones included; :meth:`InvoiceDiff.changed_lines`
  keeps those that differ, which is what the renderers show.

The examples below compare a draft October invoice with the final one, which
has one more request of ada's, sent late (120,000 input and 8,000 output tokens
of Claude Sonnet 4.6: 0.36 + 0.12):

>>> from datetime import datetime, UTC
>>> from usagebill import (Member, Organization, Product, SeatCatalog, TokenUsage,
...                        UsageEvent, build_invoice)
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
...     at=datetime(2026, 9, 1, tzinfo=UTC))
>>> late = UsageEvent("evt-1", "ada", "claude-sonnet-4-6", Product.CHAT,
...                   TokenUsage(input_tokens=120_000, output_tokens=8_000),
...                   datetime(2026, 10, 30, tzinfo=UTC))
>>> october = BillingPeriod.of("2026-10")
>>> draft, final = build_invoice(org, [], october), build_invoice(org, [late], october)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from usagebill import reports
from usagebill.billing.invoice import Invoice, SeatFeeLine, Subtotal, UsageLine
from usagebill.errors import CurrencyMismatchError
from usagebill.money import Money
from usagebill.periods import BillingPeriod
from usagebill.reports import (
    Column,
    Field,
    Kind,
    Report,
    Table,
    counted,
    shown_amount,
    shown_change,
)

__all__ = ["AmountChange", "InvoiceDiff", "LineChange", "diff"]


@attrs.frozen
class AmountChange:
    """One total before and after, and the signed change (after - before).

    >>> for member in diff(draft, final).by_member:
    ...     print(member.key, member.before, member.after, member.change)
    ada 20.00 USD 20.48 USD 0.48 USD
    olga 40.00 USD 40.00 USD 0.00 USD
    """

    key: str
    before: Money
    after: Money
    change: Money

    @property
    def changed(self) -> bool:
        """Tell whether the amount differs."""
        return not self.change.is_zero()


@attrs.frozen
class LineChange:
    """One line identity of either invoice: its amount before and after.

    ``status`` is ``added`` (only after), ``removed`` (only before),
    ``changed`` or ``unchanged``. ``requests_before`` and ``requests_after``
    count the requests of usage lines (zero for seat fees).

    >>> [line] = diff(draft, final).changed_lines()
    >>> line.description, line.status, line.requests_after
    ('claude-sonnet-4-6, chat (price from 2026-03-13) [chat]', 'added', 1)
    """

    kind: str
    identity: tuple[str, ...]
    user_id: str
    description: str
    before: Money
    after: Money
    change: Money
    in_before: bool
    in_after: bool
    requests_before: int = 0
    requests_after: int = 0

    @property
    def status(self) -> str:
        """``added``, ``removed``, ``changed`` or ``unchanged``."""
        if not self.in_before:
            return "added"
        if not self.in_after:
            return "removed"
        if self.change.is_zero() and self.requests_before == self.requests_after:
            return "unchanged"
        return "changed"


@attrs.frozen
class InvoiceDiff:
    """The difference of two invoices (``after`` - ``before``), per line and per total.

    >>> change = diff(draft, final)
    >>> str(change.total.change), [line.user_id for line in change.changed_lines()]
    ('0.48 USD', ['ada'])
    """

    organization: str
    currency: str
    before_period: BillingPeriod
    after_period: BillingPeriod
    before_price_table: str
    after_price_table: str
    lines: tuple[LineChange, ...]
    by_member: tuple[AmountChange, ...]
    by_seat_type: tuple[AmountChange, ...]
    by_model: tuple[AmountChange, ...]
    by_product: tuple[AmountChange, ...]
    seat_fees: AmountChange
    usage_total: AmountChange
    total: AmountChange

    def changed_lines(self) -> tuple[LineChange, ...]:
        """The lines added, removed or changed (what the renderers show)."""
        return tuple(line for line in self.lines if line.status != "unchanged")

    def to_report(self) -> Report:
        """The diff as a report: the totals, the changed subtotals and lines; its data every line.

        The data (CSV, records) has one row per line identity, unchanged ones
        too, with the amounts rounded as the invoices show them.
        """
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per line identity (unchanged ones too), ready for ``pandas.DataFrame``.

        Amounts are Decimals, rounded as the invoices show them.
        """
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """A plain-text diff: summary, changed totals, then every changed line."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The diff as Markdown tables."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per line identity, safe against spreadsheet formula injection."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


# --- building -------------------------------------------------------------------------------


def _usage_identity(line: UsageLine) -> tuple[str, ...]:
    flags = line.modifiers
    on = "+".join(
        name
        for name, flag in (("batch", flags.batch), ("us_only", flags.us_only), ("fast", flags.fast))
        if flag
    )
    return (
        "usage",
        line.user_id,
        line.model,
        line.product.value,
        on,
        "tier" if line.in_tier else "",
        "" if line.price_from is None else line.price_from.isoformat(),
    )


def _seat_identity(line: SeatFeeLine) -> tuple[str, ...]:
    kind = "seat_fee" if line.add_on is None else "add_on"
    return (kind, line.user_id, line.seat_type, line.add_on or "", line.start.isoformat())


class _Side:
    """The lines of one invoice, summed per identity."""

    def __init__(self, invoice: Invoice) -> None:
        self.amounts: dict[tuple[str, ...], Money] = {}
        self.requests: dict[tuple[str, ...], int] = {}
        self.seat_types: dict[tuple[str, ...], dict[str, None]] = {}
        self.lines: dict[tuple[str, ...], SeatFeeLine | UsageLine] = {}
        for line in invoice.seat_lines:
            self._add(_seat_identity(line), line, 0)
        for usage in invoice.usage_lines:
            self._add(_usage_identity(usage), usage, usage.requests)

    def _add(self, key: tuple[str, ...], line: SeatFeeLine | UsageLine, requests: int) -> None:
        previous = self.amounts.get(key)
        self.amounts[key] = line.amount if previous is None else previous + line.amount
        self.requests[key] = self.requests.get(key, 0) + requests
        self.seat_types.setdefault(key, {})[line.seat_type] = None  # an ordered set
        self.lines.setdefault(key, line)  # described once, when the diff is built


def _order(key: tuple[str, ...]) -> tuple[Any, ...]:
    kind = key[0]
    return (key[1], {"seat_fee": 0, "add_on": 1, "usage": 2}[kind], key[2:])


def _describe(key: tuple[str, ...], before: _Side, after: _Side) -> str:
    text = (after.lines.get(key) or before.lines[key]).description
    if key[0] != "usage":
        return text
    seats_before = "/".join(before.seat_types.get(key, ()))
    seats_after = "/".join(after.seat_types.get(key, ()))
    if seats_before and seats_after and seats_before != seats_after:
        return f"{text} [seat {seats_before} → {seats_after}]"
    return f"{text} [{seats_after or seats_before}]"


def _changes(
    before: Iterable[Subtotal], after: Iterable[Subtotal], currency: str
) -> tuple[AmountChange, ...]:
    old = {subtotal.key: subtotal.amount for subtotal in before}
    new = {subtotal.key: subtotal.amount for subtotal in after}
    zero = Money.zero(currency)
    return tuple(
        _change(key, old.get(key, zero), new.get(key, zero))
        for key in sorted(old.keys() | new.keys())
    )


def _change(key: str, before: Money, after: Money) -> AmountChange:
    return AmountChange(key, before, after, after - before)


def diff(before: Invoice, after: Invoice) -> InvoiceDiff:
    """What changed from ``before`` to ``after``: every line and total, signed.

    The invoices must be in the same currency; they may be of different
    periods or price tables (a month-over-month diff), which the header says.

    >>> from datetime import datetime, UTC
    >>> from usagebill import (BillingPeriod, Member, Money, Organization, SeatCatalog,
    ...                        build_invoice)
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code")],
    ...     at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> october = BillingPeriod.of("2026-10")
    >>> moved, _ = org.assign_seat("olga", datetime(2026, 9, 1, tzinfo=UTC), "olga", "chat")
    >>> change = diff(build_invoice(org, [], october), build_invoice(moved, [], october))
    >>> print(change.total.before, change.total.after, change.total.change)
    40.00 USD 20.00 USD -20.00 USD
    >>> [(line.identity[2], line.status) for line in change.changed_lines()]
    [('chat', 'added'), ('chat_claude_code', 'removed')]
    """
    if before.currency != after.currency:
        raise CurrencyMismatchError(before.currency, after.currency, "after.currency")
    currency = before.currency
    zero = Money.zero(currency).rounded()
    old, new = _Side(before), _Side(after)
    lines = []
    for key in sorted(old.amounts.keys() | new.amounts.keys(), key=_order):
        was, now = old.amounts.get(key), new.amounts.get(key)
        amount_before = zero if was is None else was
        amount_after = zero if now is None else now
        lines.append(
            LineChange(
                kind=key[0],
                identity=key,
                user_id=key[1],
                description=_describe(key, old, new),
                before=amount_before,
                after=amount_after,
                change=amount_after - amount_before,
                in_before=was is not None,
                in_after=now is not None,
                requests_before=old.requests.get(key, 0),
                requests_after=new.requests.get(key, 0),
            )
        )
    return InvoiceDiff(
        organization=after.organization,
        currency=currency,
        before_period=before.period,
        after_period=after.period,
        before_price_table=before.price_table,
        after_price_table=after.price_table,
        lines=tuple(lines),
        by_member=_changes(before.by_member, after.by_member, currency),
        by_seat_type=_changes(before.by_seat_type, after.by_seat_type, currency),
        by_model=_changes(before.by_model, after.by_model, currency),
        by_product=_changes(before.by_product, after.by_product, currency),
        seat_fees=_change("seat_fees", before.seat_fees, after.seat_fees),
        usage_total=_change("usage", before.usage_total, after.usage_total),
        total=_change("total", before.total, after.total),
    )


# --- the diff as a report ------------------------------------------------------------------


def _report(change: InvoiceDiff) -> Report:
    currency = change.currency
    amounts = (
        Column("before", "before", Kind.AMOUNT),
        Column("after", "after", Kind.AMOUNT),
        Column("change", "change", Kind.CHANGE),
    )
    total_due = f"Total due ({currency})"

    def cells(item: AmountChange | LineChange) -> tuple[Money, Money, Money]:
        return (item.before, item.after, item.change)

    groups = [
        Table(
            f"{title} (changed)", (Column(key, ""), *amounts), [(i.key, *cells(i)) for i in shown]
        )
        for title, key, items in (
            ("By seat type", "seat_type", change.by_seat_type),
            ("By model", "model", change.by_model),
            ("By product", "product", change.by_product),
            ("By user", "user_id", change.by_member),
        )
        if (shown := [item for item in items if item.changed])
    ]
    changed = change.changed_lines()
    return Report(
        "diff",
        "Invoice diff",
        change.organization,
        header=(
            Field("Organization", change.organization),
            Field(
                "Before", f"{change.before_period.label}, price table {change.before_price_table}"
            ),
            Field("After", f"{change.after_period.label}, price table {change.after_price_table}"),
            Field(
                "Lines",
                f"{counted(len(changed), 'line')} changed, "
                f"{len(change.lines) - len(changed):,} unchanged",
            ),
        ),
        sections=(
            Table(
                "Summary",
                (Column("item", ""), *amounts),
                [("Seat fees", *cells(change.seat_fees)), ("Usage", *cells(change.usage_total))],
                totals=[(total_due, *cells(change.total))],
            ),
            *groups,
            Table(
                "Changed lines",
                (
                    Column("user_id", "User", group=True),
                    Column("description", "Line"),
                    Column("status", "Status", under=True),
                    *amounts,
                ),
                [(line.user_id, line.description, _status(line), *cells(line)) for line in changed],
                empty="none: the invoices show the same lines and amounts",
            ),
        ),
        bottom_line=Field(
            total_due,
            f"{shown_amount(change.total.before)} → {shown_amount(change.total.after)} "
            f"({shown_change(change.total.change)})",
        ),
        data=Table(
            "Lines",
            (
                *(Column(key) for key in ("kind", "user_id", "description", "status")),
                Column("requests_before", kind=Kind.COUNT),
                Column("requests_after", kind=Kind.COUNT),
                *amounts,
                Column("currency"),
            ),
            [
                (
                    line.kind,
                    line.user_id,
                    line.description,
                    line.status,
                    line.requests_before,
                    line.requests_after,
                    *cells(line),
                    currency,
                )
                for line in change.lines
            ],
        ),
    )


def _status(line: LineChange) -> str:
    if line.kind == "usage" and line.requests_before != line.requests_after:
        return f"{line.status}, requests {line.requests_before:,} → {line.requests_after:,}"
    return line.status
