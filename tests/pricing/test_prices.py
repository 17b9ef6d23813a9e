"""Price tables and rating: hand-worked costs, modifiers, tiers, dated prices, validation."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from importlib import resources

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from usagebill import (
    ContextTier,
    InvalidValueError,
    LoadError,
    ModelListing,
    ModelPrice,
    Modifiers,
    Money,
    MoneyTypeError,
    PriceTable,
    Rates,
    TokenUsage,
    UnknownModelError,
    UnknownNameError,
    UnsupportedModifierError,
    UsageBillError,
)
from usagebill.pricing.prices import BATCH_MULTIPLIER, Quote
from usagebill.testing import modifiers, price_tables, token_usages

SONNET_46 = "claude-sonnet-4-6"
SONNET_45 = "claude-sonnet-4-5-20250929"
SONNET_55 = "claude-sonnet-5-5"
OPUS_41 = "claude-opus-4-1-20250805"
OPUS_55 = "claude-opus-5-5"
HAIKU_3 = "claude-3-haiku-20240307"
HAIKU_55 = "claude-haiku-5-5"

#: Every category at once: 10,000 in, 2,000 out, 5,000 + 1,000 written, 50,000 read.
MIXED = TokenUsage(
    input_tokens=10_000,
    output_tokens=2_000,
    cache_write_5m_tokens=5_000,
    cache_write_1h_tokens=1_000,
    cache_read_tokens=50_000,
)

ONE = Rates(input="1", output="1", cache_write_5m="1", cache_write_1h="1", cache_read="1")


def reference_cost(price: ModelPrice, usage: TokenUsage, mods: Modifiers) -> Fraction:
    """sum(count x rate) / 10**6 x multipliers + searches x rate / 1000, in exact fractions."""
    base, tier = (
        (price.fast, price.fast_long_context) if mods.fast else (price.rates, price.long_context)
    )
    rates = tier.rates if tier and usage.prompt_tokens > tier.above_prompt_tokens else base
    assert rates is not None
    pairs = [
        (usage.input_tokens, rates.input),
        (usage.output_tokens, rates.output),
        (usage.cache_write_5m_tokens, rates.cache_write_5m),
        (usage.cache_write_1h_tokens, rates.cache_write_1h),
        (usage.cache_read_tokens, rates.cache_read),
    ]
    tokens = sum(Fraction(count) * Fraction(rate) for count, rate in pairs) / 10**6
    if mods.batch:
        tokens *= Fraction(1, 2)
    if mods.us_only:
        assert price.us_only_multiplier is not None
        tokens *= Fraction(price.us_only_multiplier)
    per_1k = price.web_search_per_1k or 0
    return tokens + Fraction(usage.web_search_requests) * Fraction(per_1k) / 1000


def one_model_table(*prices: ModelPrice, aliases: tuple[str, ...] = ()) -> PriceTable:
    return PriceTable("test", {"m": ModelListing(prices, aliases=aliases)})


# --- hand-worked costs ---------------------------------------------------------------------


def test_sonnet_4_6_every_category(table, at):
    """Sonnet 4.6 at $3 / $15 / $3.75 / $6 / $0.30 per MTok.

    10,000 x 3 = 0.03; 2,000 x 15 = 0.03; 5,000 x 3.75 = 0.01875;
    1,000 x 6 = 0.006; 50,000 x 0.30 = 0.015 (each / 10**6): total 0.09975.
    """
    assert table.cost(SONNET_46, MIXED, at) == Money("0.09975")


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("input_tokens", "3"),
        ("output_tokens", "15"),
        ("cache_write_5m_tokens", "3.75"),
        ("cache_write_1h_tokens", "6"),  # a 1-hour write is 2x input, not the 5-minute 1.25x
        ("cache_read_tokens", "0.30"),
    ],
)
def test_sonnet_4_6_one_million_of_each_category(table, at, category, expected):
    """One million tokens of a category cost exactly its listed rate."""
    assert table.cost(SONNET_46, TokenUsage(**{category: 1_000_000}), at) == Money(expected)


def test_one_hour_cache_writes_are_not_priced_as_five_minute_ones(table, at):
    """10,000 1-hour writes on Sonnet 4.6: 10,000 x 6 / 10**6 = 0.06, not 0.0375."""
    cost = table.cost(SONNET_46, TokenUsage(cache_write_1h_tokens=10_000), at)
    assert cost == Money("0.06")
    assert cost != table.cost(SONNET_46, TokenUsage(cache_write_5m_tokens=10_000), at)


def test_opus_4_1_every_category(table, at):
    """Opus 4.1 at $15 / $75 / $18.75 / $30 / $1.50.

    1,234 x 15 = 0.01851; 567 x 75 = 0.042525; 2,000 x 18.75 = 0.0375;
    3,000 x 30 = 0.09; 10,000 x 1.50 = 0.015: total 0.203535.
    """
    usage = TokenUsage(
        input_tokens=1_234,
        output_tokens=567,
        cache_write_5m_tokens=2_000,
        cache_write_1h_tokens=3_000,
        cache_read_tokens=10_000,
    )
    assert table.cost(OPUS_41, usage, at) == Money("0.203535")
    assert table.cost("claude-opus-4-1", usage, at) == Money("0.203535")  # by alias


def test_haiku_3_cache_prices_are_the_listed_ones_not_multiples(table, at):
    """Haiku 3: 5-minute write $0.30 (not 1.25 x 0.25 = 0.3125), read $0.03 (not 0.025)."""
    million = 1_000_000
    assert table.cost(HAIKU_3, TokenUsage(cache_write_5m_tokens=million), at) == Money("0.30")
    assert table.cost(HAIKU_3, TokenUsage(cache_read_tokens=million), at) == Money("0.03")
    assert table.cost(HAIKU_3, TokenUsage(cache_write_1h_tokens=million), at) == Money("0.50")


def test_haiku_3_every_category(table, at):
    """Haiku 3 at $0.25 / $1.25 / $0.30 / $0.50 / $0.03.

    100,000 x 0.25 = 0.025; 20,000 x 1.25 = 0.025; 40,000 x 0.30 = 0.012;
    10,000 x 0.50 = 0.005; 300,000 x 0.03 = 0.009: total 0.076
    (multiplier-derived cache prices would give 0.0125 and 0.0075: 0.075).
    """
    usage = TokenUsage(
        input_tokens=100_000,
        output_tokens=20_000,
        cache_write_5m_tokens=40_000,
        cache_write_1h_tokens=10_000,
        cache_read_tokens=300_000,
    )
    assert table.cost(HAIKU_3, usage, at) == Money("0.076")


def test_haiku_5_5_below_its_tier(table, at):
    """Haiku 5.5 standard rates $0.10 / $0.50 / $0.125 / $0.20 / $0.01 on MIXED (66,000 prompt).

    10,000 x 0.10 = 0.001; 2,000 x 0.50 = 0.001; 5,000 x 0.125 = 0.000625;
    1,000 x 0.20 = 0.0002; 50,000 x 0.01 = 0.0005: total 0.003325.
    """
    assert table.cost(HAIKU_55, MIXED, at) == Money("0.003325")


def test_opus_5_5_fast_mode(table, at):
    """Opus 5.5 fast mode at $8 / $40 / $10 / $16 / $0.40 (standard $4 / $20 / $5 / $8 / $0.20).

    Fast: 10,000 x 8 = 0.08; 5,000 x 40 = 0.2; 2,000 x 10 = 0.02; 1,000 x 16 = 0.016;
    100,000 x 0.40 = 0.04: total 0.356. Standard: 0.04 + 0.1 + 0.01 + 0.008 + 0.02 = 0.178.
    """
    usage = TokenUsage(
        input_tokens=10_000,
        output_tokens=5_000,
        cache_write_5m_tokens=2_000,
        cache_write_1h_tokens=1_000,
        cache_read_tokens=100_000,
    )
    assert table.cost(OPUS_55, usage, at, fast=True) == Money("0.356")
    assert table.cost(OPUS_55, usage, at) == Money("0.178")
    assert table.cost(OPUS_55, usage, at, fast=True, us_only=True) == Money("0.3916")  # x 1.1
    assert table.cost(OPUS_55, TokenUsage(input_tokens=1_000_000), at, fast=True) == Money(8)


# --- context tiers -------------------------------------------------------------------------


def test_sonnet_4_5_at_its_threshold_stays_standard(table, at):
    """Prompt exactly 200,000 (150,000 in + 50,000 read): standard rates.

    150,000 x 3 = 0.45; 50,000 x 0.30 = 0.015; 10,000 out x 15 = 0.15: total 0.615.
    """
    usage = TokenUsage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=10_000)
    assert usage.prompt_tokens == 200_000
    assert table.cost("claude-sonnet-4-5", usage, at) == Money("0.615")
    assert not table.quote("claude-sonnet-4-5", usage, at).in_tier


def test_sonnet_4_5_one_token_over_reprices_the_whole_request(table, at):
    """Prompt 200,001: every token, output too, at $6 / $22.50 / … / $0.60.

    150,001 x 6 = 0.900006; 50,000 x 0.60 = 0.03; 10,000 x 22.50 = 0.225: total 1.155006.
    (Charging only the one token past the threshold would give about 0.615.)
    """
    usage = TokenUsage(input_tokens=150_001, cache_read_tokens=50_000, output_tokens=10_000)
    assert table.cost("claude-sonnet-4-5", usage, at) == Money("1.155006")
    assert table.quote("claude-sonnet-4-5", usage, at).in_tier
    # Batch halves the tier rates too: 1.155006 / 2.
    assert table.cost("claude-sonnet-4-5", usage, at, batch=True) == Money("0.577503")


def test_the_threshold_counts_cache_writes(table, at):
    """100,000 in + 60,000 5-minute + 40,001 1-hour writes = 200,001: the tier.

    100,000 x 6 = 0.6; 60,000 x 7.50 = 0.45; 40,001 x 12 = 0.480012: total 1.530012.
    """
    usage = TokenUsage(
        input_tokens=100_000, cache_write_5m_tokens=60_000, cache_write_1h_tokens=40_001
    )
    assert table.cost(SONNET_45, usage, at) == Money("1.530012")


def test_haiku_5_5_at_and_one_over_its_threshold(table, at):
    """Haiku 5.5 splits at 100,000: reads and writes count toward the prompt.

    At 100,000 (50,000 in + 20,000 5m + 10,000 1h + 20,000 read; 4,000 out), standard:
    0.005 + 0.0025 + 0.002 + 0.0002 + 0.002 = 0.0117.
    One more read (100,001), tier $0.50 / $2.50 / $0.625 / $1 / $0.05 on everything:
    0.025 + 0.0125 + 0.01 + 20,001 x 0.05 / 10**6 = 0.00100005 + 4,000 x 2.50 = 0.01:
    total 0.05850005.
    """
    at_threshold = TokenUsage(
        input_tokens=50_000,
        cache_write_5m_tokens=20_000,
        cache_write_1h_tokens=10_000,
        cache_read_tokens=20_000,
        output_tokens=4_000,
    )
    one_over = attrs.evolve(at_threshold, cache_read_tokens=20_001)
    assert at_threshold.prompt_tokens == 100_000
    assert table.cost(HAIKU_55, at_threshold, at) == Money("0.0117")
    assert table.cost(HAIKU_55, one_over, at) == Money("0.05850005")


def test_the_tier_does_not_apply_to_models_without_one(table, at):
    """Sonnet 4.6 bills a 900,000-token prompt at its one rate: 900,000 x 3 = 2.7."""
    usage = TokenUsage(input_tokens=900_000)
    assert table.cost(SONNET_46, usage, at) == Money("2.7")
    assert not table.quote(SONNET_46, usage, at).in_tier


def test_output_alone_never_enters_the_tier(table, at):
    """300,000 output tokens and a small prompt: standard rates (300,000 x 15 = 4.5)."""
    usage = TokenUsage(input_tokens=10, output_tokens=300_000)
    assert table.cost(SONNET_45, usage, at) == Money("4.50003")  # + 10 x 3 / 10**6


# --- web search --------------------------------------------------------------------------------


def test_web_search_is_ten_dollars_per_thousand(table, at):
    """3 searches x $10 / 1,000 = $0.03, on top of the tokens."""
    searches = TokenUsage(web_search_requests=3)
    assert table.cost(SONNET_46, searches, at) == Money("0.03")
    with_tokens = MIXED + searches
    assert table.cost(SONNET_46, with_tokens, at) == Money("0.12975")  # 0.09975 + 0.03


@pytest.mark.parametrize(
    ("model", "flags"),
    [
        (SONNET_46, {"batch": True}),
        (SONNET_46, {"us_only": True}),
        (SONNET_46, {"batch": True, "us_only": True}),
        (OPUS_55, {"fast": True}),
        (OPUS_55, {"fast": True, "us_only": True}),
    ],
)
def test_no_modifier_changes_web_search(table, at, model, flags):
    """Batch, US-only and fast mode change token rates, never the $10 per 1,000 searches."""
    assert table.cost(model, TokenUsage(web_search_requests=1_000), at, **flags) == Money(10)


def test_the_tier_does_not_change_web_search(table, at):
    """In Sonnet 4.5's tier: 200,001 x 6 / 10**6 = 1.200006, plus 2 searches = 0.02."""
    usage = TokenUsage(input_tokens=200_001, web_search_requests=2)
    assert table.cost(SONNET_45, usage, at) == Money("1.220006")


