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

**Many organizations in one file.** Every row is keyed by the organization's
name, so one file keeps the ledgers of any number of organizations
(:meth:`SqliteStore.for_organization` opens another on the same connections).
SQLite has one write lock per file: writers of different organizations take
turns, each for one short transaction.

**Schema versions.** The file records its version (:data:`SCHEMA_VERSION`).
Version 1 kept one organization and, of each event, only a fingerprint;
opening such a file upgrades it in one transaction: its rows become those of
the organization that opens it, and the ids it saw stay known (a retry still
replays), though their events, never stored, are in no invoice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from usagebill.accounts.limits import Spend
from usagebill.accounts.organization import Organization
from usagebill.billing.dimensions import epoch_us, instant
from usagebill.caps.decision import UsedOnPath
from usagebill.errors import InvalidValueError
from usagebill.events import FAILED
from usagebill.ledger._connections import Connections
from usagebill.ledger.core import (
    DEFAULT_HOLD_TTL,
    Hold,
    Ledger,
    Legacy,
    Recorded,
    event_of_row,
    load_json,
    outcome_columns,
    outcome_of_columns,
    spend_of,
)
from usagebill.money import EXACT, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Product

__all__ = ["SCHEMA_V1", "SCHEMA_VERSION", "SqliteLedger", "SqliteStore"]

SCHEMA_VERSION: Final = 2
"""The version of the ledger's tables; a newer file refuses to open with older code."""

