"""Live enforcement of nested caps: holds, charges and settlements that never overshoot.

Every charge and settlement records its event: a ledger is also the system of record its
invoice (:meth:`Ledger.invoice`) and month-to-date spend are made from.

Three stores behave the same: :class:`MemoryLedger` (one process, tests),
:class:`SqliteLedger` (the embedded default, many processes on one host) and
``PostgresLedger`` (``usagebill[postgres]``, many hosts).
"""

from typing import TYPE_CHECKING

from usagebill.ledger.core import (
    DEFAULT_HOLD_TTL,
    ChargeResult,
    Hold,
    HoldResult,
    Ledger,
    Legacy,
    Rating,
    Recorded,
    SettleResult,
    Store,
    Transaction,
)
from usagebill.ledger.memory import MemoryLedger, MemoryStore
from usagebill.ledger.sqlite import SqliteLedger, SqliteStore

if TYPE_CHECKING:
    from usagebill.ledger.postgres import PostgresLedger, PostgresStore

__all__ = [
    "DEFAULT_HOLD_TTL",
    "ChargeResult",
    "Hold",
    "HoldResult",
    "Ledger",
    "Legacy",
    "MemoryLedger",
    "MemoryStore",
    "PostgresLedger",
    "PostgresStore",
    "Rating",
    "Recorded",
    "SettleResult",
    "SqliteLedger",
    "SqliteStore",
    "Store",
    "Transaction",
]


def __getattr__(name: str) -> object:
    """Import the PostgreSQL store on first use, so that psycopg stays optional."""
    if name in {"PostgresLedger", "PostgresStore"}:
        from usagebill.ledger import postgres  # noqa: PLC0415  (needs usagebill[postgres])

        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
