"""Spend caps at three nested levels, and month-to-date spend.

What each level caps (the rules of ``docs/caps.md``):

* the **organization**: a *pool cap* on everyone's summed spend, and an
  optional *per-member default*;
* each **seat type**: a *pool cap* on the summed spend of the members holding
  it, and an optional *per-member default* for each of them;
* each **user**: an *individual cap*, which overrides the defaults (higher or
  lower: this is how an approved increase request is written).

A member's *effective limit* is their individual cap, else their seat type's
per-member default, else the organization's per-member default, else none.
``None`` means no cap; zero means zero.
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Protocol

import attrs

from usagebill._checks import instance_of
from usagebill._frozendict import FrozenDict, frozen_dict
from usagebill.errors import CurrencyMismatchError, InvalidValueError, short_repr
from usagebill.money import EXACT, Money, unchecked_money

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EffectiveLimit",
    "Level",
    "LimitSource",
    "PoolLimit",
    "Spend",
    "SpendLike",
    "SpendLimits",
]

_ZERO: Final = Decimal(0)

DEFAULT_THRESHOLDS: Final = (Decimal("0.75"), Decimal("0.9"), Decimal(1))
"""Notify members and owners at 75 %, 90 % and 100 % of a limit."""


def _cap(field: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Money):
        raise InvalidValueError(field, value, "must be Money or None (no cap)")
    if value.amount < 0:
        raise InvalidValueError(field, value, "must not be negative (zero means no spend at all)")


def _cap_validator(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _cap(attribute.name, value)


@attrs.frozen
class PoolLimit:
    """The caps of one level: a pool cap on the level's summed spend, a per-member default.

    >>> chat = PoolLimit(pool_cap=Money("3000"), member_default=Money("50"))
    >>> limits = SpendLimits(seat_types={"chat": chat})
    >>> print(limits.seat_type("chat").pool_cap, limits.effective("ada", "chat").cap)
    3000.00 USD 50.00 USD
    """

    pool_cap: Money | None = attrs.field(default=None, validator=_cap_validator)
    member_default: Money | None = attrs.field(default=None, validator=_cap_validator)

    def caps(self) -> Iterable[tuple[str, Money]]:
        """Each set cap with its field name."""
        for name in ("pool_cap", "member_default"):
            cap = getattr(self, name)
            if cap is not None:
                yield name, cap


_NO_LIMIT: Final = PoolLimit()


class Level(enum.StrEnum):
    """A level of the cap hierarchy, from the member up.

    A notification, a decision's binding and a forecast's cap each name theirs.

    >>> [level.value for level in Level]
    ['member', 'seat_type', 'organization']
    """

    MEMBER = "member"
    SEAT_TYPE = "seat_type"
    ORGANIZATION = "organization"


class LimitSource(enum.StrEnum):
    """Where a member's effective limit comes from.

    >>> limits = SpendLimits(organization=PoolLimit(member_default=Money("200")),
    ...                      members={"ada": Money("500")})
    >>> limits.effective("ada", "chat").source.value, limits.effective("bob", "chat").source.value
    ('individual', 'organization_default')
    """

    INDIVIDUAL = "individual"
    SEAT_TYPE_DEFAULT = "seat_type_default"
    ORGANIZATION_DEFAULT = "organization_default"
    NONE = "none"


_INDIVIDUAL: Final = LimitSource.INDIVIDUAL
_SEAT_TYPE_DEFAULT: Final = LimitSource.SEAT_TYPE_DEFAULT
_ORGANIZATION_DEFAULT: Final = LimitSource.ORGANIZATION_DEFAULT
_NO_SOURCE: Final = LimitSource.NONE


@attrs.frozen
class EffectiveLimit:
    """A member's limit (``None``: unlimited) and the level it comes from.

    >>> limit = SpendLimits(members={"ada": Money("500")}).effective("ada", "chat")
    >>> print(limit.cap, limit.source.value)
    500.00 USD individual
    >>> SpendLimits().effective("bob", "chat").cap is None
    True
    """

    cap: Money | None
    source: LimitSource


@attrs.frozen
class SpendLimits:
    """Every cap of an organization; each part optional.

    >>> limits = SpendLimits(
    ...     organization=PoolLimit(pool_cap=Money("10000"), member_default=Money("200")),
    ...     seat_types={"chat": PoolLimit(member_default=Money("50"))},
    ...     members={"ada": Money("500")},
    ... )
    >>> limits.effective("ada", "chat")
    EffectiveLimit(cap=Money('500', 'USD'), source=<LimitSource.INDIVIDUAL: 'individual'>)
    >>> limits.effective("bob", "chat").source
    <LimitSource.SEAT_TYPE_DEFAULT: 'seat_type_default'>
    """

    organization: PoolLimit = attrs.field(default=_NO_LIMIT, validator=instance_of(PoolLimit))
    seat_types: FrozenDict[str, PoolLimit] = attrs.field(factory=FrozenDict, converter=frozen_dict)
    members: FrozenDict[str, Money] = attrs.field(factory=FrozenDict, converter=frozen_dict)

    def __attrs_post_init__(self) -> None:
        for seat_type, limit in self.seat_types.items():
            if not isinstance(limit, PoolLimit):
                raise InvalidValueError(
                    f"seat_types[{short_repr(seat_type)}]", limit, "must be a PoolLimit"
                )
        for user_id, cap in self.members.items():
            if cap is None:
                raise InvalidValueError(
                    f"members[{short_repr(user_id)}]",
                    cap,
                    "must be Money (remove the entry for no cap)",
                )
            _cap(f"members[{short_repr(user_id)}]", cap)

    def all_caps(self) -> Iterable[tuple[str, Money]]:
        """Every set cap with a path naming it, e.g. ``seat_types['chat'].pool_cap``."""
        for name, cap in self.organization.caps():
            yield f"organization.{name}", cap
        for seat_type, limit in self.seat_types.items():
            for name, cap in limit.caps():
                yield f"seat_types[{short_repr(seat_type)}].{name}", cap
        for user_id, cap in self.members.items():
            yield f"members[{short_repr(user_id)}]", cap

    def check_currency(self, currency: str) -> None:
        """Raise :class:`CurrencyMismatchError` unless every cap is in ``currency``."""
        for path, cap in self.all_caps():
            if cap.currency != currency:
                raise CurrencyMismatchError(currency, cap.currency, path)

    def seat_type(self, name: str) -> PoolLimit:
        """The caps of seat type ``name`` (no caps if none are set)."""
        return self.seat_types.get(name, _NO_LIMIT)

    def effective(self, user_id: str, seat_type: str) -> EffectiveLimit:
        """The member's effective limit and where it comes from."""
        return EffectiveLimit(*self.effective_cap(user_id, seat_type))

    def effective_cap(self, user_id: str, seat_type: str) -> tuple[Money | None, LimitSource]:
        """:meth:`effective` as a plain pair: the decision's hot path."""
        cap = self.members.get(user_id)
        if cap is not None:
            return cap, _INDIVIDUAL
        pool = self.seat_types.get(seat_type)
        if pool is not None and pool.member_default is not None:
            return pool.member_default, _SEAT_TYPE_DEFAULT
        cap = self.organization.member_default
        if cap is not None:
            return cap, _ORGANIZATION_DEFAULT
        return None, _NO_SOURCE

    def with_member_cap(self, user_id: str, cap: Money | None) -> SpendLimits:
        """A copy with ``user_id``'s individual cap set (``None`` removes it)."""
        users = self.members.without(user_id) if cap is None else self.members.set(user_id, cap)
        return attrs.evolve(self, members=users)

    def with_seat_type(self, seat_type: str, limit: PoolLimit) -> SpendLimits:
        """A copy with ``seat_type``'s caps replaced."""
        return attrs.evolve(self, seat_types=self.seat_types.set(seat_type, limit))


