"""Markdown (GitHub-flavoured): header fields as a list, sections as pipe tables.

A report's parts follow it, each a heading level further down (``##``, its
sections ``###``).

Every cell and field is escaped (:func:`escape`): a ``|`` cannot end a cell,
a line break cannot end a row, and ``*``, ``_``, backticks, brackets, ``<``
and entities show as written instead of turning into emphasis, code, links
or HTML. Columns align as their kind says (numbers right).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from usagebill.reports.model import Align, Report, Table

__all__ = ["escape", "to_markdown"]

# A line break (what str.splitlines splits on) or a tab becomes a space; any other control
# character becomes U+FFFD.
_BREAKS: Final = re.compile(r"\r\n|[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]")
_SPECIAL: Final = re.compile(r"[\\`*\[\]<>|~]")
# "_" opens or closes emphasis unless it stands between two letters or digits (snake_case).
_UNDERSCORE: Final = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_ENTITY: Final = re.compile(r"&(?=#?\w+;)")
# Any character that escape() changes (those above, "_", "&", breaks and controls).
_ANY_SPECIAL: Final = re.compile(r"[\\`*\[\]<>|~_&\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BLOCK_START: Final = re.compile(r"^(\s*)(?:([#+=-])|(\d+)([.)]))")


def _one_line(text: str) -> str:
    if text.isprintable():
        return text
    text = _BREAKS.sub(" ", text)
    if text.isprintable():
        return text
    return "".join("\ufffd" if unicodedata.category(char) == "Cc" else char for char in text)


def escape(text: str) -> str:
    r"""``text`` on one line, inert in a Markdown cell or paragraph.

    >>> print(escape("pipe|user *bold* snake_case _x_ <b>&amp;"))
    pipe\|user \*bold\* snake_case \_x\_ \<b\>\&amp;
    """
    if not _ANY_SPECIAL.search(text):
        return text  # most cells: nothing to do
    text = _SPECIAL.sub(lambda match: "\\" + match.group(), _one_line(text))
    text = _UNDERSCORE.sub(r"\\_", text)
    return _ENTITY.sub(r"\\&", text)


def _title(text: str) -> str:
    # The title keeps "<" and "&" as written (an organization named "Acme & <Co>"); everything
    # that would turn into emphasis, code or a link is escaped as in a cell.
    text = re.sub(r"[\\`*\[\]|~]", lambda match: "\\" + match.group(), _one_line(text))
    return _UNDERSCORE.sub(r"\\_", text)


def _paragraph(text: str) -> str:
    """Escaped, and a line that would start a heading or a list starts with an escape."""

    def escaped(match: re.Match[str]) -> str:
        indent, sign, number, dot = match.groups()
        return indent + (f"\\{sign}" if sign else f"{number}\\{dot}")

    return _BLOCK_START.sub(escaped, escape(text), count=1)


def to_markdown(report: Report) -> str:
    r"""``report`` as Markdown.

    >>> from usagebill.money import Money
    >>> from usagebill.reports.model import Column, Field, Kind
    >>> table = Table("Summary", [Column("item", ""), Column("amount", "USD", Kind.AMOUNT)],
    ...               rows=[("Usage", Money("5.333"))])
    >>> print(to_markdown(Report("demo", "Demo", "acme", header=[Field("Period", "2026-10")],
    ...                          sections=[table])), end="")
    # Demo: acme
    <BLANKLINE>
    - **Period:** 2026-10
    <BLANKLINE>
    ## Summary
    <BLANKLINE>
    |  | USD |
    | --- | ---: |
    | Usage | 5.33 |
    """
    return _markdown(report, 1)


def _markdown(report: Report, level: int) -> str:
    """``report`` under a heading of ``level`` (1: ``#``), its sections and parts one below."""
    heading, below = "#" * min(level, 6), "#" * min(level + 1, 6)
    blocks = [[f"{heading} {_title(report.heading)}"]]
    if report.header:
        blocks.append(
            [f"- **{escape(field.label)}:** {escape(field.value)}" for field in report.header]
        )
    if report.blocks:  # an address on one line: its lines joined by " · "
        blocks.append(
            [
                f"- **{escape(block.title)}:** " + " · ".join(escape(line) for line in block.lines)
                for block in report.blocks
            ]
        )
    if report.bottom_line is not None:
        bottom = report.bottom_line
        blocks.append([f"**{escape(bottom.label)}: {escape(bottom.value)}**"])
    for table in report.sections:
        blocks += [[f"{below} {escape(table.title)}"], _table(table)]
        if table.note:
            blocks.append([_paragraph(table.note)])
    blocks += [[_paragraph(note)] for note in report.notes]
    blocks += [[_markdown(part, level + 1).removesuffix("\n")] for part in report.parts]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _table(table: Table) -> list[str]:
    if not table.rows and not table.totals:
        return [_paragraph(table.empty)]
    columns = table.columns
    rules = ["---:" if column.align is Align.RIGHT else "---" for column in columns]
    out = [_row(escape(column.label) for column in columns), _row(rules)]
    out += [_row(escape(cell) for cell in table.shown(row)) for row in table.rows]
    if not table.rows:
        out.append(_row(escape(table.empty) if n == 0 else "" for n in range(len(columns))))
    out += [_row(escape(cell) for cell in table.shown(row)) for row in table.totals]
    return out


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"
