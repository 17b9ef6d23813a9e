"""The monthly invoice: prorated seat fees, usage lines, rounding, dedup, determinism.

The figures of the small invoice below are worked out by hand in the comments.
October 2026 in UTC has 31 days = 2,678,400 seconds. Seat fees (examples, not
Anthropic's): Chat $20, Chat + Claude Code $40, the HIPAA add-on $5 a month.
"""

import decimal
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from builders import OCTOBER, busy_october, event, member, organization
from usagebill import (
    BillingPeriod,
    ConflictError,
    InvalidValueError,
    Invoice,
    InvoiceBuilder,
    Modifiers,
    Money,
    Organization,
    PriceTable,
    Product,
    Rates,
    TokenUsage,
    UnknownModelError,
    UnknownNameError,
    UnsupportedModifierError,
    UsageEvent,
    build_invoice,
)
from usagebill.billing.invoice import price_cube
from usagebill.events import parse_record

EXAMPLES = Path(__file__).parents[2] / "examples"
MONTH_SECONDS = 31 * 86_400  # 2,678,400
CENT = Decimal("0.01")


def at(day: int, hour: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, 0, second, tzinfo=UTC)


ORG = busy_october()


EVENTS = [
    # olga, Sonnet 4.6 ($3 in, $15 out, $0.30 cache read per million), Claude Code:
    # e1: 2,000 × 3 + 1,000 × 15 + 10,000 × 0.30 = 6,000 + 15,000 + 3,000 = 24,000 µ$ = $0.024
    event(
        "e1",
        "olga",
        "claude-sonnet-4-6",
        "claude_code",
        at(5),
        input_tokens=2_000,
        output_tokens=1_000,
        cache_read_tokens=10_000,
    ),
    # e2: 1,000 × 3 + 500 × 15 = 3,000 + 7,500 = 10,500 µ$ = $0.0105
    # line: $0.024 + $0.0105 = $0.0345 → $0.03 (the digit after the cent is 4: down)
    event(
        "e2",
        "olga",
        "claude-sonnet-4-6",
        "claude_code",
        at(20),
        input_tokens=1_000,
        output_tokens=500,
    ),
    # ada, Sonnet 4.5 (alias of claude-sonnet-4-5-20250929): prompt 150,000 + 60,000 cache read
    # = 210,000 > 200,000, so the whole request is at the tier: $6 in, $22.50 out, $0.60 read.
    # 150,000 × 6 + 2,000 × 22.50 + 60,000 × 0.60 = 900,000 + 45,000 + 36,000 µ$ = $0.981 → $0.98
    event(
        "e3",
        "ada",
        "claude-sonnet-4-5",
        "chat",
        at(12),
        input_tokens=150_000,
        output_tokens=2_000,
        cache_read_tokens=60_000,
    ),
    # e4: standard rates: 1,000 × 3 + 100 × 15 = 4,500 µ$ = $0.0045 → $0.00 (half to even)
    event("e4", "ada", "claude-sonnet-4-5", "chat", at(13), input_tokens=1_000, output_tokens=100),
    # bob, Sonnet 5.5 ($2 in; cache read $0.20, then $0.10 from 2026-10-07), while on Chat:
    # e5 (Oct 6): 1,000,000 × 2 + 1,000,000 × 0.20 = $2.20
    event(
        "e5",
        "bob",
        "claude-sonnet-5-5",
        "chat",
        at(6),
        input_tokens=1_000_000,
        cache_read_tokens=1_000_000,
    ),
    # e6 (Oct 8): 1,000,000 × 2 + 1,000,000 × 0.10 = $2.10
    event(
        "e6",
        "bob",
        "claude-sonnet-5-5",
        "chat",
        at(8),
        input_tokens=1_000_000,
        cache_read_tokens=1_000_000,
    ),
    # bob, Haiku 4.5 ($1 in, $5 out), Oct 20, on Chat + Claude Code:
    # 10,000 × 1 + 2,000 × 5 = 20,000 µ$ = $0.02
    event(
        "e7",
        "bob",
        "claude-haiku-4-5",
        "claude_code",
        at(20),
        input_tokens=10_000,
        output_tokens=2_000,
    ),
]


@pytest.fixture(scope="module")
def invoice() -> Invoice:
    return build_invoice(ORG, EVENTS, OCTOBER)


