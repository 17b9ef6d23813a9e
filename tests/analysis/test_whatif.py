"""What-if bills: scenarios, cap replay, denied requests, flat plans, scenario files, the CLI.

Worked figures use October 2026 in UTC (31 days) and example seat fees: Chat $20,
Chat + Claude Code $40, HIPAA $5 a month. Sonnet 4.6 costs $3 per million input
tokens, Haiku 4.5 $1. The organization: olga (primary owner) and ada on Chat + Claude
Code, bob on Chat with HIPAA, all month: seat fees 40 + 40 + 25 = 105.00.
"""

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import HAIKU, OCTOBER, SONNET, event, member, october, organization
from usagebill import (
    BillingPeriod,
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    LoadError,
    ModelListing,
    ModelPrice,
    Money,
    Organization,
    PoolLimit,
    PriceTable,
    Product,
    Rates,
    SpendLimits,
    TokenUsage,
    UnknownModelError,
    UnknownNameError,
    UsageEvent,
    build_invoice,
)
from usagebill.analysis.whatif import (
    ChangeCaps,
    ChangeModelPrice,
    ChangePrices,
    DenialReason,
    FlatPlan,
    MoveSeats,
    Scenario,
    Setting,
    whatif,
)
from usagebill.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"


# The cap replay example: what each event carries, in time order.
A1 = event("a1", "ada", SONNET, Product.CHAT, october(2), input_tokens=1_000_000)  # 3.00
A2 = event("a2", "ada", SONNET, Product.CHAT, october(3), input_tokens=1_000_000)  # 3.00
A3 = event("a3", "ada", SONNET, Product.CHAT, october(4), input_tokens=500_000)  # 1.50
B1 = event("b1", "bob", HAIKU, Product.CHAT, october(5), input_tokens=1_000_000)  # 1.00
B2 = event("b2", "bob", HAIKU, Product.CHAT, october(6), input_tokens=500_000)  # 0.50
O1 = event("o1", "olga", SONNET, Product.CHAT, october(7), input_tokens=400_000)  # 1.20
O2 = event("o2", "olga", SONNET, Product.CHAT, october(8), input_tokens=300_000)  # 0.90
REPLAY = [A1, A2, A3, B1, B2, O1, O2]
TIGHT = SpendLimits(
    organization=PoolLimit(pool_cap=Money("6")),
    seat_types={"chat": PoolLimit(pool_cap=Money("0.80"))},
    members={"ada": Money("5")},
)


# --- no change ------------------------------------------------------------------------------


def test_no_change_reproduces_the_invoice():
    """An empty scenario bills exactly the invoice as billed, byte for byte."""
    org = organization()
    result = whatif(org, REPLAY, OCTOBER, Scenario())
    assert result.invoice == result.baseline == build_invoice(org, REPLAY, OCTOBER)
    assert result.invoice.content_hash == result.baseline.content_hash
    assert not result.denied
    assert not result.replayed
    assert result.spend is None
    assert result.comparison is None
    assert not result.diff.changed_lines()


_USERS = ("olga", "ada", "bob")
_random_events = st.lists(
    st.builds(
        lambda number, user, model, product, day, tokens: event(
            f"e{number}",
            user,
            model,
            product,
            october(day),
            input_tokens=tokens,
            output_tokens=tokens // 9,
        ),
        st.integers(0, 40),
        st.sampled_from(_USERS),
        st.sampled_from((SONNET, HAIKU)),
        st.sampled_from((Product.CHAT, Product.CODE_EXECUTION)),
        st.integers(1, 31),
        st.integers(0, 2_000_000),
    ),
    max_size=15,
).map(lambda events: list({e.event_id: e for e in events}.values()))


@given(_random_events, st.integers(1, 31))
def test_no_change_reproduces_any_invoice(events, day):
    """Property: with no change (or changes to what already is), the invoice is the same."""
    org = organization()
    org, _ = org.assign_seat("olga", datetime(2026, 10, day, tzinfo=UTC), "bob", "chat", {"hipaa"})
    billed = build_invoice(org, events, OCTOBER)
    for scenario in (
        Scenario(),
        Scenario((MoveSeats(["ada"], "chat_claude_code"),)),
        Scenario((ChangePrices(PriceTable.builtin()),)),
        Scenario((ChangeCaps(SpendLimits()),)),  # replayed: no cap binds
    ):
        result = whatif(org, iter(events), OCTOBER, scenario)
        assert result.invoice == billed
        assert not result.denied


# --- moving seats ---------------------------------------------------------------------------


