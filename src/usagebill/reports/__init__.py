"""Reports: one model of what a result shows, and its renderers.

Every result (the invoice, a diff, a forecast, a reconciliation, the limit
report) describes itself as a :class:`Report` with ``to_report()``; the
renderers turn any report into plain text (:func:`to_text`), Markdown
(:func:`to_markdown`), HTML (:func:`to_html`), CSV (:func:`to_csv`) and
records for pandas (:func:`to_records`). This package sits low in the layers:
it knows money, never the results that use it.
"""

from usagebill.reports.csv import safe_text, to_csv
from usagebill.reports.html import STYLESHEET, to_html
from usagebill.reports.markdown import to_markdown
from usagebill.reports.model import (
    Align,
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

__all__ = [
    "STYLESHEET",
    "Align",
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
    "to_markdown",
    "to_records",
    "to_text",
]
