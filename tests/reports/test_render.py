"""Renderers: text, Markdown, CSV (safe against formula injection), records and HTML."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from builders import event, member, organization
from usagebill import (
    BillingPeriod,
    Invoice,
    Modifiers,
    Money,
    Organization,
    Product,
    UsageEvent,
    build_invoice,
)
from usagebill.reports import to_csv, to_html, to_markdown, to_records, to_text
from usagebill.reports.markdown import escape as _md

# The columns of an invoice line in CSV and records, in order.
_RECORD_KEYS = (
    "number",
    "issued_on",
    "due_on",
    "terms",
    "seller",
    "bill_to",
    "purchase_order",
    "kind",
    "user_id",
    "seat_type",
    "description",
    "title",
    "add_on",
    "start",
    "end",
    "seconds",
    "monthly_fee",
    "model",
    "product",
    "modifiers",
    "long_context",
    "price_version",
    "price_from",
    "included",
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
    "seat_name",
    "add_on_name",
    "model_name",
)

OCTOBER = BillingPeriod.of("2026-10", timezone="Europe/Paris")
AT = datetime(2026, 10, 9, 12, tzinfo=UTC)
# User ids a spreadsheet would run as formulas, and one a browser would run as a script.
HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+1",
    "@SUM(A1:A9)",
    "-2+3",
    "\tcmd",
    "\rcmd",
    "<script>alert(1)</script>",
    "pipe|user",
]


def _org() -> Organization:
    """olga, and a member on Chat with HIPAA for each hostile user id; in Paris."""
    members = [member(user, add_ons=["hipaa"]) for user in HOSTILE]
    return organization(*members, name="Acme & <Co>", timezone="Europe/Paris")


def _events() -> list[UsageEvent]:
    events = [
        event(
            "e-olga",
            "olga",
            "claude-sonnet-4-6",
            Product.CLAUDE_CODE,
            AT,
            Modifiers(batch=True, us_only=True),
            input_tokens=12_345,
            output_tokens=6_789,
            cache_write_5m_tokens=1_000,
            cache_write_1h_tokens=2_000,
            cache_read_tokens=300_000,
            web_search_requests=3,
        ),
        event(
            "e-tier", "olga", "claude-sonnet-4-5", at=AT, input_tokens=250_000, output_tokens=1_000
        ),
    ]
    events += [
        event(
            f"e-{index}",
            user,
            "claude-haiku-4-5",
            Product.FILE_CREATION,
            AT,
            input_tokens=1_000_000 * (index + 1),
        )
        for index, user in enumerate(HOSTILE)
    ]
    return events


@pytest.fixture(scope="module")
def invoice() -> Invoice:
    return build_invoice(_org(), _events(), OCTOBER)


def _shown(money: Money) -> str:
    return f"{money.rounded().amount:,f}"


def test_text_shows_every_line_and_total(invoice):
    """The text invoice shows the header, every line with its amount, every subtotal and total."""
    text = invoice.to_text()
    assert text == to_text(invoice.to_report())
    assert text.startswith("INVOICE INV-2026-10\n")
    assert "Customer account: Acme & <Co>" in text
    assert "2026-10: 2026-10-01 00:00 CEST to 2026-11-01 00:00 CET (Europe/Paris)" in text
    assert invoice.price_table in text
    assert invoice.content_hash in text
    assert "10 billed, 0 duplicates ignored, 0 outside the period" in text
    for line in [*invoice.seat_lines, *invoice.usage_lines]:
        assert any(
            line.title[:40] in row and row.endswith(_shown(line.amount)) for row in text.split("\n")
        ), line
    for subtotal in (*invoice.by_member, *invoice.by_seat_type, *invoice.by_model):
        assert any(
            (subtotal.name or subtotal.key)[:40] in row and row.endswith(_shown(subtotal.amount))
            for row in text.split("\n")
        )
    rows = text.split("\n")[:-1]
    assert rows[-1].startswith("Total due (USD)")
    assert rows[-1].endswith(_shown(invoice.total))
    # Sonnet 4.6 ($3.75 / $6 / $0.30 per million) × 0.5 (batch) × 1.1 (US-only) = 0.55:
    assert "cache write 5m 1,000 × 2.0625/MTok = 0.0020625" in text
    assert "cache write 1h 2,000 × 3.30/MTok = 0.0066" in text
    assert "cache read 300,000 × 0.165/MTok = 0.0495" in text
    assert "web search 3 × 10.00/1,000 = 0.03" in text  # web search takes no modifier
    assert "(batch −50 %, US-only ×1.1, price from 2026-03-13)" in text
    assert "(long-context tier)" in text


def test_text_widens_for_large_amounts():
    """Amounts in the millions still fit their column."""
    org = _org()
    events = [
        event(f"big-{n}", "olga", "claude-opus-4-6", at=AT, output_tokens=10**10) for n in range(10)
    ]
    invoice = build_invoice(org, events, OCTOBER)
    # 10 × 10,000,000,000 output tokens × $25 per million = $2,500,000
    assert invoice.usage_total == Money("2500000")
    assert "2,500,000.00" in invoice.to_text()
    last = invoice.to_text().splitlines()[-1]
    assert len(last) == 100
    assert last.endswith(_shown(invoice.total))


def test_markdown_shows_every_line_and_total(invoice):
    """The Markdown invoice has summary and subtotal tables and a table of every line."""
    text = invoice.to_markdown()
    assert text == to_markdown(invoice.to_report())
    assert text.startswith("# Invoice INV-2026-10\n")
    assert "## Summary" in text
    assert f"| Total due (USD) | {_shown(invoice.total)} |" in text
    assert f"| Seat fees | {_shown(invoice.seat_fees)} |" in text
    assert f"| Usage | {_shown(invoice.usage_total)} |" in text
    for subtotal in invoice.by_member:
        assert f"| {_md(subtotal.key)} | Chat" in text
        assert f"| {_shown(subtotal.amount)} |" in text
    table = text.split("## Lines")[1].strip().splitlines()
    assert table[0] == "| Member | Line | How it is reached | USD |"
    assert table[1] == "| --- | --- | --- | ---: |"
    assert len(table) - 2 == invoice.line_count()
    for line in [*invoice.seat_lines, *invoice.usage_lines]:
        assert any(
            _md(line.title) in row and row.endswith(f"| {_shown(line.amount)} |") for row in table
        )
    assert f"({invoice.seat_lines[0].seconds:,} of {OCTOBER.seconds:,} s) |" in text


def test_markdown_escapes_pipes_and_line_breaks(invoice):
    """A | or a line break in a user id cannot break the table: escaped, or made a space."""
    text = invoice.to_markdown()
    assert r"pipe\|user" in text
    assert "| pipe|user" not in text
    assert "\r" not in text
    assert "|  cmd |" in text  # "\rcmd": the carriage return became a space


def _csv_rows(invoice: Invoice) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(invoice.to_csv())))


def test_csv_has_a_header_and_one_row_per_line(invoice):
    """CSV: one row per line plus the header, read back by the csv module."""
    text = invoice.to_csv()
    assert text == to_csv(invoice.to_report())
    reader = list(csv.reader(io.StringIO(text)))
    assert tuple(reader[0]) == _RECORD_KEYS
    assert len(reader) == invoice.line_count() + 1
    rows = _csv_rows(invoice)
    amounts = [Decimal(row["amount"]) for row in rows]
    assert sum(amounts) == invoice.total.amount
    kinds = [row["kind"] for row in rows]
    assert kinds.count("usage") == len(invoice.usage_lines)
    assert kinds.count("seat_fee") + kinds.count("add_on") == len(invoice.seat_lines)


@pytest.mark.parametrize("user", HOSTILE[:6])
def test_csv_neutralises_formula_cells(invoice, user):
    """Cells starting with = + - @ tab or CR are prefixed with ' so no spreadsheet runs them."""
    rows = [row for row in _csv_rows(invoice) if row["user_id"].lstrip("'") == user]
    assert rows  # the seat, the add-on and the usage line
    for row in rows:
        assert row["user_id"] == "'" + user
        assert row["user_id"].startswith("'")


