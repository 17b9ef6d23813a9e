"""Seat types, add-ons, members and their roles, and the dated history of seats.

The source offers two seat types, *Chat* and *Chat + Claude Code*, each with a
monthly base fee per seat set by the organization's contract (Anthropic
publishes no official figure, so usagebill invents none: fees are always
given), and a HIPAA-compliant option for Chat seats at $5 per user per month.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from usagebill._checks import aware, non_empty_str
from usagebill._frozendict import FrozenDict, frozen_dict
from usagebill.errors import CurrencyMismatchError, InvalidValueError, UnknownNameError, short_repr
from usagebill.money import Money
from usagebill.usage import Product

__all__ = [
    "CHAT",
    "CHAT_AND_CLAUDE_CODE",
    "HIPAA",
    "AddOn",
    "Member",
    "Role",
    "SeatCatalog",
    "SeatChange",
    "SeatTimeline",
    "SeatType",
]

CHAT: Final = "chat"
CHAT_AND_CLAUDE_CODE: Final = "chat_claude_code"
HIPAA: Final = "hipaa"


class Role(enum.StrEnum):
    """A member's role; only owners and the primary owner may change caps and seats.

    >>> Role("owner").may_manage, Role("admin").may_manage
    (True, False)
    """

    PRIMARY_OWNER = "primary_owner"
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def may_manage(self) -> bool:
        """Tell whether this role may set caps, seats and members."""
        return self in (Role.PRIMARY_OWNER, Role.OWNER)


_ROLES: Final = frozenset(role.value for role in Role)


def _role(value: object) -> Role:
    if isinstance(value, str) and value in _ROLES:  # a Role, or the value of one
        return Role(value)
    raise InvalidValueError("role", value, f"must be one of {[role.value for role in Role]}")


def _fee(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money) or value.amount < 0:
        raise InvalidValueError(attribute.name, value, "must be a non-negative Money")


@attrs.frozen
class AddOn:
    """An option a seat type offers for a monthly fee per user (e.g. HIPAA compliance).

    >>> hipaa = AddOn("hipaa", Money("5"), "HIPAA-compliant")
    >>> chat = SeatType("chat", Money("20"), ["chat"], {"hipaa": hipaa})  # an example fee
    >>> print(chat.monthly_fee + chat.add_ons["hipaa"].monthly_fee)  # a month of Chat with HIPAA
    25.00 USD
    """

    name: str = attrs.field(validator=non_empty_str)
    monthly_fee: Money = attrs.field(validator=_fee)
    display_name: str = ""


def _products(value: Iterable[Product | str]) -> frozenset[Product]:
    if isinstance(value, str):
        raise InvalidValueError("includes", value, "must be a collection of products")
    try:
        return frozenset(Product(product) for product in value)
    except ValueError as error:
        raise InvalidValueError("includes", value, f"must name products ({error})") from None


@attrs.frozen
class SeatType:
    """A kind of seat: its monthly base fee, the products it includes, the add-ons it offers.

    >>> code = SeatType("chat_claude_code", Money("40"), ["chat", "claude_code"],
    ...                 display_name="Chat + Claude Code")
    >>> code.includes_product(Product.CLAUDE_CODE), code.includes_product(Product.FILE_CREATION)
    (True, False)
    """

    name: str = attrs.field(validator=non_empty_str)
    monthly_fee: Money = attrs.field(validator=_fee)
    includes: frozenset[Product] = attrs.field(converter=_products)
    add_ons: FrozenDict[str, AddOn] = attrs.field(factory=FrozenDict, converter=frozen_dict)
    display_name: str = ""

    def __attrs_post_init__(self) -> None:
        for key, add_on in self.add_ons.items():
            if add_on.name != key:
                raise InvalidValueError(
                    f"add_ons[{short_repr(key)}].name", add_on.name, f"must be {short_repr(key)}"
                )
            if add_on.monthly_fee.currency != self.monthly_fee.currency:
                raise CurrencyMismatchError(
                    self.monthly_fee.currency,
                    add_on.monthly_fee.currency,
                    f"add_ons[{short_repr(key)}].monthly_fee",
                )

    def includes_product(self, product: Product) -> bool:
        """Tell whether members on this seat may use ``product``."""
        return product in self.includes


_CHAT_PRODUCTS: Final = frozenset({Product.CHAT, Product.FILE_CREATION, Product.CODE_EXECUTION})


@attrs.frozen
class SeatCatalog:
    """The seat types an organization's contract offers, by name.

    >>> catalog = SeatCatalog.enterprise(  # example fees, not Anthropic's
    ...     chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
    >>> catalog.get("chat_claude_code").display_name, catalog.currency
    ('Chat + Claude Code', 'USD')
    """

    seat_types: FrozenDict[str, SeatType] = attrs.field(converter=frozen_dict)
    currency: str = attrs.field(init=False, eq=False, repr=False)
    """The currency of every fee in the catalog."""

    def __attrs_post_init__(self) -> None:
        if not self.seat_types:
            raise InvalidValueError("seat_types", dict(self.seat_types), "must not be empty")
        currencies = sorted({seat.monthly_fee.currency for seat in self.seat_types.values()})
        if len(currencies) > 1:
            raise CurrencyMismatchError(currencies[0], currencies[1], "seat_types")
        object.__setattr__(self, "currency", currencies[0])
        for key, seat in self.seat_types.items():
            if seat.name != key:
                raise InvalidValueError(
                    f"seat_types[{short_repr(key)}].name", seat.name, f"must be {short_repr(key)}"
                )

    @classmethod
    def enterprise(
        cls,
        *,
        chat_fee: Money,
        chat_and_claude_code_fee: Money,
        hipaa_fee: Money | None = None,
    ) -> SeatCatalog:
        """The two seat types of the source, at the fees of your contract.

        The HIPAA option of Chat seats costs $5 per user per month unless
        ``hipaa_fee`` says otherwise. The fees below are examples, not
        Anthropic's prices:

        >>> catalog = SeatCatalog.enterprise(
        ...     chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
        >>> sorted(catalog.seat_types)
        ['chat', 'chat_claude_code']
        >>> str(catalog.get("chat").add_ons["hipaa"].monthly_fee)
        '5.00 USD'
        """
        hipaa = AddOn(
            HIPAA,
            hipaa_fee if hipaa_fee is not None else Money(5, chat_fee.currency),
            "HIPAA-compliant",
        )
        return cls(
            {
                CHAT: SeatType(CHAT, chat_fee, _CHAT_PRODUCTS, {HIPAA: hipaa}, "Chat"),
                CHAT_AND_CLAUDE_CODE: SeatType(
                    CHAT_AND_CLAUDE_CODE,
                    chat_and_claude_code_fee,
                    _CHAT_PRODUCTS | {Product.CLAUDE_CODE},
                    display_name="Chat + Claude Code",
                ),
            }
        )

    def get(self, name: str) -> SeatType:
        """The seat type called ``name``; an unknown name is an :class:`UnknownNameError`."""
        try:
            return self.seat_types[name]
        except KeyError:
            known = sorted(self.seat_types)
            raise UnknownNameError("seat type", name, known, f"known: {known}") from None

    def check_add_ons(self, seat_type: str, add_ons: Iterable[str]) -> None:
        """Raise unless ``seat_type`` exists and offers every add-on in ``add_ons``."""
        offered = self.get(seat_type).add_ons
        for add_on in add_ons:
            if add_on not in offered:
                raise InvalidValueError(
                    "add_ons",
                    add_on,
                    f"is not offered by seat type {short_repr(seat_type)} "
                    f"(offered: {sorted(offered)})",
                )


def _add_ons(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise InvalidValueError("add_ons", value, "must be a collection of names, not a string")
    return frozenset(value)


@attrs.frozen
class Member:
    """A member of the organization: who they are, their role, their current seat.

    >>> ada = Member("ada", "member", "chat", {"hipaa"})
    >>> ada.role.may_manage, ada.seat_type, sorted(ada.add_ons)
    (False, 'chat', ['hipaa'])
    """

    user_id: str = attrs.field(validator=non_empty_str)
    role: Role = attrs.field(converter=_role)
    seat_type: str = attrs.field(validator=non_empty_str)
    add_ons: frozenset[str] = attrs.field(default=frozenset(), converter=_add_ons)


@attrs.frozen
class SeatChange:
    """From ``at`` on, ``user_id`` holds ``seat_type`` with ``add_ons``; ``None``: no seat.

    The history of these changes is what seat fees are prorated from: a member
    who joins, changes seat or leaves mid-period pays for the time held.

    >>> from datetime import datetime, UTC
    >>> history = [SeatChange("ada", datetime(2026, 10, 1, tzinfo=UTC), "chat", {"hipaa"}),
    ...            SeatChange("ada", datetime(2026, 10, 15, tzinfo=UTC), "chat_claude_code"),
    ...            SeatChange("ada", datetime(2026, 10, 20, tzinfo=UTC), None)]  # ada left
    >>> SeatTimeline(history).seat_at("ada", datetime(2026, 10, 16, 9, tzinfo=UTC))
    'chat_claude_code'
    """

    user_id: str = attrs.field(validator=non_empty_str)
    at: datetime = attrs.field(validator=aware)
    seat_type: str | None
    add_ons: frozenset[str] = attrs.field(default=frozenset(), converter=_add_ons)


class SeatTimeline:
    """The seat history indexed by member and instant: which seat did they hold then.

    Built once from :attr:`Organization.seat_history
    <usagebill.accounts.organization.Organization.seat_history>`; each look-up is a binary search.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Organization
    >>> acme = Organization.from_file("examples/org.toml")
    >>> timeline = SeatTimeline(acme.seat_history)  # u-007 moved up on October 14
    >>> [timeline.seat_at("u-007", datetime(2026, 10, day, tzinfo=UTC)) for day in (1, 20)]
    ['chat', 'chat_claude_code']
    """

    __slots__ = ("_index",)

    def __init__(self, history: Iterable[SeatChange]) -> None:
        self._index: dict[str, tuple[list[datetime], list[str | None]]] = {}
        for change in history:
            times, seats = self._index.setdefault(change.user_id, ([], []))
            times.append(change.at.astimezone(UTC))
            seats.append(change.seat_type)

    def seat_at(self, user_id: str, at: datetime) -> str:
        """The seat type ``user_id`` held at ``at``; an error if none, or if unknown."""
        return self.held_at(user_id, at)[0]

    def held_at(self, user_id: str, at: datetime) -> tuple[str, datetime, datetime | None]:
        """The seat held at ``at``, since when, and until when (``None``: still held).

        Engines cache the answer for every instant of ``[since, until)``.
        """
        history = self._index.get(user_id)
        if history is None:
            raise UnknownNameError("member", user_id)
        times, seats = history
        position = bisect.bisect_right(times, at) - 1
        seat_type = seats[position] if position >= 0 else None
        if seat_type is None:
            raise InvalidValueError("user_id", user_id, f"held no seat at {at.isoformat()}")
        until = times[position + 1] if position + 1 < len(times) else None
        return seat_type, times[position], until
