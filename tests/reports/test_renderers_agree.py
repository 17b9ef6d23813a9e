"""Property: every renderer shows the same cells of any report; CSV reads back to the records.

Reports are generated with hostile text (formula starts, Markdown and HTML
syntax, line breaks, control characters), every column kind, blanks, groups,
under columns and total rows. Each format is parsed back and compared with
the model's own view of each cell (:meth:`Column.show`), made safe as the
format promises.
"""

import csv
import io
import re
import unicodedata
from decimal import Decimal
from html.parser import HTMLParser

import attrs
from hypothesis import given
from hypothesis import strategies as st

from usagebill import Money
from usagebill.reports import (
    Block,
    Column,
    Field,
    Kind,
    Report,
    Table,
    to_csv,
    to_html,
    to_markdown,
    to_records,
    to_text,
)

HOSTILE = [
    "=cmd",
    "+1",
    "-1",
    "-007",
    "@x",
    "\tcmd",
    "\rcmd",
    "a|b",
    "<b>x</b>",
    "*x*",
    "_y_",
    "&amp;",
    "a\\",
    "a\nb",
    "a\r\nb",
    "\x1b[1m",
    "1. item",
    "# h",
    " ",
    "",
]
short = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
long_text = st.one_of(short, st.text(alphabet=st.sampled_from("ab ,;-"), max_size=200))
money = st.builds(
    Money,
    st.decimals(min_value=-(10**8), max_value=10**8, places=4),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
exact = st.one_of(money, st.decimals(min_value=-(10**6), max_value=10**6, places=4))
CELLS = {
    Kind.TEXT: long_text,
    Kind.AMOUNT: money,
    Kind.CHANGE: money,
    Kind.EXACT: exact,
    Kind.EXACT_CHANGE: exact,
    Kind.COUNT: st.integers(-(10**10), 10**10),
    Kind.FLAG: st.booleans(),
}


@st.composite
def tables(draw):
    kinds = draw(st.lists(st.sampled_from(list(Kind)), min_size=1, max_size=5))
    columns = []
    for n, kind in enumerate(kinds):
        text = kind is Kind.TEXT
        group = n == 0 and text and len(kinds) > 1 and draw(st.booleans())
        under = text and not group and draw(st.booleans())
        label = draw(short)
        missing = draw(st.sampled_from(["", "n/a"]))
        columns.append(Column(f"c{n}", label, kind, missing=missing, group=group, under=under))
    if all(column.group or column.under for column in columns):
        columns[-1] = attrs.evolve(columns[-1], under=False)
    row = st.tuples(*(st.none() | CELLS[column.kind] for column in columns))
    return Table(
        draw(short),
        columns,
        rows=draw(st.lists(row, max_size=6)),
        totals=draw(st.lists(row, max_size=2)),
        empty=draw(short),
        note=draw(st.one_of(st.just(""), short)),
    )


fields = st.builds(Field, short, short)
blocks = st.builds(Block, short, st.lists(short, max_size=3))
reports = st.builds(
    Report,
    st.just("generated"),
    short,
    short,
    header=st.lists(fields, max_size=3),
    blocks=st.lists(blocks, max_size=2),
    sections=st.lists(tables(), min_size=1, max_size=3),
    bottom_line=st.none() | fields,
    notes=st.lists(short, max_size=2),
    data=tables(),
)


def _controls(text: str, keep: str) -> str:
    return "".join(
        "\ufffd" if unicodedata.category(char) == "Cc" and char not in keep else char
        for char in text
    )


def _md_cell(text: str) -> str:
    """What a Markdown cell promises: one line (breaks and tabs made spaces), no controls."""
    return _controls(re.sub(r"\r\n|[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]", " ", text), "")


def _html_cell(text: str) -> str:
    """What an HTML cell promises: the text, with the controls HTML does not allow replaced."""
    return _controls(text, "\t\n\r")


def _text_cell(text: str) -> str:
    """What plain text promises: line breaks made spaces, tab and lone CR kept, no controls."""
    return _controls(re.sub(r"\r\n|[\n\v\f\x1c-\x1e\x85\u2028\u2029]", " ", text), "\t\r")


def _expected(table: Table, cell) -> list[list[str]]:
    """The table's lines of cells as a tabular format shows them: labels, rows, totals."""
    rows = [[cell(column.label) for column in table.columns]]
    rows += [[cell(shown) for shown in table.shown(row)] for row in table.rows]
    if not table.rows:
        rows.append([cell(table.empty)] + [""] * (len(table.columns) - 1))
    rows += [[cell(shown) for shown in table.shown(row)] for row in table.totals]
    return rows


def _markdown_tables(markdown: str) -> list[list[list[str]]]:
    tables = []
    for block in markdown.split("\n\n"):
        lines = block.rstrip("\n").split("\n")
        if not lines[0].startswith("| "):
            continue
        assert set(lines[1][2:-2].split(" | ")) <= {"---", "---:"}
        tables.append(
            [
                [re.sub(r"\\(.)", r"\1", cell, flags=re.DOTALL) for cell in line[2:-2].split(" | ")]
                for line in [lines[0], *lines[2:]]
            ]
        )
    return tables


class _HtmlTables(HTMLParser):
    """Each section table's rows as cells; a group heading row is ("group", its text); the
    details (under columns) a row's first cell holds come after its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.depth = 0  # inside a section table (not the header's field table)
        self.details: list[str] | None = None  # the current row's details
        self.in_detail = False
        self.span = 0

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "table":
            fields = found.get("class") == "usagebill-fields"
            self.depth = 0 if fields else 1
            if not fields:
                self.tables.append([])
        elif self.depth and tag == "tr":
            self._end_row()
            group = "usagebill-group" in (found.get("class") or "")
            self.tables[-1].append(["group"] if group else [])
            self.details = []
        elif self.depth and tag == "div" and found.get("class") == "usagebill-detail":
            self.in_detail = True
            assert self.details is not None
            self.details.append("")
        elif self.depth and tag in ("td", "th"):
            self.tables[-1][-1].append("")
            colspan = found.get("colspan")
            group = self.tables[-1][-1][0] == "group"
            if colspan and not group:  # the empty message spans the row
                self.tables[-1][-1].extend([""] * (int(colspan) - 1))
                self.span = int(colspan) - 1
            else:
                self.span = 0

    def _end_row(self):
        if self.details:
            self.tables[-1][-1].extend(self.details)
        self.details = None

    def handle_endtag(self, tag):
        if tag == "div":
            self.in_detail = False
        elif tag == "table" and self.depth:
            self._end_row()
            self.depth = 0

    def handle_data(self, data):
        if self.in_detail:
            self.details[-1] += data
        elif self.depth and self.tables and self.tables[-1] and self.tables[-1][-1]:
            self.tables[-1][-1][-1 - self.span] += data


def _expected_html(table: Table) -> list[list[str]]:
    """The rows of a table as the HTML shows them (see _HtmlTables)."""
    columns = table.columns
    inline = [n for n, column in enumerate(columns) if not (column.group or column.under)]
    under = [n for n, column in enumerate(columns) if column.under]
    rows = [[_html_cell(columns[n].label) for n in inline]]
    if not table.rows:
        rows.append([_html_cell(table.empty)] + [""] * (len(inline) - 1))
    for group_rows in (table.rows, table.totals):
        group = object()
        for row in group_rows:
            shown = [_html_cell(cell) for cell in table.shown(row)]
            if columns[0].group and not shown[0]:
                group = object()
            elif columns[0].group and row[0] != group:
                group = row[0]
                rows.append(["group", shown[0]])
            rows.append([shown[n] for n in inline] + [shown[n] for n in under if shown[n]])
    return rows


def _shown_tables(report: Report) -> list[Table]:
    return [table for table in report.sections if table.rows or table.totals]


@given(reports)
def test_markdown_and_html_show_every_cell(report):
    expected_md = [_expected(table, _md_cell) for table in _shown_tables(report)]
    assert _markdown_tables(to_markdown(report)) == expected_md
    parser = _HtmlTables()
    parser.feed(to_html(report))
    parser.close()
    assert parser.tables == [_expected_html(table) for table in _shown_tables(report)]


@given(reports)
def test_text_shows_every_cell_in_order(report):
    """On a page wide enough for nothing to wrap, every cell appears, in order."""
    text = to_text(report, width=100_000)
    position = 0
    for table in report.sections:
        columns = table.columns
        inline = [n for n, column in enumerate(columns) if not (column.group or column.under)]
        under = [n for n, column in enumerate(columns) if column.under]
        for rows in (table.rows, table.totals):
            group = object()  # a group's value heads its rows once, where it changes
            for row in rows:
                shown = [_text_cell(cell) for cell in table.shown(row)]
                heads = columns[0].group and bool(shown[0]) and row[0] != group
                if columns[0].group:
                    group = row[0] if shown[0] else object()
                order = ([0] if heads else []) + inline + under
                for n in order:
                    token = shown[n].strip()
                    if token:
                        found = text.find(token, position)
                        assert found >= 0, (token, text[position:])
                        position = found + len(token)


@given(reports, st.integers(90, 140))
def test_text_fits_the_width_when_the_numbers_do(report, width):
    """Numbers here are at most 14 characters: five columns of them fit 90 characters."""
    for line in to_text(report, width).split("\n"):
        assert len(line) <= width, line


@given(tables())
def test_csv_reads_back_to_the_records(table):
    records = to_records(table)
    rows = list(csv.reader(io.StringIO(to_csv(table), newline="")))
    assert len(rows) == len(records) + 1 == len(table.rows) + 1
    assert [key.lstrip("'") for key in rows[0]] == [column.key for column in table.columns]
    for row, record, cells in zip(rows[1:], records, table.rows, strict=True):
        assert list(record) == [column.key for column in table.columns]
        for column, written, value, cell in zip(
            table.columns, row, record.values(), cells, strict=True
        ):
            _check_cell(column, written, value, cell)


def _check_cell(column: Column, written: str, value, cell) -> None:
    if cell is None:
        assert (written, value) == ("", None)
    elif column.kind is Kind.TEXT:
        assert value == cell
        assert written in (cell, "'" + cell)
        if cell.startswith(("=", "+", "-", "@", "\t", "\r")) or re.fullmatch(r"-?\d+", cell):
            assert written == "'" + cell  # a formula or a number stays text
    elif column.kind is Kind.FLAG:
        assert (written, value) == (str(cell), cell)
    elif column.kind is Kind.COUNT:
        assert (int(written), value) == (cell, cell)
    else:
        amount = cell.amount if isinstance(cell, Money) else cell
        if column.kind in (Kind.AMOUNT, Kind.CHANGE):
            amount = cell.rounded().amount
        assert Decimal(written) == value == amount
        assert isinstance(value, Decimal)
