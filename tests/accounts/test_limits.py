"""Spend caps at three nested levels, effective limits, and month-to-date spend."""

from datetime import UTC, datetime
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
    Spend,
    SpendLimits,
    UnknownNameError,
)
from usagebill.accounts.limits import EffectiveLimit, LimitSource

START = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = [member("ada"), member("bob"), member("cy", CHAT_AND_CLAUDE_CODE, role="admin")]


def org_with(limits: SpendLimits) -> Organization:
    """olga (primary owner), ada and bob on Chat, cy (admin) on Chat + Claude Code."""
    return organization(*PEOPLE, at=START, limits=limits)


# --- SpendLimits ---------------------------------------------------------------------------


def test_every_part_of_spend_limits_is_optional() -> None:
    """SpendLimits() has no cap anywhere: every member's limit is None from source NONE."""
    limits = SpendLimits()
    assert limits.organization == PoolLimit(None, None)
    assert limits.seat_types == {}
    assert limits.members == {}
    assert list(limits.all_caps()) == []
    assert limits.effective("ada", CHAT) == EffectiveLimit(None, LimitSource.NONE)
    assert limits.seat_type(CHAT) == PoolLimit()


def test_none_is_no_cap_and_zero_is_a_cap_of_zero() -> None:
    """A zero cap is kept as a cap (not treated as unlimited); None is no cap."""
    limits = SpendLimits(organization=PoolLimit(pool_cap=Money(0), member_default=None))
    assert list(limits.all_caps()) == [("organization.pool_cap", Money(0))]
    zero_default = SpendLimits(seat_types={CHAT: PoolLimit(member_default=Money(0))})
    assert zero_default.effective("ada", CHAT) == EffectiveLimit(
        Money(0), LimitSource.SEAT_TYPE_DEFAULT
    )


@pytest.mark.parametrize("bad", [Money("-0.01"), Decimal(5), 5, "5"])
def test_a_cap_must_be_non_negative_money(bad: object) -> None:
    """Negative caps and bare numbers are refused at every level."""
    with pytest.raises(InvalidValueError):
        PoolLimit(pool_cap=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        PoolLimit(member_default=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        SpendLimits(members={"ada": bad})


def test_negative_cap_error_names_its_field_and_rule() -> None:
    """The error for a negative cap says which cap and why."""
    with pytest.raises(InvalidValueError, match=r"members\['ada'\] must not be negative"):
        SpendLimits(members={"ada": Money("-1")})


def test_an_individual_cap_of_none_is_refused() -> None:
    """members maps to Money only: no cap is written by leaving the user out."""
    with pytest.raises(InvalidValueError, match="remove the entry"):
        SpendLimits(members={"ada": None})


def test_seat_type_limits_must_be_pool_limits() -> None:
    """A seat type's caps must be a PoolLimit, the organization's too."""
    with pytest.raises(InvalidValueError, match="must be a PoolLimit"):
        SpendLimits(seat_types={CHAT: Money("5")})
    with pytest.raises(InvalidValueError, match="organization must be a PoolLimit"):
        SpendLimits(organization=Money("5"))  # type: ignore[arg-type]


def test_cap_for_an_unknown_seat_type_or_user_is_refused_by_the_organization() -> None:
    """Caps naming a seat type or a member the organization does not have are errors."""
    with pytest.raises(UnknownNameError, match="seat type 'team'"):
        org_with(SpendLimits(seat_types={"team": PoolLimit(pool_cap=Money("5"))}))
    with pytest.raises(UnknownNameError, match="member 'zed'"):
        org_with(SpendLimits(members={"zed": Money("5")}))


@pytest.mark.parametrize(
    ("limits", "path"),
    [
        (SpendLimits(organization=PoolLimit(pool_cap=Money("5", "EUR"))), "organization.pool_cap"),
        (
            SpendLimits(seat_types={CHAT: PoolLimit(member_default=Money("5", "EUR"))}),
            "seat_types['chat'].member_default",
        ),
        (SpendLimits(members={"ada": Money("5", "EUR")}), "members['ada']"),
    ],
)
def test_cap_in_another_currency_is_a_currency_mismatch(limits: SpendLimits, path: str) -> None:
    """A EUR cap in a USD organization raises CurrencyMismatchError naming the cap."""
    with pytest.raises(CurrencyMismatchError) as caught:
        org_with(limits)
    assert caught.value.field == path
    assert (caught.value.expected, caught.value.got) == ("USD", "EUR")


def test_all_caps_names_every_set_cap() -> None:
    """all_caps lists each cap with a path, skipping the unset ones."""
    limits = SpendLimits(
        organization=PoolLimit(member_default=Money("200")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("1000"), member_default=Money("50"))},
        members={"ada": Money("500")},
    )
    assert list(limits.all_caps()) == [
        ("organization.member_default", Money("200")),
        ("seat_types['chat'].pool_cap", Money("1000")),
        ("seat_types['chat'].member_default", Money("50")),
        ("members['ada']", Money("500")),
    ]


# --- effective limits ----------------------------------------------------------------------

LAYERED = SpendLimits(
    organization=PoolLimit(pool_cap=Money("10000"), member_default=Money("200")),
    seat_types={CHAT: PoolLimit(member_default=Money("50"))},
    members={"ada": Money("500"), "cy": Money("10")},
)


@pytest.mark.parametrize(
    ("user_id", "seat_type", "expected"),
    [
        # individual cap beats both defaults, even when higher than them (500 > 200 > 50)
        ("ada", CHAT, EffectiveLimit(Money("500"), LimitSource.INDIVIDUAL)),
        # no individual cap: the Chat seat's per-member default
        ("bob", CHAT, EffectiveLimit(Money("50"), LimitSource.SEAT_TYPE_DEFAULT)),
        # Chat + Claude Code has no default: the organization's
        (
            "olga",
            CHAT_AND_CLAUDE_CODE,
            EffectiveLimit(Money("200"), LimitSource.ORGANIZATION_DEFAULT),
        ),
        # an individual cap may also be lower than the defaults (10 < 200)
        ("cy", CHAT_AND_CLAUDE_CODE, EffectiveLimit(Money("10"), LimitSource.INDIVIDUAL)),
    ],
)
def test_effective_limit_precedence(user_id: str, seat_type: str, expected: EffectiveLimit) -> None:
    """Individual cap, else seat-type default, else organization default, with its source."""
    assert LAYERED.effective(user_id, seat_type) == expected
    assert LAYERED.effective_cap(user_id, seat_type) == (expected.cap, expected.source)
    assert org_with(LAYERED).effective_limit(user_id) == expected


def test_pool_caps_are_not_member_limits() -> None:
    """A pool cap alone leaves members without an effective limit."""
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money("100")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("50"))},
    )
    assert limits.effective("ada", CHAT) == EffectiveLimit(None, LimitSource.NONE)


