"""HTML: one layout and one stylesheet for every report, as a notebook block or a printed page.

One markup serves both views. :func:`to_html` is the compact block a
notebook shows (``_repr_html_``): sections longer than ``fold`` rows are
folded (``<details>``) so that a long invoice does not flood the notebook.
:func:`to_html_page` is the same report as one self-contained, print-ready
page: a whole HTML document with its stylesheet inline, ``@page`` rules for
A4 or US Letter, table headings repeated on every printed page, rows never
split across pages, and, in a grouped table longer than
``break_groups_over`` rows, each group (an invoice's member) starting on a
page of its own. The first page holds the header, the blocks (addresses), the
bottom line and the sections before the first long table.

The layout: the title, the header fields, the blocks side by side, the bottom
line, then each section as a table whose numbers are right-aligned and whose
total rows are set apart; a group column's values head the rows that share
them (as in plain text); an ``under`` column's text sits under the row's
first cell, in smaller type; a table's note follows it. A report's parts
follow it, each a block of the same layout nested in the report's. The stylesheet is
scoped to the report's block (``.usagebill-report``) and uses translucent
greys, so that it reads in light and dark notebook themes; the page view
prints black on white. Every piece of text goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import re
from typing import Final, Literal

from usagebill.errors import InvalidValueError
from usagebill.reports.model import Align, Block, Report, Row, Table

__all__ = ["PAGE_STYLESHEET", "STYLESHEET", "to_html", "to_html_page"]

_R: Final = ".usagebill-report"
STYLESHEET: Final = "".join(
    rule.replace("&", _R)
    for rule in (
        "&{font:13px/1.4 system-ui,-apple-system,'Segoe UI','DejaVu Sans',sans-serif}",
        "& h3{font-size:1.35em;margin:.2em 0 .5em}",
        "& h4,& summary{font-size:1.02em;font-weight:600;margin:1em 0 .25em}",
        "& summary{cursor:pointer}",
        "& table{border-collapse:collapse;margin:.2em 0}",
        (
            "& th,& td{padding:.15em .6em;text-align:left;vertical-align:top;"
            "border-bottom:1px solid rgba(128,128,128,.25);overflow-wrap:anywhere}"
        ),
        "& thead th{border-bottom:1px solid rgba(128,128,128,.6);font-weight:600}",
        "& .r{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}",
        "& tfoot td{font-weight:600;border-top:1px solid rgba(128,128,128,.6)}",
        "& .usagebill-fields th,& .usagebill-fields td{border:0;padding:.05em .6em .05em 0}",
        "& .usagebill-fields th{font-weight:600;white-space:nowrap}",
        "& .usagebill-blocks{display:flex;flex-wrap:wrap;gap:.5em 3em;margin:.8em 0}",
        (
            "& .usagebill-block h5{font-size:.8em;text-transform:uppercase;letter-spacing:.05em;"
            "margin:0 0 .2em;opacity:.7}"
        ),
        "& .usagebill-block p{margin:0}",
        "& .usagebill-bottom-line{font-size:1.15em;margin:.6em 0}",
        "& .usagebill-empty,& .usagebill-note{opacity:.75}",
        "& .usagebill-note{font-size:.92em;margin:.2em 0 .6em;max-width:60em}",
        "& .usagebill-detail{font-size:.88em;opacity:.75}",
        "& tr.usagebill-group th{font-weight:600;padding-top:.6em}",
        "& .usagebill-report{margin-top:1.4em}",
    )
)
"""The one stylesheet of every report, scoped to ``.usagebill-report``."""

PAGE_STYLESHEET: Final = "".join(
    rule.replace("&", _R)
    for rule in (
        "html,body{margin:0;background:#fff;color:#000}",
        "&{font-size:9pt}",
        "& h4{margin:.8em 0 .2em}",
        "& table{width:100%}",
        (
            "& .usagebill-fields{display:grid;column-gap:.8em;"
            "grid-template-columns:max-content 1fr max-content 1fr}"
        ),
        "& .usagebill-fields tbody,& .usagebill-fields tr{display:contents}",
        "& .usagebill-empty{margin:.2em 0}",
        "& .usagebill-note{font-size:.85em;max-width:none}",
        "& thead{display:table-header-group}",
        "& tfoot{display:table-row-group}",
        "& tr,& .usagebill-block{break-inside:avoid}",
        "& h4{break-after:avoid}",
        "& tr.usagebill-group{break-after:avoid}",
        "& .usagebill-break{break-before:page}",
        "& th,& td{border-bottom-color:#ccc}",
        "& thead th,& tfoot td{border-color:#555}",
        (
            "& .usagebill-empty,& .usagebill-note,& .usagebill-detail,& .usagebill-block h5"
            "{opacity:1;color:#444}"
        ),
        "@media screen{body{padding:12mm}}",
    )
)
"""What the printed page adds to :data:`STYLESHEET` (the ``@page`` rule comes with the paper)."""

_PAPER: Final = {"A4": "A4", "Letter": "letter"}
_PAGE_MARGINS: Final = "14mm 12mm 16mm"
_TEMPLATE: Final = (
    "<div class='usagebill-report usagebill-{name}'>{style}"
    "<h3>{heading}</h3>{header}{blocks}{bottom_line}{sections}{notes}{parts}</div>"
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
    return _body(report, f"<style>{STYLESHEET}</style>", fold, None)


def to_html_page(
    report: Report,
    *,
    paper: Literal["A4", "Letter"] = "A4",
    break_groups_over: int | None = 40,
) -> str:
    """``report`` as one self-contained, print-ready HTML page (see the module docs).

    ``paper`` sets the ``@page`` size (``"A4"`` or ``"Letter"``); a grouped
    table of more than ``break_groups_over`` rows starts each group on a new
    page (``None``: never).

    >>> page = to_html_page(Report("demo", "Demo"), paper="Letter")
    >>> page.startswith("<!DOCTYPE html>"), "@page{size:letter;" in page
    (True, True)
    """
    if paper not in _PAPER:
        raise InvalidValueError("paper", paper, f"must be one of {sorted(_PAPER)}")
    if break_groups_over is not None and (
        type(break_groups_over) is not int or break_groups_over < 0
    ):
        raise InvalidValueError(
            "break_groups_over", break_groups_over, "must be a non-negative int or None"
        )
    style = f"@page{{size:{_PAPER[paper]};margin:{_PAGE_MARGINS}}}{STYLESHEET}{PAGE_STYLESHEET}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(report.heading)}</title><style>{style}</style></head><body>"
        + _body(report, "", None, break_groups_over)
        + "</body></html>\n"
    )


def _body(report: Report, style: str, fold: int | None, breaks: int | None) -> str:
    header = "".join(
        f"<tr><th>{_esc(field.label)}</th><td>{_esc(field.value)}</td></tr>"
        for field in report.header
    )
    bottom = report.bottom_line
    return _TEMPLATE.format(
        name=report.name,  # a slug: nothing to escape
        style=style,
        heading=_esc(report.heading),
        header=f"<table class='usagebill-fields'>{header}</table>" if header else "",
        blocks=_blocks(report.blocks),
        bottom_line=(
            ""
            if bottom is None
            else f"<p class='usagebill-bottom-line'>{_esc(bottom.label)}: "
            f"<strong>{_esc(bottom.value)}</strong></p>"
        ),
        sections="".join(_section(table, fold, breaks) for table in report.sections),
        notes="".join(f"<p class='usagebill-note'>{_esc(note)}</p>" for note in report.notes),
        parts="".join(_body(part, "", fold, breaks) for part in report.parts),
    )


def _blocks(blocks: tuple[Block, ...]) -> str:
    if not blocks:
        return ""
    return (
        "<div class='usagebill-blocks'>"
        + "".join(
            f"<div class='usagebill-block'><h5>{_esc(block.title)}</h5><p>"
            + "<br>".join(_esc(line) for line in block.lines)
            + "</p></div>"
            for block in blocks
        )
        + "</div>"
    )


def _section(table: Table, fold: int | None, breaks: int | None) -> str:
    title = _esc(table.title)
    note = f"<p class='usagebill-note'>{_esc(table.note)}</p>" if table.note else ""
    if not table.rows and not table.totals:
        return f"<h4>{title}</h4><p class='usagebill-empty'>{_esc(table.empty)}</p>{note}"
    columns = table.columns
    inline = [n for n, column in enumerate(columns) if not (column.group or column.under)]
    right = {n: columns[n].align is Align.RIGHT for n in inline}
    head = "".join(f"<th{_align(right[n])}>{_esc(columns[n].label)}</th>" for n in inline)
    grouped = columns[0].group
    page_per_group = grouped and breaks is not None and len(table.rows) > breaks
    body = _rows(table, table.rows, inline, right, page_per_group=page_per_group)
    if not table.rows:
        body = f"<tr><td colspan='{len(inline)}'>{_esc(table.empty)}</td></tr>"
    foot = _rows(table, table.totals, inline, right, page_per_group=False)
    grid = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        + (f"<tfoot>{foot}</tfoot>" if foot else "")
        + "</table>"
    )
    if fold is not None and len(table.rows) > fold:
        return (
            f"<details><summary>{title} ({len(table.rows):,} rows)</summary>{grid}{note}</details>"
        )
    heading = "<h4 class='usagebill-break'>" if page_per_group else "<h4>"
    return f"{heading}{title}</h4>{grid}{note}"


def _align(right: bool) -> str:
    return " class='r'" if right else ""


def _rows(
    table: Table,
    rows: tuple[Row, ...],
    inline: list[int],
    right: dict[int, bool],
    *,
    page_per_group: bool,
) -> str:
    """The rows; a group column's value heads its rows; under columns sit in the first cell."""
    columns = table.columns
    under = [n for n, column in enumerate(columns) if column.under]
    grouped = columns[0].group
    out = []
    group: object = _NO_GROUP
    first = True  # the first group follows the table's title: no page break before it
    for row in rows:
        shown = table.shown(row)
        if grouped and not shown[0]:
            group = _NO_GROUP  # a row of no group ends the group above it
        elif grouped and row[0] != group:
            group = row[0]
            breaks = page_per_group and not first
            first = False
            classes = "usagebill-group usagebill-break" if breaks else "usagebill-group"
            out.append(
                f"<tr class='{classes}'><th colspan='{len(inline)}'>{_esc(shown[0])}</th></tr>"
            )
        details = "".join(
            f"<div class='usagebill-detail'>{_esc(shown[n])}</div>" for n in under if shown[n]
        )
        cells = []
        for position, n in enumerate(inline):
            extra = details if position == 0 else ""
            cells.append(f"<td{_align(right[n])}>{_esc(shown[n])}{extra}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out)


_NO_GROUP: Final = object()
