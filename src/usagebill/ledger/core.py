"""The ledger protocol, written once over a transactional store.

Every operation is one transaction of the store: read the counters on the
member's path, decide with the pure :func:`~usagebill.caps.decision.decide`,
write — so at every instant, for every level, ``committed + held <= cap``
holds, whatever runs concurrently. The stores (memory, SQLite, PostgreSQL)
differ only in how they make a transaction exclusive.

Rules:

* **Idempotent by event id.** A retried ``charge`` or ``settle`` returns the
  first outcome and counts nothing twice; the same id with other content is a
  :class:`~usagebill.errors.ConflictError` and nothing is applied. An event id
  names one operation: an id used by ``charge`` cannot be settled, nor settle
  another request (a conflict too).
* **Holds are all or nothing** on every level of the member's path, and every
  hold expires after its time-to-live (released on the next operation, and
  reported once that operation commits). An operation that raises applies
  nothing at all, expiries included.
* **A settled cost above its hold is recorded anyway** — the tokens were used
  — and flagged as an overrun in the result and in :meth:`Ledger.stats`.
* **Periods.** Charges, holds and settlements belong to the billing period of
  their own timestamp; a hold released in another month frees the month it
  was taken in.
* **Failed requests.** An event marked ``failed`` is priced by what the
  organization's :class:`~usagebill.usage.FailurePolicy` bills of it, as the
  invoice does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Protocol, TypeVar

import attrs

from usagebill._checks import check_aware
from usagebill.accounts.limits import LimitSource, Spend
from usagebill.accounts.organization import MemberPath, Organization
from usagebill.caps.alerts import Notification, path_notifications
from usagebill.caps.decision import Decision, UsedOnPath, decide
from usagebill.errors import ConflictError, UnknownNameError, short_repr
from usagebill.events import UsageEvent
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Product

__all__ = [
    "DEFAULT_HOLD_TTL",
    "ChargeResult",
    "Hold",
    "HoldResult",
    "Ledger",
    "SettleResult",
    "Store",
    "Transaction",
]

T = TypeVar("T")

DEFAULT_HOLD_TTL: Final = timedelta(minutes=10)
"""How long a hold lives unless settled, released or extended first."""
_ZERO: Final = Decimal(0)
_STATS: Final = ("overruns", "expired_holds")


@attrs.frozen
class Hold:
    """Money reserved on every level of a member's path until settled, released or expired."""

    request_id: str
    user_id: str
    seat_type: str
    period: str
    amount: Money
    product: Product
    expires_at: datetime


@attrs.frozen
class ChargeResult:
    """The outcome of :meth:`Ledger.charge`; ``replayed`` when it answers a retry."""

    event_id: str
    amount: Money
    decision: Decision
    period: str
    notifications: tuple[Notification, ...] = ()
    replayed: bool = False

    @property
    def recorded(self) -> bool:
        """Tell whether the charge was recorded (it was allowed)."""
        return self.decision.allowed


@attrs.frozen
class HoldResult:
    """The outcome of :meth:`Ledger.hold` or :meth:`Ledger.extend`."""

    request_id: str
    decision: Decision
    hold: Hold | None


@attrs.frozen
class SettleResult:
    """The outcome of :meth:`Ledger.settle`: the cost recorded, and any overrun of the hold."""

    request_id: str
    event_id: str
    amount: Money
    held: Money
    overrun: Money | None
    period: str
    notifications: tuple[Notification, ...] = ()
    replayed: bool = False