def test_a_price_without_a_web_search_rate_charges_nothing_for_searches(at):
    """web_search_per_1k=None: the searches add nothing (the price lists none)."""
    prices = one_model_table(ModelPrice(ONE, web_search_per_1k=None))
    assert prices.cost("m", TokenUsage(web_search_requests=5, input_tokens=1), at) == Money(
        "0.000001"
    )


# --- modifiers ---------------------------------------------------------------------------------


def test_batch_halves_every_token_rate(table, at):
    """0.09975 x 0.5 = 0.049875."""
    assert table.cost(SONNET_46, MIXED, at, batch=True) == Money("0.049875")
    assert Decimal("0.5") == BATCH_MULTIPLIER


def test_us_only_multiplies_every_token_rate_by_1_1(table, at):
    """0.09975 x 1.1 = 0.109725."""
    assert table.cost(SONNET_46, MIXED, at, us_only=True) == Money("0.109725")


def test_batch_and_us_only_compose(table, at):
    """0.09975 x 0.5 x 1.1 = 0.0548625."""
    assert table.cost(SONNET_46, MIXED, at, batch=True, us_only=True) == Money("0.0548625")


def test_us_only_on_a_model_before_4_6_is_an_error(table, at):
    """Opus 4.1 and Sonnet 4.5 do not offer US-only inference: UnsupportedModifierError."""
    for model in (OPUS_41, SONNET_45, HAIKU_3):
        with pytest.raises(UnsupportedModifierError, match=r"4\.6 and later") as caught:
            table.cost(model, MIXED, at, us_only=True)
        assert caught.value.field == "us_only"
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, InvalidValueError)