def test_moving_a_member_changes_seat_fees_and_denies_what_the_seat_lacks():
    """Ada on Chat: seat 40 → 20, her Claude Code request (3.00) denied, chat billed."""
    code = event("c1", "ada", SONNET, Product.CLAUDE_CODE, october(3), input_tokens=1_000_000)
    chat = event("c2", "ada", SONNET, Product.CHAT, october(4), input_tokens=100_000)  # 0.30
    result = whatif(organization(), [code, chat], OCTOBER, Scenario((MoveSeats(["ada"], "chat"),)))
    assert result.baseline.total == Money("108.30")  # 105 + 3.00 + 0.30
    assert result.invoice.total == Money("85.30")  # 85 + 0.30
    assert result.diff.total.change == Money("-23")
    (denied,) = result.denied
    assert (denied.event_id, denied.reason, denied.amount) == (
        "c1",
        DenialReason.NOT_INCLUDED,
        Money("3"),
    )
    assert denied.seat_type == "chat"
    assert "does not include claude_code" in denied.detail
    assert [(t.key, t.requests, t.amount) for t in result.denied_by_level] == [
        ("not_included", 1, Money("3"))
    ]
    (line,) = result.invoice.usage_lines
    assert (line.seat_type, line.amount) == ("chat", Money("0.30"))
    assert not result.replayed


def test_moving_a_member_who_changed_seat_gives_one_seat_line():
    """Bob went Chat → Chat + Claude Code on Oct 16; moved to Chat: one line, 20 + 5 HIPAA."""
    org, _ = organization().assign_seat(
        "olga", datetime(2026, 10, 16, tzinfo=UTC), "bob", "chat_claude_code"
    )
    scenario = Scenario((MoveSeats(["bob"], "chat", {"hipaa"}),))
    result = whatif(org, [], OCTOBER, scenario)
    bob = [line for line in result.invoice.seat_lines if line.user_id == "bob"]
    assert [(line.seat_type, line.add_on, line.amount) for line in bob] == [
        ("chat", None, Money("20")),
        ("chat", "hipaa", Money("5")),
    ]
    # as billed: Chat 20 x 15/31 = 9.68, HIPAA 5 x 15/31 = 2.42, Chat + Claude Code 40 x 16/31
    # = 20.65: 32.75 → 25.00
    assert {s.key: s.change for s in result.diff.by_member}["bob"] == Money("-7.75")


def test_moving_seats_is_checked_against_the_organization():
    """An unknown member or seat type, or an add-on the seat lacks, is a typed error."""
    org = organization()
    with pytest.raises(UnknownNameError, match="nobody"):
        whatif(org, [], OCTOBER, Scenario((MoveSeats(["nobody"], "chat"),)))
    with pytest.raises(UnknownNameError, match="platinum"):
        whatif(org, [], OCTOBER, Scenario((MoveSeats(["ada"], "platinum"),)))
    with pytest.raises(InvalidValueError, match="hipaa"):
        whatif(org, [], OCTOBER, Scenario((MoveSeats(["ada"], "chat_claude_code", {"hipaa"}),)))


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ("ada", "not one string"),
        ([], "at least one"),
        (["ada", "ada"], "repeat"),
        ([""], "non-empty"),
    ],
)
def test_move_seats_members_are_checked(members, match):
    """Users must be a non-empty list of distinct ids."""
    with pytest.raises(InvalidValueError, match=match):
        MoveSeats(members, "chat")


def test_each_change_applies_itself_in_order():
    """A scenario's setting: each change applied to the one before, the moved members kept."""
    org, table = organization(), PriceTable.builtin()
    rates = Rates(Decimal(6), Decimal(30), Decimal("7.5"), Decimal(12), Decimal("0.6"))
    scenario = Scenario(
        (
            MoveSeats(["ada"], "chat"),
            ChangeCaps(TIGHT),
            ChangeModelPrice(SONNET, rates),
            MoveSeats(["bob"], "chat_claude_code"),
            FLAT,
        )
    )
    setting = scenario.apply(org, table)
    assert dict(setting.moved) == {"ada": "chat", "bob": "chat_claude_code"}
    assert setting.org.member("ada").seat_type == "chat"
    assert setting.org.limits == TIGHT
    assert setting.prices.price(SONNET, datetime(2026, 10, 2, tzinfo=UTC)).rates == rates
    assert Scenario().apply(org, table) == Setting(org, table)
    with pytest.raises(CurrencyMismatchError, match=r"table\.currency"):
        ChangePrices(attrs.evolve(table, currency="EUR")).apply(Setting(org, table))


def test_move_seats_add_ons_are_a_collection():
    """A single add-on name is refused: it would be read as letters."""
    with pytest.raises(InvalidValueError, match="add_ons"):
        MoveSeats(["ada"], "chat", "hipaa")
    with pytest.raises(InvalidValueError, match="seat_type"):
        MoveSeats(["ada"], "")


# --- replaying caps -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tight():
    shuffled = [*REPLAY[4:], *REPLAY[:4]][::-1]  # the replay orders them by time itself
    return whatif(organization(), shuffled, OCTOBER, Scenario((ChangeCaps(TIGHT),), name="tight"))


