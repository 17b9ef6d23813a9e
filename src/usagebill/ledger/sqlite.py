"""The embedded default: a ledger in one SQLite file, safe for many processes on one host.

Each operation is one ``BEGIN IMMEDIATE`` transaction: SQLite takes the
database's write lock *before* the counters are read, so no other writer —
thread or process — can slip between the check and the write. The file is in
WAL mode, so readers (``month_to_date``) never wait for writers.

Durability: with the default ``synchronous="NORMAL"``, a committed operation
survives the process being killed (``kill -9``) — it is in the WAL, which the
next opener replays; ``synchronous="FULL"`` also survives power loss, at a
cost in speed. Either way an operation is applied whole or not at all.

Amounts are stored as decimal strings and added in Python inside the
transaction, so they stay exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

from usagebill.accounts.limits import Spend
from usagebill.accounts.organization import Organization
from usagebill.caps.decision import UsedOnPath
from usagebill.errors import InvalidValueError
from usagebill.ledger._connections import Connections
from usagebill.ledger.core import (
    DEFAULT_HOLD_TTL,
    Hold,
    Ledger,
    dump_json,
    load_json,
    spend_of,
)
from usagebill.money import EXACT
from usagebill.pricing.prices import PriceTable

__all__ = ["SCHEMA_VERSION", "SqliteLedger", "SqliteStore"]

SCHEMA_VERSION: Final = 1
"""The version of the ledger's tables; a newer file refuses to open with older code."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS usagebill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    period TEXT NOT NULL, level TEXT NOT NULL, key TEXT NOT NULL,
    committed TEXT NOT NULL, held TEXT NOT NULL,
    PRIMARY KEY (period, level, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    request_id TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_by_expiry ON holds (expires_at);
CREATE TABLE IF NOT EXISTS stats (
    period TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (period, name)
) WITHOUT ROWID;
"""

_ZERO: Final = Decimal(0)
_LEVELS: Final = ("user", "seat", "org")
# Three primary-key look-ups. (One WHERE with the period outside an OR makes SQLite scan every
# counter of the period: a cost that grows with the number of members.)
_PATH_QUERY: Final = (
    "SELECT level, committed, held FROM counters WHERE period = ?1 AND level = 'user' AND key = ?2"
    " UNION ALL "
    "SELECT level, committed, held FROM counters WHERE period = ?1 AND level = 'seat' AND key = ?3"
    " UNION ALL "
    "SELECT level, committed, held FROM counters WHERE period = ?1 AND level = 'org' AND key = ''"
)


class _SqliteTransaction:
    """The ledger's reads and writes as SQL, on a connection inside BEGIN IMMEDIATE."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._read: dict[tuple[str, str, str], list[list[Decimal]]] = {}

    def _counters(self, period: str, user_id: str, seat_type: str) -> list[list[Decimal]]:
        """[committed, held] of the user, seat type and organization, read once per transaction."""
        key = (period, user_id, seat_type)
        cached = self._read.get(key)
        if cached is None:
            rows = self._db.execute(_PATH_QUERY, (period, user_id, seat_type)).fetchall()
            found = {level: [Decimal(done), Decimal(held)] for level, done, held in rows}
            cached = [found.get(level, [_ZERO, _ZERO]) for level in _LEVELS]
            self._read[key] = cached
        return cached

    def path(self, period: str, user_id: str, seat_type: str) -> UsedOnPath:
        (user, held_user), (seat, held_seat), (total, held_total) = self._counters(
            period, user_id, seat_type
        )
        return UsedOnPath(user, seat, total, held_user, held_seat, held_total)

    def apply(
        self, period: str, user_id: str, seat_type: str, committed: Decimal, held: Decimal
    ) -> None:
        counters = self._counters(period, user_id, seat_type)
        rows = []
        for level, key, counter in zip(_LEVELS, (user_id, seat_type, ""), counters, strict=True):
            counter[0] = EXACT.add(counter[0], committed)
            counter[1] = EXACT.add(counter[1], held)
            rows.append((period, level, key, str(counter[0]), str(counter[1])))
        # Another path in this transaction may share the seat type or organization rows.
        self._read = {k: v for k, v in self._read.items() if k == (period, user_id, seat_type)}
        self._db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?)", rows)

    def event(self, event_id: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT fingerprint, outcome FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def put_event(self, event_id: str, fingerprint: str, outcome: str) -> None:
        self._db.execute("INSERT INTO events VALUES (?, ?, ?)", (event_id, fingerprint, outcome))

    def hold(self, request_id: str) -> Hold | None:
        row = self._db.execute(
            "SELECT body FROM holds WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else load_json(row[0], Hold)

    def put_hold(self, hold: Hold) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO holds VALUES (?, ?, ?)",
            (hold.request_id, dump_json(hold), hold.expires_at.timestamp()),
        )

    def drop_hold(self, request_id: str) -> None:
        self._db.execute("DELETE FROM holds WHERE request_id = ?", (request_id,))

    def expired(self, now: datetime) -> list[Hold]:
        rows = self._db.execute(
            "SELECT body FROM holds WHERE expires_at <= ? ORDER BY expires_at", (now.timestamp(),)
        ).fetchall()
        return [load_json(row[0], Hold) for row in rows]

    def count(self, name: str, period: str) -> None:
        self._db.execute(
            "INSERT INTO stats VALUES (?, ?, 1) "
            "ON CONFLICT (period, name) DO UPDATE SET count = count + 1",
            (period, name),
        )


def _check_version(path: str, found: str) -> None:
    if int(found) > SCHEMA_VERSION:
        raise InvalidValueError(
            "schema_version", found, f"of {path} is newer than {SCHEMA_VERSION}: upgrade usagebill"
        )


class SqliteStore:
    """Counters, events and holds in one SQLite file; one connection per thread, fork-safe."""

    def __init__(
        self,
        path: str | Path,
        currency: str = "USD",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        self.path = str(path)
        self.currency = currency
        self._synchronous = synchronous
        self._busy_ms = int(busy_timeout / timedelta(milliseconds=1))
        self._connections = Connections(self._connect)
        try:
            self._migrate(self._connection())
        except BaseException:
            self.close()  # a file this code cannot use: leave no connection open on it
            raise

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (see :mod:`usagebill.ledger._connections`: fork-safe)."""
        return self._connections.get()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,  # we issue BEGIN IMMEDIATE and COMMIT ourselves
            check_same_thread=False,
            timeout=self._busy_ms / 1000,
        )
        connection.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        """Create the tables, or check that an existing file has a version this code knows."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            row = connection.execute(
                "SELECT value FROM usagebill_meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO usagebill_meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            else:
                _check_version(self.path, row[0])
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any error (a failed COMMIT too)."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTransaction(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # else the connection stays in it, for good
                connection.execute("ROLLBACK")
            raise

    def spend(self, period: str, currency: str) -> Spend:
        """Every counter of ``period``, read in one snapshot."""
        rows = (
            self._connection()
            .execute("SELECT level, key, committed, held FROM counters WHERE period = ?", (period,))
            .fetchall()
        )
        return spend_of(
            ((level, key, Decimal(done), Decimal(held)) for level, key, done, held in rows),
            currency,
        )

    def stats(self, period: str) -> dict[str, int]:
        """The statistics of ``period``."""
        rows = (
            self._connection()
            .execute("SELECT name, count FROM stats WHERE period = ?", (period,))
            .fetchall()
        )
        return dict(rows)

    def close(self) -> None:
        """Close every connection this store opened in this process."""
        self._connections.close()


class SqliteLedger(Ledger):
    """A ledger in the SQLite file at ``path`` (created if absent).

    Any number of threads and processes may open the same file; each
    operation is atomic across all of them.
    """

    def __init__(
        self,
        path: str | Path,
        org: Organization,
        prices: PriceTable | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        hold_ttl: timedelta = DEFAULT_HOLD_TTL,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        store = SqliteStore(path, org.currency, synchronous=synchronous)
        super().__init__(store, org, prices, clock=clock, hold_ttl=hold_ttl)
