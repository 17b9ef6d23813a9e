"""Plain text: one width, aligned columns, long text wrapped rather than cut.

The layout: the title over a rule of ``=``; the header fields, their values
wrapped under themselves; the blocks (addresses) side by side when they fit;
each section under its title and a rule of ``-``,
numbers right-aligned so that they end at the page width, text wrapped in
its column. A group column's values head the rows that share them (indented
under it); an ``under`` column is printed on its own lines below its row.
Total rows follow a rule, a table's note its rows; the bottom line closes the
report; notes follow it, then each part, laid out the same way.
No line is wider than the page unless a single number is.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Final

from usagebill.errors import InvalidValueError
from usagebill.reports.model import Align, Block, Field, Kind, Report, Row, Table

__all__ = ["MIN_WIDTH", "to_text"]

MIN_WIDTH: Final = 40
"""The narrowest page :func:`to_text` lays out."""
_GAP: Final = 2  # spaces between two columns
_INDENT: Final = 4  # rows under a group heading; an under column under its row
_NARROWEST: Final = 8  # a text column squeezed to fit is never narrower
_NUMBER: Final = 12  # a number column is at least this wide: tables of a page line up
_NO_GROUP: Final = object()  # before the first row: unlike any cell, None included
_CLAUSES: Final = re.compile(r"(?<=[,;]) ")  # where a long text breaks first
# A line break inside a cell would break the row: it becomes a space. A lone carriage return
# and a tab are kept as written (a user id is shown as it is); any other control character,
# which a terminal could obey (an escape sequence), becomes U+FFFD.
_BREAKS: Final = re.compile(r"\r\n|[\n\v\f\x1c-\x1e\x85\u2028\u2029]")


def _plain(text: str) -> str:
    """``text`` safe in a line of plain text (see above)."""
    if text.isprintable():
        return text  # most text: no break, no control character
    text = _BREAKS.sub(" ", text)
    if text.isprintable():
        return text
    return "".join(
        "\ufffd" if unicodedata.category(char) == "Cc" and char not in "\t\r" else char
        for char in text
    )


def to_text(report: Report, width: int = 100) -> str:
    """``report`` as plain text, ``width`` characters wide.

    >>> from usagebill.money import Money
    >>> from usagebill.reports.model import Column
    >>> table = Table("Summary", [Column("item", ""), Column("amount", "USD", Kind.AMOUNT)],
    ...               rows=[("Seat fees", Money(40)), ("Usage", Money("5.333"))],
    ...               totals=[("Total", Money("45.33"))])
    >>> print(to_text(Report("demo", "Demo", "acme", sections=[table]), width=40), end="")
    DEMO: acme
    ========================================
    <BLANKLINE>
    SUMMARY                              USD
    ----------------------------------------
    Seat fees                          40.00
    Usage                               5.33
    ----------------------------------------
    Total                              45.33
    """
    if type(width) is not int or width < MIN_WIDTH:
        raise InvalidValueError("width", width, f"must be an int of at least {MIN_WIDTH}")
    title = _plain(report.title).upper()
    out = _wrap(f"{title}: {_plain(report.subject)}" if report.subject else title, width)
    out.append("=" * width)
    out += _fields(report.header, width)
    if report.blocks:
        out += ["", *_blocks(report.blocks, width)]
    for table in report.sections:
        out += ["", *_table(table, width)]
    if report.bottom_line is not None:
        out += ["-" * width, *_pair(report.bottom_line, width)]
    if report.notes:
        out.append("")
        for note in report.notes:
            out += _prose(note, width)
    for part in report.parts:
        out += ["", to_text(part, width).removesuffix("\n")]
    return "\n".join(out) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``.

    A clause (up to a comma or a semicolon) that fits on a line is not split
    (``cache read 300,000`` stays whole); a longer one is wrapped between
    words, and a word longer than a line is split.
    """
    if len(text) <= width:
        return [text]
    width = max(width, 1)
    lines: list[str] = []
    line = ""
    for clause in _CLAUSES.split(text):
        joined = f"{line} {clause}" if line else clause
        if len(joined) <= width:
            line = joined
            continue
        if len(clause) <= width:  # a new line for the whole clause
            lines.append(line)
            line = clause
            continue
        parts = textwrap.wrap(joined, width, break_on_hyphens=False) or [""]
        lines += parts[:-1]
        line = parts[-1]
    return [*lines, line]


