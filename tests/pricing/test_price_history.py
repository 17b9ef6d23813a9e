"""Price history: the 4.6 premium before 1M GA, fast-mode tiers, provenance, the data's own rules.

Rates are per million tokens; every cost below is worked by hand in the comments
(count x rate / 10**6, summed).
"""

import json
import re
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import attrs
import pytest

from builders import event, member, organization
from usagebill import (
    BillingPeriod,
    ContextTier,
    Derivation,
    InvalidValueError,
    ModelListing,
    ModelPrice,
    Modifiers,
    Money,
    PriceTable,
    Rates,
    TokenUsage,
    build_invoice,
)
from usagebill.analysis.whatif import ChangeModelPrice, Scenario, whatif

OPUS_46 = "claude-opus-4-6"
SONNET_46 = "claude-sonnet-4-6"
GA = datetime(2026, 3, 13, tzinfo=UTC)  # 1M context GA for the 4.6 models, taken as 00:00 UTC
BEFORE_GA = datetime(2026, 3, 1, 12, tzinfo=UTC)
AFTER_GA = datetime(2026, 3, 20, 12, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 20, 9, tzinfo=UTC)

#: A 220,000-token prompt (150,000 in + 20,000 5m + 10,000 1h writes + 40,000 reads), 5,000 out.
LONG = TokenUsage(
    input_tokens=150_000,
    cache_write_5m_tokens=20_000,
    cache_write_1h_tokens=10_000,
    cache_read_tokens=40_000,
    output_tokens=5_000,
)

ROOT = Path(__file__).parents[2]
#: The team's price research: shared/prices beside the checkout (or beside its worktree folder).
RESEARCH = next(
    (
        folder
        for folder in (ROOT.parent / "shared" / "prices", ROOT.parent.parent / "shared" / "prices")
        if (folder / "claude_prices.json").exists()
    ),
    ROOT.parent / "shared" / "prices",
)

ONE = Rates(input="1", output="1", cache_write_5m="1", cache_write_1h="1", cache_read="1")


# --- the premium before GA, standard after: hand-worked ----------------------------------------


def test_opus_4_6_premium_before_ga(table):
    """2026-03-01, prompt 220,000 > 200,000: every token at $10 / $37.50 / $12.50 / $20 / $1.

    150,000 x 10 = 1.5; 20,000 x 12.50 = 0.25; 10,000 x 20 = 0.2; 40,000 x 1 = 0.04;
    5,000 x 37.50 = 0.1875: total 2.1775.
    """
    assert LONG.prompt_tokens == 220_000
    assert table.cost(OPUS_46, LONG, BEFORE_GA) == Money("2.1775")
    assert table.quote(OPUS_46, LONG, BEFORE_GA).in_tier


def test_opus_4_6_standard_after_ga(table):
    """2026-03-20, the same request at $5 / $25 / $6.25 / $10 / $0.50 over the whole 1M window.

    150,000 x 5 = 0.75; 20,000 x 6.25 = 0.125; 10,000 x 10 = 0.1; 40,000 x 0.50 = 0.02;
    5,000 x 25 = 0.125: total 1.12.
    """
    assert table.cost(OPUS_46, LONG, AFTER_GA) == Money("1.12")
    assert not table.quote(OPUS_46, LONG, AFTER_GA).in_tier


def test_sonnet_4_6_premium_before_ga_and_standard_after(table):
    """Sonnet 4.6: $6 / $22.50 / $7.50 / $12 / $0.60 before GA, $3 / $15 / … after.

    Before: 150,000 x 6 = 0.9; 20,000 x 7.50 = 0.15; 10,000 x 12 = 0.12; 40,000 x 0.60 = 0.024;
    5,000 x 22.50 = 0.1125: total 1.3065. Batch halves it: 0.65325.
    After: 0.45 + 0.075 + 0.06 + 0.012 + 0.075 = 0.672.
    """
    assert table.cost(SONNET_46, LONG, BEFORE_GA) == Money("1.3065")
    assert table.cost(SONNET_46, LONG, BEFORE_GA, batch=True) == Money("0.65325")
    assert table.cost(SONNET_46, LONG, AFTER_GA) == Money("0.672")


