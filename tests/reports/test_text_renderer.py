"""Plain text: one width, numbers right-aligned at the edge, long text wrapped, not cut."""

import pytest

from usagebill import InvalidValueError, Money
from usagebill.reports import Column, Field, Kind, Report, Table, to_text

AMOUNT = Column("amount", "USD", Kind.AMOUNT)


def _report(*tables, **parts):
    return Report("demo", "Demo", "acme", sections=tables, **parts)


def test_layout_title_header_sections_totals_bottom_line_notes():
    table = Table(
        "Summary",
        [Column("item", ""), AMOUNT],
        rows=[("Seat fees", Money("1428.69")), ("Usage", Money("1298.54"))],
        totals=[("Total due (USD)", Money("2727.23"))],
    )
    report = _report(
        table,
        header=[Field("Organization", "acme"), Field("Price table", "claude-2026-11-25")],
        bottom_line=Field("Total due (USD)", "2,727.23"),
        notes=["Lines are rounded half-even."],
    )
    assert to_text(report, width=50).splitlines() == [
        "DEMO: acme",
        "=" * 50,
        "Organization: acme",
        "Price table:  claude-2026-11-25",
        "",
        "SUMMARY                                        USD",
        "-" * 50,
        "Seat fees                                 1,428.69",
        "Usage                                     1,298.54",
        "-" * 50,
        "Total due (USD)                           2,727.23",
        "-" * 50,
        "Total due (USD)                           2,727.23",
        "",
        "Lines are rounded half-even.",
    ]


def test_every_line_fits_the_width_and_numbers_end_at_the_edge():
    rows = [(f"line {n} " + "word " * n, Money(10**n)) for n in range(12)]
    report = _report(Table("Lines", [Column("what", "Line"), AMOUNT], rows=rows))
    for width in (40, 64, 100, 132):
        lines = to_text(report, width).splitlines()
        assert max(len(line) for line in lines) == width
        amounts = [line for line in lines if line.endswith(".00")]
        assert len(amounts) == 12
        assert {len(line) for line in amounts} == {width}  # right-aligned at the edge


def test_a_long_label_wraps_in_its_column_and_keeps_every_word():
    label = "claude-sonnet-5-5, claude_code (price from 2026-10-07) [seat chat/chat_claude_code]"
    report = _report(Table("Lines", [Column("what", ""), AMOUNT], rows=[(label, Money(7))]))
    lines = to_text(report, width=60).splitlines()[-2:]
    assert lines == [
        "claude-sonnet-5-5, claude_code (price from              7.00",
        "2026-10-07) [seat chat/chat_claude_code]",
    ]
    # Before the report model a label longer than its column was cut off.
    assert " ".join(line.split("  ")[0].strip() for line in lines) == label


def test_clauses_stay_whole_when_they_fit_a_line():
    detail = "187 requests, in 1,126,265, out 533,618, cache write 5m 1,064,137, cache read 14,633"
    table = Table(
        "Lines",
        [Column("line", ""), Column("detail", under=True), AMOUNT],
        rows=[("claude-opus-5-5, claude_code", detail, Money("26.46"))],
    )
    lines = to_text(_report(table), width=60).splitlines()[-3:]
    assert lines == [
        "claude-opus-5-5, claude_code                           26.46",
        "    187 requests, in 1,126,265, out 533,618,",
        "    cache write 5m 1,064,137, cache read 14,633",
    ]


def test_a_word_longer_than_its_column_is_split():
    report = _report(Table("T", [Column("what", ""), AMOUNT], rows=[("x" * 70, Money(1))]))
    lines = to_text(report, width=40).splitlines()[-3:]
    assert lines == ["x" * 26 + " " * 10 + "1.00", "x" * 26, "x" * 18]


