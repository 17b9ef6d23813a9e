"""Live enforcement of nested caps: holds, charges and settlements that never overshoot.

Three stores behave the same: :class:`MemoryLedger` (one process, tests),
:class:`SqliteLedger` (the embedded default, many processes on one host) and
``PostgresLedger`` (``usagebill[postgres]``, many hosts).
"""

from usagebill.ledger.core import (
    DEFAULT_HOLD_TTL,
    ChargeResult,
    Hold,
    HoldResult,
    Ledger,
    PathSpend,
    SettleResult,
    Store,
    Transaction,
)
from usagebill.ledger.memory import MemoryLedger, MemoryStore
from usagebill.ledger.sqlite import SqliteLedger, SqliteStore

__all__ = [
    "DEFAULT_HOLD_TTL",
    "ChargeResult",
    "Hold",
    "HoldResult",
    "Ledger",
    "MemoryLedger",
    "MemoryStore",
    "PathSpend",
    "SettleResult",
    "SqliteLedger",
    "SqliteStore",
    "Store",
    "Transaction",
]
