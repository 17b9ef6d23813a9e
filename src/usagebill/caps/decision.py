"""May this charge happen? The pure decision under nested caps.

A charge of amount ``a`` by member ``m`` is allowed iff, for every level on
``m``'s path,

    spent + held + a <= cap

where the levels are ``m``'s effective limit (against ``m``'s own spend), the
pool cap of ``m``'s *current* seat type (against that seat type's spend) and
the organization's pool cap (against everyone's spend). ``None`` is no cap;
zero is zero; the comparison is the same ``<=`` at every level. A zero charge
is always allowed by the caps. A charge for a product the member's seat does
not include is denied whatever the caps.

:func:`authorize` reads nothing but its arguments: no clock, no I/O, no global
state. That is what lets the property tests prove the hierarchy invariant, and
what the ledgers build their atomic steps on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from usagebill.accounts.limits import Level, LimitSource, SpendLike
from usagebill.accounts.organization import Organization
from usagebill.errors import CurrencyMismatchError, InvalidValueError
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = ["Binding", "Decision", "authorize", "authorize_usage"]

_ZERO: Final = Decimal(0)


# Enum members looked up once: attribute access on an enum class is slow on the hot path.
_MEMBER: Final = Level.MEMBER
_SEAT_TYPE: Final = Level.SEAT_TYPE
_ORGANIZATION: Final = Level.ORGANIZATION


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
            where = "organization pool cap"
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
    org: Organization,
    spend: SpendLike,
    user_id: str,
    amount: Money,
    *,
    product: Product = Product.CHAT,
) -> Decision:
    """Decide whether ``user_id`` may be charged ``amount`` now, given month-to-date ``spend``.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, SeatCatalog, Spend, SpendLimits
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
    ...     at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     limits=SpendLimits(members={"ada": Money("10")}),
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
    currency = spend.currency
    value = _checked(org, currency, amount)
    seat_type, includes, member_cap, source, pool_cap = org.path(user_id)
    if product not in includes:
        return Decision(
            allowed=False,
            user_id=user_id,
            seat_type=seat_type,
            amount=amount,
            headroom=None,
            not_included=product,
        )

    # Each capped level on the member's path: its room is cap - (committed + held).
    org_cap = org.limits.organization.pool_cap
    least: Decimal | None = None
    short: list[tuple[Level, str, Money, Decimal, Decimal]] = []
    if member_cap is not None:
        used = _used(spend.members.get(user_id, _ZERO), spend.held_members.get(user_id))
        least = room = EXACT.subtract(member_cap.amount, used)
        if value > room:
            short.append((_MEMBER, user_id, member_cap, used, room))
    if pool_cap is not None:
        used = _used(spend.seat_types.get(seat_type, _ZERO), spend.held_seat_types.get(seat_type))
        room = EXACT.subtract(pool_cap.amount, used)
        least = room if least is None or room < least else least
        if value > room:
            short.append((_SEAT_TYPE, seat_type, pool_cap, used, room))
    if org_cap is not None:
        used = _used(spend.total, spend.held_total)
        room = EXACT.subtract(org_cap.amount, used)
        least = room if least is None or room < least else least
        if value > room:
            short.append((_ORGANIZATION, org.name, org_cap, used, room))

    headroom = None if least is None else unchecked_money(least if least > 0 else _ZERO, currency)
    if not short or not value:
        return Decision(True, user_id, seat_type, amount, headroom)  # noqa: FBT003
    return _denied(user_id, seat_type, amount, headroom, short=short, source=source)


def _denied(
    user_id: str,
    seat_type: str,
    amount: Money,
    headroom: Money | None,
    *,
    short: list[tuple[Level, str, Money, Decimal, Decimal]],
    source: LimitSource,
) -> Decision:
    """A denial listing every level that binds, the largest shortfall first."""
    currency, value = amount.currency, amount.amount
    bindings = [
        Binding(
            level,
            subject,
            cap,
            used=unchecked_money(used, currency),
            shortfall=unchecked_money(EXACT.subtract(value, room), currency),
            source=source if level is _MEMBER else None,
        )
        for level, subject, cap, used, room in short
    ]
    bindings.sort(key=lambda binding: binding.shortfall.amount, reverse=True)
    return Decision(
        allowed=False,
        user_id=user_id,
        seat_type=seat_type,
        amount=amount,
        headroom=headroom,
        bindings=tuple(bindings),
    )


def _checked(org: Organization, currency: str, amount: Money) -> Decimal:
    """The amount to decide on, once it is Money of the organization's currency, not negative."""
    if not isinstance(amount, Money):
        raise InvalidValueError("amount", amount, "must be Money")
    if currency != org.catalog.currency:
        raise CurrencyMismatchError(org.catalog.currency, currency, "spend.currency")
    if amount.currency != currency:
        raise CurrencyMismatchError(currency, amount.currency, "amount")
    if amount.amount < 0:
        raise InvalidValueError("amount", amount, "must not be negative")
    return amount.amount


def _used(committed: Decimal, held: Decimal | None) -> Decimal:
    """Committed plus held: what a level has already used up."""
    return EXACT.add(committed, held) if held else committed


def authorize_usage(
    org: Organization,
    spend: SpendLike,
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