def test_caps_are_replayed_in_time_order(tight):
    """a2 breaks ada's 5.00 (3 + 3), b1 the Chat pool 0.80, o1 the organization's 6.00."""
    assert tight.replayed
    assert [(d.event_id, d.reason, d.amount) for d in tight.denied] == [
        ("a2", DenialReason.MEMBER, Money("3")),
        ("b1", DenialReason.SEAT_TYPE, Money("1")),
        ("o1", DenialReason.ORGANIZATION, Money("1.2")),
    ]
    # o1: allowed so far 3.00 + 1.50 + 0.50 = 5.00; 5.00 + 1.20 > 6.00, short by 0.20
    assert "short by 0.20 USD" in tight.denied[2].detail


def test_denied_requests_are_left_out_of_the_invoice(tight):
    """Usage 5.90 (3.00 + 1.50, 0.50, 0.90) instead of 11.10; the diff says -5.20."""
    assert tight.baseline.usage_total == Money("11.10")
    assert tight.invoice.usage_total == Money("5.90")
    assert tight.diff.usage_total.change == -tight.denied_total
    assert tight.denied_total == Money("5.20")
    assert tight.invoice.events == 4


def test_denied_totals_per_user_and_level(tight):
    """Per user and per level, with request counts and exact amounts."""
    assert [(t.key, t.requests, t.amount) for t in tight.denied_by_user] == [
        ("ada", 1, Money("3")),
        ("bob", 1, Money("1")),
        ("olga", 1, Money("1.2")),
    ]
    assert [t.key for t in tight.denied_by_level] == ["member", "organization", "seat_type"]


def test_the_replay_ends_with_the_spend_it_allowed(tight):
    """Month-to-date spend after the replay: what the what-if invoice bills."""
    assert tight.spend is not None
    assert tight.spend.organization() == Money("5.90")
    assert tight.spend.member("ada") == Money("4.50")
    assert tight.spend.seat_type("chat") == Money("0.50")


def test_replay_on_request_with_unchanged_caps():
    """replay_caps=True replays the organization's own caps (here they deny a2)."""
    org = organization(limits=SpendLimits(members={"ada": Money("5")}))
    result = whatif(org, REPLAY, OCTOBER, Scenario(replay_caps=True))
    assert result.replayed
    assert [d.event_id for d in result.denied] == ["a2"]
    assert "caps replayed" in result.scenario.describe()


def test_the_replay_uses_the_seat_held_at_each_request():
    """Bob moves to Chat + Claude Code on Oct 10: his later Claude Code request is allowed."""
    org, _ = organization().assign_seat(
        "olga", datetime(2026, 10, 10, tzinfo=UTC), "bob", "chat_claude_code"
    )
    early = event("x1", "bob", HAIKU, Product.CLAUDE_CODE, october(5), input_tokens=1_000)
    late = event("x2", "bob", HAIKU, Product.CLAUDE_CODE, october(15), input_tokens=1_000)
    result = whatif(org, [early, late], OCTOBER, Scenario(replay_caps=True))
    assert [(d.event_id, d.reason, d.seat_type) for d in result.denied] == [
        ("x1", DenialReason.NOT_INCLUDED, "chat")
    ]


def test_the_replay_bills_a_member_since_removed():
    """A member removed on Oct 20 is replayed for what they used before."""
    org, _ = organization().remove_member("olga", datetime(2026, 10, 20, tzinfo=UTC), "ada")
    result = whatif(org, [A1], OCTOBER, Scenario((ChangeCaps(SpendLimits()),)))
    assert not result.denied
    assert result.invoice == result.baseline


def test_moving_a_member_since_removed_bills_them_up_to_removal():
    """Ada, removed on Oct 20, moved to Chat: 20 x 19/31 = 12.258… → 12.26, nothing after."""
    org, _ = organization().remove_member("olga", datetime(2026, 10, 20, tzinfo=UTC), "ada")
    result = whatif(org, [], OCTOBER, Scenario((MoveSeats(["ada"], "chat"),)))
    ada = [line for line in result.invoice.seat_lines if line.user_id == "ada"]
    assert [(line.seat_type, line.amount) for line in ada] == [("chat", Money("12.26"))]


def test_the_replay_counts_duplicates_once_and_skips_other_months():
    """A retried event counts once; an event of November is left to the builder to count."""
    november = event("n1", "ada", SONNET, Product.CHAT, october(1), input_tokens=1)
    november = attrs.evolve(november, at=datetime(2026, 11, 2, tzinfo=UTC))
    result = whatif(organization(), [A1, A1, A2, november], OCTOBER, Scenario((ChangeCaps(TIGHT),)))
    assert [d.event_id for d in result.denied] == ["a2"]
    assert (result.invoice.duplicates, result.invoice.excluded) == (1, 1)
    assert (result.baseline.duplicates, result.baseline.excluded) == (1, 1)


