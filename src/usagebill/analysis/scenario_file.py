"""The scenario file: a what-if :class:`~usagebill.analysis.whatif.Scenario` written as TOML.

Loaded strictly, like the organization file (:mod:`usagebill.accounts.organization_file`): unknown
keys, wrong types and float amounts are errors that name their path. The format
is documented in ``docs/whatif.md``; ``examples/scenario-downgrade.toml`` is one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import attrs

from usagebill.accounts.organization_file import LimitsSpec
from usagebill.analysis.whatif import (
    Change,
    ChangeCaps,
    ChangeModelPrice,
    ChangePrices,
    FlatPlan,
    MoveSeats,
    Overage,
    Scenario,
)
from usagebill.errors import LoadError, UsageBillError
from usagebill.money import Money
from usagebill.pricing.prices import PriceTable, Rates

__all__ = ["load_scenario", "scenario_from_dict"]


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


def load_scenario(path: str | Path, *, currency: str = "USD") -> Scenario:
    """Read a scenario file (TOML; the format is in ``docs/whatif.md``).

    Amounts are in ``currency`` (the organization's); a ``[prices] file`` is
    read relative to the scenario file. Every problem is a
    :class:`~usagebill.errors.LoadError` naming its path in the file.
    """
    from usagebill.serde import read_toml  # noqa: PLC0415  (serde sits above this module)

    path = Path(path)
    return scenario_from_dict(
        read_toml(path), source=str(path), currency=currency, directory=path.parent
    )


def scenario_from_dict(
    data: object,
    *,
    source: str = "scenario",
    currency: str = "USD",
    directory: str | Path = ".",
) -> Scenario:
    """Build a scenario from the dict form of the file, strictly (unknown keys refused)."""
    from usagebill.serde import structure  # noqa: PLC0415  (serde sits above this module)

    spec = structure(data, _ScenarioSpec, source=source)
    changes: list[Change] = []

    def build(where: str, make: Callable[[], Change]) -> None:
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
        table = functools.partial(PriceTable.from_file, Path(directory) / spec.prices.file)
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
    try:
        return Scenario(tuple(changes), spec.name, spec.replay_caps)
    except UsageBillError as error:
        raise LoadError(source, [("$", str(error))]) from None


def _flat(spec: _FlatSpec, currency: str) -> FlatPlan:
    fees = {name: Money(fee, currency) for name, fee in spec.fees.items()}
    return FlatPlan(fees, Money(spec.allowance, currency), spec.overage)


def _caps(spec: LimitsSpec, currency: str) -> ChangeCaps:
    return ChangeCaps(spec.limits(currency))
