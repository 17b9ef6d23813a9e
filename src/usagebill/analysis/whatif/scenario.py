"""A what-if scenario: named changes applied in order, and its loading from a file.

:meth:`Scenario.from_file` reads the TOML scenario file (the format is in
``docs/whatif.md``; ``examples/scenario-downgrade.toml`` is one), strictly like
the organization file: unknown keys, wrong types and float amounts are errors
that name their path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import attrs

from usagebill._checks import flag, non_empty_str
from usagebill.accounts.organization import Organization
from usagebill.analysis.whatif.changes import (
    ChangeCaps,
    ChangeModelPrice,
    ChangePrices,
    MoveSeats,
    Setting,
)
from usagebill.analysis.whatif.flatplan import FlatPlan
from usagebill.errors import InvalidValueError, LoadError, UsageBillError
from usagebill.pricing.prices import PriceTable

__all__ = ["Change", "Scenario"]


Change = MoveSeats | ChangeCaps | ChangePrices | ChangeModelPrice | FlatPlan
_CHANGES: Final = (MoveSeats, ChangeCaps, ChangePrices, ChangeModelPrice, FlatPlan)


def _changes(value: object) -> tuple[Change, ...]:
    if isinstance(value, _CHANGES) or not isinstance(value, Iterable):
        raise InvalidValueError("changes", value, "must be a tuple of changes")
    changes = tuple(value)
    for position, change in enumerate(changes):
        if not isinstance(change, _CHANGES):
            names = ", ".join(kind.__name__ for kind in _CHANGES)
            raise InvalidValueError(f"changes[{position}]", change, f"must be one of {names}")
    if sum(isinstance(change, FlatPlan) for change in changes) > 1:
        raise InvalidValueError("changes", changes, "must hold at most one FlatPlan")
    return changes


@attrs.frozen
class Scenario:
    """A named set of changes, applied in order; no change at all is the invoice as billed.

    ``replay_caps`` replays the caps even when no :class:`ChangeCaps` is given
    (e.g. to see what the current caps would have denied under new prices).

    >>> scenario = Scenario((MoveSeats(["ada"], "chat"),), name="ada on Chat", replay_caps=True)
    >>> scenario.replays, scenario.flat_plan, scenario.describe()
    (True, None, ['move ada to chat for the whole period', 'caps replayed'])
    """

    changes: tuple[Change, ...] = attrs.field(default=(), converter=_changes)
    name: str = attrs.field(default="what-if", validator=non_empty_str)
    replay_caps: bool = attrs.field(default=False, validator=flag)

    @property
    def replays(self) -> bool:
        """Tell whether the caps are replayed: asked for, or changed by the scenario."""
        return self.replay_caps or any(isinstance(c, ChangeCaps) for c in self.changes)

    @property
    def needs_events(self) -> bool:
        """Tell whether only the events can answer: the scenario decides each request in turn.

        Caps replayed, or a flat plan whose overage is blocked, decide request by
        request in time order. Any other scenario may re-price the month's usage
        cube (:func:`~usagebill.analysis.whatif.whatif_cube`).

        >>> Scenario((MoveSeats(["ada"], "chat"),)).needs_events
        False
        """
        plan = self.flat_plan
        return self.replays or (plan is not None and plan.overage == "blocked")

    @property
    def flat_plan(self) -> FlatPlan | None:
        """The scenario's flat plan, if it compares one."""
        return next((c for c in self.changes if isinstance(c, FlatPlan)), None)

    def describe(self) -> list[str]:
        """One line per change, for people."""
        lines = [change.describe() for change in self.changes] or ["no change"]
        if self.replay_caps:
            lines.append("caps replayed")
        return lines

    def apply(self, org: Organization, prices: PriceTable) -> Setting:
        """What this scenario bills under: its changes applied in order to ``org`` and ``prices``.

        >>> from datetime import datetime, UTC
        >>> from usagebill import Member, Money, SeatCatalog
        >>> org = Organization.create(
        ...     "acme",
        ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
        ...     [Member("olga", "primary_owner", "chat"), Member("ada", "member", "chat")],
        ...     at=datetime(2026, 9, 1, tzinfo=UTC))
        >>> setting = Scenario((MoveSeats(["ada"], "chat_claude_code"),)).apply(
        ...     org, PriceTable.builtin())
        >>> setting.org.member("ada").seat_type, dict(setting.moved)
        ('chat_claude_code', {'ada': 'chat_claude_code'})
        """
        setting = Setting(org, prices)
        for change in self.changes:
            setting = change.apply(setting)
        return setting

    @classmethod
    def from_dict(
        cls,
        data: object,
        *,
        currency: str = "USD",
        directory: str | Path = ".",
        source: str = "scenario",
    ) -> Scenario:
        """Build a scenario from the dict form of its file, strictly (unknown keys refused).

        Amounts are in ``currency`` (the organization's); a ``[prices] file`` is read
        relative to ``directory``. Every problem is a :class:`~usagebill.errors.LoadError`
        naming its path in ``source``.

        >>> plan = Scenario.from_dict({"name": "flat", "flat_plan": {
        ...     "fees": {"chat": "30"}, "allowance": "10"}}, currency="EUR")
        >>> plan.name, plan.flat_plan.allowance
        ('flat', Money('10', 'EUR'))
        """
        # Here, not at the top: the file format needs cattrs, which a what-if built in code
        # should not pay for importing.
        from usagebill.analysis.whatif.scenario_file import scenario_parts  # noqa: PLC0415

        parts = scenario_parts(data, source=source, currency=currency, directory=Path(directory))
        try:
            return cls(**parts)
        except UsageBillError as error:
            raise LoadError(source, [("$", str(error))]) from None

    @classmethod
    def from_file(cls, path: str | Path, *, currency: str = "USD") -> Scenario:
        """Read a scenario file (TOML; the format is in ``docs/whatif.md``).

        Amounts are in ``currency`` (the organization's); a ``[prices] file`` is read
        relative to the scenario file.

        >>> Scenario.from_file("examples/scenario-downgrade.toml").describe()
        ['move u-007, u-018 to chat for the whole period']
        """
        from usagebill.serde import read_toml  # noqa: PLC0415  (see from_dict)

        path = Path(path)
        return cls.from_dict(
            read_toml(path), currency=currency, directory=path.parent, source=str(path)
        )