def test_the_replay_refuses_a_conflict():
    """The same id with other content is a conflict, as on the invoice."""
    other = attrs.evolve(A1, usage=TokenUsage(input_tokens=7))
    with pytest.raises(ConflictError):
        whatif(organization(), [A1, other], OCTOBER, Scenario(replay_caps=True))
    baseline = build_invoice(
        organization(), [A1], OCTOBER
    )  # the replay comes first: it refuses too
    with pytest.raises(ConflictError):
        whatif(organization(), [A1, other], OCTOBER, Scenario(replay_caps=True), baseline=baseline)


def test_the_replay_names_the_event_it_cannot_bill():
    """A request before its member held a seat raises with the event's id in a note."""
    org, _ = organization().add_member("olga", datetime(2026, 10, 20, tzinfo=UTC), member("dan"))
    early = event("d1", "dan", SONNET, Product.CHAT, october(5), input_tokens=1)
    with pytest.raises(InvalidValueError, match="held no seat") as error:
        whatif(
            org,
            [early],
            OCTOBER,
            Scenario(replay_caps=True),
            baseline=build_invoice(org, [], OCTOBER),
        )
    assert "in usage event 'd1'" in error.value.__notes__
    stranger = event("s1", "eve", SONNET, Product.CHAT, october(5), input_tokens=1)
    with pytest.raises(UnknownNameError):
        whatif(
            org,
            [stranger],
            OCTOBER,
            Scenario(replay_caps=True),
            baseline=build_invoice(org, [], OCTOBER),
        )


def test_caps_are_checked_against_the_organization():
    """A cap for someone who is not a member is refused by the organization."""
    with pytest.raises(UnknownNameError, match="nobody"):
        whatif(
            organization(),
            [],
            OCTOBER,
            Scenario((ChangeCaps(SpendLimits(members={"nobody": Money(1)})),)),
        )


# --- prices ---------------------------------------------------------------------------------


def _priced(table: PriceTable, model: str, **rates: str) -> PriceTable:
    listing = table.models[table.resolve(model)]
    prices = tuple(attrs.evolve(p, rates=attrs.evolve(p.rates, **rates)) for p in listing.prices)
    return PriceTable(
        "test-table",
        table.models.set(table.resolve(model), attrs.evolve(listing, prices=prices)),
        table.currency,
    )


def test_another_price_table_reprices_every_line():
    """Sonnet input at $6: ada's 1M-token request 3.00 → 6.00, same line, changed."""
    table = _priced(PriceTable.builtin(), SONNET, input="6")
    result = whatif(organization(), [A1], OCTOBER, Scenario((ChangePrices(table),)))
    assert result.invoice.price_table == "test-table"
    (line,) = result.diff.changed_lines()
    assert (line.kind, line.before, line.after, line.status) == (
        "usage",
        Money("3"),
        Money("6"),
        "changed",
    )
    assert "prices from table test-table" in result.scenario.describe()


def test_a_price_table_in_another_currency_is_refused():
    """Prices must be in the organization's currency."""
    table = PriceTable.builtin()
    with pytest.raises(CurrencyMismatchError):
        whatif(
            organization(),
            [],
            OCTOBER,
            Scenario((ChangePrices(PriceTable("eur", table.models, "EUR")),)),
        )


def test_a_models_new_price_for_the_whole_period():
    """Sonnet at $6 input for the whole period: every version repriced, lines kept."""
    rates = Rates("6", "30", "7.5", "12", "0.6")
    result = whatif(organization(), [A1, O2], OCTOBER, Scenario((ChangeModelPrice(SONNET, rates),)))
    assert result.invoice.usage_total == Money("7.80")  # (1M + 300k) x $6
    assert {line.status for line in result.diff.changed_lines()} == {"changed"}
    assert "what-if" in result.invoice.price_table


def test_a_models_new_price_from_an_instant():
    """Sonnet at $6 from Oct 5: a1 (Oct 2) stays 3.00, o2 (Oct 8) 300k x 6 = 1.80."""
    rates = Rates("6", "30", "7.5", "12", "0.6")
    change = ChangeModelPrice(SONNET, rates, datetime(2026, 10, 5, tzinfo=UTC))
    result = whatif(organization(), [A1, O2], OCTOBER, Scenario((change,)))
    amounts = {(line.user_id, line.amount) for line in result.invoice.usage_lines}
    assert amounts == {("ada", Money("3")), ("olga", Money("1.8"))}
    assert "from 2026-10-05" in change.describe()


