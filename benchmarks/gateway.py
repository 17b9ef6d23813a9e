"""A gateway's decisions per second: worker processes racing on one organization, direct vs leases.

    python benchmarks/gateway.py                 # SQLite; PostgreSQL too if
                                                 # USAGEBILL_TEST_POSTGRES_DSN is set
    scripts/with-postgres python benchmarks/gateway.py     # with a throwaway PostgreSQL
    python benchmarks/gateway.py --quick         # a smoke run
    python benchmarks/gateway.py --stores sqlite --workers 1,4 --requests 20000

Every worker is a process (``spawn``) with its own ledger on the same SQLite file or
PostgreSQL database, and answers "may this request run?" for its share of the requests: real
usage events (Claude Sonnet 4.6, the built-in prices) of 8 members on both seat types
(``--members`` for more: a lease serves one member in one process, so leases pay less the
fewer requests each member sends each process). **direct**: each request is one
``Ledger.charge`` (one transaction, decided centrally). **leases**: each worker decides
through a :class:`~usagebill.ledger.leases.LeasedLedger` (default policy) and closes it at
the end (its charges recorded, its slack released), inside the timed run. The organization's
pool cap is 90 % of what all the requests cost, the seat types' pools and the members'
limits are set too: the last tenth of every run races at the caps.

Each case runs ``--repeats`` times (2), on a fresh store each time: the fastest run's
figures are shown, with the worst overshoot and denial figures of all runs (the machine is
shared; a run that others disturbed says little). For each case it prints decisions per
second (all requests over the wall time from the moment every worker is ready to the moment
the last has finished), the requests denied, the **overshoot** (the most any level's
committed + held passes its cap afterwards: must be 0), a check that the organization's
total is the sum of the charges the workers were told were recorded, and the **denial
quality**:

* ``bad``: denials while the caps, counted against what had been admitted so far, would
  have covered the request. Each request is stamped with a monotonic clock shared by the
  processes: an admission when it was asked (before any decision), a denial when it was
  answered; a denial is bad when the request fits every level on its path under what was
  admitted before the denial's stamp. Unused lease slack is thus counted as free room. The
  stamps make the figure conservative (an admission still in flight counts as made).
* ``left``: denials the books would still admit at the end (a lower bound of ``bad``:
  :func:`~usagebill.ledger.leases.premature_denials`).

Then the guard's own overhead per call (:mod:`benchmarks.guard`'s create case: the real SDK
against the in-process fake server) on the memory ledger, SQLite, and SQLite leased. The
last line compares 4 processes with and without leases over PostgreSQL when it ran, else
over SQLite (``--headline`` picks).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    Member,
    Money,
    Organization,
    PoolLimit,
    PriceTable,
    Product,
    SeatCatalog,
    SpendLimits,
    TokenUsage,
    UsageEvent,
)
from usagebill.ledger import LeasedLedger, Ledger, SqliteLedger, premature_denials

AT = datetime(2026, 10, 15, 12, tzinfo=UTC)
MODEL = "claude-sonnet-4-6"
DSN_VARIABLE = "USAGEBILL_TEST_POSTGRES_DSN"
ZERO = Decimal(0)
Record = tuple[int, int, str, Decimal, bool, str]
"""(asked, answered) monotonic ns, member, amount, allowed, event id."""


def seat_of(user: str) -> str:
    return CHAT if int(user[1:]) % 2 else CHAT_AND_CLAUDE_CODE


def requests(total: int, members: int) -> list[UsageEvent]:
    """The run's requests, the same for every configuration."""
    rng = random.Random(2026)
    return [
        UsageEvent(
            f"r{number}",
            f"u{rng.randrange(members)}",
            MODEL,
            Product.CHAT,
            TokenUsage(
                input_tokens=rng.randint(100, 50_000),
                output_tokens=rng.randint(50, 8_000),
                cache_read_tokens=rng.choice((0, rng.randint(1_000, 100_000))),
            ),
            AT,
        )
        for number in range(total)
    ]


