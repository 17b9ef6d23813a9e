"""What-if bills: the same month's usage, billed under a changed scenario.

A finance or IT owner asks "what would October have cost if…": if these
members had held Chat seats instead of Chat + Claude Code, if the caps had been
lower, if a model had cost more, if we had been on a flat plan. Guesswork
answers that with a spreadsheet; :func:`whatif` answers it by re-billing the
period's *real* events, through the same code that bills them for real.

A :class:`Scenario` is a tuple of changes, each a frozen value, applied in
order and freely combined:

* :class:`MoveSeats` — these members hold another seat type (and add-ons) for
  the whole period: every moment they held any seat, they hold this one;
* :class:`ChangeCaps` — every cap replaced by another :class:`SpendLimits`;
* :class:`ChangePrices` — another price table; :class:`ChangeModelPrice` — one
  model's new rates, for the whole period or from an instant on;
* :class:`FlatPlan` — the billing model usage billing replaces: a fixed
  monthly fee per seat that includes a usage allowance per seat, overage
  priced at API rates or blocked. It is *compared* with the usage-billed
  invoice (:class:`PlanComparison`), not billed.

How caps are treated — the point that decides whether a what-if can be
trusted:

* **Without a cap change, caps are not replayed.** The real month already ran
  under the real caps; replaying them would only re-decide what was decided.
  So a scenario with no change reproduces the original invoice exactly, byte
  for byte (the property tests check it).
* **With** :class:`ChangeCaps` **(or** ``replay_caps=True`` **)**, the
  period's events are replayed in time order through
  :func:`~usagebill.caps.decision.decide` — the very decision the gateway makes —
  over a growing month-to-date spend, each request on the path of the seat its
  member held at that instant (:mod:`~usagebill.analysis.whatif.replay`).
  Requests it denies are listed (:attr:`WhatIf.denied`, with the binding level
  and the amount they carried) and left out of the what-if invoice.
* A member moved to a seat that does not include a product they used (Claude
  Code on a Chat seat) would have been denied those requests: they are listed
  as ``not_included`` and left out, with or without a cap replay.

The what-if invoice is an ordinary :class:`~usagebill.billing.invoice.Invoice` (same
lines, same rounding), so :func:`~usagebill.analysis.diff.diff` shows what changed.
A scenario that moves seats, changes prices or compares a flat plan (priced
overage) need not read the events again: :func:`whatif_cube` re-prices the month's
usage cube, made by any engine, whenever that gives exactly what re-billing the
events would (:mod:`~usagebill.analysis.whatif.repricing` says when), and answers
``None`` otherwise. Everything here is pure; :meth:`Scenario.from_file` is the one
function that reads files.

The package, one concept per module: :mod:`~usagebill.analysis.whatif.changes` (the
changes, each applying itself), :mod:`~usagebill.analysis.whatif.flatplan` (the flat
plan and its comparison), :mod:`~usagebill.analysis.whatif.scenario` (the scenario
and its loading; the file format in :mod:`~usagebill.analysis.whatif.scenario_file`),
:mod:`~usagebill.analysis.whatif.replay` (the cap replay),
:mod:`~usagebill.analysis.whatif.repricing` (the cube re-keyed for a scenario),
:mod:`~usagebill.analysis.whatif.result` (what a what-if answers), and :func:`whatif`
and :func:`whatif_cube` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from usagebill.accounts.organization import Organization
from usagebill.analysis.whatif.changes import (
    ChangeCaps,
    ChangeModelPrice,
    ChangePrices,
    MoveSeats,
    Setting,
)
from usagebill.analysis.whatif.flatplan import FlatPlan, Overage, PlanComparison, PlanRow
from usagebill.analysis.whatif.replay import not_included, replay
from usagebill.analysis.whatif.repricing import repriced_cube
from usagebill.analysis.whatif.result import DenialReason, DeniedRequest, DeniedTotal, WhatIf
from usagebill.analysis.whatif.scenario import Change, Scenario
from usagebill.billing.cube import UsageCube
from usagebill.billing.invoice import Invoice, InvoiceBuilder, price_cube
from usagebill.errors import InvalidValueError
from usagebill.events import UsageEvent, deduplicated_between
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable

__all__ = [
    "Change",
    "ChangeCaps",
    "ChangeModelPrice",
    "ChangePrices",
    "DenialReason",
    "DeniedRequest",
    "DeniedTotal",
    "FlatPlan",
    "MoveSeats",
    "Overage",
    "PlanComparison",
    "PlanRow",
    "Scenario",
    "Setting",
    "WhatIf",
    "repriced_cube",
    "whatif",
    "whatif_cube",
]


def _check_baseline(
    baseline: Invoice, org: Organization, period: BillingPeriod, prices: PriceTable
) -> None:
    if (baseline.organization, baseline.period, baseline.price_table) != (
        org.name,
        period,
        prices.version,
    ):
        raise InvalidValueError(
            "baseline",
            f"{baseline.organization} {baseline.period.label} {baseline.price_table}",
            "must be the invoice of this organization, period and price table",
        )


def whatif(
    org: Organization,
    events: Iterable[UsageEvent],
    period: BillingPeriod,
    scenario: Scenario,
    prices: PriceTable | None = None,
    *,
    baseline: Invoice | None = None,
) -> WhatIf:
    """Re-bill ``period``'s ``events`` under ``scenario``, beside the invoice as billed.

    ``prices`` is the table the period was billed with (default: the built-in
    one). Pass ``baseline`` when that invoice is already built, to skip
    building it again; it must be this organization's, period's and table's.
    ``events`` may be any iterable (a generator is read once, into a tuple).
    Without ``baseline``, the events are summed into the month's usage cube once;
    a scenario the cube can answer (:func:`whatif_cube`) is billed from it.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, Money, Product, SeatCatalog, TokenUsage
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"),
    ...      Member("ada", "member", "chat_claude_code")],
    ...     at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> events = [UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CLAUDE_CODE,
    ...                      TokenUsage(input_tokens=100_000), datetime(2026, 10, 3, tzinfo=UTC))]
    >>> result = whatif(org, events, BillingPeriod.of("2026-10"),
    ...                 Scenario((MoveSeats(["ada"], "chat"),), name="ada on Chat"))
    >>> print(result.diff.total.change, [r.reason.value for r in result.denied])
    -20.30 USD ['not_included']
    """
    prices = prices if prices is not None else PriceTable.builtin()
    if not isinstance(scenario, Scenario):
        raise InvalidValueError("scenario", scenario, "must be a Scenario")
    listed = events if isinstance(events, Sequence) else tuple(events)
    setting = scenario.apply(org, prices)
    scenario_org, scenario_prices, moved = setting.org, setting.prices, setting.moved
    if baseline is None:
        # The events summed once: the cube prices the baseline and, re-keyed, the scenario.
        builder = InvoiceBuilder(org, period, prices).add_all(listed)
        if builder.pending:
            builder.resolve(listed)
        cube = builder.cube()
        baseline = price_cube(cube, org, prices)
        result = _from_cube(scenario, setting, org=org, prices=prices, cube=cube, baseline=baseline)
        if result is not None:
            return result
    _check_baseline(baseline, org, period, prices)
    plan = scenario.flat_plan
    ordered: list[UsageEvent] | None = None
    spend = None
    if scenario.replays:
        ordered = deduplicated_between(listed, period.start, period.end)
        denied, spend = replay(scenario_org, scenario_prices, ordered)
    elif moved:
        denied = not_included(
            scenario_org,
            scenario_prices,
            deduplicated_between(listed, period.start, period.end, members=moved),
        )
    else:
        denied = []
    refused = {request.event_id for request in denied}
    builder = InvoiceBuilder(scenario_org, period, scenario_prices)
    invoice = builder.add_all(
        (event for event in listed if event.event_id not in refused) if refused else listed
    ).finish()
    comparison = None
    if plan is not None:
        allowed: list[UsageEvent] = []
        if plan.overage == "blocked":
            allowed = [
                e
                for e in ordered or deduplicated_between(listed, period.start, period.end)
                if e.event_id not in refused
            ]
        comparison = plan.compare(
            org=scenario_org,
            prices=scenario_prices,
            period=period,
            invoice=invoice,
            allowed=allowed,
        )
    return WhatIf(
        scenario=scenario,
        baseline=baseline,
        invoice=invoice,
        denied=tuple(denied),
        replayed=scenario.replays,
        spend=spend,
        comparison=comparison,
    )


def whatif_cube(
    org: Organization,
    cube: UsageCube,
    scenario: Scenario,
    prices: PriceTable | None = None,
    *,
    baseline: Invoice | None = None,
) -> WhatIf | None:
    """:func:`whatif` from the month's usage cube instead of its events, or ``None``.

    ``cube`` is the period's cube as ``org`` and ``prices`` bill it (any engine's).
    A scenario that only moves seats, changes prices or compares a flat plan
    (priced overage) re-prices the cube (:func:`repriced_cube`), which gives the
    very result re-billing the events would. ``None`` when only the events can
    answer: :attr:`Scenario.needs_events`, or a bucket that cannot move whole
    (a moved member's request the new seat does not include, a new price starting
    mid-period for a model used then).

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, Money, Product, SeatCatalog, TokenUsage
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
    ...     at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> events = [UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CHAT,
    ...                      TokenUsage(input_tokens=100_000), datetime(2026, 10, 3, tzinfo=UTC))]
    >>> cube = InvoiceBuilder(org, BillingPeriod.of("2026-10")).add_all(events).cube()
    >>> down = Scenario((MoveSeats(["olga"], "chat"),), name="olga on Chat")
    >>> print(whatif_cube(org, cube, down).diff.total.change)  # 40.00 - 20.00 for olga's seat
    -20.00 USD
    >>> print(whatif_cube(org, cube, Scenario(replay_caps=True)))
    None
    """
    prices = prices if prices is not None else PriceTable.builtin()
    if not isinstance(scenario, Scenario):
        raise InvalidValueError("scenario", scenario, "must be a Scenario")
    if not isinstance(cube, UsageCube):
        raise InvalidValueError("cube", cube, "must be a UsageCube")
    if baseline is not None:
        _check_baseline(baseline, org, cube.period, prices)
    setting = scenario.apply(org, prices)
    return _from_cube(scenario, setting, org=org, prices=prices, cube=cube, baseline=baseline)


def _from_cube(
    scenario: Scenario,
    setting: Setting,
    *,
    org: Organization,
    prices: PriceTable,
    cube: UsageCube,
    baseline: Invoice | None,
) -> WhatIf | None:
    """``scenario`` (applied: ``setting``) from ``org``'s ``cube``, or ``None`` if it cannot.

    Without ``baseline``, the cube is priced for it too, once it is known to answer.
    """
    if scenario.needs_events:
        return None
    repriced = repriced_cube(cube, Setting(org, prices), setting)
    if repriced is None:
        return None
    if baseline is None:
        baseline = price_cube(cube, org, prices)
    invoice = price_cube(repriced, setting.org, setting.prices)
    plan = scenario.flat_plan
    comparison = (
        None
        if plan is None
        else plan.compare(
            org=setting.org,
            prices=setting.prices,
            period=cube.period,
            invoice=invoice,
            allowed=[],  # read only when overage is blocked, which needs the events
        )
    )
    return WhatIf(
        scenario=scenario,
        baseline=baseline,
        invoice=invoice,
        denied=(),
        replayed=False,
        spend=None,
        comparison=comparison,
    )
