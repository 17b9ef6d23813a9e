"""The DuckDB engine: a month of events to a usage cube, inside DuckDB, out of core.

``pip install usagebill[duckdb]``. For months larger than a process holds as
Python objects, and for events that sit in files: JSON Lines (plain or gzip),
Parquet and CSV, one file, a glob or a list of them, or a pandas, Polars or
Arrow table handed in by a notebook. Everything the pure engine does happens
in SQL: deduplication by event id with conflicts set aside, period
membership, the seat held at each event's instant and the price version
(as-of joins on :mod:`~usagebill.billing.dimensions`), the context tier and
the modifiers offered. Only the cube's buckets come back to Python.

How duplicates are found cheaply: one GROUP BY over a 64-bit hash of the
event id (an integer key, no payload) finds the few ids seen more than once;
only their rows are looked at again, by id, to tell repeats from conflicts
(two contents whose 64-bit hashes differ). Every other row is billed as read.

``memory_limit`` (e.g. ``"1GB"``) bounds DuckDB's memory; past it, DuckDB
spills to ``temp_directory`` (a fresh temporary directory by default).

File formats (the format comes from the suffix: ``.jsonl``, ``.ndjson``,
``.jsonl.gz``, ``.parquet``, ``.csv``):

* JSON Lines: the event form of :mod:`usagebill.events`. DuckDB reads it by
  column: unknown keys are ignored, and a number written as a string is read
  as that number (the pure engine refuses both); a fractional or negative
  count, a missing field, an unknown product or an instant without a UTC
  offset is refused.
* Parquet, CSV and tables: one row per event, columns ``event_id``,
  ``user_id``, ``model``, ``product``, ``at`` (an aware timestamp, or ISO 8601
  text with an offset), the six counts of :data:`~usagebill.billing.dimensions.TOKEN_COLUMNS`
  (absent or empty: 0) and the booleans ``batch``, ``us_only``, ``fast``,
  ``failed`` (absent or empty: false).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import duckdb

from usagebill.accounts.organization import Organization
from usagebill.billing.cube import UsageCube
from usagebill.billing.dimensions import (
    EVENT_COLUMNS,
    MODIFIER_COLUMNS,
    PRODUCTS,
    TOKEN_COLUMNS,
    EventGroup,
    billed_columns,
    cube_from_groups,
    epoch_us,
    instant,
    price_changes,
    seat_spans,
    source_format,
    tier_models,
    unreadable_source,
)
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.billing.invoice import Invoice, price_cube
from usagebill.errors import InvalidValueError, LoadError
from usagebill.events import FAILED, UsageEvent
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = ["Source", "cube", "invoice", "period_bounds"]

Source = str | Path | Sequence[str | Path] | Any
"""Paths or globs (one, or a list of one format), or a pandas, Polars or Arrow table."""

_TABLE_MODULES: Final = ("pandas", "polars", "pyarrow")
_JSON_COLUMNS: Final = (
    "{event_id: 'VARCHAR', user_id: 'VARCHAR', model: 'VARCHAR', product: 'VARCHAR', "
    "\"at\": 'VARCHAR', usage: 'STRUCT("
    + ", ".join(f"{name} DOUBLE" for name in TOKEN_COLUMNS)
    + ")', modifiers: 'STRUCT("
    + ", ".join(f"{name} BOOLEAN" for name in MODIFIER_COLUMNS)
    + ")', failed: 'BOOLEAN'}"
)
_INTEGERS: Final = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"}
    | {"UINTEGER", "UBIGINT", "UHUGEINT"}
)


def period_bounds(period: BillingPeriod) -> tuple[int, int]:
    """The period's ``[start, end)`` in epoch microseconds."""
    return epoch_us(period.start), epoch_us(period.end)


def invoice(
    source: Source,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable | None = None,
    **options: Any,  # noqa: ANN401  (the options of cube())
) -> Invoice:
    """The invoice of ``period`` from ``source``: :func:`cube`, then :func:`price_cube`.

    Conflicting ids are a :class:`~usagebill.errors.ConflictError` naming them.
    """
    prices = prices if prices is not None else PriceTable.builtin()
    return price_cube(cube(source, org, period, prices, **options), org, prices)