def test_csv_quotes_a_carriage_return_so_it_cannot_start_a_row(invoice):
    """A lone CR (which readers take for a line break) is quoted: the row stays one row."""
    text = invoice.to_csv()
    assert '"\'\rcmd"' in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == invoice.line_count() + 1
    assert {row[7] for row in rows[1:]} == {"seat_fee", "add_on", "usage"}


def test_csv_leaves_numbers_alone(invoice):
    """Amounts, rates and counts are written as plain numbers, never prefixed."""
    for row in _csv_rows(invoice):
        for key in ("amount", "exact", "seconds", "monthly_fee", "requests", "input_rate"):
            if row[key]:
                assert not row[key].startswith("'")
                Decimal(row[key])
    line = invoice.usage_lines[0]
    row = _csv_rows(invoice)[len(invoice.seat_lines)]
    assert row["amount"] == f"{line.amount.amount:f}"
    assert row["exact"] == f"{line.exact.amount:f}"


def test_csv_keeps_a_number_like_user_id_text():
    """A user id like -5 (or 007) is text: an apostrophe keeps a spreadsheet from reading -5.

    (Before the report model, "-5" was written bare as a number; "-007" became -7.)
    """
    org = organization(member("-5", role="primary_owner"), member("007"))
    rows = list(csv.DictReader(io.StringIO(build_invoice(org, [], OCTOBER).to_csv())))
    assert [row["user_id"] for row in rows] == ["'-5", "'007"]
    assert [row["amount"] for row in rows] == ["20.00", "20.00"]  # numbers stay bare


