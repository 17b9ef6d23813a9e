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

:func:`decide` is the core: a member's path (:class:`~usagebill.accounts.organization.MemberPath`,
the caps and pools on it) and what is already used on it (:class:`UsedOnPath`)
in, a :class:`Decision` out. :func:`authorize` wraps it for a whole organization
and a whole month-to-date :class:`~usagebill.accounts.limits.Spend`; the ledgers
and the what-if replay, which know the path and its counters, call :func:`decide`.
Both read nothing but their arguments: no clock, no I/O, no global state. That
is what lets the property tests prove the hierarchy invariant, and what the
ledgers build their atomic steps on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

import attrs

from usagebill.accounts.limits import Level, LimitSource, SpendLike
from usagebill.accounts.organization import MemberPath, Organization
from usagebill.errors import CurrencyMismatchError, InvalidValueError
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = ["Binding", "Decision", "UsedOnPath", "authorize", "authorize_usage", "decide"]

_ZERO: Final = Decimal(0)


# Enum members looked up once: attribute access on an enum class is slow on the hot path.
_MEMBER: Final = Level.MEMBER
_SEAT_TYPE: Final = Level.SEAT_TYPE
_ORGANIZATION: Final = Level.ORGANIZATION


@attrs.frozen
class Binding:
    """A level that refuses the charge: its cap, what is used, by how much it falls short.

    >>> binding = Binding(Level.MEMBER, "ada", Money("10"), Money("9"), Money("1"),
    ...                   LimitSource.INDIVIDUAL)
    >>> print(binding.describe())
    member limit of ada (individual) 10.00 USD: 9.00 USD used, short by 1.00 USD
    """

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

    >>> decision = Decision(True, "ada", "chat", Money("2"), headroom=Money("8"))
    >>> bool(decision), decision.reason
    (True, 'allowed: 2.00 USD for ada (headroom 8.00 USD)')
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


class UsedOnPath(NamedTuple):
    """What is already used on a member's path, as plain Decimals of the path's currency.

    Committed and held amounts of the member, of the seat type their charge
    counts toward, and of the whole organization: the counters a ledger reads
    inside its transaction, or a whole :class:`~usagebill.accounts.limits.Spend` seen
    from one member (:meth:`from_spend`).

    >>> used = UsedOnPath(Decimal("9"), Decimal("40"), Decimal("100"), held_member=Decimal("1"))
    >>> used.plus(Decimal("2"), Decimal(0)).member
    Decimal('11')
    """

    member: Decimal
    seat_type: Decimal
    total: Decimal
    held_member: Decimal = _ZERO
    held_seat_type: Decimal = _ZERO
    held_total: Decimal = _ZERO

    @classmethod
    def from_spend(cls, spend: SpendLike, user_id: str, seat_type: str) -> UsedOnPath:
        """The amounts of ``spend`` on the path of ``user_id`` charging toward ``seat_type``."""
        return cls(
            spend.members.get(user_id, _ZERO),
            spend.seat_types.get(seat_type, _ZERO),
            spend.total,
            spend.held_members.get(user_id, _ZERO),
            spend.held_seat_types.get(seat_type, _ZERO),
            spend.held_total,
        )

    def plus(self, committed: Decimal, held: Decimal) -> UsedOnPath:
        """The same path with ``committed`` and ``held`` added at every level."""
        add = EXACT.add
        member, seat_type, total, held_member, held_seat_type, held_total = self
        return UsedOnPath(
            add(member, committed),
            add(seat_type, committed),
            add(total, committed),
            add(held_member, held),
            add(held_seat_type, held),
            add(held_total, held),
        )


