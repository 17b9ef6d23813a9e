"""A ledger in PostgreSQL, safe for many processes on many hosts: ``usagebill[postgres]``.

**Locking: the organization first.** Every operation is one ``READ COMMITTED``
transaction whose first statement locks the organization's row
(``SELECT … FOR UPDATE`` on its row of ``usagebill_organizations``). All the
rest — expiring old holds, the idempotency lookup, reading the counters of
the member's path, the decision, the writes — runs while that lock is held,
and each statement reads what the previous holder committed. The counters
are then written by one upsert per path, which locks their rows in a fixed
order too: organization, seat type, member. So the check and the write are
one atomic step for every process on every host, and:

* **No deadlocks.** Every transaction takes the same lock first and nothing
  before it, so no two can each hold what the other waits for. Locking only
  the counters of the member's path, organization → seat type → member, is
  not enough here: one operation may also release expired holds of other
  members and months, or settle October's hold with a November usage, and
  two such transactions can each hold one month's rows and wait for the
  other's; and two retries of one request would both read the hold and
  release it twice. (Both happened when we tried per-path locks alone.)
* **No retries.** Nothing is ever aborted. ``SERIALIZABLE`` isolation would be
  correct too, but every charge adds to the organization's total, so
  concurrent transactions would keep failing with serialization errors
  (``40001``) and every caller would need a retry loop with backoff, which
  gets worse the busier the organization is. Waiting for one row lock is
  cheaper, and never fails.
* **No parallelism lost.** Every charge of an organization adds to its total,
  so any correct scheme applies an organization's writes one at a time.
  Different organizations — each row is keyed by the organization's name,
  and one database keeps any number — never wait for each other (each locks
  only its own row), and readers (:meth:`PostgresStore.spend`,
  :meth:`~PostgresStore.stats`) take no lock: they read one consistent
  snapshot.

**Round trips.** A charge, a hold and a settlement are one round trip each in
the plain case: a server-side function (``usagebill_charge``, ``usagebill_hold``,
``usagebill_settle``) takes the lock, checks that nothing expired and the id is
new, decides on the caps it is given, checks that no notification threshold is
crossed, writes everything and returns the counters it read, from which the
ledger builds the very outcome :func:`~usagebill.caps.decision.decide` gives.
Anything else — a denial, a threshold crossed, a retry, expired holds, an
extension, a release — the function leaves untouched (it writes nothing) and
the ledger runs the general transaction, in pipeline mode: ``BEGIN``, the lock
and the first read share one round trip, and so do the writes and ``COMMIT``.
The organization's lock serialises both kinds alike.

Amounts are ``NUMERIC`` without precision or scale, added in SQL and read back
as :class:`~decimal.Decimal`: exact, never floats.

**Durability.** When an operation returns, its transaction has committed;
with the server's default ``synchronous_commit = on``, it survives a crash of
the server or of its host. An operation is applied whole or not at all. If the
connection breaks mid-operation, the call raises ``psycopg.OperationalError``
and the next call reconnects; if it broke while committing, the outcome is
unknown: retry — charges and settlements are idempotent by event id, a hold
by request id.

**Running it.** Point :class:`PostgresLedger` at a server (tested with
PostgreSQL 15)::

    ledger = PostgresLedger("postgresql://billing@db.internal/billing", org)

One database keeps the ledgers of any number of organizations; a service
opens one :class:`PostgresStore` and a ledger per organization on it
(``PostgresLedger(store, org)``: one connection pool). The connection string
takes every libpq option (``connect_timeout``, ``sslmode``, a
``search_path``, …). Connections are
opened lazily, one per thread, and again in a forked child (which leaves the
parent's alone). For tests, ``scripts/with-postgres CMD`` runs ``CMD`` with a
throwaway server and ``USAGEBILL_TEST_POSTGRES_DSN`` set; the PostgreSQL tests
skip without it.

**Schema and migrations.** The tables come from numbered migrations
(:data:`MIGRATIONS`); the table ``usagebill_schema`` has a row per migration
applied (``version``, ``description``, ``applied_at``). Opening a store applies
the missing ones, in one transaction under ``pg_advisory_xact_lock``, so
processes starting together do not race; a database migrated by newer code
refuses to open. With ``migrate=False`` a store only checks the version (for a
database user that may not create tables: migrate once as its owner).
After migration 2, every table is keyed by ``organization`` first:

``usagebill_organizations``
    a row per organization: the lock its operations take first;
``usagebill_counters``
    ``(period, level, key) → committed, held``; level ``org`` (key ``''``),
    ``seat`` (key: the seat type) or ``user`` (key: the member);
``usagebill_events``
    every event charged or settled (and every charge denied), by ``event_id``:
    its fields, the seat and price it was charged under, its amount and outcome;
``usagebill_usage``
    the usage cube's rows of each period, added to by every billed event;
``usagebill_legacy_events``
    the ids a version-1 database saw (fingerprint and outcome), to replay them;
``usagebill_holds``
    live holds by ``request_id``, indexed by ``expires_at``;
``usagebill_stats``
    ``(period, name) → count``: overruns and expired holds.

Migration 2 upgrades a version-1 database (one organization) in place: its rows
become those of the organization of the store that opens it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, LiteralString

try:
    import psycopg
    from psycopg.rows import TupleRow
except ImportError as error:  # pragma: no cover  (the dev extra always installs psycopg)
    raise ImportError(
        "usagebill.ledger.postgres needs psycopg 3: pip install 'usagebill[postgres]'"
    ) from error

from usagebill.accounts.limits import Spend
from usagebill.accounts.organization import MemberPath, Organization
from usagebill.billing.dimensions import epoch_us
from usagebill.caps.decision import UsedOnPath, decide
from usagebill.errors import InvalidValueError
from usagebill.events import FAILED, UsageEvent
from usagebill.ledger._connections import Connections
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
    dump_json,
    load_json,
    spend_of,
)
from usagebill.ledger.sqlite import (
    event_row,
    record_of_row,
    usage_query,
    usage_row,
    usage_upsert,
)
from usagebill.money import Money, unchecked_money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Product

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresLedger", "PostgresStore"]

_Connection = psycopg.Connection[TupleRow]


# The one-round-trip operations (see "Round trips" in the module docs). Each locks the
# organization's row, then does the whole operation when it is the plain case — nothing
# expired, an id never seen, allowed, no notification threshold crossed — and returns what
# Python needs to build the outcome; otherwise it writes nothing and returns NULL, and the
# ledger runs the general transaction (the organization's lock makes both exclusive alike).
_COMMON_CHECKS: Final = """
    PERFORM 1 FROM usagebill_organizations WHERE organization = p_org FOR UPDATE;
    IF NOT FOUND OR EXISTS (
        SELECT 1 FROM usagebill_holds WHERE organization = p_org AND expires_at <= p_now
    ) THEN
        RETURN NULL;
    END IF;
