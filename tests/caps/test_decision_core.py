"""The narrow decision core: a member's path and what is used on it in, a Decision out.

``decide`` is what the ledgers and the what-if replay call; ``authorize`` wraps it
for a whole organization and spend. The property tests prove the two agree, and
that the path-level notifications agree with the whole-spend ones.
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import member, organization
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    CurrencyMismatchError,
    InvalidValueError,
    Money,
    PoolLimit,
    Product,
    Spend,
    SpendLimits,
    UsedOnPath,
    authorize,
    decide,
    notifications,
    path_notifications,
)
from usagebill.accounts.limits import Level, LimitSource
from usagebill.caps.decision import Binding, Decision
from usagebill.testing import amounts, organizations, spends

# ada: 10 of her own; Chat pool 20; organization pool 30.
ORG = organization(
    member("ada"),
    limits=SpendLimits(
        organization=PoolLimit(pool_cap=Money("30")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("20"))},
        members={"ada": Money("10")},
    ),
)
PRODUCTS = st.sampled_from([Product.CHAT, Product.CHAT, *Product])  # mostly included everywhere


def used(member: str, seat_type: str, total: str, *held: str) -> UsedOnPath:
    return UsedOnPath(Decimal(member), Decimal(seat_type), Decimal(total), *map(Decimal, held))


# --- examples -------------------------------------------------------------------------------


def test_each_level_is_read_from_its_own_amount() -> None:
    """ada 8 (+1 held) of 10, Chat 18 of 20, organization 25 of 30: a charge of 1.50.

    Rooms: ada 10 - 9 = 1; Chat 20 - 18 = 2; organization 30 - 25 = 5.
    Shortfall: ada 9 + 1.50 - 10 = 0.50; the pools fit.
    """
    decision = decide(ORG.path("ada"), used("8", "18", "25", "1"), Money("1.50"))
    assert decision == Decision(
        allowed=False,
        user_id="ada",
        seat_type=CHAT,
        amount=Money("1.50"),
        headroom=Money("1"),
        bindings=(
            Binding(
                Level.MEMBER, "ada", Money("10"), Money("9"), Money("0.50"), LimitSource.INDIVIDUAL
            ),
        ),
    )
    assert decide(ORG.path("ada"), used("8", "18", "25", "1"), Money("1")).allowed


def test_held_amounts_count_at_every_level() -> None:
    """Nothing committed, everything held: Chat 19.50 held of 20 leaves 0.50 (the least room)."""
    held = used("0", "0", "0", "0", "19.50", "19.50")
    assert decide(ORG.path("ada"), held, Money("0.50")).headroom == Money("0.50")
    denied = decide(ORG.path("ada"), held, Money("0.51"))
    assert [(b.level, b.used, b.shortfall) for b in denied.bindings] == [
        (Level.SEAT_TYPE, Money("19.50"), Money("0.01")),  # 19.50 + 0.51 - 20
    ]


def test_a_product_the_seat_does_not_include_is_denied_whatever_is_used() -> None:
    """Claude Code on ada's Chat seat: not included, no headroom, no bindings."""
    decision = decide(ORG.path("ada"), used("0", "0", "0"), Money(0), product=Product.CLAUDE_CODE)
    assert (decision.allowed, decision.not_included, decision.headroom) == (
        False,
        Product.CLAUDE_CODE,
        None,
    )


def test_the_path_names_the_organization_level() -> None:
    """The organization's binding is named after the path's organization."""
    denied = decide(ORG.path("olga"), used("0", "0", "29"), Money("2"))
    assert denied.bindings == (
        Binding(Level.ORGANIZATION, "acme", Money("30"), Money("29"), Money("1")),  # 29 + 2 - 30
    )


def test_bad_amounts_are_errors() -> None:
    """Negative amounts, amounts in another currency than the path's, and bare numbers."""
    path, nothing = ORG.path("ada"), used("0", "0", "0")
    with pytest.raises(InvalidValueError, match="must not be negative"):
        decide(path, nothing, Money("-0.01"))
    with pytest.raises(CurrencyMismatchError, match="amount must be USD"):
        decide(path, nothing, Money("1", "EUR"))
    with pytest.raises(InvalidValueError, match="must be Money"):
        decide(path, nothing, Decimal(1))  # type: ignore[arg-type]


def test_used_on_path_from_a_whole_spend_and_plus() -> None:
    """A Spend seen from ada on Chat: her figures, Chat's, the total; plus adds at each level."""
    spend = (
        Spend()
        .record("ada", CHAT, Money("2"))
        .record("olga", CHAT_AND_CLAUDE_CODE, Money("5"))
        .hold("ada", CHAT, Money("1"))
    )
    seen = UsedOnPath.from_spend(spend, "ada", CHAT)
    assert seen == used("2", "2", "7", "1", "1", "1")
    assert seen.plus(Decimal("0.5"), Decimal(-1)) == used("2.5", "2.5", "7.5", "0", "0", "0")
    assert UsedOnPath.from_spend(spend, "zed", "other") == used("0", "0", "7", "0", "0", "1")


# --- the core and its wrappers agree ----------------------------------------------------------


@given(data=st.data())
def test_decide_agrees_with_authorize(data: st.DataObject) -> None:
    """On any organization and spend, decide on the member's path is authorize, field by field."""
    org = data.draw(organizations())
    spend = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    amount = data.draw(amounts(currency=org.currency, max_value=80))
    product = data.draw(PRODUCTS)
    path = org.path(user_id)
    on_path = UsedOnPath.from_spend(spend, user_id, path.seat_type)
    assert decide(path, on_path, amount, product=product) == authorize(
        org, spend, user_id, amount, product=product
    )


@given(data=st.data())
def test_path_notifications_agree_with_whole_spend_notifications(data: st.DataObject) -> None:
    """A charge on a member's path fires the same notifications, seen from the path or the org."""
    org = data.draw(organizations())
    before = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    amount = data.draw(amounts(currency=org.currency, max_value=80))
    path = org.path(user_id)
    after = before.record(user_id, path.seat_type, amount)
    assert path_notifications(
        path,
        UsedOnPath.from_spend(before, user_id, path.seat_type),
        UsedOnPath.from_spend(after, user_id, path.seat_type),
        thresholds=org.thresholds,
    ) == notifications(org, before, after, members=[user_id])
