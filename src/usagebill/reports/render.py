"""Invoices for people and programs: text, Markdown, CSV, HTML and records.

Every renderer shows the same rounded lines and the same totals, and every
total is the sum of the lines under it. CSV cells that a spreadsheet would
read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) are neutralised with a leading apostrophe; plain numbers are
left as numbers.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from usagebill.billing.invoice import Invoice, SeatFeeLine, Subtotal, UsageLine
from usagebill.money import Money

__all__ = [
    "shown_amount",
    "shown_change",
    "to_csv",
    "to_html",
    "to_markdown",
    "to_records",
    "to_text",
]

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"-?\d+(\.\d+)?")


def shown_amount(money: Money) -> str:
    """A rounded amount with thousands separators, e.g. ``1,234.50``; never ``-0.00``."""
    rounded = money.rounded().amount
    return f"{rounded or abs(rounded):,f}"


def shown_change(money: Money) -> str:
    """A rounded change with its sign: ``+1,234.50``, ``-3.00``, ``0.00``."""
    rounded = money.rounded().amount
    return f"{rounded:+,f}" if rounded else shown_amount(money)


def _tokens(count: int) -> str:
    return f"{count:,}"


# --- records: the one flat view every tabular renderer starts from -------------------------


def to_records(invoice: Invoice) -> list[dict[str, Any]]:
    """One dict per invoice line, ready for ``pandas.DataFrame(records)``.

    Amounts are Decimals (``amount`` rounded as shown, ``exact`` unrounded);
    seat-fee rows leave the usage columns ``None`` and the reverse.
    """
    rows = [_seat_record(line) for line in invoice.seat_lines]
    rows += [_usage_record(line) for line in invoice.usage_lines]
    return rows


_RECORD_KEYS: Final = (
    "kind",
    "user_id",
    "seat_type",
    "description",
    "add_on",
    "start",
    "end",
    "seconds",
    "monthly_fee",
    "model",
    "product",
    "modifiers",
    "long_context",
    "price_from",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
    "input_rate",
    "output_rate",
    "cache_write_5m_rate",
    "cache_write_1h_rate",
    "cache_read_rate",
    "web_search_per_1k",
    "exact",
    "amount",
    "currency",
)


def _blank() -> dict[str, Any]:
    return dict.fromkeys(_RECORD_KEYS)


def _seat_record(line: SeatFeeLine) -> dict[str, Any]:
    row = _blank()
    row.update(
        kind="seat_fee" if line.add_on is None else "add_on",
        user_id=line.user_id,
        seat_type=line.seat_type,
        description=line.description,
        add_on=line.add_on,
        start=line.start.isoformat(),
        end=line.end.isoformat(),
        seconds=line.seconds,
        monthly_fee=line.monthly_fee.amount,
        exact=line.exact.amount,
        amount=line.amount.amount,
        currency=line.amount.currency,
    )
    return row


def _usage_record(line: UsageLine) -> dict[str, Any]:
    row = _blank()
    on = [name for name, flag in attrs.asdict(line.modifiers).items() if flag]
    row.update(
        kind="usage",
        user_id=line.user_id,
        seat_type=line.seat_type,
        description=line.description,
        model=line.model,
        product=line.product.value,
        modifiers="+".join(on),
        long_context=line.in_tier,
        price_from=None if line.price_from is None else line.price_from.isoformat(),
        requests=line.requests,
        **attrs.asdict(line.usage),
        input_rate=line.rates.input,
        output_rate=line.rates.output,
        cache_write_5m_rate=line.rates.cache_write_5m,
        cache_write_1h_rate=line.rates.cache_write_1h,
        cache_read_rate=line.rates.cache_read,
        web_search_per_1k=line.web_search_per_1k,
        exact=line.exact.amount,
        amount=line.amount.amount,
        currency=line.amount.currency,
    )
    return row


# --- CSV ------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def to_csv(invoice: Invoice) -> str:
    """One row per invoice line, with a header; safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(_RECORD_KEYS)
    for row in to_records(invoice):
        cells = [_cell(row[key]) for key in _RECORD_KEYS]
        # The writer quotes a "\n" (its line terminator) but not a lone "\r", which readers
        # also take for a line break (a new row, whose first cell is not neutralised).
        (quoted if any("\r" in cell for cell in cells) else writer).writerow(cells)
    return out.getvalue()


# --- text and Markdown ----------------------------------------------------------------------


def _header(invoice: Invoice) -> list[tuple[str, str]]:
    period = invoice.period
    return [
        ("Organization", invoice.organization),
        (
            "Period",
            (
                f"{period.label}: {period.start:%Y-%m-%d %H:%M %Z} to "
                f"{period.end:%Y-%m-%d %H:%M %Z} ({period.timezone}), billed in arrears"
            ),
        ),
        ("Price table", invoice.price_table),
        (
            "Events",
            (
                f"{invoice.events:,} billed, {invoice.duplicates:,} duplicates ignored, "
                f"{invoice.excluded:,} outside the period"
            ),
        ),
        ("Content hash", invoice.content_hash),
    ]


def _summary(invoice: Invoice) -> list[tuple[str, Money]]:
    return [
        ("Seat fees", invoice.seat_fees),
        ("Usage", invoice.usage_total),
        (f"Total due ({invoice.currency})", invoice.total),
    ]