def test_the_change_is_at_midnight_utc_on_march_13(table):
    """The last microsecond of March 12 (UTC) is premium; 00:00 UTC on March 13 is standard."""
    assert table.cost(OPUS_46, LONG, GA - timedelta(microseconds=1)) == Money("2.1775")
    assert table.cost(OPUS_46, LONG, GA) == Money("1.12")


def test_exactly_200k_before_ga_is_standard(table):
    """Sonnet 4.6 on 2026-03-01, prompt exactly 200,000 (100,000 in + 50,000 5m + 50,000 read).

    Standard: 100,000 x 3 = 0.3; 50,000 x 3.75 = 0.1875; 50,000 x 0.30 = 0.015;
    2,000 out x 15 = 0.03: total 0.5325.
    One more input token (200,001), all at the premium: 100,001 x 6 = 0.600006;
    50,000 x 7.50 = 0.375; 50,000 x 0.60 = 0.03; 2,000 x 22.50 = 0.045: total 1.050006.
    """
    at_threshold = TokenUsage(
        input_tokens=100_000,
        cache_write_5m_tokens=50_000,
        cache_read_tokens=50_000,
        output_tokens=2_000,
    )
    assert at_threshold.prompt_tokens == 200_000
    assert table.cost(SONNET_46, at_threshold, BEFORE_GA) == Money("0.5325")
    one_over = attrs.evolve(at_threshold, input_tokens=100_001)
    assert table.cost(SONNET_46, one_over, BEFORE_GA) == Money("1.050006")


def test_cache_reads_count_toward_the_premium_and_pay_it(table):
    """Opus 4.6 on 2026-03-01: 1,000 in + 250,000 reads = 251,000 > 200,000, 1,000 out.

    Premium: 1,000 x 10 = 0.01; 250,000 x 1.00 = 0.25; 1,000 x 37.50 = 0.0375: total 0.2975
    (at standard rates it would be 0.005 + 0.125 + 0.025 = 0.155).
    """
    reads = TokenUsage(input_tokens=1_000, cache_read_tokens=250_000, output_tokens=1_000)
    assert table.cost(OPUS_46, reads, BEFORE_GA) == Money("0.2975")
    assert table.cost(OPUS_46, reads, AFTER_GA) == Money("0.155")
    assert table.quote(OPUS_46, reads, BEFORE_GA).rates.cache_read == 1


# --- fast mode with tiers of its own ------------------------------------------------------------


def test_opus_4_6_fast_mode_below_200k(table):
    """February 2026, fast, prompt 150,000 (100,000 in + 50,000 reads), 2,000 out.

    Fast up to 200K: $30 / $150, reads 0.1 x 30 = $3: 100,000 x 30 = 3; 50,000 x 3 = 0.15;
    2,000 x 150 = 0.3: total 3.45.
    """
    usage = TokenUsage(input_tokens=100_000, cache_read_tokens=50_000, output_tokens=2_000)
    assert table.cost(OPUS_46, usage, FEBRUARY, fast=True) == Money("3.45")
    assert not table.quote(OPUS_46, usage, FEBRUARY, Modifiers(fast=True)).in_tier


def test_opus_4_6_fast_mode_at_exactly_200k(table):
    """Prompt exactly 200,000 (150,000 in + 50,000 reads): the lower fast tier.

    150,000 x 30 = 4.5; 50,000 x 3 = 0.15; 2,000 x 150 = 0.3: total 4.95.
    """
    usage = TokenUsage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=2_000)
    assert table.cost(OPUS_46, usage, FEBRUARY, fast=True) == Money("4.95")