def assert_adds_up(inv: Invoice) -> None:
    """Every subtotal and total is the sum of the rounded lines shown under it."""
    lines = [*inv.seat_lines, *inv.usage_lines]
    for line in lines:
        assert line.amount == line.exact.rounded()
        assert line.amount.amount == line.amount.amount.quantize(CENT)

    def total(selected) -> Money:
        return Money.sum((line.amount for line in selected), inv.currency)

    assert inv.seat_fees == total(inv.seat_lines)
    assert inv.usage_total == total(inv.usage_lines)
    assert inv.total == total(lines) == inv.seat_fees + inv.usage_total
    for subtotals, lines_of, key in (
        (inv.by_member, lines, "user_id"),
        (inv.by_seat_type, lines, "seat_type"),
        (inv.by_model, inv.usage_lines, "model"),
        (inv.by_product, inv.usage_lines, "product"),
    ):
        keys = sorted({str(getattr(line, key)) for line in lines_of})
        assert [s.key for s in subtotals] == keys
        for subtotal in subtotals:
            under = [line for line in lines_of if str(getattr(line, key)) == subtotal.key]
            assert subtotal.amount == total(under)
        assert Money.sum((s.amount for s in subtotals), inv.currency) == total(lines_of)
    assert inv.exact_total == Money.sum((line.exact for line in lines), inv.currency)
    assert abs(inv.total - inv.exact_total).amount <= len(lines) * Decimal("0.005")


# --- the hand-worked invoice ------------------------------------------------------------------


def test_seat_lines_are_prorated_to_the_second(invoice):
    """Joiner, add-on, seat change and removal: each line is seconds held / period seconds."""
    rows = [
        (line.user_id, line.seat_type, line.add_on, line.start, line.end, line.seconds)
        for line in invoice.seat_lines
    ]
    assert rows == [
        # ada joins Oct 11 00:00: 21 days = 1,814,400 s, for the seat and the HIPAA add-on.
        ("ada", "chat", None, at(11), at(31) + timedelta(days=1), 21 * 86_400),
        ("ada", "chat", "hipaa", at(11), at(31) + timedelta(days=1), 21 * 86_400),
        # bob: Chat from Oct 1 to Oct 16 12:00 = 15.5 days = 1,339,200 s,
        # then Chat + Claude Code to his removal on Oct 26 00:00 = 9.5 days = 820,800 s.
        ("bob", "chat", None, at(1), at(16, 12), 1_339_200),
        ("bob", "chat_claude_code", None, at(16, 12), at(26), 820_800),
        # olga holds her seat the whole month.
        ("olga", "chat_claude_code", None, at(1), at(31) + timedelta(days=1), MONTH_SECONDS),
    ]
    ada_seat, ada_hipaa, bob_chat, bob_code, olga = invoice.seat_lines
    # ada: $20 × 21/31 = $13.548387… → $13.55; HIPAA $5 × 21/31 = $3.387096… → $3.39
    assert abs(ada_seat.exact * 31 - Money("420")) < Money("1e-28")
    assert ada_seat.amount == Money("13.55")
    assert ada_hipaa.monthly_fee == Money("5")
    assert ada_hipaa.amount == Money("3.39")
    # bob: $20 × 15.5/31 = $10.00 exactly; $40 × 9.5/31 = 380/31 = $12.258064… → $12.26
    assert bob_chat.exact == Money("10")
    assert bob_chat.amount == Money("10.00")
    assert bob_code.amount == Money("12.26")
    assert bob_code.exact.amount.quantize(Decimal("1e-9")) == Decimal("12.258064516")
    # olga: the whole month is exactly the monthly fee.
    assert olga.exact == olga.amount == olga.monthly_fee == Money("40")
    # 13.55 + 3.39 + 10.00 + 12.26 + 40.00 = 79.20
    assert invoice.seat_fees == Money("79.20")


def test_a_member_joining_mid_period_pays_the_held_fraction():
    """Lago #6194: the base is the period's seconds; a joiner pays seconds_held / period_seconds."""
    last_second = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    org, _ = ORG.add_member("olga", last_second, member("cy"))
    # cy joins at 23:59:59 on Oct 31: one second of a $20 seat = 20 / 2,678,400 → $0.00
    line = next(line for line in build_invoice(org, [], OCTOBER).seat_lines if line.user_id == "cy")
    assert line.seconds == 1
    assert line.amount == Money("0.00")
    assert abs(line.exact - Money(20) / MONTH_SECONDS) < Money("1e-29")


def test_a_removed_member_pays_up_to_removal(invoice):
    """bob is removed Oct 26 00:00: no fee after it, and his lines end there."""
    bob = [line for line in invoice.seat_lines if line.user_id == "bob"]
    assert max(line.end for line in bob) == at(26)
    assert sum(line.seconds for line in bob) == 25 * 86_400  # Oct 1 to Oct 26
    assert Money.sum(line.amount for line in bob) == Money("22.26")  # 10.00 + 12.26


