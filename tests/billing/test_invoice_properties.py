"""Invoice properties: order independence, exact merging of parts, rounding bounds, full seats."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import OCTOBER, busy_october, event, member, organization
from usagebill import (
    BillingPeriod,
    InvoiceBuilder,
    Modifiers,
    Money,
    Product,
    SeatCatalog,
    TokenUsage,
    UsageEvent,
    build_invoice,
)

FEW = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


ORG = busy_october()
# When each member holds a seat, within October (UTC).
SEATED = {
    "olga": (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    "ada": (datetime(2026, 10, 11, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    "bob": (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)),
}
# Sonnet 5.5 changes price on Oct 7; Sonnet 4.5 has a context tier above 200,000 prompt tokens.
MODELS = ["claude-sonnet-4-6", "claude-sonnet-5-5", "claude-sonnet-4-5", "claude-haiku-4-5"]

usages = st.builds(
    TokenUsage,
    input_tokens=st.integers(0, 250_000),
    output_tokens=st.integers(0, 5_000),
    cache_write_5m_tokens=st.integers(0, 20_000),
    cache_write_1h_tokens=st.sampled_from([0, 0, 10_000]),
    cache_read_tokens=st.integers(0, 60_000),
    web_search_requests=st.sampled_from([0, 0, 0, 2]),
)


@st.composite
def usage_events(draw: st.DrawFn, index: int) -> UsageEvent:
    user = draw(st.sampled_from(sorted(SEATED)))
    start, end = SEATED[user]
    if draw(st.integers(0, 9)) == 0:  # now and then, an event of the months around
        when = draw(st.sampled_from([start - timedelta(seconds=1), OCTOBER.end]))
        user = "olga"
    else:
        seconds = int((end - start).total_seconds())
        when = start + timedelta(seconds=draw(st.integers(0, seconds - 1)))
    return event(
        f"evt-{index}",
        user,
        draw(st.sampled_from(MODELS)),
        draw(st.sampled_from(list(Product))),
        when,
        Modifiers(batch=draw(st.booleans())),
        usage=draw(usages),
    )


@st.composite
def event_streams(draw: st.DrawFn) -> list[UsageEvent]:
    """Up to 12 distinct events, some sent twice or three times (retries)."""
    count = draw(st.integers(0, 12))
    events = [draw(usage_events(index)) for index in range(count)]
    if events:
        events += draw(st.lists(st.sampled_from(events), max_size=4))
    return events


@FEW
@given(events=event_streams(), data=st.data())
def test_order_does_not_matter(events, data):
    """Shuffled events give the identical invoice, byte for byte."""
    shuffled = data.draw(st.permutations(events))
    first = build_invoice(ORG, events, OCTOBER)
    second = build_invoice(ORG, shuffled, OCTOBER)
    assert second == first
    assert second.to_json() == first.to_json()


@FEW
@given(events=event_streams(), data=st.data())
def test_parts_merged_equal_the_whole(events, data):
    """Events split over k builders and merged give the invoice of one builder, duplicates too."""
    parts = data.draw(st.integers(1, 4))
    where = data.draw(
        st.lists(st.integers(0, parts - 1), min_size=len(events), max_size=len(events))
    )
    builders = [InvoiceBuilder(ORG, OCTOBER) for _ in range(parts)]
    for one, part in zip(events, where, strict=True):
        builders[part].add(one)
    merged = builders[0]
    for builder in builders[1:]:
        merged.merge(builder)
    whole = build_invoice(ORG, events, OCTOBER)
    result = merged.resolve(events).finish()  # events counted by two parts come out once
    assert result == whole
    assert result.to_json() == whole.to_json()
    assert (result.events, result.duplicates, result.excluded) == (
        whole.events,
        whole.duplicates,
        whole.excluded,
    )
    assert result.events + result.duplicates + result.excluded == len(events)


@FEW
@given(events=event_streams())
def test_rounding_stays_within_half_a_cent_per_line(events):
    """|total − exact total| ≤ lines × half a minor unit; every total sums its lines."""
    invoice = build_invoice(ORG, events, OCTOBER)
    lines = [*invoice.seat_lines, *invoice.usage_lines]
    drift = abs(invoice.total - invoice.exact_total).amount
    assert drift <= len(lines) * Decimal("0.005")
    assert invoice.total == Money.sum(line.amount for line in lines)
    assert invoice.total == Money.sum(subtotal.amount for subtotal in invoice.by_member)
    assert invoice.total == Money.sum(subtotal.amount for subtotal in invoice.by_seat_type)
    assert invoice.usage_total == Money.sum(subtotal.amount for subtotal in invoice.by_model)
    assert invoice.usage_total == Money.sum(subtotal.amount for subtotal in invoice.by_product)


@FEW
@given(
    month=st.integers(2000 * 12, 2040 * 12),
    anchor=st.integers(1, 31),
    timezone=st.sampled_from(
        ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Pacific/Auckland"]
    ),
    fee=st.decimals(min_value=0, max_value=10_000, places=4),
)
def test_a_seat_held_all_period_costs_exactly_the_monthly_fee(month, anchor, timezone, fee):
    """Whatever the month's length or DST, a seat held throughout is the monthly fee, exactly."""
    period = BillingPeriod(month, anchor, timezone)
    catalog = SeatCatalog.enterprise(
        chat_fee=Money(fee), chat_and_claude_code_fee=Money("40"), hipaa_fee=Money(fee)
    )
    org = organization(
        member("olga", role="primary_owner", add_ons=["hipaa"]),
        catalog=catalog,
        at=period.start - timedelta(days=40),
        timezone=timezone,
        billing_anchor_day=anchor,
    )
    lines = build_invoice(org, [], period).seat_lines
    if not fee:  # a line whose exact amount is zero is left out
        assert lines == ()
        return
    seat, hipaa = lines
    for line in (seat, hipaa):
        assert line.seconds == period.seconds
        assert line.exact == Money(fee)
        assert line.amount == Money(fee).rounded()
