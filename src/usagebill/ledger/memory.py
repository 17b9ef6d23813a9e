"""A ledger in memory, for one process and for tests: a lock makes each operation atomic.

A transaction writes straight into the dicts and keeps an undo log: when the
operation raises, every write is undone, so nothing is half-applied.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from usagebill.accounts.limits import Spend
from usagebill.accounts.organization import Organization
from usagebill.caps.decision import UsedOnPath
from usagebill.ledger.core import (
    DEFAULT_HOLD_TTL,
    Hold,
    Ledger,
    Recorded,
    spend_of,
    usage_rows_of,
)
from usagebill.money import EXACT
from usagebill.pricing.prices import PriceTable

__all__ = ["MemoryLedger", "MemoryStore"]

_ZERO: Final = Decimal(0)
_Key = tuple[str, str, str]  # (period, level, key): level is "user", "seat" or "org"
_ABSENT: Final = object()


class _MemoryTransaction:
    """Reads and writes straight into the store's dicts (the store's lock is held)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._undo: list[tuple[dict[Any, Any], object, object]] = []

    def _set(self, table: dict[Any, Any], key: object, value: object) -> None:
        self._undo.append((table, key, table.get(key, _ABSENT)))
        table[key] = value

    def _drop(self, table: dict[Any, Any], key: object) -> None:
        self._undo.append((table, key, table.pop(key)))

    def rollback(self) -> None:
        """Undo every write of this transaction, newest first."""
        for table, key, value in reversed(self._undo):
            if value is _ABSENT:
                table.pop(key, None)
            else:
                table[key] = value
        self._undo.clear()

    def path(self, period: str, user_id: str, seat_type: str) -> UsedOnPath:
        committed, held = self._store.committed, self._store.held
        user, seat, org = (
            (period, "user", user_id),
            (period, "seat", seat_type),
            (period, "org", ""),
        )
        return UsedOnPath(
            committed[user],
            committed[seat],
            committed[org],
            held[user],
            held[seat],
            held[org],
        )

    def apply(
        self, period: str, user_id: str, seat_type: str, committed: Decimal, held: Decimal
    ) -> None:
        done, pending = self._store.committed, self._store.held
        for key in ((period, "user", user_id), (period, "seat", seat_type), (period, "org", "")):
            if committed:
                self._set(done, key, EXACT.add(done[key], committed))
            if held:
                self._set(pending, key, EXACT.add(pending[key], held))

    def event(self, event_id: str) -> Recorded | None:
        return self._store.events.get(event_id)

    def put_event(self, record: Recorded) -> None:
        self._set(self._store.events, record.event.event_id, record)

    def hold(self, request_id: str) -> Hold | None:
        return self._store.holds.get(request_id)

    def put_hold(self, hold: Hold) -> None:
        self._set(self._store.holds, hold.request_id, hold)

    def drop_hold(self, request_id: str) -> None:
        self._drop(self._store.holds, request_id)

    def expired(self, now: datetime) -> list[Hold]:
        holds = self._store.holds
        if not holds:
            return []
        return [hold for hold in holds.values() if hold.expires_at <= now]

    def count(self, name: str, period: str) -> None:
        counts = self._store.counts[period]
        self._set(counts, name, counts[name] + 1)


class _Exclusive:
    """The store's lock around one transaction, rolled back if the block raises."""

    __slots__ = ("_store", "_tx")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __enter__(self) -> _MemoryTransaction:
        self._store._lock.acquire()  # noqa: SLF001  (the store's own lock)
        self._tx = _MemoryTransaction(self._store)
        return self._tx

    def __exit__(self, kind: type[BaseException] | None, error: object, trace: object) -> None:
        try:
            if kind is not None:
                self._tx.rollback()
        finally:
            self._store._lock.release()  # noqa: SLF001


class MemoryStore:
    """Counters, events and holds in dicts, one lock around every transaction.

    >>> store = MemoryStore()
    >>> with store.transaction() as tx:
    ...     tx.apply("2026-10", "ada", "chat", Decimal("1.5"), Decimal(0))
    >>> store.spend("2026-10", "USD").members
    FrozenDict({'ada': Decimal('1.5')})
    """

    def __init__(self, currency: str = "USD") -> None:
        self.currency = currency
        self.committed: defaultdict[_Key, Decimal] = defaultdict(Decimal)
        self.held: defaultdict[_Key, Decimal] = defaultdict(Decimal)
        self.events: dict[str, Recorded] = {}
        self.holds: dict[str, Hold] = {}
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._lock = threading.Lock()

    def transaction(self) -> _Exclusive:
        """Hold the lock; undo every write if the operation raises."""
        return _Exclusive(self)

    def spend(self, period: str, currency: str) -> Spend:
        """Every counter of ``period``."""
        with self._lock:
            keys = {key for key in (*self.committed, *self.held) if key[0] == period}
            return spend_of(
                (
                    (level, key, self.committed[of, level, key], self.held[of, level, key])
                    for of, level, key in keys
                ),
                currency,
            )

    def stats(self, period: str) -> dict[str, int]:
        """The statistics of ``period``."""
        with self._lock:
            return dict(self.counts[period])

    def recorded(self, period: str | None = None) -> Iterator[Recorded]:
        """The billed events of ``period`` (every period: ``None``), in the order recorded."""
        with self._lock:
            records = list(self.events.values())
        for record in records:
            if (period is None or record.period == period) and record.billed:
                yield record

    def usage_rows(self, period: str, unbilled: tuple[bool, ...]) -> list[tuple[Any, ...]]:
        """The billed events of ``period`` summed per usage-cube bucket."""
        return usage_rows_of(self.recorded(period), unbilled)

    def close(self) -> None:
        """Nothing to release."""


class MemoryLedger(Ledger):
    """A thread-safe ledger in this process's memory (see :class:`~usagebill.ledger.core.Ledger`).

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, Money, Organization, SeatCatalog, SpendLimits
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code")],
    ...     at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     limits=SpendLimits(members={"olga": Money("1")}))
    >>> ledger = MemoryLedger(org, clock=lambda: datetime(2026, 10, 5, tzinfo=UTC))
    >>> at = datetime(2026, 10, 5, tzinfo=UTC)
    >>> ledger.hold("req-1", "olga", Money("0.75"), at=at).decision.allowed
    True
    >>> ledger.hold("req-2", "olga", Money("0.50"), at=at).decision.allowed   # 0.75 + 0.50 > 1
    False
    """

    def __init__(
        self,
        org: Organization,
        prices: PriceTable | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        hold_ttl: timedelta = DEFAULT_HOLD_TTL,
    ) -> None:
        store = MemoryStore(org.currency)
        super().__init__(store, org, prices, clock=clock, hold_ttl=hold_ttl)