def test_usage_lines_per_user_model_product(invoice):
    """One line per user × model × product × price version × tier, with tokens, rates, amounts."""
    rows = [
        (
            line.user_id,
            line.seat_type,
            line.model,
            line.product,
            line.in_tier,
            line.price_from,
            line.requests,
            line.exact,
            line.amount,
        )
        for line in invoice.usage_lines
    ]
    s45 = "claude-sonnet-4-5-20250929"
    assert rows == [
        ("ada", "chat", s45, Product.CHAT, False, None, 1, Money("0.0045"), Money("0.00")),
        ("ada", "chat", s45, Product.CHAT, True, None, 1, Money("0.981"), Money("0.98")),
        (
            "bob",
            "chat_claude_code",
            "claude-haiku-4-5-20251001",
            Product.CLAUDE_CODE,
            False,
            None,
            1,
            Money("0.02"),
            Money("0.02"),
        ),
        (
            "bob",
            "chat",
            "claude-sonnet-5-5",
            Product.CHAT,
            False,
            None,
            1,
            Money("2.2"),
            Money("2.20"),
        ),
        (
            "bob",
            "chat",
            "claude-sonnet-5-5",
            Product.CHAT,
            False,
            datetime(2026, 10, 7, tzinfo=UTC),
            1,
            Money("2.1"),
            Money("2.10"),
        ),
        (
            "olga",
            "chat_claude_code",
            "claude-sonnet-4-6",
            Product.CLAUDE_CODE,
            False,
            datetime(2026, 3, 13, tzinfo=UTC),  # the version after the 1M window went GA
            2,
            Money("0.0345"),
            Money("0.03"),
        ),
    ]
    olga = invoice.usage_lines[-1]
    assert olga.usage == TokenUsage(
        input_tokens=3_000, output_tokens=1_500, cache_read_tokens=10_000
    )
    assert olga.rates == Rates(
        input="3", output="15", cache_write_5m="3.75", cache_write_1h="6", cache_read="0.30"
    )
    assert olga.web_search_per_1k == Decimal(10)
    assert olga.description == "claude-sonnet-4-6, claude_code (price from 2026-03-13)"
    # 0.03 + 0.98 + 0.00 + 2.20 + 2.10 + 0.02 = 5.33
    assert invoice.usage_total == Money("5.33")


def test_a_request_in_a_context_tier_is_shown_as_such(invoice):
    """The tier line says so and carries the tier's rates for every category, output included."""
    tier = next(line for line in invoice.usage_lines if line.in_tier)
    assert tier.rates == Rates(
        input="6", output="22.50", cache_write_5m="7.50", cache_write_1h="12", cache_read="0.60"
    )
    assert tier.description == "claude-sonnet-4-5-20250929, chat (long-context tier)"
    assert tier.usage.prompt_tokens == 210_000


def test_a_prompt_exactly_at_the_threshold_stays_standard():
    """200,000 prompt tokens (input + cache writes + cache reads) is not *more than* 200,000."""
    at_threshold = event(
        "t1",
        "olga",
        "claude-sonnet-4-5",
        "chat",
        at(3),
        input_tokens=100_000,
        cache_write_5m_tokens=50_000,
        cache_write_1h_tokens=25_000,
        cache_read_tokens=25_000,
    )
    above = attrs.evolve(at_threshold, event_id="t2", usage=TokenUsage(input_tokens=200_001))
    lines = build_invoice(ORG, [at_threshold, above], OCTOBER).usage_lines
    assert [(line.in_tier, line.usage.prompt_tokens) for line in lines] == [
        (False, 200_000),
        (True, 200_001),
    ]
    # 100,000 × 3 + 50,000 × 3.75 + 25,000 × 6 + 25,000 × 0.30 = 300,000 + 187,500 + 150,000
    # + 7,500 µ$ = $0.645 → $0.64 (half to even); 200,001 × 6 µ$ = $1.200006 → $1.20
    assert [line.amount for line in lines] == [Money("0.64"), Money("1.20")]
    assert lines[0].exact == Money("0.645")


def test_usage_across_a_price_change_is_priced_at_each_rate(invoice):
    """Kill Bill #1001: the Sonnet 5.5 cache-read cut on 2026-10-07 makes two lines."""
    sonnet = [line for line in invoice.usage_lines if line.model == "claude-sonnet-5-5"]
    assert [line.rates.cache_read for line in sonnet] == [Decimal("0.20"), Decimal("0.10")]
    assert sonnet[1].description == "claude-sonnet-5-5, chat (price from 2026-10-07)"


