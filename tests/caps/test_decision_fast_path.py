"""The decision's fast path gives, byte for byte, what the plain computation gives.

``decide`` and ``authorize`` build an allowed Decision without attrs' ``__init__``
and leave its headroom to the first read (``usagebill.caps.decision._DecisionSlots``).
These tests hold them to a reference written the plain way, to exact rational
arithmetic (Fractions), and to everything a frozen attrs value promises.
"""

from __future__ import annotations

import copy
import decimal
import pickle
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    Member,
    Money,
    Organization,
    PoolLimit,
    Product,
    SeatCatalog,
    Spend,
    SpendLimits,
    UsedOnPath,
    authorize,
    decide,
)
from usagebill.accounts.limits import Level, LimitSource
from usagebill.accounts.organization import MemberPath
from usagebill.caps.decision import Binding, Decision
from usagebill.money import EXACT
from usagebill.serde import to_json
from usagebill.testing import amounts, organizations, spends

PRODUCTS = st.sampled_from([Product.CHAT, Product.CHAT, *Product])  # mostly included everywhere
CATALOGUE = SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
# ada: 10 of her own; Chat pool 20; organization pool 30.
ORG = Organization.create(
    "acme",
    CATALOGUE,
    [Member("olga", "primary_owner", CHAT_AND_CLAUDE_CODE), Member("ada", "member", CHAT)],
    at=datetime(2026, 10, 1, tzinfo=UTC),
    limits=SpendLimits(
        organization=PoolLimit(pool_cap=Money("30")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("20"))},
        members={"ada": Money("10")},
    ),
)


# --- the reference: the rule computed the plain way, each Decision built by __init__ -----------


def reference(path: MemberPath, used: UsedOnPath, amount: Money, product: Product) -> Decision:
    """Each capped level: used = committed (+ held, when something is held), room = cap - used.

    Allowed iff the charge fits every room, or is zero; the headroom is the least
    room, none left being zero; a denial lists each level it does not fit, the
    largest shortfall (charge - room) first.
    """
    if product not in path.includes:
        return Decision(
            allowed=False,
            user_id=path.user_id,
            seat_type=path.seat_type,
            amount=amount,
            headroom=None,
            not_included=product,
        )
    levels = [
        (level, subject, cap, committed if not held else EXACT.add(committed, held), source)
        for level, subject, cap, committed, held, source in (
            (
                Level.MEMBER,
                path.user_id,
                path.member_cap,
                used.member,
                used.held_member,
                path.member_cap_source,
            ),
            (Level.SEAT_TYPE, path.seat_type, path.seat_type_cap, used.seat_type,
             used.held_seat_type, None),
            (Level.ORGANIZATION, path.organization, path.organization_cap, used.total,
             used.held_total, None),
        )
        if cap is not None
    ]  # fmt: skip
    rooms = [EXACT.subtract(cap.amount, spent) for _, _, cap, spent, _ in levels]
    least = None
    for room in rooms:  # the first of equal rooms
        if least is None or room < least:
            least = room
    headroom = None if least is None else Money(least if least > 0 else Decimal(0), path.currency)
    value = amount.amount
    short = [(level, room) for level, room in zip(levels, rooms, strict=True) if value > room]
    if not short or not value:
        return Decision(
            allowed=True,
            user_id=path.user_id,
            seat_type=path.seat_type,
            amount=amount,
            headroom=headroom,
        )
    bindings = sorted(
        (
            Binding(
                level,
                subject,
                cap,
                Money(spent, path.currency),
                Money(EXACT.subtract(value, room), path.currency),
                source,
            )
            for (level, subject, cap, spent, source), room in short
        ),
        key=lambda binding: binding.shortfall.amount,
        reverse=True,
    )
    return Decision(
        allowed=False,
        user_id=path.user_id,
        seat_type=path.seat_type,
        amount=amount,
        headroom=headroom,
        bindings=tuple(bindings),
    )


