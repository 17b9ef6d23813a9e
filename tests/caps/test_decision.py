"""The pure decision under nested caps: examples worked out by hand, one rule each."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from builders import member, organization
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    CurrencyMismatchError,
    InvalidValueError,
    Money,
    Organization,
    PoolLimit,
    PriceTable,
    Product,
    Spend,
    SpendLimits,
    TokenUsage,
    UnknownNameError,
    authorize,
    authorize_usage,
)
from usagebill.accounts.limits import Level, LimitSource
from usagebill.caps.decision import Binding, Decision

START = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = [
    member("olga", CHAT_AND_CLAUDE_CODE, role="primary_owner"),
    member("ada"),
    member("bob"),
    member("cy", CHAT_AND_CLAUDE_CODE),
]


def org_with(
    *,
    org: PoolLimit | None = None,
    seats: dict[str, PoolLimit] | None = None,
    members: dict[str, Money] | None = None,
) -> Organization:
    limits = SpendLimits(
        organization=org or PoolLimit(), seat_types=seats or {}, members=members or {}
    )
    return organization(*PEOPLE, at=START, limits=limits)


def spend_of(**by_member: str) -> Spend:
    """Committed spend, each user on their current seat type."""
    seats = {member.user_id: member.seat_type for member in PEOPLE}
    spend = Spend()
    for user_id, amount in by_member.items():
        spend = spend.record(user_id, seats[user_id], Money(amount))
    return spend


# --- each level binding alone ---------------------------------------------------------------


def test_member_limit_binds_alone() -> None:
    """ada's individual cap of 10 with 9 spent: 1 fits, 1.01 is short by 0.01."""
    org = org_with(members={"ada": Money("10")})
    spend = spend_of(ada="9")
    assert authorize(org, spend, "ada", Money("1")) == Decision(
        allowed=True, user_id="ada", seat_type=CHAT, amount=Money("1"), headroom=Money("1")
    )
    denied = authorize(org, spend, "ada", Money("1.01"))
    assert not denied
    assert denied.headroom == Money("1")  # 10 - 9
    assert denied.bindings == (
        Binding(
            Level.MEMBER,
            "ada",
            cap=Money("10"),
            used=Money("9"),
            shortfall=Money("0.01"),  # 9 + 1.01 - 10
            source=LimitSource.INDIVIDUAL,
        ),
    )
    assert authorize(org, spend, "bob", Money("1000")).allowed  # bob has no limit


def test_seat_type_pool_binds_alone() -> None:
    """Chat pool of 20 with 12 + 7 spent: 1 fits for either Chat member, 1.50 is short by 0.50."""
    org = org_with(seats={CHAT: PoolLimit(pool_cap=Money("20"))})
    spend = spend_of(ada="12", bob="7", cy="500")  # cy's spend is on the other seat type
    assert authorize(org, spend, "bob", Money("1")).allowed  # 19 + 1 <= 20
    denied = authorize(org, spend, "ada", Money("1.50"))
    assert denied.bindings == (
        Binding(Level.SEAT_TYPE, CHAT, Money("20"), Money("19"), Money("0.50")),
    )
    assert denied.headroom == Money("1")
    assert authorize(org, spend, "cy", Money("100")).allowed  # Chat + Claude Code: no pool cap


def test_organization_pool_binds_alone() -> None:
    """Org pool of 30 with 10 + 15 spent: 5 fits for anyone, 6 is short by 1."""
    org = org_with(org=PoolLimit(pool_cap=Money("30")))
    spend = spend_of(ada="10", cy="15")
    assert authorize(org, spend, "bob", Money("5")).allowed  # 25 + 5 <= 30
    denied = authorize(org, spend, "olga", Money("6"))
    assert denied.bindings == (
        Binding(Level.ORGANIZATION, "acme", Money("30"), Money("25"), Money("1")),
    )
    assert denied.headroom == Money("5")