def test_the_price_change_instant_belongs_to_the_new_price():
    """At exactly 2026-10-07 00:00 UTC the new price applies; one second before, the old one."""
    just_before = datetime(2026, 10, 6, 23, 59, 59, tzinfo=UTC)
    before = event("p1", "olga", "claude-sonnet-5-5", "chat", just_before, cache_read_tokens=10**6)
    on = event("p2", "olga", "claude-sonnet-5-5", "chat", at(7), cache_read_tokens=10**6)
    lines = build_invoice(ORG, [before, on], OCTOBER).usage_lines
    assert [(line.price_from, line.amount) for line in lines] == [
        (None, Money("0.20")),
        (datetime(2026, 10, 7, tzinfo=UTC), Money("0.10")),
    ]


def test_subtotals_and_totals(invoice):
    """Subtotals by user, seat type, model and product, each the sum of the lines under it."""
    # Pitfall: lines that do not add up to the total after rounding (Lago #821, Autumn #3407).
    by = {
        name: {s.key: s.amount for s in getattr(invoice, name)}
        for name in ("by_member", "by_seat_type", "by_model", "by_product")
    }
    assert by["by_member"] == {
        "ada": Money("17.92"),  # 13.55 + 3.39 + 0.00 + 0.98
        "bob": Money("26.58"),  # 10.00 + 12.26 + 0.02 + 2.20 + 2.10
        "olga": Money("40.03"),  # 40.00 + 0.03
    }
    assert by["by_seat_type"] == {
        "chat": Money("32.22"),  # ada 17.92 + bob 10.00 + 2.20 + 2.10
        "chat_claude_code": Money("52.31"),  # olga 40.03 + bob 12.26 + 0.02
    }
    assert by["by_model"] == {
        "claude-haiku-4-5-20251001": Money("0.02"),
        "claude-sonnet-4-5-20250929": Money("0.98"),
        "claude-sonnet-4-6": Money("0.03"),
        "claude-sonnet-5-5": Money("4.30"),
    }
    assert by["by_product"] == {"chat": Money("5.28"), "claude_code": Money("0.05")}
    assert invoice.total == Money("84.53")  # 79.20 + 5.33
    # Exact: 40 + 10 + (420 + 105 + 380)/31 + 5.34 = 84.5335483870967…
    assert invoice.exact_total.amount.quantize(Decimal("1e-12")) == Decimal("84.533548387097")
    assert (invoice.events, invoice.duplicates, invoice.excluded) == (7, 0, 0)
    assert invoice.line_count() == 11
    assert_adds_up(invoice)


def test_header_carries_price_table_and_period(invoice):
    """The invoice names the organization, the period and the price table version."""
    assert invoice.organization == "acme"
    assert invoice.period == OCTOBER
    assert invoice.currency == "USD"
    assert invoice.price_table == PriceTable.builtin().version == "claude-2026-12-01"
    text = invoice.to_text()
    assert "2026-10" in text
    assert "claude-2026-12-01" in text


# --- duplicates and conflicts -----------------------------------------------------------------


def test_the_same_event_twice_counts_once(invoice):
    """Lago #5359: a retried event (same id, same content) is billed once and counted."""
    again = build_invoice(ORG, [*EVENTS, EVENTS[0], EVENTS[2], EVENTS[0]], OCTOBER)
    assert again.duplicates == 3
    assert again.events == 7
    assert again.usage_lines == invoice.usage_lines
    assert again.total == invoice.total


def test_the_same_instant_written_with_another_offset_is_the_same_event():
    """Content compares instants: 09:00Z and 11:00+02:00 are the same event."""
    first = EVENTS[0]
    shifted = attrs.evolve(first, at=first.at.astimezone(timezone(timedelta(hours=2))))
    assert shifted.at.utcoffset() == timedelta(hours=2)
    builder = InvoiceBuilder(ORG, OCTOBER)
    builder.add(first)
    builder.add(shifted)
    assert builder.duplicates == 1