def test_with_user_cap_and_with_seat_type_return_copies() -> None:
    """with_member_cap sets or removes an individual cap; with_seat_type replaces a level."""
    limits = SpendLimits()
    capped = limits.with_member_cap("ada", Money("5"))
    assert capped.members == {"ada": Money("5")}
    assert limits.members == {}
    assert capped.with_member_cap("ada", None) == limits
    assert limits.with_member_cap("bob", None) == limits
    pool = PoolLimit(pool_cap=Money("7"))
    assert limits.with_seat_type(CHAT, pool).seat_type(CHAT) == pool


# --- limit report --------------------------------------------------------------------------


def test_limit_report_rows() -> None:
    """Each member's effective limit, source, spent, held and remaining, by user id."""
    org = org_with(LAYERED)
    spend = (
        Spend()
        .record("ada", CHAT, Money("120.25"))
        .hold("ada", CHAT, Money("30"))
        .record("bob", CHAT, Money("60"))  # over bob's 50 default (recorded past a lowered cap)
        .record("cy", CHAT_AND_CLAUDE_CODE, Money("4"))
    )
    rows = {row.user_id: row for row in org.limit_report(spend)}
    assert [row.user_id for row in org.limit_report(spend)] == ["ada", "bob", "cy", "olga"]
    ada = rows["ada"]
    assert (ada.seat_type, ada.limit.source) == (CHAT, LimitSource.INDIVIDUAL)
    assert (ada.spent, ada.held) == (Money("120.25"), Money("30"))
    assert ada.remaining == Money("349.75")  # 500 - 120.25 - 30
    assert rows["bob"].remaining == Money(0)  # 50 - 60 is negative: shown as nothing left
    assert rows["cy"].remaining == Money(6)  # 10 - 4
    assert rows["olga"].spent == Money(0)
    assert rows["olga"].remaining == Money(200)  # organization default, nothing spent
    assert org_with(SpendLimits()).limit_report(spend)[0].remaining is None


# --- Spend ---------------------------------------------------------------------------------


def test_record_returns_a_new_spend() -> None:
    """record adds to the user, the seat type and the total, leaving the original alone."""
    empty = Spend()
    spend = empty.record("ada", CHAT, Money("1.50"))
    assert empty == Spend()
    assert (spend.member("ada"), spend.seat_type(CHAT), spend.organization()) == (
        Money("1.50"),
        Money("1.50"),
        Money("1.50"),
    )
    assert spend.member("bob") == Money(0)
    assert spend.held_by_member("ada") == Money(0)


def test_hold_and_release_reserve_on_every_level_at_once() -> None:
    """A hold counts on the user, seat type and total together; release frees all of them."""
    spend = Spend().hold("ada", CHAT, Money("3"))
    assert spend.held_by_member("ada") == Money("3")
    assert spend.held_seat_types == {CHAT: Decimal(3)}
    assert spend.held_total == Decimal(3)
    assert spend.total == 0  # a hold is not spend
    released = spend.release("ada", CHAT, Money("1"))
    assert (released.held_members["ada"], released.held_seat_types[CHAT]) == (
        Decimal(2),
        Decimal(2),
    )
    assert released.held_total == Decimal(2)
    assert spend.held_total == Decimal(3)