def test_fast_mode_on_a_model_without_fast_rates_is_an_error(table, at):
    """Sonnet 4.6 has no fast mode: UnsupportedModifierError, not a silent standard price."""
    with pytest.raises(UnsupportedModifierError, match="fast is not offered") as caught:
        table.cost(SONNET_46, MIXED, at, fast=True)
    assert caught.value.field == "fast"


def test_batch_with_fast_mode_is_an_error(table, at):
    """The API offers no batch fast mode."""
    with pytest.raises(UnsupportedModifierError, match="cannot be combined with fast mode"):
        table.cost(OPUS_55, MIXED, at, batch=True, fast=True)


def test_rates_for_shows_the_rates_a_request_pays(table, at):
    """Sonnet 4.6 batch + US-only: 3 x 0.55 = 1.65, 15 x 0.55 = 8.25, …, 0.30 x 0.55 = 0.165."""
    price = table.price(SONNET_46, at)
    assert price.rates_for(Modifiers(batch=True, us_only=True)) == Rates(
        input="1.65",
        output="8.25",
        cache_write_5m="2.0625",
        cache_write_1h="3.3",
        cache_read="0.165",
    )
    assert price.rates_for(Modifiers()) is price.rates


# --- prices that change over time --------------------------------------------------------------


def test_a_price_change_applies_from_its_instant(table):
    """Sonnet 5.5 cache reads: $0.20 until 2026-10-07T00:00Z, $0.10 from then on."""
    reads = TokenUsage(cache_read_tokens=1_000_000)
    change = datetime(2026, 10, 7, tzinfo=UTC)
    assert table.cost(SONNET_55, reads, change - timedelta(seconds=1)) == Money("0.20")
    assert table.cost(SONNET_55, reads, change - timedelta(microseconds=1)) == Money("0.20")
    assert table.cost(SONNET_55, reads, change) == Money("0.10")
    assert table.cost(SONNET_55, reads, datetime(2026, 12, 1, tzinfo=UTC)) == Money("0.10")


