"""Live enforcement of nested caps: holds, charges and settlements that never overshoot.

Every charge and settlement records its event: a ledger is also the system of record its
invoice (:meth:`Ledger.invoice`) and month-to-date spend are made from.

Three stores behave the same: :class:`MemoryLedger` (one process, tests),
:class:`SqliteLedger` (the embedded default, many processes on one host) and
``PostgresLedger`` (``usagebill[postgres]``, many hosts). Over any of them, a
``LeasedLedger`` (budget leases) decides in process under slices of headroom it
leases from the store, for throughput that grows with processes.
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
    from usagebill.ledger.leases import LeasedLedger, LeasePolicy, premature_denials
    from usagebill.ledger.postgres import PostgresLedger, PostgresStore

__all__ = [
    "DEFAULT_HOLD_TTL",
    "ChargeResult",
    "Hold",
    "HoldResult",
    "LeasePolicy",
    "LeasedLedger",
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
    "premature_denials",
]


_LAZY = {
    "PostgresLedger": "postgres",
    "PostgresStore": "postgres",
    "LeasePolicy": "leases",
    "LeasedLedger": "leases",
    "premature_denials": "leases",
}


def __getattr__(name: str) -> object:
    """Import the PostgreSQL store (psycopg stays optional) and the leases on first use."""
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(f"usagebill.ledger.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