def test_a_conflict_sets_every_version_aside(invoice):
    """Same id, different content: no version is billed, the id is listed, the rest is billed."""
    changed = attrs.evolve(EVENTS[0], usage=TokenUsage(input_tokens=1))
    events = [*EVENTS, EVENTS[0], changed, changed]
    builder = InvoiceBuilder(ORG, OCTOBER).add_all(events)
    # Only a digest of e1 was kept: its counted version waits for a second pass.
    assert builder.pending == builder.conflicts == {"e1"}
    with pytest.raises(ConflictError, match="resolve"):
        builder.cube()
    cube = builder.resolve(events).cube()
    assert (cube.conflicts, cube.conflicting) == ({"e1"}, 4)  # e1 twice, its change twice
    assert (cube.events, cube.duplicates, cube.excluded) == (6, 0, 0)
    with pytest.raises(ConflictError, match="different contents") as error:
        builder.finish()
    assert error.value.value == ["e1"]
    without = price_cube(cube, ORG, conflicts="set_aside")
    assert without == build_invoice(ORG, EVENTS[1:], OCTOBER)
    # olga's Sonnet 4.6 line was e1 + e2 = $0.0345 → $0.03; e2 alone is $0.0105 → $0.01.
    assert without.total == invoice.total - Money("0.02")
    with pytest.raises(ConflictError, match="different contents"):
        build_invoice(ORG, events, OCTOBER)


def test_a_conflict_in_a_record_is_found_too():
    """add_record detects the conflict just like add; the second pass takes records too."""
    records = [EVENTS[0].to_dict(), EVENTS[0].to_dict(), {**EVENTS[0].to_dict(), "product": "chat"}]
    builder = InvoiceBuilder(ORG, OCTOBER)
    for record in records:
        builder.add_record(record)
    assert (builder.events, builder.duplicates, builder.conflicting) == (1, 0, 3)
    cube = builder.resolve_records(records).cube()
    assert (cube.events, cube.duplicates, cube.conflicting, cube.conflicts) == (0, 0, 3, {"e1"})


def test_a_conflicting_event_outside_the_period_is_taken_back_too():
    """The first version was excluded: the second pass takes it back out of the excluded."""
    late = event("late", "olga", "claude-sonnet-4-6", "chat", OCTOBER.end, input_tokens=1)
    events = [late, attrs.evolve(late, at=at(3))]
    cube = InvoiceBuilder(ORG, OCTOBER).add_all(events).resolve(events).cube()
    assert (cube.events, cube.excluded, cube.conflicting) == (0, 0, 2)


def test_a_conflict_from_an_iterator_cannot_be_resolved():
    """build_invoice reads a list twice when it must; an iterator it cannot: ConflictError."""
    changed = attrs.evolve(EVENTS[0], usage=TokenUsage(input_tokens=1))
    with pytest.raises(ConflictError, match="resolve"):
        build_invoice(ORG, iter([*EVENTS, changed]), OCTOBER)


def test_without_dedupe_every_event_counts():
    """dedupe=False is for sources that already guarantee each event once."""
    builder = InvoiceBuilder(ORG, OCTOBER, dedupe=False)
    builder.add_all([EVENTS[0], EVENTS[0]])
    assert builder._seen is None
    assert (builder.events, builder.duplicates) == (2, 0)
    assert builder.finish().usage_lines[0].requests == 2


def test_without_dedupe_refused_events_are_still_refused():
    """dedupe=False changes nothing about refusing events outside the period or unknown users."""
    builder = InvoiceBuilder(ORG, OCTOBER, outside="reject", dedupe=False)
    with pytest.raises(InvalidValueError, match="must fall in the period"):
        builder.add(event("late", "olga", "claude-sonnet-4-6", "chat", OCTOBER.end, input_tokens=1))
    with pytest.raises(UnknownNameError):
        builder.add(event("who", "zed", "claude-sonnet-4-6", "chat", at(3), input_tokens=1))
    assert (builder.events, builder.excluded) == (0, 0)


def test_parts_without_dedupe_merge_by_adding(invoice):
    """Builders without dedupe merge by adding their counts (nothing to deduplicate)."""
    first = InvoiceBuilder(ORG, OCTOBER, dedupe=False).add_all(EVENTS[:3])
    second = InvoiceBuilder(ORG, OCTOBER, dedupe=False).add_all(EVENTS[3:])
    assert first.merge(second).finish() == invoice
    assert first._seen is None


# --- the period -------------------------------------------------------------------------------


def test_events_outside_the_period_are_excluded_and_counted(invoice):
    """Events before start or at/after end are left out and counted; the last second is in."""
    # Pitfalls: an instant counted twice (Novu #12191); last-day usage dropped (Kill Bill #1438).
    edges = [
        event(
            "o1",
            "olga",
            "claude-sonnet-4-6",
            "chat",
            OCTOBER.start - timedelta(seconds=1),
            input_tokens=1,
        ),
        event("o2", "olga", "claude-sonnet-4-6", "chat", OCTOBER.end, input_tokens=1),
        event(
            "o3",
            "olga",
            "claude-sonnet-4-6",
            "chat",
            OCTOBER.end + timedelta(days=40),
            input_tokens=1,
        ),
    ]
    last = event(
        "o4",
        "olga",
        "claude-haiku-4-5",
        "chat",
        OCTOBER.end - timedelta(seconds=1),
        input_tokens=1_000_000,
    )
    result = build_invoice(ORG, [*edges, *EVENTS, last, edges[1]], OCTOBER)
    assert (result.events, result.excluded, result.duplicates) == (8, 3, 1)
    # The last second of the month is billed: 1,000,000 × $1 = $1.00 more.
    assert result.usage_total == invoice.usage_total + Money("1.00")


