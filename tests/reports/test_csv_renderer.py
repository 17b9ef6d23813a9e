"""CSV: text columns stay text (formulas and number-like cells neutralised), numbers bare."""

import csv
import io
from decimal import Decimal

import pytest

from usagebill import Money
from usagebill.reports import Column, Kind, Report, Table, to_csv, to_records
from usagebill.reports.csv import safe_text

NEUTRALISED = [
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "-007",
    "@SUM(A1:A9)",
    "\tcmd",
    "\rcmd",
    "\ncmd",
    "\uff1dcmd",  # a full-width equals sign, which some spreadsheets take for "="
    "007",
    "12",
    "1e5",
    "12%",
    "1,234.5",
    ".5",
    "(12)",
    "$12",
    "2026-10-01",
    "12:30",
    "3/4",
    " 42 ",
    "TRUE",
    "false",
]
LEFT_ALONE = [
    "u-007",
    "ada",
    "claude-sonnet-4-6",
    "2026-10-01T00:00:00+00:00",
    "a=b",
    "",
    "12 apples",
]


@pytest.mark.parametrize("text", NEUTRALISED)
def test_text_a_spreadsheet_would_run_or_convert_gets_an_apostrophe(text):
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_plain_text_is_left_alone(text):
    assert safe_text(text) == text


def _table():
    return Table(
        "users",
        [
            Column("user_id"),
            Column("amount", kind=Kind.AMOUNT),
            Column("exact", kind=Kind.EXACT),
            Column("change", kind=Kind.CHANGE),
            Column("requests", kind=Kind.COUNT),
            Column("flag", kind=Kind.FLAG),
        ],
        rows=[
            (user, Money("-1.005"), Money("-0.0045"), Money(3), -2, True)
            for user in [*NEUTRALISED, *LEFT_ALONE]
        ]
        + [(None, None, None, None, None, None)],
        totals=[("total", Money(0), Money(0), Money(0), 0, False)],
    )


def test_numbers_are_bare_in_number_columns_only():
    rows = list(csv.reader(io.StringIO(to_csv(_table()), newline="")))
    assert rows[0] == ["user_id", "amount", "exact", "change", "requests", "flag"]
    assert len(rows) == 1 + len(NEUTRALISED) + len(LEFT_ALONE) + 1  # totals left out
    for row in rows[1:-1]:
        assert row[1:] == ["-1.00", "-0.0045", "3.00", "-2", "True"]
    assert rows[-1] == [""] * 6
    users = [row[0] for row in rows[1:-1]]
    assert users == ["'" + text for text in NEUTRALISED] + LEFT_ALONE


def test_a_carriage_return_is_quoted_so_it_cannot_start_a_row():
    table = Table("t", [Column("a"), Column("b")], rows=[("x\ry", "=z"), ("plain", "row")])
    text = to_csv(table)
    assert text == 'a,b\n"x\ry","\'=z"\nplain,row\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b"],
        ["x\ry", "'=z"],
        ["plain", "row"],
    ]


def test_records_are_the_typed_cells():
    records = to_records(Report("t", "T", data=_table()))
    assert len(records) == len(NEUTRALISED) + len(LEFT_ALONE) + 1
    assert records[0] == {
        "user_id": NEUTRALISED[0],  # records are for programs: no apostrophe
        "amount": Decimal("-1.00"),
        "exact": Decimal("-0.0045"),
        "change": Decimal("3.00"),
        "requests": -2,
        "flag": True,
    }
    assert records[-1] == dict.fromkeys(records[0])