def _usage_detail(line: UsageLine) -> str:
    usage = line.usage
    noun = "request" if line.requests == 1 else "requests"
    parts = [f"{line.requests:,} {noun}", f"in {_tokens(usage.input_tokens)}"]
    parts += [f"out {_tokens(usage.output_tokens)}"]
    if usage.cache_write_5m_tokens:
        parts.append(f"cache write 5m {_tokens(usage.cache_write_5m_tokens)}")
    if usage.cache_write_1h_tokens:
        parts.append(f"cache write 1h {_tokens(usage.cache_write_1h_tokens)}")
    if usage.cache_read_tokens:
        parts.append(f"cache read {_tokens(usage.cache_read_tokens)}")
    if usage.web_search_requests:
        parts.append(f"web searches {usage.web_search_requests:,}")
    return ", ".join(parts)


def _per_user(invoice: Invoice) -> list[tuple[Subtotal, list[SeatFeeLine | UsageLine]]]:
    lines: dict[str, list[SeatFeeLine | UsageLine]] = {}
    every: list[SeatFeeLine | UsageLine] = [*invoice.seat_lines, *invoice.usage_lines]
    for line in every:
        lines.setdefault(line.user_id, []).append(line)
    return [(subtotal, lines[subtotal.key]) for subtotal in invoice.by_member]


def to_text(invoice: Invoice, width: int = 100) -> str:
    """A plain-text invoice: header, summary, subtotals, then every line per user."""
    money_width = max(14, len(shown_amount(invoice.total)) + 2)
    label_width = width - money_width

    def row(label: str, money: Money) -> str:
        return f"{label[:label_width]:<{label_width}}{shown_amount(money):>{money_width}}"

    out = [f"INVOICE: {invoice.organization}", "=" * width]
    out += [f"{name + ':':<14}{value}" for name, value in _header(invoice)]
    out += ["", "SUMMARY", "-" * width]
    out += [row(label, money) for label, money in _summary(invoice)]
    for title, subtotals in (
        ("BY SEAT TYPE", invoice.by_seat_type),
        ("BY MODEL", invoice.by_model),
        ("BY PRODUCT", invoice.by_product),
    ):
        out += ["", title, "-" * width]
        out += [row(f"  {subtotal.key}", subtotal.amount) for subtotal in subtotals]
    out += ["", "DETAIL BY USER", "-" * width]
    for subtotal, lines in _per_user(invoice):
        out.append(row(subtotal.key, subtotal.amount))
        for line in lines:
            out.append(row(f"    {line.description}", line.amount))
            if isinstance(line, UsageLine):
                out.append(f"        {_usage_detail(line)}")
    out += ["-" * width, row(f"Total due ({invoice.currency})", invoice.total)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    # A table row is one line: a line break in a cell would end it (and start a bogus row).
    return " ".join(text.replace("|", r"\|").splitlines())


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: int = 1) -> list[str]:
    align = ["---"] * (len(headers) - right) + ["---:"] * right
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return out


def to_markdown(invoice: Invoice) -> str:
    """The invoice as Markdown: summary and subtotal tables, then a table of every line."""
    out = [f"# Invoice: {_md(invoice.organization)}", ""]
    out += [f"- **{name}:** {_md(value)}" for name, value in _header(invoice)]
    out += ["", "## Summary", ""]
    out += _md_table(["", invoice.currency], [(k, shown_amount(v)) for k, v in _summary(invoice)])
    for title, subtotals in (
        ("By seat type", invoice.by_seat_type),
        ("By model", invoice.by_model),
        ("By product", invoice.by_product),
        ("By user", invoice.by_member),
    ):
        out += ["", f"## {title}", ""]
        out += _md_table(
            ["", invoice.currency], [(s.key, shown_amount(s.amount)) for s in subtotals]
        )
    out += ["", "## Lines", ""]
    rows = [
        (
            line.user_id,
            line.description,
            _usage_detail(line) if isinstance(line, UsageLine) else f"{line.seconds:,} s",
            shown_amount(line.amount),
        )
        for _, lines in _per_user(invoice)
        for line in lines
    ]
    out += _md_table(["User", "Line", "Detail", invoice.currency], rows)
    return "\n".join(out) + "\n"


# --- HTML (notebooks) -----------------------------------------------------------------------


def to_html(invoice: Invoice) -> str:
    """A compact HTML view for notebooks: header, summary and subtotals by user."""
    esc = html.escape
    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _header(invoice))
    right = "<td style='text-align:right'>"
    summary = "".join(
        f"<tr><th>{esc(label)}</th>{right}{esc(shown_amount(money))}</td></tr>"
        for label, money in _summary(invoice)
    )
    users = "".join(
        f"<tr><td>{esc(s.key)}</td>{right}{esc(shown_amount(s.amount))}</td></tr>"
        for s in invoice.by_member
    )
    return (
        f"<div class='usagebill-invoice'><h3>Invoice: {esc(invoice.organization)}</h3>"
        f"<table>{head}</table><table>{summary}</table>"
        f"<details><summary>{len(invoice.by_member)} users, {invoice.line_count()} lines</summary>"
        f"<table><tr><th>User</th><th>{esc(invoice.currency)}</th></tr>{users}</table>"
        "</details></div>"
    )