def test_outside_reject_raises_and_keeps_nothing():
    """outside='reject' makes an event outside the period an error naming it."""
    builder = InvoiceBuilder(ORG, OCTOBER, outside="reject")
    late = event("late", "olga", "claude-sonnet-4-6", "chat", OCTOBER.end, input_tokens=1)
    with pytest.raises(InvalidValueError, match="must fall in the period") as error:
        builder.add(late)
    assert "'late'" in error.value.field
    assert (builder.events, builder.excluded, builder._seen) == (0, 0, {})
    # Nothing of it was kept: the id is free for the corrected event.
    builder.add(attrs.evolve(late, at=at(30)))
    assert builder.events == 1


def test_outside_must_be_exclude_or_reject():
    """Any other value of outside is refused."""
    with pytest.raises(InvalidValueError, match="'exclude' or 'reject'"):
        InvoiceBuilder(ORG, OCTOBER, outside="drop")


def test_periods_in_the_organizations_time_zone():
    """In Tokyo, October starts at 15:00 UTC on Sep 30: an event then is in, one before is out."""
    org = organization(member("olga", role="primary_owner"), name="tokyo", timezone="Asia/Tokyo")
    period = BillingPeriod.of("2026-10", timezone="Asia/Tokyo")
    start = datetime(2026, 9, 30, 15, tzinfo=UTC)
    events = [
        event("a", "olga", "claude-haiku-4-5", "chat", start, input_tokens=1_000_000),
        event(
            "b", "olga", "claude-haiku-4-5", "chat", start - timedelta(seconds=1), input_tokens=1
        ),
        event(
            "c",
            "olga",
            "claude-haiku-4-5",
            "chat",
            datetime(2026, 10, 31, 15, tzinfo=UTC),
            input_tokens=1,
        ),
    ]
    result = build_invoice(org, events, period)
    assert (result.events, result.excluded) == (1, 2)
    (seat,) = result.seat_lines
    assert seat.start.utcoffset() == timedelta(hours=9)
    assert (seat.start.hour, seat.end.hour) == (0, 0)


# --- refused events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            event("u1", "zed", "claude-sonnet-4-6", "chat", at(5), input_tokens=1),
            UnknownNameError,
            "unknown member 'zed'",
        ),
        (
            event("u2", "olga", "claude-sonnet-9", "chat", at(5), input_tokens=1),
            UnknownModelError,
            "unknown model 'claude-sonnet-9'",
        ),
        # ada joined Oct 11 00:00: at 23:59:59 on Oct 10 she held no seat.
        (
            event(
                "u3",
                "ada",
                "claude-sonnet-4-6",
                "chat",
                at(11) - timedelta(seconds=1),
                input_tokens=1,
            ),
            InvalidValueError,
            "held no seat",
        ),
        # bob was removed Oct 26 00:00: from that instant on he holds none.
        (
            event("u4", "bob", "claude-sonnet-4-6", "chat", at(26), input_tokens=1),
            InvalidValueError,
            "held no seat",
        ),
        # US-only inference is not offered by Haiku 4.5: refused when added, not at finish().
        (
            event(
                "u5",
                "olga",
                "claude-haiku-4-5",
                "chat",
                at(5),
                Modifiers(us_only=True),
                input_tokens=1,
            ),
            UnsupportedModifierError,
            "us_only",
        ),
        (
            event(
                "u6",
                "olga",
                "claude-sonnet-4-6",
                "chat",
                at(5),
                Modifiers(fast=True),
                input_tokens=1,
            ),
            UnsupportedModifierError,
            "fast",
        ),
    ],
)
def test_refused_events_raise_typed_errors_and_keep_nothing(invoice, event, error, match):
    """Unknown user or model, no seat held, unsupported modifier: typed errors naming the event."""
    builder = InvoiceBuilder(ORG, OCTOBER).add_all(EVENTS)
    with pytest.raises(error, match=match) as raised:
        builder.add(event)
    assert raised.value.__notes__ == [f"in usage event {event.event_id!r}"]
    assert event.event_id not in builder._seen
    assert builder.finish() == invoice