class Transaction(Protocol):
    """What the ledger logic needs of a store, inside one exclusive transaction.

    The store's transaction must apply all of it or, when the ``with`` block
    raises, none of it.
    """

    def path(self, period: str, user_id: str, seat_type: str) -> UsedOnPath:
        """The counters on the path of ``user_id`` charging toward ``seat_type``, in ``period``."""

    def apply(
        self, period: str, user_id: str, seat_type: str, committed: Decimal, held: Decimal
    ) -> None:
        """Add ``committed`` and ``held`` (either may be negative) on every level of the path."""

    def event(self, event_id: str) -> tuple[str, str] | None:
        """The fingerprint and stored outcome (JSON) of an event already seen."""

    def put_event(self, event_id: str, fingerprint: str, outcome: str) -> None:
        """Remember an event's fingerprint and outcome."""

    def hold(self, request_id: str) -> Hold | None:
        """The live hold of ``request_id``."""

    def put_hold(self, hold: Hold) -> None:
        """Create or replace a hold."""

    def drop_hold(self, request_id: str) -> None:
        """Forget a hold."""

    def expired(self, now: datetime) -> list[Hold]:
        """Holds whose time-to-live is over at ``now``."""

    def count(self, name: str, period: str) -> None:
        """Add one to a statistic of ``period`` (e.g. overruns)."""


class Store(Protocol):
    """A place that keeps counters, events and holds, and serialises transactions."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """An exclusive transaction: all of it is applied, or none."""

    def spend(self, period: str, currency: str) -> Spend:
        """Every counter of ``period`` as a :class:`Spend`."""

    def stats(self, period: str) -> dict[str, int]:
        """The statistics of ``period``."""

    def close(self) -> None:
        """Release the store's resources."""


def spend_of(rows: Iterable[tuple[str, str, Decimal, Decimal]], currency: str) -> Spend:
    """A :class:`Spend` from counter rows ``(level, key, committed, held)`` of one period.

    ``level`` is ``"user"``, ``"seat"`` or ``"org"`` (whose key is ``""``): how
    every store keeps its counters.
    """
    committed: dict[str, dict[str, Decimal]] = {"user": {}, "seat": {}, "org": {}}
    held: dict[str, dict[str, Decimal]] = {"user": {}, "seat": {}, "org": {}}
    for level, key, done, pending in rows:
        committed[level][key] = done
        held[level][key] = pending
    return Spend(
        currency=currency,
        members=committed["user"],
        seat_types=committed["seat"],
        total=committed["org"].get("", _ZERO),
        held_members=held["user"],
        held_seat_types=held["seat"],
        held_total=held["org"].get("", _ZERO),
    )