"""
_READ_PATH: Final = """
    SELECT committed, held INTO c_user, h_user FROM usagebill_counters
        WHERE organization = p_org AND period = p_period AND level = 'user' AND key = p_user;
    SELECT committed, held INTO c_seat, h_seat FROM usagebill_counters
        WHERE organization = p_org AND period = p_period AND level = 'seat' AND key = p_seat;
    SELECT committed, held INTO c_org, h_org FROM usagebill_counters
        WHERE organization = p_org AND period = p_period AND level = 'org' AND key = '';
    c_user := coalesce(c_user, 0); h_user := coalesce(h_user, 0);
    c_seat := coalesce(c_seat, 0); h_seat := coalesce(h_seat, 0);
    c_org := coalesce(c_org, 0); h_org := coalesce(h_org, 0);
"""
_DECIDE: Final = """
    IF p_caps[1] IS NOT NULL THEN least_room := p_caps[1] - c_user - h_user; END IF;
    IF p_caps[2] IS NOT NULL AND (least_room IS NULL OR p_caps[2] - c_seat - h_seat < least_room)
    THEN
        least_room := p_caps[2] - c_seat - h_seat;
    END IF;
    IF p_caps[3] IS NOT NULL AND (least_room IS NULL OR p_caps[3] - c_org - h_org < least_room)
    THEN
        least_room := p_caps[3] - c_org - h_org;
    END IF;
    IF NOT (least_room IS NULL OR p_amount <= least_room OR p_amount = 0) THEN
        RETURN NULL;
    END IF;
"""
_MARKS: Final = """
    IF EXISTS (
            SELECT 1 FROM unnest(p_member_marks) AS m WHERE c_user < m AND m <= c_user + p_amount
        ) OR EXISTS (
            SELECT 1 FROM unnest(p_seat_marks) AS m WHERE c_seat < m AND m <= c_seat + p_amount
        ) OR EXISTS (
            SELECT 1 FROM unnest(p_org_marks) AS m WHERE c_org < m AND m <= c_org + p_amount
        )
    THEN
        RETURN NULL;
    END IF;
"""
_ADD: Final = """
    INSERT INTO usagebill_counters AS c (organization, period, level, key, committed, held)
    VALUES (p_org, p_period, 'org', '', {committed}, {held}),
           (p_org, p_period, 'seat', p_seat, {committed}, {held}),
           (p_org, p_period, 'user', p_user, {committed}, {held})
    ON CONFLICT (organization, period, level, key) DO UPDATE
    SET committed = c.committed + excluded.committed, held = c.held + excluded.held;
"""
_EVENT_PARAMETERS: Final = """
    p_event_id text, p_user text, p_model text, p_product text, p_flags integer,
    p_counts bigint[], p_at_us bigint, p_period text, p_seat text, p_model_id text,
    p_version integer, p_in_tier boolean, p_amount numeric,
    p_member_marks numeric[], p_seat_marks numeric[], p_org_marks numeric[]