@given(data=st.data())
def test_decide_and_authorize_are_the_reference_byte_for_byte(data: st.DataObject) -> None:
    """Same fields, same Decimal digits (the ledgers store them as JSON), same repr.

    A third of the charges are exactly the least room left: the edge between allowed
    and denied.
    """
    org = data.draw(organizations())
    spend = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    product = data.draw(PRODUCTS)
    path = org.path(user_id)
    used = UsedOnPath.from_spend(spend, user_id, path.seat_type)
    least = reference(path, used, Money(0, org.currency), Product.CHAT).headroom
    if least is not None and data.draw(st.integers(0, 2)) == 0:
        amount = least
    else:
        places = data.draw(st.integers(min_value=0, max_value=4))
        amount = data.draw(amounts(currency=org.currency, max_value=80, places=places))
    expected = reference(path, used, amount, product)
    for decision in (
        decide(path, used, amount, product=product),
        authorize(org, spend, user_id, amount, product=product),
    ):
        assert type(decision) is Decision
        assert to_json(decision) == to_json(expected)
        assert repr(decision) == repr(expected)
        assert decision == expected
        assert hash(decision) == hash(expected)


def test_of_equal_rooms_the_headroom_is_the_first_one() -> None:
    """ada's room 10 - 8 = 2 and Chat's 20 - 18.00 = 2.00 are equal: the headroom is ada's 2."""
    used = UsedOnPath(Decimal(8), Decimal("18.00"), Decimal(25))
    for amount in (Money("1.50"), Money("2.50")):  # allowed, then denied
        assert repr(decide(ORG.path("ada"), used, amount).headroom.amount) == "Decimal('2')"


# --- every sum exact, or an error: never rounded ------------------------------------------------

# Coefficients of up to 21 digits with exponents 60 apart: sums of some need more than
# the 60 digits of EXACT, so both outcomes (an exact result, an Inexact error) are drawn.
_WIDE = st.builds(
    lambda coefficient, exponent: Decimal(coefficient).scaleb(exponent),
    st.integers(min_value=0, max_value=10**21),
    st.integers(min_value=-40, max_value=20),
)
_WIDE_CAPS = st.one_of(st.none(), _WIDE.map(Money))
_UNBOUNDED = decimal.Context(prec=1000, traps=[decimal.Inexact])  # wide enough for any sum here


def _digits(value: Fraction) -> int:
    """Significant digits of ``value`` (a terminating decimal), trailing zeros dropped."""
    exact = _UNBOUNDED.divide(Decimal(value.numerator), Decimal(value.denominator))
    return len(exact.normalize(_UNBOUNDED).as_tuple().digits)


@given(
    caps=st.tuples(_WIDE_CAPS, _WIDE_CAPS, _WIDE_CAPS),
    committed=st.tuples(_WIDE, _WIDE, _WIDE),
    held=st.one_of(st.just((Decimal(0),) * 3), st.tuples(_WIDE, _WIDE, _WIDE)),
    amount=_WIDE.map(Money),
)
def test_every_sum_is_exact_or_refused(
    caps: tuple[Money | None, Money | None, Money | None],
    committed: tuple[Decimal, Decimal, Decimal],
    held: tuple[Decimal, Decimal, Decimal],
    amount: Money,
) -> None:
    """Against exact rationals: headroom, used and shortfalls are the exact values, or
    decide raises Inexact because a sum it needs has more than 60 significant digits."""
    path = MemberPath(
        "ada", CHAT, frozenset({Product.CHAT}), caps[0], LimitSource.INDIVIDUAL, caps[1], caps[2],
        "acme", "USD",
    )  # fmt: skip
    value = Fraction(amount.amount)
    needed: list[Fraction] = []  # every sum the rule needs, exactly
    levels = []
    for cap, spent, on_hold in zip(caps, committed, held, strict=True):
        if cap is None:
            continue
        used = Fraction(spent) + Fraction(on_hold)
        if on_hold:
            needed.append(used)
        room = Fraction(cap.amount) - used
        needed.append(room)
        levels.append((cap, used, room))
    allowed = not value or all(value <= room for _, _, room in levels)
    if not allowed:
        needed += [value - room for _, _, room in levels if value > room]
    try:
        decision = decide(path, UsedOnPath(*committed, *held), amount)
    except decimal.Inexact:
        assert any(_digits(sum_) > EXACT.prec for sum_ in needed)
        return
    assert decision.allowed is allowed
    least = min((room for _, _, room in levels), default=None)
    if least is None:
        assert decision.headroom is None
    else:
        assert Fraction(decision.headroom.amount) == max(least, Fraction(0))
    shortfalls = [
        (Fraction(binding.shortfall.amount), Fraction(binding.used.amount))
        for binding in decision.bindings
    ]
    assert sorted(shortfalls) == sorted(
        (value - room, used) for _, used, room in levels if not allowed and value > room
    )
    assert shortfalls == sorted(shortfalls, key=lambda pair: pair[0], reverse=True)


