"""The changes of a what-if scenario: each a frozen value that describes and applies itself.

A change applies itself to a :class:`Setting` — the organization and price
table a scenario bills under, and the members it moved — and returns the new
setting; a :class:`~usagebill.analysis.whatif.scenario.Scenario` applies its changes
in order.

The examples of this module change one setting (example fees, not Anthropic's):

>>> from datetime import datetime, UTC
>>> from decimal import Decimal
>>> from usagebill import Member, Money, SeatCatalog
>>> acme = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"),
...      Member("ada", "member", "chat_claude_code")],
...     at=datetime(2026, 9, 1, tzinfo=UTC))
>>> setting = Setting(acme, PriceTable.builtin())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from usagebill._checks import aware, instance_of, non_empty_str, optional
from usagebill._frozendict import FrozenDict
from usagebill.accounts.limits import SpendLimits
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatChange
from usagebill.errors import CurrencyMismatchError, InvalidValueError, UnknownNameError
from usagebill.pricing.prices import ModelPrice, PriceTable, Rates

__all__ = ["ChangeCaps", "ChangeModelPrice", "ChangePrices", "MoveSeats", "Setting"]


def _moved(value: Mapping[str, str]) -> FrozenDict[str, str]:
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


@attrs.frozen
class Setting:
    """What a scenario bills under: an organization, a price table, and who it moved where.

    ``moved`` maps each member a :class:`MoveSeats` moved to their new seat type.

    >>> setting.org.name, setting.prices.currency, dict(setting.moved)
    ('acme', 'USD', {})
    """

    org: Organization
    prices: PriceTable
    moved: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_moved)


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError("members", value, "must be a list of user ids (not one string)")
    names = tuple(value)
    if not names:
        raise InvalidValueError("members", names, "must name at least one user")
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidValueError("members", name, "must hold non-empty user ids")
    if len(set(names)) != len(names):
        raise InvalidValueError("members", names, "must not repeat a user")
    return names


def _add_ons(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError("add_ons", value, "must be a collection of names, not a string")
    return frozenset(value)


@attrs.frozen
class MoveSeats:
    """``members`` hold ``seat_type`` (with ``add_ons``) for the whole period.

    Every seat they held — before, during or after the period; only the period
    is billed — becomes this one, so a member who changed seat mid-month is
    billed as if they had held the new seat throughout. Requests for products
    the new seat does not include are denied (``not_included``).

    >>> change = MoveSeats(["ada"], "chat")
    >>> change.describe()
    'move ada to chat for the whole period'
    >>> moved = change.apply(setting)
    >>> moved.org.member("ada").seat_type, dict(moved.moved)
    ('chat', {'ada': 'chat'})
    """

    members: tuple[str, ...] = attrs.field(converter=_names)
    seat_type: str = attrs.field(validator=non_empty_str)
    add_ons: frozenset[str] = attrs.field(default=frozenset(), converter=_add_ons)

    def describe(self) -> str:
        """One line for people."""
        extras = f" with {', '.join(sorted(self.add_ons))}" if self.add_ons else ""
        return f"move {', '.join(self.members)} to {self.seat_type}{extras} for the whole period"

    def apply(self, setting: Setting) -> Setting:
        """The setting with these members on the new seat wherever they held one."""
        return Setting(
            _move(setting.org, self),
            setting.prices,
            setting.moved | dict.fromkeys(self.members, self.seat_type),
        )


@attrs.frozen
class ChangeCaps:
    """Every cap replaced by ``limits``; the period's requests are replayed against them.

    >>> change = ChangeCaps(SpendLimits(members={"ada": Money("50")}))
    >>> change.describe()
    "caps replaced: members['ada'] 50.00 USD"
    >>> change.apply(setting).org.effective_limit("ada").cap
    Money('50', 'USD')
    """

    limits: SpendLimits = attrs.field(validator=instance_of(SpendLimits, "SpendLimits"))

    def describe(self) -> str:
        """One line for people."""
        caps = [f"{path} {cap.rounded()}" for path, cap in self.limits.all_caps()]
        return "caps replaced: " + ("; ".join(caps) if caps else "no caps at all")

    def apply(self, setting: Setting) -> Setting:
        """The setting with these caps (the organization checks them)."""
        return attrs.evolve(setting, org=attrs.evolve(setting.org, limits=self.limits))


@attrs.frozen
class ChangePrices:
    """Every request priced by ``table`` instead (same currency as the organization).

    >>> table = PriceTable.builtin()
    >>> ChangePrices(table).apply(setting).prices is table
    True
    """

    table: PriceTable = attrs.field(validator=instance_of(PriceTable))

    def describe(self) -> str:
        """One line for people."""
        return f"prices from table {self.table.version}"

    def apply(self, setting: Setting) -> Setting:
        """The setting priced by this table, which must be in the organization's currency."""
        if self.table.currency != setting.org.currency:
            raise CurrencyMismatchError(setting.org.currency, self.table.currency, "table.currency")
        return attrs.evolve(setting, prices=self.table)


