"""The report model: what a result shows, apart from how each format shows it.

A :class:`Report` is a title, header fields, blocks (addresses), sections
that are tables, an optional bottom line, notes, the reports it is made of
(parts), and the data table behind it all. A :class:`Table` has typed
:class:`Column` s — text, amount, signed change, exact amount, count, flag —
and rows of plain values (``str``, ``int``, ``bool``, ``Decimal``,
:class:`~usagebill.money.Money` or ``None``). The model knows no result
type: an invoice, a diff or a forecast describes itself as a report
(``to_report()``) and the renderers of this package turn any report into
text, Markdown, HTML, CSV or records.

How a cell shows to people is decided here, once, by its column's kind
(:meth:`Column.show`); every human format shows that same string, made safe
for the format (escaped; line breaks and control characters neutralised).
Amounts are rounded by the one rule of :mod:`usagebill.money`
(:func:`shown_amount`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final, TypeAlias

import attrs

from usagebill.errors import InvalidValueError
from usagebill.money import Money, minor_unit

__all__ = [
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
]

Cell: TypeAlias = str | int | bool | Decimal | Money | None
"""What a table's cell holds: a plain value, typed by its column's kind (``None``: blank)."""


def shown_amount(money: Money) -> str:
    """A rounded amount with thousands separators, e.g. ``1,234.50``; never ``-0.00``.

    >>> shown_amount(Money("-1234.505"))
    '-1,234.50'
    """
    rounded = money.rounded().amount
    return f"{rounded or abs(rounded):,f}"


def shown_change(money: Money) -> str:
    """A rounded change with its sign: ``+1,234.50``, ``-3.00``, ``0.00``.

    >>> shown_change(Money("0.125")), shown_change(Money("-0.001"))
    ('+0.12', '0.00')
    """
    rounded = money.rounded().amount
    return f"{rounded:+,f}" if rounded else shown_amount(money)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, singular or plural: ``1 cap``, ``3 caps``, ``1,204 lines``.

    >>> counted(1, "cap"), counted(1_204, "line"), counted(2, "entry", "entries")
    ('1 cap', '1,204 lines', '2 entries')
    """
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


class Kind(enum.StrEnum):
    """What a column holds, which says how it shows, aligns and exports.

    >>> change = Column("change", "USD", Kind.CHANGE)
    >>> change.kind.numeric, change.show(Money("12")), change.value(Money("12.004"))
    (True, '+12.00', Decimal('12.00'))
    """

    TEXT = "text"
    """A ``str``: shown on one line, left-aligned; always text in a spreadsheet."""
    AMOUNT = "amount"
    """A :class:`Money`, shown rounded (``1,234.50``); exported as the rounded Decimal."""
    CHANGE = "change"
    """A :class:`Money` difference, shown rounded with its sign (``+12.00``)."""
    EXACT = "exact"
    """A :class:`Money` or ``Decimal`` (a rate, a fee), shown and exported in full."""
    EXACT_CHANGE = "exact_change"
    """An exact difference, shown in full with its sign (``+0.0045``)."""
    COUNT = "count"
    """An ``int`` (requests, tokens, seconds), shown with separators (``12,345``)."""
    FLAG = "flag"
    """A ``bool``, shown ``yes`` or ``no``."""

    @property
    def numeric(self) -> bool:
        """Tell whether the kind holds a number (right-aligned, bare in a spreadsheet)."""
        return self not in (Kind.TEXT, Kind.FLAG)


_TYPES: Final[dict[Kind, tuple[type, ...]]] = {
    Kind.TEXT: (str,),
    Kind.AMOUNT: (Money,),
    Kind.CHANGE: (Money,),
    Kind.EXACT: (Money, Decimal),
    Kind.EXACT_CHANGE: (Money, Decimal),
    Kind.COUNT: (int,),
    Kind.FLAG: (bool,),
}