"""
_NEW_EVENT: Final = """
    IF EXISTS (SELECT 1 FROM usagebill_events WHERE organization = p_org AND event_id = p_event_id)
        OR EXISTS (
            SELECT 1 FROM usagebill_legacy_events
            WHERE organization = p_org AND event_id = p_event_id
        )
    THEN
        RETURN NULL;
    END IF;
"""
_INSERT_EVENT: Final = """
    INSERT INTO usagebill_events (organization, event_id, request_id, user_id, model, product,
        flags, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
        cache_read_tokens, web_search_requests, at_us, period, seat_type, model_id,
        price_version, in_tier, amount, billed, figure, outcome)
    VALUES (p_org, p_event_id, {request}, p_user, p_model, p_product, p_flags, p_counts[1],
        p_counts[2], p_counts[3], p_counts[4], p_counts[5], p_counts[6], p_at_us, p_period,
        p_seat, p_model_id, p_version, p_in_tier, p_amount, true, {figure}, NULL);
    INSERT INTO usagebill_usage AS u (organization, period, user_id, seat_type, model_id,
        product, price_version, in_tier, flags, requests, input_tokens, output_tokens,
        cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests)
    VALUES (p_org, p_period, p_user, p_seat, p_model_id, p_product, p_version, p_in_tier,
        p_flags, 1, p_counts[1], p_counts[2], p_counts[3], p_counts[4], p_counts[5],
        p_counts[6])
    ON CONFLICT (organization, period, user_id, seat_type, model_id, product, price_version,
        in_tier, flags) DO UPDATE
    SET requests = u.requests + 1, input_tokens = u.input_tokens + excluded.input_tokens,
        output_tokens = u.output_tokens + excluded.output_tokens,
        cache_write_5m_tokens = u.cache_write_5m_tokens + excluded.cache_write_5m_tokens,
        cache_write_1h_tokens = u.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
        cache_read_tokens = u.cache_read_tokens + excluded.cache_read_tokens,
        web_search_requests = u.web_search_requests + excluded.web_search_requests;
"""
_CHARGE_FUNCTION: Final = (
    "CREATE FUNCTION usagebill_charge(p_org text, p_now timestamptz, p_caps numeric[],"
    + _EVENT_PARAMETERS
    + """) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE
    c_user numeric; h_user numeric; c_seat numeric; h_seat numeric;
    c_org numeric; h_org numeric; least_room numeric;
BEGIN"""
    + _COMMON_CHECKS
    + _NEW_EVENT
    + _READ_PATH
    + _DECIDE
    + _MARKS
    + _ADD.format(committed="p_amount", held="0")
    + _INSERT_EVENT.format(
        request="NULL",
        figure="CASE WHEN least_room IS NULL THEN NULL ELSE greatest(least_room, 0)::text END",
    )
    + """
    RETURN ARRAY[c_user, c_seat, c_org, h_user, h_seat, h_org];
END $$"""
)
_HOLD_FUNCTION: Final = (
    """CREATE FUNCTION usagebill_hold(
    p_org text, p_now timestamptz, p_caps numeric[], p_request text, p_user text, p_seat text,
    p_period text, p_amount numeric, p_body text, p_expires timestamptz
) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE
    c_user numeric; h_user numeric; c_seat numeric; h_seat numeric;
    c_org numeric; h_org numeric; least_room numeric;
BEGIN"""  # noqa: S608  (fixed text)
    + _COMMON_CHECKS
    + """
    IF EXISTS (
        SELECT 1 FROM usagebill_holds WHERE organization = p_org AND request_id = p_request
    ) THEN
        RETURN NULL;
    END IF;"""
    + _READ_PATH
    + _DECIDE
    + _ADD.format(committed="0", held="p_amount")
    + """
    INSERT INTO usagebill_holds (organization, request_id, body, expires_at, user_id, seat_type,
        period, amount)
    VALUES (p_org, p_request, p_body, p_expires, p_user, p_seat, p_period, p_amount);
    RETURN ARRAY[c_user, c_seat, c_org, h_user, h_seat, h_org];
END $$"""
)
_SETTLE_FUNCTION: Final = (
    "CREATE FUNCTION usagebill_settle(p_org text, p_now timestamptz, p_request text,"  # noqa: S608
    + _EVENT_PARAMETERS
    + """) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    c_user numeric; h_user numeric; c_seat numeric; h_seat numeric;
    c_org numeric; h_org numeric; held_by text; held_seat text; held_period text;
    held_amount numeric;