class SpendLike(Protocol):
    """What a whole-organization decision reads of month-to-date spend: a :class:`Spend`'s shape.

    :func:`~usagebill.caps.decision.authorize` and
    :func:`~usagebill.caps.alerts.notifications` read it; a caller that knows only
    one member's path (a ledger's transaction, a replay) gives
    :func:`~usagebill.caps.decision.decide` a
    :class:`~usagebill.caps.decision.UsedOnPath` instead.
    """

    @property
    def currency(self) -> str:
        """The currency of every amount."""

    @property
    def members(self) -> Mapping[str, Decimal]:
        """Committed spend per user."""

    @property
    def seat_types(self) -> Mapping[str, Decimal]:
        """Committed spend per seat type."""

    @property
    def total(self) -> Decimal:
        """Committed spend of the organization."""

    @property
    def held_members(self) -> Mapping[str, Decimal]:
        """Held amounts per user."""

    @property
    def held_seat_types(self) -> Mapping[str, Decimal]:
        """Held amounts per seat type."""

    @property
    def held_total(self) -> Decimal:
        """Held amounts of the organization."""


def _amounts(value: Mapping[str, Any]) -> FrozenDict[str, Decimal]:
    result = value if isinstance(value, FrozenDict) else FrozenDict(value)
    for key, amount in result.items():
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise InvalidValueError(
                f"[{short_repr(key)}]", amount, "must be a non-negative Decimal"
            )
    return result


