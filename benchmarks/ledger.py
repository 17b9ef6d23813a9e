"""Ledger throughput: charges per second, and hold + settle pairs per second, per store and writers.

    python benchmarks/ledger.py                       # memory and SQLite; PostgreSQL if the
                                                      # USAGEBILL_TEST_POSTGRES_DSN variable is set
    python benchmarks/ledger.py --dsn postgresql://postgres@127.0.0.1:54329/postgres
    python benchmarks/ledger.py --quick               # fewer operations: a smoke run
    python benchmarks/ledger.py --stores sqlite --writers 1,4 --charges 40000

Writers are threads for the memory store (one process: they share its lock) and processes
(``spawn``) for SQLite and PostgreSQL, each opening its own ledger on the same file or
database. Every writer does the same number of operations; the figure is the total number
of operations divided by the wall time from the moment all writers are ready to the moment
the last one finishes. Each charge is a real usage event (Claude Sonnet 4.6, priced by the
built-in table) for one of 1,000 members, under caps at every level that are set high enough
for every charge to be allowed, so every level is checked and written.

The PostgreSQL database is emptied (``PostgresStore.reset()``) before each measurement: use
a throwaway one.

Each SQL store is also measured against its **floor**, in the same run, with one writer (in
this process, store and floor alternately, the best of ``--repeats`` each): the
bare work of each operation by hand — one transaction that touches the same rows with
hand-written SQL (read the member's three counters, write them back, insert the event row
with the same columns, add it to its usage row; for a pair, the hold row too), no
decision, no pricing, no objects.
For PostgreSQL the floor's statements go in one pipeline: one round trip per transaction,
as a server-side function makes it. The ratio printed is the floor's rate over the store's
(``2.00x``: the store takes twice the floor's time per operation).

Goals: MemoryLedger.charge >= 50,000/s on one thread; SQLite and PostgreSQL within 2x their
floor; PostgreSQL grows with writers until the cores are busy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    Member,
    Money,
    Organization,
    PoolLimit,
    Product,
    SeatCatalog,
    SpendLimits,
    TokenUsage,
    UsageEvent,
)
from usagebill.ledger import Ledger, MemoryLedger, SqliteLedger

AT = datetime(2026, 10, 15, 12, tzinfo=UTC)
MODEL = "claude-sonnet-4-6"
MEMBERS = 1_000
DSN_VARIABLE = "USAGEBILL_TEST_POSTGRES_DSN"


def organization() -> Organization:
    people = [Member("owner", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    people += [
        Member(f"u{i}", "member", CHAT if i % 2 else CHAT_AND_CLAUDE_CODE)
        for i in range(1, MEMBERS)
    ]
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money(10_000_000), member_default=Money(100_000)),
        seat_types={
            CHAT: PoolLimit(pool_cap=Money(5_000_000)),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=Money(5_000_000)),
        },
        members={f"u{i}": Money(200_000) for i in range(1, MEMBERS, 3)},
    )
    return Organization.create(
        "bench",
        SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
        people,
        at=datetime(2026, 10, 1, tzinfo=UTC),
        limits=limits,
    )


def open_ledger(store: str, org: Organization, target: str) -> Ledger:
    if store == "memory":
        return MemoryLedger(org)
    if store == "sqlite":
        return SqliteLedger(target, org)
    from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

    return PostgresLedger(target, org)


def events(writer: int, count: int, prefix: str) -> list[UsageEvent]:
    rng = random.Random(writer)
    return [
        UsageEvent(
            f"{prefix}-{writer}-{i}",
            f"u{rng.randrange(1, MEMBERS)}",
            MODEL,
            Product.CHAT,
            TokenUsage(
                input_tokens=rng.randint(100, 50_000),
                output_tokens=rng.randint(50, 8_000),
                cache_read_tokens=rng.choice((0, rng.randint(1_000, 100_000))),
            ),
            AT,
        )
        for i in range(count)
    ]


def work(ledger: Ledger, kind: str, writer: int, batch: list[UsageEvent], prefix: str) -> None:
    """Charge every event of ``batch``, or hold and settle each (the events made beforehand)."""
    if kind == "charges":
        for usage in batch:
            ledger.charge(usage)
        return
    for number, usage in enumerate(batch):
        request = f"{prefix}-{writer}-r{number}"
        ledger.hold(request, usage.user_id, Money("5"), at=AT)
        ledger.settle(request, usage)


def process_writer(
    store: str, target: str, *, kind: str, writer: int, count: int, barrier: Any, queue: Any
) -> None:
    ledger = open_ledger(store, organization(), target)
    batch_prefix = f"{kind}-{count}"
    batch = events(writer, count, batch_prefix)
    barrier.wait()
    start = time.monotonic()
    work(ledger, kind, writer, batch, batch_prefix)
    queue.put((start, time.monotonic()))
    ledger.close()


def measure(store: str, target: str, kind: str, writers: int, total: int) -> float:
    """Operations (charges, or hold + settle pairs) per second with ``writers`` writers."""
    org = organization()
    setup = open_ledger(store, org, target)
    if store == "postgres":
        setup.store.reset()  # type: ignore[attr-defined]
    count = max(1, total // writers)
    if store == "memory":
        barrier = threading.Barrier(writers + 1)
        times: list[tuple[float, float]] = []

        def run(writer: int) -> None:
            batch = events(writer, count, f"{kind}-{writers}")
            barrier.wait()
            start = time.monotonic()
            work(setup, kind, writer, batch, f"{kind}-{writers}")
            times.append((start, time.monotonic()))

        threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        for thread in threads:
            thread.join()
    else:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(writers + 1)
        queue = context.Queue()
        children = [
            context.Process(
                target=process_writer,
                args=(store, target),
                kwargs={
                    "kind": kind,
                    "writer": writer,
                    "count": count,
                    "barrier": barrier,
                    "queue": queue,
                },
            )
            for writer in range(writers)
        ]
        for child in children:
            child.start()
        barrier.wait()
        times = [queue.get() for _ in children]
        for child in children:
            child.join()
            if child.exitcode != 0:
                msg = f"a {store} writer failed (exit code {child.exitcode})"
                raise RuntimeError(msg)
    elapsed = max(end for _, end in times) - min(start for start, _ in times)
    setup.close()
    return count * writers / elapsed


# --- the floors: the same rows, by hand ------------------------------------------------------


def in_process(store: str, target: str, kind: str, count: int, run: int) -> float:
    """Operations per second of one writer in this process (what the floor is set against)."""
    ledger = open_ledger(store, organization(), target)
    if store == "postgres":
        ledger.store.reset()  # type: ignore[attr-defined]
    prefix = f"versus-{kind}-{run}"
    batch = events(0, count, prefix)
    start = time.perf_counter()
    work(ledger, kind, 0, batch, prefix)
    elapsed = time.perf_counter() - start
    ledger.close()
    return count / elapsed


_EVENT_COLUMNS = (
    "organization, event_id, request_id, user_id, model, product, flags, input_tokens,"
    " output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens,"
    " web_search_requests, at_us, period, seat_type, model_id, price_version, in_tier, amount,"
    " billed, figure, outcome"
)


def _event_row(usage: UsageEvent, seat: str, amount: str, request: str | None) -> tuple:
    u = usage.usage
    return (
        "bench", usage.event_id, request, usage.user_id, usage.model, "chat", 0,
        u.input_tokens, u.output_tokens, 0, 0, u.cache_read_tokens, 0, 1_792_000_000_000_000,
        "2026-10", seat, MODEL, 0, False, amount, True, "100", None,
    )  # fmt: skip


def _usage_row(usage: UsageEvent, seat: str) -> tuple:
    u = usage.usage
    return (
        "bench", "2026-10", usage.user_id, seat, MODEL, "chat", 0, False, 0, 1,
        u.input_tokens, u.output_tokens, 0, 0, u.cache_read_tokens, 0,
    )  # fmt: skip


def _seat(user_id: str) -> str:
    return CHAT if int(user_id[1:]) % 2 else CHAT_AND_CLAUDE_CODE


def sqlite_floor(path: str, kind: str, count: int) -> float:
    """Charges (or hold + settle pairs) per second by hand-written SQL on SQLite."""
    import sqlite3  # noqa: PLC0415

    from usagebill.ledger.sqlite import SqliteStore, usage_upsert  # noqa: PLC0415

    SqliteStore(path, organization="bench").close()  # the ledger's own tables
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    read = " UNION ALL ".join(  # three primary-key look-ups (an OR would scan the period)
        "SELECT level, committed, held FROM counters WHERE organization = 'bench'"  # noqa: S608  (fixed text)
        f" AND period = '2026-10' AND level = '{level}' AND key = {key}"
        for level, key in (("user", "?1"), ("seat", "?2"), ("org", "''"))
    )
    put = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 23)})"  # noqa: S608
    write = "INSERT OR REPLACE INTO counters VALUES ('bench', '2026-10', ?, ?, ?, ?)"
    add_usage = usage_upsert("?", "usage")
    batch = events(0, count, f"floor-{kind}")
    start = time.perf_counter()
    for number, usage in enumerate(batch):
        user, seat = usage.user_id, _seat(usage.user_id)
        if kind == "pairs":
            request = f"floor-r{number}"
            db.execute("BEGIN IMMEDIATE")
            db.execute(read, (user, seat)).fetchall()
            db.executemany(write, [("user", user, "0", "5"), ("seat", seat, "0", "5"),
                                   ("org", "", "0", "5")])  # fmt: skip
            db.execute(
                "INSERT INTO holds VALUES ('bench', ?, ?, ?, '2026-10', '5', 'chat', ?)",
                (request, user, seat, 2_000_000_000_000_000),
            )
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            db.execute("SELECT request_id, user_id, seat_type, period, amount, product,"
                       " expires_us FROM holds WHERE organization = 'bench' AND request_id = ?",
                       (request,)).fetchone()  # fmt: skip
            db.execute(read, (user, seat)).fetchall()
            db.executemany(write, [("user", user, "1", "0"), ("seat", seat, "1", "0"),
                                   ("org", "", "1", "0")])  # fmt: skip
            db.execute("DELETE FROM holds WHERE organization = 'bench' AND request_id = ?",
                       (request,))  # fmt: skip
            db.execute(put, _event_row(usage, seat, "1", request))
            db.execute(add_usage, _usage_row(usage, seat))
            db.execute("COMMIT")
        else:
            db.execute("BEGIN IMMEDIATE")
            db.execute(read, (user, seat)).fetchall()
            db.executemany(write, [("user", user, "1", "0"), ("seat", seat, "1", "0"),
                                   ("org", "", "1", "0")])  # fmt: skip
            db.execute(put, _event_row(usage, seat, "1", None))
            db.execute(add_usage, _usage_row(usage, seat))
            db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


def postgres_floor(dsn: str, kind: str, count: int) -> float:
    """Charges (or pairs) per second by hand-written SQL, one pipeline per transaction."""
    import psycopg  # noqa: PLC0415

    from usagebill.ledger.postgres import PostgresStore  # noqa: PLC0415
    from usagebill.ledger.sqlite import usage_upsert  # noqa: PLC0415

    store = PostgresStore(dsn, organization="bench")
    store.reset()
    store.close()
    db = psycopg.connect(dsn, autocommit=True)
    lock = "SELECT 1 FROM usagebill_organizations WHERE organization = 'bench' FOR UPDATE"
    read = (
        "SELECT level, committed, held FROM usagebill_counters WHERE organization = 'bench'"
        " AND period = '2026-10' AND ((level = 'user' AND key = %s)"
        " OR (level = 'seat' AND key = %s) OR (level = 'org' AND key = ''))"
    )
    write = (
        "INSERT INTO usagebill_counters AS c (organization, period, level, key, committed, held)"
        " VALUES ('bench', '2026-10', 'org', '', %s, %s),"
        " ('bench', '2026-10', 'seat', %s, %s, %s), ('bench', '2026-10', 'user', %s, %s, %s)"
        " ON CONFLICT (organization, period, level, key) DO UPDATE"
        " SET committed = c.committed + excluded.committed, held = c.held + excluded.held"
    )
    put = f"INSERT INTO usagebill_events ({_EVENT_COLUMNS}) VALUES ({', '.join(['%s'] * 23)})"  # noqa: S608
    add_usage = usage_upsert("%s", "usagebill_usage")
    batch = events(0, count, f"floor-{kind}")
    start = time.perf_counter()
    for number, usage in enumerate(batch):
        user, seat = usage.user_id, _seat(usage.user_id)
        if kind == "pairs":
            request = f"floor-r{number}"
            with db.pipeline():
                db.execute("BEGIN")
                db.execute(lock)
                db.execute(read, (user, seat))
                db.execute(write, (0, 5, seat, 0, 5, user, 0, 5))
                db.execute(
                    "INSERT INTO usagebill_holds (organization, request_id, body, expires_at,"
                    " user_id, seat_type, period, amount)"
                    " VALUES ('bench', %s, '{}', now() + interval '1 hour', %s, %s, '2026-10', 5)",
                    (request, user, seat),
                )
                db.execute("COMMIT")
            with db.pipeline():
                db.execute("BEGIN")
                db.execute(lock)
                db.execute(
                    "DELETE FROM usagebill_holds WHERE organization = 'bench'"
                    " AND request_id = %s RETURNING body",
                    (request,),
                )
                db.execute(read, (user, seat))
                db.execute(write, (1, -5, seat, 1, -5, user, 1, -5))
                db.execute(put, _event_row(usage, seat, "1", request))
                db.execute(add_usage, _usage_row(usage, seat))
                db.execute("COMMIT")
        else:
            with db.pipeline():
                db.execute("BEGIN")
                db.execute(lock)
                db.execute(read, (user, seat))
                db.execute(write, (1, 0, seat, 1, 0, user, 1, 0))
                db.execute(put, _event_row(usage, seat, "1", None))
                db.execute(add_usage, _usage_row(usage, seat))
                db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


def main() -> int:  # noqa: C901, PLR0912, PLR0915  (a script: options, runs, the summary)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--charges", type=int, default=20_000, help="per measurement")
    parser.add_argument("--pairs", type=int, default=10_000, help="per measurement")
    parser.add_argument("--dsn", default=os.environ.get(DSN_VARIABLE))
    parser.add_argument("--repeats", type=int, default=3, help="memory: the best of these runs")
    parser.add_argument("--quick", action="store_true", help="a tenth of the operations")
    args = parser.parse_args()
    if args.quick:
        args.charges, args.pairs = args.charges // 10, args.pairs // 10
    writer_counts = [int(n) for n in args.writers.split(",")]
    stores = []
    for store in args.stores.split(","):
        if store == "postgres" and not args.dsn:
            print(f"postgres: skipped (no --dsn and no {DSN_VARIABLE})")
            continue
        stores.append(store)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{args.charges:,} charges and {args.pairs:,} hold + settle pairs per measurement\n")
    print(f"{'store':<10}{'writers':>8}{'charges/s':>12}{'pairs/s':>10}")
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="usagebill-bench-") as directory:
        for store in stores:
            for writers in writer_counts:
                figures = []
                for kind, total in (("charges", args.charges), ("pairs", args.pairs)):
                    target = (
                        args.dsn
                        if store == "postgres"
                        else str(Path(directory) / f"{store}-{kind}-{writers}.db")
                    )
                    runs = args.repeats if store == "memory" else 1  # noise: best of a few
                    figures.append(
                        max(measure(store, target, kind, writers, total) for _ in range(runs))
                    )
                results[store, writers] = figures[0]
                print(f"{store:<10}{writers:>8}{figures[0]:>12,.0f}{figures[1]:>10,.0f}")

        # Store and floor alternately, in this process, the best of --repeats each: a busy
        # machine slows whatever runs at that moment, and both see the same moments.
        versus: dict[tuple[str, str], tuple[float, float]] = {}
        for store in stores:
            if store == "memory":
                continue
            for kind, total in (("charges", args.charges), ("pairs", args.pairs)):
                best_store = best_floor = 0.0
                for run in range(args.repeats):
                    target = args.dsn or ""
                    if store == "sqlite":
                        target = str(Path(directory) / f"versus-{kind}-{run}.db")
                    best_store = max(best_store, in_process(store, target, kind, total, run))
                    if store == "sqlite":
                        target = str(Path(directory) / f"floor-{kind}-{run}.db")
                        best_floor = max(best_floor, sqlite_floor(target, kind, total))
                    else:
                        best_floor = max(best_floor, postgres_floor(target, kind, total))
                versus[store, kind] = (best_store, best_floor)

    print()
    memory_one = results.get(("memory", 1))
    if memory_one is not None:
        verdict = "met" if memory_one >= 50_000 else "NOT met"
        print(f"goal MemoryLedger.charge >= 50,000/s on one thread: {memory_one:,.0f}/s, {verdict}")
    for (store, kind), (rate, floor) in versus.items():
        ratio = floor / rate
        verdict = "met" if ratio <= 2 else "NOT met"
        print(
            f"{store} {kind}, 1 writer: {rate:,.0f}/s vs floor {floor:,.0f}/s:"
            f" {ratio:.2f}x (goal <= 2x, {verdict})"
        )
    postgres = [(w, results["postgres", w]) for w in writer_counts if ("postgres", w) in results]
    if postgres:
        steps = ", ".join(f"{w}: {rate:,.0f}/s" for w, rate in postgres)
        print(f"PostgreSQL by writers ({os.cpu_count()} cores): {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