BEGIN"""
    + _COMMON_CHECKS
    + _NEW_EVENT
    + """
    SELECT user_id, seat_type, period, amount INTO held_by, held_seat, held_period, held_amount
        FROM usagebill_holds WHERE organization = p_org AND request_id = p_request;
    IF NOT FOUND OR held_amount IS NULL OR held_by <> p_user THEN
        RETURN NULL;
    END IF;"""
    + _READ_PATH
    + _MARKS
    + """
    INSERT INTO usagebill_counters AS c (organization, period, level, key, committed, held)
    VALUES (p_org, held_period, 'org', '', 0, -held_amount),
           (p_org, held_period, 'seat', held_seat, 0, -held_amount),
           (p_org, held_period, 'user', p_user, 0, -held_amount)
    ON CONFLICT (organization, period, level, key) DO UPDATE
    SET held = c.held + excluded.held;
    DELETE FROM usagebill_holds WHERE organization = p_org AND request_id = p_request;"""
    + _ADD.format(committed="p_amount", held="0")
    + """
    IF p_amount > held_amount THEN
        INSERT INTO usagebill_stats AS s (organization, period, name, count)
        VALUES (p_org, p_period, 'overruns', 1)
        ON CONFLICT (organization, period, name) DO UPDATE SET count = s.count + 1;
    END IF;"""
    + _INSERT_EVENT.format(request="p_request", figure="held_amount::text")
    + """
    RETURN held_amount;
