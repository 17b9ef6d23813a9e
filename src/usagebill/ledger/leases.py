"""Budget leases: decide in process, at in-process speed, without ever passing a cap.

The escrow method (P. O'Neil, "The Escrow Transactional Method", ACM TODS 11(4),
1986). Every decision of a :class:`~usagebill.ledger.core.Ledger` is a
transaction of the central store, and every transaction serializes on the
organization's counters: the store, not the gateway, bounds the requests a
second. A :class:`LeasedLedger` instead takes a *lease*, a slice of headroom on
every level of a member's path (member, seat type, organization), as one
ledger :class:`~usagebill.ledger.core.Hold`: one transaction. It then admits
that member's charges locally while they fit the slice, and records them
(:meth:`Ledger.settle_batch`, each event its own settlement) when the lease
fills, expires or is flushed, returning what it did not use.

* **Zero overshoot by construction.** What a lease admits was reserved
  centrally first; a lease admits nothing after its deadline, a margin before
  the hold's time-to-live ends. The one duty of the caller: flush at least
  every ``ttl - margin`` (a timer), so that what was admitted is recorded
  while its reservation stands. A flush after that (a process stalled past
  the TTL) still records every charge, flagged as an overrun.
* **Lease size adapts to the headroom.** A lease is sized for
  :attr:`LeasePolicy.requests` charges like the one asking, but takes at most
  :attr:`LeasePolicy.share` of the room left on the path as last seen: small
  near a cap, so that little room sits idle in leases. A charge too large for
  what is left of the slice grows the lease, in one transaction on every level
  (by just what is missing when the room is short): a denial is always a
  central decision, made after this front's own leases on the denying pool gave
  their slack back. A member's first charge in a period is decided centrally:
  its decision tells the room.
* **Crash safety.** A lease whose process died expires with its hold and its
  slack returns to the pool. Charges admitted under it are recorded when it is
  flushed: :meth:`LeasedLedger.flush` is the acknowledgment; what a crash
  loses is at most :attr:`LeasePolicy.flush_every` unflushed charges a lease.
* **The trade.** A process holds slack it may not use (until its lease ends);
  near a cap, another process can be denied while that slack would have covered
  it. :func:`premature_denials` counts such denials after a run.

>>> from datetime import datetime, UTC
>>> from usagebill import Member, Money, Organization, SeatCatalog, SpendLimits, PoolLimit
>>> from usagebill import TokenUsage, UsageEvent, Product
>>> from usagebill.ledger import MemoryLedger
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code")],
...     at=datetime(2026, 10, 1, tzinfo=UTC),
...     limits=SpendLimits(organization=PoolLimit(pool_cap=Money("100"))),
... )
>>> at = datetime(2026, 10, 2, tzinfo=UTC)
>>> central = MemoryLedger(org, clock=lambda: at)
>>> leased = LeasedLedger(central)
>>> usage = TokenUsage(input_tokens=100_000)  # 0.30 USD on Sonnet 4.6
>>> results = [
...     leased.charge(UsageEvent(f"e{n}", "olga", "claude-sonnet-4-6", Product.CHAT, usage, at))
...     for n in range(3)
... ]
>>> all(result.recorded for result in results)
True
>>> leased.counts  # the first asked the store (and learned the room), the next two did not
{'local': 2, 'central': 1, 'leases': 1, 'flushes': 1}
>>> spend = central.month_to_date(at)  # a lease of 32 requests' worth, two of them pending
>>> Money(spend.held_total), Money(spend.total)
(Money('9.6', 'USD'), Money('0.3', 'USD'))
>>> settled = leased.close()  # records the two, gives the rest of the lease back
>>> spend = central.month_to_date(at)
>>> len(settled), Money(spend.total), Money(spend.held_total)
(2, Money('0.9', 'USD'), Money('0', 'USD'))
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Final, Self

import attrs

from usagebill._checks import check_aware
from usagebill.accounts.limits import Level, Spend
from usagebill.caps.decision import Decision, UsedOnPath, decide
from usagebill.errors import (
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    UnknownNameError,
    short_repr,
)
from usagebill.events import UsageEvent
from usagebill.ledger.core import ChargeResult, Hold, HoldResult, Ledger, SettleResult
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Product

__all__ = ["LeasePolicy", "LeasedLedger", "premature_denials"]

_ZERO: Final = Decimal(0)
_SIZE_STEP: Final = Decimal("0.000001")


def _share(_instance: object, _attribute: object, value: Decimal) -> None:
    if not _ZERO < value <= 1:
        raise InvalidValueError("share", value, "must be above 0 and at most 1")


def _positive_money(_instance: object, attribute: attrs.Attribute[Money], value: Money) -> None:
    if value.amount <= 0:
        raise InvalidValueError(attribute.name, value, "must be above zero")


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise InvalidValueError(attribute.name, value, "must be at least 1")


@attrs.frozen
class LeasePolicy:
    """How large leases are, how long they live, how often they are recorded.

    A lease is sized for ``requests`` charges like the one that asks for it,
    but takes at most ``share`` of the room left on the member's path (as last
    seen: leases shrink as a cap nears) and at most ``largest`` (in the
    organization's currency; None: no such bound). ``ttl``: the hold's
    time-to-live, how long a crashed process's slack stays out of the pool.
    ``margin``: how long before the hold expires the lease stops admitting (a
    charge must be recorded while its reservation still stands).
    ``flush_every``: how many charges a lease keeps before it records them
    (what a crash may lose).

    >>> LeasePolicy(requests=8).size(room=Decimal("100"), amount=Decimal("1"))  # 8 requests
    Decimal('8.000000')
    >>> LeasePolicy(requests=8).size(room=Decimal("10"), amount=Decimal("1"))  # a quarter
    Decimal('2.500000')
    """

    requests: int = attrs.field(default=32, validator=_positive)
    share: Decimal = attrs.field(default=Decimal("0.25"), converter=Decimal, validator=_share)
    largest: Money | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive_money)
    )
    ttl: timedelta = timedelta(seconds=60)
    margin: timedelta = timedelta(seconds=10)
    flush_every: int = attrs.field(default=256, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not timedelta(0) <= self.margin < self.ttl:
            raise InvalidValueError(
                "margin", self.margin, f"must be at least 0 and below {self.ttl}"
            )

    def size(self, room: Decimal | None, amount: Decimal) -> Decimal:
        """The lease to ask for a charge of ``amount`` when ``room`` is left (None: no cap).

        >>> policy = LeasePolicy(requests=10, share="0.25", largest=Money("5"))
        >>> policy.size(None, Decimal("0.1")), policy.size(Decimal("100"), Decimal("1"))
        (Decimal('1.000000'), Decimal('5.000000'))
        >>> policy.size(Decimal("8"), Decimal("1")), policy.size(Decimal("2"), Decimal("1"))
        (Decimal('2.000000'), Decimal('1'))
        """
        size = EXACT.multiply(amount, self.requests)
        if self.largest is not None:
            size = min(size, self.largest.amount)
        if room is not None:
            size = min(size, EXACT.multiply(self.share, room))
        # short and exact: sizes worked out from rooms worked out from sizes would grow digits
        return max(size.quantize(_SIZE_STEP, ROUND_DOWN), amount)


class _Lease:
    """One lease: its hold as the store has it, what is left, pending and reserved locally.

    ``reserved`` are the holds of guarded requests taken from it (request id to
    amount): a lease that ends with some outstanding is *retired*, its slack
    kept until the last of them settles or is released.
    """

    __slots__ = ("deadline", "hold", "left", "pending", "reserved")

    def __init__(self, hold: Hold, deadline: datetime) -> None:
        self.hold = hold
        self.left = hold.amount.amount
        self.deadline = deadline
        self.pending: dict[str, tuple[UsageEvent, ChargeResult]] = {}
        self.reserved: dict[str, Decimal] = {}


class LeasedLedger:
    """A ledger front that decides locally under leases of headroom taken from ``ledger``.

    One per process (or host): it is safe across threads, and cheap only as long
    as one object serves many requests. ``charge`` answers as
    :meth:`Ledger.charge` does; a locally admitted charge is recorded centrally
    when its lease is flushed (:meth:`flush`, :meth:`close`, or when the lease
    fills, expires or reaches :attr:`LeasePolicy.flush_every` charges): call
    :meth:`flush` at least every ``ttl - margin`` of the policy (a timer). A
    member's first charge in a period is decided centrally (its decision tells
    the room their leases are sized from). Its
    :class:`~usagebill.ledger.core.ChargeResult` carries no threshold
    notifications: the :class:`~usagebill.ledger.core.SettleResult` of the flush
    does. ``counts`` tells how decisions were made: ``local``, ``central``
    (a charge the central store decided), ``leases`` taken or grown, ``flushes``.

    ``hold``, ``extend``, ``settle`` and ``release`` reserve a request's upper
    bound from its member's lease the same way, so that the SDK guard
    (:mod:`usagebill.gateway`) can take a LeasedLedger for its ledger; a
    settlement is recorded at the next flush.

    >>> with LeasedLedger(central).flushing() as front:  # a timer flushes, the end closes
    ...     asked = UsageEvent("g1", "olga", "claude-sonnet-4-6", Product.CHAT, usage, at)
    ...     front.charge(asked).recorded
    True
    """

    def __init__(self, ledger: Ledger, policy: LeasePolicy | None = None) -> None:
        self.ledger = ledger
        self.policy = policy or LeasePolicy()
        largest = self.policy.largest
        if largest is not None and largest.currency != ledger.org.currency:
            raise CurrencyMismatchError(largest.currency, ledger.org.currency)
        self.counts = {"local": 0, "central": 0, "leases": 0, "flushes": 0}
        self._name = uuid.uuid4().hex[:16]
        self._number = 0
        self._leases: dict[str, _Lease] = {}  # the live lease of each member
        self._retired: dict[str, _Lease] = {}  # ended leases with reservations, by hold id
        self._requests: dict[str, _Lease] = {}  # the lease each guarded request holds from
        self._room: dict[tuple[str, str], Decimal | None] = {}  # by member and period, last seen
        self._lock = threading.RLock()
        self.flush_errors: list[Exception] = []

    # --- what the guard reads of a ledger -------------------------------------------------

    @property
    def clock(self) -> Callable[[], datetime]:
        """The central ledger's clock."""
        return self.ledger.clock

    @property
    def prices(self) -> PriceTable:
        """The central ledger's price table."""
        return self.ledger.prices

    @property
    def hold_ttl(self) -> timedelta:
        """How long a request's hold lives: its lease's hold is renewed to cover it."""
        return self.ledger.hold_ttl

    def month_to_date(self, at: datetime | None = None) -> Spend:
        """The central ledger's spend: what is recorded, and held (leases included)."""
        return self.ledger.month_to_date(at)

    # --- charges --------------------------------------------------------------------------

    def charge(self, event: UsageEvent) -> ChargeResult:
        """Admit ``event`` under its member's lease if it fits, or ask the central store."""
        amount = self._price(event)
        period = self.ledger.period_of(event.at).label
        with self._lock:
            lease = self._leases.get(event.user_id)
            if lease is not None:
                known = lease.pending.get(event.event_id)
                if known is not None:
                    if known[0] != event:
                        raise ConflictError(
                            "event_id", event.event_id, "was seen before with different content"
                        )
                    return attrs.evolve(known[1], replayed=True)
                if self._usable(lease, period, event.product):
                    denied = None if amount.amount <= lease.left else self._grow(lease, amount)
                    if denied is not None:
                        self.counts["central"] += 1
                        return ChargeResult(event.event_id, amount, denied, period)
                    if lease.hold.user_id in self._leases:  # not ended for a lost hold
                        self.counts["local"] += 1
                        return self._admit(lease, event, amount, period)
                else:
                    self._end(lease)
            lease, decision = self._take(event.user_id, amount, event.at, event.product, period)
            if lease is None:
                self.counts["central"] += 1
                return ChargeResult(event.event_id, amount, decision, period)
            result = self._admit(lease, event, amount, period)
            if lease.hold.amount == amount:  # a lease of just this charge: a central decision
                self.counts["central"] += 1
                self._end(lease)
                return attrs.evolve(result, decision=decision)
            self.counts["local"] += 1
            return result

    # --- holds of guarded requests --------------------------------------------------------

    def hold(
        self,
        request_id: str,
        user_id: str,
        amount: Money,
        *,
        at: datetime,
        product: Product = Product.CHAT,
        ttl: timedelta | None = None,
    ) -> HoldResult:
        """Reserve ``amount`` for a request from the member's lease (taking one if need be).

        Asking again for the same request id gives the same hold back.
        """
        period = self.ledger.period_of(at).label
        ttl = ttl or self.hold_ttl
        with self._lock:
            known = self._requests.get(request_id)
            if known is not None:  # asked again: the same hold back, as the ledger answers
                reserved = unchecked_money(known.reserved[request_id], amount.currency)
                if (known.hold.user_id, reserved) != (user_id, amount):
                    raise ConflictError("request_id", request_id, "already holds another amount")
                hold = attrs.evolve(known.hold, request_id=request_id, amount=amount)
                return HoldResult(request_id, self._allowed(hold, _zero(amount), amount), hold)
            lease = self._leases.get(user_id)
            if lease is not None and not self._usable(lease, period, product):
                self._end(lease)
                lease = None
            if lease is not None and amount.amount > lease.left:
                denied = self._grow(lease, amount)
                if denied is not None:
                    self.counts["central"] += 1
                    return HoldResult(request_id, denied, None)
                lease = self._leases.get(user_id)  # None if it ended for a lost hold
            if lease is None:
                lease, decision = self._take(user_id, amount, at, product, period)
                if lease is None:
                    self.counts["central"] += 1
                    return HoldResult(request_id, decision, None)
            # a new lease of just this hold was a central decision
            self.counts["central" if lease.hold.amount == amount else "local"] += 1
            headroom = unchecked_money(lease.left, amount.currency)
            lease.left = EXACT.subtract(lease.left, amount.amount)
            lease.reserved[request_id] = amount.amount
            self._requests[request_id] = lease
            self._cover(lease, ttl)
            hold = attrs.evolve(lease.hold, request_id=request_id, amount=amount, product=product)
            return HoldResult(request_id, self._allowed(hold, amount, headroom), hold)

    def extend(self, request_id: str, amount: Money, *, ttl: timedelta | None = None) -> HoldResult:
        """Top a request's hold up by ``amount`` from its lease, else centrally; renew it."""
        with self._lock:
            lease = self._requested(request_id)
            reserved = lease.reserved[request_id]
            if amount.amount > lease.left:  # the lease grows by it on every level, or not at all
                grown = self.ledger.extend(lease.hold.request_id, amount, ttl=self.policy.ttl)
                if not grown.decision.allowed:
                    held = unchecked_money(reserved, amount.currency)
                    hold = attrs.evolve(lease.hold, request_id=request_id, amount=held)
                    return HoldResult(request_id, grown.decision, hold)
                lease.hold = grown.hold or lease.hold
                lease.left = EXACT.add(lease.left, amount.amount)
            headroom = unchecked_money(lease.left, amount.currency)
            lease.left = EXACT.subtract(lease.left, amount.amount)
            reserved = lease.reserved[request_id] = EXACT.add(reserved, amount.amount)
            self._cover(lease, ttl or self.hold_ttl)
            hold = attrs.evolve(
                lease.hold, request_id=request_id, amount=unchecked_money(reserved, amount.currency)
            )
            return HoldResult(request_id, self._allowed(hold, amount, headroom), hold)

    def settle(self, request_id: str, event: UsageEvent) -> SettleResult:
        """Record the request's cost under its lease (at the next flush) and free its hold."""
        amount = self._price(event)
        period = self.ledger.period_of(event.at).label
        with self._lock:
            lease = self._requested(request_id)
            if lease.hold.user_id != event.user_id:
                raise ConflictError(
                    "event.user_id",
                    event.user_id,
                    f"must be {short_repr(lease.hold.user_id)}, who holds {short_repr(request_id)}",
                )
            held = self._unreserve(request_id)
            self._admit(lease, event, amount, period)
            self._retire(lease)
        overrun = amount - unchecked_money(held, amount.currency) if amount.amount > held else None
        return SettleResult(
            request_id,
            event.event_id,
            amount,
            unchecked_money(held, amount.currency),
            overrun,
            period,
        )

    def release(self, request_id: str) -> Hold:
        """Give a request's hold back to its lease (the request never ran)."""
        with self._lock:
            lease = self._requested(request_id)
            held = self._unreserve(request_id)
            self._retire(lease)
            return attrs.evolve(
                lease.hold,
                request_id=request_id,
                amount=unchecked_money(held, lease.hold.amount.currency),
            )

    # --- flushing -------------------------------------------------------------------------

    def flush(self) -> list[SettleResult]:
        """Record every charge admitted so far; the leases stay, but for those past deadline.

        A lease past its deadline admits nothing more: it ends here, its slack back
        in the pool before its hold would expire.
        """
        with self._lock:
            now = self.ledger.clock()
            results = [result for lease in self._retired.values() for result in self._flush(lease)]
            for lease in list(self._leases.values()):
                results += self._end(lease) if now >= lease.deadline else self._flush(lease)
            return results

    def close(self) -> list[SettleResult]:
        """Record every charge admitted so far and give back every lease's slack.

        A request still holding is then unknown here: the guard charges it when it
        ends.
        """
        with self._lock:
            leases = [*self._leases.values(), *self._retired.values()]
            self._requests.clear()
            self._retired.clear()
            for lease in leases:
                lease.reserved.clear()
            return [result for lease in leases for result in self._end(lease)]

    @contextmanager
    def flushing(self, every: timedelta | None = None) -> Iterator[Self]:
        """Flush from a background thread ``every`` so often while the block runs, then close.

        The timer leases need (by default, every half of ``ttl - margin``): a flush
        that fails (the store unreachable) is kept in ``flush_errors`` and tried
        again at the next tick; what it would have recorded stays pending.
        """
        policy = self.policy
        seconds = (every or (policy.ttl - policy.margin) / 2).total_seconds()
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(seconds):
                try:
                    self.flush()
                except Exception as error:  # noqa: BLE001  (kept for the caller; retried)
                    self.flush_errors.append(error)

        timer = threading.Thread(target=run, name=f"usagebill-leases-{self._name}", daemon=True)
        timer.start()
        try:
            yield self
        finally:
            stop.set()
            timer.join()
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def leases(self) -> tuple[Hold, ...]:
        """Each live lease as a hold of what it has not admitted yet (its slack)."""
        with self._lock:
            return tuple(
                attrs.evolve(
                    lease.hold, amount=unchecked_money(lease.left, self.ledger.org.currency)
                )
                for lease in self._leases.values()
            )

    @property
    def slack(self) -> Money:
        """What this front's leases hold and have not admitted: room taken from the pool."""
        with self._lock:
            leases = [*self._leases.values(), *self._retired.values()]
            left = sum((lease.left for lease in leases), _ZERO)
        return unchecked_money(left, self.ledger.org.currency)

    # --- helpers --------------------------------------------------------------------------

    def _price(self, event: UsageEvent) -> Money:
        ledger = self.ledger
        usage = event.billed_usage(ledger.org.failure_policy)
        return ledger.prices.quote(event.model, usage, event.at, event.modifiers).amount

    def _usable(self, lease: _Lease, period: str, product: Product) -> bool:
        """Whether ``lease`` may admit a charge of ``period`` for ``product`` now."""
        path = self.ledger.org.path(lease.hold.user_id)
        return (
            lease.hold.period == period
            and lease.hold.seat_type == path.seat_type
            and product in path.includes
            and self.ledger.clock() < lease.deadline
        )

    def _grow(self, lease: _Lease, amount: Money) -> Decision | None:
        """Top ``lease`` up so that it covers ``amount``; the store's denial if it cannot.

        All levels or none, in one transaction (:meth:`Ledger.extend`): by a new
        lease's size if the room allows, else by just what is missing. Before a
        pool denies that, this front's other leases on it give their slack back.
        A lease whose hold the store no longer has cannot grow (None is returned
        after it ends).
        """
        ledger, policy, hold = self.ledger, self.policy, lease.hold
        known = (hold.user_id, hold.period)
        need = EXACT.subtract(amount.amount, lease.left)
        size = max(
            EXACT.subtract(policy.size(self._room.get(known), amount.amount), lease.left), need
        )
        now = ledger.clock()
        ttl = max(policy.ttl, hold.expires_at - now)  # never shortens what covers requests
        while True:
            try:
                grown = ledger.extend(
                    hold.request_id, unchecked_money(size, amount.currency), ttl=ttl
                )
            except UnknownNameError:  # expired under a stalled process: start afresh
                self._end(lease)
                return None
            decision = grown.decision
            room = None if decision.headroom is None else decision.headroom.amount
            if decision.allowed and grown.hold is not None:
                self._room[known] = None if room is None else EXACT.subtract(room, size)
                self.counts["leases"] += 1
                lease.hold = grown.hold
                lease.left = EXACT.add(lease.left, size)
                return None
            self._room[known] = room
            if size > need:
                size = need
            elif not self._give_back(decision, hold.period, keep=lease):
                return attrs.evolve(decision, amount=amount)

    def _allowed(self, hold: Hold, amount: Money, headroom: Money) -> Decision:
        return Decision(
            allowed=True,
            user_id=hold.user_id,
            seat_type=hold.seat_type,
            amount=amount,
            headroom=headroom,
        )

    def _admit(self, lease: _Lease, event: UsageEvent, amount: Money, period: str) -> ChargeResult:
        headroom = unchecked_money(lease.left, amount.currency)
        lease.left = EXACT.subtract(lease.left, amount.amount)
        result = ChargeResult(
            event.event_id, amount, self._allowed(lease.hold, amount, headroom), period
        )
        lease.pending[event.event_id] = (event, result)
        if len(lease.pending) >= self.policy.flush_every:
            self._flush(lease)
        return result

    def _take(
        self, user: str, amount: Money, at: datetime, product: Product, period: str
    ) -> tuple[_Lease | None, Decision]:
        """A new lease that covers ``amount``, or the store's denial.

        The lease asked for is sized from the room on the member's path as last
        seen (unknown at first: then it is ``amount`` itself, and the decision
        tells the room), and shrinks with the room each denial reveals, down to
        ``amount`` itself. Before that is denied for a pool (the seat type's or
        the organization's), this front's own leases on the pool give their
        slack back, and it asks again: only other processes' slack can deny a
        charge the pool would cover.
        """
        ledger, policy = self.ledger, self.policy
        want = amount.amount
        # a member's first lease is of just the amount: its decision tells the room left
        known = (user, period)
        size = policy.size(self._room[known], want) if known in self._room else want
        shrunk = False
        while True:
            self._number += 1
            held = ledger.hold(
                f"lease-{self._name}-{self._number}",
                user,
                unchecked_money(size, amount.currency),
                at=at,
                product=product,
                ttl=policy.ttl,
            )
            decision = held.decision
            room = None if decision.headroom is None else decision.headroom.amount
            if held.hold is not None:
                self._room[known] = None if room is None else EXACT.subtract(room, size)
                if size != want:
                    self.counts["leases"] += 1
                lease = _Lease(held.hold, held.hold.expires_at - policy.margin)
                self._leases[user] = lease
                return lease, decision
            self._room[known] = room
            if size > want:  # ask for the room the denial shows, then for the amount alone
                smaller = want if room is None or shrunk else policy.size(room, want)
                size, shrunk = (smaller if smaller < size else want), True
            elif not self._give_back(decision, period):  # each time one lease fewer
                return None, attrs.evolve(decision, amount=amount)

    def _give_back(self, denied: Decision, period: str, keep: _Lease | None = None) -> bool:
        """End this front's leases (but ``keep``) on the pools that denied: True if any."""
        levels = {binding.level for binding in denied.bindings}
        ending = [
            lease
            for lease in self._leases.values()
            if lease is not keep
            and lease.hold.period == period
            and (
                Level.ORGANIZATION in levels
                or (Level.SEAT_TYPE in levels and lease.hold.seat_type == denied.seat_type)
            )
        ]
        for lease in ending:
            self._end(lease)
        return bool(ending)

    def _cover(self, lease: _Lease, ttl: timedelta) -> None:
        """Renew the lease's hold so that it outlives a request held for ``ttl``."""
        now = self.ledger.clock()
        if lease.hold.expires_at < now + ttl:
            renewed = self.ledger.extend(
                lease.hold.request_id, Money.zero(lease.hold.amount.currency), ttl=2 * ttl
            )
            if renewed.hold is not None:
                lease.hold = renewed.hold

    def _requested(self, request_id: str) -> _Lease:
        lease = self._requests.get(request_id)
        if lease is None:
            raise UnknownNameError(
                "hold", request_id, hint="it was settled, released, or its lease ended"
            )
        return lease

    def _unreserve(self, request_id: str) -> Decimal:
        lease = self._requests.pop(request_id)
        held = lease.reserved.pop(request_id)
        lease.left = EXACT.add(lease.left, held)
        return held

    def _retire(self, lease: _Lease) -> None:
        """End a retired lease once its last reservation is over."""
        if not lease.reserved and self._retired.pop(lease.hold.request_id, None) is not None:
            self._flush(lease, release=True)

    def _flush(self, lease: _Lease, *, release: bool = False) -> list[SettleResult]:
        events = [event for event, _ in lease.pending.values()]
        if not events and not release:
            return []
        results = self.ledger.settle_batch(lease.hold, events, release=release)
        self.counts["flushes"] += 1
        drawn = sum((r.held.amount for r in results if not r.replayed), _ZERO)
        lease.hold = attrs.evolve(
            lease.hold,
            amount=lease.hold.amount - unchecked_money(drawn, lease.hold.amount.currency),
        )
        lease.left = EXACT.subtract(lease.hold.amount.amount, sum(lease.reserved.values(), _ZERO))
        lease.pending.clear()
        return results

    def _end(self, lease: _Lease) -> list[SettleResult]:
        """Stop admitting under ``lease``: record it, and free it unless requests still hold."""
        if self._leases.get(lease.hold.user_id) is lease:
            del self._leases[lease.hold.user_id]
        if lease.reserved:
            self._retired[lease.hold.request_id] = lease
            return self._flush(lease)
        return self._flush(lease, release=True)


def _zero(amount: Money) -> Money:
    return unchecked_money(_ZERO, amount.currency)


def premature_denials(
    ledger: Ledger, denied: Iterable[UsageEvent], *, at: datetime
) -> list[UsageEvent]:
    """The denied events that the books of ``at``'s period would still admit now.

    Run it after every lease has been closed. Spend only grows, so the room
    each level has now is at most what it had when the event was denied,
    leases' slack included: each event returned was denied while the central
    headroom, unused lease slack included, would have covered it (a lower bound
    of such denials: one the room has since been spent on is not counted).
    """
    org = ledger.org
    period = ledger.period_of(check_aware(at))
    spend = ledger.store.spend(period.label, org.currency)
    found = []
    for event in denied:
        path = org.path(event.user_id)
        used = UsedOnPath.from_spend(spend, path.user_id, path.seat_type)
        amount = ledger.prices.quote(
            event.model, event.billed_usage(org.failure_policy), event.at, event.modifiers
        ).amount
        if decide(path, used, amount, product=event.product).allowed:
            found.append(event)
    return found
