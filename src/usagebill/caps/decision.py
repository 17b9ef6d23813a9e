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
from typing import TYPE_CHECKING, Final, NamedTuple

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


class _DecisionSlots:
    """A Decision's storage, still writable: what lets :func:`_decide` build one cheaply.

    Python offers no cheap way to fill the slots of a frozen instance: attrs'
    ``__init__`` sets each field through ``object.__setattr__`` (about 8,000
    machine instructions for a Decision, more than the whole floor of
    ``benchmarks/decision.py``; this way, about 1,800). Storing into the slots
    of this plain class is a specialized bytecode each; the filled object then
    becomes a :class:`Decision` by ``__class__`` assignment, which Python allows
    because Decision adds no slot of its own (its fields are these slots), and
    which leaves an object no different from one its ``__init__`` built. Only
    :func:`_decide` does this, after it has set every field.

    ``_least`` is not a field: the least room on the path, kept by the hot path
    in place of the ``headroom`` Money, which :meth:`Decision.__getattr__` builds
    from it on first read.
    """

    __slots__ = (
        "__weakref__",
        "_least",
        "allowed",
        "amount",
        "bindings",
        "headroom",
        "not_included",
        "seat_type",
        "user_id",
    )
    allowed: bool
    user_id: str
    seat_type: str
    amount: Money
    headroom: Money | None
    bindings: tuple[Binding, ...]
    not_included: Product | None
    _least: Decimal


@attrs.frozen
class Decision(_DecisionSlots):
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

    if not TYPE_CHECKING:  # to type checkers, a Decision has its fields and nothing more

        def __getattr__(self, name: str) -> object:
            """Build ``headroom`` on first read, for an allowed decision of the hot path.

            Python calls this only for a slot never set. :func:`_decide` leaves
            ``headroom`` so when the path is capped and the charge allowed, and
            keeps the least room in ``_least``: a gateway that reads only
            ``allowed`` never pays for a Money it does not look at. Equality,
            hashing, ``repr``, ``attrs.evolve`` and pickling read ``headroom``
            like any field, so they see the value an eager Decision holds.
            """
            if name != "headroom":
                raise AttributeError(name)
            headroom = _money_left(self._least, self.amount.currency)
            object.__setattr__(self, "headroom", headroom)  # once; the value never changes
            return headroom

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
    if not (type(amount) is Money and amount.currency == path.currency and amount.amount >= _ZERO):
        _check_amount(amount, path.currency)  # raises, unless amount is of a subclass of Money
    member, seat, total, held_member, held_seat, held_total = used
    # What a capped level has used up: committed, plus held when something is held.
    if held_member and path.member_cap is not None:
        member = _add(member, held_member)
    if held_seat and path.seat_type_cap is not None:
        seat = _add(seat, held_seat)
    if held_total and path.organization_cap is not None:
        total = _add(total, held_total)
    return _decide(path, amount, product, member, seat, total)


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
    currency = spend.currency
    if not (
        type(amount) is Money
        and amount.currency == currency == org.catalog.currency
        and amount.amount >= _ZERO
    ):
        _check_input(amount, org.catalog.currency, currency)
    path = org.path(user_id)
    if spend.held_total:  # something is held: decide counts it on the path
        used = UsedOnPath.from_spend(spend, user_id, path.seat_type)
        return decide(path, used, amount, product=product)
    # Nothing is held anywhere (a Spend's held amounts add up to its held total).
    return _decide(
        path,
        amount,
        product,
        spend.members.get(user_id, _ZERO),
        spend.seat_types.get(path.seat_type, _ZERO),
        spend.total,
    )


# Every sum of a decision is computed by EXACT's methods (60 significant digits, Inexact trapped):
# its result is the exact value whenever that fits 60 digits, and an error otherwise, never a
# rounded value (tests/caps/test_decision_fast_path.py checks both against exact rationals). The
# + and - operators cost about half as much, but they compute in the caller's thread context
# (28 digits by default, with whatever rounding and traps the caller set), so they are exact
# only when that context's precision covers the digits of the result, and those depend on the
# exponents of the operands (10**30 - 10**-31 needs 62 digits). Reading the context and the
# exponents costs more than the operators save; making EXACT current around the sums
# (decimal.localcontext, setcontext) costs more still, and would change the context of any code
# running in between. Bound once: looked up on EXACT at each call, a method costs twice as much.
_add: Final = EXACT.add
_subtract: Final = EXACT.subtract