def _total(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidValueError(attribute.name, value, "must be a non-negative Decimal")


def _bump(amounts: FrozenDict[str, Decimal], key: str, delta: Decimal) -> FrozenDict[str, Decimal]:
    return amounts.set(key, EXACT.add(amounts.get(key, _ZERO), delta))


@attrs.frozen
class Spend:
    """Month-to-date spend: committed and held amounts per user, per seat type, in total.

    A charge counts toward the seat type its member held when it was made, so
    the organization total equals the sum over users and the sum over seat
    types, always. Recording returns a new Spend.

    >>> spend = Spend().record("ada", "chat", Money("1.50"))
    >>> spend = spend.record("ada", "chat_claude_code", Money("2"))
    >>> spend.member("ada"), spend.seat_type("chat"), spend.organization()
    (Money('3.5', 'USD'), Money('1.5', 'USD'), Money('3.5', 'USD'))
    """

    currency: str = "USD"
    members: FrozenDict[str, Decimal] = attrs.field(factory=FrozenDict, converter=_amounts)
    seat_types: FrozenDict[str, Decimal] = attrs.field(factory=FrozenDict, converter=_amounts)
    total: Decimal = attrs.field(default=_ZERO, validator=_total)
    held_members: FrozenDict[str, Decimal] = attrs.field(factory=FrozenDict, converter=_amounts)
    held_seat_types: FrozenDict[str, Decimal] = attrs.field(factory=FrozenDict, converter=_amounts)
    held_total: Decimal = attrs.field(default=_ZERO, validator=_total)

    def __attrs_post_init__(self) -> None:
        for label, parts, total in (
            ("committed", (self.members, self.seat_types), self.total),
            ("held", (self.held_members, self.held_seat_types), self.held_total),
        ):
            for part in parts:
                with decimal.localcontext(EXACT):  # never the caller's context: it rounds
                    summed = sum(part.values(), _ZERO)
                if summed != total:
                    raise InvalidValueError(
                        f"{label} total",
                        total,
                        f"must equal the sum over users and over seat types ({summed})",
                    )

    # --- reading --------------------------------------------------------------------------

    def member(self, user_id: str) -> Money:
        """What ``user_id`` has committed this period."""
        return unchecked_money(self.members.get(user_id, _ZERO), self.currency)

    def seat_type(self, seat_type: str) -> Money:
        """What members holding ``seat_type`` have committed this period."""
        return unchecked_money(self.seat_types.get(seat_type, _ZERO), self.currency)

    def organization(self) -> Money:
        """What the whole organization has committed this period."""
        return unchecked_money(self.total, self.currency)

    def held_by_member(self, user_id: str) -> Money:
        """What is held (reserved, not yet settled) for ``user_id``."""
        return unchecked_money(self.held_members.get(user_id, _ZERO), self.currency)

    # --- changing -------------------------------------------------------------------------

    def _amount(self, amount: Money) -> Decimal:
        if not isinstance(amount, Money):
            raise InvalidValueError("amount", amount, "must be Money")
        if amount.currency != self.currency:
            raise CurrencyMismatchError(self.currency, amount.currency, "amount")
        if amount.amount < 0:
            raise InvalidValueError("amount", amount, "must not be negative")
        return amount.amount

    def record(self, user_id: str, seat_type: str, amount: Money) -> Spend:
        """Commit a charge of ``amount`` by ``user_id`` while holding ``seat_type``."""
        delta = self._amount(amount)
        return attrs.evolve(
            self,
            members=_bump(self.members, user_id, delta),
            seat_types=_bump(self.seat_types, seat_type, delta),
            total=EXACT.add(self.total, delta),
        )

    def hold(self, user_id: str, seat_type: str, amount: Money) -> Spend:
        """Reserve ``amount`` on every level of the member's path."""
        delta = self._amount(amount)
        return attrs.evolve(
            self,
            held_members=_bump(self.held_members, user_id, delta),
            held_seat_types=_bump(self.held_seat_types, seat_type, delta),
            held_total=EXACT.add(self.held_total, delta),
        )

    def release(self, user_id: str, seat_type: str, amount: Money) -> Spend:
        """Free ``amount`` held for ``user_id`` under ``seat_type``."""
        delta = self._amount(amount)
        if self.held_members.get(user_id, _ZERO) < delta or (
            self.held_seat_types.get(seat_type, _ZERO) < delta
        ):
            raise InvalidValueError("amount", amount, "must not exceed what is held")
        return attrs.evolve(
            self,
            held_members=_bump(self.held_members, user_id, -delta),
            held_seat_types=_bump(self.held_seat_types, seat_type, -delta),
            held_total=EXACT.subtract(self.held_total, delta),
        )