# Caps: ada 10 (individual), Chat pool 20, organization pool 30.
# Spend: ada 8, bob 11 (Chat), cy 10.50 (Chat + Claude Code).
# Room: ada 10 - 8 = 2; Chat 20 - 19 = 1; organization 30 - 29.50 = 0.50.
STACKED = org_with(
    org=PoolLimit(pool_cap=Money("30")),
    seats={CHAT: PoolLimit(pool_cap=Money("20"))},
    members={"ada": Money("10")},
)
STACKED_SPEND = spend_of(ada="8", bob="11", cy="10.50")


def test_several_levels_bind_tightest_first() -> None:
    """A charge of 3 fails all three levels, listed by shortfall: org 2.50, Chat 2, ada 1."""
    denied = authorize(STACKED, STACKED_SPEND, "ada", Money("3"))
    assert [(b.level, b.cap, b.used, b.shortfall) for b in denied.bindings] == [
        (Level.ORGANIZATION, Money("30"), Money("29.50"), Money("2.50")),  # 29.50 + 3 - 30
        (Level.SEAT_TYPE, Money("20"), Money("19"), Money("2")),  # 19 + 3 - 20
        (Level.MEMBER, Money("10"), Money("8"), Money("1")),  # 8 + 3 - 10
    ]
    assert denied.headroom == Money("0.50")  # the least room on ada's path
    assert denied.reason == (
        "denied: 3.00 USD for ada exceeds "
        "organization pool cap 30.00 USD: 29.50 USD used, short by 2.50 USD; "
        "pool cap of seat type chat 20.00 USD: 19.00 USD used, short by 2.00 USD; "
        "member limit of ada (individual) 10.00 USD: 8.00 USD used, short by 1.00 USD"
    )


def test_only_the_levels_that_refuse_are_listed() -> None:
    """A charge of 1.50 fits ada's own room of 2 but not the pools: org 1, then Chat 0.50."""
    denied = authorize(STACKED, STACKED_SPEND, "ada", Money("1.50"))
    assert [(b.level, b.shortfall) for b in denied.bindings] == [
        (Level.ORGANIZATION, Money("1")),  # 29.50 + 1.50 - 30
        (Level.SEAT_TYPE, Money("0.50")),  # 19 + 1.50 - 20
    ]
    assert authorize(STACKED, STACKED_SPEND, "ada", Money("0.50")).allowed


def test_a_generous_individual_cap_does_not_skip_the_pools() -> None:
    """An individual cap higher than everything still leaves both pool caps enforced."""
    org = org_with(
        org=PoolLimit(pool_cap=Money("30")),
        seats={CHAT: PoolLimit(pool_cap=Money("20"))},
        members={"ada": Money("1000")},
    )
    denied = authorize(org, STACKED_SPEND, "ada", Money("3"))
    assert [b.level for b in denied.bindings] == [Level.ORGANIZATION, Level.SEAT_TYPE]


def test_headroom_is_none_without_caps_and_the_least_room_otherwise() -> None:
    """No cap on the path: headroom None; otherwise the smallest cap - used on the path."""
    free = org_with()
    decision = authorize(free, STACKED_SPEND, "ada", Money("1000000"))
    assert decision.allowed
    assert decision.headroom is None
    assert decision.reason == "allowed: 1000000.00 USD for ada (no cap applies)"
    allowed = authorize(STACKED, STACKED_SPEND, "ada", Money("0.25"))
    assert allowed.headroom == Money("0.50")
    assert allowed.reason == "allowed: 0.25 USD for ada (headroom 0.50 USD)"


# --- the boundary: <= at every level --------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "user_id"),
    [
        ({"members": {"ada": Money("10")}}, "ada"),
        ({"seats": {CHAT: PoolLimit(pool_cap=Money("10"))}}, "ada"),
        ({"org": PoolLimit(pool_cap=Money("10"))}, "ada"),
        ({"seats": {CHAT: PoolLimit(member_default=Money("10"))}}, "ada"),
        ({"org": PoolLimit(member_default=Money("10"))}, "ada"),
    ],
)
def test_exactly_at_the_cap_is_allowed_one_cent_over_is_not(
    limits: dict[str, object], user_id: str
) -> None:
    """spent + charge == cap is allowed at every level (same <=); one cent more is denied."""
    org = org_with(**limits)  # type: ignore[arg-type]
    spend = spend_of(ada="7.25")
    at_cap = authorize(org, spend, user_id, Money("2.75"))  # 7.25 + 2.75 == 10
    assert at_cap.allowed
    assert at_cap.headroom == Money("2.75")
    over = authorize(org, spend, user_id, Money("2.76"))
    assert not over.allowed
    assert [b.shortfall for b in over.bindings] == [Money("0.01")]
    # sub-cent usage amounts are exact too: 0.001 over is over
    assert not authorize(org, spend, user_id, Money("2.751")).allowed


