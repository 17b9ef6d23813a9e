"""The ledger protocol, written once over a transactional store.

Every operation is one transaction of the store: read the counters on the
member's path, decide with the pure :func:`~usagebill.caps.decision.decide`,
write — so at every instant, for every level, ``committed + held <= cap``
holds, whatever runs concurrently. The stores (memory, SQLite, PostgreSQL)
differ only in how they make a transaction exclusive.

Rules:

* **The system of record.** Every charge and settlement stores its event —
  id, member, the seat type held *at the event's instant*, model, product,
  modifiers, the six counts, instant, price version and tier, exact amount —
  in the same transaction as the counters (a :class:`Recorded`). So
  :meth:`Ledger.invoice` bills exactly what the ledger charged, and is the
  invoice :func:`~usagebill.billing.invoice.build_invoice` makes of the same
  events; month-to-date spend is the sum of the same records
  (:meth:`Ledger.recorded_spend`), and they can be exported
  (:meth:`Ledger.export_events`).
* **Seats at the event's instant.** A charge counts toward the seat type the
  member held when the usage happened (the seat history), as the invoice
  bills it: an event of 10 October charged after the member moved on 14
  October goes to the pool of the seat held on the 10th. The member's own
  cap is the one in force now.
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

import bisect
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, TypeVar

import attrs

from usagebill._checks import check_aware
from usagebill.accounts.limits import LimitSource, Spend
from usagebill.accounts.organization import MemberPath, Organization
from usagebill.accounts.seats import SeatTimeline
from usagebill.billing.dimensions import instant
from usagebill.caps.alerts import Notification, path_notifications
from usagebill.caps.decision import Decision, UsedOnPath, decide
from usagebill.errors import ConflictError, InvalidValueError, UnknownNameError, short_repr
from usagebill.events import FAILED, UsageEvent
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

if TYPE_CHECKING:
    from usagebill.billing.cube import UsageCube
    from usagebill.billing.invoice import Invoice

__all__ = [
    "DEFAULT_HOLD_TTL",
    "ChargeResult",
    "Hold",
    "HoldResult",
    "Ledger",
    "Legacy",
    "Rating",
    "Recorded",
    "SettleResult",
    "Store",
    "Transaction",
]

T = TypeVar("T")

DEFAULT_HOLD_TTL: Final = timedelta(minutes=10)
"""How long a hold lives unless settled, released or extended first."""
_ZERO: Final = Decimal(0)
_STATS: Final = ("overruns", "expired_holds")
_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))


@attrs.frozen
class Hold:
    """Money reserved on every level of a member's path until settled, released or expired.

    >>> from usagebill.ledger import MemoryLedger
    >>> ledger = MemoryLedger(Organization.from_file("examples/org.toml"),
    ...                       clock=lambda: datetime(2026, 10, 5, tzinfo=UTC))
    >>> hold = ledger.hold("req-1", "u-007", Money("2"), at=datetime(2026, 10, 5, tzinfo=UTC)).hold
    >>> hold.seat_type, hold.period, str(hold.amount), hold.expires_at.isoformat()
    ('chat', '2026-10', '2.00 USD', '2026-10-05T00:10:00+00:00')
    """

    request_id: str
    user_id: str
    seat_type: str
    period: str
    amount: Money
    product: Product
    expires_at: datetime


@attrs.frozen
class ChargeResult:
    """The outcome of :meth:`Ledger.charge`; ``replayed`` when it answers a retry.

    >>> from usagebill.ledger import MemoryLedger
    >>> ledger = MemoryLedger(Organization.from_file("examples/org.toml"))
    >>> usage = UsageEvent("e1", "u-007", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000_000), datetime(2026, 10, 5, tzinfo=UTC))
    >>> first = ledger.charge(usage)
    >>> first.recorded, first.amount, first.decision.headroom   # u-007's own cap: 400
    (True, Money('3', 'USD'), Money('400', 'USD'))
    >>> ledger.charge(usage).replayed                          # a retry counts nothing
    True
    """

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
    """The outcome of :meth:`Ledger.hold` or :meth:`Ledger.extend`.

    >>> from usagebill.ledger import MemoryLedger
    >>> ledger = MemoryLedger(Organization.from_file("examples/org.toml"))
    >>> denied = ledger.hold("req-1", "u-007", Money("401"), at=datetime(2026, 10, 5, tzinfo=UTC))
    >>> denied.decision.allowed, denied.hold is None
    (False, True)
    """

    request_id: str
    decision: Decision
    hold: Hold | None


@attrs.frozen
class SettleResult:
    """The outcome of :meth:`Ledger.settle`: the cost recorded, and any overrun of the hold.

    >>> from usagebill.ledger import MemoryLedger
    >>> ledger = MemoryLedger(Organization.from_file("examples/org.toml"),
    ...                       clock=lambda: datetime(2026, 10, 5, tzinfo=UTC))
    >>> at = datetime(2026, 10, 5, tzinfo=UTC)
    >>> _ = ledger.hold("req-1", "u-007", Money("2"), at=at)
    >>> usage = UsageEvent("msg-1", "u-007", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000_000), at)
    >>> settled = ledger.settle("req-1", usage)          # 3.00 used of 2.00 held
    >>> settled.amount, settled.held, settled.overrun
    (Money('3', 'USD'), Money('2', 'USD'), Money('1', 'USD'))
    """

    request_id: str
    event_id: str
    amount: Money
    held: Money
    overrun: Money | None
    period: str
    notifications: tuple[Notification, ...] = ()
    replayed: bool = False


class Recorded(NamedTuple):
    """One event the ledger charged or settled (or refused to charge): the system of record.

    ``request_id`` is the request a settlement settled (``None``: a charge);
    ``seat_type`` the seat the member held at the event's instant;
    ``model_id``, ``price_version`` and ``in_tier`` the price it was rated
    with; ``amount`` its exact cost; ``outcome`` what the operation answered;
    ``leased`` marks a settlement of :meth:`Ledger.settle_batch` (a retry of it
    replays under any hold). A denied charge is kept (a retry must be denied
    again) but bills nothing.

    >>> from usagebill.ledger import MemoryLedger
    >>> ledger = MemoryLedger(Organization.from_file("examples/org.toml"))
    >>> usage = UsageEvent("e1", "u-007", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000), datetime(2026, 10, 10, tzinfo=UTC))
    >>> _ = ledger.charge(usage)                    # u-007 moved up on October 14
    >>> [(r.seat_type, r.price_version, str(r.amount)) for r in ledger.store.recorded()]
    [('chat', 1, '0.00300000')]
    """

    event: UsageEvent
    request_id: str | None
    seat_type: str
    model_id: str
    price_version: int
    in_tier: bool
    amount: Decimal
    period: str
    outcome: ChargeResult | SettleResult
    leased: bool = False

    @property
    def billed(self) -> bool:
        """Tell whether the event counts: a settlement, or an allowed charge."""
        outcome = self.outcome
        return type(outcome) is SettleResult or outcome.decision.allowed  # type: ignore[union-attr]


class Legacy(NamedTuple):
    """An event id seen by a version-1 store: its SHA-256 fingerprint and outcome (JSON).

    Kept so that a retry of it still replays after the upgrade; the event itself
    was never stored, so it is in no invoice of the ledger.

    >>> usage = UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=10), datetime(2026, 10, 10, tzinfo=UTC))
    >>> len(Legacy(legacy_fingerprint(usage), "{}").fingerprint)   # a SHA-256, in hex
    64
    """

    fingerprint: str
    outcome: str


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

    def event(self, event_id: str) -> Recorded | Legacy | None:
        """The record of an event already seen."""

    def put_event(self, record: Recorded) -> None:
        """Record an event and the outcome of its operation."""

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

    def recorded(self, period: str | None = None) -> Iterator[Recorded]:
        """The billed events of ``period`` (every period: ``None``), in the order recorded."""

    def usage_rows(self, period: str, unbilled: tuple[bool, ...]) -> Iterable[tuple[Any, ...]]:
        """The billed events of ``period`` summed per usage-cube bucket (a GROUP BY).

        Rows as :meth:`~usagebill.billing.cube.UsageCube.from_rows` reads them;
        ``unbilled`` says, for each of the six counts, whether a failed request's
        count is left out (the organization's failure policy).
        """

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


def usage_rows_of(records: Iterable[Recorded], unbilled: tuple[bool, ...]) -> list[tuple[Any, ...]]:
    """:meth:`Store.usage_rows` in Python, for stores that keep their records as values."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for record in records:
        event = record.event
        failed = event.failed
        key = (
            event.user_id,
            record.seat_type,
            record.model_id,
            event.product.value,
            record.price_version,
            record.in_tier,
            event.modifiers.bits,
            failed,
        )
        counts = attrs.astuple(event.usage)
        if failed:
            counts = tuple(0 if off else count for count, off in zip(counts, unbilled, strict=True))
        bucket = sums.get(key)
        if bucket is None:
            sums[key] = [1, *counts]
        else:
            bucket[0] += 1
            for position, count in enumerate(counts, start=1):
                bucket[position] += count
    return [(*key, *counts) for key, counts in sums.items()]


def event_of_row(  # noqa: PLR0917  (a stored row's columns, in order)
    event_id: str,
    user_id: str,
    model: str,
    product: str,
    flags: int,
    counts: Iterable[int],
    at_us: int,
) -> UsageEvent:
    """The event a SQL store's row keeps (its instant in UTC)."""
    return UsageEvent(
        event_id,
        user_id,
        model,
        Product(product),
        TokenUsage(*counts),
        instant(at_us),
        _MODIFIERS[flags & 7],
        failed=bool(flags & FAILED),
    )


def outcome_columns(record: Recorded) -> tuple[str | None, str | None]:
    """What a SQL store keeps of an outcome: one figure, or the whole outcome as JSON.

    The common outcomes — an allowed charge or a settlement that crossed no
    notification threshold — follow from the record and one figure (the
    headroom, or the amount held), so only the rare others are kept as JSON.
    """
    outcome = record.outcome
    if outcome.notifications:
        return None, dump_json(outcome)
    if type(outcome) is SettleResult:
        return str(outcome.held.amount), None
    decision = outcome.decision  # type: ignore[union-attr]
    if not decision.allowed:
        return None, dump_json(outcome)
    headroom = decision.headroom
    return (None if headroom is None else str(headroom.amount)), None


def outcome_of_columns(  # noqa: PLR0917  (a stored row's columns, in order)
    event: UsageEvent,
    request_id: str | None,
    seat_type: str,
    amount: Decimal,
    period: str,
    currency: str,
    figure: str | None,
    outcome: str | None,
) -> ChargeResult | SettleResult:
    """The outcome :func:`outcome_columns` kept, back."""
    cost = unchecked_money(amount, currency)
    if request_id is None:
        if outcome is not None:
            return load_json(outcome, ChargeResult)
        headroom = None if figure is None else unchecked_money(Decimal(figure), currency)
        decision = Decision(True, event.user_id, seat_type, cost, headroom)  # noqa: FBT003
        return ChargeResult(event.event_id, cost, decision, period)
    if outcome is not None:
        return load_json(outcome, SettleResult)
    held = unchecked_money(Decimal(figure or 0), currency)
    overrun = cost - held if cost > held else None
    return SettleResult(request_id, event.event_id, cost, held, overrun, period)


def legacy_fingerprint(event: UsageEvent, request_id: str | None = None) -> str:
    """The fingerprint a version-1 store kept of an event (to replay its retries)."""
    usage, modifiers = event.usage, event.modifiers
    text = (
        f"{event.user_id}\x1f{event.model}\x1f{event.product.value}\x1f"
        f"{event.at.astimezone(UTC).isoformat()}\x1f{attrs.astuple(usage)}\x1f"
        f"{modifiers.batch}{modifiers.us_only}{modifiers.fast}{event.failed}"
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest if request_id is None else f"settle\x1f{request_id}\x1f{digest}"


class Rating(NamedTuple):
    """The exact cost of an event and the price it was rated with (what its record keeps).

    >>> Rating(Money("0.003"), "claude-sonnet-4-6", 0, False).price_version
    0
    """

    amount: Money
    model_id: str
    price_version: int
    in_tier: bool


class Ledger:
    """Enforces nested caps live: charges, holds, settlements, over one :class:`Store`.

    ``clock`` (UTC now by default) is read only to expire holds. Change the
    organization (caps, seats, members) with :meth:`set_organization`; the next
    decision uses it. Every event it charges or settles is recorded: it invoices
    exactly those.

    >>> from usagebill.billing.invoice import build_invoice
    >>> from usagebill.ledger import MemoryLedger
    >>> acme = Organization.from_file("examples/org.toml")
    >>> ledger = MemoryLedger(acme)
    >>> usage = UsageEvent("e1", "u-007", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000_000), datetime(2026, 10, 10, tzinfo=UTC))
    >>> ledger.charge(usage).amount
    Money('3', 'USD')
    >>> october = ledger.billing_period("2026-10")
    >>> ledger.invoice(october).to_json() == build_invoice(acme, [usage], october).to_json()
    True
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
        self._last_period: tuple[datetime, datetime, BillingPeriod, str, Organization] | None = None
        # user -> (from, until, path): the path through the seat held over [from, until)
        self._paths: dict[str, tuple[datetime, datetime | None, MemberPath]] = {}
        # path -> the amounts at which each level's notification thresholds are crossed
        self._marks: dict[int, tuple[MemberPath, tuple[tuple[Decimal, ...], ...]]] = {}
        self._paths_of: Organization | None = None
        self._timeline = SeatTimeline(org.seat_history)
        # model name -> (model id, listing) of the price table in self._models_of
        self._models: dict[str, tuple[str, Any]] = {}
        self._models_of: PriceTable | None = None

    # --- configuration and reading --------------------------------------------------------

    def set_organization(self, org: Organization) -> None:
        """Use ``org`` (new caps, seats, members) from the next operation on."""
        self.org = org

    def period_of(self, at: datetime) -> BillingPeriod:
        """The organization's billing period that ``at`` falls in."""
        return self._period(at)[2]

    def _period(self, at: datetime) -> tuple[datetime, datetime, BillingPeriod, str, Organization]:
        """The period of ``at``: its bounds in UTC, itself, its label (the last one is kept)."""
        org = self.org
        last = self._last_period
        if (
            last is not None
            and at.tzinfo is not None
            and last[0] <= at < last[1]
            and last[4] is org
        ):
            return last
        period = BillingPeriod.containing(
            check_aware(at), anchor_day=org.billing_anchor_day, timezone=org.timezone
        )
        # The bounds in UTC: comparing with them is cheap, with a zone's instants it is not.
        self._last_period = last = (
            period.start.astimezone(UTC),
            period.end.astimezone(UTC),
            period,
            period.label,
            org,
        )
        return last

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

    # --- the system of record -------------------------------------------------------------

    def billing_period(self, period: BillingPeriod | str) -> BillingPeriod:
        """``period``, or the organization's period of that label (``"2026-10"``)."""
        org = self.org
        if isinstance(period, BillingPeriod):
            if (period.anchor_day, period.timezone) != (org.billing_anchor_day, org.timezone):
                raise InvalidValueError(
                    "period",
                    period.label,
                    f"must be a period of {org.name!r} (anchor day {org.billing_anchor_day}, "
                    f"time zone {org.timezone})",
                )
            return period
        return BillingPeriod.of(period, anchor_day=org.billing_anchor_day, timezone=org.timezone)

    def cube(self, period: BillingPeriod | str) -> UsageCube:
        """The usage cube of what the ledger billed in ``period``, summed by its store."""
        from usagebill.billing.cube import UsageCube  # noqa: PLC0415  (a gateway never bills)
        from usagebill.billing.dimensions import billed_columns  # noqa: PLC0415

        billing = self.billing_period(period)
        unbilled = tuple(not billed for billed in billed_columns(self.org.failure_policy))
        rows = self.store.usage_rows(billing.label, unbilled)
        return UsageCube.from_rows(self.org.name, billing, self.prices.version, rows)

    def invoice(
        self,
        period: BillingPeriod | str,
        *,
        issued_on: date | None = None,
        purchase_order: str | None = None,
    ) -> Invoice:
        """The invoice of exactly what the ledger charged and settled in ``period``.

        The same document, byte for byte, as
        :func:`~usagebill.billing.invoice.build_invoice` of the same events:
        the events are those the ledger recorded (each once), bucketed by the
        seat and price they were charged under. ``issued_on`` and
        ``purchase_order`` as :func:`~usagebill.billing.invoice.price_cube`
        takes them.
        """
        from usagebill.billing.invoice import price_cube  # noqa: PLC0415

        cube = self.cube(period)
        return price_cube(
            cube, self.org, self.prices, issued_on=issued_on, purchase_order=purchase_order
        )

    def recorded_spend(self, at: datetime | None = None) -> Spend:
        """Committed spend of the period containing ``at``, summed from the recorded events.

        Equal to the committed part of :meth:`month_to_date` (the counters), by
        construction: both are written by the same transactions.
        """
        period = self.period_of(at or self.clock()).label
        members: dict[str, Decimal] = {}
        seat_types: dict[str, Decimal] = {}
        total = _ZERO
        for record in self.store.recorded(period):
            user_id, seat_type, amount = record.event.user_id, record.seat_type, record.amount
            members[user_id] = EXACT.add(members.get(user_id, _ZERO), amount)
            seat_types[seat_type] = EXACT.add(seat_types.get(seat_type, _ZERO), amount)
            total = EXACT.add(total, amount)
        return Spend(
            currency=self.org.currency, members=members, seat_types=seat_types, total=total
        )

    def events(self, period: BillingPeriod | str | None = None) -> Iterator[UsageEvent]:
        """The events the ledger billed, of ``period`` (default: all), in the order recorded."""
        label = None if period is None else self.billing_period(period).label
        for record in self.store.recorded(label):
            yield record.event

    def export_events(self, path: str | Path, period: BillingPeriod | str | None = None) -> int:
        """Write the billed events to ``path``, one JSON object a line; how many were written.

        ``.jsonl`` (or ``.ndjson``) writes JSON Lines any engine reads back; a
        ``.parquet`` path writes Parquet (the columns the engines read), with pyarrow
        installed (``usagebill[tables]``).
        """
        target = Path(path)
        if target.suffix == ".parquet":
            return _write_parquet(target, self.events(period))
        if target.suffix not in {".jsonl", ".ndjson"}:
            raise InvalidValueError("path", target.name, "must end in .jsonl, .ndjson or .parquet")
        written = 0
        with target.open("w", encoding="utf-8") as out:
            for event in self.events(period):
                out.write(json.dumps(event.to_dict(), separators=(",", ":")))
                out.write("\n")
                written += 1
        return written

    # --- the operations -------------------------------------------------------------------

    def charge(self, event: UsageEvent) -> ChargeResult:
        """Price ``event``, authorize it against committed + held spend, record it if allowed."""
        org = self.org  # one organization for the whole operation
        rated = self._rate(event)
        amount = rated.amount
        period = self._period(event.at)[3]
        path = self._path_at(event.user_id, event.at)
        with self._transaction() as tx:
            known = self._replay(tx, event, None, ChargeResult)
            if known is not None:
                return attrs.evolve(known, replayed=True)
            before = tx.path(period, path.user_id, path.seat_type)
            decision = decide(path, before, amount, product=event.product)
            notes: tuple[Notification, ...] = ()
            if decision.allowed:
                tx.apply(period, path.user_id, path.seat_type, amount.amount, _ZERO)
                notes = self._notifications(org, path, before, amount.amount)
            result = ChargeResult(event.event_id, amount, decision, period, notes)
            tx.put_event(
                Recorded(event, None, path.seat_type, *rated[1:], amount.amount, period, result)
            )
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

        The path is the one of the seat held at ``at`` (the request's instant).
        Asking again for the same request id gives the same hold back.
        """
        period = self._period(at)[3]
        path = self._path_at(user_id, at)
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
        """Record the actual cost and free the hold; an overrun is recorded and flagged.

        The cost counts toward the seat type held at the event's instant (as the
        invoice bills it); the hold is released from the one it was taken under.
        """
        org = self.org
        rated = self._rate(event)
        amount = rated.amount
        period = self._period(event.at)[3]
        path = self._path_at(event.user_id, event.at)
        seat_type = path.seat_type
        with self._transaction() as tx:
            known = self._replay(tx, event, request_id, SettleResult)
            if known is not None:
                return attrs.evolve(known, replayed=True)
            hold = self._live_hold(tx, request_id)
            if hold.user_id != event.user_id:
                raise ConflictError(
                    "event.user_id",
                    event.user_id,
                    f"must be {short_repr(hold.user_id)}, who holds {short_repr(request_id)}",
                )
            tx.apply(hold.period, hold.user_id, hold.seat_type, _ZERO, -hold.amount.amount)
            tx.drop_hold(request_id)
            before = tx.path(period, hold.user_id, seat_type)
            tx.apply(period, hold.user_id, seat_type, amount.amount, _ZERO)
            overrun = amount - hold.amount if amount > hold.amount else None
            if overrun is not None:
                tx.count("overruns", period)
            notes = self._notifications(org, path, before, amount.amount)
            result = SettleResult(
                request_id, event.event_id, amount, hold.amount, overrun, period, notes
            )
            tx.put_event(
                Recorded(event, request_id, seat_type, *rated[1:], amount.amount, period, result)
            )
        return result

    def settle_batch(
        self, hold: Hold, events: Sequence[UsageEvent], *, release: bool = False
    ) -> list[SettleResult]:
        """Record ``events`` against ``hold`` in one transaction, each as its own settlement.

        What budget leases flush with (:mod:`usagebill.ledger.leases`): each event's
        cost moves from the hold to committed (toward the seat held at the event's
        instant), the hold shrinking by it; ``release`` frees what is left. What passes
        the hold is recorded anyway and flagged as an overrun, as :meth:`settle` does,
        and so is all of it if the hold has expired: the requests ran. Idempotent by
        event id, whatever hold settles it again (a retried charge may fall under
        another lease); an operation that raises applies none of it.
        """
        org = self.org
        rated = [
            (
                event,
                self._rate(event),
                self._period(event.at)[3],
                self._path_at(event.user_id, event.at),
            )
            for event in events
        ]
        results: list[SettleResult] = []
        with self._transaction() as tx:
            live = tx.hold(hold.request_id)
            hold = live or hold
            user = hold.user_id
            left = live.amount.amount if live is not None else _ZERO
            used: dict[tuple[str, str], UsedOnPath] = {}
            added: dict[tuple[str, str], Decimal] = {}
            drawn = _ZERO
            for event, rating, period, path in rated:
                known = tx.event(event.event_id)
                if known is not None:
                    if type(known) is not Recorded or not known.leased or known.event != event:
                        raise ConflictError(
                            "event_id", event.event_id, "was seen before with different content"
                        )
                    results.append(attrs.evolve(known.outcome, replayed=True))  # type: ignore[arg-type]
                    continue
                if event.user_id != user:
                    raise ConflictError(
                        "event.user_id",
                        event.user_id,
                        f"must be {short_repr(user)}, who holds {short_repr(hold.request_id)}",
                    )
                amount = rating.amount
                share = min(left, amount.amount)
                left, drawn = EXACT.subtract(left, share), EXACT.add(drawn, share)
                where = (period, path.seat_type)
                before = used.get(where) or tx.path(period, user, path.seat_type)
                used[where] = before.plus(amount.amount, _ZERO)
                added[where] = EXACT.add(added.get(where, _ZERO), amount.amount)
                held = unchecked_money(share, amount.currency)
                overrun = amount - held if amount.amount > share else None
                if overrun is not None:
                    tx.count("overruns", period)
                result = SettleResult(
                    hold.request_id,
                    event.event_id,
                    amount,
                    held,
                    overrun,
                    period,
                    self._notifications(org, path, before, amount.amount),
                )
                tx.put_event(
                    Recorded(
                        event, hold.request_id, path.seat_type, *rating[1:], amount.amount,
                        period, result, leased=True,
                    )
                )  # fmt: skip
                results.append(result)
            for (period, seat_type), committed in added.items():  # one write each, not per event
                tx.apply(period, user, seat_type, committed, _ZERO)
            if live is not None:
                freed = left if release else _ZERO
                tx.apply(
                    hold.period, user, hold.seat_type, _ZERO, EXACT.minus(EXACT.add(drawn, freed))
                )
                if release:
                    tx.drop_hold(hold.request_id)
                else:
                    tx.put_hold(attrs.evolve(live, amount=unchecked_money(left, org.currency)))
        return results

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

    def _transaction(self) -> _Operation:
        """One store transaction that first releases the expired holds (see :class:`_Operation`)."""
        return _Operation(self)

    def _rate(self, event: UsageEvent) -> Rating:
        """The exact cost of ``event`` and the price it was rated with."""
        prices = self.prices
        model = event.model
        known = self._models.get(model) if self._models_of is prices else None
        if known is None:
            if self._models_of is not prices:
                self._models, self._models_of = {}, prices
            model_id = prices.resolve(model)
            known = self._models[model] = (model_id, prices.models[model_id])
        model_id, listing = known
        at = event.at
        version = listing.version_at(at)
        price = listing.prices[version]
        usage = event.usage
        if event.failed:
            usage = self.org.failure_policy.billable(usage)
        modifiers = event.modifiers
        in_tier = price.in_tier(usage, modifiers.fast)
        amount = price.compiled(modifiers, in_tier).amount(usage)
        return Rating(unchecked_money(amount, prices.currency), model_id, version, in_tier)

    def _path_at(self, user_id: str, at: datetime) -> MemberPath:
        """The path through the seat ``user_id`` held at ``at``, under the member cap of now."""
        org = self.org
        if self._paths_of is not org:
            self._paths = {}
            self._marks = {}
            self._paths_of = org
            self._timeline = SeatTimeline(org.seat_history)
        known = self._paths.get(user_id)
        if known is not None and known[0] <= at and (known[1] is None or at < known[1]):
            return known[2]
        seat_type, since, until = self._timeline.held_at(user_id, check_aware(at))
        path = _path_on(org, user_id, seat_type)
        self._paths[user_id] = (since, until, path)
        return path

    def _notifications(
        self, org: Organization, path: MemberPath, before: UsedOnPath, amount: Decimal
    ) -> tuple[Notification, ...]:
        """The thresholds a charge of ``amount`` crosses on ``path`` (mostly none: checked cheaply).

        Each capped level's marks (threshold times cap) are worked out once per path; a
        charge crosses one iff a mark lies in ``(before, before + amount]``.
        """
        marks = self._marks_of(org, path)
        for level, old in zip(marks, before[:3], strict=True):
            if level:
                index = bisect.bisect_right(level, old)
                if index < len(level) and level[index] <= EXACT.add(old, amount):
                    after = before.plus(amount, _ZERO)
                    return path_notifications(path, before, after, thresholds=org.thresholds)
        return ()

    def _marks_of(self, org: Organization, path: MemberPath) -> tuple[tuple[Decimal, ...], ...]:
        """The amounts at which each level of ``path`` crosses a threshold (worked out once)."""
        known = self._marks.get(id(path))
        if known is None or known[0] is not path:
            thresholds = sorted(org.thresholds)
            marks = tuple(
                () if cap is None else tuple(EXACT.multiply(t, cap.amount) for t in thresholds)
                for cap in (path.member_cap, path.seat_type_cap, path.organization_cap)
            )
            known = self._marks[id(path)] = (path, marks)
        return known[1]

    def _replay(
        self, tx: Transaction, event: UsageEvent, request_id: str | None, kind: type[T]
    ) -> T | None:
        """The first outcome (a ``kind``) of a retry of ``event``; None for an event never seen."""
        known = tx.event(event.event_id)
        if known is None:
            return None
        if type(known) is Legacy:
            if known.fingerprint != legacy_fingerprint(event, request_id):
                raise ConflictError(
                    "event_id", event.event_id, "was seen before with different content"
                )
            return load_json(known.outcome, kind)
        assert type(known) is Recorded  # noqa: S101  (the protocol's two kinds)
        outcome = known.outcome
        if (
            known.leased
            or known.request_id != request_id
            or known.event != event
            or type(outcome) is not kind
        ):
            raise ConflictError(
                "event_id", event.event_id, "was seen before with different content"
            )
        return outcome  # a kind, checked above

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


class _Operation:
    """One store transaction that first releases the expired holds.

    They are reported once it has committed: an operation that raises is rolled
    back whole, its expiries with it, and reporting them anyway would report holds
    still held (and report them again when they do expire). A class rather than a
    generator: it is entered once per operation, on the hot path.
    """

    __slots__ = ("_expired", "_inner", "_ledger")

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __enter__(self) -> Transaction:
        inner = self._inner = self._ledger.store.transaction()
        tx = inner.__enter__()
        try:
            self._expired = self._ledger._expire(tx)  # noqa: SLF001  (its own ledger)
        except BaseException as error:
            if not inner.__exit__(type(error), error, error.__traceback__):
                raise
            raise  # pragma: no cover  (a store never swallows an error)
        return tx

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> bool | None:
        suppressed = self._inner.__exit__(kind, error, trace)  # type: ignore[arg-type]
        if kind is None and self._expired:
            self._ledger.expired_holds.extend(self._expired)
        return suppressed


def _path_on(org: Organization, user_id: str, seat_type: str) -> MemberPath:
    """The path through ``seat_type`` (held now or before), under the member cap in force now.

    The member may have changed seat since (the cost still counts toward the
    seat held when the usage happened), or left: their own limit is then the one
    of the seat they hold now, or none at all.
    """
    path = org.path(user_id, seat_type)
    member = org.members.get(user_id)
    if member is not None and member.seat_type == seat_type:
        return path
    cap, source = (
        (None, LimitSource.NONE)
        if member is None
        else org.limits.effective_cap(user_id, member.seat_type)
    )
    return path._replace(member_cap=cap, member_cap_source=source)


def _zero(amount: Money) -> Money:
    return unchecked_money(_ZERO, amount.currency)


def _write_parquet(target: Path, events: Iterable[UsageEvent]) -> int:
    """The events as a Parquet table (the columns the engines read), by pyarrow."""
    from usagebill.billing.dimensions import (  # noqa: PLC0415
        EVENT_COLUMNS,
        MODIFIER_COLUMNS,
        TOKEN_COLUMNS,
    )

    columns: dict[str, list[Any]] = {
        name: [] for name in (*EVENT_COLUMNS, *TOKEN_COLUMNS, *MODIFIER_COLUMNS, "failed")
    }
    for event in events:
        values = (
            event.event_id,
            event.user_id,
            event.model,
            event.product.value,
            event.at.astimezone(UTC),
            *attrs.astuple(event.usage),
            *attrs.astuple(event.modifiers),
            event.failed,
        )
        for column, value in zip(columns.values(), values, strict=True):
            column.append(value)
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            "writing Parquet needs pyarrow: pip install 'usagebill[tables]'"
        ) from error
    pq.write_table(pa.table(columns), target)
    return len(columns["event_id"])


def dump_json(value: object) -> str:
    """A stored outcome or hold as JSON (what every store keeps)."""
    from usagebill.serde import to_json  # noqa: PLC0415  (serde sits above the ledger core)

    return to_json(value)


def load_json(text: str, cls: type[T]) -> T:
    """A stored outcome or hold back from its JSON."""
    from usagebill.serde import from_json  # noqa: PLC0415

    return from_json(text, cls, source=f"stored {cls.__name__}")
