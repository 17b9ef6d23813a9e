"""``kill -9`` of a writer mid-run loses no acknowledged operation and leaves nothing half-done.

A child process runs an endless, deterministic sequence of steps on the ledger — three
charges, then a hold, then its settlement or release, again and again — and appends each
step's number to a file only *after* the operation has returned. The parent kills it with
SIGKILL at a random moment, reopens the ledger, and checks:

* every acknowledged charge is there: its event id replays (``replayed``), with the outcome
  it had;
* nothing is partial: the reopened month-to-date spend — every member, seat type and the
  organization, committed and held — equals a pure re-run of the acknowledged steps in
  memory, or of those steps plus the one that was in flight (committed whole, or not at
  all), and organization total == Σ users == Σ seat types;
* no level passes its cap.

Then a new child carries on from the step in flight (every step is idempotent), and so on
for a few rounds. SQLite always; PostgreSQL when available.

Also, for SQLite: a file closed and reopened keeps its events, holds and counts; a file of a
newer schema is refused and left as it was.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from ledger_support import (
    OCT,
    assert_consistent,
    crash_event,
    crash_step,
    crash_writer,
    event,
    figures,
    open_ledger,
    overshoot,
    store_params,
    stress_org,
)
from usagebill import InvalidValueError, Money
from usagebill.ledger import ChargeResult, Ledger
from usagebill.ledger.sqlite import SCHEMA_VERSION

ROUNDS = 4


def simulate(steps: int) -> tuple[dict[str, object], dict[int, ChargeResult]]:
    """Steps 0 .. ``steps - 1`` on a fresh memory ledger: its spend, and each charge's outcome."""
    ledger = open_ledger("memory", stress_org())
    charges: dict[int, ChargeResult] = {}
    for number in range(steps):
        if number % 5 < 3:
            charges[number] = ledger.charge(crash_event(number))
        else:
            crash_step(ledger, number)
    return figures(ledger.month_to_date(OCT)), charges


def acknowledged(path: Path) -> list[int]:
    """The step numbers in the file, complete lines only, without the opening ``ready``."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")[:-1]  # the last piece is partial (or empty)
    return [int(line) for line in lines if line != b"ready"]


def run_until_killed(kind: str, db: str, acks: Path, first: int, rng: random.Random) -> int:
    """Start a writer at step ``first``, let it acknowledge some steps, kill it: its pid."""
    acks.unlink(missing_ok=True)
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=crash_writer, args=(kind, db, str(acks), first))
    child.start()
    target = rng.randint(1, 400)
    deadline = time.monotonic() + 120
    while len(acknowledged(acks)) < target:
        assert child.is_alive(), f"the writer died by itself (exit code {child.exitcode})"
        assert time.monotonic() < deadline, "the writer is too slow"
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.002))  # anywhere inside an operation
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    return child.pid


def check_reopened(ledger: Ledger, acked_until: int, acked: list[int]) -> None:
    spend = ledger.month_to_date(OCT)
    assert_consistent(spend)
    assert overshoot(ledger.org, spend) == {}
    without, charges = simulate(acked_until)
    with_in_flight, _ = simulate(acked_until + 1)
    assert figures(spend) in (without, with_in_flight)
    for number in acked:
        if number % 5 < 3:
            again = ledger.charge(crash_event(number))
            assert again.replayed, f"acknowledged charge c{number} was lost"
            assert again.decision == charges[number].decision
            assert again.amount == charges[number].amount


@pytest.mark.parametrize("kind", store_params(("sqlite", "postgres")))
def test_kill_9_loses_no_acknowledged_operation(kind: str, tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    acks = tmp_path / "acknowledged"
    open_ledger(kind, stress_org(), db, fresh=True).close()
    rng = random.Random(20261015)  # noqa: S311  (a seeded, reproducible moment)
    done = 0  # steps acknowledged so far; the next writer redoes the one in flight
    for _ in range(ROUNDS):
        run_until_killed(kind, db, acks, done, rng)
        acked = acknowledged(acks)
        assert acked == list(range(done, done + len(acked)))
        done += len(acked)
        ledger = open_ledger(kind, stress_org(), db)
        try:
            check_reopened(ledger, done, acked)
        finally:
            ledger.close()
        if kind == "sqlite":
            with sqlite3.connect(db) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert done > ROUNDS


# --- reopening a SQLite file ----------------------------------------------------------------


def test_a_reopened_sqlite_file_keeps_events_holds_and_counts(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    first = open_ledger("sqlite", stress_org(), db)
    charged = first.charge(crash_event(0))
    held = first.hold("h1", "u1", Money("2"), at=OCT)
    first.close()
    again = open_ledger("sqlite", stress_org(), db)
    try:
        assert again.charge(crash_event(0)) == attrs.evolve(charged, replayed=True)
        assert again.hold("h1", "u1", Money("2"), at=OCT).hold == held.hold
        assert again.month_to_date(OCT).held_total == Decimal(2)
        assert again.settle("h1", event("s1", "u1", "3")).overrun == Money("1")
        assert again.stats(OCT)["overruns"] == 1
    finally:
        again.close()


def test_a_file_of_a_newer_schema_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ledger = open_ledger("sqlite", stress_org(), db)
    charged = ledger.charge(crash_event(0))
    ledger.close()
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE usagebill_meta SET value = '99' WHERE key = 'schema_version'")
    connection.close()
    with pytest.raises(InvalidValueError, match="newer"):
        open_ledger("sqlite", stress_org(), db)
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE usagebill_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )
    connection.close()
    ledger = open_ledger("sqlite", stress_org(), db)
    try:
        assert ledger.charge(crash_event(0)) == attrs.evolve(charged, replayed=True)
    finally:
        ledger.close()


def test_a_failed_commit_applies_nothing_and_the_ledger_carries_on(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred constraint; on a real host, a full disk or an I/O
    error) rolls the operation back, and the next operation on the same thread works."""
    db = tmp_path / "ledger.db"
    ledger = open_ledger("sqlite", stress_org(), db)
    with sqlite3.connect(db) as setup:
        setup.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id)"
            " DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER break_commit AFTER INSERT ON events"
            " BEGIN INSERT INTO child VALUES (1); END;"
        )
    setup.close()
    ledger.store._connection().execute("PRAGMA foreign_keys = ON")  # type: ignore[attr-defined]
    try:
        with pytest.raises(sqlite3.IntegrityError):
            ledger.charge(crash_event(0))
        assert figures(ledger.month_to_date(OCT))["total"] == 0
        with sqlite3.connect(db) as setup:
            setup.execute("DROP TRIGGER break_commit")
        setup.close()
        assert not ledger.charge(crash_event(0)).replayed  # nothing of the first attempt stayed
    finally:
        ledger.close()