def test_zero_charge_is_always_allowed() -> None:
    """A zero charge passes at the cap, over a lowered cap and under zero caps everywhere."""
    zero = Money(0)
    at_cap = org_with(members={"ada": Money("10")})
    assert authorize(at_cap, spend_of(ada="10"), "ada", zero).allowed
    zero_caps = org_with(
        org=PoolLimit(pool_cap=zero, member_default=zero),
        seats={CHAT: PoolLimit(pool_cap=zero, member_default=zero)},
        members={"ada": zero},
    )
    decision = authorize(zero_caps, Spend(), "ada", zero)
    assert decision.allowed
    assert decision.headroom == zero
    assert decision.bindings == ()
    over = authorize(at_cap, spend_of(ada="12"), "ada", zero)  # cap lowered under spend
    assert over.allowed
    assert over.headroom == zero


def test_a_zero_cap_denies_any_positive_charge() -> None:
    """Zero is a cap of zero, not "unlimited": 0.01 is denied at each level set to zero."""
    zero = Money(0)
    for org in (
        org_with(members={"ada": zero}),
        org_with(seats={CHAT: PoolLimit(pool_cap=zero)}),
        org_with(seats={CHAT: PoolLimit(member_default=zero)}),
        org_with(org=PoolLimit(pool_cap=zero)),
        org_with(org=PoolLimit(member_default=zero)),
    ):
        decision = authorize(org, Spend(), "ada", Money("0.01"))
        assert not decision.allowed
        assert decision.headroom == zero
        assert decision.bindings[0].shortfall == Money("0.01")


def test_a_cap_lowered_below_spend_undoes_nothing_and_denies_more() -> None:
    """ada spent 40, her cap drops to 25: the 40 stays, any positive charge is denied."""
    org = org_with(members={"ada": Money("50")})
    spend = spend_of(ada="40")
    lowered, _ = org.set_member_cap("olga", START + timedelta(days=3), "ada", Money("25"))
    assert spend.member("ada") == Money("40")  # nothing undone
    decision = authorize(lowered, spend, "ada", Money("0.01"))
    assert not decision.allowed
    assert decision.headroom == Money(0)  # room is negative: shown as none left
    assert decision.bindings[0].shortfall == Money("15.01")  # 40 + 0.01 - 25
    assert decision.bindings[0].used == Money("40")
    assert lowered.limit_report(spend)[0].remaining == Money(0)  # rows by id: ada first


def test_per_member_defaults_and_overrides() -> None:
    """Org default 100, Chat default 50, ada's own 200: each member is held to their own."""
    org = org_with(
        org=PoolLimit(member_default=Money("100")),
        seats={CHAT: PoolLimit(member_default=Money("50"))},
        members={"ada": Money("200")},
    )
    spend = spend_of(ada="150", bob="45", cy="99")
    assert authorize(org, spend, "ada", Money("50")).allowed  # 150 + 50 <= 200, above defaults
    bob = authorize(org, spend, "bob", Money("6"))  # 45 + 6 > 50
    assert (bob.bindings[0].source, bob.bindings[0].shortfall) == (
        LimitSource.SEAT_TYPE_DEFAULT,
        Money("1"),
    )
    assert "member limit of bob (seat_type_default)" in bob.reason
    assert authorize(org, spend, "cy", Money("1")).allowed  # 99 + 1 <= 100
    cy = authorize(org, spend, "cy", Money("1.01"))
    assert cy.bindings[0].source is LimitSource.ORGANIZATION_DEFAULT
    # an individual cap below the defaults binds too
    lower = org_with(seats={CHAT: PoolLimit(member_default=Money("50"))}, members={"bob": Money(5)})
    assert not authorize(lower, spend_of(bob="4"), "bob", Money("1.01")).allowed