SCHEMA_V1: Final = """
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
"""The tables of version 1 (one organization per file): what the upgrade starts from."""

_SCHEMA: Final = """
CREATE TABLE usagebill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (
    organization TEXT NOT NULL, period TEXT NOT NULL, level TEXT NOT NULL, key TEXT NOT NULL,
    committed TEXT NOT NULL, held TEXT NOT NULL,
    PRIMARY KEY (organization, period, level, key)
) WITHOUT ROWID;
CREATE TABLE events (
    organization TEXT NOT NULL, event_id TEXT NOT NULL, request_id TEXT,
    user_id TEXT NOT NULL, model TEXT NOT NULL, product TEXT NOT NULL, flags INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL, cache_write_1h_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL, web_search_requests INTEGER NOT NULL,
    at_us INTEGER NOT NULL, period TEXT NOT NULL, seat_type TEXT NOT NULL,
    model_id TEXT NOT NULL, price_version INTEGER NOT NULL, in_tier INTEGER NOT NULL,
    amount TEXT NOT NULL, billed INTEGER NOT NULL, figure TEXT, outcome TEXT,
    leased INTEGER NOT NULL DEFAULT 0,
    UNIQUE (organization, event_id)
);
CREATE INDEX events_by_period ON events (organization, period);
CREATE TABLE usage (
    organization TEXT NOT NULL, period TEXT NOT NULL, user_id TEXT NOT NULL,
    seat_type TEXT NOT NULL, model_id TEXT NOT NULL, product TEXT NOT NULL,
    price_version INTEGER NOT NULL, in_tier INTEGER NOT NULL, flags INTEGER NOT NULL,
    requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL, cache_write_1h_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL, web_search_requests INTEGER NOT NULL,
    PRIMARY KEY (organization, period, user_id, seat_type, model_id, product, price_version,
                 in_tier, flags)
) WITHOUT ROWID;
CREATE TABLE legacy_events (
    organization TEXT NOT NULL, event_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (organization, event_id)
) WITHOUT ROWID;
CREATE TABLE holds (
    organization TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL,
    seat_type TEXT NOT NULL, period TEXT NOT NULL, amount TEXT NOT NULL, product TEXT NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (organization, request_id)
);
CREATE INDEX holds_by_expiry ON holds (organization, expires_us);
CREATE TABLE stats (
    organization TEXT NOT NULL, period TEXT NOT NULL, name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (organization, period, name)
) WITHOUT ROWID;
"""

# Version 1 -> 2: the old tables are renamed aside, the new ones created, the rows copied
# under the organization that opens the file (?1) — the holds, kept as JSON, by
# SqliteStore._migrate — and the old tables dropped.
_UPGRADE_FROM_V1: Final = (
    "DROP INDEX IF EXISTS holds_by_expiry",
    *(
        f"ALTER TABLE {table} RENAME TO {table}_v1"
        for table in ("usagebill_meta", "counters", "events", "holds", "stats")
    ),
    *(statement for statement in _SCHEMA.split(";") if statement.strip()),
    "INSERT INTO usagebill_meta SELECT * FROM usagebill_meta_v1",
    "INSERT INTO counters SELECT ?1, * FROM counters_v1",
    "INSERT INTO legacy_events SELECT ?1, * FROM events_v1",
    "INSERT INTO stats SELECT ?1, * FROM stats_v1",
    # (here the holds are copied)
)
_DROP_V1: Final = tuple(
    f"DROP TABLE {table}_v1" for table in ("usagebill_meta", "counters", "events", "holds", "stats")
)
_HOLD_COLUMNS: Final = "request_id, user_id, seat_type, period, amount, product, expires_us"

_ZERO: Final = Decimal(0)
_LEVELS: Final = ("user", "seat", "org")
# Three primary-key look-ups. (One WHERE with the period outside an OR makes SQLite scan every
# counter of the period: a cost that grows with the number of members.)
_PATH_QUERY: Final = (
    "SELECT level, committed, held FROM counters"
    " WHERE organization = ?1 AND period = ?2 AND level = 'user' AND key = ?3"
    " UNION ALL "
    "SELECT level, committed, held FROM counters"
    " WHERE organization = ?1 AND period = ?2 AND level = 'seat' AND key = ?4"
    " UNION ALL "
    "SELECT level, committed, held FROM counters"
    " WHERE organization = ?1 AND period = ?2 AND level = 'org' AND key = ''"
)
_EVENT_COLUMNS: Final = (
    "event_id, request_id, user_id, model, product, flags, input_tokens, output_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests,"
    " at_us, period, seat_type, model_id, price_version, in_tier, amount, billed, figure, outcome,"
    " leased"
)
_PUT_EVENT: Final = (
    f"INSERT INTO events (organization, {_EVENT_COLUMNS})"  # noqa: S608  (fixed column names)
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def event_row(organization: str, record: Recorded) -> tuple[Any, ...]:
    """The columns of ``record`` as the events table of a SQL store keeps them."""
    event = record.event
    usage = event.usage
    figure, outcome = outcome_columns(record)
    return (
        organization,
        event.event_id,
        record.request_id,
        event.user_id,
        event.model,
        event.product.value,
        event.modifiers.bits | FAILED * event.failed,
        *usage.counts,
        epoch_us(event.at),
        record.period,
        record.seat_type,
        record.model_id,
        record.price_version,
        record.in_tier,
        str(record.amount),
        record.billed,
        figure,
        outcome,
        record.leased,
    )


def record_of_row(row: tuple[Any, ...], currency: str) -> Recorded:
    """A :class:`Recorded` back from the columns of :data:`_EVENT_COLUMNS`."""
    (
        event_id,
        request_id,
        user_id,
        model,
        product,
        flags,
        *counts,
        at_us,
        period,
        seat_type,
        model_id,
        version,
        in_tier,
        amount,
        _billed,
        figure,
        outcome,
        leased,
    ) = row
    event = event_of_row(event_id, user_id, model, product, flags, counts, at_us)
    cost = Decimal(amount)
    return Recorded(
        event,
        request_id,
        seat_type,
        model_id,
        version,
        bool(in_tier),
        cost,
        period,
        outcome_of_columns(event, request_id, seat_type, cost, period, currency, figure, outcome),
        bool(leased),
    )


_COUNTS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
)
_KEY: Final = "user_id, seat_type, model_id, product, price_version, in_tier, flags"


def usage_query(placeholder: str, table: str, *, events: bool) -> str:
    """A period's usage-cube rows, summed from ``table`` (SQLite and PostgreSQL alike).

    ``events``: a GROUP BY of the billed rows of the events table; otherwise the rows
    of the usage table, which every billed charge and settlement adds to in its own
    transaction (a few thousand rows a month: the invoice reads those). Parameters:
    the six ``unbilled`` flags (1: a failed request's count is left out), then the
    organization and the period.
    """
    p = placeholder
    sums = ", ".join(
        f"sum(CASE WHEN flags >= 8 AND {p} = 1 THEN 0 ELSE {column} END)" for column in _COUNTS
    )
    requests, billed = ("count(*)", " AND billed") if events else ("sum(requests)", "")
    return (
        "SELECT user_id, seat_type, model_id, product, price_version, in_tier, flags & 7,"  # noqa: S608  (fixed text)
        f" flags >= 8, {requests}, {sums}"
        f" FROM {table} WHERE organization = {p} AND period = {p}{billed} GROUP BY {_KEY}"
    )


def usage_upsert(placeholder: str, table: str) -> str:
    """The statement that adds one billed event to its row of the usage table."""
    values = ", ".join([placeholder] * 16)
    added = ", ".join(f"{column} = u.{column} + excluded.{column}" for column in _COUNTS)
    return (
        f"INSERT INTO {table} AS u (organization, period, {_KEY}, requests,"  # noqa: S608
        f" {', '.join(_COUNTS)}) VALUES ({values})"
        f" ON CONFLICT (organization, period, {_KEY}) DO UPDATE"
        f" SET requests = u.requests + 1, {added}"
    )


def usage_row(organization: str, record: Recorded) -> tuple[Any, ...]:
    """The usage table's parameters of :func:`usage_upsert` for one billed event."""
    event = record.event
    return (
        organization,
        record.period,
        event.user_id,
        record.seat_type,
        record.model_id,
        event.product.value,
        record.price_version,
        record.in_tier,
        event.modifiers.bits | FAILED * event.failed,
        1,
        *attrs.astuple(event.usage),
    )


_ADD_USAGE: Final = usage_upsert("?", "usage")


class _SqliteTransaction:
    """The ledger's reads and writes as SQL, on a connection inside BEGIN IMMEDIATE."""

    def __init__(
        self, connection: sqlite3.Connection, organization: str, currency: str, *, legacy: bool
    ) -> None:
        self._db = connection
        self._org = organization
        self._currency = currency
        self._legacy = legacy
        self._read: dict[tuple[str, str, str], list[list[Decimal]]] = {}

    def _counters(self, period: str, user_id: str, seat_type: str) -> list[list[Decimal]]:
        """[committed, held] of the user, seat type and organization, read once per transaction."""
        key = (period, user_id, seat_type)
        cached = self._read.get(key)
        if cached is None:
            rows = self._db.execute(_PATH_QUERY, (self._org, period, user_id, seat_type)).fetchall()
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
            rows.append((self._org, period, level, key, str(counter[0]), str(counter[1])))
        # Another path in this transaction may share the seat type or organization rows.
        self._read = {k: v for k, v in self._read.items() if k == (period, user_id, seat_type)}
        self._db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?, ?)", rows)

    def event(self, event_id: str) -> Recorded | Legacy | None:
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE organization = ? AND event_id = ?",  # noqa: S608
            (self._org, event_id),
        ).fetchone()
        if row is not None:
            return record_of_row(row, self._currency)
        if not self._legacy:
            return None
        old = self._db.execute(
            "SELECT fingerprint, outcome FROM legacy_events"
            " WHERE organization = ? AND event_id = ?",
            (self._org, event_id),
        ).fetchone()
        return None if old is None else Legacy(old[0], old[1])

    def put_event(self, record: Recorded) -> None:
        self._db.execute(_PUT_EVENT, event_row(self._org, record))
        if record.billed:
            self._db.execute(_ADD_USAGE, usage_row(self._org, record))

    def hold(self, request_id: str) -> Hold | None:
        row = self._db.execute(
            f"SELECT {_HOLD_COLUMNS} FROM holds WHERE organization = ? AND request_id = ?",  # noqa: S608
            (self._org, request_id),
        ).fetchone()
        return None if row is None else _hold_of_row(row, self._currency)

    def put_hold(self, hold: Hold) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._org, *_hold_row(hold)),
        )

    def drop_hold(self, request_id: str) -> None:
        self._db.execute(
            "DELETE FROM holds WHERE organization = ? AND request_id = ?", (self._org, request_id)
        )

    def expired(self, now: datetime) -> list[Hold]:
        rows = self._db.execute(
            f"SELECT {_HOLD_COLUMNS} FROM holds WHERE organization = ? AND expires_us <= ?"  # noqa: S608
            " ORDER BY expires_us, request_id",
            (self._org, epoch_us(now)),
        ).fetchall()
        return [_hold_of_row(row, self._currency) for row in rows]

    def count(self, name: str, period: str) -> None:
        self._db.execute(
            "INSERT INTO stats VALUES (?, ?, ?, 1) "
            "ON CONFLICT (organization, period, name) DO UPDATE SET count = count + 1",
            (self._org, period, name),
        )