@attrs.frozen
class ChangeModelPrice:
    """``model`` at new standard ``rates``, for the whole period or from ``effective_from``.

    Without ``effective_from`` every price version of the model keeps its date
    and gets the new rates, so the invoice lines stay the same lines with new
    amounts. With it, a new version starts then and replaces any later one.
    ``long_context`` sets the rates of the model's context tier (which
    otherwise keeps its own); fast-mode rates and multipliers are kept.

    >>> rates = Rates(Decimal(5), Decimal(25), Decimal("6.25"), Decimal(10), Decimal("0.5"))
    >>> prices = ChangeModelPrice("claude-sonnet-4-6", rates).apply(setting).prices
    >>> prices.price("claude-sonnet-4-6", datetime(2026, 10, 2, tzinfo=UTC)).rates == rates
    True
    """

    model: str = attrs.field(validator=non_empty_str)
    rates: Rates = attrs.field(validator=instance_of(Rates, "Rates"))
    effective_from: datetime | None = attrs.field(default=None, validator=optional(aware))
    long_context: Rates | None = attrs.field(
        default=None, validator=optional(instance_of(Rates, "Rates or None"))
    )

    def describe(self) -> str:
        """One line for people."""
        rates = self.rates
        when = (
            "for the whole period"
            if self.effective_from is None
            else f"from {self.effective_from.isoformat()}"
        )
        return (
            f"{self.model} at input {rates.input}, output {rates.output}, cache write "
            f"{rates.cache_write_5m}/{rates.cache_write_1h}, cache read {rates.cache_read} "
            f"per million tokens {when}"
        )

    def apply(self, setting: Setting) -> Setting:
        """The setting with this model's new rates in its price table."""
        return attrs.evolve(setting, prices=_with_model_price(setting.prices, self))


# --- applying ------------------------------------------------------------------------------


def _move(org: Organization, change: MoveSeats) -> Organization:
    """``org`` with ``change.members`` on the new seat wherever they held one."""
    org.catalog.check_add_ons(change.seat_type, change.add_ons)
    known = {c.user_id for c in org.seat_history}
    for user_id in change.members:
        if user_id not in known:
            raise UnknownNameError("member", user_id)
    moved = frozenset(change.members)
    history: list[SeatChange] = []
    last: dict[str, SeatChange] = {}
    for held in org.seat_history:
        seat = held
        if seat.user_id in moved:
            if seat.seat_type is not None:
                seat = SeatChange(seat.user_id, seat.at, change.seat_type, change.add_ons)
            previous = last.get(seat.user_id)
            if previous is not None and (previous.seat_type, previous.add_ons) == (
                seat.seat_type,
                seat.add_ons,
            ):
                continue  # the same seat again: one held span, one seat line
            last[seat.user_id] = seat
        history.append(seat)
    members = {
        user_id: (
            attrs.evolve(member, seat_type=change.seat_type, add_ons=change.add_ons)
            if user_id in moved
            else member
        )
        for user_id, member in org.members.items()
    }
    return attrs.evolve(org, members=members, seat_history=history)


def _with_model_price(table: PriceTable, change: ChangeModelPrice) -> PriceTable:
    model_id = table.resolve(change.model)
    listing = table.models[model_id]

    def priced(price: ModelPrice) -> ModelPrice:
        tier = price.long_context
        if change.long_context is not None:
            if tier is None:
                raise InvalidValueError(
                    "long_context", change.long_context, f"{model_id} has no context tier"
                )
            tier = attrs.evolve(tier, rates=change.long_context)
        # What-if figures are the scenario's own: none is derived from the price list any more.
        return attrs.evolve(
            price, rates=change.rates, long_context=tier, source="what-if", derived={}
        )

    start = change.effective_from
    if start is None:
        prices = tuple(priced(price) for price in listing.prices)
    else:
        earlier = tuple(
            p for p in listing.prices if p.effective_from is None or p.effective_from < start
        )
        if not earlier:
            raise InvalidValueError(
                "effective_from", start, f"must come after the first price of {model_id}"
            )
        prices = (*earlier, attrs.evolve(priced(earlier[-1]), effective_from=start))
    return PriceTable(
        version=f"{table.version} + {model_id} what-if",
        models=table.models.set(model_id, attrs.evolve(listing, prices=prices)),
        currency=table.currency,
        source=table.source,
    )