def cube(
    source: Source,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable | None = None,
    *,
    outside: Outside = "exclude",
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | Path | None = None,
) -> UsageCube:
    """The usage cube of ``period`` from ``source`` (module docs), computed inside DuckDB."""
    prices = prices if prices is not None else PriceTable.builtin()
    if outside not in ("exclude", "reject"):
        raise InvalidValueError("outside", outside, "must be 'exclude' or 'reject'")
    CubeBuilder(org, period, prices)  # the same checks of the arguments as the pure engine
    with _connection(memory_limit, threads, temp_directory) as con:
        try:
            _load_events(con, source)
            return _aggregate(con, org, period, prices, reject_outside=outside == "reject")
        except (duckdb.InvalidInputException, duckdb.ConversionException) as error:
            raise unreadable_source(_paths(source), error) from None


@contextmanager
def _connection(
    memory_limit: str | None, threads: int | None, temp_directory: str | Path | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="usagebill-duckdb-") as scratch:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")  # never on the invoice's stdout
            con.execute("SET preserve_insertion_order = false")  # lets big scans spill
            con.execute("SET temp_directory = ?", [str(temp_directory or scratch)])
            if memory_limit is not None:
                con.execute("SET memory_limit = ?", [memory_limit])
            if threads is not None:
                con.execute("SET threads = ?", [threads])
            yield con
        finally:
            con.close()


# --- reading ------------------------------------------------------------------------------------


def _paths(source: Source) -> list[str] | None:
    if isinstance(source, (str, Path)):
        return [str(source)]
    if isinstance(source, Sequence) and source and all(isinstance(s, (str, Path)) for s in source):
        return [str(s) for s in source]
    return None


def _load_events(con: duckdb.DuckDBPyConnection, source: Any) -> None:  # noqa: ANN401
    """Make the view ``raw``: the source's events, as read; then the table ``ev``: checked."""
    paths = _paths(source)
    if paths is not None:
        formats = {source_format(path) for path in paths}
        if len(formats) > 1:
            raise InvalidValueError("events", paths, "must all be of one format")
        (fmt,) = formats
        listed = "[" + ", ".join(_quote(path) for path in paths) + "]"
        try:
            if fmt == "json":
                con.execute(
                    f"CREATE VIEW raw AS SELECT * FROM read_json({listed}, "  # noqa: S608
                    f"format = 'newline_delimited', columns = {_JSON_COLUMNS})"
                )
            elif fmt == "parquet":
                con.execute(
                    f"CREATE VIEW raw AS SELECT * FROM read_parquet({listed}, union_by_name = true)"  # noqa: S608
                )
            else:
                con.execute(
                    f"CREATE VIEW raw AS SELECT * FROM read_csv({listed}, header = true, "  # noqa: S608
                    "all_varchar = true, union_by_name = true)"
                )
            _make_events(con, fmt, _columns(con))
        except duckdb.IOException as error:
            raise LoadError(", ".join(paths), [("events", str(error))]) from None
        return
    module = type(source).__module__.split(".")[0]
    if module not in _TABLE_MODULES:
        raise InvalidValueError(
            "events",
            type(source).__name__,
            "must be paths or globs, or a pandas, Polars or Arrow table",
        )
    table: Any = source.to_arrow() if module == "polars" else source
    con.register("source_table", table)
    con.execute("CREATE VIEW raw AS SELECT * FROM source_table")
    _make_events(con, "table", _columns(con))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute("DESCRIBE raw").fetchall()}