def organization(total: int, members: int) -> Organization:
    """Caps every level; the organization's pool is 90 % of what the requests cost."""
    prices = PriceTable.builtin()
    cost: defaultdict[str, Decimal] = defaultdict(Decimal)
    for usage in requests(total, members):
        amount = prices.quote(usage.model, usage.usage, usage.at).amount.amount
        cost[usage.user_id] += amount
        cost[seat_of(usage.user_id)] += amount
        cost[""] += amount

    def cap(amount: Decimal) -> Money:
        return Money(amount.quantize(Decimal("0.01")))

    people = [Member("owner", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    people += [Member(f"u{i}", "member", seat_of(f"u{i}")) for i in range(members)]
    limits = SpendLimits(
        organization=PoolLimit(
            pool_cap=cap(cost[""] * Decimal("0.9")),
            member_default=cap(cost[""] / members * 2),
        ),
        seat_types={
            CHAT: PoolLimit(pool_cap=cap(cost[CHAT] * Decimal("0.95"))),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=cap(cost[CHAT_AND_CLAUDE_CODE])),
        },
        # A few members' own limits bind before the pools do.
        members={f"u{i}": cap(cost[f"u{i}"] * Decimal("0.8")) for i in range(0, members, 4)},
    )
    return Organization.create(
        "gateway",
        SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
        people,
        at=datetime(2026, 10, 1, tzinfo=UTC),
        limits=limits,
    )


def open_ledger(store: str, org: Organization, target: str) -> Ledger:
    if store == "sqlite":
        return SqliteLedger(target, org)
    from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

    return PostgresLedger(target, org)


def worker(
    store: str,
    target: str,
    *,
    mode: str,
    number: int,
    workers: int,
    total: int,
    members: int,
    barrier: Any,
    queue: Any,
) -> None:
    """A child process: open the ledger, wait for the others, decide its share, report."""
    try:
        ledger = open_ledger(store, organization(total, members), target)
        mine = requests(total, members)[number::workers]
        front = LeasedLedger(ledger) if mode == "leases" else ledger
        clock = time.monotonic_ns
        records: list[Record] = []
        barrier.wait(timeout=120)
        start = time.monotonic()
        for usage in mine:
            asked = clock()
            result = front.charge(usage)
            records.append(
                (asked, clock(), usage.user_id, result.amount.amount, result.recorded,
                 usage.event_id)
            )  # fmt: skip
        if isinstance(front, LeasedLedger):
            front.close()
            counts = dict(front.counts)
        else:
            counts = {}
        queue.put((number, start, time.monotonic(), records, counts, None))
        ledger.close()
    except BaseException as error:  # the parent must hear of it, not wait forever
        queue.put((number, 0.0, 0.0, [], {}, repr(error)))
        raise


def caps(org: Organization) -> dict[tuple[str, str], Decimal]:
    """Every capped level: ("user", id), ("seat", type), ("org", "")."""
    found: dict[tuple[str, str], Decimal] = {}
    for user_id, member in org.members.items():
        cap = org.limits.effective(user_id, member.seat_type).cap
        if cap is not None:
            found["user", user_id] = cap.amount
    for seat_type in org.catalog.seat_types:
        pool = org.limits.seat_type(seat_type).pool_cap
        if pool is not None:
            found["seat", seat_type] = pool.amount
    if org.limits.organization.pool_cap is not None:
        found["org", ""] = org.limits.organization.pool_cap.amount
    return found


def bad_denials(org: Organization, records: list[Record]) -> int:
    """Denials the caps would have covered, against what had been admitted before them."""
    limits = caps(org)
    timeline = sorted(
        [(asked, 0, user, amount) for asked, _, user, amount, allowed, _ in records if allowed]
        + [(answered, 1, user, amount) for _, answered, user, amount, ok, _ in records if not ok]
    )
    used: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    bad = 0
    for _, denial, user, amount in timeline:
        levels = (("user", user), ("seat", seat_of(user)), ("org", ""))
        if not denial:
            for level in levels:
                used[level] += amount
        elif all(amount <= limits[level] - used[level] for level in levels if level in limits):
            bad += 1
    return bad


def measure(  # noqa: PLR0917  (one run's settings)
    store: str, target: str, mode: str, workers: int, total: int, members: int
) -> dict[str, Any]:
    org = organization(total, members)
    setup = open_ledger(store, org, target)
    if store == "postgres":
        setup.store.reset()  # type: ignore[attr-defined]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    queue = context.Queue()
    children = [
        context.Process(
            target=worker,
            args=(store, target),
            kwargs={
                "mode": mode,
                "number": number,
                "workers": workers,
                "total": total,
                "members": members,
                "barrier": barrier,
                "queue": queue,
            },
        )
        for number in range(workers)
    ]
    for child in children:
        child.start()
    barrier.wait(timeout=120)
    reports = [queue.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    failed = [error for *_, error in reports if error]
    if failed:
        raise RuntimeError(f"a {store} worker failed: {failed[0]}")
    elapsed = max(report[2] for report in reports) - min(report[1] for report in reports)
    records = [record for report in reports for record in report[3]]
    spend = setup.month_to_date(AT)
    used = {("user", k): v for k, v in spend.members.items()}
    used |= {("seat", k): v for k, v in spend.seat_types.items()}
    used["org", ""] = spend.total
    held = {("user", k): v for k, v in spend.held_members.items()}
    held |= {("seat", k): v for k, v in spend.held_seat_types.items()}
    held["org", ""] = spend.held_total
    overshoot = max(
        [used.get(level, ZERO) + held.get(level, ZERO) - cap for level, cap in caps(org).items()]
        + [ZERO]
    )
    recorded = sum((amount for *_, amount, ok, _ in records if ok), ZERO)
    by_id = {usage.event_id: usage for usage in requests(total, members)}
    denied = [by_id[record[5]] for record in records if not record[4]]
    counts: defaultdict[str, int] = defaultdict(int)
    for report in reports:
        for name, count in report[4].items():
            counts[name] += count
    figures = {
        "rate": total / elapsed,
        "denied": len(denied),
        "bad": bad_denials(org, records),
        "left": len(premature_denials(setup, denied, at=AT)),
        "overshoot": overshoot,
        "books": spend.total == recorded and spend.held_total == 0,
        "central": counts.get("central", total if mode == "direct" else 0)
        + counts.get("leases", 0)
        + counts.get("flushes", 0),
    }
    setup.close()
    return figures


def guard_overhead(quick: bool, directory: str) -> list[str]:
    """The guard's own cost per call, from benchmarks/guard.py's create case.

    On the memory ledger, on SQLite, and on SQLite through a leased front.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    import guard  # noqa: PLC0415  (benchmarks/guard.py)
    from usagebill.gateway.testing import FakeMessagesAPI  # noqa: PLC0415
    from usagebill.ledger import MemoryLedger  # noqa: PLC0415

    api = FakeMessagesAPI(input_tokens=1_000, output_tokens=200)
    org = guard.organization()
    sqlite = SqliteLedger(Path(directory) / "guard.db", org, clock=lambda: guard.AT)
    leased = LeasedLedger(SqliteLedger(Path(directory) / "leased.db", org, clock=lambda: guard.AT))
    ledgers: dict[str, Any] = {
        "memory": MemoryLedger(org, clock=lambda: guard.AT),
        "sqlite": sqlite,
        "sqlite, leases": leased,
    }
    found = {
        name: function
        for name, function in guard.cases(api, ledgers).items()
        if name == "bare SDK, create" or name.endswith("), create")
    }
    for function in found.values():
        function()
    best = guard.measure(found, 10 if quick else 40, 10)
    leased.close()
    bare = best.pop("bare SDK, create")
    lines = [f"guard overhead per create (fake server; bare SDK {bare * 1e6:.0f} µs):"]
    lines += [
        f"  {name:<32} {seconds * 1e6:>6.0f} µs, +{(seconds - bare) * 1e6:.0f} µs a call"
        for name, seconds in best.items()
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--requests", type=int, default=0, help="per run (default per store)")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each case: the fastest is shown"
    )
    parser.add_argument("--dsn", default=os.environ.get(DSN_VARIABLE))
    parser.add_argument("--headline", choices=("sqlite", "postgres"))
    parser.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    args = parser.parse_args()
    stores = [store for store in args.stores.split(",") if store]
    if "postgres" in stores and not args.dsn:
        print(f"PostgreSQL SKIPPED: set {DSN_VARIABLE} or pass --dsn", file=sys.stderr)
        stores.remove("postgres")
    workers = [int(count) for count in args.workers.split(",")]
    default = {"sqlite": 8_000, "postgres": 8_000}
    tmp = tempfile.TemporaryDirectory()
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    print(f"{'store':<9} {'mode':<7} {'procs':>5} {'decisions/s':>12} {'central':>8} "
          f"{'denied':>7} {'bad':>5} {'left':>5} {'overshoot':>9} {'books':>6}")  # fmt: skip
    for store in stores:
        total = args.requests or default[store] // (4 if args.quick else 1)
        for count in workers:
            for mode in ("direct", "leases"):
                runs = []
                for repeat in range(args.repeats):  # a fresh store each time
                    target = str(Path(tmp.name) / f"{store}-{mode}-{count}-{repeat}.db")
                    if store == "postgres":
                        target = args.dsn
                    runs.append(measure(store, target, mode, count, total, args.members))
                row = max(runs, key=lambda run: run["rate"])
                row |= {
                    name: max(run[name] for run in runs) for name in ("bad", "left", "overshoot")
                }
                row["books"] = all(run["books"] for run in runs)
                rows[store, mode, count] = row
                print(
                    f"{store:<9} {mode:<7} {count:>5} {row['rate']:>12,.0f} "
                    f"{row['central']:>8} {row['denied']:>7} {row['bad']:>5} {row['left']:>5} "
                    f"{row['overshoot']:>9} {'ok' if row['books'] else 'WRONG':>6}",
                    flush=True,
                )
    for line in guard_overhead(args.quick, tmp.name):
        print(line)
    tmp.cleanup()
    most = max(workers)
    # The last line: the store asked for, else PostgreSQL when it ran (the store leases are for).
    store = args.headline or ("postgres" if "postgres" in stores else "sqlite")
    store = store if store in stores else stores[0]
    leased, direct = rows[store, "leases", most], rows[store, "direct", most]
    overshoot = max(row["overshoot"] for row in rows.values())
    wrong = [key for key, row in rows.items() if not row["books"]]
    if wrong:
        print(f"BOOKS WRONG in {wrong}", file=sys.stderr)
    print(
        f"leases: {most} processes {leased['rate']:,.0f}/s vs direct {direct['rate']:,.0f}/s "
        f"({leased['rate'] / direct['rate']:.1f}x), overshoot {overshoot}"
    )
    return 1 if wrong or overshoot else 0


if __name__ == "__main__":
    sys.exit(main())
