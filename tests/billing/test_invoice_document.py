"""The invoice as a document: numbering, dates, parties, rounding policies, caps, entitlements."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invoice_properties import OCTOBER as PROPERTY_OCTOBER
from test_invoice_properties import ORG as PROPERTY_ORG
from test_invoice_properties import event_streams

from builders import OCTOBER, event, member, organization
from usagebill import (
    BillingPeriod,
    InvalidValueError,
    Invoice,
    Money,
    Organization,
    PoolLimit,
    Product,
    SpendLimits,
    build_invoice,
)
from usagebill.accounts.invoicing import InvoiceSettings, Numbering, Party
from usagebill.rounding import RoundingPolicy, round_lines, spread

OPUS = "claude-opus-4-6"  # $25 per million output tokens
FEW = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _org(**invoicing) -> Organization:
    """olga on Chat + Claude Code, ada on Chat; invoicing settings as given."""
    return organization(member("ada"), invoicing=InvoiceSettings(**invoicing))


# --- the document -----------------------------------------------------------------------------


def test_number_dates_and_parties():
    seller = Party("Northwind AI Services, Inc.", ["100 Example Street"], "EIN 00-0000000")
    org = _org(
        seller=seller,
        numbering=Numbering("AC", first_period="2026-01", first_sequence=101),
        net_days=45,
        purchase_order="PO-7",
    )
    invoice = build_invoice(org, [], OCTOBER)
    # January is 101, so October (nine months later) is 110.
    assert invoice.number == "AC-2026-10-0110"
    assert invoice.issued_on == date(2026, 11, 1)  # the day the period ends
    assert invoice.due_on == date(2026, 12, 16)  # 2026-11-01 + 45 days
    assert (invoice.terms, invoice.purchase_order) == ("Net 45", "PO-7")
    assert invoice.seller == seller
    assert invoice.bill_to == Party("acme")  # no bill-to block: the organization's name
    later = build_invoice(org, [], OCTOBER, issued_on=date(2026, 11, 3), purchase_order="PO-8")
    assert (later.issued_on, later.due_on, later.purchase_order) == (
        date(2026, 11, 3),
        date(2026, 12, 18),
        "PO-8",
    )
    assert build_invoice(org, [], OCTOBER.next()).number == "AC-2026-11-0111"
    text = invoice.to_text()
    for shown in ("AC-2026-10-0110", "2026-12-16 (Net 45)", "PO-7", "FROM", "BILL TO"):
        assert shown in text
    for key in ("number", "issued_on", "due_on", "terms", "seller", "bill_to", "purchase_order"):
        assert f'"{key}":' in invoice.to_json()
    assert Invoice.from_json(invoice.to_json()) == invoice


def test_the_number_is_stable_and_refuses_periods_before_the_scheme():
    org = _org(numbering=Numbering("AC", first_period="2026-10"))
    assert build_invoice(org, [], OCTOBER).to_json() == build_invoice(org, [], OCTOBER).to_json()
    with pytest.raises(InvalidValueError, match="first period of the invoice numbering"):
        build_invoice(org, [], OCTOBER.previous())
    assert build_invoice(_org(), [], OCTOBER).number == "INV-2026-10"  # no sequence configured


@pytest.mark.parametrize("issued_on", [date(2026, 10, 31), datetime(2026, 11, 2, tzinfo=UTC)])
def test_an_invoice_is_not_issued_before_its_period_ends(issued_on):
    with pytest.raises(InvalidValueError, match="issued_on"):
        build_invoice(_org(), [], OCTOBER, issued_on=issued_on)


def test_settings_refuse_bad_values():
    with pytest.raises(InvalidValueError, match="prefix"):
        Numbering("has space")
    with pytest.raises(InvalidValueError, match="rounding"):
        InvoiceSettings(rounding="bankers")
    with pytest.raises(InvalidValueError, match="legal_name"):
        Party(" ")
    assert InvoiceSettings(net_days=0).terms == "Due on receipt"


# --- rounding ---------------------------------------------------------------------------------


def test_each_policy_by_hand():
    """Three seat lines of 20 × 1/3 month each (6.666…): per line 6.67 × 3 = 20.01."""
    third = [Money("6.666666666666666666666666666667")] * 3
    assert [m.amount for m in round_lines(third, RoundingPolicy.HALF_EVEN, "USD")] == [
        Decimal("6.67")
    ] * 3
    # The total rounded once is 20.00: 6.66 × 3 = 19.98 leaves 2 cents, to the first two.
    spread_out = round_lines(third, RoundingPolicy.LARGEST_REMAINDER, "USD")
    assert [m.amount for m in spread_out] == [Decimal("6.67"), Decimal("6.67"), Decimal("6.66")]
    halves = [Money("0.125"), Money("0.135")]
    assert [m.amount for m in round_lines(halves, RoundingPolicy.HALF_UP, "USD")] == [
        Decimal("0.13"),
        Decimal("0.14"),
    ]
    assert [m.amount for m in spread(Money("0"), [Money("0.004"), Money("0.003")])] == [0, 0]


amounts = st.lists(
    st.builds(Money, st.decimals(min_value=0, max_value=10_000, places=6)), max_size=40
)


@given(exact=amounts, policy=st.sampled_from(list(RoundingPolicy)))
def test_every_policy_stays_within_its_bounds(exact, policy):
    rounded = round_lines(exact, policy, "USD")
    assert len(rounded) == len(exact)
    cent = Decimal("0.01")
    for line, shown in zip(exact, rounded, strict=True):
        assert shown.amount == shown.amount.quantize(cent)
        assert abs(shown - line).amount <= policy.line_bound_in_units() * cent
        if policy is not RoundingPolicy.LARGEST_REMAINDER:
            assert abs(shown - line).amount <= cent / 2
    total, shown_total = Money.sum(exact), Money.sum(rounded)
    assert abs(shown_total - total).amount <= policy.total_bound_in_units(len(exact)) * cent
    if policy is RoundingPolicy.LARGEST_REMAINDER:
        assert shown_total == total.rounded()


@FEW
@given(events=event_streams(), policy=st.sampled_from(list(RoundingPolicy)))
def test_every_total_is_the_sum_of_its_lines_under_every_policy(events, policy):
    org = attrs.evolve(PROPERTY_ORG, invoicing=InvoiceSettings(rounding=policy))
    invoice = build_invoice(org, events, PROPERTY_OCTOBER)
    lines = [*invoice.seat_lines, *invoice.usage_lines]
    assert all(line.exact for line in lines)  # zero lines are left out
    assert invoice.total == Money.sum(line.amount for line in lines)
    assert invoice.seat_fees == Money.sum(line.amount for line in invoice.seat_lines)
    assert invoice.usage_total == Money.sum(line.amount for line in invoice.usage_lines)
    for subtotals, whole in (
        (invoice.by_member, invoice.total),
        (invoice.by_seat_type, invoice.total),
        (invoice.by_model, invoice.usage_total),
        (invoice.by_product, invoice.usage_total),
    ):
        assert Money.sum(s.amount for s in subtotals) == whole
    for subtotals in (invoice.by_member, invoice.by_seat_type):
        assert Money.sum(s.seat_fees for s in subtotals) == invoice.seat_fees
        assert Money.sum(s.usage for s in subtotals) == invoice.usage_total
    gap = abs(invoice.total - invoice.exact_total).amount
    assert gap <= policy.total_bound_in_units(len(lines)) * Decimal("0.01")
    report = invoice.to_report()
    assert invoice.rounding.description in report.sections[0].note


# --- caps and entitlements --------------------------------------------------------------------


def test_usage_above_caps_is_listed_with_its_excess():
    """Opus 4.6 output is $25 per million: 4,000,000 tokens = $100."""
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money("150")),
        seat_types={"chat": PoolLimit(pool_cap=Money("90"), member_default=Money("80"))},
        members={"olga": Money("60")},
    )
    org = attrs.evolve(_org(), limits=limits)
    events = [
        # 100.00: over 80 (default) and 90 (pool)
        event("e1", "ada", OPUS, Product.CHAT, output_tokens=4_000_000),
        event("e2", "olga", OPUS, Product.CLAUDE_CODE, output_tokens=2_000_000),  # 50.00: < 60
    ]
    invoice = build_invoice(org, events, OCTOBER)
    found = [(e.level, e.key, e.source, e.cap, e.usage, e.over) for e in invoice.caps_exceeded]
    assert found == [
        ("member", "ada", "seat type default", Money(80), Money(100), Money(20)),
        ("seat_type", "chat", "pool cap", Money(90), Money(100), Money(10)),
    ]
    # The organization's 150.00 is reached (100 + 50), not exceeded: not listed.
    section = invoice.to_report().sections[1]
    assert section.rows[0][:2] == ("member ada", "seat type default")
    assert "recorded outside the ledger" in section.note
    assert "Over by" in invoice.to_text()


def test_usage_of_a_product_the_seat_did_not_include_is_billed_and_flagged():
    """ada holds a Chat seat, which does not include Claude Code: billed as it happened."""
    code = event("e1", "ada", OPUS, Product.CLAUDE_CODE, output_tokens=40_000)
    invoice = build_invoice(_org(), [code], OCTOBER)
    (line,) = invoice.usage_lines
    assert (line.included, line.amount) == (False, Money("1.00"))  # 40,000 × $25 per million
    assert invoice.outside_seat == (line,)
    assert "not included in the Chat seat" in line.title
    section = invoice.to_report().sections[2]
    assert section.rows == (("ada", "Chat", "Claude Opus 4.6, Claude Code", Money("1.00")),)


def test_a_zero_line_is_left_out():
    invoice = build_invoice(_org(), [event("e1", "ada", OPUS, output_tokens=0)], OCTOBER)
    assert invoice.usage_lines == ()
    assert invoice.events == 1


def test_the_larger_example_month_lists_u012_over_its_cap():
    """On a heavier month of the example organization, u-012 (capped at 60) is billed more."""
    org = Organization.from_file("examples/org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    events = [
        event(
            f"big-{n}",
            "u-012",
            "claude-opus-5-5",
            Product.CLAUDE_CODE,
            period.start + timedelta(days=2, hours=n),
            output_tokens=1_000_000,
        )
        for n in range(4)
    ]
    invoice = build_invoice(org, events, period)
    (excess,) = [e for e in invoice.caps_exceeded if e.key == "u-012"]
    # 4 × 1,000,000 output tokens × $20 per million (Opus 5.5) = 80.00, 20.00 over the cap of 60
    assert (excess.cap, excess.usage, excess.over) == (Money(60), Money(80), Money(20))