def test_a_models_new_context_tier_rates():
    """The tier's own rates are replaced when given; a model without a tier refuses them."""
    tier = Rates("12", "45", "15", "24", "1.2")
    model = "claude-sonnet-4-5"
    big = event("t1", "ada", model, Product.CHAT, october(3), input_tokens=300_000)  # in the tier
    result = whatif(
        organization(),
        [big],
        OCTOBER,
        Scenario((ChangeModelPrice(model, Rates(3, 15, 3, 6, 0), long_context=tier),)),
    )
    assert result.invoice.usage_total == Money("3.60")  # 300k x $12 (was $6: 1.80)
    assert result.baseline.usage_total == Money("1.80")
    with pytest.raises(InvalidValueError, match="no context tier"):
        whatif(
            organization(),
            [],
            OCTOBER,
            Scenario((ChangeModelPrice(SONNET, tier, long_context=tier),)),
        )


def test_a_new_price_before_the_models_first_price_is_refused():
    """A model priced from Oct 10 only cannot take a new price from Oct 1."""
    dated = ModelPrice(Rates(1, 1, 1, 1, 1), effective_from=datetime(2026, 10, 10, tzinfo=UTC))
    table = PriceTable("dated", {"m-new": ModelListing((dated,))})
    change = ChangeModelPrice("m-new", Rates(2, 2, 2, 2, 2), datetime(2026, 10, 1, tzinfo=UTC))
    with pytest.raises(InvalidValueError, match="first price"):
        whatif(organization(), [], OCTOBER, Scenario((change,)), table)
    with pytest.raises(UnknownModelError):
        whatif(
            organization(),
            [],
            OCTOBER,
            Scenario((ChangeModelPrice("gpt-x", Rates(1, 1, 1, 1, 1)),)),
        )


def test_change_model_price_checks_its_values():
    """Typed errors for a wrong model, rates or instant."""
    with pytest.raises(InvalidValueError, match="model"):
        ChangeModelPrice("", Rates(1, 1, 1, 1, 1))
    with pytest.raises(InvalidValueError, match="rates"):
        ChangeModelPrice(SONNET, {"input": 1})
    with pytest.raises(InvalidValueError, match="effective_from"):
        ChangeModelPrice(SONNET, Rates(1, 1, 1, 1, 1), datetime(2026, 10, 1))
    with pytest.raises(InvalidValueError, match="long_context"):
        ChangeModelPrice(SONNET, Rates(1, 1, 1, 1, 1), long_context="cheap")
    with pytest.raises(InvalidValueError, match="table"):
        ChangePrices("builtin")
    with pytest.raises(InvalidValueError, match="limits"):
        ChangeCaps({"ada": 5})


# --- the flat plan --------------------------------------------------------------------------

FLAT = FlatPlan({"chat": Money("30"), "chat_claude_code": Money("60")}, Money("2"))


def test_a_flat_plan_with_priced_overage():
    """Flat 155.00 + overage 1.00 = 156.00 against usage billing's 108.50."""
    result = whatif(organization(), [A1, B2], OCTOBER, Scenario((FLAT,)))
    comparison = result.comparison
    assert comparison is not None
    rows = {row.user_id: row for row in comparison.rows}
    ada = rows["ada"]  # 1M input: 3.00 of usage, 2.00 included, 1.00 over
    assert (ada.flat_fee, ada.usage, ada.allowance, ada.included, ada.overage) == (
        Money("60"),
        Money("3"),
        Money("2"),
        Money("2"),
        Money("1"),
    )
    assert (ada.total, ada.usage_billed, ada.difference) == (
        Money("61"),
        Money("43"),
        Money("18"),
    )
    bob = rows["bob"]  # 30 + 5 HIPAA; 0.50 of usage, all included
    assert (bob.flat_fee, bob.included, bob.overage, bob.total) == (
        Money("35"),
        Money("0.5"),
        Money("0"),
        Money("35"),
    )
    totals = comparison.totals
    assert (totals.flat_fee, totals.total, totals.usage_billed, totals.difference) == (
        Money("155"),
        Money("156"),
        Money("108.50"),
        Money("47.50"),
    )
    assert comparison.cheaper == "usage"
    assert result.invoice == result.baseline  # the plan is compared, not billed


def test_a_flat_plan_blocking_overage():
    """a1 (3.00) would pass the 2.00 allowance: blocked; a3 (1.50) fits: included."""
    plan = attrs.evolve(FLAT, overage="blocked")
    result = whatif(organization(), [A1, A3], OCTOBER, Scenario((plan,)))
    assert result.comparison is not None
    ada = {row.user_id: row for row in result.comparison.rows}["ada"]
    assert (ada.usage, ada.included, ada.blocked, ada.overage, ada.total) == (
        Money("4.50"),
        Money("1.50"),
        Money("3"),
        Money("0"),
        Money("60"),
    )
    assert "overage blocked" in plan.describe()


