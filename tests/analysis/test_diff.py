"""Invoice diffs: lines matched by identity, signed changes, every total, the renderers.

The worked example (October 2026 in UTC: 31 days). Seat fees are examples: Chat $20,
Chat + Claude Code $40, HIPAA $5 a month. Prices: Sonnet 4.6 $3 / $15 per million
input / output tokens, Haiku 4.5 $1 / $5.

Before: olga and ada on Chat + Claude Code, bob on Chat with HIPAA, all month:
seat fees 40 + 40 + 20 + 5 = 105.00; usage e1 ada 1M input Sonnet (Claude Code) 3.00,
e2 bob 200k output Haiku 1.00, e3 olga 100k in + 10k out Sonnet 0.30 + 0.15 = 0.45;
total 109.45.

After: ada moves to Chat on Oct 16 00:00: Chat + Claude Code 15 days 40 x 15/31 =
19.354… → 19.35, Chat 16 days 20 x 16/31 = 10.322… → 10.32; e2 is gone and e4 (bob,
2M input Haiku, 2.00) is new: seat fees 94.67, usage 5.45, total 100.12.
"""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import HAIKU, OCTOBER, SONNET, event, member, october, organization
from usagebill import (
    BillingPeriod,
    CurrencyMismatchError,
    Money,
    PriceTable,
    Product,
    SeatCatalog,
    build_invoice,
)
from usagebill.analysis.diff import InvoiceDiff, diff

HAIKU_ID = "claude-haiku-4-5-20251001"  # the canonical id the invoice shows


E1 = event("e1", "ada", SONNET, Product.CLAUDE_CODE, october(3, 0), input_tokens=1_000_000)
E2 = event("e2", "bob", HAIKU, Product.CHAT, october(4, 0), output_tokens=200_000)
E3 = event(
    "e3", "olga", SONNET, Product.CHAT, october(5, 0), input_tokens=100_000, output_tokens=10_000
)
E4 = event("e4", "bob", HAIKU, Product.CHAT, october(6, 0), input_tokens=2_000_000)


@pytest.fixture(scope="module")
def change() -> InvoiceDiff:
    org = organization()
    moved, _ = org.assign_seat("olga", datetime(2026, 10, 16, tzinfo=UTC), "ada", "chat")
    before = build_invoice(org, [E1, E2, E3], OCTOBER)
    after = build_invoice(moved, [E1, E3, E4], OCTOBER)
    return diff(before, after)


def test_totals_before_after_and_change(change):
    """Seat fees 105.00 → 94.67, usage 4.45 → 5.45, total 109.45 → 100.12."""
    assert (change.seat_fees.before, change.seat_fees.after) == (Money("105"), Money("94.67"))
    assert change.seat_fees.change == Money("-10.33")
    assert change.usage_total.change == Money("1.00")
    assert (change.total.before, change.total.after, change.total.change) == (
        Money("109.45"),
        Money("100.12"),
        Money("-9.33"),
    )


def test_a_seat_line_matched_by_its_start_changes_amount(change):
    """Ada's Chat + Claude Code line from Oct 1 goes from 40.00 to 19.35: changed, -20.65."""
    line = next(
        line
        for line in change.lines
        if line.identity[:3] == ("seat_fee", "ada", "chat_claude_code")
    )
    assert (line.before, line.after, line.change, line.status) == (
        Money("40"),
        Money("19.35"),
        Money("-20.65"),
        "changed",
    )


def test_a_line_only_after_is_added(change):
    """Ada's Chat seat from Oct 16 is new: 0.00 → 10.32, added."""
    line = next(line for line in change.lines if line.identity[:3] == ("seat_fee", "ada", "chat"))
    assert (line.before, line.after, line.status) == (Money("0"), Money("10.32"), "added")
    assert not line.in_before
    assert line.in_after


def test_usage_lines_of_one_identity_sum_their_requests(change):
    """Bob's Haiku chat line: e2 (1.00) becomes e4 (2.00), one request each side."""
    line = next(line for line in change.lines if line.identity[:3] == ("usage", "bob", HAIKU_ID))
    assert (line.before, line.after, line.change) == (Money("1"), Money("2"), Money("1"))
    assert (line.requests_before, line.requests_after, line.status) == (1, 1, "changed")


def test_unchanged_lines_are_kept_but_not_shown(change):
    """Olga's lines did not change: in `lines`, not in `changed_lines()`."""
    olga = [line for line in change.lines if line.user_id == "olga"]
    assert {line.status for line in olga} == {"unchanged"}
    assert not [line for line in change.changed_lines() if line.user_id == "olga"]
    assert len(change.changed_lines()) == 3


