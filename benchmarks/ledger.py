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

Goals: SQLite >= 5,000 charges/s with one writer; PostgreSQL grows with writers until the
cores are busy.
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


def work(ledger: Ledger, kind: str, writer: int, count: int, prefix: str) -> None:
    batch = events(writer, count, prefix)
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
    barrier.wait()
    start = time.monotonic()
    work(ledger, kind, writer, count, batch_prefix)
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
            barrier.wait()
            start = time.monotonic()
            work(setup, kind, writer, count, f"{kind}-{writers}")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--charges", type=int, default=20_000, help="per measurement")
    parser.add_argument("--pairs", type=int, default=10_000, help="per measurement")
    parser.add_argument("--dsn", default=os.environ.get(DSN_VARIABLE))
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
                    figures.append(measure(store, target, kind, writers, total))
                results[store, writers] = figures[0]
                print(f"{store:<10}{writers:>8}{figures[0]:>12,.0f}{figures[1]:>10,.0f}")

    print()
    sqlite_one = results.get(("sqlite", 1))
    if sqlite_one is not None:
        verdict = "met" if sqlite_one >= 5_000 else "NOT met"
        print(f"goal SQLite >= 5,000 charges/s with one writer: {sqlite_one:,.0f}/s, {verdict}")
    postgres = [(w, results["postgres", w]) for w in writer_counts if ("postgres", w) in results]
    if postgres:
        steps = ", ".join(f"{w}: {rate:,.0f}/s" for w, rate in postgres)
        print(f"PostgreSQL by writers ({os.cpu_count()} cores): {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
