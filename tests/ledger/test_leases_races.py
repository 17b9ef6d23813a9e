"""Processes racing under budget leases: no level passes its cap, every charge counts once.

4 processes (SQLite on one file; PostgreSQL when ``USAGEBILL_TEST_POSTGRES_DSN`` is set)
each keep one :class:`LeasedLedger` over the shared store and make about 1,000 requests
near the caps of ``ledger_support.stress_org`` (full about halfway through): a quarter
guarded (held, then settled at most the hold, or released), the rest charges, of which
some retry their own events and some are events every process sends. Each flushes every
50 charges (a gateway's timer) and closes at the end. Meanwhile a monitor reads
month-to-date spend again and again. Afterwards:

* no level's committed + held passes its cap, in any snapshot or at the end; nothing is held;
* organization total == Σ users == Σ seat types == Σ of the admitted charges, each event once
  however many processes admitted it, and each member's spend is the sum of their own;
* the organization pool ran full; the denial quality (denials the final books would still
  admit: other processes' slack denied them) is printed, for the record.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger_support import (
    OCT,
    STRESS_USERS,
    assert_consistent,
    event,
    open_ledger,
    overshoot,
    shared_event,
    store_params,
    stress_org,
)
from usagebill import Money, Organization
from usagebill.ledger import LeasedLedger, LeasePolicy, Ledger, premature_denials

PROCESSES = 4
OPERATIONS = 4_000
CAPS_FOR = 12_000  # stress_org sized for this many operations: the caps fill about halfway
ZERO = Decimal(0)

Charged = tuple[str, str, Decimal, bool]
"""(event id, member, amount, recorded) of one charge."""


def lease_worker(kind: str, path: str, *, worker: int, seed: int, barrier: Any, queue: Any) -> None:
    """A child process: race charges and guarded requests under leases, send back the outcomes.

    A guarded request holds up to 4.00, then settles at most what it held (or is released).
    """
    try:
        ledger = open_ledger(kind, stress_org(CAPS_FOR), path)
        front = LeasedLedger(ledger, LeasePolicy(requests=8))
        rng = random.Random(seed * 1000 + worker)  # noqa: S311  (seeded test data)
        charged: list[Charged] = []
        sent = []
        barrier.wait(timeout=120)
        for number in range(OPERATIONS // PROCESSES):
            roll = rng.random()
            if roll < 0.25:
                charged.extend(guarded_request(front, rng, f"w{worker}-{number}"))
                continue
            if roll < 0.35 and sent:
                usage = rng.choice(sent)
            elif roll < 0.45:
                usage = shared_event(rng.randint(0, 199))
            else:
                amount = f"{rng.randint(1, 400) / 100:.2f}"
                usage = event(f"w{worker}-{number}", rng.choice(STRESS_USERS), amount)
                sent.append(usage)
            result = front.charge(usage)
            charged.append((usage.event_id, usage.user_id, result.amount.amount, result.recorded))
            if number % 50 == 49:
                front.flush()
        front.close()
        ledger.close()
        queue.put((worker, charged, front.counts, None))
    except BaseException as error:  # the parent must hear of it, not wait forever
        queue.put((worker, [], {}, repr(error)))
        raise


def guarded_request(front: LeasedLedger, rng: random.Random, request: str) -> list[Charged]:
    """Hold, then settle at most the hold or release: the settlement, if one was recorded."""
    user, cents = rng.choice(STRESS_USERS), rng.randint(1, 400)
    held = front.hold(request, user, Money(Decimal(cents) / 100), at=OCT)
    if held.hold is None:
        return []
    if rng.random() < 0.15:
        front.release(request)
        return []
    cost = Decimal(rng.randint(0, cents)) / 100
    front.settle(request, event(f"{request}-s", user, cost))
    return [(f"{request}-s", user, cost, True)]


def watch(org: Organization, central: Ledger, stop: threading.Event, problems: list[str]) -> int:
    """Read month-to-date spend until ``stop``; keep what was wrong; return the snapshots."""
    snapshots = 0
    while not stop.wait(0.005):
        spend = central.month_to_date(OCT)
        try:
            assert_consistent(spend)
        except AssertionError as error:
            problems.append(repr(error))
        over = overshoot(org, spend)
        if over:
            problems.append(f"overshoot {over}")
        snapshots += 1
    return snapshots


@pytest.mark.parametrize("kind", store_params(("sqlite", "postgres")))
def test_processes_racing_under_leases_never_overshoot_and_count_each_charge_once(
    kind: str, tmp_path: Path
) -> None:
    org = stress_org(CAPS_FOR)
    path = str(tmp_path / "ledger.db")
    central = open_ledger(kind, org, path, fresh=True)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES + 1)
    queue = context.Queue()
    children = [
        context.Process(
            target=lease_worker,
            args=(kind, path),
            kwargs={"worker": worker, "seed": 5, "barrier": barrier, "queue": queue},
        )
        for worker in range(PROCESSES)
    ]
    for child in children:
        child.start()
    problems: list[str] = []
    stop = threading.Event()
    snapshots: list[int] = []
    monitor = threading.Thread(
        target=lambda: snapshots.append(watch(org, central, stop, problems)), daemon=True
    )
    try:
        barrier.wait(timeout=120)
        monitor.start()
        reports = [queue.get(timeout=300) for _ in children]
    finally:
        stop.set()
        for child in children:
            child.join(timeout=60)
            if child.is_alive():  # pragma: no cover - only when a child hangs
                child.kill()
    monitor.join()
    assert [error for *_, error in reports if error] == []
    assert problems == []
    assert snapshots[0] > 0

    spend = central.month_to_date(OCT)
    assert_consistent(spend)
    assert overshoot(org, spend) == {}
    assert spend.held_total == 0
    amounts: dict[str, tuple[str, Decimal]] = {}
    admitted: set[str] = set()
    for _, charged, _, _ in reports:
        for event_id, user, amount, recorded in charged:
            assert amounts.setdefault(event_id, (user, amount)) == (user, amount)
            if recorded:
                admitted.add(event_id)
    per_user: defaultdict[str, Decimal] = defaultdict(Decimal)
    for event_id in admitted:
        user, amount = amounts[event_id]
        per_user[user] += amount
    assert {user: amount for user, amount in spend.members.items() if amount} == {
        user: amount for user, amount in per_user.items() if amount
    }
    assert spend.total == sum(per_user.values(), ZERO)
    org_cap = org.limits.organization.pool_cap
    assert org_cap is not None
    assert spend.total > org_cap.amount * Decimal("0.95")  # the run raced at the caps

    never_admitted = [
        event(event_id, user, amount)
        for event_id, (user, amount) in amounts.items()
        if event_id not in admitted
    ]
    premature = premature_denials(central, never_admitted, at=OCT)
    counts: defaultdict[str, int] = defaultdict(int)
    for _, _, front_counts, _ in reports:
        for name, value in front_counts.items():
            counts[name] += value
    print(  # noqa: T201  (the denial quality, for the record)
        f"\n{kind}: {len(admitted)} events admitted, {len(never_admitted)} denied, "
        f"{len(premature)} of them while the final books would still admit them; {dict(counts)}"
    )
    central.close()