def test_a_sum_that_would_round_is_an_error() -> None:
    """A cap of 10^30 with 10^-31 used: the room needs 62 digits, more than EXACT holds."""
    path = ORG.path("ada")._replace(member_cap=Money("1e30"))
    used = UsedOnPath(Decimal("1e-31"), Decimal(0), Decimal(0))
    with pytest.raises(decimal.Inexact):
        decide(path, used, Money("1"))


# --- an allowed Decision of the fast path is an ordinary frozen Decision ------------------------


def allowed_on_the_fast_path() -> Decision:
    """ada, 8 used of her 10 (Chat 18 of 20, organization 25 of 30), charged 1.50: room 2."""
    used = UsedOnPath(Decimal(8), Decimal(18), Decimal(25))
    decision = decide(ORG.path("ada"), used, Money("1.50"))
    assert decision.allowed
    return decision


# The same decision, built by attrs' __init__.
EAGER = Decision(allowed=True, user_id="ada", seat_type=CHAT, amount=Money("1.50"),
                 headroom=Money("2"))  # fmt: skip


def test_it_is_a_frozen_decision_equal_to_one_built_by_init() -> None:
    decision = allowed_on_the_fast_path()
    assert type(decision) is Decision
    assert (decision, hash(decision), repr(decision)) == (EAGER, hash(EAGER), repr(EAGER))
    assert decision.reason == "allowed: 1.50 USD for ada (headroom 2.00 USD)"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.__dict__  # noqa: B018  (slotted, like every Decision)


def test_its_headroom_is_worked_out_once_on_first_read() -> None:
    decision = allowed_on_the_fast_path()
    headroom = decision.headroom
    assert headroom == Money("2")  # 10 - 8
    assert decision.headroom is headroom
    with pytest.raises(AttributeError, match="no_such_field"):
        decision.no_such_field  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize(
    "copied",
    [
        copy.copy,
        copy.deepcopy,
        lambda decision: pickle.loads(pickle.dumps(decision)),  # noqa: S301  (our own bytes)
        attrs.evolve,
    ],
)
def test_copies_pickles_and_evolves_like_any_decision(copied: object) -> None:
    copy_ = copied(allowed_on_the_fast_path())  # type: ignore[operator]
    assert (type(copy_), copy_, to_json(copy_)) == (Decision, EAGER, to_json(EAGER))


def test_it_serializes_like_one_built_by_init() -> None:
    assert attrs.asdict(allowed_on_the_fast_path()) == attrs.asdict(EAGER)
    assert to_json(allowed_on_the_fast_path()) == to_json(EAGER)


def test_a_zero_charge_on_an_overspent_path_is_allowed_with_zero_headroom() -> None:
    """ada 12 used of 10: 2 over. A zero charge passes; no room is left: headroom Decimal(0)."""
    decision = authorize(ORG, Spend().record("ada", CHAT, Money("12.00")), "ada", Money("0"))
    assert decision.allowed
    assert repr(decision.headroom.amount) == "Decimal('0')"
