"""usagebill.testing: every strategy draws only values usagebill accepts and can rate."""

import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import CATALOG, member, organization
from usagebill import (
    InvalidValueError,
    ModelPrice,
    Modifiers,
    Money,
    PriceTable,
    Rates,
    TokenUsage,
    minor_unit,
    testing,
)
from usagebill.serde import from_dict

ONE = Rates(input="1", output="1", cache_write_5m="1", cache_write_1h="1", cache_read="1")

#: Whole tables are slow to draw: a quarter of the profile's examples.
heavy = settings(max_examples=max(10, settings().max_examples // 4))


def test_all_lists_every_strategy():
    """__all__ is sorted and names only strategy factories."""
    assert testing.__all__ == sorted(testing.__all__)
    org = organization(member("ada", role="primary_owner"))
    arguments = {  # the strategies that draw around a given catalog or organization
        "members": (CATALOG, ["ada"]),
        "spend_limits": (CATALOG, ["ada"]),
        "spends": (org,),
    }
    for name in testing.__all__:
        strategy = getattr(testing, name)(*arguments.get(name, ()))
        assert isinstance(strategy, st.SearchStrategy), name


@given(testing.decimals_for_money(min_value=-5, max_value=7, max_places=3))
def test_decimals_stay_in_their_bounds(value):
    """Drawn decimals are finite, within bounds, with at most max_places decimals."""
    assert value.is_finite()
    assert Decimal(-5) <= value <= Decimal(7)
    assert -value.as_tuple().exponent <= 3


@pytest.mark.parametrize("arguments", [{"max_places": -1}, {"min_value": 2, "max_value": 1}])
def test_decimals_refuse_impossible_bounds(arguments):
    """Impossible bounds are an InvalidValueError at once, not an empty strategy."""
    with pytest.raises(InvalidValueError):
        testing.decimals_for_money(**arguments)


@given(testing.money("EUR"), testing.money(st.just("JPY")), testing.money(min_value=0))
def test_money_in_the_asked_currency(eur, jpy, positive):
    """money('EUR') draws EUR; a strategy of codes is drawn from; bounds hold."""
    assert eur.currency == "EUR"
    assert jpy.currency == "JPY"
    assert positive >= Money.zero(positive.currency)


def test_money_refuses_a_bad_currency_at_once():
    """money('usd') fails when the strategy is made, not at every draw."""
    with pytest.raises(InvalidValueError):
        testing.money("usd")


@given(testing.currencies())
def test_currencies_are_valid_codes(code):
    """Every drawn code builds Money and has a known minor unit."""
    assert Money.zero(code).currency == code
    assert minor_unit(code) in (0, 2, 3, 4)


@given(testing.token_usages(max_tokens=10, max_searches=2))
def test_token_usages_stay_in_their_bounds(usage):
    """Counts stay within max_tokens, searches within max_searches."""
    assert isinstance(usage, TokenUsage)
    assert max(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) <= 10
    assert usage.web_search_requests <= 2


@given(testing.modifiers())
def test_modifiers_never_combine_batch_and_fast(mods):
    """The API has no batch fast mode, so neither does the strategy."""
    assert not (mods.batch and mods.fast)


@given(testing.modifiers(offered_by=ModelPrice(ONE)))
def test_modifiers_offered_by_a_plain_price_are_batch_at_most(mods):
    """A price with neither fast rates nor US-only gets only batch or nothing."""
    assert mods in (Modifiers(), Modifiers(batch=True))


@given(testing.model_prices(dated=True), testing.model_prices(dated=False))
def test_model_prices_dated_or_not(dated, undated):
    """dated=True always draws an aware start; dated=False never draws one."""
    assert dated.effective_from is not None
    assert dated.effective_from.utcoffset() is not None
    assert undated.effective_from is None
    assert dated.fast_long_context is None or dated.fast is not None


@given(testing.aware_datetimes())
def test_datetimes_are_aware(when):
    """Every drawn datetime carries a UTC offset."""
    assert when.utcoffset() is not None


@given(testing.model_ids())
def test_model_ids_look_like_model_ids(name):
    """A letter, then letters, digits, dots and dashes."""
    assert re.fullmatch(r"[a-z][a-z0-9.-]{0,15}", name)


@heavy
@given(testing.model_listings())
def test_listings_are_in_strictly_increasing_order(listing):
    """Each price version starts strictly after the one before it."""
    starts = [p.effective_from for p in listing.prices]
    dated = [start for start in starts if start is not None]
    assert dated == sorted(dated)
    assert len(set(dated)) == len(dated)
    assert None not in starts[1:]


@heavy
@given(testing.price_tables(), testing.token_usages(), st.data())
def test_every_drawn_table_rates_every_model(table, usage, data):
    """Any model of a drawn table rates any usage with the modifiers it offers."""
    assert isinstance(table, PriceTable)
    names = table.model_ids()
    assert len(names) == len(set(names))
    late = datetime(2036, 1, 1, tzinfo=UTC)
    for model_id in table.models:
        mods = data.draw(testing.modifiers(offered_by=table.price(model_id, late)))
        cost = table.cost(
            model_id, usage, late, batch=mods.batch, us_only=mods.us_only, fast=mods.fast
        )
        assert cost.currency == table.currency
        assert cost >= Money.zero(table.currency)


@heavy
@given(testing.price_table_dicts())
def test_price_table_dicts_load(data):
    """The dict form loads with PriceTable.from_dict."""
    assert isinstance(PriceTable.from_dict(data), PriceTable)


@given(testing.money_dicts(), testing.token_usage_dicts(), testing.rates_dicts())
def test_small_dict_forms_load(money_data, usage_data, rates_data):
    """The dict forms of Money, TokenUsage and Rates load with from_dict."""
    assert isinstance(from_dict(money_data, Money), Money)
    assert isinstance(from_dict(usage_data, TokenUsage), TokenUsage)
    assert isinstance(from_dict(rates_data, Rates), Rates)


def test_without_hypothesis_the_import_says_which_extra_to_install():
    """usagebill itself needs no hypothesis; usagebill.testing names the extra that brings it."""
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"  # hypothesis hidden: it cannot import
        "import usagebill\n"
        "print(usagebill.Money('1.5'))\n"
        "try:\n"
        "    import usagebill.testing\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run(  # noqa: S603  (our own interpreter, our own code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "1.50 USD",
        "usagebill.testing needs hypothesis: pip install 'usagebill[testing]'",
    ]