def test_opus_4_6_fast_mode_above_200k(table):
    """Prompt 250,000 (200,000 in + 50,000 reads), fast: $60 / $225, reads 0.1 x 60 = $6.

    200,000 x 60 = 12; 50,000 x 6 = 0.3; 2,000 x 225 = 0.45: total 12.75.
    US-only multiplies every rate by 1.1: 14.025.
    """
    usage = TokenUsage(input_tokens=200_000, cache_read_tokens=50_000, output_tokens=2_000)
    assert table.cost(OPUS_46, usage, FEBRUARY, fast=True) == Money("12.75")
    assert table.cost(OPUS_46, usage, FEBRUARY, fast=True, us_only=True) == Money("14.025")
    quote = table.quote(OPUS_46, usage, FEBRUARY, Modifiers(fast=True))
    assert quote.in_tier
    assert quote.rates == Rates(
        input="60", output="225", cache_write_5m="75", cache_write_1h="120", cache_read="6.00"
    )


def test_opus_4_6_fast_mode_after_ga_has_one_rate(table):
    """From 2026-03-13 (an assumption, see the notes) fast mode is $30 / $150 at any length.

    200,000 x 30 = 6; 50,000 x 3 = 0.15; 2,000 x 150 = 0.3: total 6.45.
    """
    usage = TokenUsage(input_tokens=200_000, cache_read_tokens=50_000, output_tokens=2_000)
    assert table.cost(OPUS_46, usage, AFTER_GA, fast=True) == Money("6.45")


def test_each_mode_has_its_own_threshold(at):
    """Standard tiers above 100 prompt tokens, fast above 1,000: 500 is in one tier only.

    Standard: 500 x 2 = 0.001 (tier $2). Fast: 500 x 3 = 0.0015 (base $3, not the $9 tier).
    """
    price = ModelPrice(
        ONE,
        long_context=ContextTier(100, attrs.evolve(ONE, input="2")),
        fast=attrs.evolve(ONE, input="3"),
        fast_long_context=ContextTier(1_000, attrs.evolve(ONE, input="9")),
    )
    prices = PriceTable("t", {"m": ModelListing((price,))})
    usage = TokenUsage(input_tokens=500)
    assert price.in_tier(usage)
    assert not price.in_tier(usage, fast=True)
    assert price.tier(fast=True) is price.fast_long_context
    assert prices.cost("m", usage, at) == Money("0.001")
    assert prices.cost("m", usage, at, fast=True) == Money("0.0015")
    # 1,001 tokens: fast's own tier, 1,001 x 9 = 0.009009.
    assert prices.cost("m", TokenUsage(input_tokens=1_001), at, fast=True) == Money("0.009009")
    assert prices.amount("m", usage, at, Modifiers(fast=True)) == 3 * 500 / Money(10**6).amount


def test_a_fast_tier_without_a_standard_tier(at):
    """Any combination: fast tiered while standard is flat."""
    price = ModelPrice(
        ONE, fast=ONE, fast_long_context=ContextTier(10, attrs.evolve(ONE, input="5"))
    )
    usage = TokenUsage(input_tokens=11)
    assert not price.in_tier(usage)
    assert price.in_tier(usage, fast=True)
    assert price.rates_for(Modifiers(fast=True), in_tier=True).input == 5


