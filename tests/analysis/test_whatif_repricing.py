"""A what-if from the month's usage cube: exactly the what-if of its events, or no answer.

The property: for generated months (seat changes mid-day, a price change mid-month, tiers at
and over their threshold, failed requests, retries and conflicts, several time zones) and
generated scenarios (moved seats, new model prices from any instant, other price tables, a
flat plan), whenever :func:`repriced_cube` answers, its cube is the one the events make under
the scenario, and :func:`whatif_cube` gives the very what-if of re-billing the events.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import hypothesis
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from builders import OCTOBER, event, member, october, organization
from usage_months import MODELS, months
from usagebill import (
    BillingPeriod,
    ChangeCaps,
    ChangeModelPrice,
    ChangePrices,
    ConflictError,
    FlatPlan,
    Money,
    MoveSeats,
    Organization,
    PriceTable,
    Product,
    Rates,
    Scenario,
    SpendLimits,
    UsageBillError,
    UsageEvent,
    build_invoice,
    cli,
    whatif,
    whatif_cube,
)
from usagebill.analysis.whatif import Setting, repriced_cube
from usagebill.billing.cube import UsageCube
from usagebill.billing.engines.python import CubeBuilder
from usagebill.billing.invoice import price_cube
from usagebill.cli import main

BUILTIN = PriceTable.builtin()
RATES = Rates(Decimal(4), Decimal(21), Decimal("5.5"), Decimal(8), Decimal("0.4"))
PLAN = FlatPlan({"chat": Money("30"), "chat_claude_code": Money("60")}, Money("25"))


def _cube(org: Organization, period: BillingPeriod, prices: PriceTable, events) -> UsageCube:
    """The reference: the pure-Python engine over the events (conflicts resolved)."""
    builder = CubeBuilder(org, period, prices).add_all(events)
    if builder.pending:
        builder.resolve(events)
    return builder.cube()


# --- scenarios ------------------------------------------------------------------------------


def _table(model: str, change: str) -> PriceTable:
    """The built-in table with one model changed in one way."""
    model = BUILTIN.resolve(model)
    listing = BUILTIN.models[model]
    models = BUILTIN.models
    if change == "dropped":
        return PriceTable("variant", {k: v for k, v in models.items() if k != model})
    if change == "alias dropped":
        replaced = attrs.evolve(listing, aliases=())
    elif change == "newest version dropped" and len(listing.prices) > 1:
        replaced = attrs.evolve(listing, prices=listing.prices[:-1])
    elif change == "tier moved":
        replaced = attrs.evolve(
            listing,
            prices=tuple(
                price
                if price.long_context is None
                else attrs.evolve(
                    price,
                    long_context=attrs.evolve(
                        price.long_context,
                        above_prompt_tokens=price.long_context.above_prompt_tokens + 1,
                    ),
                )
                for price in listing.prices
            ),
        )
    else:  # "rates doubled": the same versions, dates and tiers
        replaced = attrs.evolve(
            listing,
            prices=tuple(
                attrs.evolve(price, rates=price.rates.scaled(Decimal(2)), derived={})
                for price in listing.prices
            ),
        )
    return PriceTable("variant", models.set(model, replaced))


@st.composite
def changes(draw, period: BillingPeriod) -> tuple:
    """A change, as a short spec (a price table would make a long repr): see ``_change``."""
    kind = draw(st.sampled_from(["move", "model price", "table"]))
    if kind == "move":
        members = draw(st.lists(st.sampled_from(["olga", "ada", "bob"]), min_size=1, unique=True))
        return (kind, tuple(members), draw(st.sampled_from(["chat", "chat_claude_code"])))
    model = draw(st.sampled_from(MODELS))
    if kind == "model price":
        start = period.start.astimezone(UTC)
        effective_from = draw(
            st.none()
            | st.sampled_from(
                [
                    start,
                    start - timedelta(days=3),
                    datetime(2026, 10, 7, tzinfo=UTC),  # Sonnet 5.5's own change
                    period.end.astimezone(UTC),
                ]
            )
            | st.integers(0, 27 * 86_400).map(lambda s: start + timedelta(seconds=s))
        )
        return (kind, model, effective_from)
    change = draw(
        st.sampled_from(
            ["rates doubled", "tier moved", "newest version dropped", "alias dropped", "dropped"]
        )
    )
    return (kind, model, change)


def _change(spec: tuple):
    kind, first, second = spec
    if kind == "move":
        return MoveSeats(first, second)
    if kind == "model price":
        return ChangeModelPrice(first, RATES, second)
    return ChangePrices(_table(first, second))


@st.composite
def what_ifs(draw):
    """A month, and the changes of a scenario (with a flat plan or not) as specs."""
    org, period, events = draw(months())
    specs = draw(st.lists(changes(period), min_size=1, max_size=3))
    try:
        _scenario(specs, plan=False).apply(org, BUILTIN)
    except UsageBillError:  # a change this month cannot take (a price before the first)
        reject()
    return org, period, events, specs, draw(st.booleans())


def _scenario(specs: list[tuple], *, plan: bool) -> Scenario:
    return Scenario((*map(_change, specs), *([PLAN] if plan else [])))


# --- the property ---------------------------------------------------------------------------


@given(what_ifs())
def test_a_repriced_cube_is_the_cube_of_the_events_under_the_scenario(case):
    org, period, events, specs, plan = case
    setting = _scenario(specs, plan=plan).apply(org, BUILTIN)
    cube = _cube(org, period, BUILTIN, events)
    repriced = repriced_cube(cube, Setting(org, BUILTIN), setting)
    try:
        expected = _cube(setting.org, period, setting.prices, events)
    except UsageBillError:
        # The events cannot be billed under the scenario: nor can the cube, unless the event
        # that cannot is one the cube set aside as a conflict; then the what-if stops there.
        if repriced is not None:
            with pytest.raises(ConflictError):
                price_cube(repriced, setting.org, setting.prices)
        return
    hypothesis.event("re-priced" if repriced is not None else "the events are needed")
    if repriced is not None:
        assert repriced == expected


@given(what_ifs())
def test_a_what_if_from_the_cube_is_the_what_if_of_the_events(case):
    org, period, events, specs, plan = case
    scenario = _scenario(specs, plan=plan)
    setting = scenario.apply(org, BUILTIN)
    first: dict[str, UsageEvent] = {}
    events = [e for e in events if first.setdefault(e.event_id, e) == e]  # no conflict left
    result = whatif_cube(org, _cube(org, period, BUILTIN, events), scenario, BUILTIN)
    hypothesis.event("re-priced" if result is not None else "the events are needed")
    if result is None:
        return  # the property above says when
    assert result.baseline.to_json() == build_invoice(org, events, period, BUILTIN).to_json()
    invoice = build_invoice(setting.org, events, period, setting.prices)
    assert result.invoice.to_json() == invoice.to_json()
    plan = scenario.flat_plan
    if plan is not None:
        assert result.comparison == plan.compare(
            org=setting.org, prices=setting.prices, period=period, invoice=invoice, allowed=[]
        )
    assert (result.denied, result.replayed, result.spend) == ((), False, None)
    assert whatif(org, events, period, scenario, BUILTIN) == result  # whatif() takes this path


# --- when the cube answers, and when it does not --------------------------------------------


def _events(model: str = "claude-sonnet-5-5", product: Product = Product.CHAT):
    """Ada's requests on Oct 3 and Oct 20: either side of Sonnet 5.5's price change (Oct 7)."""
    return [
        event(f"e{day}", "ada", model, product, october(day, 0), input_tokens=100_000)
        for day in (3, 20)
    ]


@pytest.mark.parametrize(
    "change",
    [
        MoveSeats(["ada"], "chat_claude_code"),
        ChangeModelPrice("claude-sonnet-5-5", RATES),
        ChangeModelPrice("claude-sonnet-5-5", RATES, datetime(2026, 10, 7, tzinfo=UTC)),
        ChangePrices(_table("claude-sonnet-5-5", "newest version dropped")),
        PLAN,
    ],
    ids=["move up", "whole period", "at the old change", "one price all month", "flat plan"],
)
def test_seat_moves_and_whole_prices_reprice_the_cube(change):
    org, events = organization(member("ada")), _events()
    scenario = Scenario((change,))
    result = whatif_cube(org, _cube(org, OCTOBER, BUILTIN, events), scenario)
    assert result is not None
    setting = scenario.apply(org, BUILTIN)
    assert result.invoice == build_invoice(setting.org, events, OCTOBER, setting.prices)


@pytest.mark.parametrize(
    ("change", "events"),
    [
        # Ada's Claude Code requests on a Chat seat: each one denied and listed.
        (MoveSeats(["ada"], "chat"), _events(product=Product.CLAUDE_CODE)),
        # A price from Oct 15 splits the version in force from Oct 7 by its requests' instants.
        (
            ChangeModelPrice("claude-sonnet-5-5", RATES, datetime(2026, 10, 15, tzinfo=UTC)),
            _events(),
        ),
        # Sonnet 4.5's tier threshold moved: the cube cannot tell which requests cross it.
        (ChangePrices(_table("claude-sonnet-4-5", "tier moved")), _events("claude-sonnet-4-5")),
        # The new table forgets Sonnet 4.5's alias: the cube keeps only the model's id, not
        # the name each request used.
        (
            ChangePrices(_table("claude-sonnet-4-5", "alias dropped")),
            _events("claude-sonnet-4-5-20250929"),
        ),
        (ChangeCaps(SpendLimits()), _events()),  # caps replayed: request by request
        (attrs.evolve(PLAN, overage="blocked"), _events()),
    ],
    ids=["not included", "new price mid-version", "tier moved", "alias", "caps", "blocked"],
)
def test_the_cube_does_not_answer_what_only_the_events_can(change, events):
    org = organization(member("ada"))
    cube = _cube(org, OCTOBER, BUILTIN, events)
    assert whatif_cube(org, cube, Scenario((change,))) is None
    whatif(org, events, OCTOBER, Scenario((change,)))  # the events still answer


def test_a_cube_of_another_organization_or_table_is_refused():
    org = organization(member("ada"))
    cube = _cube(org, OCTOBER, BUILTIN, _events())
    other = attrs.evolve(BUILTIN, version="other")
    with pytest.raises(UsageBillError, match="cube"):
        repriced_cube(cube, Setting(org, other), Setting(org, other))
    with pytest.raises(UsageBillError, match="cube"):
        whatif_cube(org, "cube", Scenario())
    assert whatif_cube(org, cube, Scenario()) == whatif(org, _events(), OCTOBER, Scenario())


# --- the command line -----------------------------------------------------------------------

EXAMPLES = Path(__file__).parents[2] / "examples"
UP_AND_CHEAPER = """\
name = "u-007 on Chat + Claude Code, Opus 5.5 cheaper"

