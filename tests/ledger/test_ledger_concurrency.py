"""Writers racing near the caps: no level ever passes its cap, and every cent is accounted for.

8 threads (MemoryLedger; SqliteLedger, two ledger objects on one file) and 4 processes
(SqliteLedger on one file; PostgresLedger when available) run 10,000 operations between
them: charges, holds, extensions, settlements and releases, a tenth of them retries of an
event already sent, a tenth events that every worker sends. Settlements never exceed their
hold, so nothing may ever pass a cap. Meanwhile a monitor reads month-to-date spend again
and again. Afterwards:

* no level's committed + held passes its cap, in any snapshot the monitor took or at the end;
* organization total == Σ users == Σ seat types == Σ of the accepted charges and settlements,
  exactly; each member's spend is the sum of their own;
* every event id has exactly one first outcome; every retry replayed it.

Every store runs the full 10,000 operations by default (about 10 s for all of them on two
cores). ``USAGEBILL_STRESS=1`` runs 50,000 each instead.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Self

import pytest

from ledger_support import (
    OCT,
    Outcome,
    assert_consistent,
    caps_in_force,
    open_ledger,
    overshoot,
    store_params,
    stress_org,
    stress_process_worker,
    stress_work,
    used_by,
)
from usagebill import Organization, Spend
from usagebill.caps.decision import Level

OPERATIONS = 50_000 if os.environ.get("USAGEBILL_STRESS") == "1" else 10_000
THREADS = 8
PROCESSES = 4
ZERO = Decimal(0)


class Monitor:
    """Reads month-to-date spend in a loop, in its own thread, and keeps what was wrong."""

    def __init__(self, org: Organization, read: Callable[[], Spend]) -> None:
        self.org, self.read = org, read
        self.snapshots = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            try:
                spend = self.read()
                assert_consistent(spend)
                over = overshoot(self.org, spend)
            except Exception as error:  # noqa: BLE001  (reported by the test)
                self.problems.append(repr(error))
                continue
            self.snapshots += 1
            if over:
                self.problems.append(f"overshoot {over}")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def check_books(org: Organization, spend: Spend, outcomes: Iterable[Outcome]) -> dict[str, int]:
    """The end state: within caps, nothing held, every accepted cent once and only once."""
    assert_consistent(spend)
    assert overshoot(org, spend) == {}
    assert spend.held_total == 0  # every hold was settled or released
    by_id: defaultdict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_id[outcome[1]].append(outcome)
    per_user: defaultdict[str, Decimal] = defaultdict(Decimal)
    retries = 0
    for event_id, seen in by_id.items():
        firsts = [outcome for outcome in seen if not outcome[5]]
        assert len(firsts) == 1, (event_id, seen)
        _, _, user, amount, recorded, _ = firsts[0]
        assert all(outcome[:5] == firsts[0][:5] for outcome in seen), (event_id, seen)
        retries += len(seen) - 1
        if recorded:
            per_user[user] += amount
    expected = {user: amount for user, amount in per_user.items() if amount}
    assert {user: amount for user, amount in spend.members.items() if amount} == expected
    assert spend.total == sum(per_user.values(), ZERO)
    seats = {member.user_id: member.seat_type for member in org.members.values()}
    by_seat: defaultdict[str, Decimal] = defaultdict(Decimal)
    for user, amount in per_user.items():
        by_seat[seats[user]] += amount
    assert {k: v for k, v in spend.seat_types.items() if v} == {
        k: v for k, v in by_seat.items() if v
    }
    return {"events": len(by_id), "retries": retries}


def ran_at_the_caps(org: Organization, spend: Spend) -> bool:
    """At least two levels, the organization's among them, end within 0.5 % of their cap."""
    room = {
        scope: (cap - used_by(spend, scope)) / cap
        for scope, cap in caps_in_force(org).items()
        if cap
    }
    full = [scope for scope, left in room.items() if left < Decimal("0.005")]
    return len(full) >= 2 and (Level.ORGANIZATION, org.name) in full


@pytest.mark.parametrize("kind", store_params(("memory", "sqlite")))
def test_threads_never_overshoot_and_count_every_event_once(kind: str, tmp_path: Path) -> None:
    org = stress_org(OPERATIONS)
    path = tmp_path / "ledger.db"
    ledgers = [open_ledger(kind, org, path) for _ in range(2 if kind == "sqlite" else 1)]
    if kind == "memory":
        ledgers.append(ledgers[0])  # one ledger object shared by every thread
    results: dict[int, list[Outcome]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        try:
            start.wait()
            results[worker] = stress_work(
                ledgers[worker % 2], worker, OPERATIONS // THREADS, seed=7
            )
        except BaseException as error:  # noqa: BLE001  (re-raised below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    with Monitor(org, lambda: ledgers[0].month_to_date(OCT)) as monitor:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert monitor.problems == []
    assert monitor.snapshots > 0
    spend = ledgers[0].month_to_date(OCT)
    counted = check_books(org, spend, (o for outcomes in results.values() for o in outcomes))
    assert counted["retries"] > 0
    assert ran_at_the_caps(org, spend)
    for ledger in {id(ledger): ledger for ledger in ledgers}.values():
        ledger.close()


@pytest.mark.parametrize("kind", store_params(("sqlite", "postgres")))
def test_processes_never_overshoot_and_count_every_event_once(kind: str, tmp_path: Path) -> None:
    org = stress_org(OPERATIONS)
    path = str(tmp_path / "ledger.db")
    parent = open_ledger(kind, org, path, fresh=True)  # creates (or empties) the store first
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES + 1)
    queue = context.Queue()
    children = [
        context.Process(
            target=stress_process_worker,
            args=(kind, path),
            kwargs={
                "worker": worker,
                "operations": OPERATIONS // PROCESSES,
                "total": OPERATIONS,
                "seed": 11,
                "barrier": barrier,
                "queue": queue,
            },
        )
        for worker in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=120)
        with Monitor(org, lambda: parent.month_to_date(OCT)) as monitor:
            reports = [queue.get(timeout=300) for _ in children]
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():  # pragma: no cover - only when a child hangs
                child.kill()
    assert [error for _, _, error in reports if error] == []
    assert [child.exitcode for child in children] == [0] * PROCESSES
    assert monitor.problems == []
    spend = parent.month_to_date(OCT)
    counted = check_books(org, spend, (o for _, outcomes, _ in reports for o in outcomes))
    assert counted["retries"] > 0
    assert ran_at_the_caps(org, spend)
    parent.close()
