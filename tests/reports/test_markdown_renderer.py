"""Markdown: a list of fields, pipe tables aligned by kind, every cell escaped."""

from usagebill import Money
from usagebill.reports import Column, Field, Kind, Report, Table, to_markdown
from usagebill.reports.markdown import escape

AMOUNT = Column("amount", "USD", Kind.AMOUNT)


def test_layout():
    table = Table(
        "Summary",
        [Column("item", ""), Column("n", "requests", Kind.COUNT), AMOUNT],
        rows=[("Usage", 1_200, Money("5.333"))],
        totals=[("Total due (USD)", 1_200, Money("5.333"))],
    )
    report = Report(
        "demo",
        "Demo",
        "acme",
        header=[Field("Period", "2026-10")],
        sections=[table, Table("Caps", [Column("cap")], empty="no caps are set")],
        bottom_line=Field("Total due (USD)", "5.33"),
        notes=["1. not a list", "# not a heading"],
    )
    assert to_markdown(report).split("\n") == [
        "# Demo: acme",
        "",
        "- **Period:** 2026-10",
        "",
        "**Total due (USD): 5.33**",
        "",
        "## Summary",
        "",
        "|  | requests | USD |",
        "| --- | ---: | ---: |",
        "| Usage | 1,200 | 5.33 |",
        "| Total due (USD) | 1,200 | 5.33 |",
        "",
        "## Caps",
        "",
        "no caps are set",
        "",
        r"1\. not a list",
        "",
        r"\# not a heading",
        "",
    ]


def test_cells_are_escaped():
    hostile = {
        "pipe|user": r"pipe\|user",
        "*bold* and `code`": r"\*bold\* and \`code\`",
        "[link](http://x)": r"\[link\](http://x)",
        "<script>alert(1)</script>": r"\<script\>alert(1)\</script\>",
        "a\\b": r"a\\b",
        "_em_ but snake_case": r"\_em\_ but snake_case",
        "&amp; & Co": r"\&amp; & Co",
        "~~gone~~": r"\~\~gone\~\~",
        "two\nlines\r\nthree\rfour": "two lines three four",
        "tab\there": "tab here",
        "bell\x07": "bell\ufffd",
    }
    for text, escaped in hostile.items():
        assert escape(text) == escaped
    table = Table("T", [Column("who", ""), AMOUNT], rows=[(text, Money(1)) for text in hostile])
    markdown = to_markdown(Report("demo", "Demo", sections=[table]))
    for escaped in hostile.values():
        assert f"| {escaped} | 1.00 |" in markdown
    assert "\r" not in markdown
    assert markdown.count("\n") == 4 + 2 + len(hostile)  # one line per row: none was broken


def test_the_title_keeps_an_organizations_name_as_written():
    assert to_markdown(Report("demo", "Invoice", "Acme & <Co>")) == "# Invoice: Acme & <Co>\n"
    assert to_markdown(Report("demo", "Invoice", "*Acme*_\n")) == "# Invoice: \\*Acme\\*\\_ \n"


def test_a_table_with_totals_but_no_rows_says_it_is_empty():
    table = Table("T", [Column("k", ""), AMOUNT], totals=[("Total", Money(0))], empty="none")
    assert to_markdown(Report("demo", "Demo", sections=[table])).splitlines()[-3:] == [
        "| --- | ---: |",
        "| none |  |",
        "| Total | 0.00 |",
    ]