def test_a_price_change_is_an_instant_in_any_time_zone(table):
    """01:00 at UTC+1 on 2026-10-07 is the change itself; 00:59:59 there is before it."""
    reads = TokenUsage(cache_read_tokens=1_000_000)
    paris = timezone(timedelta(hours=1))
    assert table.cost(SONNET_55, reads, datetime(2026, 10, 7, 1, tzinfo=paris)) == Money("0.10")
    before = datetime(2026, 10, 7, 0, 59, 59, tzinfo=paris)
    assert table.cost(SONNET_55, reads, before) == Money("0.20")


def test_a_month_spanning_the_change_bills_each_request_at_its_own_price(table):
    """1M reads on Oct 6 ($0.20) + 1M on Oct 8 ($0.10) = $0.30, not 2 x either price."""
    reads = TokenUsage(cache_read_tokens=1_000_000)
    total = table.cost(SONNET_55, reads, datetime(2026, 10, 6, tzinfo=UTC)) + table.cost(
        SONNET_55, reads, datetime(2026, 10, 8, tzinfo=UTC)
    )
    assert total == Money("0.30")


def test_the_quote_names_the_price_version_used(table):
    """quote() shows which dated price was used."""
    reads = TokenUsage(cache_read_tokens=1)
    old = table.quote(SONNET_55, reads, datetime(2026, 10, 6, tzinfo=UTC))
    new = table.quote(SONNET_55, reads, datetime(2026, 10, 7, tzinfo=UTC))
    assert old.price.effective_from is None
    assert new.price.effective_from == datetime(2026, 10, 7, tzinfo=UTC)
    assert (old.rates.cache_read, new.rates.cache_read) == (Decimal("0.20"), Decimal("0.10"))