def _prose(text: str, width: int) -> list[str]:
    """A note: sentences wrapped between words, as a paragraph (a word longer than a line split)."""
    return textwrap.wrap(_plain(text), width, break_on_hyphens=False) or [""]


def _fields(fields: tuple[Field, ...], width: int) -> list[str]:
    """``Label:   value``, the value wrapped under itself; a label too long for that on its own."""
    if not fields:
        return []
    label_width = min(max(len(_plain(field.label)) for field in fields) + 2, width // 3)
    out = []
    for field in fields:
        label = _plain(field.label) + ":"
        lines = _wrap(_plain(field.value), width - label_width)
        if len(label) < label_width:
            lines[0] = label.ljust(label_width) + lines[0]
        else:
            out += _wrap(label, width)
            lines[0] = " " * label_width + lines[0]
        out.append(lines[0].rstrip())
        out += [" " * label_width + line for line in lines[1:]]
    return out


def _blocks(blocks: tuple[Block, ...], width: int) -> list[str]:
    """Blocks side by side in equal columns when each fits, else one under the other."""
    column = (width - _GAP * (len(blocks) - 1)) // len(blocks)
    shown = [[_plain(block.title).upper(), *map(_plain, block.lines)] for block in blocks]
    if column >= MIN_WIDTH // 2 and all(len(line) <= column for lines in shown for line in lines):
        depth = max(len(lines) for lines in shown)
        rows = []
        for n in range(depth):
            cells = [lines[n] if n < len(lines) else "" for lines in shown]
            rows.append((" " * _GAP).join(cell.ljust(column) for cell in cells).rstrip())
        return rows
    out: list[str] = []
    for lines in shown:
        if out:
            out.append("")
        for line in lines:
            out += _wrap(line, width)
    return out


def _pair(field: Field, width: int) -> list[str]:
    """A label at the left and its value ending at the right edge (the bottom line)."""
    label, value = _plain(field.label), _plain(field.value)
    if len(label) + _GAP + len(value) <= width:
        return [label + value.rjust(width - len(label))]
    return [*_wrap(label, width), *(line.rjust(width) for line in _wrap(value, width))]


class _Layout:
    """Where a table's columns go: which show in the row, their widths, the title line."""

    def __init__(self, table: Table, width: int) -> None:
        columns = table.columns
        self.table = table
        self.width = width
        self.grouped = columns[0].group
        self.indent = _INDENT if self.grouped else 0
        self.inline = [n for n, column in enumerate(columns) if not (column.group or column.under)]
        self.under = [n for n, column in enumerate(columns) if column.under]
        self.rows = [_shown(table, row) for row in table.rows]
        self.totals = [_shown(table, row) for row in table.totals]
        shown = self.rows + self.totals
        natural = []
        for position, n in enumerate(self.inline):
            cells = [len(row[n]) + (self.indent if position == 0 else 0) for row in shown]
            natural.append(max([*cells, len(_plain(columns[n].label))]))
        self.widths = self._fit(natural, width - _GAP * (len(self.inline) - 1))

    def _fit(self, natural: list[int], room: int) -> list[int]:
        """Each column's width on a page of ``room`` characters (gaps left out).

        Number columns are at least ``_NUMBER`` wide when the page has room
        for it; text columns are squeezed (and wrap) when the page is too
        narrow, the narrowest served first; spare room goes to the first text
        column (the row's label), so that numbers end at the right edge.
        """
        columns = [self.table.columns[n] for n in self.inline]
        text = [p for p, column in enumerate(columns) if column.kind is Kind.TEXT]
        floored = [
            max(width, _NUMBER) if column.kind.numeric else width
            for width, column in zip(natural, columns, strict=True)
        ]
        least = sum(min(natural[p], _NARROWEST) for p in text)  # text squeezed to the bone
        fixed = sum(width for p, width in enumerate(floored) if p not in text)
        widths = floored if fixed + least <= room else list(natural)
        spare = room - sum(widths)
        if spare < 0 and text:
            left = room - sum(w for p, w in enumerate(widths) if p not in text)
            pending = sorted(text, key=lambda p: natural[p])
            while pending:
                position = pending.pop(0)
                share = max(left // (len(pending) + 1), _NARROWEST)
                widths[position] = min(natural[position], share)
                left -= widths[position]
            spare = max(left, 0)
        if spare > 0 and any(column.align is Align.RIGHT for column in columns):
            widths[text[0] if text else 0] += spare
        return widths

    def line(self, cells: list[list[str]], indent: int) -> list[str]:
        """One row (or title) whose cells are already wrapped to their columns."""
        columns = [self.table.columns[n] for n in self.inline]
        out = []
        for depth in range(max(len(lines) for lines in cells)):
            parts = []
            for position, (column, lines) in enumerate(zip(columns, cells, strict=True)):
                text = lines[depth] if depth < len(lines) else ""
                size = self.widths[position] - (indent if position == 0 else 0)
                cell = text.rjust(size) if column.align is Align.RIGHT else text.ljust(size)
                parts.append(" " * indent + cell if position == 0 else cell)
            out.append((" " * _GAP).join(parts).rstrip())
        return out


def _table(table: Table, width: int) -> list[str]:
    layout = _Layout(table, width)
    columns = table.columns
    labels = [
        _wrap(_plain(columns[n].label), size)
        for n, size in zip(layout.inline, layout.widths, strict=True)
    ]
    title = _plain(table.title).upper()
    if not any(label != [""] for label in labels[1:]):
        out = _wrap(title, width)
    elif len(title) <= layout.widths[0]:
        out = layout.line([[title], *labels[1:]], 0)
    else:  # the title would run into the labels: the labels go on a line of their own
        out = [*_wrap(title, width), *layout.line(labels, 0)]
    out.append("-" * width)
    if not table.rows:
        out += _wrap("  " + _plain(table.empty), width)
    out += _rows(layout, table.rows, layout.rows)
    if table.totals:
        out += ["-" * width, *_rows(layout, table.totals, layout.totals)]
    if table.note:
        out += _prose(table.note, width)
    return out


def _shown(table: Table, row: Row) -> list[str]:
    return [_plain(cell) for cell in table.shown(row)]


def _rows(layout: _Layout, rows: tuple[Row, ...], views: list[list[str]]) -> list[str]:
    """The lines of ``rows``, whose cells as shown are ``views``."""
    table = layout.table
    out: list[str] = []
    group: object = _NO_GROUP
    for row, shown in zip(rows, views, strict=True):
        indent = 0
        if layout.grouped and not shown[0]:
            group = _NO_GROUP  # a row of no group ends the group above it
        elif layout.grouped:
            if row[0] != group:
                group = row[0]
                out += _wrap(shown[0], layout.width)
            indent = layout.indent
        cells = []
        for position, n in enumerate(layout.inline):
            size = layout.widths[position] - (indent if position == 0 else 0)
            wraps = table.columns[n].kind is Kind.TEXT
            cells.append(_wrap(shown[n], size) if wraps else [shown[n]])
        out += layout.line(cells, indent)
        below = indent + _INDENT
        for n in layout.under:
            if shown[n]:
                out += [" " * below + line for line in _wrap(shown[n], layout.width - below)]
    return out
