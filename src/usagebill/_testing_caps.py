"""Hypothesis strategies for seats, organizations, spend caps and month-to-date spend.

Private for now: these are to be merged into :mod:`usagebill.testing`. Every
strategy is *sound*: it never generates a value its constructor would refuse.

* :func:`amounts`: non-negative :class:`~usagebill.money.Money` with few decimals;
* :func:`caps`: ``None`` (no cap), zero, or a positive amount;
* :func:`seat_catalogs`: the two seat types of the source (fees drawn), sometimes
  with extra seat types including any subset of the products;
* :func:`spend_limits`: caps at any subset of the levels, for a given catalog and members;
* :func:`organizations`: a catalog, 1..N members with exactly one primary owner,
  seats with add-ons offered by their seat type, caps at any subset of levels;
* :func:`spends`: month-to-date spend consistent with an organization: every charge
  attributed to a seat type of its catalog, totals equal to the sums. With
  ``within_limits=True``, every level is within its cap (committed + held).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

from usagebill.accounts.limits import DEFAULT_THRESHOLDS, PoolLimit, Spend, SpendLimits
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import CHAT, AddOn, Member, Role, SeatCatalog, SeatType
from usagebill.money import Money
from usagebill.usage import Product

__all__ = [
    "CURRENCIES",
    "START",
    "amounts",
    "caps",
    "members",
    "organizations",
    "seat_catalogs",
    "spend_limits",
    "spends",
    "thresholds",
    "user_ids",
]

CURRENCIES: Final = ("USD", "EUR", "JPY")
"""The currencies drawn when none is given (JPY has no minor unit: amounts stay exact)."""

START: Final = datetime(2026, 10, 1, tzinfo=UTC)
"""When the drawn organizations were created, unless told otherwise."""

_CURRENCIES: Final = st.sampled_from(CURRENCIES)
_ROLES: Final = st.sampled_from((Role.OWNER, Role.ADMIN, Role.MEMBER))
_PRODUCTS: Final = st.frozensets(st.sampled_from(list(Product)))
_ONE_IN_FOUR: Final = st.integers(0, 3).map(lambda value: value == 0)
_NAMES: Final = st.sampled_from(["acme", "initech", "globex"])


@functools.cache
def _sampled(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


@functools.cache
def _subsets(values: tuple[str, ...]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values))


@functools.lru_cache(maxsize=256)
def amounts(
    *,
    currency: str = "USD",
    max_value: Decimal | int = 100,
    places: int = 2,
    min_value: Decimal | int = 0,
) -> st.SearchStrategy[Money]:
    """Non-negative Money in ``currency`` from ``min_value`` to ``max_value``, ``places`` decimals.

    Few decimals on one grid make "exactly at the cap" and "one step over" likely.
    """
    if min_value < 0:
        msg = f"min_value must not be negative (got {min_value!r})"
        raise ValueError(msg)
    return st.decimals(
        min_value=Decimal(min_value),
        max_value=Decimal(max_value),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    ).map(lambda value: Money(value, currency))


@functools.lru_cache(maxsize=64)
def caps(
    *, currency: str = "USD", max_value: Decimal | int = 100, places: int = 2
) -> st.SearchStrategy[Money | None]:
    """A cap: ``None`` (no cap, 3 in 10), exactly zero (no spend at all, 1 in 10), or an amount.

    Zero is drawn on purpose (it is a cap, not "unlimited") but not so often that
    every organization has one.
    """
    zero = Money.zero(currency)
    some = amounts(currency=currency, max_value=max_value, places=places)

    def pick(kind: int) -> st.SearchStrategy[Money | None]:
        if kind < 3:
            return st.none()
        return st.just(zero) if kind == 3 else some

    return st.integers(0, 9).flatmap(pick)


@functools.cache
def user_ids(*, min_size: int = 1, max_size: int = 5) -> st.SearchStrategy[list[str]]:
    """Distinct, short, readable member ids."""
    return st.lists(
        st.text(alphabet="abcdefgh", min_size=1, max_size=3),
        min_size=min_size,
        max_size=max_size,
        unique=True,
    )


@functools.cache
def thresholds() -> st.SearchStrategy[tuple[Decimal, ...]]:
    """Notification thresholds: the default 75/90/100 %, or 1..4 distinct fractions up to 150 %."""
    custom = st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1.5"), places=2),
        min_size=1,
        max_size=4,
        unique=True,
    ).map(lambda values: tuple(sorted(values)))
    return st.one_of(st.just(DEFAULT_THRESHOLDS), custom)


@st.composite
def seat_catalogs(
    draw: st.DrawFn, *, currency: str | None = None, extra_seat_types: int = 1
) -> SeatCatalog:
    """The source's two seat types (fees drawn), plus up to ``extra_seat_types`` custom ones."""
    code = draw(_CURRENCIES if currency is None else st.just(currency))
    fee = amounts(currency=code, max_value=200)
    catalog = SeatCatalog.enterprise(
        chat_fee=draw(fee),
        chat_and_claude_code_fee=draw(fee),
        hipaa_fee=draw(st.none() | fee),
    )
    extra = draw(st.integers(min_value=0, max_value=extra_seat_types))
    if not extra:
        return catalog
    seat_types = dict(catalog.seat_types)
    for index in range(extra):
        name = f"seat_{index}"
        products = draw(_PRODUCTS)
        add_ons = draw(st.booleans())
        seat_types[name] = SeatType(
            name,
            draw(fee),
            products,
            {"support": AddOn("support", draw(fee))} if add_ons else {},
        )
    return SeatCatalog(seat_types)