def test_release_never_frees_more_than_is_held() -> None:
    """Releasing more than the user or seat type holds is an InvalidValueError."""
    spend = Spend().hold("ada", CHAT, Money("3")).hold("bob", CHAT_AND_CLAUDE_CODE, Money("3"))
    with pytest.raises(InvalidValueError, match="exceed what is held"):
        spend.release("ada", CHAT, Money("3.01"))
    with pytest.raises(InvalidValueError, match="exceed what is held"):
        spend.release("ada", CHAT_AND_CLAUDE_CODE, Money("4"))  # 3 held on that seat type
    with pytest.raises(InvalidValueError, match="exceed what is held"):
        spend.release("cy", CHAT, Money("1"))


def test_charges_count_toward_the_seat_held_when_made() -> None:
    """After a seat change, earlier spend stays with the old seat type, totals still agree."""
    # ada spends 2 on Chat, is moved to Chat + Claude Code, then spends 3 there.
    spend = Spend().record("ada", CHAT, Money("2")).record("ada", CHAT_AND_CLAUDE_CODE, Money("3"))
    assert spend.member("ada") == Money("5")
    assert spend.seat_type(CHAT) == Money("2")
    assert spend.seat_type(CHAT_AND_CLAUDE_CODE) == Money("3")
    assert spend.organization() == Money("5")  # 2 + 3 == Σ users == Σ seat types


@pytest.mark.parametrize(
    "fields",
    [
        {"members": {"ada": Decimal(1)}, "seat_types": {}, "total": Decimal(1)},
        {"members": {"ada": Decimal(1)}, "seat_types": {CHAT: Decimal(1)}, "total": Decimal(2)},
        {"members": {}, "seat_types": {CHAT: Decimal(1)}, "total": Decimal(1)},
        {"held_members": {"ada": Decimal(1)}, "held_seat_types": {CHAT: Decimal(1)}},
    ],
)
def test_spend_with_inconsistent_totals_is_refused(fields: dict[str, object]) -> None:
    """Total, Σ users and Σ seat types must agree, for committed and held amounts."""
    with pytest.raises(InvalidValueError, match="must equal the sum"):
        Spend(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"members": {"ada": Decimal(-1)}, "seat_types": {CHAT: Decimal(-1)}, "total": Decimal(-1)},
        {"members": {"ada": 1}, "seat_types": {CHAT: 1}, "total": 1},
        {"total": Decimal("NaN")},
        {"held_total": Decimal(-1)},
    ],
)
def test_spend_amounts_are_non_negative_finite_decimals(fields: dict[str, object]) -> None:
    """Negative, NaN or non-Decimal amounts in a Spend are InvalidValueErrors."""
    with pytest.raises(InvalidValueError, match="non-negative Decimal"):
        Spend(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["record", "hold", "release"])
def test_spend_changes_refuse_negative_foreign_or_bare_amounts(method: str) -> None:
    """Negative amounts, other currencies and bare numbers are refused by every change."""
    change = getattr(Spend().hold("ada", CHAT, Money(5)), method)
    with pytest.raises(InvalidValueError, match="must not be negative"):
        change("ada", CHAT, Money("-1"))
    with pytest.raises(CurrencyMismatchError):
        change("ada", CHAT, Money("1", "EUR"))
    with pytest.raises(InvalidValueError, match="must be Money"):
        change("ada", CHAT, Decimal(1))


def test_spend_sums_exactly_past_the_default_decimal_precision() -> None:
    """Totals are checked in the exact context, not the global one (28 digits)."""
    huge = Money("1234567890123456789012345678.91")  # 30 significant digits
    spend = Spend().record("ada", CHAT, huge).record("bob", CHAT, Money("0.01"))
    assert spend.organization() == Money("1234567890123456789012345678.92")
    with pytest.raises(InvalidValueError):
        Spend(
            members={"ada": huge.amount, "bob": Decimal("0.001")},
            seat_types={CHAT: huge.amount},
            total=huge.amount,
        )


def test_spend_in_another_currency() -> None:
    """A Spend keeps its currency and reads amounts in it."""
    spend = Spend("EUR").record("ada", CHAT, Money("2", "EUR"))
    assert spend.member("ada") == Money("2", "EUR")
    assert spend.organization().currency == "EUR"


def test_level_lives_with_the_limits() -> None:
    """Level sits beside LimitSource (alerts, forecast and the decision read it from there)."""
    from usagebill.accounts import limits  # noqa: PLC0415
    from usagebill.caps import decision  # noqa: PLC0415

    assert "Level" in limits.__all__
    assert "Level" not in decision.__all__
    assert [level.value for level in limits.Level] == ["member", "seat_type", "organization"]
