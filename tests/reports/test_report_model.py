"""The report model: typed columns, how each kind shows and exports, what a table refuses."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from usagebill import InvalidValueError, Money
from usagebill.reports import (
    Align,
    Column,
    Field,
    Kind,
    Report,
    Table,
    counted,
    data_table,
    shown_amount,
    shown_change,
    to_csv,
    to_html,
    to_markdown,
    to_records,
    to_text,
)

REPORTS = Path(__file__).parents[2] / "src" / "usagebill" / "reports"


def test_amounts_round_once_with_separators_and_never_show_minus_zero():
    assert shown_amount(Money("1234.565")) == "1,234.56"  # half-even: 6 is even
    assert shown_amount(Money("1234.575")) == "1,234.58"
    assert shown_amount(Money("-0.004")) == "0.00"
    assert shown_amount(Money("5", "JPY")) == "5"
    assert shown_change(Money("12")) == "+12.00"
    assert shown_change(Money("-3")) == "-3.00"
    assert shown_change(Money("0.001")) == "0.00"


def test_each_kind_shows_exports_and_aligns():
    cases = [
        # kind, value, shown, for programs, alignment
        (Kind.TEXT, "ada\tx", "ada\tx", "ada\tx", Align.LEFT),
        (Kind.AMOUNT, Money("1234.5"), "1,234.50", Decimal("1234.50"), Align.RIGHT),
        (Kind.CHANGE, Money("-0.125"), "-0.12", Decimal("-0.12"), Align.RIGHT),
        (Kind.EXACT, Money("0.00450"), "0.0045", Decimal("0.00450"), Align.RIGHT),
        (Kind.EXACT, Decimal("3.750"), "3.750", Decimal("3.750"), Align.RIGHT),
        (Kind.EXACT_CHANGE, Money("0.0045"), "+0.0045", Decimal("0.0045"), Align.RIGHT),
        (Kind.EXACT_CHANGE, Money("-12"), "-12.00", Decimal(-12), Align.RIGHT),
        (Kind.COUNT, 1_234_567, "1,234,567", 1_234_567, Align.RIGHT),
        (Kind.FLAG, True, "yes", True, Align.LEFT),
    ]
    for kind, value, shown, exported, align in cases:
        column = Column("c", kind=kind)
        assert (column.show(value), column.value(value), column.align) == (shown, exported, align)
        assert column.show(None) == ""
        assert column.value(None) is None
    assert Column("c", kind=Kind.AMOUNT, missing="n/a").show(None) == "n/a"
    assert Column("c").label == "c"
    assert Column("c", align=Align.RIGHT).align is Align.RIGHT


def test_counted_says_one_or_many():
    assert [counted(0, "cap"), counted(1, "cap"), counted(1_000, "line")] == [
        "0 caps",
        "1 cap",
        "1,000 lines",
    ]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.TEXT, 5),
        (Kind.AMOUNT, Decimal(5)),
        (Kind.CHANGE, "5"),
        (Kind.COUNT, True),  # a bool is not a count
        (Kind.COUNT, Decimal(5)),
        (Kind.FLAG, 1),
        (Kind.EXACT, 5),
    ],
)
def test_a_table_refuses_a_cell_of_the_wrong_kind(kind, value):
    with pytest.raises(InvalidValueError, match="cell of column 'c'"):
        Table("t", [Column("c", kind=kind)], rows=[(value,)])


def test_a_table_refuses_bad_shapes():
    text = Column("a")
    with pytest.raises(InvalidValueError, match="one or more Column"):
        Table("t", [])
    with pytest.raises(InvalidValueError, match="distinct keys"):
        Table("t", [text, Column("a")])
    with pytest.raises(InvalidValueError, match="only the first column"):
        Table("t", [text, Column("b", group=True)])
    with pytest.raises(InvalidValueError, match="shown in the row itself"):
        Table("t", [Column("a", group=True), Column("b", under=True)])
    with pytest.raises(InvalidValueError, match="must have 2 cells"):
        Table("t", [text, Column("b")], rows=[("x",)])
    with pytest.raises(InvalidValueError, match="must have 1 cells"):
        Table("t", [text], totals=[("x", "y")])
    with pytest.raises(InvalidValueError, match="group or under column is text"):
        Column("n", kind=Kind.COUNT, group=True)
    with pytest.raises(InvalidValueError, match="one or the other"):
        Column("n", group=True, under=True)
    with pytest.raises(InvalidValueError, match=r"Kind\.TEXT"):
        Column("n", kind="text")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="must be a non-empty str"):
        Column("")
    with pytest.raises(InvalidValueError, match="title must be a str"):
        Table(None, [text])  # type: ignore[arg-type]


def test_a_report_refuses_bad_parts():
    table = Table("t", [Column("a")])
    with pytest.raises(InvalidValueError, match="slug"):
        Report("An Invoice", "Invoice")
    with pytest.raises(InvalidValueError, match="Field items"):
        Report("x", "X", header=[("Period", "2026-10")])  # type: ignore[list-item]
    with pytest.raises(InvalidValueError, match="Table items"):
        Report("x", "X", sections=[[table]])  # type: ignore[list-item]
    with pytest.raises(InvalidValueError, match="bottom_line"):
        Report("x", "X", bottom_line="12.00")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="data"):
        Report("x", "X", data=[table])  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="data table"):
        to_csv(Report("x", "X", sections=[table]))
    assert data_table(Report("x", "X", data=table)) is table
    assert data_table(table) is table
    assert Report("x", "X").heading == "X"
    assert Report("x", "X", "acme").heading == "X: acme"
    with pytest.raises(InvalidValueError, match="Report items"):
        Report("x", "X", parts=[table])  # type: ignore[list-item]


def test_parts_follow_their_report_each_under_its_own_heading():
    """A part is laid out as a report of its own, after the report; its data stays its own."""
    table = Table(
        "By user",
        [Column("user_id", ""), Column("amount", "USD", Kind.AMOUNT)],
        rows=[("ada", Money("1.5"))],
    )
    part = Report("denied", "Denied requests", "1", sections=[table], data=table)
    report = Report("whatif", "What-if", "tight", header=[Field("Change", "none")], parts=[part])
    text = to_text(report, width=40)
    assert text.splitlines() == [
        "WHAT-IF: tight",
        "=" * 40,
        "Change: none",
        "",
        "DENIED REQUESTS: 1",
        "=" * 40,
        "",
        "BY USER                              USD",
        "-" * 40,
        "ada                                 1.50",
    ]
    markdown = to_markdown(report)
    assert markdown.startswith("# What-if: tight\n\n- **Change:** none\n\n## Denied requests: 1\n")
    assert "\n### By user\n" in markdown
    page = to_html(report)
    assert page.count("<style>") == 1  # one stylesheet for the report and its parts
    inner = page.index("<div class='usagebill-report usagebill-denied'>")
    assert page.index("<h3>What-if: tight</h3>") < inner < page.index("<h4>By user</h4>")
    assert page.endswith("</table></div></div>")
    assert data_table(part) is table
    with pytest.raises(InvalidValueError, match="data table"):
        to_records(report)  # the report's data is its own too: it has none


def test_the_what_if_shapes_fit_the_model():
    """Denied requests per level and per user, and the flat-plan comparison, as reports."""
    denied = Table(
        "Denied requests by level",
        [
            Column("level", ""),
            Column("requests", "requests", Kind.COUNT),
            Column("amount", "USD", Kind.EXACT),
        ],
        rows=[("member", 187, Money("18.0412")), ("not_included", 3, Money("0.5"))],
        totals=[("all", 190, Money("18.5412"))],
    )
    money = [Column(name, name, Kind.AMOUNT) for name in ("flat_fee", "usage", "total")]
    plan = Table(
        "Plan comparison",
        [Column("user_id", "user"), *money, Column("difference", "difference", Kind.CHANGE)],
        rows=[("ada", Money(30), Money("12.5"), Money(30), Money("17.5"))],
        totals=[("total", Money(30), Money("12.5"), Money(30), Money("17.5"))],
    )
    report = Report(
        "whatif",
        "What-if",
        "u-011 at 60",
        header=[Field("Changes", "cap u-011 at 60.00 USD")],
        sections=[denied, plan],
        notes=["Flat plan 30.00 vs usage-billed 12.50 USD: usage billing cost less (+17.50)."],
        data=plan,
    )
    text = to_text(report)
    assert "member" in text
    assert "18.0412" in text  # exact amounts stay exact
    assert text.rstrip().endswith("usage billing cost less (+17.50).")
    assert "| ada | 30.00 | 12.50 | 30.00 | +17.50 |" in to_markdown(report)
    assert "usagebill-whatif" in to_html(report)
    assert to_records(report) == [
        {
            "user_id": "ada",
            "flat_fee": Decimal("30.00"),
            "usage": Decimal("12.50"),
            "total": Decimal("30.00"),
            "difference": Decimal("17.50"),
        }
    ]


def test_the_reports_layer_imports_only_money_errors_and_itself():
    """Reports sit low: no result type (billing, analysis, accounts…) is imported, ever."""
    allowed = ("usagebill.errors", "usagebill.money", "usagebill.reports")
    for path in REPORTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("usagebill"):
                    assert name.startswith(allowed), (path.name, name)
