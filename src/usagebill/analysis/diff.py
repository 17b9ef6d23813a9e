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
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from usagebill.billing.invoice import Invoice, SeatFeeLine, Subtotal, UsageLine
from usagebill.errors import CurrencyMismatchError
from usagebill.money import Money
from usagebill.periods import BillingPeriod
from usagebill.reports.render import shown_amount, shown_change

__all__ = ["AmountChange", "InvoiceDiff", "LineChange", "diff"]

_WIDTH: Final = 100
_MONEY: Final = 14


@attrs.frozen
class AmountChange:
    """One total before and after, and the signed change (after - before)."""

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
    """The difference of two invoices (``after`` - ``before``), per line and per total."""

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

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per line identity (unchanged ones too), ready for ``pandas.DataFrame``.

        Amounts are Decimals, rounded as the invoices show them.
        """
        return [
            {
                "kind": line.kind,
                "user_id": line.user_id,
                "description": line.description,
                "status": line.status,
                "requests_before": line.requests_before,
                "requests_after": line.requests_after,
                "before": line.before.amount,
                "after": line.after.amount,
                "change": line.change.amount,
                "currency": self.currency,
            }
            for line in self.lines
        ]

    def to_text(self) -> str:
        """A plain-text diff: summary, changed totals, then every changed line."""
        return _text(self)

    def to_markdown(self) -> str:
        """The diff as Markdown tables."""
        return _markdown(self)

    def _repr_html_(self) -> str:
        return _html(self)


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


# --- rendering ------------------------------------------------------------------------------


def _header(change: InvoiceDiff) -> list[tuple[str, str]]:
    return [
        ("Organization", change.organization),
        ("Before", f"{change.before_period.label}, price table {change.before_price_table}"),
        ("After", f"{change.after_period.label}, price table {change.after_price_table}"),
        ("Lines", f"{len(change.changed_lines()):,} of {len(change.lines):,} changed"),
    ]


def _totals(change: InvoiceDiff) -> list[AmountChange]:
    return [
        attrs.evolve(change.seat_fees, key="Seat fees"),
        attrs.evolve(change.usage_total, key="Usage"),
        attrs.evolve(change.total, key=f"Total due ({change.currency})"),
    ]


def _groups(change: InvoiceDiff) -> list[tuple[str, tuple[AmountChange, ...]]]:
    return [
        ("By seat type", change.by_seat_type),
        ("By model", change.by_model),
        ("By product", change.by_product),
        ("By user", change.by_member),
    ]


def _text(change: InvoiceDiff) -> str:
    label_width = _WIDTH - 3 * _MONEY

    def row(label: str, before: str, after: str, delta: str) -> str:
        return (
            f"{label[:label_width]:<{label_width}}{before:>{_MONEY}}{after:>{_MONEY}}"
            f"{delta:>{_MONEY}}"
        )

    def money_row(label: str, item: AmountChange | LineChange) -> str:
        return row(
            label, shown_amount(item.before), shown_amount(item.after), shown_change(item.change)
        )

    out = [f"INVOICE DIFF: {change.organization}", "=" * _WIDTH]
    out += [f"{name + ':':<14}{value}" for name, value in _header(change)]
    out += ["", row("SUMMARY", "before", "after", "change"), "-" * _WIDTH]
    out += [money_row(total.key, total) for total in _totals(change)]
    for title, changes in _groups(change):
        shown = [item for item in changes if item.changed]
        if not shown:
            continue
        out += ["", title.upper() + " (changed)", "-" * _WIDTH]
        out += [money_row(f"  {item.key}", item) for item in shown]
    lines = change.changed_lines()
    out += ["", "CHANGED LINES", "-" * _WIDTH]
    if not lines:
        out.append("  none: the invoices show the same lines and amounts")
    for line in lines:
        out.append(money_row(f"  {line.user_id} {line.description}", line))
        note = line.status
        if line.kind == "usage" and line.requests_before != line.requests_after:
            note += f", requests {line.requests_before:,} → {line.requests_after:,}"
        out.append(f"      {note}")
    out += ["-" * _WIDTH, money_row(f"Total due ({change.currency})", change.total)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def _md_rows(rows: Iterable[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]


def _markdown(change: InvoiceDiff) -> str:
    head = ("", "before", "after", "change")
    rule = "| --- | ---: | ---: | ---: |"

    def cells(item: AmountChange | LineChange, label: str) -> tuple[str, ...]:
        return (
            label,
            shown_amount(item.before),
            shown_amount(item.after),
            shown_change(item.change),
        )

    out = [f"# Invoice diff: {_md(change.organization)}", ""]
    out += [f"- **{name}:** {_md(value)}" for name, value in _header(change)]
    out += ["", "## Summary", "", *_md_rows([head]), rule]
    out += _md_rows(cells(total, total.key) for total in _totals(change))
    for title, changes in _groups(change):
        shown = [item for item in changes if item.changed]
        if shown:
            out += ["", f"## {title}", "", *_md_rows([head]), rule]
            out += _md_rows(cells(item, item.key) for item in shown)
    out += ["", "## Changed lines", ""]
    out += _md_rows([("User", "Line", "Status", "before", "after", "change")])
    out.append("| --- | --- | --- | ---: | ---: | ---: |")
    out += _md_rows(
        (line.user_id, line.description, line.status, *cells(line, "")[1:])
        for line in change.changed_lines()
    )
    return "\n".join(out) + "\n"


def _html_rows(items: Iterable[AmountChange | LineChange], label: Mapping[int, str]) -> str:
    esc = html.escape
    right = "style='text-align:right'"
    return "".join(
        f"<tr><td>{esc(label[position])}</td><td {right}>{esc(shown_amount(item.before))}</td>"
        f"<td {right}>{esc(shown_amount(item.after))}</td>"
        f"<td {right}>{esc(shown_change(item.change))}</td></tr>"
        for position, item in enumerate(items)
    )


def _html(change: InvoiceDiff) -> str:
    esc = html.escape
    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _header(change))
    columns = "<tr><th></th><th>before</th><th>after</th><th>change</th></tr>"
    totals = _totals(change)
    summary = _html_rows(totals, {n: item.key for n, item in enumerate(totals)})
    users = [item for item in change.by_member if item.changed]
    lines = change.changed_lines()
    return (
        f"<div class='usagebill-diff'><h3>Invoice diff: {esc(change.organization)}</h3>"
        f"<table>{head}</table><table>{columns}{summary}</table>"
        f"<details><summary>{len(users)} users changed</summary><table>{columns}"
        f"{_html_rows(users, {n: item.key for n, item in enumerate(users)})}</table></details>"
        f"<details><summary>{len(lines)} lines changed</summary><table>{columns}"
        + _html_rows(
            lines,
            {
                n: f"{line.user_id} {line.description} ({line.status})"
                for n, line in enumerate(lines)
            },
        )
        + "</table></details></div>"
    )