def test_an_instant_before_the_first_dated_price_is_an_error():
    """A model whose only price starts on 2026-01-01 cannot rate a request of 2025."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prices = one_model_table(ModelPrice(ONE, effective_from=start))
    assert prices.cost("m", TokenUsage(input_tokens=1), start) == Money("0.000001")
    with pytest.raises(InvalidValueError, match="must be on or after 2026-01-01") as caught:
        prices.cost("m", TokenUsage(input_tokens=1), start - timedelta(seconds=1))
    assert caught.value.field == "at"


@pytest.mark.parametrize(
    "when", [datetime(2026, 10, 15), date(2026, 10, 15), "2026-10-15T00:00Z", None, 1_760_000_000]
)
def test_the_instant_must_be_a_timezone_aware_datetime(table, when):
    """A naive datetime (which zone?), a date or a string is an InvalidValueError."""
    with pytest.raises(InvalidValueError, match="timezone-aware datetime") as caught:
        table.cost(SONNET_46, MIXED, when)
    assert caught.value.field == "at"
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidValueError):
        table.models[SONNET_55].price_at(when)


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001"),
        ("claude-opus-4-0", "claude-opus-4-20250514"),
        ("claude-4-opus-20250514", "claude-opus-4-20250514"),
        ("claude-sonnet-4-5", SONNET_45),
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"),
        ("claude-opus-4-7-20260416", "claude-opus-4-7"),
    ],
)
def test_aliases_resolve_to_the_model_id(table, at, name, model_id):
    """Dated ids and short names resolve to one model, which rates the same."""
    assert table.resolve(name) == model_id
    assert table.cost(name, MIXED, at) == table.cost(model_id, MIXED, at)
    assert table.quote(name, MIXED, at).model == model_id


def test_model_ids_lists_every_id_and_alias_sorted(table):
    """model_ids() holds every id and alias, sorted."""
    names = table.model_ids()
    assert names == sorted(names)
    assert "claude-sonnet-4-6" in names
    assert "claude-haiku-4-5" in names
    assert len(names) == len(table.models) + sum(len(m.aliases) for m in table.models.values())


def test_an_unknown_model_suggests_the_closest_names(table, at):
    """A typo is an UnknownModelError (a LookupError) suggesting the intended id."""
    with pytest.raises(UnknownModelError) as caught:
        table.cost("claude-sonet-4-6", MIXED, at)
    error = caught.value
    assert isinstance(error, LookupError)
    assert isinstance(error, UnknownNameError)
    assert error.suggestions[0] == "claude-sonnet-4-6"
    assert len(error.suggestions) <= 3
    assert error.kind == "model"
    assert error.name == "claude-sonet-4-6"
    assert str(error).startswith(
        "unknown model 'claude-sonet-4-6'; did you mean 'claude-sonnet-4-6'"
    )


def test_an_unknown_model_with_nothing_close_points_to_model_ids(table):
    """Nothing close: no suggestions, and the message says where to look."""
    with pytest.raises(UnknownModelError) as caught:
        table.resolve("gpt-4o")
    assert caught.value.suggestions == ()
    assert str(caught.value) == "unknown model 'gpt-4o'; see PriceTable.model_ids()"


@pytest.mark.parametrize("name", [None, 5, ["claude-sonnet-4-6"], b"claude-sonnet-4-6"])
def test_a_name_that_is_not_a_string_is_an_unknown_model(table, name):
    """A non-string (even an unhashable list) is an UnknownModelError, not a KeyError."""
    with pytest.raises(UnknownModelError):
        table.resolve(name)


# --- quote -------------------------------------------------------------------------------------


def test_quote_explains_the_cost(table, at):
    """quote() gives the model id, usage, modifiers, price version, tier, rates and amount."""
    usage = TokenUsage(input_tokens=200_001, output_tokens=1_000)
    quote = table.quote("claude-sonnet-4-5", usage, at, Modifiers(batch=True))
    assert isinstance(quote, Quote)
    assert quote.model == SONNET_45
    assert quote.usage == usage
    assert quote.modifiers == Modifiers(batch=True)
    assert quote.price is table.models[SONNET_45].prices[0]
    assert quote.in_tier
    # The tier's $6 / $22.50 / $7.50 / $12 / $0.60, halved.
    assert quote.rates == Rates(
        input="3", output="11.25", cache_write_5m="3.75", cache_write_1h="6", cache_read="0.30"
    )
    # 200,001 x 3 = 0.600003; 1,000 x 11.25 = 0.01125: total 0.611253.
    assert quote.amount == Money("0.611253")
    assert quote.amount == table.cost("claude-sonnet-4-5", usage, at, batch=True)


def test_quote_defaults_to_no_modifiers(table, at):
    """Without modifiers, quote() is the standard price and matches cost()."""
    quote = table.quote(SONNET_46, MIXED, at)
    assert quote.modifiers == Modifiers()
    assert quote.rates == table.models[SONNET_46].prices[0].rates
    assert quote.amount == Money("0.09975")


def test_amount_is_the_bare_decimal_of_cost(table, at):
    """amount() is cost() without the Money wrapper: the hot path."""
    value = table.amount(SONNET_46, MIXED, at, Modifiers(batch=True))
    assert value == Decimal("0.049875")
    assert type(value) is Decimal


# --- validation of the value types -------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
)
def test_a_negative_rate_is_an_error_naming_its_field(field):
    """A negative rate is refused, and the error says which rate."""
    with pytest.raises(InvalidValueError, match=f"^{field} must not be negative") as caught:
        attrs.evolve(ONE, **{field: "-0.01"})
    assert caught.value.field == field


def test_a_float_rate_is_a_money_type_error():
    """Rates refuse floats as Money does."""
    with pytest.raises(MoneyTypeError, match="binary floats"):
        Rates(input=3.0, output="15", cache_write_5m="3.75", cache_write_1h="6", cache_read="0.3")


@pytest.mark.parametrize("rate", ["NaN", "abc", "Infinity"])
def test_a_rate_must_be_a_finite_number(rate):
    """NaN, infinity or text is an InvalidValueError."""
    with pytest.raises(InvalidValueError):
        attrs.evolve(ONE, output=rate)


def test_rates_scale_exactly():
    """scaled(1.1) multiplies each rate exactly: 3.75 x 1.1 = 4.125."""
    rates = Rates(
        input="3", output="15", cache_write_5m="3.75", cache_write_1h="6", cache_read="0.3"
    )
    assert rates.scaled(Decimal("1.1")) == Rates(
        input="3.3", output="16.5", cache_write_5m="4.125", cache_write_1h="6.6", cache_read="0.33"
    )


@pytest.mark.parametrize("threshold", [-1, True, 1.5, "200000", None])
def test_a_tier_threshold_is_a_non_negative_int(threshold):
    """ContextTier(above_prompt_tokens=...) refuses negatives, bools, floats and text."""
    with pytest.raises(InvalidValueError, match="non-negative int") as caught:
        ContextTier(threshold, ONE)
    assert caught.value.field == "above_prompt_tokens"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ContextTier(10, {"input": "1"}), "rates"),
        (lambda: ModelPrice("3"), "rates"),
        (lambda: ModelPrice(ONE, long_context=ONE), "long_context"),
        (lambda: ModelPrice(ONE, fast=ContextTier(1, ONE)), "fast"),
        (lambda: ModelPrice(ONE, fast=ONE, fast_long_context=ONE), "fast_long_context"),
        (lambda: ModelPrice(ONE, web_search_per_1k="-10"), "web_search_per_1k"),
        (lambda: ModelPrice(ONE, us_only_multiplier="-1.1"), "us_only_multiplier"),
        (lambda: ModelPrice(ONE, effective_from=datetime(2026, 1, 1)), "effective_from"),
        (lambda: ModelPrice(ONE, effective_from="2026-01-01T00:00Z"), "effective_from"),
    ],
)
def test_model_price_fields_are_checked(build, field):
    """Each field of a price refuses a value of the wrong kind with an InvalidValueError."""
    with pytest.raises(InvalidValueError) as caught:
        build()
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_a_fast_tier_needs_fast_rates():
    """fast_long_context is a tier of fast mode: without fast rates it has nothing to tier."""
    with pytest.raises(InvalidValueError, match="needs fast") as caught:
        ModelPrice(ONE, fast_long_context=ContextTier(10, ONE))
    assert caught.value.field == "fast_long_context"


def test_a_model_needs_at_least_one_price():
    """ModelListing(prices=()) is an error."""
    with pytest.raises(InvalidValueError, match="at least one price"):
        ModelListing(())


def test_prices_must_be_model_prices():
    """A listing of something else is an error naming its position."""
    with pytest.raises(InvalidValueError, match=r"prices\[1\] must be a ModelPrice"):
        ModelListing((ModelPrice(ONE), "0.5"))


@pytest.mark.parametrize(
    "starts",
    [
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),  # out of order
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),  # the same instant
        (None, None),  # two undated prices
        (datetime(2026, 1, 1, tzinfo=UTC), None),  # undated after dated
        (None, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    ],
)
def test_prices_must_be_in_strictly_increasing_order(starts):
    """Versions are oldest first, each strictly later; only the first may be undated."""
    prices = tuple(ModelPrice(ONE, effective_from=start) for start in starts)
    with pytest.raises(InvalidValueError, match="must be later than the price before it"):
        ModelListing(prices)


def test_the_same_instant_in_two_zones_is_not_later():
    """00:00Z and 01:00+01:00 are one instant: the second price is not later."""
    first = ModelPrice(ONE, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    second = ModelPrice(
        ONE, effective_from=datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    )
    with pytest.raises(InvalidValueError):
        ModelListing((first, second))


@pytest.mark.parametrize("aliases", ["claude-x", [""], [5], 5])
def test_aliases_must_be_a_list_of_names(aliases):
    """One string is not a list of its characters; every alias is a non-empty string."""
    with pytest.raises(InvalidValueError) as caught:
        ModelListing((ModelPrice(ONE),), aliases=aliases)
    assert caught.value.field == "aliases"


def test_an_alias_may_name_only_one_model():
    """An alias shared by two models (or equal to another id) makes the table invalid."""
    listing = ModelListing((ModelPrice(ONE),), aliases=("shared",))
    with pytest.raises(InvalidValueError, match="is already a name of 'a'") as caught:
        PriceTable("t", {"a": listing, "b": listing})
    assert caught.value.value == "shared"
    with pytest.raises(InvalidValueError, match="is already a name of 'a'"):
        PriceTable(
            "t",
            {
                "a": ModelListing((ModelPrice(ONE),), aliases=("b",)),
                "b": ModelListing((ModelPrice(ONE),)),
            },
        )


def test_a_model_may_repeat_its_own_id_as_an_alias():
    """Listing a model's id among its aliases is harmless."""
    prices = PriceTable("t", {"a": ModelListing((ModelPrice(ONE),), aliases=("a", "a-1"))})
    assert prices.resolve("a-1") == "a"