def test_unknown_model_suggests_close_names():
    """A misspelt model gets suggestions."""
    with pytest.raises(UnknownModelError) as error:
        build_invoice(ORG, [event("m", "olga", "claude-sonet-4-6", "chat", at(5))], OCTOBER)
    assert "claude-sonnet-4-6" in error.value.suggestions


def test_a_bad_record_is_refused_before_anything_is_counted():
    """add_record checks the record strictly first."""
    builder = InvoiceBuilder(ORG, OCTOBER)
    with pytest.raises(InvalidValueError, match=r"usage\.input_tokens"):
        builder.add_record({**EVENTS[0].to_dict(), "usage": {"input_tokens": "5"}})
    assert (builder.events, builder._seen) == (0, {})


def _dated_table(currency: str = "USD") -> PriceTable:
    rates = {
        "input": "1",
        "output": "2",
        "cache_write_5m": "1",
        "cache_write_1h": "1",
        "cache_read": "1",
    }
    return PriceTable.from_dict(
        {
            "version": "custom-1",
            "currency": currency,
            "models": {
                "m-new": {"prices": [{"rates": rates, "effective_from": "2026-10-10T00:00:00Z"}]}
            },
        }
    )


def test_usage_before_a_models_first_price_is_refused():
    """A model whose first price starts Oct 10 cannot rate usage of Oct 9."""
    builder = InvoiceBuilder(ORG, OCTOBER, _dated_table())
    with pytest.raises(InvalidValueError, match=r"must be on or after .*, the first price"):
        builder.add(event("d1", "olga", "m-new", "chat", at(9), input_tokens=1))
    builder.add(event("d2", "olga", "m-new", "chat", at(10), input_tokens=1_000_000))
    result = builder.finish()
    assert result.price_table == "custom-1"
    assert result.usage_lines[0].amount == Money("1.00")
    assert result.usage_lines[0].price_from == datetime(2026, 10, 10, tzinfo=UTC)


def test_prices_must_be_in_the_organizations_currency():
    """A EUR price table cannot bill a USD organization."""
    with pytest.raises(InvalidValueError, match="must be in USD"):
        InvoiceBuilder(ORG, OCTOBER, _dated_table("EUR"))


# --- merging ----------------------------------------------------------------------------------


def test_parts_merge_into_the_same_invoice(invoice):
    """Two builders of halves of the events, merged, give the invoice of all of them."""
    first = InvoiceBuilder(ORG, OCTOBER).add_all(EVENTS[:3])
    second = InvoiceBuilder(ORG, OCTOBER).add_all(EVENTS[3:])
    assert first.merge(second) is first
    assert first.finish() == invoice


def test_duplicates_straddling_parts_count_once(invoice):
    """An event in both parts (even one outside the period) is counted once when merged."""
    outside = event("x", "olga", "claude-sonnet-4-6", "chat", OCTOBER.end, input_tokens=1)
    part1, part2 = [*EVENTS[:4], outside, EVENTS[5]], [*EVENTS[3:], outside, EVENTS[3]]
    first = InvoiceBuilder(ORG, OCTOBER).add_all(part1)
    second = InvoiceBuilder(ORG, OCTOBER).add_all(part2)
    first.merge(second)
    # e4 and e6 (in period) and x (outside) were counted by both: one count of each comes out.
    assert first.pending == {"e4", "e6", "x"}
    merged = first.resolve(part1).finish()
    single = build_invoice(ORG, [*part1, *part2], OCTOBER)
    assert merged == single
    assert (merged.events, merged.duplicates, merged.excluded) == (7, 4, 1)
    assert merged.usage_lines == invoice.usage_lines


def test_a_conflict_between_parts_sets_both_versions_aside():
    """Same id with different content in two parts: both versions come out after the pass."""
    changed = attrs.evolve(EVENTS[1], usage=TokenUsage(input_tokens=7))
    first = InvoiceBuilder(ORG, OCTOBER).add_all(EVENTS)
    second = InvoiceBuilder(ORG, OCTOBER).add_all([changed, changed])
    first.merge(second)
    assert first.pending == {"e2"}
    cube = first.resolve([*EVENTS, changed]).cube()
    assert (cube.conflicts, cube.conflicting, cube.duplicates) == ({"e2"}, 3, 0)
    assert cube == build_cube_of([*EVENTS, changed, changed])


def build_cube_of(events):
    builder = InvoiceBuilder(ORG, OCTOBER).add_all(events)
    return builder.resolve(events).cube()