def test_member_defaults_apply_to_each_member_not_to_the_pool() -> None:
    """A Chat member default of 10 lets ada and bob spend 10 each, 20 together."""
    org = org_with(seats={CHAT: PoolLimit(member_default=Money("10"))})
    spend = spend_of(ada="10")
    assert authorize(org, spend, "bob", Money("10")).allowed
    assert not authorize(org, spend, "ada", Money("0.01")).allowed


def test_the_current_seat_types_pool_is_the_one_checked() -> None:
    """After a seat change, the new seat's pool binds; old spend stays in the old pool."""
    org = org_with(
        seats={
            CHAT: PoolLimit(pool_cap=Money("20")),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=Money("30")),
        }
    )
    spend = spend_of(ada="20")  # Chat pool full
    assert not authorize(org, spend, "ada", Money("1")).allowed
    moved, _ = org.assign_seat("olga", START + timedelta(days=2), "ada", CHAT_AND_CLAUDE_CODE)
    decision = authorize(moved, spend, "ada", Money("30"))  # the Claude Code pool is empty
    assert decision.allowed
    assert decision.seat_type == CHAT_AND_CLAUDE_CODE
    spend = spend.record("ada", CHAT_AND_CLAUDE_CODE, Money("30"))
    assert (spend.seat_type(CHAT), spend.seat_type(CHAT_AND_CLAUDE_CODE)) == (Money(20), Money(30))
    assert not authorize(moved, spend, "bob", Money("0.01")).allowed  # Chat still full


# --- entitlements ---------------------------------------------------------------------------


def test_claude_code_on_a_chat_seat_is_not_included() -> None:
    """Claude Code usage by a Chat member is denied whatever the caps, with a reason."""
    decision = authorize(org_with(), Spend(), "ada", Money("1"), product=Product.CLAUDE_CODE)
    assert not decision.allowed
    assert decision.not_included is Product.CLAUDE_CODE
    assert decision.bindings == ()
    assert decision.reason == "denied: seat type chat of ada does not include claude_code"
    assert not authorize(org_with(), Spend(), "ada", Money(0), product=Product.CLAUDE_CODE)


@pytest.mark.parametrize("product", list(Product))
def test_chat_and_claude_code_seats_include_every_product(product: Product) -> None:
    """A Chat + Claude Code member may use every product; a Chat member all but Claude Code."""
    org = org_with()
    assert authorize(org, Spend(), "cy", Money("1"), product=product).allowed
    chat = authorize(org, Spend(), "ada", Money("1"), product=product)
    assert chat.allowed is (product is not Product.CLAUDE_CODE)


# --- holds ----------------------------------------------------------------------------------


def test_holds_count_like_spend() -> None:
    """ada's cap 10: 6 committed + 3 held leaves 1; the pools count holds as well."""
    org = org_with(
        org=PoolLimit(pool_cap=Money("20")),
        seats={CHAT: PoolLimit(pool_cap=Money("15"))},
        members={"ada": Money("10")},
    )
    spend = spend_of(ada="6").hold("ada", CHAT, Money("3"))
    assert authorize(org, spend, "ada", Money("1")).allowed
    denied = authorize(org, spend, "ada", Money("1.01"))
    assert [(b.level, b.used) for b in denied.bindings] == [(Level.MEMBER, Money("9"))]
    # bob: Chat pool 6 + 3 held = 9 of 15; organization 9 of 20
    spend = spend.hold("bob", CHAT, Money("5"))  # Chat pool now 14 of 15
    assert authorize(org, spend, "bob", Money("1")).allowed
    assert not authorize(org, spend, "bob", Money("1.01")).allowed
    spend = spend.release("bob", CHAT, Money("5"))
    assert authorize(org, spend, "bob", Money("6")).allowed


# --- bad input ------------------------------------------------------------------------------


