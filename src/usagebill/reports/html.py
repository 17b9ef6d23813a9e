"""HTML: one template and one stylesheet for every report; everything escaped.

The layout is compact, for notebooks (``_repr_html_``): the header as a
two-column table, the bottom line under it, each section as a table whose
numbers are right-aligned and whose total rows are set apart; a section
longer than ``fold`` rows is folded (``<details>``), so that a long invoice
does not flood the notebook. The stylesheet is scoped to the report's block
(``.usagebill-report``) and uses translucent greys, so that it reads in light
and dark themes. Every piece of text — titles, labels, cells — goes through
:func:`html.escape`.
"""

from __future__ import annotations

import html
import re
from typing import Final

from usagebill.errors import InvalidValueError
from usagebill.reports.model import Align, Report, Row, Table

__all__ = ["STYLESHEET", "to_html"]

STYLESHEET: Final = (
    ".usagebill-report{font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}"
    ".usagebill-report h3{font-size:1.15em;margin:.2em 0 .4em}"
    ".usagebill-report h4,.usagebill-report summary{font-size:1em;font-weight:600;"
    "margin:.8em 0 .2em}"
    ".usagebill-report summary{cursor:pointer}"
    ".usagebill-report table{border-collapse:collapse;margin:.2em 0}"
    ".usagebill-report th,.usagebill-report td{padding:.12em .6em;text-align:left;"
    "vertical-align:top;border-bottom:1px solid rgba(128,128,128,.25)}"
    ".usagebill-report thead th{border-bottom:1px solid rgba(128,128,128,.6)}"
    ".usagebill-report .r{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}"
    ".usagebill-report tfoot td{font-weight:600;border-top:1px solid rgba(128,128,128,.6)}"
    ".usagebill-report .usagebill-fields th,.usagebill-report .usagebill-fields td{border:0}"
    ".usagebill-report .usagebill-bottom-line{font-size:1.1em;margin:.4em 0}"
    ".usagebill-report .usagebill-empty,.usagebill-report .usagebill-note{opacity:.7}"
)
"""The one stylesheet of every report, scoped to ``.usagebill-report``."""

_TEMPLATE: Final = (
    "<div class='usagebill-report usagebill-{name}'><style>{style}</style>"
    "<h3>{heading}</h3>{header}{bottom_line}{sections}{notes}</div>"
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _esc(text: str) -> str:
    """Escaped for HTML, with the control characters HTML does not allow replaced (U+FFFD)."""
    return html.escape(_CONTROL.sub("\ufffd", text))


def to_html(report: Report, *, fold: int | None = 12) -> str:
    """``report`` as an HTML block; sections of more than ``fold`` rows folded (``None``: none).

    >>> from usagebill.reports.model import Field
    >>> page = to_html(Report("demo", "Demo", "<b>acme</b>", header=[Field("Period", "2026-10")]))
    >>> page[page.index("<h3>"):]
    "<h3>Demo: &lt;b&gt;acme&lt;/b&gt;</h3><table class='usagebill-fields'><tr><th>Period</th>\
<td>2026-10</td></tr></table></div>"
    """
    if fold is not None and (type(fold) is not int or fold < 0):
        raise InvalidValueError("fold", fold, "must be a non-negative int or None")
    header = "".join(
        f"<tr><th>{_esc(field.label)}</th><td>{_esc(field.value)}</td></tr>"
        for field in report.header
    )
    bottom = report.bottom_line
    return _TEMPLATE.format(
        name=report.name,  # a slug: nothing to escape
        style=STYLESHEET,
        heading=_esc(report.heading),
        header=f"<table class='usagebill-fields'>{header}</table>" if header else "",
        bottom_line=(
            ""
            if bottom is None
            else f"<p class='usagebill-bottom-line'>{_esc(bottom.label)}: "
            f"<strong>{_esc(bottom.value)}</strong></p>"
        ),
        sections="".join(_section(table, fold) for table in report.sections),
        notes="".join(f"<p class='usagebill-note'>{_esc(note)}</p>" for note in report.notes),
    )


def _section(table: Table, fold: int | None) -> str:
    title = _esc(table.title)
    if not table.rows and not table.totals:
        return f"<h4>{title}</h4><p class='usagebill-empty'>{_esc(table.empty)}</p>"
    right = [column.align is Align.RIGHT for column in table.columns]
    head = "".join(
        f"<th{_align(r)}>{_esc(column.label)}</th>"
        for column, r in zip(table.columns, right, strict=True)
    )
    body = "".join(_row(table, row, right) for row in table.rows)
    if not table.rows:
        body = f"<tr><td colspan='{len(right)}'>{_esc(table.empty)}</td></tr>"
    foot = "".join(_row(table, row, right) for row in table.totals)
    grid = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        + (f"<tfoot>{foot}</tfoot>" if foot else "")
        + "</table>"
    )
    if fold is not None and len(table.rows) > fold:
        return f"<details><summary>{title} ({len(table.rows):,} rows)</summary>{grid}</details>"
    return f"<h4>{title}</h4>{grid}"


def _align(right: bool) -> str:
    return " class='r'" if right else ""


def _row(table: Table, row: Row, right: list[bool]) -> str:
    cells = "".join(
        f"<td{_align(r)}>{_esc(cell)}</td>" for cell, r in zip(table.shown(row), right, strict=True)
    )
    return f"<tr>{cells}</tr>"