def test_only_parts_of_the_same_bill_merge():
    """Merging a builder of another period (or org, or prices) is refused."""
    with pytest.raises(InvalidValueError, match="same organization, period and prices"):
        InvoiceBuilder(ORG, OCTOBER).merge(InvoiceBuilder(ORG, OCTOBER.next()))


# --- exactness and determinism ----------------------------------------------------------------


def test_json_round_trip(invoice):
    """Invoice.from_json(inv.to_json()) == inv, and the text is the same after the trip."""
    text = invoice.to_json()
    again = Invoice.from_json(text)
    assert again == invoice
    assert again.to_json() == text
    assert Invoice.from_json(text.encode()) == invoice
    assert json.loads(invoice.to_json(indent=2)) == json.loads(text)


def test_same_input_same_bytes(invoice):
    """Building twice (and in reverse order) gives the same JSON bytes."""
    assert build_invoice(ORG, EVENTS, OCTOBER).to_json() == invoice.to_json()
    assert build_invoice(ORG, EVENTS[::-1], OCTOBER).to_json() == invoice.to_json()


def test_content_hash_is_sha256_of_the_json_without_it(invoice):
    """content_hash = SHA-256 of the invoice's JSON with an empty hash."""
    blank = attrs.evolve(invoice, content_hash="").to_json()
    assert invoice.content_hash == hashlib.sha256(blank.encode()).hexdigest()
    assert len(invoice.content_hash) == 64
    changed = build_invoice(ORG, EVENTS[1:], OCTOBER)
    assert changed.content_hash != invoice.content_hash


def test_the_callers_decimal_context_changes_nothing(invoice):
    """py-moneyed's pitfall: a caller's 3-digit, round-down decimal context is never read."""
    with decimal.localcontext() as context:
        context.prec = 3
        context.rounding = decimal.ROUND_DOWN
        again = build_invoice(ORG, EVENTS, OCTOBER)
    assert again.to_json() == invoice.to_json()


def test_one_second_of_seat_beside_a_large_total_stays_exact():
    """A prorated fee that does not terminate, added to a six-figure total, does not overflow."""
    org, _ = ORG.add_member("olga", OCTOBER.end - timedelta(seconds=1), member("cy"))
    # 1,000,000,000 output tokens of Opus 4.6 at $25 per million = $25,000, five times.
    big = [
        event(f"b{i}", "olga", "claude-opus-4-6", "chat", at(2), output_tokens=10**9)
        for i in range(5)
    ]
    result = build_invoice(org, big, OCTOBER)
    assert result.usage_total == Money("125000.00")
    assert_adds_up(result)


def test_an_empty_month_bills_seat_fees_only():
    """No usage: the invoice is the seat fees, with zero usage."""
    result = build_invoice(ORG, [], OCTOBER)
    assert result.usage_lines == ()
    assert result.by_model == result.by_product == ()
    assert result.usage_total == Money("0")
    assert result.total == Money("79.20")
    assert_adds_up(result)


def test_members_outside_the_period_pay_nothing():
    """A member removed before the period, or seated after it, has no line."""
    result = build_invoice(ORG, [], OCTOBER.next())
    assert {line.user_id for line in result.seat_lines} == {"olga", "ada"}
    result = build_invoice(ORG, [], BillingPeriod.of("2026-08"))
    assert result.seat_lines == ()


# --- the example organization -----------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Invoice:
    org = Organization.from_file(EXAMPLES / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    builder = InvoiceBuilder(org, period)
    with (EXAMPLES / "usage-2026-10.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            builder.add_record(json.loads(line))
    return builder.finish()


def test_the_example_month_adds_up(example):
    """The example month: 50 members, every total the sum of its lines."""
    assert_adds_up(example)
    assert len(example.by_member) == 50
    assert example.duplicates > 0
    assert example.excluded > 0
    # u-007 changes seat on Oct 14 19:30 UTC: two seat lines meeting there.
    lines = [line for line in example.seat_lines if line.user_id == "u-007"]
    assert [line.seat_type for line in lines] == ["chat", "chat_claude_code"]
    assert lines[0].end == lines[1].start == datetime(2026, 10, 14, 19, 30, tzinfo=UTC)
    assert sum(line.seconds for line in lines) == example.period.seconds


def test_the_example_parses_the_same_through_events(example):
    """Records read as UsageEvents bill the same as records added directly."""
    with (EXAMPLES / "usage-2026-10.jsonl").open(encoding="utf-8") as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    org = Organization.from_file(EXAMPLES / "org.toml")
    assert build_invoice(org, events, example.period) == example
    assert parse_record(events[0].to_dict())[0] == events[0].event_id