def test_records_have_one_dict_per_line_with_decimal_amounts(invoice):
    """to_records: one dict per line, every key present, Decimal amounts, None where unused."""
    records = invoice.to_records()
    assert records == to_records(invoice.to_report())
    assert len(records) == invoice.line_count()
    for record in records:
        assert tuple(record) == _RECORD_KEYS
        assert isinstance(record["amount"], Decimal)
        assert isinstance(record["exact"], Decimal)
        assert record["currency"] == "USD"
    seat = records[0]
    assert seat["kind"] == "seat_fee"
    assert seat["model"] is None
    assert seat["input_tokens"] is None
    assert isinstance(seat["monthly_fee"], Decimal)
    add_on = records[1]
    assert (add_on["kind"], add_on["add_on"]) == ("add_on", "hipaa")
    usage = next(r for r in records if r["kind"] == "usage" and r["modifiers"])
    assert usage["modifiers"] == "batch+us_only"
    assert usage["start"] is None
    assert usage["cache_write_1h_tokens"] == 2_000
    assert usage["price_from"] == "2026-03-13T00:00:00+00:00"  # Sonnet 4.6 after its 1M GA
    assert isinstance(usage["input_rate"], Decimal)
    assert sum(r["amount"] for r in records) == invoice.total.amount
    tier = next(r for r in records if r["long_context"])
    assert tier["input_rate"] == Decimal(6)


def test_records_show_the_price_version():
    """A line priced after a dated change carries the change's date."""
    cached = event(
        "s", "olga", "claude-sonnet-5-5", at=datetime(2026, 10, 20, tzinfo=UTC), cache_read_tokens=1
    )
    (record,) = [r for r in build_invoice(_org(), [cached], OCTOBER).to_records() if r["model"]]
    assert record["price_from"] == "2026-10-07T00:00:00+00:00"


def test_html_escapes_everything(invoice):
    """The notebook view escapes user ids and the organization name."""
    html = invoice._repr_html_()
    assert html == to_html(invoice.to_report())
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Acme &amp; &lt;Co&gt;" in html
    assert f"{len(invoice.by_member)} members, {invoice.line_count()} lines" in html
    assert _shown(invoice.total) in html


def test_every_renderer_shows_the_same_total(invoice):
    """Text, Markdown, HTML and CSV agree on the total."""
    shown = _shown(invoice.total)
    assert shown in invoice.to_text()
    assert shown in invoice.to_markdown()
    assert shown in invoice._repr_html_()
    assert sum(Decimal(row["amount"]) for row in _csv_rows(invoice)) == invoice.total.amount