def test_a_month_across_ga_bills_on_two_versions_and_names_them():
    """A March 2026 invoice: premium requests before GA, standard after, fast in its own tier.

    ada (Opus 4.6): LONG on Mar 1 = 2.1775 and on Mar 20 = 1.12 (see above);
    fast 250,000-prompt on Mar 5 = 12.75. Lines are split by version, tier and modifiers.
    """
    org = organization(member("ada", role="primary_owner"), at=datetime(2026, 2, 1, tzinfo=UTC))
    fast_usage = TokenUsage(input_tokens=200_000, cache_read_tokens=50_000, output_tokens=2_000)
    events = [
        event("e1", "ada", OPUS_46, at=BEFORE_GA, usage=LONG),
        event("e2", "ada", OPUS_46, at=AFTER_GA, usage=LONG),
        event(
            "e3", "ada", OPUS_46, at=datetime(2026, 3, 5, tzinfo=UTC),
            modifiers=Modifiers(fast=True), usage=fast_usage,
        ),
    ]  # fmt: skip
    invoice = build_invoice(org, events, BillingPeriod.of("2026-03"))
    lines = {
        (line.price_from, line.in_tier, line.modifiers.fast): line.exact
        for line in invoice.usage_lines
    }
    assert lines == {
        (None, True, False): Money("2.1775"),
        (None, True, True): Money("12.75"),
        (GA, False, False): Money("1.12"),
    }
    descriptions = sorted(line.description for line in invoice.usage_lines)
    assert descriptions == [
        "claude-opus-4-6, chat (fast, long-context tier)",
        "claude-opus-4-6, chat (long-context tier)",
        "claude-opus-4-6, chat (price from 2026-03-13)",
    ]
    # 2.18 + 12.75 + 1.12 = 16.05
    assert invoice.usage_total == Money("16.05")


# --- provenance ----------------------------------------------------------------------------------


def test_provenance_before_ga(table):
    """Opus 4.6 on 2026-03-01: version 1 of 2, until GA; input and output listed, cache derived."""
    where = table.provenance(OPUS_46, BEFORE_GA)
    assert (where.model, where.display_name) == (OPUS_46, "Claude Opus 4.6")
    assert (where.version, where.versions) == (1, 2)
    assert (where.effective_from, where.effective_until) == (None, GA)
    assert "genai-prices" in where.source
    assert "1m-context-ga" in where.source
    assert where.as_of == "2026-12-01"
    assert where.confidence.startswith("medium")
    assert "00:00 UTC is assumed" in where.notes
    assert where.price is table.models[OPUS_46].prices[0]
    by_name = {figure.name: figure for figure in where.figures}
    assert len(by_name) == 20  # 4 parts (standard, its tier, fast, its tier) x 5 categories
    listed = sorted(name for name, figure in by_name.items() if figure.listed)
    assert listed == sorted(
        [
            *(
                f"{part}.{category}"
                for part in ("rates", "long_context", "fast", "fast_long_context")
                for category in ("input", "output")
            ),
            "rates.cache_read",
            "rates.cache_write_1h",
            "rates.cache_write_5m",
        ]
    )
    read = by_name["long_context.cache_read"]
    assert (read.mode, read.above_prompt_tokens, read.category) == (
        "standard",
        200_000,
        "cache_read",
    )
    assert read.rate == 1
    assert read.derivation is not None
    assert read.derivation.describe() == "0.1 x long_context.input (cache reads cost 0.1x input)"
    fast = by_name["fast_long_context.output"]
    assert (fast.mode, fast.above_prompt_tokens, fast.rate, fast.listed) == (
        "fast",
        200_000,
        225,
        True,
    )


def test_provenance_after_ga(table):
    """Opus 4.6 on 2026-03-20: version 2 of 2, from GA, still in force; no tier any more."""
    where = table.provenance("claude-opus-4-6", AFTER_GA)
    assert (where.version, where.versions) == (2, 2)
    assert (where.effective_from, where.effective_until) == (GA, None)
    assert all(figure.above_prompt_tokens is None for figure in where.figures)
    assert {f.name for f in where.figures if not f.listed} == {
        "fast.cache_write_5m",
        "fast.cache_write_1h",
        "fast.cache_read",
    }


def test_provenance_by_alias_and_of_a_model_with_one_version(table, at):
    """An alias resolves; a model with one price is version 1 of 1, open at both ends."""
    where = table.provenance("claude-haiku-4-5", at)
    assert where.model == "claude-haiku-4-5-20251001"
    assert (where.version, where.versions, where.effective_from, where.effective_until) == (
        1,
        1,
        None,
        None,
    )
    assert all(figure.listed for figure in where.figures)
    assert where.confidence.startswith("high")


