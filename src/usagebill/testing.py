"""Hypothesis strategies for usagebill's values, for your own property tests.

Install with ``pip install 'usagebill[testing]'`` (it needs hypothesis). Every
strategy is *sound*: it only draws values usagebill accepts, small enough that
exact arithmetic on them never runs out of digits. Beside each value strategy
of money, usage and prices is a dict-form one (``price_table_dicts()`` is
``price_tables().map(to_dict)``) for round-trip and loader tests.

* money: :func:`currencies`, :func:`decimals_for_money`, :func:`money`, and
  :func:`amounts` (non-negative, on a grid of few decimals, so that "exactly
  at the cap" and "one step over" are likely);
* usage and prices: :func:`token_usages`, :func:`modifiers`, :func:`rates`,
  :func:`context_tiers`, :func:`model_prices`, :func:`model_listings`,
  :func:`price_tables`, :func:`aware_datetimes`, :func:`model_ids`;
* seats and caps: :func:`seat_catalogs` (the two seat types of the source,
  fees drawn, sometimes extra seat types including any subset of the
  products), :func:`user_ids`, :func:`members`, :func:`caps` (none, zero or
  an amount), :func:`spend_limits`, :func:`thresholds`, :func:`organizations`
  (one primary owner, add-ons their seat type offers, caps at any subset of
  levels) and :func:`spends` (month-to-date spend consistent with an
  organization; with ``within_limits=True``, within every cap).

>>> from hypothesis import given
>>> @given(money("USD"), money("USD"))
... def test_addition_commutes(a, b):
...     assert a + b == b + a
>>> test_addition_commutes()
"""

from __future__ import annotations

import functools
import string
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

import attrs

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover  (tested in a subprocess that hides hypothesis)
    raise ImportError(
        "usagebill.testing needs hypothesis: pip install 'usagebill[testing]'"
    ) from error

from usagebill.accounts.limits import DEFAULT_THRESHOLDS, PoolLimit, Spend, SpendLimits
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import CHAT, AddOn, Member, Role, SeatCatalog, SeatType
from usagebill.errors import InvalidValueError
from usagebill.money import Money
from usagebill.pricing.prices import ContextTier, ModelListing, ModelPrice, PriceTable, Rates
from usagebill.serde import to_dict
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = [
    "amounts",
    "aware_datetimes",
    "caps",
    "context_tiers",
    "currencies",
    "decimals_for_money",
    "members",
    "model_ids",
    "model_listing_dicts",
    "model_listings",
    "model_price_dicts",
    "model_prices",
    "modifiers",
    "modifiers_dicts",
    "money",
    "money_dicts",
    "organizations",
    "price_table_dicts",
    "price_tables",
    "rates",
    "rates_dicts",
    "seat_catalogs",
    "spend_limits",
    "spends",
    "thresholds",
    "token_usage_dicts",
    "token_usages",
    "user_ids",
]


# --- money, usage and prices ----------------------------------------------------------------

#: A spread of ISO 4217 codes covering every minor unit: 2 decimals, 0 (JPY), 3 (KWD), 4 (CLF).
_CURRENCIES = ("USD", "EUR", "GBP", "CHF", "JPY", "KRW", "KWD", "BHD", "CLF")

#: Fixed UTC offsets only: zone rules (DST folds) would make round-trips compare unequal.
_OFFSETS = (
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-9, minutes=-30)),
)


_CODES: Final = st.sampled_from(_CURRENCIES)