def _event_fingerprint(event: UsageEvent) -> str:
    """A digest of everything an event says, the same in every process."""
    usage, modifiers = event.usage, event.modifiers
    text = (
        f"{event.user_id}\x1f{event.model}\x1f{event.product.value}\x1f"
        f"{event.at.astimezone(UTC).isoformat()}\x1f{attrs.astuple(usage)}\x1f"
        f"{modifiers.batch}{modifiers.us_only}{modifiers.fast}{event.failed}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _settle_fingerprint(request_id: str, event: UsageEvent) -> str:
    """What a settlement says: the request it settles, and its event."""
    return f"settle\x1f{request_id}\x1f{_event_fingerprint(event)}"


class Ledger:
    """Enforces nested caps live: charges, holds, settlements, over one :class:`Store`.

    ``clock`` (UTC now by default) is read only to expire holds. Change the
    organization (caps, seats, members) with :meth:`set_organization`; the next
    decision uses it.
    """

    def __init__(
        self,
        store: Store,
        org: Organization,
        prices: PriceTable | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        hold_ttl: timedelta = DEFAULT_HOLD_TTL,
    ) -> None:
        self.store = store
        self.org = org
        self.prices = prices if prices is not None else PriceTable.builtin()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hold_ttl = hold_ttl
        self.expired_holds: list[Hold] = []
        self._last_period: BillingPeriod | None = None

    # --- configuration and reading --------------------------------------------------------

    def set_organization(self, org: Organization) -> None:
        """Use ``org`` (new caps, seats, members) from the next operation on."""
        self.org = org

    def period_of(self, at: datetime) -> BillingPeriod:
        """The organization's billing period that ``at`` falls in."""
        org = self.org
        last = self._last_period
        if (
            last is not None
            and last.start <= check_aware(at) < last.end
            and (last.anchor_day, last.timezone) == (org.billing_anchor_day, org.timezone)
        ):
            return last
        self._last_period = BillingPeriod.containing(
            check_aware(at), anchor_day=org.billing_anchor_day, timezone=org.timezone
        )
        return self._last_period

    def month_to_date(self, at: datetime | None = None) -> Spend:
        """Committed and held spend of the period containing ``at`` (default: now)."""
        period = self.period_of(at or self.clock())
        return self.store.spend(period.label, self.org.currency)

    def stats(self, at: datetime | None = None) -> dict[str, int]:
        """Counts of the period containing ``at``: overruns, expired holds (zero if none)."""
        counts = dict.fromkeys(_STATS, 0)
        counts.update(self.store.stats(self.period_of(at or self.clock()).label))
        return counts

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    # --- the operations -------------------------------------------------------------------

    def charge(self, event: UsageEvent) -> ChargeResult:
        """Price ``event``, authorize it against committed + held spend, record it if allowed."""
        org = self.org  # one organization for the whole operation
        fingerprint = _event_fingerprint(event)
        amount = self._price(event)
        period = self.period_of(event.at).label
        with self._transaction() as tx:
            known = self._replay(tx, event.event_id, fingerprint)
            if known is not None:
                return attrs.evolve(load_json(known, ChargeResult), replayed=True)
            path = org.path(event.user_id)
            before = tx.path(period, path.user_id, path.seat_type)
            decision = decide(path, before, amount, product=event.product)
            notes: tuple[Notification, ...] = ()
            if decision.allowed:
                tx.apply(period, path.user_id, path.seat_type, amount.amount, _ZERO)
                after = before.plus(amount.amount, _ZERO)
                notes = path_notifications(path, before, after, thresholds=org.thresholds)
            result = ChargeResult(event.event_id, amount, decision, period, notes)
            tx.put_event(event.event_id, fingerprint, dump_json(result))
        return result

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
        """Reserve ``amount`` on every level of the member's path, or nothing.

        Asking again for the same request id gives the same hold back.
        """
        period = self.period_of(at).label
        path = self.org.path(user_id)
        seat_type = path.seat_type
        expires = self.clock() + (ttl or self.hold_ttl)
        with self._transaction() as tx:
            existing = tx.hold(request_id)
            if existing is not None:
                if (existing.user_id, existing.amount) != (user_id, amount):
                    raise ConflictError("request_id", request_id, "already holds another amount")
                used = tx.path(existing.period, user_id, seat_type)
                return HoldResult(request_id, decide(path, used, _zero(amount)), existing)
            before = tx.path(period, user_id, seat_type)
            decision = decide(path, before, amount, product=product)
            if not decision.allowed:
                return HoldResult(request_id, decision, None)
            hold = Hold(request_id, user_id, seat_type, period, amount, product, expires)
            tx.apply(period, user_id, seat_type, _ZERO, amount.amount)
            tx.put_hold(hold)
        return HoldResult(request_id, decision, hold)

    def extend(self, request_id: str, amount: Money, *, ttl: timedelta | None = None) -> HoldResult:
        """Top a live hold up by ``amount`` (on every level, or not at all); renews its TTL."""
        org = self.org
        with self._transaction() as tx:
            hold = self._live_hold(tx, request_id)
            path = org.path(hold.user_id)
            seat_type = path.seat_type
            if seat_type != hold.seat_type:
                # The decision reads the member's current seat type, the hold counts toward
                # the one it was taken under: topping it up would check one pool, fill another.
                raise ConflictError(
                    "request_id",
                    request_id,
                    f"was held under seat type {short_repr(hold.seat_type)}, and "
                    f"{short_repr(hold.user_id)} now holds {short_repr(seat_type)}: "
                    "settle or release it, then hold again",
                )
            before = tx.path(hold.period, hold.user_id, hold.seat_type)
            decision = decide(path, before, amount, product=hold.product)
            if not decision.allowed:
                return HoldResult(request_id, decision, hold)
            grown = attrs.evolve(
                hold,
                amount=hold.amount + amount,
                expires_at=self.clock() + (ttl or self.hold_ttl),
            )
            tx.apply(hold.period, hold.user_id, hold.seat_type, _ZERO, amount.amount)
            tx.put_hold(grown)
        return HoldResult(request_id, decision, grown)

    def settle(self, request_id: str, event: UsageEvent) -> SettleResult:
        """Record the actual cost and free the hold; an overrun is recorded and flagged."""
        org = self.org
        # The request is part of what a settlement says: an event id charged, or used to
        # settle another request, is a conflict (not a replay of another kind of outcome).
        fingerprint = _settle_fingerprint(request_id, event)
        amount = self._price(event)
        period = self.period_of(event.at).label
        with self._transaction() as tx:
            known = self._replay(tx, event.event_id, fingerprint)
            if known is not None:
                return attrs.evolve(load_json(known, SettleResult), replayed=True)
            hold = self._live_hold(tx, request_id)
            if hold.user_id != event.user_id:
                raise ConflictError(
                    "event.user_id",
                    event.user_id,
                    f"must be {short_repr(hold.user_id)}, who holds {short_repr(request_id)}",
                )
            tx.apply(hold.period, hold.user_id, hold.seat_type, _ZERO, -hold.amount.amount)
            tx.drop_hold(request_id)
            before = tx.path(period, hold.user_id, hold.seat_type)
            tx.apply(period, hold.user_id, hold.seat_type, amount.amount, _ZERO)
            after = before.plus(amount.amount, _ZERO)
            overrun = amount - hold.amount if amount > hold.amount else None
            if overrun is not None:
                tx.count("overruns", period)
            result = SettleResult(
                request_id,
                event.event_id,
                amount,
                hold.amount,
                overrun,
                period,
                path_notifications(_settled(org, hold), before, after, thresholds=org.thresholds),
            )
            tx.put_event(event.event_id, fingerprint, dump_json(result))
        return result

    def release(self, request_id: str) -> Hold:
        """Free a live hold entirely (the request failed or was cancelled)."""
        with self._transaction() as tx:
            hold = self._live_hold(tx, request_id)
            tx.apply(hold.period, hold.user_id, hold.seat_type, _ZERO, -hold.amount.amount)
            tx.drop_hold(request_id)
        return hold

    def expire(self) -> list[Hold]:
        """Release every hold past its time-to-live; return them (kept in ``expired_holds``)."""
        with self.store.transaction() as tx:
            expired = self._expire(tx)
        self.expired_holds.extend(expired)
        return expired

    # --- helpers --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        """One store transaction that first releases the expired holds.

        They are reported once it has committed: an operation that raises is rolled
        back whole, its expiries with it, and reporting them anyway would report holds
        still held (and report them again when they do expire).
        """
        with self.store.transaction() as tx:
            expired = self._expire(tx)
            yield tx
        self.expired_holds.extend(expired)

    def _price(self, event: UsageEvent) -> Money:
        usage = event.billed_usage(self.org.failure_policy)
        return self.prices.quote(event.model, usage, event.at, event.modifiers).amount

    def _replay(self, tx: Transaction, event_id: str, fingerprint: str) -> str | None:
        known = tx.event(event_id)
        if known is None:
            return None
        if known[0] != fingerprint:
            raise ConflictError("event_id", event_id, "was seen before with different content")
        return known[1]

    def _live_hold(self, tx: Transaction, request_id: str) -> Hold:
        hold = tx.hold(request_id)
        if hold is None:
            raise UnknownNameError("hold", request_id, hint="it was settled, released or expired")
        return hold

    def _expire(self, tx: Transaction) -> list[Hold]:
        expired = tx.expired(self.clock())
        for hold in expired:
            tx.apply(hold.period, hold.user_id, hold.seat_type, _ZERO, -hold.amount.amount)
            tx.drop_hold(hold.request_id)
            tx.count("expired_holds", hold.period)
        return expired

    def settle_batch(
        self, hold: Hold, events: Sequence[UsageEvent], *, release: bool = False
    ) -> list[SettleResult]:
        """Record ``events`` against ``hold`` in one transaction, each as its own settlement.

        What budget leases flush with (:mod:`usagebill.ledger.leases`): each event's
        cost moves from the hold to committed, the hold shrinking by it; ``release``
        frees what is left. What passes the hold is recorded anyway and flagged as an
        overrun, as :meth:`settle` does, and so is all of it if the hold has expired:
        the requests ran. Idempotent by event id, whatever hold settles it again (a
        retried charge may fall under another lease); an operation that raises
        applies none of it.
        """
        org = self.org
        priced = [
            (
                event,
                f"lease\x1f{_event_fingerprint(event)}",  # the same under any lease
                self._price(event),
                self.period_of(event.at).label,
            )
            for event in events
        ]
        results: list[SettleResult] = []
        with self._transaction() as tx:
            live = tx.hold(hold.request_id)
            hold = live or hold
            left = live.amount.amount if live is not None else _ZERO
            path, user, seat = _settled(org, hold), hold.user_id, hold.seat_type
            used: dict[str, UsedOnPath] = {}
            added: dict[str, Decimal] = {}
            drawn = _ZERO
            for event, fingerprint, amount, period in priced:
                known = self._replay(tx, event.event_id, fingerprint)
                if known is not None:
                    results.append(attrs.evolve(load_json(known, SettleResult), replayed=True))
                    continue
                if event.user_id != user:
                    raise ConflictError(
                        "event.user_id",
                        event.user_id,
                        f"must be {short_repr(user)}, who holds {short_repr(hold.request_id)}",
                    )
                share = min(left, amount.amount)
                left, drawn = EXACT.subtract(left, share), EXACT.add(drawn, share)
                before = used.get(period) or tx.path(period, user, seat)
                used[period] = after = before.plus(amount.amount, _ZERO)
                added[period] = EXACT.add(added.get(period, _ZERO), amount.amount)
                overrun = (
                    amount - unchecked_money(share, amount.currency)
                    if amount.amount > share
                    else None
                )
                if overrun is not None:
                    tx.count("overruns", period)
                result = SettleResult(
                    hold.request_id,
                    event.event_id,
                    amount,
                    unchecked_money(share, amount.currency),
                    overrun,
                    period,
                    path_notifications(path, before, after, thresholds=org.thresholds),
                )
                tx.put_event(event.event_id, fingerprint, dump_json(result))
                results.append(result)
            for period, committed in added.items():  # one write per period, not per event
                tx.apply(period, user, seat, committed, _ZERO)
            if live is not None:
                freed = left if release else _ZERO
                tx.apply(hold.period, user, seat, _ZERO, EXACT.minus(EXACT.add(drawn, freed)))
                if release:
                    tx.drop_hold(hold.request_id)
                else:
                    tx.put_hold(attrs.evolve(live, amount=unchecked_money(left, org.currency)))
        return results


def _settled(org: Organization, hold: Hold) -> MemberPath:
    """The path a settlement counts on: its hold's seat type, under the limits in force now.

    The member may have changed seat since the hold (the cost still counts toward
    the seat it was held under), or left: their own limit is then the one of the
    seat they hold now, or none at all.
    """
    path = org.path(hold.user_id, hold.seat_type)
    member = org.members.get(hold.user_id)
    if member is not None and member.seat_type == hold.seat_type:
        return path
    cap, source = (
        (None, LimitSource.NONE)
        if member is None
        else org.limits.effective_cap(hold.user_id, member.seat_type)
    )
    return path._replace(member_cap=cap, member_cap_source=source)


def _zero(amount: Money) -> Money:
    return unchecked_money(_ZERO, amount.currency)


def dump_json(value: object) -> str:
    """A stored outcome or hold as JSON (what every store keeps)."""
    from usagebill.serde import to_json  # noqa: PLC0415  (serde sits above the ledger core)

    return to_json(value)


def load_json(text: str, cls: type[T]) -> T:
    """A stored outcome or hold back from its JSON."""
    from usagebill.serde import from_json  # noqa: PLC0415

    return from_json(text, cls, source=f"stored {cls.__name__}")