_EXACT_TYPES: Final = {
    kind: frozenset({type(None), *types} - ({bool} if kind is not Kind.FLAG else set()))
    for kind, types in _TYPES.items()
}


class Align(enum.StrEnum):
    """Where a column's cells sit: text to the left, numbers to the right.

    A column aligns by its kind unless told otherwise:

    >>> Column("model").align, Column("requests", kind=Kind.COUNT).align
    (<Align.LEFT: 'left'>, <Align.RIGHT: 'right'>)
    """

    LEFT = "left"
    RIGHT = "right"


def _default_align(column: Column) -> Align:
    kind: object = column.kind  # not yet checked: the validators run after the defaults
    return Align.RIGHT if isinstance(kind, Kind) and kind.numeric else Align.LEFT


def _default_label(column: Column) -> str:
    return column.key


def _nonempty(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidValueError(attribute.name, value, "must be a non-empty str")


def _str(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidValueError(attribute.name, value, "must be a str")


def _one_of(kind: type[enum.Enum]) -> Any:  # noqa: ANN401  (an attrs validator)
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            choices = ", ".join(f"{kind.__name__}.{item.name}" for item in kind)
            raise InvalidValueError(attribute.name, value, f"must be one of {choices}")

    return check


def _shown_number(kind: Kind, value: Money | Decimal) -> str:
    if isinstance(value, Money):
        if kind is Kind.AMOUNT:
            return shown_amount(value)
        if kind is Kind.CHANGE:
            return shown_change(value)
        # Exact money as Money writes it: no trailing zeros past the minor unit (0.0045).
        amount = value.amount or abs(value.amount)  # never -0
        exponent = amount.normalize().as_tuple().exponent
        places = max(minor_unit(value.currency), -exponent if isinstance(exponent, int) else 0)
        text = f"{amount:,.{places}f}"
    else:
        text = f"{value or abs(value):,f}"  # a Decimal (a rate) as it is written
    positive = (value.amount if isinstance(value, Money) else value) > 0
    return f"+{text}" if kind is Kind.EXACT_CHANGE and positive else text


@attrs.frozen
class Column:
    """One column of a table: its machine name, its heading for people, what it holds.

    ``key`` names the column in CSV and records; ``label`` heads it for people
    (the key unless given). ``missing`` is what people see for a ``None`` cell
    (``n/a``, ``unlimited``). A ``group`` column (the first one only) groups
    the rows: plain text prints each of its values once, as a heading over
    the rows that share it; tables repeat it on every row. An ``under`` column
    holds long text that plain text prints on its own line under the row.

    >>> fee = Column("fee", "USD", Kind.AMOUNT)
    >>> fee.align, fee.show(Money("1234.5")), fee.show(None)
    (<Align.RIGHT: 'right'>, '1,234.50', '')
    """

    key: str = attrs.field(validator=_nonempty)
    label: str = attrs.field(default=attrs.Factory(_default_label, takes_self=True), validator=_str)
    kind: Kind = attrs.field(default=Kind.TEXT, validator=_one_of(Kind))
    align: Align = attrs.field(
        default=attrs.Factory(_default_align, takes_self=True), validator=_one_of(Align)
    )
    missing: str = attrs.field(default="", validator=_str)
    group: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    under: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if (self.group or self.under) and self.kind is not Kind.TEXT:
            raise InvalidValueError(self.key, self.kind.value, "a group or under column is text")
        if self.group and self.under:
            raise InvalidValueError(self.key, "group and under", "a column is one or the other")

    def check(self, value: object) -> None:
        """Refuse a cell this column cannot hold (``bool`` is not a count)."""
        if value is None:
            return
        kinds = _TYPES[self.kind]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise InvalidValueError(
                f"cell of column {self.key!r}", value, f"must be {names} ({self.kind.value})"
            )

    def show(self, value: Cell) -> str:
        """The cell as people see it, before each format makes it safe (text as it is)."""
        if value is None:
            return self.missing
        if isinstance(value, str):
            return value  # each format makes text safe in its own way
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value:,}"
        return _shown_number(self.kind, value)

    def value(self, cell: Cell) -> str | int | bool | Decimal | None:
        """The cell for programs: amounts as Decimals (rounded as shown, or exact), else as is."""
        if isinstance(cell, Money):
            return cell.rounded().amount if self.kind in (Kind.AMOUNT, Kind.CHANGE) else cell.amount
        return cell


Row: TypeAlias = tuple[Cell, ...]
"""One row of a table: a cell per column."""


def _rows(value: Iterable[Iterable[Cell]]) -> tuple[Row, ...]:
    return tuple(tuple(row) for row in value)


def _columns(value: Iterable[Column]) -> tuple[Column, ...]:
    return tuple(value)


@attrs.frozen
class Table:
    """A titled table: typed columns, rows, optional total rows, and what to say when empty.

    Total rows sum up the rows (a renderer sets them apart; CSV and records
    leave them out, as they can be computed). Every row has one cell per
    column, of the column's kind. A ``note`` is a sentence or two printed
    under the table: what its figures mean, why they can happen.

    >>> table = Table("By model", (Column("model", ""), Column("amount", "USD", Kind.AMOUNT)),
    ...               rows=[("claude-sonnet-4-6", Money("12.5"))])
    >>> [column.show(cell) for column, cell in zip(table.columns, table.rows[0])]
    ['claude-sonnet-4-6', '12.50']
    """

    title: str = attrs.field(validator=_str)
    columns: tuple[Column, ...] = attrs.field(converter=_columns)
    rows: tuple[Row, ...] = attrs.field(default=(), converter=_rows)
    totals: tuple[Row, ...] = attrs.field(default=(), converter=_rows)
    empty: str = attrs.field(default="none", validator=_str)
    note: str = attrs.field(default="", validator=_str)

    def __attrs_post_init__(self) -> None:
        self._check_columns()
        self._check_cells()

    def _check_columns(self) -> None:
        columns = self.columns
        if not columns or not all(isinstance(column, Column) for column in columns):
            raise InvalidValueError("columns", columns, "must be one or more Column")
        keys = [column.key for column in columns]
        if len(set(keys)) != len(keys):
            raise InvalidValueError("columns", keys, "must have distinct keys")
        if any(column.group for column in columns[1:]):
            raise InvalidValueError("columns", keys, "only the first column may group the rows")
        if all(column.group or column.under for column in columns):
            raise InvalidValueError("columns", keys, "need one column shown in the row itself")

    def _check_cells(self) -> None:
        """Every row has a cell per column, of the column's kind (checked column by column)."""
        columns = self.columns
        rows = (*self.rows, *self.totals)
        size = len(columns)
        for row in rows:
            if len(row) != size:
                raise InvalidValueError("row", row, f"must have {size} cells")
        for position, column in enumerate(columns):
            # The types a column's cells have, compared with those it takes, at C speed;
            # anything else (an enum member of a str type, a bool in a count) cell by cell.
            if not {type(row[position]) for row in rows} <= _EXACT_TYPES[column.kind]:
                for row in rows:
                    column.check(row[position])

    def shown(self, row: Row) -> tuple[str, ...]:
        """A row's cells as people see them."""
        return tuple(column.show(cell) for column, cell in zip(self.columns, row, strict=True))


@attrs.frozen
class Field:
    """One header field: a label and its value, already in words (``Period: 2026-10 …``).

    >>> from usagebill.reports import to_markdown
    >>> report = Report("invoice", "Invoice", "acme", header=[Field("Period", "2026-10")],
    ...                 bottom_line=Field("Total due (USD)", "1,234.50"))
    >>> print(to_markdown(report), end="")
    # Invoice: acme
    <BLANKLINE>
    - **Period:** 2026-10
    <BLANKLINE>
    **Total due (USD): 1,234.50**
    """

    label: str = attrs.field(validator=_str)
    value: str = attrs.field(validator=_str)


def _fields(value: Iterable[Field]) -> tuple[Field, ...]:
    return tuple(value)


def _block_lines(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InvalidValueError("lines", value, "must be a collection of str, one per line")
    lines = tuple(value)
    if not all(isinstance(line, str) for line in lines):
        raise InvalidValueError("lines", lines, "must hold str items")
    return lines


@attrs.frozen
class Block:
    """A titled block of lines, such as an address: the seller, the customer.

    Plain text prints blocks side by side when the page is wide enough;
    HTML prints them side by side; Markdown one after the other.

    >>> Block("Bill to", ["Acme Health, Inc.", "1 Example Plaza"]).lines
    ('Acme Health, Inc.', '1 Example Plaza')
    """

    title: str = attrs.field(validator=_str)
    lines: tuple[str, ...] = attrs.field(converter=_block_lines)


def _blocks(value: Iterable[Block]) -> tuple[Block, ...]:
    return tuple(value)


def _tables(value: Iterable[Table]) -> tuple[Table, ...]:
    return tuple(value)


def _notes(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _reports(value: Iterable[Report]) -> tuple[Report, ...]:
    return tuple(value)


def _optional_table(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Table):
        raise InvalidValueError(attribute.name, value, "must be a Table or None")


@attrs.frozen
class Report:
    """A report: a title, header fields, blocks, sections, a bottom line, notes, parts, its data.

    ``name`` is a short slug for the kind of report (``invoice``, ``diff``);
    ``subject`` says what it is about (the organization). The ``bottom_line``
    is the one figure the report comes to (an invoice's total due): plain
    text prints it last, under a rule, where a printout is read for it;
    Markdown and HTML print it under the header, where a page or a notebook
    cell is read first. ``parts`` are whole reports this one is made of, each
    shown after it under its own heading (a what-if shows the requests it
    denied, its invoice diff and its plan comparison). ``data`` is the table
    behind the report, every column of every row, for CSV and records (for
    pandas); a part's data is its own.

    >>> report = Report("note", "Note", "acme", header=(Field("Period", "2026-10"),),
    ...                 bottom_line=Field("Total (USD)", "12.50"))
    >>> report.data is None
    True
    """

    name: str = attrs.field(validator=_nonempty)
    title: str = attrs.field(validator=_str)
    subject: str = attrs.field(default="", validator=_str)
    header: tuple[Field, ...] = attrs.field(default=(), converter=_fields)
    blocks: tuple[Block, ...] = attrs.field(default=(), converter=_blocks, kw_only=True)
    sections: tuple[Table, ...] = attrs.field(default=(), converter=_tables)
    bottom_line: Field | None = None
    notes: tuple[str, ...] = attrs.field(default=(), converter=_notes)
    data: Table | None = attrs.field(default=None, validator=_optional_table)
    parts: tuple[Report, ...] = attrs.field(default=(), converter=_reports, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.name):
            raise InvalidValueError("name", self.name, "must be a slug: a-z, 0-9 and -")
        for field, kind in (
            ("header", Field),
            ("blocks", Block),
            ("sections", Table),
            ("notes", str),
            ("parts", Report),
        ):
            items = getattr(self, field)
            if not all(isinstance(item, kind) for item in items):
                raise InvalidValueError(field, items, f"must hold {kind.__name__} items")
        if self.bottom_line is not None and not isinstance(self.bottom_line, Field):
            raise InvalidValueError("bottom_line", self.bottom_line, "must be a Field or None")

    @property
    def heading(self) -> str:
        """The title and the subject: ``Invoice: acme``."""
        return f"{self.title}: {self.subject}" if self.subject else self.title


def data_table(source: Report | Table) -> Table:
    """The table that CSV and records show: a table itself, or a report's ``data``."""
    data = source if isinstance(source, Table) else getattr(source, "data", None)
    if isinstance(data, Table):
        return data
    raise InvalidValueError("source", source, "must be a Table or a Report with a data table")
