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


def _amounts(table, position=None):
    """The first amount column's cells (or the one at ``position``)."""
    if position is None:
        position = [column.kind for column in table.columns].index(Kind.AMOUNT)
    return [row[position] for row in table.rows]


def test_sections_and_their_totals(invoice):
    """Every subtotal section adds up to the total; the summary's total row is the total."""
    report = invoice.to_report()
    assert (report.name, report.title) == ("invoice", "Invoice AH-2026-10-0010")
    assert [field.label for field in report.header] == [
        "Invoice number",
        "Issued on",
        "Due on",
        "Purchase order",
        "Period",
        "Customer account",
        "Currency",
        "Price table",
        "Rounding",
        "Events",
        "Lines",
        "Content hash",
    ]
    fields = {field.label: field.value for field in report.header}
    assert fields["Due on"] == "2026-12-01 (Net 30)"  # issued 2026-11-01, net 30
    assert fields["Lines"] == "50 members, 1,511 lines (241 under 0.01)"
    assert [block.title for block in report.blocks] == ["From", "Bill to"]
    assert report.blocks[1].lines[0] == "Acme Health, Inc."
    titles = [table.title for table in report.sections]
    assert titles == [
        "Summary",
        "Usage above caps",
        "Usage outside the seat held",
        "By seat type (seat fees and usage apart)",
        "By model",
        "By product",
        "By member",
        "Lines",
    ]
    summary, caps, outside, by_seat_type, by_model, by_product, by_member, lines = report.sections
    assert summary.totals == (("Total due (USD)", invoice.total),)
    assert sum(_amounts(summary), invoice.total * 0) == invoice.total  # 1,428.69 + 1,298.54
    assert (caps.rows, outside.rows) == ((), ())  # the example month stays within its caps
    for table in (by_seat_type, by_member):  # seat fees, usage, total
        assert sum(_amounts(table, -3), invoice.total * 0) == invoice.seat_fees
        assert sum(_amounts(table, -2), invoice.total * 0) == invoice.usage_total
        assert sum(_amounts(table, -1), invoice.total * 0) == invoice.total
    assert sum(_amounts(lines), invoice.total * 0) == invoice.total
    for table in (by_model, by_product):
        assert sum(_amounts(table), invoice.total * 0) == invoice.usage_total
    # By seat type says which part is seat fees and which usage: 646.30 + 85.85 = 732.15
    assert by_seat_type.rows[0] == ("Chat", Money("646.30"), Money("85.85"), Money("732.15"))
    assert report.bottom_line is not None
    assert report.bottom_line.value == shown_amount(invoice.total) == "2,727.23"


def test_the_rounding_is_said(invoice):
    """The summary says the policy, the exact total and how far the shown total is from it."""
    note = invoice.to_report().sections[0].note
    assert invoice.exact_total.rounded() == Money("2727.20")
    assert invoice.total - invoice.exact_total.rounded() == Money("0.03")
    assert "each line rounded half to even" in note
    assert "The 1,511 lines come to 2,727.199443… before rounding" in note
    assert "as shown they come to 2,727.23, 0.03 more than the exact total rounded once" in note


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
    folded = [row for row in lines.rows if " under 0.01 each" in row[1]]
    small = [
        line for line in (*invoice.seat_lines, *invoice.usage_lines) if line.exact < Money("0.01")
    ]
    assert len(small) == 241
    assert len(lines.rows) == invoice.line_count() - len(small) + len(folded)
    users = list(dict.fromkeys(row[0].split(" · ")[0] for row in lines.rows))
    assert users == [subtotal.key for subtotal in invoice.by_member]
    first = lines.rows[0]
    assert first == (
        "u-001 · Chat + Claude Code",
        "Chat + Claude Code seat, 2026-10-01 00:00 to 2026-11-01 00:00",
        "40.00 a month × 31 of 31 days held (2,678,400 of 2,678,400 s)",
        invoice.seat_lines[0].amount,
    )