def _make_events(con: duckdb.DuckDBPyConnection, fmt: str, columns: dict[str, str]) -> None:
    """Create ``ev``: one checked row per event read, with the hash of its id and content."""
    if fmt == "json":
        counts = [f"raw.usage.{name}" for name in TOKEN_COLUMNS]
        flags = [f"coalesce(raw.modifiers.{name}, false)" for name in MODIFIER_COLUMNS]
        failed = "coalesce(raw.failed, false)"
        stamp_kind = "VARCHAR"
    else:
        missing = [name for name in EVENT_COLUMNS if name not in columns]
        if missing:
            raise LoadError("events", [(name, "this column is missing") for name in missing])
        counts = [f'raw."{name}"' if name in columns else "NULL" for name in TOKEN_COLUMNS]
        flags = [_flag(name, columns.get(name)) for name in MODIFIER_COLUMNS]
        failed = _flag("failed", columns.get("failed"))
        stamp_kind = columns["at"]
    if stamp_kind.startswith("TIMESTAMP WITH TIME ZONE"):
        at_us, stamp_problem = 'epoch_us(raw."at")', 'raw."at" IS NULL'
    elif stamp_kind == "VARCHAR":
        at_us = 'epoch_us(TRY_CAST(raw."at" AS TIMESTAMPTZ))'
        # After the date, a sign can only start the UTC offset (or it ends in Z).
        time_part = 'substr(raw."at", 11)'
        stamp_problem = (
            f"NOT (contains({time_part}, '+') OR contains({time_part}, '-') "
            f"OR suffix(upper(raw.\"at\"), 'Z')) OR {at_us} IS NULL"
        )
    else:
        raise LoadError(
            "events",
            [("at", f"must be a timestamp with time zone or ISO 8601 text (got {stamp_kind})")],
        )
    numbers = [
        _count(expression, columns, name, fmt)
        for expression, name in zip(counts, TOKEN_COLUMNS, strict=True)
    ]
    problems = [
        ("event_id", "raw.event_id IS NULL OR raw.event_id = ''"),
        ("user_id", "raw.user_id IS NULL OR raw.user_id = ''"),
        ("model", "raw.model IS NULL OR raw.model = ''"),
        (
            "product",
            f"raw.product IS NULL OR raw.product NOT IN ({', '.join(map(_quote, PRODUCTS))})",
        ),
        ("at", f'raw."at" IS NULL OR {stamp_problem}'),
        *(
            (f"usage.{name}", problem)
            for name, (_, problem) in zip(TOKEN_COLUMNS, numbers, strict=True)
        ),
        *(
            (f"modifiers.{name}", f"{flag} IS NULL")
            for name, flag in zip(MODIFIER_COLUMNS, flags, strict=True)
        ),
        ("failed", f"{failed} IS NULL"),
    ]
    bits = (
        f"({flags[0]})::UTINYINT + 2 * ({flags[1]})::UTINYINT + 4 * ({flags[2]})::UTINYINT"
        f" + {FAILED} * ({failed})::UTINYINT"
    )
    values = ", ".join(f"{value} AS c{position}" for position, (value, _) in enumerate(numbers))
    bad = " OR ".join(f"coalesce({test}, false)" for _, test in problems)
    problem = "CASE " + " ".join(f"WHEN {test} THEN '{name}'" for name, test in problems) + " END"
    con.execute(
        f"""
        CREATE VIEW ev_read AS
        SELECT *, hash(event_id) AS h
        FROM (
            SELECT raw.event_id, raw.user_id, raw.model, raw.product,
                   {at_us} AS at_us, {values}, {bits} AS bits, {bad} AS bad
            FROM raw
        )
        """  # noqa: S608  (column names and literals of this module, not user input)
    )
    con.execute(f"CREATE VIEW problems AS SELECT event_id, {problem} AS problem FROM raw")  # noqa: S608
    if fmt in ("json", "csv"):  # parsed once, then read from memory (spilled past the limit)
        con.execute("CREATE TEMP TABLE ev AS SELECT * FROM ev_read")
    else:  # a Parquet file or a table is cheaper to scan again than to copy
        con.execute("CREATE VIEW ev AS SELECT * FROM ev_read")


