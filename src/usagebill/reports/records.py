"""Records: a report's data table as a list of dicts, ready for ``pandas.DataFrame``."""

from __future__ import annotations

from typing import Any

from usagebill.reports.model import Kind, Report, Table, data_table

__all__ = ["to_records"]

_AS_IS = frozenset({Kind.TEXT, Kind.COUNT, Kind.FLAG})  # cells that programs take as they are


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
    converted = [
        (position, column.value)
        for position, column in enumerate(table.columns)
        if column.kind not in _AS_IS
    ]
    records = []
    for row in table.rows:
        cells = list(row)
        for position, value in converted:
            cells[position] = value(cells[position])
        records.append(dict(zip(keys, cells, strict=True)))
    return records