def _hold_row(hold: Hold) -> tuple[Any, ...]:
    """A hold's columns (its instant as integer microseconds: exact, and ordered)."""
    return (
        hold.request_id,
        hold.user_id,
        hold.seat_type,
        hold.period,
        str(hold.amount.amount),
        hold.product.value,
        epoch_us(hold.expires_at),
    )


def _hold_of_row(row: tuple[Any, ...], currency: str) -> Hold:
    request_id, user_id, seat_type, period, amount, product, expires_us = row
    return Hold(
        request_id,
        user_id,
        seat_type,
        period,
        unchecked_money(Decimal(amount), currency),
        Product(product),
        instant(expires_us),
    )


def _check_version(path: str, found: str) -> None:
    if int(found) > SCHEMA_VERSION:
        raise InvalidValueError(
            "schema_version", found, f"of {path} is newer than {SCHEMA_VERSION}: upgrade usagebill"
        )


@attrs.define
class _Shared:
    """What the stores of one file share: its path, settings and connections."""

    path: str
    connections: Connections[sqlite3.Connection]


class SqliteStore:
    """Counters, events and holds of one organization in a SQLite file that may keep many.

    One connection per thread, fork-safe; ``organization`` names the rows
    (the ledger passes its organization's name).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ledger.db"
    >>> acme = SqliteStore(path, organization="acme")
    >>> with acme.transaction() as tx:
    ...     tx.apply("2026-10", "ada", "chat", Decimal("1.5"), Decimal(0))
    >>> globex = acme.for_organization("globex")        # the same file, other rows
    >>> acme.spend("2026-10", "USD").total, globex.spend("2026-10", "USD").total
    (Decimal('1.5'), Decimal('0'))
    >>> acme.close()
    """

    def __init__(
        self,
        path: str | Path,
        currency: str = "USD",
        *,
        organization: str = "default",
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        self.path = str(path)
        self.currency = currency
        self.organization = organization
        self._synchronous = synchronous
        self._busy_ms = int(busy_timeout / timedelta(milliseconds=1))
        self._connections = Connections(self._connect)
        try:
            self._migrate(self._connection())
            self._legacy = self._has_legacy()
        except BaseException:
            self.close()  # a file this code cannot use: leave no connection open on it
            raise

    def for_organization(self, organization: str, currency: str = "USD") -> SqliteStore:
        """The store of another organization in the same file, on the same connections."""
        other = object.__new__(SqliteStore)
        other.__dict__.update(self.__dict__)
        other.organization = organization
        other.currency = currency
        other._legacy = other._has_legacy()
        return other

    def _has_legacy(self) -> bool:
        """Whether the organization has ids of version 1 (only an upgrade writes them)."""
        row = (
            self._connection()
            .execute(
                "SELECT EXISTS (SELECT 1 FROM legacy_events WHERE organization = ?)",
                (self.organization,),
            )
            .fetchone()
        )
        return bool(row[0])

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
        """Create the tables, upgrade a version-1 file, or check the version of a newer one."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            meta = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usagebill_meta'"
            ).fetchone()
            found = None
            if meta is not None:
                row = connection.execute(
                    "SELECT value FROM usagebill_meta WHERE key = 'schema_version'"
                ).fetchone()
                found = None if row is None else row[0]
            if found is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            elif int(found) == 1:
                for statement in _UPGRADE_FROM_V1:
                    connection.execute(statement, (self.organization,) if "?1" in statement else ())
                for (body,) in connection.execute("SELECT body FROM holds_v1").fetchall():
                    connection.execute(
                        "INSERT INTO holds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (self.organization, *_hold_row(load_json(body, Hold))),
                    )
                for statement in _DROP_V1:
                    connection.execute(statement)
            else:
                _check_version(self.path, found)
            connection.execute(
                "INSERT OR REPLACE INTO usagebill_meta VALUES ('schema_version', ?)",
                (str(max(SCHEMA_VERSION, int(found or 0))),),
            )
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
            yield _SqliteTransaction(
                connection, self.organization, self.currency, legacy=self._legacy
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # else the connection stays in it, for good
                connection.execute("ROLLBACK")
            raise

    def spend(self, period: str, currency: str) -> Spend:
        """Every counter of ``period``, read in one snapshot."""
        rows = (
            self._connection()
            .execute(
                "SELECT level, key, committed, held FROM counters"
                " WHERE organization = ? AND period = ?",
                (self.organization, period),
            )
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
            .execute(
                "SELECT name, count FROM stats WHERE organization = ? AND period = ?",
                (self.organization, period),
            )
            .fetchall()
        )
        return dict(rows)

    def recorded(self, period: str | None = None) -> Iterator[Recorded]:
        """The billed events of ``period`` (every period: ``None``), in the order recorded."""
        where = "organization = ? AND billed = 1" + ("" if period is None else " AND period = ?")
        parameters = (self.organization,) if period is None else (self.organization, period)
        cursor = self._connection().cursor()
        cursor.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} ORDER BY rowid",  # noqa: S608
            parameters,
        )
        try:
            while rows := cursor.fetchmany(10_000):
                for row in rows:
                    yield record_of_row(row, self.currency)
        finally:
            cursor.close()

    def usage_rows(
        self, period: str, unbilled: tuple[bool, ...], *, from_events: bool = False
    ) -> list[tuple[Any, ...]]:
        """The billed events of ``period`` summed per usage-cube bucket, by SQLite.

        From the usage table the charges keep up to date; ``from_events`` sums the
        events themselves instead (a GROUP BY of the month: slower, and the same).
        """
        query = (
            usage_query("?", "events", events=True)
            if from_events
            else usage_query("?", "usage", events=False)
        )
        rows = (
            self._connection()
            .execute(query, (*map(int, unbilled), self.organization, period))
            .fetchall()
        )
        return [(*row[:5], bool(row[5]), row[6], bool(row[7]), *row[8:]) for row in rows]

    def close(self) -> None:
        """Close every connection this store opened in this process."""
        self._connections.close()


class SqliteLedger(Ledger):
    """A ledger in the SQLite file at ``path`` (created if absent), keyed by ``org``'s name.

    Any number of threads and processes may open the same file; each
    operation is atomic across all of them. The file may keep the ledgers of
    other organizations too.

    >>> import tempfile
    >>> from datetime import UTC
    >>> from usagebill.events import UsageEvent
    >>> from usagebill.usage import Product, TokenUsage
    >>> path = Path(tempfile.mkdtemp()) / "ledger.db"
    >>> ledger = SqliteLedger(path, Organization.from_file("examples/org.toml"))
    >>> usage = UsageEvent("e1", "u-007", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000_000), datetime(2026, 10, 10, tzinfo=UTC))
    >>> ledger.charge(usage).recorded
    True
    >>> ledger.close()
    >>> reopened = SqliteLedger(path, Organization.from_file("examples/org.toml"))
    >>> reopened.charge(usage).replayed, reopened.invoice("2026-10").events
    (True, 1)
    >>> reopened.close()
    """

    store: SqliteStore

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
        store = SqliteStore(path, org.currency, organization=org.name, synchronous=synchronous)
        super().__init__(store, org, prices, clock=clock, hold_ttl=hold_ttl)