END $$"""
)

MIGRATIONS: Final[tuple[tuple[int, str, tuple[LiteralString, ...]], ...]] = (
    (
        1,
        "organization lock, counters, events, holds, statistics",
        (
            """
            CREATE TABLE usagebill_org_lock (
                id boolean PRIMARY KEY DEFAULT true CHECK (id)  -- exactly one row
            )""",
            "INSERT INTO usagebill_org_lock DEFAULT VALUES",
            """
            CREATE TABLE usagebill_counters (
                period text NOT NULL,
                level text NOT NULL CHECK (level IN ('org', 'seat', 'user')),
                key text NOT NULL,
                committed numeric NOT NULL DEFAULT 0,
                held numeric NOT NULL DEFAULT 0,
                PRIMARY KEY (period, level, key)
            )""",
            """
            CREATE TABLE usagebill_events (
                event_id text PRIMARY KEY,
                fingerprint text NOT NULL,
                outcome text NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT now()
            )""",
            """
            CREATE TABLE usagebill_holds (
                request_id text PRIMARY KEY,
                body text NOT NULL,
                expires_at timestamptz NOT NULL
            )""",
            "CREATE INDEX usagebill_holds_by_expiry ON usagebill_holds (expires_at)",
            """
            CREATE TABLE usagebill_stats (
                period text NOT NULL,
                name text NOT NULL,
                count bigint NOT NULL,
                PRIMARY KEY (period, name)
            )""",
        ),
    ),
    (
        2,
        "many organizations: every row keyed by organization; every event recorded",
        (
            # The rows of a one-organization database become those of the organization that
            # opens it (set by the migration's transaction as usagebill.organization).
            "CREATE TABLE usagebill_organizations (organization text PRIMARY KEY)",
            (
                "INSERT INTO usagebill_organizations"
                " VALUES (current_setting('usagebill.organization'))"
            ),
            "DROP TABLE usagebill_org_lock",
            *(
                f"ALTER TABLE {table} ADD COLUMN organization text NOT NULL"
                " DEFAULT current_setting('usagebill.organization')"
                for table in (
                    "usagebill_counters",
                    "usagebill_events",
                    "usagebill_holds",
                    "usagebill_stats",
                )
            ),
            *(
                f"ALTER TABLE {table} ALTER COLUMN organization DROP DEFAULT"
                for table in (
                    "usagebill_counters",
                    "usagebill_events",
                    "usagebill_holds",
                    "usagebill_stats",
                )
            ),
            (
                "ALTER TABLE usagebill_counters DROP CONSTRAINT usagebill_counters_pkey,"
                " ADD PRIMARY KEY (organization, period, level, key)"
            ),
            (
                "ALTER TABLE usagebill_stats DROP CONSTRAINT usagebill_stats_pkey,"
                " ADD PRIMARY KEY (organization, period, name)"
            ),
            (
                "ALTER TABLE usagebill_holds DROP CONSTRAINT usagebill_holds_pkey,"
                " ADD PRIMARY KEY (organization, request_id)"
            ),
            "DROP INDEX usagebill_holds_by_expiry",
            "CREATE INDEX usagebill_holds_by_expiry ON usagebill_holds (organization, expires_at)",
            "ALTER TABLE usagebill_events RENAME TO usagebill_legacy_events",
            (
                "ALTER TABLE usagebill_legacy_events DROP CONSTRAINT usagebill_events_pkey,"
                " ADD PRIMARY KEY (organization, event_id)"
            ),
            """
            CREATE TABLE usagebill_events (
                seq bigserial,
                organization text NOT NULL,
                event_id text NOT NULL,
                request_id text,
                user_id text NOT NULL,
                model text NOT NULL,
                product text NOT NULL,
                flags integer NOT NULL,
                input_tokens bigint NOT NULL,
                output_tokens bigint NOT NULL,
                cache_write_5m_tokens bigint NOT NULL,
                cache_write_1h_tokens bigint NOT NULL,
                cache_read_tokens bigint NOT NULL,
                web_search_requests bigint NOT NULL,
                at_us bigint NOT NULL,
                period text NOT NULL,
                seat_type text NOT NULL,
                model_id text NOT NULL,
                price_version integer NOT NULL,
                in_tier boolean NOT NULL,
                amount numeric NOT NULL,
                billed boolean NOT NULL,
                figure text,
                outcome text,
                leased boolean NOT NULL DEFAULT false,
                PRIMARY KEY (organization, event_id)
            )""",
            "CREATE INDEX usagebill_events_by_period ON usagebill_events (organization, period)",
            """
            CREATE TABLE usagebill_usage (
                organization text NOT NULL,
                period text NOT NULL,
                user_id text NOT NULL,
                seat_type text NOT NULL,
                model_id text NOT NULL,
                product text NOT NULL,
                price_version integer NOT NULL,
                in_tier boolean NOT NULL,
                flags integer NOT NULL,
                requests bigint NOT NULL,
                input_tokens bigint NOT NULL,
                output_tokens bigint NOT NULL,
                cache_write_5m_tokens bigint NOT NULL,
                cache_write_1h_tokens bigint NOT NULL,
                cache_read_tokens bigint NOT NULL,
                web_search_requests bigint NOT NULL,
                PRIMARY KEY (organization, period, user_id, seat_type, model_id, product,
                             price_version, in_tier, flags)
            )""",
            # What a settlement reads of its hold, as columns (NULL in a hold of version 1).
            (
                "ALTER TABLE usagebill_holds ADD COLUMN user_id text, ADD COLUMN seat_type text,"
                " ADD COLUMN period text, ADD COLUMN amount numeric"
            ),
            _CHARGE_FUNCTION,
            _HOLD_FUNCTION,
            _SETTLE_FUNCTION,
        ),
    ),
)
"""Every migration, in order: (version, description, SQL statements)."""

SCHEMA_VERSION: Final = MIGRATIONS[-1][0]
"""The version of the tables this code reads and writes."""

# The key of the advisory lock that serialises migrations (any fixed 64-bit number; "usagebil").
_MIGRATION_LOCK: Final = 0x7573_6167_6562_696C

_EVENT_COLUMNS: Final = (
    "event_id, request_id, user_id, model, product, flags, input_tokens, output_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests,"
    " at_us, period, seat_type, model_id, price_version, in_tier, amount, billed, figure, outcome,"
    " leased"
)
_PUT_EVENT: Final = (
    f"INSERT INTO usagebill_events (organization, {_EVENT_COLUMNS}) VALUES ("  # noqa: S608
    + ", ".join(["%s"] * 24)
    + ")"
)
_ADD_USAGE: Final = usage_upsert("%s", "usagebill_usage")
_ZERO: Final = Decimal(0)
_IDLE: Final = psycopg.pq.TransactionStatus.IDLE


class _PostgresTransaction:
    """The ledger's reads and writes as SQL, on a connection that holds the organization lock."""

    def __init__(self, connection: _Connection, organization: str, currency: str) -> None:
        self._db = connection
        self._org = organization
        self._currency = currency

    def path(self, period: str, user_id: str, seat_type: str) -> UsedOnPath:
        rows = self._db.execute(
            "SELECT c.level, c.committed, c.held"
            " FROM (VALUES ('org', ''), ('seat', %s), ('user', %s)) AS want (level, key)"
            " JOIN usagebill_counters AS c"
            " ON c.organization = %s AND c.period = %s AND c.level = want.level"
            " AND c.key = want.key",
            (seat_type, user_id, self._org, period),
        ).fetchall()
        found: dict[str, tuple[Decimal, Decimal]] = {row[0]: (row[1], row[2]) for row in rows}
        user, held_user = found.get("user", (_ZERO, _ZERO))
        seat, held_seat = found.get("seat", (_ZERO, _ZERO))
        total, held_total = found.get("org", (_ZERO, _ZERO))
        return UsedOnPath(user, seat, total, held_user, held_seat, held_total)

    def apply(
        self, period: str, user_id: str, seat_type: str, committed: Decimal, held: Decimal
    ) -> None:
        # One statement: creates missing rows and adds exactly, in NUMERIC, locking the rows in
        # the order of VALUES (organization, seat type, member).
        org = self._org
        self._db.execute(
            "INSERT INTO usagebill_counters AS c"
            " (organization, period, level, key, committed, held)"
            " VALUES (%s, %s, 'org', '', %s, %s), (%s, %s, 'seat', %s, %s, %s),"
            " (%s, %s, 'user', %s, %s, %s)"
            " ON CONFLICT (organization, period, level, key) DO UPDATE"
            " SET committed = c.committed + excluded.committed, held = c.held + excluded.held",
            (
                *(org, period, committed, held),
                *(org, period, seat_type, committed, held),
                *(org, period, user_id, committed, held),
            ),
        )

    def event(self, event_id: str) -> Recorded | Legacy | None:
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM usagebill_events"  # noqa: S608  (fixed columns)
            " WHERE organization = %s AND event_id = %s",
            (self._org, event_id),
        ).fetchone()
        if row is not None:
            return record_of_row(row, self._currency)
        old = self._db.execute(
            "SELECT fingerprint, outcome FROM usagebill_legacy_events"
            " WHERE organization = %s AND event_id = %s",
            (self._org, event_id),
        ).fetchone()
        return None if old is None else Legacy(old[0], old[1])

    def put_event(self, record: Recorded) -> None:
        self._db.execute(_PUT_EVENT, event_row(self._org, record))
        if record.billed:
            self._db.execute(_ADD_USAGE, usage_row(self._org, record))

    def hold(self, request_id: str) -> Hold | None:
        row = self._db.execute(
            "SELECT body FROM usagebill_holds WHERE organization = %s AND request_id = %s",
            (self._org, request_id),
        ).fetchone()
        return None if row is None else load_json(row[0], Hold)

    def put_hold(self, hold: Hold) -> None:
        self._db.execute(
            "INSERT INTO usagebill_holds (organization, request_id, body, expires_at,"
            " user_id, seat_type, period, amount) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (organization, request_id) DO UPDATE"
            " SET body = excluded.body, expires_at = excluded.expires_at,"
            " amount = excluded.amount",
            (
                self._org,
                hold.request_id,
                dump_json(hold),
                hold.expires_at,
                hold.user_id,
                hold.seat_type,
                hold.period,
                hold.amount.amount,
            ),
        )

    def drop_hold(self, request_id: str) -> None:
        self._db.execute(
            "DELETE FROM usagebill_holds WHERE organization = %s AND request_id = %s",
            (self._org, request_id),
        )

    def expired(self, now: datetime) -> list[Hold]:
        rows = self._db.execute(
            "SELECT body FROM usagebill_holds WHERE organization = %s AND expires_at <= %s"
            " ORDER BY expires_at, request_id",
            (self._org, now),
        ).fetchall()
        return [load_json(row[0], Hold) for row in rows]

    def count(self, name: str, period: str) -> None:
        self._db.execute(
            "INSERT INTO usagebill_stats AS s (organization, period, name, count)"
            " VALUES (%s, %s, %s, 1)"
            " ON CONFLICT (organization, period, name) DO UPDATE SET count = s.count + 1",
            (self._org, period, name),
        )


