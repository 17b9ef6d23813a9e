"""HTML: one template, one scoped stylesheet, everything escaped, long sections folded."""

from html.parser import HTMLParser

import pytest

from usagebill import InvalidValueError, Money
from usagebill.reports import STYLESHEET, Column, Field, Kind, Report, Table, to_html

AMOUNT = Column("amount", "USD", Kind.AMOUNT)
HOSTILE = "<script>alert('x')</script>&\"'"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, _attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page):
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def _report(rows=3, **parts):
    table = Table(
        HOSTILE,
        [Column("who", HOSTILE), AMOUNT],
        rows=[(f"{HOSTILE} {n}", Money(n)) for n in range(rows)],
        totals=[("Total", Money(sum(range(rows))))],
    )
    return Report("demo", HOSTILE, HOSTILE, sections=[table], **parts)


def test_everything_is_escaped():
    report = _report(
        header=[Field(HOSTILE, HOSTILE)], bottom_line=Field(HOSTILE, HOSTILE), notes=[HOSTILE]
    )
    page = to_html(report)
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert parsed.tags.count("style") == 1
    text = "".join(parsed.text)
    # the title and subject, a field, the bottom line, the section title, a label, 3 rows, a note
    assert text.count(HOSTILE) == 2 + 2 + 2 + 1 + 1 + 3 + 1
    assert "<script>" not in page


def test_one_stylesheet_scoped_to_the_report():
    page = to_html(_report())
    assert page.startswith("<div class='usagebill-report usagebill-demo'><style>")
    assert STYLESHEET in page
    selectors = [rule.split("{")[0] for rule in STYLESHEET.split("}") if rule]
    assert all(
        part.strip().startswith(".usagebill-report")
        for rule in selectors
        for part in rule.split(",")
    )


def test_numbers_right_aligned_totals_in_the_foot():
    page = to_html(_report())
    assert "<th class='r'>USD</th>" in page
    assert "<td class='r'>2.00</td>" in page
    assert "<tfoot><tr><td>Total</td><td class='r'>3.00</td></tr></tfoot>" in page


def test_long_sections_fold_short_ones_do_not():
    assert "<details>" not in to_html(_report(rows=12))
    folded = to_html(_report(rows=13))
    assert "<details><summary>" in folded
    assert "(13 rows)</summary>" in folded
    assert "<details>" not in to_html(_report(rows=13), fold=None)
    assert "<details>" in to_html(_report(rows=1), fold=0)


def test_empty_sections_say_so():
    table = Table("Caps", [Column("cap")], empty="no caps are set")
    page = to_html(Report("demo", "Demo", sections=[table]))
    assert "<h4>Caps</h4><p class='usagebill-empty'>no caps are set</p>" in page


def test_control_characters_are_replaced():
    table = Table("T", [Column("who")], rows=[("a\x00b\x1bc\td\ne",)])
    assert "<td>a\ufffdb\ufffdc\td\ne</td>" in to_html(Report("demo", "Demo", sections=[table]))


@pytest.mark.parametrize("fold", [-1, "12", 1.5])
def test_fold_is_a_count(fold):
    with pytest.raises(InvalidValueError, match="fold"):
        to_html(_report(), fold=fold)
