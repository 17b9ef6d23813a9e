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
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from usagebill.money import Money
from usagebill.reports.model import Kind, Report, Table, data_table

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
_NUMBER_START: Final = frozenset("0123456789+-.,($€£¥")
_BOOLEAN: Final = frozenset({"true", "false"})


def safe_text(text: str) -> str:
    r"""``text`` as a spreadsheet cell that stays text: an apostrophe first when needed.

    >>> [safe_text(cell) for cell in ("=cmd", "+1", "-1", "@x", "007", "u-007", "\tx")]
    ["'=cmd", "'+1", "'-1", "'@x", "'007", 'u-007', "'\tx"]
    """
    if not text:
        return text
    first = text[0]
    # Only a text that starts like a number can be one: the cheap test first.
    if (
        first in _FORMULA_START
        or ((first in _NUMBER_START or first.isspace()) and _NUMBER_LIKE.fullmatch(text))
        or text.strip().lower() in _BOOLEAN
    ):
        return "'" + text
    return text


def _exact(value: Money | Decimal) -> str:
    return f"{value.amount if isinstance(value, Money) else value:f}"


def _rounded(value: Money) -> str:
    return f"{value.rounded().amount:f}"


_WRITE: Final[dict[Kind, Callable[[Any], str]]] = {
    Kind.TEXT: safe_text,
    Kind.AMOUNT: _rounded,
    Kind.CHANGE: _rounded,
    Kind.EXACT: _exact,
    Kind.EXACT_CHANGE: _exact,
    Kind.COUNT: str,
    Kind.FLAG: str,
}
"""How a cell of each kind is written (a blank cell is always empty)."""


def to_csv(source: Report | Table) -> str:
    r"""A table (a report's :attr:`~usagebill.reports.model.Report.data`) as CSV, with a header.

    Total rows are left out: a spreadsheet sums the rows itself.

    >>> from usagebill.reports.model import Column
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
    write = [_WRITE[column.kind] for column in table.columns]
    for row in table.rows:
        cells = ["" if cell is None else how(cell) for how, cell in zip(write, row, strict=True)]
        (quoted if any("\r" in cell for cell in cells) else writer).writerow(cells)
    return out.getvalue()