[[move_seats]]
members = ["u-007"]
seat_type = "chat_claude_code"

[[model_prices]]
model = "claude-opus-5-5"
rates = { input = "4", output = "20", cache_write_5m = "5", cache_write_1h = "8", \
cache_read = "0.4" }

[flat_plan]
fees = { chat = "30", chat_claude_code = "75" }
allowance = "40"
"""


def _run(scenario: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["whatif", "--org", str(EXAMPLES / "org.toml"), "--scenario", str(scenario)]
    argv += ["--events", str(EXAMPLES / "usage-2026-10.jsonl"), "--period", "2026-10", *extra]
    return main(argv, out, err), out.getvalue(), err.getvalue()


def test_the_command_reprices_the_cube_without_listing_the_events(tmp_path, monkeypatch):
    """The events are read once, into the cube; never into a list of events."""
    scenario = tmp_path / "up.toml"
    scenario.write_text(UP_AND_CHEAPER)
    org = Organization.from_file(EXAMPLES / "org.toml")
    with (EXAMPLES / "usage-2026-10.jsonl").open() as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    expected = whatif(org, events, period, Scenario.from_file(scenario), BUILTIN).to_text()
    monkeypatch.setattr(cli, "_usage_events", None)  # calling it would fail
    status, out, _ = _run(scenario)
    assert status == 0
    assert out == expected
    assert "PLAN COMPARISON" in out


def test_when_the_cube_cannot_answer_the_events_are_read_again_and_skips_said_once(tmp_path):
    """The example downgrade denies Claude Code requests one by one: the events answer."""
    events = tmp_path / "events.jsonl"
    events.write_text((EXAMPLES / "usage-2026-10.jsonl").read_text() + "not json\n")
    out, err = io.StringIO(), io.StringIO()
    argv = ["whatif", "--org", str(EXAMPLES / "org.toml")]
    argv += ["--scenario", str(EXAMPLES / "scenario-downgrade.toml")]
    argv += ["--events", str(events), "--period", "2026-10", "--skip-invalid"]
    assert main(argv, out, err) == 0
    assert err.getvalue().count("skipped") == 1
    assert "DENIED REQUESTS: 690" in out.getvalue()
