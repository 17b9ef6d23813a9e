"""Records: a report's data table as a list of dicts, ready for ``pandas.DataFrame``."""

from __future__ import annotations

from typing import Any

from usagebill.reports.model import Report, Table, data_table

__all__ = ["to_records"]


def to_records(source: Report | Table) -> list[dict[str, Any]]:
    """One dict per row of the data table, keyed by column, in column order.

    Amounts are Decimals (rounded as shown for amount and change columns,
    exact for exact ones), counts ints, flags bools, blanks ``None``. Total
    rows are left out: they are sums of the rows.

    >>> from usagebill.money import Money
    >>> from usagebill.reports.model import Column, Kind
    >>> to_records(Table("t", [Column("user_id"), Column("amount", kind=Kind.AMOUNT)],
    ...                  rows=[("ada", Money("1.005"))]))
    [{'user_id': 'ada', 'amount': Decimal('1.00')}]
    """
    table = data_table(source)
    keys = [column.key for column in table.columns]
    return [
        dict(
            zip(
                keys,
                (column.value(cell) for column, cell in zip(table.columns, row, strict=True)),
                strict=True,
            )
        )
        for row in table.rows
    ]
