"""``kill -9`` of a process holding leases: its slack returns to the pool, nothing flushed is lost.

A child process charges an endless, deterministic sequence of events under a
:class:`LeasedLedger` with a 2-second lease TTL, flushes every 40 charges, and appends
the number of charges made to a file only *after* that flush returned: those charges are
acknowledged. The parent kills it with SIGKILL at a random moment, waits out the TTL,
expires the holds, and checks:

* the leases' holds expired: nothing is held any more, on any level;
* every acknowledged charge is recorded: each member's spend is at least the sum of their
  acknowledged charges, and what is recorded beyond them is charges made after the last
  acknowledgment (a lease that filled up recorded its own), never more;
* organization total == Σ users == Σ seat types, and no level passes its cap.

Then a new child carries on from the first unacknowledged charge (a charge recorded
already replays: it counts once), for a few rounds. At the end every acknowledged charge,
sent again, replays. SQLite always; PostgreSQL when
available.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ledger_support import (
    OCT,
    assert_consistent,
    crash_event,
    open_ledger,
    overshoot,
    store_params,
    stress_org,
)
from usagebill.ledger import LeasedLedger, LeasePolicy

ROUNDS = 3
BATCH = 40
TTL = timedelta(seconds=2)
ORG = 1_000_000  # stress_org's caps for this many operations: far above what a round charges


def lease_crash_writer(kind: str, path: str, acks: str, first: int) -> None:
    """A child process: charge from event ``first`` on, acknowledging every flush, forever."""
    ledger = open_ledger(kind, stress_org(ORG), path)
    policy = LeasePolicy(requests=16, ttl=TTL, margin=timedelta(seconds=1), flush_every=10_000)
    front = LeasedLedger(ledger, policy)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, b"ready\n")
    number = first
    while True:
        front.charge(crash_event(number))
        number += 1
        if number % BATCH == 0:
            front.flush()
            os.write(fd, f"{number}\n".encode())  # events before `number`: acknowledged


def member_sums(first: int, last: int) -> defaultdict[str, Decimal]:
    """Each member's sum of the charges ``first`` .. ``last - 1``."""
    sums: defaultdict[str, Decimal] = defaultdict(Decimal)
    for number in range(first, last):
        usage = crash_event(number)
        sums[usage.user_id] += Decimal(usage.usage.input_tokens) / 100
    return sums


@pytest.mark.parametrize("kind", store_params(("sqlite", "postgres")))
def test_a_killed_process_leases_expire_and_its_acknowledged_charges_stay(
    kind: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "ledger.db")
    central = open_ledger(kind, stress_org(ORG), path, fresh=True)
    context = multiprocessing.get_context("spawn")
    rng = random.Random(3)  # noqa: S311  (seeded test data)
    acknowledged = 0
    expired = 0
    for round_number in range(ROUNDS):
        acks = tmp_path / f"acks-{round_number}"
        child = context.Process(
            target=lease_crash_writer, args=(kind, path, str(acks), acknowledged)
        )
        child.start()
        deadline = time.monotonic() + 60
        while not (acks.exists() and acks.read_text().startswith("ready")):
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.3, 0.8))
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join()
        lines = acks.read_text().split()[1:]
        acknowledged = int(lines[-1]) if lines else acknowledged
        held = central.month_to_date(OCT).held_total
        time.sleep(TTL.total_seconds() + 0.2)
        expired += len(central.expire())
        spend = central.month_to_date(OCT)
        assert_consistent(spend)
        assert overshoot(central.org, spend) == {}
        assert spend.held_total == 0, held
        floor = member_sums(0, acknowledged)
        assert all(spend.members.get(user, Decimal(0)) >= sum_ for user, sum_ in floor.items())
        beyond = spend.total - sum(floor.values(), Decimal(0))
        assert 0 <= beyond <= sum(member_sums(acknowledged, acknowledged + 10_000).values())
    assert acknowledged > 0
    assert expired > 0  # the killed processes' leases came back by expiring
    # every acknowledged charge is recorded, once: sent again, they add nothing
    total = central.month_to_date(OCT).total
    again = LeasedLedger(central)
    for number in range(acknowledged):
        assert again.charge(crash_event(number)).recorded
    assert all(result.replayed for result in again.close())
    spend = central.month_to_date(OCT)
    assert (spend.total, spend.held_total) == (total, 0)
    central.close()