def test_group_changes(change):
    """Per seat type, model, product and user, worked out by hand."""
    by_seat = {item.key: (item.before, item.after) for item in change.by_seat_type}
    assert by_seat == {
        "chat": (Money("26.00"), Money("37.32")),
        "chat_claude_code": (Money("83.45"), Money("62.80")),
    }
    by_model = {item.key: item.change for item in change.by_model}
    assert by_model == {HAIKU_ID: Money("1.00"), SONNET: Money("0")}
    by_product = {item.key: (item.before, item.after) for item in change.by_product}
    assert by_product == {
        "chat": (Money("1.45"), Money("2.45")),
        "claude_code": (Money("3"), Money("3")),
    }
    by_member = {item.key: item.change for item in change.by_member}
    assert by_member == {"ada": Money("-10.33"), "bob": Money("1"), "olga": Money("0")}
    assert [item.changed for item in change.by_member] == [True, True, False]


def test_a_seat_type_change_alone_leaves_the_usage_line_unchanged():
    """Usage split over two seat types sums into one identity: same usage, no change."""
    org = organization()
    moved, _ = org.assign_seat("olga", datetime(2026, 10, 16, tzinfo=UTC), "ada", "chat")
    events = [
        event("a", "ada", SONNET, Product.CHAT, october(3, 0), input_tokens=1_000_000),
        event("b", "ada", SONNET, Product.CHAT, october(20, 0), input_tokens=1_000_000),
    ]
    before = build_invoice(moved, events, OCTOBER)
    assert len(before.usage_lines) == 2  # one per seat type held
    result = diff(before, build_invoice(org, events, OCTOBER))
    line = next(line for line in result.lines if line.kind == "usage")
    assert (line.before, line.after, line.status) == (Money("6"), Money("6"), "unchanged")
    assert (line.requests_before, line.requests_after) == (2, 2)
    assert "seat chat/chat_claude_code → chat_claude_code" in line.description


def test_a_line_only_before_is_removed():
    """Dropping every event removes the usage lines: before 3.00, after 0.00."""
    org = organization()
    result = diff(build_invoice(org, [E1], OCTOBER), build_invoice(org, [], OCTOBER))
    (line,) = result.changed_lines()
    assert (line.kind, line.status, line.change) == ("usage", "removed", Money("-3"))
    assert line.requests_before == 1
    assert line.requests_after == 0


def test_month_over_month_names_both_periods():
    """Diffing September and October: the header names both."""
    org = organization()
    september = build_invoice(org, [], BillingPeriod.of("2026-09"))
    result = diff(september, build_invoice(org, [], OCTOBER))
    assert (result.before_period.label, result.after_period.label) == ("2026-09", "2026-10")
    assert "2026-09" in result.to_text()
    assert result.total.change == Money("0")  # same monthly fees, different seat lines
    assert {line.status for line in result.lines} == {"added", "removed"}


def test_currencies_never_mix():
    """Two invoices in different currencies do not diff."""
    org = organization()
    euros = organization(
        member("olga", role="primary_owner"),
        catalog=SeatCatalog.enterprise(
            chat_fee=Money("20", "EUR"), chat_and_claude_code_fee=Money("40", "EUR")
        ),
    )
    table = PriceTable.builtin()
    euro_table = PriceTable(table.version, table.models, currency="EUR")
    with pytest.raises(CurrencyMismatchError):
        diff(build_invoice(org, [], OCTOBER), build_invoice(euros, [], OCTOBER, euro_table))


def test_text_shows_signed_changes(change):
    """The text diff shows the totals with signs and only the changed lines."""
    text = change.to_text()
    assert "INVOICE DIFF: acme" in text
    assert "-9.33" in text
    assert "+10.32" in text
    assert "requests 1 → 1" not in text  # same count: not repeated
    assert "olga" not in text.split("CHANGED LINES")[1]
    assert text.endswith("\n")


def test_text_of_no_change():
    """Identical invoices: every change zero, and the text says so."""
    invoice = build_invoice(organization(), [E1], OCTOBER)
    result = diff(invoice, invoice)
    assert not result.changed_lines()
    assert "none: the invoices show the same lines" in result.to_text()
    assert "## By model" not in result.to_markdown()
    assert result.total.change.is_zero()


def test_requests_shown_when_they_change():
    """A usage line whose request count changes says so."""
    org = organization()
    twice = [E1, event("e5", "ada", SONNET, Product.CLAUDE_CODE, october(4, 0), input_tokens=1)]
    text = diff(build_invoice(org, [E1], OCTOBER), build_invoice(org, twice, OCTOBER)).to_text()
    assert "requests 1 → 2" in text


def test_markdown_and_html(change):
    """Markdown tables and notebook HTML carry the same figures, escaped."""
    markdown = change.to_markdown()
    assert markdown.startswith("# Invoice diff: acme")
    assert "| Total due (USD) | 109.45 | 100.12 | -9.33 |" in markdown
    assert "## By model" in markdown
    page = change._repr_html_()
    assert "usagebill-diff" in page
    assert "-9.33" in page
    assert "3 lines changed" in page