@pytest.mark.parametrize("listing", [ModelPrice(ONE), "m", None, {"prices": []}])
def test_table_models_must_be_listings(listing):
    """models maps ids to ModelListing values."""
    with pytest.raises(InvalidValueError, match="must map a model id to a ModelListing"):
        PriceTable("t", {"m": listing})


@pytest.mark.parametrize("currency", ["usd", "US", "", None])
def test_table_currency_is_checked(currency):
    """The table's currency is an ISO 4217 code, checked on load rather than on first use."""
    with pytest.raises(InvalidValueError, match="three-letter ISO 4217"):
        PriceTable("t", {}, currency=currency)


def test_costs_are_in_the_table_currency(at):
    """A table in EUR rates in EUR."""
    prices = PriceTable("t", {"m": ModelListing((ModelPrice(ONE),))}, currency="EUR")
    assert prices.cost("m", TokenUsage(input_tokens=1_000_000), at) == Money(1, "EUR")


# --- loading files -----------------------------------------------------------------------------

TOML = """
version = "contract-2026"
currency = "USD"
source = "our contract"

[models."claude-sonnet-4-6"]
display_name = "Claude Sonnet 4.6"
aliases = ["sonnet"]

[[models."claude-sonnet-4-6".prices]]
us_only_multiplier = "1.1"

[models."claude-sonnet-4-6".prices.rates]
input = "2.70"
output = "13.50"
cache_write_5m = "3.375"
cache_write_1h = "5.40"
cache_read = "0.27"

[[models."claude-sonnet-4-6".prices]]
effective_from = 2026-11-01T00:00:00Z
us_only_multiplier = "1.1"
rates = { input = "2.40", output = "12", cache_write_5m = "3", cache_write_1h = "4.80", \
cache_read = "0.24" }
"""


def test_loads_the_documented_toml_shape(tmp_path, at):
    """A TOML file with [[models."id".prices]] tables loads; native TOML datetimes work."""
    path = tmp_path / "prices.toml"
    path.write_text(TOML, encoding="utf-8")
    prices = PriceTable.from_file(path)
    assert prices.version == "contract-2026"
    assert prices.resolve("sonnet") == "claude-sonnet-4-6"
    million = TokenUsage(input_tokens=1_000_000)
    assert prices.cost("sonnet", million, at) == Money("2.70")
    assert prices.cost("sonnet", million, datetime(2026, 11, 1, tzinfo=UTC)) == Money("2.40")
    assert prices.cost("sonnet", million, at, us_only=True) == Money("2.97")  # 2.70 x 1.1
    assert PriceTable.from_file(str(path)) == prices  # a str path works too


def test_toml_float_rates_and_naive_datetimes_are_refused(tmp_path):
    """input = 2.70 (a TOML float) and a local datetime are listed as problems with paths."""
    text = TOML.replace('input = "2.70"', "input = 2.70").replace(
        "2026-11-01T00:00:00Z", "2026-11-01T00:00:00"
    )
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        PriceTable.from_file(path)
    assert caught.value.source == str(path)
    assert [where for where, _ in caught.value.problems] == [
        "$.models['claude-sonnet-4-6'].prices[0].rates.input",
        "$.models['claude-sonnet-4-6'].prices[1].effective_from",
    ]