# --- derived figures: flagged, with a rule that holds ---------------------------------------------

TIER = ContextTier(
    200_000,
    Rates(input="6", output="22.50", cache_write_5m="7.50", cache_write_1h="12", cache_read="0.60"),
)


def test_a_derived_figure_must_follow_its_rule():
    """7.50 = 1.25 x 6 holds; 0.61 = 0.1 x 6 does not, and the error names the figure."""
    good = Derivation(of="long_context.input", times="1.25", rule="5-minute writes")
    price = ModelPrice(ONE, long_context=TIER, derived={"long_context.cache_write_5m": good})
    assert price.derived["long_context.cache_write_5m"].times == 1.25
    wrong = attrs.evolve(TIER, rates=attrs.evolve(TIER.rates, cache_read="0.61"))
    rule = Derivation(of="long_context.input", times="0.1")
    with pytest.raises(InvalidValueError, match=r"must equal 0\.1 x long_context\.input = 0\.6"):
        ModelPrice(ONE, long_context=wrong, derived={"long_context.cache_read": rule})


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"fast.cache_read": Derivation(of="rates.input", times="0.1")}, "names a figure"),
        ({"rates.cache_read": Derivation(of="fast.input", times="0.1")}, "names a figure"),
        ({"rates.cached": Derivation(of="rates.input", times="0.1")}, "must name a figure"),
        ({"rates.cache_read": "0.1 x input"}, "must be a Derivation"),
        ("rates.cache_read", "must map figure names"),
    ],
)
def test_derived_entries_are_checked(derived, message):
    """A derivation of a missing part, an unknown figure or a bare string is refused."""
    with pytest.raises(InvalidValueError, match=message):
        ModelPrice(ONE, derived=derived)


@pytest.mark.parametrize("of", ["input", "rates.inputs", "standard.input", 5])
def test_a_derivation_names_a_figure(of):
    """``of`` is part.category."""
    with pytest.raises(InvalidValueError, match="must name a figure") as caught:
        Derivation(of=of, times="1")
    assert caught.value.field == "of"


def test_figure_looks_up_by_name():
    """figure() gives a rate, or None for a part the price lacks; a bad name is an error."""
    price = ModelPrice(ONE, long_context=TIER)
    assert price.figure("long_context.output") == TIER.rates.output
    assert price.figure("fast.input") is None
    with pytest.raises(InvalidValueError, match=r"part\.category"):
        price.figure("output")


def test_derived_figures_round_trip_through_a_table_file(tmp_path, at):
    """A user's table can flag derived figures too; the JSON form loads back equal."""
    rule = Derivation(of="long_context.input", times="0.1", rule="cache reads are 0.1x input")
    prices = PriceTable(
        "mine",
        {
            "m": ModelListing(
                (ModelPrice(ONE, long_context=TIER, derived={"long_context.cache_read": rule}),)
            )
        },
    )
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(prices.to_dict()), encoding="utf-8")
    assert PriceTable.from_file(path) == prices
    assert not PriceTable.from_file(path).provenance("m", at).figures[-1].listed


def test_a_what_if_price_drops_the_derivations():
    """New what-if tier rates are the scenario's own: 0.5 is not 0.1 x 4, and that is fine.

    Sonnet 4.5 (one version, a tier with derived cache rates), LONG in its tier at the
    what-if tier rates $4 / $15 / $5 / $8 / $0.50: 150,000 x 4 = 0.6; 20,000 x 5 = 0.1;
    10,000 x 8 = 0.08; 40,000 x 0.50 = 0.02; 5,000 x 15 = 0.075: total 0.875 → 0.88.
    """
    org = organization(member("ada", role="primary_owner"), at=datetime(2026, 2, 1, tzinfo=UTC))
    long = event("e1", "ada", "claude-sonnet-4-5", at=BEFORE_GA, usage=LONG)
    cheaper = Rates(
        input="2", output="10", cache_write_5m="2.5", cache_write_1h="4", cache_read="0.2"
    )
    tier = Rates(input="4", output="15", cache_write_5m="5", cache_write_1h="8", cache_read="0.50")
    scenario = Scenario((ChangeModelPrice("claude-sonnet-4-5", cheaper, long_context=tier),))
    result = whatif(org, [long], BillingPeriod.of("2026-03"), scenario)
    assert result.invoice.usage_total == Money("0.88")
    (line,) = result.invoice.usage_lines
    assert line.in_tier