def test_groups_head_their_rows_and_under_columns_go_below():
    table = Table(
        "Lines",
        [
            Column("user", "User", group=True),
            Column("line", "Line"),
            Column("detail", "Detail", under=True),
            AMOUNT,
        ],
        rows=[
            ("ada", "chat seat", "2,678,400 s", Money(20)),
            ("ada", "claude-sonnet-4-6, chat", "3 requests", Money("0.5")),
            ("bob", "chat seat", "", Money(20)),
        ],
    )
    assert to_text(_report(table), width=50).splitlines()[-9:] == [
        "LINES                                          USD",
        "-" * 50,
        "ada",
        "    chat seat                                20.00",
        "        2,678,400 s",
        "    claude-sonnet-4-6, chat                   0.50",
        "        3 requests",
        "bob",
        "    chat seat                                20.00",
    ]


def test_several_number_columns_line_up_across_tables():
    columns = [Column("key", "")] + [
        Column(name, name, Kind.AMOUNT) for name in ("before", "after")
    ]
    small = Table("Small", columns, rows=[("a", Money(1), Money(2))])
    large = Table("Large", columns, rows=[("b", Money(123456), Money(7))])
    lines = to_text(_report(small, large), width=60).splitlines()
    assert lines[-7:] == [
        "SMALL                                   before         after",
        "-" * 60,
        "a                                         1.00          2.00",
        "",
        "LARGE                                   before         after",
        "-" * 60,
        "b                                   123,456.00          7.00",
    ]


def test_an_empty_table_says_so_and_a_long_title_gets_its_own_line():
    table = Table(
        "Differences between our events and the report",
        [Column("key", "Model"), Column("change", "change", Kind.EXACT_CHANGE)],
        empty="none: every bucket matches",
    )
    assert to_text(_report(table), width=40).splitlines()[-5:] == [
        "DIFFERENCES BETWEEN OUR EVENTS AND THE",
        "REPORT",
        "Model                             change",
        "-" * 40,
        "  none: every bucket matches",
    ]


def test_header_values_wrap_under_themselves():
    value = (
        "2026-10: 2026-10-01 00:00 EDT to 2026-11-01 00:00 EDT (America/New_York), "
        "billed in arrears"
    )
    lines = to_text(_report(header=[Field("Period", value)]), width=60).splitlines()
    assert lines[2:] == [
        "Period: 2026-10: 2026-10-01 00:00 EDT to 2026-11-01 00:00",
        "        EDT (America/New_York), billed in arrears",
    ]


def test_control_characters_cannot_break_a_row_or_drive_the_terminal():
    """A line break becomes a space; an escape sequence is defused; tab and CR stay as written."""
    rows = [("a\nb", Money(1)), ("\x1b[31mred", Money(2)), ("\tcmd", Money(3)), ("\rcr", Money(4))]
    text = to_text(_report(Table("T", [Column("who", ""), AMOUNT], rows=rows)), width=40)
    body = text.split("\n")[-5:-1]
    assert [row.split("  ")[0] for row in body] == ["a b", "\ufffd[31mred", "\tcmd", "\rcr"]
    assert "\x1b" not in text


@pytest.mark.parametrize("width", [39, 0, "100", 100.0])
def test_the_width_is_an_int_of_at_least_40(width):
    with pytest.raises(InvalidValueError, match="width"):
        to_text(_report(), width)


def test_a_title_alone_a_long_field_label_and_a_long_bottom_line():
    report = Report(
        "demo",
        "Reconciliation",
        header=[Field("Price table", "v1"), Field("A label far too long for its column", "x")],
        bottom_line=Field("Gap, report minus events (USD)", "+0.0045 = " + "+0.0001 " * 6),
    )
    assert to_text(report, width=40).splitlines() == [
        "RECONCILIATION",
        "=" * 40,
        "Price table: v1",
        "A label far too long for its column:",
        "             x",
        "-" * 40,
        "Gap, report minus events (USD)",
        "       +0.0045 = +0.0001 +0.0001 +0.0001",
        "                 +0.0001 +0.0001 +0.0001",
    ]