def test_loads_json_files_and_round_trips(tmp_path, table):
    """A JSON file of to_dict() loads back equal; any suffix but .toml is read as JSON."""
    for name in ("prices.json", "prices.txt"):
        path = tmp_path / name
        path.write_text(json.dumps(table.to_dict()), encoding="utf-8")
        assert PriceTable.from_file(path) == table


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.json", b'{"version": "x", "models": {'),
        ("bad.toml", b'version = "x"\nmodels = ['),
        ("bad.json", b"\xff\xfe not utf-8"),
        ("bad.toml", b"\xff\xfe not utf-8"),
    ],
)
def test_a_file_that_does_not_parse_is_a_load_error(tmp_path, name, content):
    """Broken JSON or TOML, or bytes that are not UTF-8: LoadError naming the file."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as caught:
        PriceTable.from_file(path)
    assert caught.value.source == str(path)
    assert isinstance(caught.value, ValueError)


def test_a_missing_file_is_the_usual_os_error(tmp_path):
    """A missing file is FileNotFoundError, as with open()."""
    with pytest.raises(FileNotFoundError):
        PriceTable.from_file(tmp_path / "nope.json")


# --- the built-in table ------------------------------------------------------------------------


def test_the_builtin_table_is_loaded_once(table):
    """builtin() is cached: the same table every time."""
    assert PriceTable.builtin() is table
    assert table.currency == "USD"
    assert table.version


def test_builtin_haiku_3_matches_the_list(table):
    """Haiku 3: $0.25 in, $1.25 out, $0.30 5-minute, $0.50 1-hour, $0.03 read; no extras."""
    (price,) = table.models[HAIKU_3].prices
    assert price.rates == Rates(
        input="0.25", output="1.25", cache_write_5m="0.30", cache_write_1h="0.50", cache_read="0.03"
    )
    assert price.long_context is None
    assert price.fast is None
    assert price.us_only_multiplier is None
    assert price.web_search_per_1k == Decimal(10)


def test_builtin_modifier_offers(table):
    """US-only x1.1 from the 4.6 models on; fast rates only where listed; web search $10."""
    us_only = {m for m, listing in table.models.items() if listing.prices[-1].us_only_multiplier}
    assert {SONNET_46, "claude-opus-4-6", SONNET_55, OPUS_55, HAIKU_55} <= us_only
    assert not us_only & {SONNET_45, OPUS_41, HAIKU_3, "claude-haiku-4-5-20251001"}
    for listing in table.models.values():
        for price in listing.prices:
            assert price.us_only_multiplier in (None, Decimal("1.1"))
            assert price.web_search_per_1k == Decimal(10)
    fast = {m for m, listing in table.models.items() if listing.prices[-1].fast is not None}
    assert OPUS_55 in fast
    assert SONNET_46 not in fast


def test_builtin_context_tiers(table):
    """Haiku 5.5 splits at 100,000; Sonnet 4 and 4.5 at 200,000; Sonnet 4.6 has no tier."""
    thresholds = {
        model_id: listing.prices[-1].long_context.above_prompt_tokens
        for model_id, listing in table.models.items()
        if listing.prices[-1].long_context is not None
    }
    assert thresholds == {
        HAIKU_55: 100_000,
        SONNET_45: 200_000,
        "claude-sonnet-4-20250514": 200_000,
    }


def test_builtin_retired_models_stay_listed(table):
    """Retired models keep their prices (old months can be billed) and say when they retired."""
    assert table.models[HAIKU_3].retired == date(2026, 4, 20)
    assert table.models[SONNET_46].retired is None


def test_the_data_file_is_exactly_the_table(table):
    """to_dict() of the built-in table is the shipped JSON: no field lost or added on load."""
    text = (
        resources.files("usagebill.pricing").joinpath("data/claude_prices.json").read_text("utf-8")
    )
    assert table.to_dict() == json.loads(text)


def test_zero_usage_costs_zero_on_every_builtin_model(table, at):
    """An empty usage costs exactly zero, whatever the model and its offered modifiers."""
    for model_id, listing in table.models.items():
        price = listing.price_at(at)
        for flags in ({}, {"batch": True}):
            assert table.cost(model_id, TokenUsage(), at, **flags) == Money(0)
        if price.us_only_multiplier is not None:
            assert table.cost(model_id, TokenUsage(), at, us_only=True).is_zero()
        if price.fast is not None:
            assert table.cost(model_id, TokenUsage(), at, fast=True).is_zero()


# --- properties --------------------------------------------------------------------------------

BUILTIN = PriceTable.builtin()
AT = datetime(2026, 10, 15, 12, tzinfo=UTC)
MODEL_IDS = sorted(BUILTIN.models)
CATEGORIES = [field.name for field in attrs.fields(TokenUsage)]


@st.composite
def builtin_request(draw, max_tokens=2_000_000):
    """A built-in model, a usage and modifiers that model offers."""
    model_id = draw(st.sampled_from(MODEL_IDS))
    price = BUILTIN.price(model_id, AT)
    return model_id, draw(token_usages(max_tokens)), draw(modifiers(offered_by=price))


@st.composite
def below_tier_pair(draw):
    """A built-in model and two usages whose sum stays at or below the model's tier."""
    model_id = draw(st.sampled_from(MODEL_IDS))
    price = BUILTIN.price(model_id, AT)
    tier = price.long_context
    # Four prompt categories of at most T / 8 each: a and b at most T / 2, a + b at most T.
    limit = 2_000_000 if tier is None else tier.above_prompt_tokens // 8
    mods = draw(modifiers(offered_by=price))
    return model_id, draw(token_usages(limit)), draw(token_usages(limit)), mods


@given(below_tier_pair())
def test_cost_of_a_sum_is_the_sum_of_costs(case):
    """cost(a + b) == cost(a) + cost(b), exactly, when no tier boundary lies between."""
    model_id, a, b, mods = case
    flags = attrs.asdict(mods)
    assert BUILTIN.cost(model_id, a + b, AT, **flags) == BUILTIN.cost(
        model_id, a, AT, **flags
    ) + BUILTIN.cost(model_id, b, AT, **flags)


