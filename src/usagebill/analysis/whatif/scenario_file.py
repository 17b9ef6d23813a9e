"""The scenario file's format: a what-if scenario written as TOML, read into its parts.

Loaded strictly, like the organization file (:mod:`usagebill.accounts.organization_file`):
unknown keys, wrong types and float amounts are errors that name their path. The
format is documented in ``docs/whatif.md``; ``examples/scenario-downgrade.toml`` is
one. :meth:`Scenario.from_dict <usagebill.analysis.whatif.scenario.Scenario.from_dict>`
and :meth:`~usagebill.analysis.whatif.scenario.Scenario.from_file` are the way in; this
module only turns the file's dict into the scenario's parts (so that it needs no
:class:`~usagebill.analysis.whatif.scenario.Scenario`, and the scenario imports it only
when a file is read).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from usagebill.accounts.organization_file import LimitsSpec
from usagebill.analysis.whatif.changes import ChangeCaps, ChangeModelPrice, ChangePrices, MoveSeats
from usagebill.analysis.whatif.flatplan import FlatPlan, Overage
from usagebill.errors import LoadError, UsageBillError, short_repr
from usagebill.money import Money
from usagebill.pricing.prices import PriceTable, Rates
from usagebill.serde import structure

__all__ = ["scenario_parts"]

_Change = MoveSeats | ChangeCaps | ChangePrices | ChangeModelPrice | FlatPlan


@attrs.frozen
class _MoveSpec:
    members: tuple[str, ...]
    seat_type: str
    add_ons: tuple[str, ...] = ()


@attrs.frozen
class _PricesSpec:
    file: str


@attrs.frozen
class _ModelPriceSpec:
    model: str
    rates: Rates
    effective_from: datetime | None = None
    long_context: Rates | None = None


@attrs.frozen
class _FlatSpec:
    fees: dict[str, Decimal]
    allowance: Decimal
    overage: Overage = "priced"


@attrs.frozen
class _ScenarioSpec:
    name: str = "what-if"
    replay_caps: bool = False
    move_seats: tuple[_MoveSpec, ...] = ()
    caps: LimitsSpec | None = None
    prices: _PricesSpec | None = None
    model_prices: tuple[_ModelPriceSpec, ...] = ()
    flat_plan: _FlatSpec | None = None


def scenario_parts(data: object, *, source: str, currency: str, directory: Path) -> dict[str, Any]:
    """The changes, name and ``replay_caps`` of a scenario file's dict, checked strictly.

    Each change is built (and checked) here; a bad one is a
    :class:`~usagebill.errors.LoadError` naming its path in ``source``.
    """
    spec = structure(data, _ScenarioSpec, source=source)
    changes: list[_Change] = []

    def build(where: str, make: Callable[[], _Change]) -> None:
        try:
            changes.append(make())
        except LoadError:
            raise
        except UsageBillError as error:
            raise LoadError(source, [(where, str(error))]) from None

    for position, move in enumerate(spec.move_seats):
        build(
            f"$.move_seats[{position}]",
            functools.partial(MoveSeats, move.members, move.seat_type, move.add_ons),
        )
    if spec.caps is not None:
        build("$.caps", functools.partial(_caps, spec.caps, currency))
    if spec.prices is not None:
        table = functools.partial(_price_table, spec.prices, directory, source)
        build("$.prices.file", lambda: ChangePrices(table()))
    for position, model in enumerate(spec.model_prices):
        build(
            f"$.model_prices[{position}]",
            functools.partial(
                ChangeModelPrice, model.model, model.rates, model.effective_from, model.long_context
            ),
        )
    if spec.flat_plan is not None:
        build("$.flat_plan", functools.partial(_flat, spec.flat_plan, currency))
    return {"changes": tuple(changes), "name": spec.name, "replay_caps": spec.replay_caps}


def _price_table(spec: _PricesSpec, directory: Path, source: str) -> PriceTable:
    """The scenario's price file, relative to the scenario's directory; LoadError if unreadable."""
    if not spec.file or "\x00" in spec.file:  # the directory itself; a name no system allows
        problem = f"must name a file: not empty, no NUL character (got {short_repr(spec.file)})"
        raise LoadError(source, [("$.prices.file", problem)])
    try:
        return PriceTable.from_file(directory / spec.file)
    except OSError as error:  # missing, a directory, unreadable: named as the scenario wrote it
        problem = f"cannot read {short_repr(spec.file)} in {directory}: {error.strerror}"
        raise LoadError(source, [("$.prices.file", problem)]) from None


def _flat(spec: _FlatSpec, currency: str) -> FlatPlan:
    fees = {name: Money(fee, currency) for name, fee in spec.fees.items()}
    return FlatPlan(fees, Money(spec.allowance, currency), spec.overage)


def _caps(spec: LimitsSpec, currency: str) -> ChangeCaps:
    return ChangeCaps(spec.limits(currency))