def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 codes with 0, 2, 3 and 4 decimal minor units (USD, JPY, KWD, CLF, …)."""
    return _CODES


def decimals_for_money(
    *,
    min_value: int = -(10**12),
    max_value: int = 10**12,
    max_places: int = 8,
) -> st.SearchStrategy[Decimal]:
    """Finite Decimals in ``[min_value, max_value]`` with at most ``max_places`` decimals.

    Never NaN, infinity or a float; few enough digits that sums and products stay exact.
    """
    if max_places < 0 or min_value > max_value:
        raise InvalidValueError(
            "decimals_for_money()",
            (min_value, max_value, max_places),
            "needs min <= max, places >= 0",
        )

    @st.composite
    def draw_decimal(draw: st.DrawFn) -> Decimal:
        places = draw(st.integers(0, max_places))
        scale = 10**places
        coefficient = draw(st.integers(min_value * scale, max_value * scale))
        return Decimal(f"{coefficient}E-{places}")  # string form: exact, no decimal context

    return draw_decimal()


def money(
    currency: str | st.SearchStrategy[str] | None = None,
    *,
    min_value: int = -(10**12),
    max_value: int = 10**12,
) -> st.SearchStrategy[Money]:
    """Money in ``currency`` (a code, a strategy of codes, or any of :func:`currencies`)."""
    if currency is None:
        codes = currencies()
    elif isinstance(currency, str):
        codes = st.just(Money.zero(currency).currency)  # checks the code now, not per draw
    else:
        codes = currency
    return st.builds(Money, decimals_for_money(min_value=min_value, max_value=max_value), codes)


def token_usages(
    max_tokens: int = 10_000_000, max_searches: int = 100
) -> st.SearchStrategy[TokenUsage]:
    """Token counts from 0 to ``max_tokens`` per category, web searches up to ``max_searches``."""
    count = st.integers(0, max_tokens)
    return st.builds(
        TokenUsage,
        input_tokens=count,
        output_tokens=count,
        cache_write_5m_tokens=count,
        cache_write_1h_tokens=count,
        cache_read_tokens=count,
        web_search_requests=st.integers(0, max_searches),
    )


def modifiers(offered_by: ModelPrice | None = None) -> st.SearchStrategy[Modifiers]:
    """Request modifiers the API can report (never batch with fast mode).

    With ``offered_by``, only those that price offers, so rating with them never raises.
    """
    can_us = offered_by is None or offered_by.us_only_multiplier is not None
    can_fast = offered_by is None or offered_by.fast is not None
    offered = [
        Modifiers(batch=batch, us_only=us_only, fast=fast)
        for batch in (False, True)
        for us_only in (False, True)
        for fast in (False, True)
        if not (batch and fast) and (can_us or not us_only) and (can_fast or not fast)
    ]
    return st.sampled_from(offered)


def _rate_values() -> st.SearchStrategy[Decimal]:
    return decimals_for_money(min_value=0, max_value=1_000, max_places=4)


def rates() -> st.SearchStrategy[Rates]:
    """Per-million rates from $0 to $1,000 with up to 4 decimals, each category drawn apart."""
    rate = _rate_values()
    return st.builds(
        Rates,
        input=rate,
        output=rate,
        cache_write_5m=rate,
        cache_write_1h=rate,
        cache_read=rate,
    )


def context_tiers() -> st.SearchStrategy[ContextTier]:
    """Context tiers with a threshold from 0 to 2,000,000 prompt tokens."""
    return st.builds(ContextTier, above_prompt_tokens=st.integers(0, 2_000_000), rates=rates())


def aware_datetimes(
    min_value: datetime = datetime(2020, 1, 1),  # noqa: DTZ001  (hypothesis bounds are naive)
    max_value: datetime = datetime(2035, 12, 31),  # noqa: DTZ001
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (UTC and a few fixed offsets) between naive bounds."""
    return st.datetimes(min_value, max_value, timezones=st.sampled_from(_OFFSETS))


_texts = st.text(max_size=12)


def model_prices(*, dated: bool | None = None) -> st.SearchStrategy[ModelPrice]:
    """One price version: base rates, and any mix of a context tier and fast rates with a tier.

    ``dated``: ``True`` always draws an ``effective_from``, ``False`` never, ``None`` either.
    """
    fast = st.one_of(
        st.just({}),
        st.builds(lambda fast: {"fast": fast}, rates()),
        st.builds(
            lambda fast, tier: {"fast": fast, "fast_long_context": tier}, rates(), context_tiers()
        ),
    )
    extra = st.builds(
        lambda tier, fast: {"long_context": tier, **fast}, st.none() | context_tiers(), fast
    )
    if dated is None:
        effective_from: st.SearchStrategy[datetime | None] = st.none() | aware_datetimes()
    elif dated:
        effective_from = aware_datetimes()
    else:
        effective_from = st.none()
    return st.builds(
        lambda base, extra, **fields: ModelPrice(base, **extra, **fields),
        rates(),
        extra,
        web_search_per_1k=st.none() | decimals_for_money(min_value=0, max_value=50, max_places=2),
        us_only_multiplier=st.none() | decimals_for_money(min_value=1, max_value=2, max_places=2),
        effective_from=effective_from,
        source=_texts,
        as_of=_texts,
        confidence=_texts,
        notes=_texts,
    )