@given(builtin_request(), st.sampled_from(CATEGORIES), st.integers(1, 500_000))
def test_cost_never_falls_when_a_count_rises(request, category, extra):
    """Adding tokens of any category never lowers the cost (tiers only raise rates)."""
    model_id, usage, mods = request
    more = attrs.evolve(usage, **{category: getattr(usage, category) + extra})
    flags = attrs.asdict(mods)
    assert BUILTIN.cost(model_id, more, AT, **flags) >= BUILTIN.cost(model_id, usage, AT, **flags)


@given(builtin_request())
def test_cost_equals_the_exact_formula(request):
    """cost == sum(count x rate) / 10**6 (x modifiers) + searches x 10 / 1000, as fractions."""
    model_id, usage, mods = request
    price = BUILTIN.price(model_id, AT)
    cost = BUILTIN.cost(model_id, usage, AT, **attrs.asdict(mods))
    assert Fraction(cost.amount) == reference_cost(price, usage, mods)


@settings(max_examples=max(10, settings().max_examples // 2))  # whole tables: slow to draw
@given(price_tables(max_models=3), st.data())
def test_any_table_rates_exactly(prices, data):
    """For any drawn table, model, instant, usage and offered modifiers: the exact formula."""
    assume(prices.models)
    model_id = data.draw(st.sampled_from(sorted(prices.models)))
    listing = prices.models[model_id]
    starts = [p.effective_from for p in listing.prices if p.effective_from is not None]
    when = data.draw(st.sampled_from([*starts, datetime(2036, 1, 1, tzinfo=UTC)]))
    price = listing.price_at(when)
    if when in starts:  # exactly at a change: the new price applies
        assert price.effective_from == when
    usage = data.draw(token_usages())
    mods = data.draw(modifiers(offered_by=price))
    name = data.draw(st.sampled_from([model_id, *listing.aliases]))
    quote = prices.quote(name, usage, when, mods)
    assert quote.amount.currency == prices.currency
    assert Fraction(quote.amount.amount) == reference_cost(price, usage, mods)
    assert prices.cost(name, TokenUsage(), when, **attrs.asdict(mods)).is_zero()


@given(builtin_request())
def test_rating_twice_gives_the_same_amount(request):
    """The memoised compiled rates change nothing: a second rating is identical."""
    model_id, usage, mods = request
    flags = attrs.asdict(mods)
    assert BUILTIN.cost(model_id, usage, AT, **flags) == BUILTIN.cost(model_id, usage, AT, **flags)


def test_errors_are_usagebill_errors(table, at):
    """Every rating error above is a UsageBillError, so one except clause catches them all."""
    for call in (
        lambda: table.cost("nope", MIXED, at),
        lambda: table.cost(SONNET_46, MIXED, at, fast=True),
        lambda: table.cost(SONNET_46, MIXED, datetime(2026, 1, 1)),
    ):
        with pytest.raises(UsageBillError):
            call()


# --- upper bounds: what a ledger holds before a request runs --------------------------------


def test_upper_bound_prices_the_whole_output_allowance(table, at):
    """The bound is the prompt plus max_output_tokens of output, at the prompt's tier."""
    prompt = TokenUsage(input_tokens=150_000, cache_read_tokens=60_000)
    bound = table.upper_bound("claude-sonnet-4-5", prompt, max_output_tokens=4_000, at=at)
    # 210,000 prompt tokens > 200,000: every token at the long-context rates.
    # 150,000 x 6 + 60,000 x 0.60 + 4,000 x 22.50 per million = 0.9 + 0.036 + 0.09
    assert bound == Money("1.026")


def test_upper_bound_counts_searches_and_modifiers(table, at):
    """Web searches and modifiers enter the bound like they enter the cost."""
    prompt = TokenUsage(input_tokens=1_000_000)
    bound = table.upper_bound(
        "claude-sonnet-4-6",
        prompt,
        max_output_tokens=0,
        max_web_searches=2,
        at=at,
        modifiers=Modifiers(batch=True, us_only=True),
    )
    assert bound == Money("1.65") + Money("0.02")  # 3 x 0.5 x 1.1 + 2 searches at $10/1,000


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_output_tokens", -1), ("max_output_tokens", 1.5), ("max_web_searches", True)],
)
def test_upper_bound_refuses_bad_limits(table, at, field, value):
    """A negative, fractional or boolean limit is an InvalidValueError naming it."""
    limits = {"max_output_tokens": 10, "max_web_searches": 0, field: value}
    with pytest.raises(InvalidValueError, match=field):
        table.upper_bound("claude-sonnet-4-6", TokenUsage(), at=at, **limits)


@given(
    prompt=token_usages(max_tokens=300_000),
    output=st.integers(0, 64_000),
    searches=st.integers(0, 5),
    model=st.sampled_from(["claude-sonnet-4-5", "claude-haiku-5-5", "claude-opus-4-6"]),
)
def test_no_outcome_costs_more_than_its_upper_bound(prompt, output, searches, model):
    """Any response within the limits costs at most the bound (rating is monotone)."""
    table, at = PriceTable.builtin(), datetime(2026, 10, 15, tzinfo=UTC)
    bound = table.upper_bound(model, prompt, max_output_tokens=64_000, max_web_searches=5, at=at)
    outcome = attrs.evolve(prompt, output_tokens=output, web_search_requests=searches)
    assert table.cost(model, outcome, at) <= bound