def _decide(  # noqa: PLR0917  (plain positional arguments: the hot path)
    path: MemberPath,
    amount: Money,
    product: Product,
    member: Decimal,
    seat: Decimal,
    total: Decimal,
) -> Decision:
    """The decision on checked input: the charge must fit each capped level's room.

    ``member``, ``seat`` and ``total`` are what each level has used up
    (committed plus held). A level's room is its cap less that, summed in
    :data:`EXACT`, which raises rather than round. A charge fits every level iff
    it fits the least room, so the allowed path compares once; it builds its
    Decision without attrs' ``__init__``, and the headroom on first read (see
    :class:`_DecisionSlots`).
    """
    user_id, seat_type, includes, member_cap, _, seat_cap, org_cap, _, _ = path
    if product not in includes:
        return Decision(False, user_id, seat_type, amount, None, not_included=product)  # noqa: FBT003
    least = None if member_cap is None else _subtract(member_cap.amount, member)
    if seat_cap is not None:
        room = _subtract(seat_cap.amount, seat)
        if least is None or room < least:
            least = room
    if org_cap is not None:
        room = _subtract(org_cap.amount, total)
        if least is None or room < least:
            least = room
    value = amount.amount
    decision = _DecisionSlots()
    if least is None or value <= least or not value:  # allowed (a zero charge always is)
        decision.allowed = True
        decision.bindings = ()
        if least is None:  # no cap on the path
            decision.headroom = None
        else:  # least >= value >= 0, or a zero charge
            decision._least = least  # noqa: SLF001  (the headroom, built on first read)
    else:
        decision.allowed = False
        decision.bindings = _bindings(path, value, amount.currency, (member, seat, total))
        decision.headroom = _money_left(least, amount.currency)
    decision.user_id = user_id
    decision.seat_type = seat_type
    decision.amount = amount
    decision.not_included = None
    decision.__class__ = Decision
    return decision  # type: ignore[return-value]  # it is one now: see _DecisionSlots


def _money_left(least: Decimal, currency: str) -> Money:
    """The headroom of a path whose least room is ``least``: none left is zero."""
    return unchecked_money(max(_ZERO, least), currency)


def _bindings(
    path: MemberPath, value: Decimal, currency: str, used: tuple[Decimal, Decimal, Decimal]
) -> tuple[Binding, ...]:
    """Every level that refuses a charge of ``value``, the largest shortfall first.

    ``used`` is what each level has used up (committed plus held), member first.
    """
    levels = (
        (_MEMBER, path.user_id, path.member_cap, path.member_cap_source),
        (_SEAT_TYPE, path.seat_type, path.seat_type_cap, None),
        (_ORGANIZATION, path.organization, path.organization_cap, None),
    )
    bindings = []
    for (level, subject, cap, source), level_used in zip(levels, used, strict=True):
        if cap is not None:
            room = _subtract(cap.amount, level_used)
            if value > room:
                bindings.append(
                    Binding(
                        level,
                        subject,
                        cap,
                        unchecked_money(level_used, currency),
                        unchecked_money(_subtract(value, room), currency),
                        source,
                    )
                )
    bindings.sort(key=_shortfall, reverse=True)
    return tuple(bindings)


def _shortfall(binding: Binding) -> Decimal:
    return binding.shortfall.amount


def _check_input(amount: Money, org_currency: str, spend_currency: str) -> None:
    """Refuse what :func:`authorize` refuses, in its order: amount type, spend, amount."""
    if not isinstance(amount, Money):  # checked before the member is looked up, as in decide
        raise InvalidValueError("amount", amount, "must be Money")
    if spend_currency != org_currency:
        raise CurrencyMismatchError(org_currency, spend_currency, "spend.currency")
    _check_amount(amount, spend_currency)


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