def test_a_seat_change_names_the_seat_of_each_part(invoice):
    """u-007 moved from Chat to Chat + Claude Code on Oct 14 at 15:30 New York time."""
    rows = [row for row in invoice.to_report().sections[-1].rows if row[0].startswith("u-007")]
    assert rows[0][0] == "u-007 · Chat, then Chat + Claude Code"
    # 20 × 1,179,000 / 2,678,400 = 8.8037… → 8.80; 40 × 1,499,400 / 2,678,400 = 22.392… → 22.39
    assert rows[0][1:] == (
        "Chat seat, 2026-10-01 00:00 to 2026-10-14 15:30",
        "20.00 a month × 13.65 of 31 days held (1,179,000 of 2,678,400 s)",
        Money("8.80"),
    )
    assert rows[1][3] == Money("22.39")
    usage = [row[2] for row in rows[2:] if "under 0.01" not in row[1]]
    assert all(
        detail.startswith(("on the Chat seat; ", "on the Chat + Claude Code seat; "))
        for detail in usage
    )
    assert any(detail.startswith("on the Chat seat; ") for detail in usage)


def test_the_data_is_every_line_with_every_column(invoice):
    data = invoice.to_report().data
    assert data is not None
    assert len(data.rows) == invoice.line_count()
    assert len(data.columns) == 43
    records = invoice.to_records()
    assert {record["number"] for record in records} == {"AH-2026-10-0010"}
    assert {record["purchase_order"] for record in records} == {"PO-2026-0042"}
    assert sum(record["amount"] for record in records) == invoice.total.amount
    exact = Money.sum(Money(record["exact"]) for record in records)  # exact, past 28 digits
    assert exact == invoice.exact_total


def test_the_text_keeps_every_line_and_amount_within_one_width(invoice):
    """Every line's title and amount (or its member's row of sub-cent lines), in 100 columns."""
    text = invoice.to_text()
    rows = text.splitlines()
    assert max(len(row) for row in rows) == 100
    for line in (*invoice.seat_lines, *invoice.usage_lines):
        if line.exact < Money("0.01"):
            continue
        assert any(
            row.startswith(f"    {line.title}"[:30]) and row.endswith(shown_amount(line.amount))
            for row in rows
        ), line
    for subtotal in (*invoice.by_seat_type, *invoice.by_model):
        assert any(
            row.startswith(subtotal.name) and row.endswith(shown_amount(subtotal.amount))
            for row in rows
        )
    # a usage detail longer than a line wraps after a semicolon, each charge whole
    assert (
        "        cache write 1h 379,096 × 8.00/MTok = 3.032768; "
        "cache read 14,633,176 × 0.20/MTok = 2.9266352" in rows
    )
    assert invoice.to_text(width=72).splitlines()[-1] == f"Total due (USD){'2,727.23':>57}"


def test_the_csv_is_the_data(invoice):
    rows = list(csv.DictReader(io.StringIO(invoice.to_csv())))
    assert len(rows) == invoice.line_count()
    assert sum(Decimal(row["amount"]) for row in rows) == invoice.total.amount
    assert rows[0]["long_context"] == ""  # a seat line: no usage columns
    assert {row["long_context"] for row in rows[1:]} >= {"True", "False"}


def test_the_notebook_view_is_compact(invoice):
    page = invoice._repr_html_()
    assert page.count("<details>") == 2  # by member (50 rows) and lines: folded
    assert "<summary>Lines (1,320 rows)</summary>" in page
    assert "Total due (USD): <strong>2,727.23</strong>" in page
    assert "<h5>Bill to</h5><p>Acme Health, Inc.<br>Attn: Accounts Payable" in page
    assert "@page" not in page  # the printed page's rules stay out of a notebook


def test_no_function_level_imports_in_the_invoice_module():
    """The invoice imports serde and the reports at the top: no cycle to dodge."""
    tree = ast.parse((ROOT / "src/usagebill/billing/invoice.py").read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            inner = [n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not inner, function.name