@functools.cache
def _listing_parts() -> tuple[st.SearchStrategy[list[datetime]], st.SearchStrategy[ModelPrice]]:
    # Built once: making strategies on every draw would dominate the drawing time.
    starts = st.lists(aware_datetimes(), min_size=1, max_size=3, unique=True)
    return starts, model_prices(dated=False)


_retired_dates = st.none() | st.dates(date(2020, 1, 1), date(2035, 12, 31))


def _draw_listing(draw: st.DrawFn, aliases: list[str]) -> ModelListing:
    starts_strategy, undated_prices = _listing_parts()
    # Distinct instants, sorted: every version starts strictly after the one before.
    starts = sorted(draw(starts_strategy))
    undated_first = draw(st.booleans())
    prices = [
        attrs.evolve(
            draw(undated_prices),
            effective_from=None if position == 0 and undated_first else start,
        )
        for position, start in enumerate(starts)
    ]
    return ModelListing(
        prices=tuple(prices),
        display_name=draw(_texts),
        aliases=tuple(aliases),
        status=draw(_texts),
        retired=draw(_retired_dates),
    )


def model_ids() -> st.SearchStrategy[str]:
    """Model-id-like names: a lower-case letter, then letters, digits, dots and dashes."""
    return st.builds(
        str.__add__,
        st.sampled_from(string.ascii_lowercase),
        st.text(string.ascii_lowercase + string.digits + ".-", max_size=15),
    )


def model_listings() -> st.SearchStrategy[ModelListing]:
    """A model with one to three price versions, dated in increasing order, and aliases."""
    aliases = st.lists(model_ids(), max_size=2, unique=True)

    @st.composite
    def listing(draw: st.DrawFn) -> ModelListing:
        return _draw_listing(draw, draw(aliases))

    return listing()


def price_tables(max_models: int = 4) -> st.SearchStrategy[PriceTable]:
    """Price tables of up to ``max_models`` models whose ids and aliases never clash."""
    # Draw every name at once, unique, then deal them out: ids first, the rest as aliases.
    names = st.integers(0, max_models).flatmap(
        lambda count: st.tuples(
            st.just(count),
            st.lists(model_ids(), min_size=count, max_size=count * 3, unique=True),
        )
    )
    codes = currencies()

    @st.composite
    def table(draw: st.DrawFn) -> PriceTable:
        count, drawn = draw(names)
        ids, spare = drawn[:count], drawn[count:]
        models = {
            model_id: _draw_listing(draw, spare[position::count])
            for position, model_id in enumerate(ids)
        }
        return PriceTable(
            version=draw(_texts), models=models, currency=draw(codes), source=draw(_texts)
        )

    return table()


# --- seats, organizations, caps and spend ---------------------------------------------------

_START: Final = datetime(2026, 10, 1, tzinfo=UTC)
"""When the drawn organizations were created, unless told otherwise."""
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
        raise InvalidValueError("amounts(min_value=)", min_value, "must not be negative")
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
    code = draw(_CODES if currency is None else st.just(currency))
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
    at: datetime = _START,
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


# --- dict forms ----------------------------------------------------------------------------


def money_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`money`."""
    return money().map(to_dict)


def token_usage_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`token_usages`."""
    return token_usages().map(to_dict)


def modifiers_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`modifiers`."""
    return modifiers().map(to_dict)


def rates_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`rates`."""
    return rates().map(to_dict)


def model_price_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`model_prices`."""
    return model_prices().map(to_dict)


def model_listing_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`model_listings`."""
    return model_listings().map(to_dict)


def price_table_dicts() -> st.SearchStrategy[dict[str, object]]:
    """The dict form of :func:`price_tables`, as :meth:`PriceTable.from_dict` reads it."""
    return price_tables().map(to_dict)
