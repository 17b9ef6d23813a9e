"""Kept only for :mod:`usagebill.analysis.whatif`, until it renders through the report model.

Import :func:`~usagebill.reports.model.shown_amount` and
:func:`~usagebill.reports.model.shown_change` from :mod:`usagebill.reports`;
this module goes when the what-if results describe themselves as reports.
"""

from usagebill.reports.model import shown_amount, shown_change

__all__ = ["shown_amount", "shown_change"]