class PostgresStore:
    """Counters, events and holds in PostgreSQL; one connection per thread.

    ``dsn`` is a libpq connection string or URI. Opening applies any pending
    migration (see the module docs), unless ``migrate`` is false; ``organization``
    names its rows, and :meth:`for_organization` opens another organization's on
    the same connections.

    >>> [(version, description.split(":")[0]) for version, description, _ in MIGRATIONS]
    [(1, 'organization lock, counters, events, holds, statistics'), (2, 'many organizations')]
    """

    def __init__(
        self,
        dsn: str,
        currency: str = "USD",
        *,
        organization: str = "default",
        migrate: bool = True,
    ) -> None:
        self.dsn = dsn
        self.currency = currency
        self.organization = organization
        self._connections = Connections(self._connect, lambda connection: not connection.closed)
        try:
            self.schema_version = self._migrate(self._connection(), apply=migrate)
            self._register()
        except BaseException:
            self.close()
            raise

    def for_organization(self, organization: str, currency: str = "USD") -> PostgresStore:
        """The store of another organization in the same database, on the same connections."""
        other = object.__new__(PostgresStore)
        other.__dict__.update(self.__dict__)
        other.organization = organization
        other.currency = currency
        other._register()
        return other

    def _register(self) -> None:
        """Create the organization's row, the lock its operations take first."""
        self._connection().execute(
            "INSERT INTO usagebill_organizations VALUES (%s) ON CONFLICT DO NOTHING",
            (self.organization,),
        )

    # --- connections ----------------------------------------------------------------------

    def _connection(self) -> _Connection:
        """This thread's connection (see :mod:`usagebill.ledger._connections`: fork-safe)."""
        return self._connections.get()

    def _connect(self) -> _Connection:
        connection = psycopg.connect(self.dsn, autocommit=True)
        # Each statement must see what the previous lock holder committed.
        connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        return connection

    def _migrate(self, connection: _Connection, *, apply: bool) -> int:
        """Apply the pending migrations (or only check, unless ``apply``); the version found."""
        found = _version(connection)
        if found < SCHEMA_VERSION and apply:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS usagebill_schema ("
                    " version integer PRIMARY KEY,"
                    " description text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                found = _version(connection)  # another opener may have migrated meanwhile
                # What migration 2 files the rows of a one-organization database under.
                connection.execute(
                    "SELECT set_config('usagebill.organization', %s, true)", (self.organization,)
                )
                for version, description, statements in MIGRATIONS:
                    if version > found:
                        for statement in statements:
                            connection.execute(statement)
                        connection.execute(
                            "INSERT INTO usagebill_schema (version, description) VALUES (%s, %s)",
                            (version, description),
                        )
                        found = version
        if found > SCHEMA_VERSION:
            raise InvalidValueError(
                "schema_version", found, f"is newer than {SCHEMA_VERSION}: upgrade usagebill"
            )
        if found < SCHEMA_VERSION:
            raise InvalidValueError(
                "schema_version",
                found,
                f"is older than {SCHEMA_VERSION}: open a PostgresStore with migrate=True once",
            )
        return found

    # --- the Store protocol ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        """One transaction holding the organization lock; committed, or rolled back on error.

        It runs in pipeline mode: a statement is sent at once, but the client waits for
        results only when it reads some. So ``BEGIN``, the lock and the first read share a
        round trip to the server, and so do the writes and ``COMMIT``: four round trips for a
        charge instead of eight, and the lock is held for fewer of them.
        """
        connection = self._connection()
        try:
            with connection.pipeline():
                connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                gate = connection.execute(
                    "SELECT organization FROM usagebill_organizations"
                    " WHERE organization = %s FOR UPDATE",
                    (self.organization,),
                )
                yield _PostgresTransaction(connection, self.organization, self.currency)
                _check_locked(gate)  # before COMMIT: without the lock, nothing commits
                connection.execute("COMMIT")
            # Leaving the pipeline waits for every result: an error in any write raises here.
        except BaseException:
            if not connection.closed and connection.info.transaction_status != _IDLE:
                connection.execute("ROLLBACK")
            raise

    def spend(self, period: str, currency: str) -> Spend:
        """Every counter of ``period``, read in one snapshot (no lock)."""
        rows = (
            self._connection()
            .execute(
                "SELECT level, key, committed, held FROM usagebill_counters"
                " WHERE organization = %s AND period = %s",
                (self.organization, period),
            )
            .fetchall()
        )
        return spend_of(rows, currency)

    def stats(self, period: str) -> dict[str, int]:
        """The statistics of ``period``."""
        rows = (
            self._connection()
            .execute(
                "SELECT name, count FROM usagebill_stats WHERE organization = %s AND period = %s",
                (self.organization, period),
            )
            .fetchall()
        )
        return {name: int(count) for name, count in rows}

    def recorded(self, period: str | None = None) -> Iterator[Recorded]:
        """The billed events of ``period`` (every period: ``None``), in the order recorded."""
        connection = psycopg.connect(self.dsn)  # a server-side cursor needs a transaction
        try:
            with connection.cursor(name="usagebill_recorded") as cursor:
                if period is None:
                    cursor.execute(
                        f"SELECT {_EVENT_COLUMNS} FROM usagebill_events"  # noqa: S608
                        " WHERE organization = %s AND billed ORDER BY seq",
                        (self.organization,),
                    )
                else:
                    cursor.execute(
                        f"SELECT {_EVENT_COLUMNS} FROM usagebill_events"  # noqa: S608
                        " WHERE organization = %s AND period = %s AND billed ORDER BY seq",
                        (self.organization, period),
                    )
                while rows := cursor.fetchmany(10_000):
                    for row in rows:
                        yield record_of_row(row, self.currency)
        finally:
            connection.close()

    def usage_rows(
        self, period: str, unbilled: tuple[bool, ...], *, from_events: bool = False
    ) -> list[tuple[Any, ...]]:
        """The billed events of ``period`` summed per usage-cube bucket, by PostgreSQL.

        From the usage table the operations keep up to date; ``from_events`` sums the
        events themselves instead (a GROUP BY of the month).
        """
        query = (
            usage_query("%s", "usagebill_events", events=True)
            if from_events
            else usage_query("%s", "usagebill_usage", events=False)
        )
        rows = (
            self._connection()
            .execute(query, (*map(int, unbilled), self.organization, period))
            .fetchall()
        )
        return [(*row[:8], *(int(count) for count in row[8:])) for row in rows]

    def close(self) -> None:
        """Close every connection this store opened in this process."""
        self._connections.close()

    # --- one round trip ---------------------------------------------------------------------

    def call(self, function: str, now: datetime, arguments: tuple[Any, ...]) -> Any:  # noqa: ANN401
        """A one-round-trip function (its own transaction): its answer, None for "not plain"."""
        placeholders = ", ".join(["%s"] * (len(arguments) + 2))
        row = (
            self._connection()
            .execute(
                f"SELECT {function}({placeholders})",
                (self.organization, now, *arguments),
                prepare=True,
            )
            .fetchone()
        )
        return None if row is None else row[0]

    # --- administration -------------------------------------------------------------------

    def reset(self) -> None:
        """Delete the organization's counters, events, holds and statistics (for tests)."""
        connection = self._connection()
        with connection.transaction():
            for table in (
                "usagebill_counters",
                "usagebill_events",
                "usagebill_usage",
                "usagebill_legacy_events",
                "usagebill_holds",
                "usagebill_stats",
            ):
                connection.execute(
                    f"DELETE FROM {table} WHERE organization = %s",  # noqa: S608  (fixed names)
                    (self.organization,),
                )


def _caps(path: MemberPath) -> list[Decimal | None]:
    """The caps on ``path`` (member, seat type, organization) as the functions take them."""
    return [
        None if cap is None else cap.amount
        for cap in (path.member_cap, path.seat_type_cap, path.organization_cap)
    ]


def _check_locked(gate: psycopg.Cursor[TupleRow]) -> None:
    """Raise unless the organization lock's statement found (so locked) its row."""
    if gate.fetchone() is None:
        raise InvalidValueError(
            "usagebill_organizations", "no row", "must have the organization's row"
        )


def _version(connection: _Connection) -> int:
    """The highest migration applied; 0 for a database without usagebill's tables."""
    row = connection.execute("SELECT to_regclass('usagebill_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    row = connection.execute("SELECT coalesce(max(version), 0) FROM usagebill_schema").fetchone()
    return 0 if row is None else int(row[0])


class PostgresLedger(Ledger):
    """A ledger in the PostgreSQL database at ``dsn`` (tables created on first use).

    Any number of threads, processes and hosts may use the same database; each
    operation is atomic across all of them (see the module docs). ``dsn`` may be
    a :class:`PostgresStore` of another organization: the ledgers then share its
    connections. Charge, hold and settle take one round trip when they are plain.

    >>> SCHEMA_VERSION                  # what PostgresLedger("postgresql://…", org) opens
    2
    """

    store: PostgresStore

    def __init__(
        self,
        dsn: str | PostgresStore,
        org: Organization,
        prices: PriceTable | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        hold_ttl: timedelta = DEFAULT_HOLD_TTL,
    ) -> None:
        store = (
            dsn.for_organization(org.name, org.currency)
            if isinstance(dsn, PostgresStore)
            else PostgresStore(dsn, org.currency, organization=org.name)
        )
        super().__init__(store, org, prices, clock=clock, hold_ttl=hold_ttl)

    # --- one round trip for the plain cases -------------------------------------------------

    def charge(self, event: UsageEvent) -> ChargeResult:
        """:meth:`Ledger.charge` in one round trip when it is plain (see the module docs)."""
        org = self.org
        rated = self._rate(event)
        amount = rated.amount
        period = self._period(event.at)[3]
        path = self._path_at(event.user_id, event.at)
        if event.product in path.includes:
            before = self.store.call(
                "usagebill_charge",
                self.clock(),
                (_caps(path), *self._event_arguments(event, path, rated, period, org)),
            )
            if before is not None:
                decision = decide(path, UsedOnPath(*before), amount, product=event.product)
                return ChargeResult(event.event_id, amount, decision, period)
        return super().charge(event)

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
        """:meth:`Ledger.hold` in one round trip when it is plain (see the module docs)."""
        period = self._period(at)[3]
        path = self._path_at(user_id, at)
        now = self.clock()
        if (
            product in path.includes
            and type(amount) is Money
            and amount.currency == path.currency
            and amount.amount >= 0
        ):
            hold = Hold(
                request_id, user_id, path.seat_type, period, amount, product,
                now + (ttl or self.hold_ttl),
            )  # fmt: skip
            before = self.store.call(
                "usagebill_hold",
                now,
                (
                    _caps(path), request_id, user_id, path.seat_type, period, amount.amount,
                    dump_json(hold), hold.expires_at,
                ),
            )  # fmt: skip
            if before is not None:
                decision = decide(path, UsedOnPath(*before), amount, product=product)
                return HoldResult(request_id, decision, hold)
        return super().hold(request_id, user_id, amount, at=at, product=product, ttl=ttl)

    def settle(self, request_id: str, event: UsageEvent) -> SettleResult:
        """:meth:`Ledger.settle` in one round trip when it is plain (see the module docs)."""
        org = self.org
        rated = self._rate(event)
        amount = rated.amount
        period = self._period(event.at)[3]
        path = self._path_at(event.user_id, event.at)
        held = self.store.call(
            "usagebill_settle",
            self.clock(),
            (request_id, *self._event_arguments(event, path, rated, period, org)),
        )
        if held is None:
            return super().settle(request_id, event)
        hold = unchecked_money(held, amount.currency)
        overrun = amount - hold if amount > hold else None
        return SettleResult(request_id, event.event_id, amount, hold, overrun, period)

    def _event_arguments(
        self, event: UsageEvent, path: MemberPath, rated: Rating, period: str, org: Organization
    ) -> tuple[Any, ...]:
        """The event's columns and the path's notification marks, as the functions take them."""
        usage = event.usage
        return (
            event.event_id,
            event.user_id,
            event.model,
            event.product.value,
            event.modifiers.bits | FAILED * event.failed,
            list(usage.counts),
            epoch_us(event.at),
            period,
            path.seat_type,
            rated.model_id,
            rated.price_version,
            rated.in_tier,
            rated.amount.amount,
            *(list(level) for level in self._marks_of(org, path)),
        )

    def reset(self) -> None:
        """Delete every counter, event, hold and statistic of the store (for tests)."""
        self.store.reset()
        self.expired_holds.clear()
