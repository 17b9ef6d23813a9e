"""CSV for spreadsheets: the report's data table, safe against formula injection.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-``
or ``@`` (or a tab or carriage return before one) as a formula, and turns a
cell that looks like a number into one — ``-007`` becomes ``-7``, ``1e5``
becomes ``100000``, ``12%`` becomes ``0.12``. So the rule is by column, not by
cell: a **text** column's cell that a spreadsheet would take for a formula, a
number, a date made of digits or a boolean is written with a leading
apostrophe (which spreadsheets hide and which keeps it text); numbers are
written bare, only in number columns (amounts, exact amounts, counts). A lone
carriage return, which readers take for a line break, is quoted.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Final

from usagebill.reports.model import Cell, Column, Kind, Report, Table, data_table

__all__ = ["safe_text", "to_csv"]

# What a spreadsheet runs as a formula (the full-width forms too: some locales accept them).
_FORMULA_START: Final = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)
# What a spreadsheet reads as a number or a date: digits with signs, separators, a currency
# sign, an exponent, a percent sign or accounting parentheses — and nothing else.
_NUMBER_LIKE: Final = re.compile(
    r"\s*\(?[+-]?[$€£¥]?(?:\d[\d\s.,/:-]*|[.,]\d+)(?:[eE][+-]?\d+)?%?\)?\s*"
)
_BOOLEAN: Final = frozenset({"true", "false"})


def safe_text(text: str) -> str:
    r"""``text`` as a spreadsheet cell that stays text: an apostrophe first when needed.

    >>> [safe_text(cell) for cell in ("=cmd", "+1", "-1", "@x", "007", "u-007", "\tx")]
    ["'=cmd", "'+1", "'-1", "'@x", "'007", 'u-007', "'\tx"]
    """
    if (
        text.startswith(_FORMULA_START)
        or _NUMBER_LIKE.fullmatch(text)
        or text.strip().lower() in _BOOLEAN
    ):
        return "'" + text
    return text


def _cell(column: Column, value: Cell) -> str:
    if value is None:
        return ""
    if column.kind is Kind.TEXT:
        return safe_text(str(value))
    shown = column.value(value)
    return f"{shown:f}" if isinstance(shown, Decimal) else str(shown)


def to_csv(source: Report | Table) -> str:
    r"""A table (a report's :attr:`~usagebill.reports.model.Report.data`) as CSV, with a header.

    Total rows are left out: a spreadsheet sums the rows itself.

    >>> from usagebill.money import Money
    >>> table = Table("users", [Column("user_id"), Column("amount", kind=Kind.AMOUNT)],
    ...               rows=[("-007", Money("-5")), ("=cmd", Money("1.005"))])
    >>> print(to_csv(table), end="")
    user_id,amount
    '-007,-5.00
    '=cmd,1.00
    """
    table = data_table(source)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # The writer quotes a "\n" (its line terminator) but not a lone "\r", which readers also
    # take for a line break (a new row, whose first cell is not neutralised): quote that row.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow([safe_text(column.key) for column in table.columns])
    for row in table.rows:
        cells = [_cell(column, value) for column, value in zip(table.columns, row, strict=True)]
        (quoted if any("\r" in cell for cell in cells) else writer).writerow(cells)
    return out.getvalue()