def _refuse_bad_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Raise for the first event (by id) that does not load."""
    event_id, field = con.execute(
        "SELECT event_id, problem FROM problems WHERE problem IS NOT NULL "
        "ORDER BY event_id NULLS FIRST LIMIT 1"
    ).fetchone() or (None, "event")
    raise InvalidValueError(
        field,
        _raw_value(con, field, event_id),
        f"of event {event_id!r} is not a valid value (see usagebill.events for the format)",
    )


def _count(expression: str, columns: dict[str, str], name: str, fmt: str) -> tuple[str, str]:
    """A count as a BIGINT expression (NULL is 0) and the test that it is not a valid count."""
    kind = "DOUBLE" if fmt == "json" else columns.get(name, "INTEGER")
    if kind in _INTEGERS:
        return f"coalesce({expression}, 0)::BIGINT", f"{expression} < 0"
    if kind == "VARCHAR":
        parsed = f"TRY_CAST(nullif({expression}, '') AS BIGINT)"
        return (
            f"coalesce({parsed}, 0)",
            f"({expression} <> '' AND {parsed} IS NULL) OR {parsed} < 0",
        )
    if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
        return (
            f"coalesce(TRY_CAST({expression} AS BIGINT), 0)",
            f"{expression} < 0 OR {expression} <> trunc({expression})",
        )
    return "0", "true"


def _flag(name: str, kind: str | None) -> str:
    if kind is None:
        return "false"
    if kind == "BOOLEAN":
        return f'coalesce(raw."{name}", false)'
    if kind == "VARCHAR":
        text = f"lower(coalesce(raw.\"{name}\", ''))"
        return (
            f"CASE WHEN {text} IN ('true', '1') THEN true "
            f"WHEN {text} IN ('false', '0', '') THEN false END"
        )
    return "NULL"


def _raw_value(con: duckdb.DuckDBPyConnection, field: str, event_id: str | None) -> object:
    column = field.rsplit(".", maxsplit=1)[-1]
    if field.startswith("usage.") and "usage" in _columns(con):
        column = f"usage.{column}"
    elif field.startswith("modifiers.") and "modifiers" in _columns(con):
        column = f"modifiers.{column}"
    else:
        column = f'"{column}"'
    found = con.execute(
        f"SELECT {column} FROM raw WHERE event_id IS NOT DISTINCT FROM ? LIMIT 1",  # noqa: S608
        [event_id],
    ).fetchone()
    return None if found is None else found[0]


_SINGLES: Final = "(SELECT * FROM ev ANTI JOIN rare USING (h))"
_REPEATED: Final = """(
    SELECT DISTINCT ON (r.event_id) r.* FROM rare_rows r
    SEMI JOIN rare_ids i ON r.event_id = i.event_id AND NOT i.conflict
)"""


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    *,
    reject_outside: bool,
) -> UsageCube:
    # Ids seen more than once, by the hash of the id (an integer key, no payload), and their rows.
    con.execute("CREATE TEMP TABLE rare AS SELECT h FROM ev GROUP BY h HAVING count(*) > 1")
    (repeated,) = con.execute("SELECT count(*) FROM rare").fetchone() or (0,)
    # With no id seen twice (the common case) the events are summed as they are, in one scan.
    rare = "SEMI JOIN rare USING (h)" if repeated else "LIMIT 0"
    con.execute(f"CREATE TEMP TABLE rare_rows AS SELECT * FROM ev {rare}")  # noqa: S608
    con.execute(
        """
        CREATE TEMP TABLE rare_ids AS
        SELECT event_id, count(*) AS n, min(d) <> max(d) AS conflict
        FROM (
            SELECT event_id,
                   hash(user_id, model, product, at_us, c0, c1, c2, c3, c4, c5, bits) AS d
            FROM rare_rows
        ) GROUP BY event_id
        """
    )
    conflicts = [
        row[0] for row in con.execute("SELECT event_id FROM rare_ids WHERE conflict").fetchall()
    ]
    duplicates, conflicting = con.execute(
        "SELECT coalesce(sum(n - 1) FILTER (NOT conflict), 0), "
        "coalesce(sum(n) FILTER (conflict), 0) FROM rare_ids"
    ).fetchone() or (0, 0)
    # Each event counted once: the rows of ids seen once, and one row of each repeated id.
    start, end = period_bounds(period)
    changes = price_changes(period, prices)
    thresholds = tier_models(prices)
    spans = seat_spans(org, period)
    if spans:
        con.execute("CREATE TEMP TABLE spans (user_id VARCHAR, from_us BIGINT, to_us BIGINT)")
        con.execute(
            "INSERT INTO spans SELECT unnest(?), unnest(?), unnest(?)",
            [list(column) for column in zip(*spans, strict=True)],
        )
    rows = []
    for source in (_SINGLES, _REPEATED) if repeated else ("ev",):
        query = _grouped(
            source,
            (start, end),
            changes,
            thresholds,
            billed_columns(org.failure_policy),
            spans=bool(spans),
        )
        rows += con.execute(query).fetchall()
    repeated_bad = con.execute("SELECT bool_or(bad) FROM rare_rows").fetchone()
    if any(row[8] for row in rows) or (repeated_bad is not None and repeated_bad[0]):
        _refuse_bad_rows(con)
    inside = [row for row in rows if row[7] > 0]
    excluded = sum(row[6][0] for row in rows if row[7] <= 0)
    if reject_outside and excluded:
        outside = f"at_us < {start} OR at_us >= {end}"
        first = con.execute(
            f"SELECT min(event_id) FROM (SELECT * FROM {_SINGLES} "  # noqa: S608
            f"UNION ALL SELECT * FROM {_REPEATED}) WHERE {outside}"
        ).fetchone()
        _refuse(con, org, period, prices, "ev", first[0] if first else "", reject_outside=True)

    def first_event(group: EventGroup) -> str:
        found = con.execute(
            "SELECT min(event_id) FROM ev WHERE user_id = ? AND model = ? AND product = ? "
            "AND bits = ? AND at_us = ?",
            [group.user_id, group.model, group.product, group.modifiers, group.at_us],
        ).fetchone()
        return str(found[0]) if found else ""

    groups = (EventGroup._make(row[:7]) for row in inside)
    return cube_from_groups(
        org,
        period,
        prices,
        groups,
        duplicates=int(duplicates),
        excluded=int(excluded),
        conflicts=conflicts,
        conflicting=int(conflicting),
        first_event=first_event,
    )


def _grouped(
    source: str,
    period: tuple[int, int],
    changes: dict[str, list[int]],
    thresholds: dict[int, list[str]],
    billed: tuple[bool, ...],
    *,
    spans: bool,
) -> str:
    """Stage one: the events of ``source`` summed per group (``billing.dimensions``).

    A group is a user, model, product, modifiers, segment, seat span and tier flags.
    """
    start, end = period
    by_model = " ".join(
        f"WHEN {_quote(name)} THEN " + " + ".join(f"(b.at_us >= {at})::INTEGER" for at in times)
        for name, times in changes.items()
    )
    version = f"CASE b.model {by_model} ELSE 0 END" if changes else "0"
    segment = (
        f"CASE WHEN b.at_us < {start} THEN 0 WHEN b.at_us >= {end} THEN -1 ELSE 1 + {version} END"
    )
    # Of a request that failed (flag 8), the counts the failure policy bills.
    c = [
        f"b.c{i}" if kept else f"CASE WHEN b.bits >= {FAILED} THEN 0 ELSE b.c{i} END"
        for i, kept in enumerate(billed)
    ]
    # The comparison first: the names are looked at only for the few long prompts.
    tiers = [
        f"({c[0]} + {c[2]} + {c[3]} + {c[4]} > {threshold} "
        f"AND b.model IN ({', '.join(map(_quote, names))}))"
        for threshold, names in thresholds.items()
    ]
    join = (
        "LEFT JOIN spans s ON b.user_id = s.user_id AND b.at_us >= s.from_us AND b.at_us < s.to_us"
        if spans
        else ""
    )
    seat = "s.from_us" if spans else "NULL::BIGINT"
    # The columns of an EventGroup, in its order, then the segment and whether any row is bad.
    return f"""
        SELECT b.user_id, b.model, b.product, b.bits::INTEGER, min(b.at_us),
               [{", ".join(tiers)}], [count(*), {", ".join(f"sum({count})" for count in c)}],
               {segment} AS segment, b.bad
        FROM {source} b {join}
        GROUP BY b.user_id, b.model, b.product, segment, b.bad, b.bits, {seat}{
        "".join(f", {tier}" for tier in tiers)
    }
    """  # noqa: S608  (numbers and names of this module)


def _refuse(  # noqa: PLR0917  (all needed to rebuild the event and its builder)
    con: duckdb.DuckDBPyConnection,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    table: str,
    event_id: str,
    *,
    reject_outside: bool,
) -> None:
    """Raise the pure engine's own error for an event it would refuse."""
    row = con.execute(
        f"SELECT user_id, model, product, at_us, c0, c1, c2, c3, c4, c5, bits FROM {table} "  # noqa: S608
        "WHERE event_id = ? LIMIT 1",
        [event_id],
    ).fetchone()
    assert row is not None  # noqa: S101  (the id comes from the same table)
    user_id, model, product, at_us, *counts, bits = row
    event = UsageEvent(
        event_id,
        user_id,
        model,
        Product(product),
        TokenUsage(*counts),
        instant(at_us),
        Modifiers.from_bits(bits & ~FAILED),
        failed=bool(bits & FAILED),
    )
    CubeBuilder(org, period, prices, outside="reject" if reject_outside else "exclude").add(event)
    raise AssertionError(f"the pure engine accepts event {event_id!r}")  # pragma: no cover