def test_a_flat_plan_is_prorated_like_seat_fees():
    """Dan joins on Oct 16 (16 of 31 days): 30 x 16/31 = 15.48 and 2 x 16/31 = 1.03."""
    org, _ = organization().add_member("olga", datetime(2026, 10, 16, tzinfo=UTC), member("dan"))
    result = whatif(org, [], OCTOBER, Scenario((FLAT,)))
    assert result.comparison is not None
    dan = {row.user_id: row for row in result.comparison.rows}["dan"]
    assert (dan.flat_fee, dan.allowance, dan.usage_billed) == (
        Money("15.48"),
        Money("1.03"),
        Money("10.32"),
    )


def test_a_flat_plan_cheaper_than_usage_billing():
    """A cheap flat plan wins; the verdict says so."""
    plan = FlatPlan({"chat": Money("1"), "chat_claude_code": Money("1")}, Money("100"))
    comparison = whatif(organization(), [A1], OCTOBER, Scenario((plan,))).comparison
    assert comparison is not None
    assert comparison.cheaper == "flat"
    assert "the flat plan would have cost less" in comparison.to_text()
    same = FlatPlan({"chat": Money("20"), "chat_claude_code": Money("40")}, Money("0"))
    even = whatif(organization(), [], OCTOBER, Scenario((same,))).comparison
    assert even is not None
    assert even.cheaper == "same"
    assert "both models cost the same" in even.to_text()


def test_a_flat_plan_must_price_every_seat_type_held():
    """No fee for Chat + Claude Code while members hold it: refused."""
    plan = FlatPlan({"chat": Money("30")}, Money("2"))
    with pytest.raises(InvalidValueError, match="chat_claude_code"):
        whatif(organization(), [], OCTOBER, Scenario((plan,)))


def test_flat_plan_values_are_checked():
    """Fees, allowance and overage are checked when the plan is made."""
    with pytest.raises(InvalidValueError, match="fees"):
        FlatPlan({}, Money("1"))
    with pytest.raises(InvalidValueError, match="fees"):
        FlatPlan({"chat": Money("-1")}, Money("1"))
    with pytest.raises(InvalidValueError, match="allowance"):
        FlatPlan({"chat": Money("1")}, "10")
    with pytest.raises(InvalidValueError, match="overage"):
        FlatPlan({"chat": Money("1")}, Money("1"), "refunded")
    with pytest.raises(CurrencyMismatchError):
        FlatPlan({"chat": Money("1", "EUR")}, Money("1"))
    euro = FlatPlan({"chat": Money("1", "EUR")}, Money("1", "EUR"))
    with pytest.raises(CurrencyMismatchError):
        whatif(organization(), [], OCTOBER, Scenario((euro,)))


# --- scenarios ------------------------------------------------------------------------------


def test_scenario_values_are_checked():
    """Changes must be change values, at most one flat plan; a name; replay_caps a bool."""
    with pytest.raises(InvalidValueError, match="tuple of changes"):
        Scenario(MoveSeats(["ada"], "chat"))
    with pytest.raises(InvalidValueError, match=r"changes\[0\]"):
        Scenario(("move ada",))
    with pytest.raises(InvalidValueError, match="at most one FlatPlan"):
        Scenario((FLAT, FLAT))
    with pytest.raises(InvalidValueError, match="name"):
        Scenario(name="")
    with pytest.raises(InvalidValueError, match="replay_caps"):
        Scenario(replay_caps="yes")
    with pytest.raises(InvalidValueError, match="scenario"):
        whatif(organization(), [], OCTOBER, "downgrade")


def test_changes_combine_in_order():
    """Move ada to Chat, then cap the Chat pool at 0.40: her chat request (0.30) passes,
    bob's (0.50) no longer fits."""
    chat = event("c2", "ada", SONNET, Product.CHAT, october(4), input_tokens=100_000)
    caps = ChangeCaps(SpendLimits(seat_types={"chat": PoolLimit(pool_cap=Money("0.40"))}))
    scenario = Scenario((MoveSeats(["ada"], "chat"), caps), name="both")
    result = whatif(organization(), [chat, B2], OCTOBER, scenario)
    assert [(d.event_id, d.reason) for d in result.denied] == [("b2", DenialReason.SEAT_TYPE)]
    assert scenario.describe()[0] == "move ada to chat for the whole period"
    assert scenario.describe()[1] == "caps replaced: seat_types['chat'].pool_cap 0.40 USD"
    assert ChangeCaps(SpendLimits()).describe() == "caps replaced: no caps at all"
    assert Scenario().describe() == ["no change"]


