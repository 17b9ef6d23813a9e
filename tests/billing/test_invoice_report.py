"""The invoice as a report: what each section holds, its data, and the example month."""

import ast
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from usagebill import (
    BillingPeriod,
    Invoice,
    Money,
    Organization,
    UsageEvent,
    build_invoice,
)
from usagebill.reports import Kind, shown_amount

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def invoice() -> Invoice:
    org = Organization.from_file(ROOT / "examples" / "org.toml")
    october = BillingPeriod.of("2026-10", timezone=org.timezone)
    with (ROOT / "examples" / "usage-2026-10.jsonl").open() as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    return build_invoice(org, events, october)


def _amounts(table):
    position = [column.kind for column in table.columns].index(Kind.AMOUNT)
    return [row[position] for row in table.rows]


def test_sections_and_their_totals(invoice):
    """Every subtotal section adds up to the total; the summary's total row is the total."""
    report = invoice.to_report()
    assert (report.name, report.title, report.subject) == ("invoice", "Invoice", "Acme Health")
    assert [field.label for field in report.header] == [
        "Organization",
        "Period",
        "Price table",
        "Events",
        "Lines",
        "Content hash",
    ]
    assert report.header[4].value == "50 users, 1,511 lines"
    titles = [table.title for table in report.sections]
    assert titles == ["Summary", "By seat type", "By model", "By product", "By user", "Lines"]
    summary, by_seat_type, by_model, by_product, by_user, lines = report.sections
    assert summary.totals == (("Total due (USD)", invoice.total),)
    assert sum(_amounts(summary), invoice.total * 0) == invoice.total  # 1,428.69 + 1,298.54
    for table in (by_seat_type, by_user, lines):
        assert sum(_amounts(table), invoice.total * 0) == invoice.total
    for table in (by_model, by_product):
        assert sum(_amounts(table), invoice.total * 0) == invoice.usage_total
    assert report.bottom_line is not None
    assert report.bottom_line.value == shown_amount(invoice.total) == "2,727.23"


def test_lines_are_grouped_by_member_in_subtotal_order(invoice):
    lines = invoice.to_report().sections[-1]
    assert [column.key for column in lines.columns] == [
        "user_id",
        "description",
        "detail",
        "amount",
    ]
    assert lines.columns[0].group
    assert lines.columns[2].under
    assert len(lines.rows) == invoice.line_count()
    users = list(dict.fromkeys(row[0] for row in lines.rows))
    assert users == [subtotal.key for subtotal in invoice.by_member]
    first = lines.rows[0]
    assert first == (
        "u-001",
        "chat_claude_code seat, 2026-10-01 00:00 to 2026-11-01 00:00",
        "2,678,400 s",  # 31 days x 86,400 s
        invoice.seat_lines[0].amount,
    )


def test_the_data_is_every_line_with_every_column(invoice):
    data = invoice.to_report().data
    assert data is not None
    assert len(data.rows) == invoice.line_count()
    assert len(data.columns) == 30
    records = invoice.to_records()
    assert sum(record["amount"] for record in records) == invoice.total.amount
    exact = Money.sum(Money(record["exact"]) for record in records)  # exact, past 28 digits
    assert exact == invoice.exact_total


def test_the_text_keeps_every_line_and_amount_within_one_width(invoice):
    """Every line's description and amount, every subtotal, in 100 columns."""
    text = invoice.to_text()
    rows = text.splitlines()
    assert max(len(row) for row in rows) == 100
    for line in (*invoice.seat_lines, *invoice.usage_lines):
        assert any(
            row.startswith(f"    {line.description}") and row.endswith(shown_amount(line.amount))
            for row in rows
        ), line
    for subtotal in (*invoice.by_member, *invoice.by_seat_type, *invoice.by_model):
        assert f"{subtotal.key:<86}{shown_amount(subtotal.amount):>14}" in rows
    # a usage detail longer than a line wraps after a comma, each count whole
    assert "        cache read 14,633,176" in rows
    assert invoice.to_text(width=72).splitlines()[-1] == f"Total due (USD){'2,727.23':>57}"


def test_the_csv_is_the_data(invoice):
    rows = list(csv.DictReader(io.StringIO(invoice.to_csv())))
    assert len(rows) == invoice.line_count()
    assert sum(Decimal(row["amount"]) for row in rows) == invoice.total.amount
    assert rows[0]["long_context"] == ""  # a seat line: no usage columns
    assert {row["long_context"] for row in rows[1:]} >= {"True", "False"}


def test_the_notebook_view_is_compact(invoice):
    page = invoice._repr_html_()
    assert page.count("<details>") == 2  # by user (50 rows) and lines (1,511): folded
    assert "<summary>Lines (1,511 rows)</summary>" in page
    assert "Total due (USD): <strong>2,727.23</strong>" in page


def test_no_function_level_imports_in_the_invoice_module():
    """The invoice imports serde and the reports at the top: no cycle to dodge."""
    tree = ast.parse((ROOT / "src/usagebill/billing/invoice.py").read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            inner = [n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not inner, function.name