def decide(
    path: MemberPath,
    used: UsedOnPath,
    amount: Money,
    *,
    product: Product = Product.CHAT,
) -> Decision:
    """Decide whether the member on ``path``, with ``used`` on it, may be charged ``amount``.

    The decision's core: plain values in, a :class:`Decision` out. ``amount``
    must be in ``path.currency``, and so must ``used``.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, SeatCatalog, SpendLimits
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
    ...     at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     limits=SpendLimits(members={"ada": Money("10")}),
    ... )
    >>> used = UsedOnPath(member=Decimal("9"), seat_type=Decimal("9"), total=Decimal("9"))
    >>> decide(org.path("ada"), used, Money("0.50")).allowed
    True
    >>> print(decide(org.path("ada"), used, Money("2")).reason)
    denied: 2.00 USD for ada exceeds member limit of ada (individual) 10.00 USD:
    9.00 USD used, short by 1.00 USD
    """
    _check_amount(amount, path.currency)
    return _decide(path, amount, product, *used)


def authorize(
    org: Organization,
    spend: SpendLike,
    user_id: str,
    amount: Money,
    *,
    product: Product = Product.CHAT,
) -> Decision:
    """Decide whether ``user_id`` may be charged ``amount`` now, given month-to-date ``spend``.

    :func:`decide` on the member's path (:meth:`Organization.path
    <usagebill.accounts.organization.Organization.path>`) and the amounts of ``spend`` on it.

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
    if not isinstance(amount, Money):  # checked before the member is looked up, as in decide
        raise InvalidValueError("amount", amount, "must be Money")
    currency = spend.currency
    if currency != org.catalog.currency:
        raise CurrencyMismatchError(org.catalog.currency, currency, "spend.currency")
    if amount.currency != currency:
        raise CurrencyMismatchError(currency, amount.currency, "amount")
    if amount.amount < 0:
        raise InvalidValueError("amount", amount, "must not be negative")
    path = org.path(user_id)
    seat_type = path.seat_type
    return _decide(  # UsedOnPath.from_spend, unpacked: this is the hot path
        path,
        amount,
        product,
        spend.members.get(user_id, _ZERO),
        spend.seat_types.get(seat_type, _ZERO),
        spend.total,
        spend.held_members.get(user_id, _ZERO),
        spend.held_seat_types.get(seat_type, _ZERO),
        spend.held_total,
    )


def _decide(  # noqa: PLR0917  (the amounts of UsedOnPath, as plain arguments: the hot path)
    path: MemberPath,
    amount: Money,
    product: Product,
    member: Decimal,
    seat: Decimal,
    total: Decimal,
    held_member: Decimal,
    held_seat: Decimal,
    held_total: Decimal,
) -> Decision:
    """The decision on checked input: each capped level's room is cap - (committed + held)."""
    user_id, seat_type, includes, member_cap, source, seat_cap, org_cap, org_name, currency = path
    if product not in includes:
        return Decision(
            allowed=False,
            user_id=user_id,
            seat_type=seat_type,
            amount=amount,
            headroom=None,
            not_included=product,
        )
    value = amount.amount
    add, subtract = EXACT.add, EXACT.subtract
    least: Decimal | None = None
    short: list[tuple[Level, str, Money, Decimal, Decimal]] = []
    # What a level has used up is committed plus held (added only when something is held).
    if member_cap is not None:
        used = add(member, held_member) if held_member else member
        least = room = subtract(member_cap.amount, used)
        if value > room:
            short.append((_MEMBER, user_id, member_cap, used, room))
    if seat_cap is not None:
        used = add(seat, held_seat) if held_seat else seat
        room = subtract(seat_cap.amount, used)
        least = room if least is None or room < least else least
        if value > room:
            short.append((_SEAT_TYPE, seat_type, seat_cap, used, room))
    if org_cap is not None:
        used = add(total, held_total) if held_total else total
        room = subtract(org_cap.amount, used)
        least = room if least is None or room < least else least
        if value > room:
            short.append((_ORGANIZATION, org_name, org_cap, used, room))

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


def _check_amount(amount: Money, currency: str) -> None:
    """Refuse an amount that is not Money of ``currency``, or is negative."""
    if not isinstance(amount, Money):
        raise InvalidValueError("amount", amount, "must be Money")
    if amount.currency != currency:
        raise CurrencyMismatchError(currency, amount.currency, "amount")
    if amount.amount < 0:
        raise InvalidValueError("amount", amount, "must not be negative")


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