def test_a_baseline_is_reused_when_given():
    """A baseline of the same month is used as is; another month's is refused."""
    org = organization()
    baseline = build_invoice(org, [A1], OCTOBER)
    assert whatif(org, [A1], OCTOBER, Scenario(), baseline=baseline).baseline is baseline
    september = build_invoice(org, [], BillingPeriod.of("2026-09"))
    with pytest.raises(InvalidValueError, match="baseline"):
        whatif(org, [A1], OCTOBER, Scenario(), baseline=september)


# --- output ---------------------------------------------------------------------------------


def test_text_markdown_html_and_records(tight):
    """Every view carries the scenario, the denied requests and the diff."""
    text = tight.to_text()
    assert text.startswith("WHAT-IF: tight")
    assert "Caps replayed: yes" in text
    assert "DENIED REQUESTS: 3, carrying 5.20 USD" in text
    assert "INVOICE DIFF" in text
    markdown = tight.to_markdown()
    assert markdown.startswith("# What-if: tight")
    # One phrasing in every format now (the report model's part heading); it was
    # "Denied requests: 3 (5.20)" in Markdown and "3 requests denied" in HTML.
    assert "## Denied requests: 3, carrying 5.20 USD" in markdown
    page = tight._repr_html_()
    assert "usagebill-whatif" in page
    assert "Denied requests: 3, carrying 5.20 USD" in page
    assert tight.to_records() == tight.diff.to_records()
    (first, *_) = tight.denied_records()
    assert first["event_id"] == "a2"
    assert first["level"] == "member"
    assert first["amount"] == Decimal("3.000000")


def test_text_without_denials_or_replay():
    """A scenario that denies nothing says so."""
    text = whatif(organization(), [A1], OCTOBER, Scenario((FLAT,), name="flat")).to_text()
    assert "DENIED REQUESTS: none" in text
    assert "no (the scenario does not change them)" in text
    assert "PLAN COMPARISON" in text


def test_plan_comparison_records_and_html():
    """The comparison is tabular too."""
    comparison = whatif(organization(), [A1], OCTOBER, Scenario((FLAT,))).comparison
    assert comparison is not None
    records = comparison.to_records()
    assert [r["user_id"] for r in records] == ["ada", "bob", "olga"]
    assert records[0]["overage"] == Decimal("1.00")
    assert "usagebill-plan" in comparison._repr_html_()
    page = whatif(organization(), [A1], OCTOBER, Scenario((FLAT,)))._repr_html_()
    assert "usagebill-plan" in page


# --- the scenario file ----------------------------------------------------------------------

SCENARIO = """\
name = "everything"
replay_caps = true

[[move_seats]]
members = ["ada"]
seat_type = "chat"
add_ons = ["hipaa"]

[caps]
organization = { pool_cap = "1000", member_default = "50" }
seat_types.chat = { pool_cap = "300" }
members = { "bob" = "90" }

[prices]
file = "prices.json"

[[model_prices]]
model = "claude-sonnet-4-6"
rates = { input = "6", output = "30", cache_write_5m = "7.5", cache_write_1h = "12", \
cache_read = "0.6" }
effective_from = 2026-10-15T00:00:00Z

[flat_plan]
fees = { chat = "30", chat_claude_code = "60" }
allowance = "25"
overage = "blocked"
"""


def test_a_scenario_file_with_every_section(tmp_path):
    """Each section becomes its change, in the documented order."""
    (tmp_path / "prices.json").write_text(json.dumps(PriceTable.builtin().to_dict()))
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    scenario = Scenario.from_file(path)
    assert scenario.name == "everything"
    assert scenario.replay_caps
    kinds = [type(change).__name__ for change in scenario.changes]
    assert kinds == ["MoveSeats", "ChangeCaps", "ChangePrices", "ChangeModelPrice", "FlatPlan"]
    move, caps, _prices, model, plan = scenario.changes
    assert move == MoveSeats(["ada"], "chat", {"hipaa"})
    assert caps.limits.organization.member_default == Money("50")
    assert caps.limits.members["bob"] == Money("90")
    assert model.effective_from == datetime(2026, 10, 15, tzinfo=UTC)
    assert (plan.allowance, plan.overage) == (Money("25"), "blocked")
    result = whatif(organization(), REPLAY, OCTOBER, scenario)
    assert result.comparison is not None


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('nam = "typo"', "$", "unknown keys"),
        ("[[move_seats]]\nmembers = 'ada'\nseat_type = 'chat'", "$.move_seats", "list"),
        ("[[move_seats]]\nmembers = []\nseat_type = 'chat'", "$.move_seats[0]", "at least one"),
        ("[caps]\nmembers = { ada = 'lots' }", "$.caps.members", "decimal"),
        ("[caps.organization]\npool_cap = '-5'", "$.caps", "negative"),
        (
            "[flat_plan]\nfees = { chat = '30' }\nallowance = '10'\noverage = 'maybe'",
            "$.flat_plan.overage",
            "",
        ),
        ("[flat_plan]\nfees = { chat = '30' }\nallowance = '-10'", "$.flat_plan", "allowance"),
        (
            "[[model_prices]]\nmodel = 'x'\nrates = { input = '1' }",
            "$.model_prices[0].rates",
            "",
        ),
        ("[prices]\nfile = 'missing.json'", "$.prices.file", "'missing.json' in"),
        ("[prices]\nfile = ''", "$.prices.file", "not empty"),
        ("name = ''", "$", "name"),
    ],
)
def test_a_bad_scenario_file_names_the_path(tmp_path, text, path, message):
    """Every problem is a LoadError whose path says where it is."""
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(LoadError) as error:
        Scenario.from_file(file)
    problems = error.value.problems
    assert any(where.startswith(path) and message in why for where, why in problems), problems


