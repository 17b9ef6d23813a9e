"""May this charge happen? The pure decision under nested caps.

A charge of amount ``a`` by member ``m`` is allowed iff, for every level on
``m``'s path,

    spent + held + a <= cap

where the levels are ``m``'s effective limit (against ``m``'s own spend), the
pool cap of ``m``'s *current* seat type (against that seat type's spend) and
the organisation's pool cap (against everyone's spend). ``None`` is no cap;
zero is zero; the comparison is the same ``<=`` at every level. A zero charge
is always allowed by the caps. A charge for a product the member's seat does
not include is denied whatever the caps.

:func:`authorize` reads nothing but its arguments: no clock, no I/O, no global
state. That is what lets the property tests prove the hierarchy invariant, and
what the ledgers build their atomic steps on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from usagebill.errors import CurrencyMismatchError, InvalidValueError
from usagebill.limits import LimitSource, Spend
from usagebill.money import EXACT, Money, _make
from usagebill.org import Organisation
from usagebill.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = ["Binding", "Decision", "Level", "authorize", "authorize_usage"]

_ZERO: Final = Decimal(0)


class Level(enum.StrEnum):
    """A level of the cap hierarchy, from the member up."""

    MEMBER = "member"
    SEAT_TYPE = "seat_type"
    ORGANISATION = "organisation"


@attrs.frozen
class Binding:
    """A level that refuses the charge: its cap, what is used, by how much it falls short."""

    level: Level
    subject: str
    cap: Money
    used: Money
    shortfall: Money
    source: LimitSource | None = None

    def describe(self) -> str:
        """One phrase for people, e.g. ``member limit of ada (individual) 5.00 USD``."""
        if self.level is Level.MEMBER:
            where = f"member limit of {self.subject} ({self.source})"
        elif self.level is Level.SEAT_TYPE:
            where = f"pool cap of seat type {self.subject}"
        else:
            where = "organisation pool cap"
        return (
            f"{where} {self.cap.rounded()}: {self.used.rounded()} used, short by {self.shortfall}"
        )


@attrs.frozen
class Decision:
    """The answer to "may this charge happen?", with every reason.

    ``bindings`` lists each level that refuses the charge, tightest (largest
    shortfall) first. ``headroom`` is the least room left on the member's
    path before this charge (``None``: no cap anywhere on it). ``not_included``
    names a product the member's seat does not include. A Decision is truthy
    when allowed.
    """

    allowed: bool
    user_id: str
    seat_type: str
    amount: Money
    headroom: Money | None
    bindings: tuple[Binding, ...] = ()
    not_included: Product | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def reason(self) -> str:
        """One line a person can read."""
        if self.not_included is not None:
            return (
                f"denied: seat type {self.seat_type} of {self.user_id} "
                f"does not include {self.not_included}"
            )
        if self.allowed:
            room = "no cap applies" if self.headroom is None else f"headroom {self.headroom}"
            return f"allowed: {self.amount} for {self.user_id} ({room})"
        binds = "; ".join(binding.describe() for binding in self.bindings)
        return f"denied: {self.amount} for {self.user_id} exceeds {binds}"


def authorize(
    org: Organisation,
    spend: Spend,
    user_id: str,
    amount: Money,
    *,
    product: Product = Product.CHAT,
) -> Decision:
    """Decide whether ``user_id`` may be charged ``amount`` now, given month-to-date ``spend``.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, SeatCatalogue, SpendLimits, PoolLimit
    >>> org = Organisation.create(
    ...     "acme",
    ...     SeatCatalogue.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
    ...     at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     limits=SpendLimits(users={"ada": Money("10")}),
    ... )
    >>> spend = Spend().record("ada", "chat", Money("9"))
    >>> authorize(org, spend, "ada", Money("0.50")).allowed
    True
    >>> decision = authorize(org, spend, "ada", Money("2"))
    >>> decision.allowed, decision.headroom, decision.bindings[0].shortfall
    (False, Money('1', 'USD'), Money('1', 'USD'))
    >>> print(decision.reason)
    denied: 2.00 USD for ada exceeds member limit of ada (individual) 10.00 USD:
    9.00 USD used, short by 1.00 USD
    """
    if not isinstance(amount, Money):
        raise InvalidValueError("amount", amount, "must be Money")
    if amount.currency != spend.currency or amount.currency != org.currency:
        raise CurrencyMismatchError(org.currency, amount.currency, "amount")
    value = amount.amount
    if value < 0:
        raise InvalidValueError("amount", amount, "must not be negative")
    member = org.member(user_id)
    seat_type = member.seat_type
    if product not in org.catalogue.get(seat_type).includes:
        return Decision(
            allowed=False,
            user_id=user_id,
            seat_type=seat_type,
            amount=amount,
            headroom=None,
            not_included=product,
        )

    limits = org.limits
    limit = limits.effective(user_id, seat_type)
    # Each capped level on the member's path: (level, subject, cap, used, source).
    path: list[tuple[Level, str, Money, Decimal, LimitSource | None]] = []
    if limit.cap is not None:
        used = _used(spend.users, spend.held_users, user_id)
        path.append((Level.MEMBER, user_id, limit.cap, used, limit.source))
    pool_cap = limits.seat_type(seat_type).pool_cap
    if pool_cap is not None:
        used = _used(spend.seat_types, spend.held_seat_types, seat_type)
        path.append((Level.SEAT_TYPE, seat_type, pool_cap, used, None))
    org_cap = limits.organisation.pool_cap
    if org_cap is not None:
        used = EXACT.add(spend.total, spend.held_total)
        path.append((Level.ORGANISATION, org.name, org_cap, used, None))

    currency = spend.currency
    rooms = [EXACT.subtract(cap.amount, used) for _, _, cap, used, _ in path]
    headroom = _make(max(min(rooms), _ZERO), currency) if rooms else None
    bindings = [
        Binding(
            level,
            subject,
            cap,
            _make(used, currency),
            _make(EXACT.subtract(value, room), currency),
            source,
        )
        for (level, subject, cap, used, source), room in zip(path, rooms, strict=True)
        if value > room
    ]
    if not bindings or not value:
        return Decision(
            allowed=True, user_id=user_id, seat_type=seat_type, amount=amount, headroom=headroom
        )
    bindings.sort(key=lambda binding: binding.shortfall.amount, reverse=True)
    return Decision(
        allowed=False,
        user_id=user_id,
        seat_type=seat_type,
        amount=amount,
        headroom=headroom,
        bindings=tuple(bindings),
    )


def _used(committed: Mapping[str, Decimal], held: Mapping[str, Decimal], key: str) -> Decimal:
    return EXACT.add(committed.get(key, _ZERO), held.get(key, _ZERO))


def authorize_usage(
    org: Organisation,
    spend: Spend,
    user_id: str,
    *,
    model: str,
    usage: TokenUsage,
    at: datetime,
    prices: PriceTable,
    modifiers: Modifiers | None = None,
    product: Product = Product.CHAT,
) -> Decision:
    """:func:`authorize` for a request's usage, priced by ``prices`` at ``at``."""
    amount = prices.quote(model, usage, at, modifiers).amount
    return authorize(org, spend, user_id, amount, product=product)