# --- the built-in data: provenance on every row, versions that tile time ------------------------


def _builtin_json():
    text = (
        resources.files("usagebill.pricing").joinpath("data/claude_prices.json").read_text("utf-8")
    )
    return json.loads(text)


def test_every_builtin_version_has_a_source_an_as_of_date_and_a_confidence():
    """source non-empty, as_of YYYY-MM or YYYY-MM-DD, confidence high / medium / low …"""
    for model_id, model in _builtin_json()["models"].items():
        for position, price in enumerate(model["prices"]):
            where = f"{model_id} version {position + 1}"
            assert price["source"].strip(), where
            assert re.fullmatch(r"20\d\d-[01]\d(-[0-3]\d)?", price["as_of"]), where
            date.fromisoformat(
                price["as_of"] if len(price["as_of"]) == 10 else price["as_of"] + "-01"
            )
            assert re.match(r"(high|medium|low)\b", price["confidence"]), where


def test_builtin_versions_never_overlap_or_leave_a_gap(table):
    """Per model: the first version covers the model from its release, each next one starts
    strictly later (no overlap), and each ends exactly where the next begins (no gap)."""
    for model_id, model in _builtin_json()["models"].items():
        starts = [price["effective_from"] for price in model["prices"]]
        assert starts[0] is None, f"{model_id}: a gap before its first dated version"
        instants = [datetime.fromisoformat(start) for start in starts[1:]]
        assert all(start.utcoffset() is not None for start in instants), model_id
        assert instants == sorted(set(instants)), f"{model_id}: versions overlap"
        listing = table.models[model_id]
        for position, start in enumerate(instants, start=1):
            assert listing.effective_until(position - 1) == start
            assert listing.version_at(start - timedelta(microseconds=1)) == position - 1
            assert listing.version_at(start) == position
        assert listing.effective_until(len(starts) - 1) is None


def test_every_derived_builtin_figure_says_why():
    """Each derived figure carries its rule in words, and its arithmetic holds (checked on load)."""
    table = PriceTable.from_dict(_builtin_json())
    derived = [
        (model_id, name, derivation)
        for model_id, listing in table.models.items()
        for price in listing.prices
        for name, derivation in price.derived.items()
    ]
    assert len(derived) >= 30
    for model_id, name, derivation in derived:
        assert derivation.rule, (model_id, name)
        assert name.endswith(("cache_write_5m", "cache_write_1h", "cache_read")), (model_id, name)


def test_the_4_6_history_in_the_builtin_table(table):
    """Both 4.6 models: a tiered version from release, then from GA one without a tier."""
    for model_id, threshold_rates in ((OPUS_46, ("10", "37.50")), (SONNET_46, ("6", "22.50"))):
        first, second = table.models[model_id].prices
        assert first.effective_from is None
        assert first.long_context is not None
        assert first.long_context.above_prompt_tokens == 200_000
        assert (str(first.long_context.rates.input), str(first.long_context.rates.output)) == (
            threshold_rates
        )
        assert second.effective_from == GA
        assert second.long_context is None
        assert first.rates == second.rates


def test_the_data_file_is_what_the_build_tool_makes():
    """build_price_data.py on the research and price_history.toml gives the shipped file."""
    if not (RESEARCH / "claude_prices.json").exists():
        pytest.skip(f"the price research is not at {RESEARCH}")
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(
        "build_price_data", ROOT / "tools" / "build_price_data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.build(RESEARCH, ROOT / "tools" / "price_history.toml") == _builtin_json()