@st.composite
def members(
    draw: st.DrawFn, catalog: SeatCatalog, ids: Sequence[str], *, primary: str | None = None
) -> list[Member]:
    """One member per id, on seats of ``catalog``; exactly one (``primary``, else the first)."""
    owner = ids[0] if primary is None else primary
    result = []
    seat_names = _sampled(tuple(sorted(catalog.seat_types)))
    for user_id in ids:
        seat_type = draw(seat_names)
        offered = tuple(sorted(catalog.get(seat_type).add_ons))
        add_ons = draw(_subsets(offered)) if offered else frozenset()
        role = Role.PRIMARY_OWNER if user_id == owner else draw(_ROLES)
        result.append(Member(user_id, role, seat_type, add_ons))
    return result


@st.composite
def spend_limits(
    draw: st.DrawFn,
    catalog: SeatCatalog,
    ids: Sequence[str],
    *,
    max_value: Decimal | int = 100,
    places: int = 2,
) -> SpendLimits:
    """Caps for ``catalog`` and members ``ids`` at any subset of levels, zero caps included."""
    cap = caps(currency=catalog.currency, max_value=max_value, places=places)
    pool = _pools(cap)
    seat_types = {}
    for seat_type in sorted(draw(_subsets(tuple(sorted(catalog.seat_types))))):
        seat_types[seat_type] = draw(pool)
    users: dict[str, Money] = {}
    for user_id in sorted(draw(_subsets(tuple(ids)))) if ids else ():
        value = draw(cap)
        if value is not None:
            users[user_id] = value
    return SpendLimits(organization=draw(pool), seat_types=seat_types, members=users)


@functools.cache
def _pools(cap: st.SearchStrategy[Money | None]) -> st.SearchStrategy[PoolLimit]:
    return st.builds(PoolLimit, pool_cap=cap, member_default=cap)


@st.composite
def organizations(
    draw: st.DrawFn,
    *,
    currency: str | None = None,
    min_members: int = 1,
    max_members: int = 5,
    limits: bool = True,
    at: datetime = START,
    max_cap: Decimal | int = 100,
) -> Organization:
    """A valid organization: seat catalog, members with one primary owner, caps, thresholds."""
    catalog = draw(seat_catalogs(currency=currency))
    ids = draw(user_ids(min_size=min_members, max_size=max_members))
    primary = draw(st.sampled_from(ids))
    people = draw(members(catalog, ids, primary=primary))
    spend_caps = draw(spend_limits(catalog, ids, max_value=max_cap)) if limits else None
    return Organization.create(
        draw(_NAMES),
        catalog,
        people,
        at=at,
        limits=spend_caps,
        thresholds=draw(thresholds()),
    )


def _room(org: Organization, spend: Spend, user_id: str, seat_type: str) -> Decimal | None:
    """The least room (cap - committed - held) on the levels a charge would count toward.

    Computed here from the rules, independently of :func:`usagebill.authorize`.
    """
    rooms: list[Decimal] = []
    member = org.members.get(user_id)
    if member is not None:
        cap = org.limits.effective(user_id, member.seat_type).cap
        if cap is not None:
            used = spend.members.get(user_id, Decimal(0)) + spend.held_members.get(
                user_id, Decimal(0)
            )
            rooms.append(cap.amount - used)
    pool = org.limits.seat_type(seat_type).pool_cap
    if pool is not None:
        used = spend.seat_types.get(seat_type, Decimal(0))
        used += spend.held_seat_types.get(seat_type, Decimal(0))
        rooms.append(pool.amount - used)
    org_cap = org.limits.organization.pool_cap
    if org_cap is not None:
        rooms.append(org_cap.amount - spend.total - spend.held_total)
    return min(rooms) if rooms else None


@st.composite
def spends(
    draw: st.DrawFn,
    org: Organization,
    *,
    within_limits: bool = False,
    holds: bool = True,
    former_members: bool = True,
    max_charges: int = 8,
    max_value: Decimal | int = 60,
) -> Spend:
    """Month-to-date spend of ``org``: charges by its members (and former ones).

    Each charge counts toward a seat type of the catalog (usually the member's
    current one; sometimes another, as after a seat change), so the totals are
    consistent by construction. With ``within_limits``, each charge is cut to the
    room left on every level of its path, so the result is within every cap.
    """
    currency = org.currency
    seat_names = _sampled(tuple(sorted(org.catalog.seat_types)))
    people = sorted(org.members)
    if former_members:
        people.append("former")
    who = _sampled(tuple(people))
    spend = Spend(currency)
    charge = amounts(currency=currency, max_value=max_value)
    for _ in range(draw(st.integers(min_value=0, max_value=max_charges))):
        user_id = draw(who)
        member = org.members.get(user_id)
        current = CHAT if member is None else member.seat_type
        if current not in org.catalog.seat_types or draw(_ONE_IN_FOUR):
            seat_type = draw(seat_names)
        else:
            seat_type = current
        amount = draw(charge)
        if within_limits:
            room = _room(org, spend, user_id, seat_type)
            if room is not None:
                amount = Money(max(min(amount.amount, room), Decimal(0)), currency)
        held = holds and draw(_ONE_IN_FOUR)
        spend = (spend.hold if held else spend.record)(user_id, seat_type, amount)
    return spend