def test_unknown_member_is_an_unknown_name() -> None:
    """Authorising a charge for someone who is not a member raises UnknownNameError."""
    with pytest.raises(UnknownNameError, match="unknown member 'zed'"):
        authorize(org_with(), Spend(), "zed", Money("1"))


def test_negative_foreign_and_bare_amounts_are_errors() -> None:
    """Negative amounts, other currencies and bare numbers are refused, not decided."""
    org = org_with()
    with pytest.raises(InvalidValueError, match="must not be negative"):
        authorize(org, Spend(), "ada", Money("-0.01"))
    with pytest.raises(CurrencyMismatchError, match="amount must be USD"):
        authorize(org, Spend(), "ada", Money("1", "EUR"))
    with pytest.raises(InvalidValueError, match="must be Money"):
        authorize(org, Spend(), "ada", Decimal(1))  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatchError, match=r"spend\.currency must be USD"):
        authorize(org, Spend("EUR"), "ada", Money("1", "EUR"))


# --- authorize_usage ------------------------------------------------------------------------


def test_authorize_usage_prices_then_decides() -> None:
    """2,000 input + 1,000 output tokens of Sonnet 4.6 cost 0.021, decided like authorize."""
    # 2,000 x $3 / 1M + 1,000 x $15 / 1M = 0.006 + 0.015 = 0.021
    usage = TokenUsage(input_tokens=2_000, output_tokens=1_000)
    table = PriceTable.builtin()
    org = org_with(members={"ada": Money("10")})
    for spent, allowed in (("9.979", True), ("9.98", False)):  # 9.979 + 0.021 == 10
        spend = spend_of(ada=spent)
        decision = authorize_usage(
            org, spend, "ada", model="claude-sonnet-4-6", usage=usage, at=START, prices=table
        )
        assert decision == authorize(org, spend, "ada", Money("0.021"))
        assert decision.allowed is allowed
    coding = authorize_usage(
        org,
        Spend(),
        "ada",
        model="claude-sonnet-4-6",
        usage=usage,
        at=START,
        prices=table,
        product=Product.CLAUDE_CODE,
    )
    assert coding.not_included is Product.CLAUDE_CODE


# --- the Decision value ---------------------------------------------------------------------


def test_reason_is_one_readable_line() -> None:
    """Allowed, denied and not-included reasons are single lines that name the member."""
    reasons = [
        authorize(STACKED, STACKED_SPEND, "ada", Money("3")).reason,
        authorize(STACKED, STACKED_SPEND, "ada", Money("0.10")).reason,
        authorize(STACKED, STACKED_SPEND, "ada", Money("1"), product=Product.CLAUDE_CODE).reason,
    ]
    for reason in reasons:
        assert "\n" not in reason
        assert "ada" in reason
    assert reasons[0].startswith("denied: ")
    assert reasons[1].startswith("allowed: ")


def test_binding_describes_each_level() -> None:
    """Each level of a binding reads differently; the cap is shown rounded."""
    used, short = Money("1"), Money("0.005")
    member = Binding(Level.MEMBER, "ada", Money("2.345"), used, short, LimitSource.INDIVIDUAL)
    assert member.describe() == (
        "member limit of ada (individual) 2.34 USD: 1.00 USD used, short by 0.005 USD"
    )
    pool = Binding(Level.SEAT_TYPE, CHAT, Money("2"), used, short)
    assert pool.describe().startswith("pool cap of seat type chat 2.00 USD")
    org = Binding(Level.ORGANIZATION, "acme", Money("2"), used, short)
    assert org.describe().startswith("organization pool cap 2.00 USD")


def test_decision_is_pure() -> None:
    """The same inputs give the same decision, and the inputs are left as they were."""
    org = org_with(members={"ada": Money("10")})
    spend = spend_of(ada="9")
    before = (org, spend)
    first = authorize(org, spend, "ada", Money("2"))
    second = authorize(org, spend, "ada", Money("2"))
    assert first == second
    assert hash(first) == hash(second)
    assert (org, spend) == before
    assert org == org_with(members={"ada": Money("10")})
    assert spend == spend_of(ada="9")