def test_records(change):
    """One record per line identity, Decimals, with the status."""
    records = change.to_records()
    assert len(records) == len(change.lines)
    added = next(r for r in records if r["status"] == "added")
    assert added["change"] == Decimal("10.32")
    assert added["currency"] == "USD"
    assert set(added) >= {"kind", "user_id", "before", "after", "requests_before"}


# --- property: before + change == after, for every key and total ----------------------------

_USERS = ("olga", "ada", "bob")
_events = st.builds(
    lambda number, user, model, product, day, tokens: event(
        f"e{number}",
        user,
        model,
        product,
        october(day, 0),
        input_tokens=tokens,
        output_tokens=tokens // 7,
    ),
    st.integers(0, 30),
    st.sampled_from(_USERS),
    st.sampled_from((SONNET, HAIKU)),
    st.sampled_from((Product.CHAT, Product.FILE_CREATION)),
    st.integers(1, 31),
    st.integers(0, 3_000_000),
)


def _distinct(events):
    return list({e.event_id: e for e in events}.values())


@given(
    st.lists(_events, max_size=12).map(_distinct),
    st.lists(_events, max_size=12).map(_distinct),
    st.sampled_from(("chat", "chat_claude_code")),
    st.integers(1, 31),
)
def test_before_plus_change_is_after(events_a, events_b, seat_type, day):
    """For every line, group and total: before + change == after, one-sided lines included."""
    org = organization()
    moved, _ = org.assign_seat("olga", datetime(2026, 10, day, tzinfo=UTC), "ada", seat_type)
    a = build_invoice(org, events_a, OCTOBER)
    b = build_invoice(moved, events_b, OCTOBER)
    result = diff(a, b)
    for line in result.lines:
        assert line.before + line.change == line.after
    assert Money.sum(line.before for line in result.lines) == a.total
    assert Money.sum(line.after for line in result.lines) == b.total
    for total, x, y in (
        (result.total, a.total, b.total),
        (result.seat_fees, a.seat_fees, b.seat_fees),
        (result.usage_total, a.usage_total, b.usage_total),
    ):
        assert (total.before, total.after, total.before + total.change) == (x, y, y)
    for changes, old, new in (
        (result.by_member, a.by_member, b.by_member),
        (result.by_seat_type, a.by_seat_type, b.by_seat_type),
        (result.by_model, a.by_model, b.by_model),
        (result.by_product, a.by_product, b.by_product),
    ):
        before = {s.key: s.amount for s in old}
        after = {s.key: s.amount for s in new}
        assert {c.key for c in changes} == before.keys() | after.keys()
        for item in changes:
            assert item.before == before.get(item.key, Money("0"))
            assert item.before + item.change == after.get(item.key, Money("0"))


# --- the diff as a report -------------------------------------------------------------------


def test_report_sections_and_data(change):
    """Summary with its total row, changed subtotals only, changed lines grouped by user."""
    report = change.to_report()
    assert [table.title for table in report.sections] == [
        "Summary",
        "By seat type (changed)",
        "By model (changed)",
        "By product (changed)",
        "By user (changed)",
        "Changed lines",
    ]
    summary = report.sections[0]
    assert summary.totals == (
        ("Total due (USD)", Money("109.45"), Money("100.12"), Money("-9.33")),
    )
    lines = report.sections[-1]
    assert [row[:3] for row in lines.rows] == [
        ("ada", "chat seat, 2026-10-16 00:00 to 2026-11-01 00:00", "added"),
        ("ada", "chat_claude_code seat, 2026-10-01 00:00 to 2026-10-16 00:00", "changed"),
        ("bob", "claude-haiku-4-5-20251001, chat [chat]", "changed"),
    ]
    # every line of the changed-lines table: before + change == after, as shown
    for _user, _line, _status, before, after, delta in lines.rows:
        assert before + delta == after
    assert report.bottom_line is not None
    assert report.bottom_line.value == "109.45 → 100.12 (-9.33)"
    assert report.header[-1].value == "3 lines changed, 5 unchanged"
    assert report.data is not None
    assert len(report.data.rows) == len(change.lines)  # unchanged lines too


def test_csv_has_every_line_identity(change):
    rows = list(csv.DictReader(io.StringIO(change.to_csv())))
    assert len(rows) == len(change.lines)
    assert [row["status"] for row in rows].count("unchanged") == 5
    added = next(row for row in rows if row["status"] == "added")
    assert (added["before"], added["after"], added["change"]) == ("0.00", "10.32", "10.32")
    assert sum(Decimal(row["change"]) for row in rows) == Decimal("-9.33")
