"""Hypothesis strategies for usagebill's values, for your own property tests.

Install with ``pip install usagebill[testing]`` (it needs hypothesis). Every
strategy is *sound*: it only draws values usagebill accepts, small enough that
exact arithmetic on them never runs out of digits. Beside each value strategy
is a dict-form one (``price_table_dicts()`` is ``price_tables().map(to_dict)``)
for round-trip and loader tests.
"""

from __future__ import annotations

import functools
import string
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
from hypothesis import strategies as st

# Organizations, caps and spend are drawn in their own module and handed out from here.
from usagebill._testing_caps import (
    amounts,
    caps,
    members,
    organizations,
    seat_catalogs,
    spend_limits,
    spends,
    thresholds,
    user_ids,
)
from usagebill.errors import InvalidValueError
from usagebill.money import Money
from usagebill.pricing.prices import ContextTier, ModelListing, ModelPrice, PriceTable, Rates
from usagebill.serde import to_dict
from usagebill.usage import Modifiers, TokenUsage

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


def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 codes with 0, 2, 3 and 4 decimal minor units (USD, JPY, KWD, CLF, …)."""
    return st.sampled_from(_CURRENCIES)


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