def test_a_bad_price_file_is_reported_as_itself(tmp_path):
    """A price table file that does not load raises its own LoadError, naming it."""
    (tmp_path / "prices.json").write_text('{"version": 1}')
    file = tmp_path / "scenario.toml"
    file.write_text('[prices]\nfile = "prices.json"\n')
    with pytest.raises(LoadError, match=r"prices\.json"):
        Scenario.from_file(file)


def test_a_scenario_file_that_is_not_toml(tmp_path):
    """A TOML syntax error is a LoadError too."""
    file = tmp_path / "bad.toml"
    file.write_text("name = ")
    with pytest.raises(LoadError, match=r"bad\.toml"):
        Scenario.from_file(file)


def test_a_scenario_from_a_dict_in_another_currency():
    """Amounts are read in the organization's currency."""
    scenario = Scenario.from_dict(
        {"flat_plan": {"fees": {"chat": "30"}, "allowance": "5"}}, currency="EUR"
    )
    assert scenario.changes[0].allowance == Money("5", "EUR")


# --- the example, the command line ----------------------------------------------------------


def _example_events():
    with (EXAMPLES / "usage-2026-10.jsonl").open() as lines:
        return [UsageEvent.from_dict(json.loads(line)) for line in lines]


def test_the_example_scenario_on_the_example_month():
    """Downgrading u-007 and u-018 saves their Claude Code seats, denies their Claude Code."""
    org = Organization.from_file(EXAMPLES / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    scenario = Scenario.from_file(EXAMPLES / "scenario-downgrade.toml", currency=org.currency)
    result = whatif(org, _example_events(), period, scenario)
    assert {t.key for t in result.denied_by_user} == {"u-007", "u-018"}
    assert {t.key for t in result.denied_by_level} == {"not_included"}
    code = [
        line.amount
        for line in result.baseline.usage_lines
        if line.user_id in {"u-007", "u-018"} and line.product is Product.CLAUDE_CODE
    ]
    assert result.diff.usage_total.change == -Money.sum(code)  # every one of those lines
    assert result.diff.total.change < Money("0")


def test_the_whatif_command(tmp_path):
    """`usagebill whatif` prints the scenario, the denied requests and the diff."""
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "whatif",
        "--org",
        str(EXAMPLES / "org.toml"),
        "--scenario",
        str(EXAMPLES / "scenario-downgrade.toml"),
        "--events",
        str(EXAMPLES / "usage-2026-10.jsonl"),
        "--period",
        "2026-10",
    ]
    assert main(argv, out, err) == 0
    assert out.getvalue().startswith("WHAT-IF: Downgrade")
    assert "INVOICE DIFF: Acme Health" in out.getvalue()
    out = io.StringIO()
    assert main([*argv, "--format", "md"], out, err) == 0
    assert out.getvalue().startswith("# What-if: Downgrade")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[move_seats]]\nmembers = ['nobody']\nseat_type = 'chat'\n")
    argv[4] = str(bad)
    assert main(argv, io.StringIO(), err) == 2
    assert "unknown member 'nobody'" in err.getvalue()


def test_the_whatif_command_reads_events_strictly(tmp_path):
    """A bad events line stops the command, or is skipped with --skip-invalid."""
    events = tmp_path / "events.jsonl"
    good = attrs.evolve(A1, user_id="u-001").to_dict()
    events.write_text(json.dumps(good) + "\n\nnot json\n")
    scenario = tmp_path / "none.toml"
    scenario.write_text('name = "nothing"\n')
    org = str(EXAMPLES / "org.toml")
    argv = ["whatif", "--org", org, "--scenario", str(scenario), "--events", str(events)]
    argv += ["--period", "2026-10"]
    err = io.StringIO()
    assert main(argv, io.StringIO(), err) == 2
    assert "events.jsonl:3" in err.getvalue()
    err = io.StringIO()
    out = io.StringIO()
    assert main([*argv, "--skip-invalid"], out, err) == 0
    assert "skipped" in err.getvalue()
    assert "no change" in out.getvalue()
