"""Reports: one model of what a result shows, and its renderers.

Every result (the invoice, a diff, a forecast, a reconciliation, the limit
report) describes itself as a :class:`~usagebill.reports.model.Report` with
``to_report()``; the renderers turn any report into plain text
(:func:`~usagebill.reports.text.to_text`), Markdown
(:func:`~usagebill.reports.markdown.to_markdown`), HTML
(:func:`~usagebill.reports.html.to_html`), CSV
(:func:`~usagebill.reports.csv.to_csv`) and records for pandas
(:func:`~usagebill.reports.records.to_records`). This package sits low in the
layers: it knows money, never the results that use it.

Each name loads on first use (:pep:`562`), as in the :mod:`usagebill` façade:
a result module that builds reports loads the model, and the renderers load
when something is rendered (a gateway that checks limits never pays for them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from usagebill.reports.csv import safe_text, to_csv
    from usagebill.reports.html import PAGE_STYLESHEET, STYLESHEET, to_html, to_html_page
    from usagebill.reports.markdown import to_markdown
    from usagebill.reports.model import (
        Align,
        Block,
        Cell,
        Column,
        Field,
        Kind,
        Report,
        Row,
        Table,
        counted,
        data_table,
        shown_amount,
        shown_change,
    )
    from usagebill.reports.records import to_records
    from usagebill.reports.text import to_text

_HOMES: Final = {
    "usagebill.reports.csv": ("safe_text", "to_csv"),
    "usagebill.reports.html": ("PAGE_STYLESHEET", "STYLESHEET", "to_html", "to_html_page"),
    "usagebill.reports.markdown": ("to_markdown",),
    "usagebill.reports.model": (
        "Align",
        "Block",
        "Cell",
        "Column",
        "Field",
        "Kind",
        "Report",
        "Row",
        "Table",
        "counted",
        "data_table",
        "shown_amount",
        "shown_change",
    ),
    "usagebill.reports.records": ("to_records",),
    "usagebill.reports.text": ("to_text",),
}
_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "PAGE_STYLESHEET",
    "STYLESHEET",
    "Align",
    "Block",
    "Cell",
    "Column",
    "Field",
    "Kind",
    "Report",
    "Row",
    "Table",
    "counted",
    "data_table",
    "safe_text",
    "shown_amount",
    "shown_change",
    "to_csv",
    "to_html",
    "to_html_page",
    "to_markdown",
    "to_records",
    "to_text",
]


def __getattr__(name: str) -> object:
    """Import the module a public name lives in, the first time the name is used."""
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'usagebill.reports' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next use is a plain look-up
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
