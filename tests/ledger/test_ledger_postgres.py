"""The PostgreSQL store against a real server: ``USAGEBILL_TEST_POSTGRES_DSN``.

Run them with a throwaway server::

    scripts/with-postgres .venv/bin/pytest tests/test_ledger_postgres.py

Each test gets its own schema (``search_path`` set through the connection string), dropped after.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    ConflictError,
    InvalidValueError,
    Member,
    Money,
    Organization,
    PoolLimit,
    PriceTable,
    Product,
    SeatCatalog,
    SpendLimits,
    TokenUsage,
    UnknownNameError,
    UsageEvent,
)
from usagebill.pricing.prices import ModelListing, ModelPrice, Rates

psycopg = pytest.importorskip(
    "psycopg", reason="PostgreSQL tests skipped: psycopg is not installed (usagebill[postgres])"
)

from psycopg.conninfo import make_conninfo  # noqa: E402

from usagebill.ledger.postgres import (  # noqa: E402
    SCHEMA_VERSION,
    PostgresLedger,
    PostgresStore,
)

DSN_VARIABLE = "USAGEBILL_TEST_POSTGRES_DSN"
START = datetime(2026, 10, 1, tzinfo=UTC)
OCT = datetime(2026, 10, 15, 12, tzinfo=UTC)
NOV = datetime(2026, 11, 15, 12, tzinfo=UTC)
ZERO = Decimal(0)

# One model whose input tokens cost one cent each: a usage of 525 tokens costs exactly 5.25 USD.
PRICES = PriceTable(
    "cents",
    {
        "unit": ModelListing(
            (
                ModelPrice(
                    Rates(
                        input="10000",
                        output="0",
                        cache_write_5m="0",
                        cache_write_1h="0",
                        cache_read="0",
                    )
                ),
            )
        )
    },
)
CATALOGUE = SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))


# --- a server and a fresh schema per test ----------------------------------------------------


@pytest.fixture(scope="session")
def server_dsn() -> str:
    """The server of USAGEBILL_TEST_POSTGRES_DSN, or skip (unset or unreachable)."""
    dsn = os.environ.get(DSN_VARIABLE)
    if not dsn:
        pytest.skip(
            f"PostgreSQL tests skipped: set {DSN_VARIABLE} to a server they may create schemas "
            "in, e.g. run them under scripts/with-postgres"
        )
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL tests skipped: {DSN_VARIABLE} is unreachable ({error})")
    return dsn


def _admin(server_dsn: str) -> Any:
    return psycopg.connect(server_dsn, autocommit=True)


@pytest.fixture
def dsn(server_dsn: str) -> Iterator[str]:
    """A connection string whose search_path is a new, empty schema (dropped afterwards)."""
    schema = f"usagebill_test_{uuid.uuid4().hex[:12]}"
    with _admin(server_dsn) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield make_conninfo(server_dsn, options=f"-c search_path={schema}")
    with _admin(server_dsn) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


def make_org(users: dict[str, str] | None = None) -> Organization:
    """ada and bob on Chat, olga and cy on Chat + Claude Code; Chat pool 30, organization 100."""
    people = [
        Member("olga", "primary_owner", CHAT_AND_CLAUDE_CODE),
        Member("ada", "member", CHAT),
        Member("bob", "member", CHAT),
        Member("cy", "member", CHAT_AND_CLAUDE_CODE),
    ]
    caps = {"ada": "20"} if users is None else users
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money("100")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("30"))},
        members={user: Money(cap) for user, cap in caps.items()},
    )
    return Organization.create("acme", CATALOGUE, people, at=START, limits=limits)


def event(event_id: str, user_id: str, amount: str, at: datetime = OCT) -> UsageEvent:
    """A usage that costs exactly ``amount`` USD under PRICES."""
    tokens = int(Decimal(amount) * 100)
    return UsageEvent(event_id, user_id, "unit", Product.CHAT, TokenUsage(input_tokens=tokens), at)


class Clock:
    def __init__(self, now: datetime = OCT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(dsn: str, clock: Clock) -> Iterator[PostgresLedger]:
    opened = PostgresLedger(dsn, make_org(), PRICES, clock=clock)
    yield opened
    opened.close()


def held(ledger: PostgresLedger, at: datetime = OCT) -> tuple[Decimal, Decimal, Decimal]:
    """(held by ada, held by the Chat pool, held by the organization)."""
    spend = ledger.month_to_date(at)
    return (
        spend.held_members.get("ada", ZERO),
        spend.held_seat_types.get(CHAT, ZERO),
        spend.held_total,
    )


# --- the operations --------------------------------------------------------------------------


def test_charge_allowed_denied_replayed_conflict(ledger: PostgresLedger) -> None:
    first = ledger.charge(event("e1", "ada", "5.25"))
    assert first.recorded
    assert not first.replayed
    assert first.amount == Money("5.25")

    again = ledger.charge(event("e1", "ada", "5.25"))
    assert again.replayed
    assert again.recorded
    assert again.amount == first.amount

    with pytest.raises(ConflictError, match="e1"):
        ledger.charge(event("e1", "ada", "6"))

    denied = ledger.charge(event("e2", "ada", "15"))  # 5.25 + 15 > ada's 20
    assert not denied.recorded
    assert ledger.charge(event("e2", "ada", "15")).replayed  # a denial is replayed too

    spend = ledger.month_to_date(OCT)
    assert spend.members["ada"] == Decimal("5.25")
    assert isinstance(spend.members["ada"], Decimal)
    assert spend.seat_types[CHAT] == spend.total == Decimal("5.25")


def test_amounts_stay_exact(ledger: PostgresLedger) -> None:
    for number in range(10):
        ledger.charge(event(f"e{number}", "olga", "0.01"))
    assert ledger.month_to_date(OCT).total == Decimal("0.10")  # never 0.09999…
    ledger.charge(
        UsageEvent("e-big", "olga", "unit", Product.CHAT, TokenUsage(input_tokens=3), OCT)
    )
    assert ledger.month_to_date(OCT).members["olga"] == Decimal("0.13")


def test_hold_is_all_or_nothing(ledger: PostgresLedger) -> None:
    assert ledger.charge(event("e1", "bob", "25")).recorded  # Chat pool: 25 of 30
    denied = ledger.hold("r1", "ada", Money("10"), at=OCT)  # ada has room, the pool has not
    assert denied.hold is None
    assert not denied.decision.allowed
    assert held(ledger) == (ZERO, ZERO, ZERO)  # nothing held on any level

    allowed = ledger.hold("r2", "ada", Money("4"), at=OCT)
    assert allowed.hold is not None
    assert held(ledger) == (Decimal(4), Decimal(4), Decimal(4))
    # Asking again gives the same hold back; another amount under the same id is a conflict.
    assert ledger.hold("r2", "ada", Money("4"), at=OCT).hold == allowed.hold
    with pytest.raises(ConflictError):
        ledger.hold("r2", "ada", Money("3"), at=OCT)
    assert held(ledger) == (Decimal(4), Decimal(4), Decimal(4))


def test_extend(ledger: PostgresLedger, clock: Clock) -> None:
    first = ledger.hold("r1", "ada", Money("5"), at=OCT, ttl=timedelta(minutes=1))
    assert first.hold is not None
    clock.now += timedelta(seconds=30)
    grown = ledger.extend("r1", Money("3"), ttl=timedelta(minutes=5))
    assert grown.decision.allowed
    assert grown.hold is not None
    assert grown.hold.amount == Money("8")
    assert grown.hold.expires_at == clock.now + timedelta(minutes=5)
    assert held(ledger) == (Decimal(8), Decimal(8), Decimal(8))

    too_much = ledger.extend("r1", Money("12.01"))  # 8 + 12.01 > ada's 20
    assert not too_much.decision.allowed
    assert too_much.hold == grown.hold
    assert held(ledger) == (Decimal(8), Decimal(8), Decimal(8))

    with pytest.raises(UnknownNameError):
        ledger.extend("nope", Money("1"))


def test_settle_records_and_flags_an_overrun(ledger: PostgresLedger) -> None:
    ledger.hold("r1", "ada", Money("1"), at=OCT)
    settled = ledger.settle("r1", event("s1", "ada", "1.50"))
    assert settled.overrun == Money("0.50")
    assert settled.amount == Money("1.50")
    assert ledger.stats(OCT)["overruns"] == 1

    retried = ledger.settle("r1", event("s1", "ada", "1.50"))
    assert retried.replayed
    assert retried.overrun == Money("0.50")

    spend = ledger.month_to_date(OCT)
    assert spend.members["ada"] == spend.total == Decimal("1.50")
    assert held(ledger) == (ZERO, ZERO, ZERO)
    assert ledger.stats(OCT)["overruns"] == 1


def test_settle_below_the_hold_frees_the_rest(ledger: PostgresLedger) -> None:
    ledger.hold("r1", "ada", Money("3"), at=OCT)
    settled = ledger.settle("r1", event("s1", "ada", "0.75"))
    assert settled.overrun is None
    assert ledger.month_to_date(OCT).members["ada"] == Decimal("0.75")
    assert held(ledger) == (ZERO, ZERO, ZERO)


def test_an_operation_that_raises_applies_nothing(ledger: PostgresLedger) -> None:
    ledger.hold("r1", "ada", Money("3"), at=OCT)
    with pytest.raises(ConflictError):
        ledger.settle("r1", event("s1", "bob", "1"))  # bob does not hold r1
    assert held(ledger) == (Decimal(3), Decimal(3), Decimal(3))
    assert ledger.month_to_date(OCT).total == ZERO
    assert ledger.settle("r1", event("s1", "ada", "1")).amount == Money("1")  # still usable


def test_release(ledger: PostgresLedger) -> None:
    ledger.hold("r1", "ada", Money("4"), at=OCT)
    released = ledger.release("r1")
    assert released.amount == Money("4")
    assert held(ledger) == (ZERO, ZERO, ZERO)
    with pytest.raises(UnknownNameError):
        ledger.release("r1")


def test_expired_holds_are_released_and_counted(ledger: PostgresLedger, clock: Clock) -> None:
    ledger.hold("r1", "ada", Money("4"), at=OCT, ttl=timedelta(minutes=1))
    ledger.hold("r2", "bob", Money("2"), at=OCT, ttl=timedelta(minutes=10))
    clock.now += timedelta(minutes=2)
    assert ledger.charge(event("e1", "olga", "1")).recorded  # any operation expires old holds
    assert [hold.request_id for hold in ledger.expired_holds] == ["r1"]
    spend = ledger.month_to_date(OCT)
    assert spend.held_members.get("ada", ZERO) == ZERO
    assert spend.held_members["bob"] == spend.held_total == Decimal(2)
    assert ledger.stats(OCT)["expired_holds"] == 1
    with pytest.raises(UnknownNameError):
        ledger.settle("r1", event("s1", "ada", "1"))

    clock.now += timedelta(minutes=10)
    assert [hold.request_id for hold in ledger.expire()] == ["r2"]
    assert ledger.month_to_date(OCT).held_total == ZERO
    assert ledger.stats(OCT)["expired_holds"] == 2


def test_month_to_date_by_period(ledger: PostgresLedger) -> None:
    ledger.charge(event("oct", "ada", "7", OCT))
    ledger.charge(event("nov", "ada", "19", NOV))  # a new month starts from zero
    ledger.hold("r-nov", "olga", Money("2"), at=NOV)
    october, november = ledger.month_to_date(OCT), ledger.month_to_date(NOV)
    assert october.members == {"ada": Decimal(7)}
    assert october.held_total == ZERO
    assert november.members["ada"] == november.seat_types[CHAT] == Decimal(19)
    assert november.total == Decimal(19)
    assert november.held_members["olga"] == november.held_seat_types[CHAT_AND_CLAUDE_CODE]
    assert november.held_total == Decimal(2)
    assert ledger.month_to_date(datetime(2026, 12, 2, tzinfo=UTC)).total == ZERO
    assert ledger.stats(OCT) == {"overruns": 0, "expired_holds": 0}


def test_reset_empties_the_ledger(ledger: PostgresLedger) -> None:
    ledger.charge(event("e1", "ada", "5"))
    ledger.hold("r1", "ada", Money("1"), at=OCT)
    ledger.reset()
    assert ledger.month_to_date(OCT).total == ledger.month_to_date(OCT).held_total == ZERO
    assert not ledger.charge(event("e1", "ada", "5")).replayed  # the event was forgotten too
    with pytest.raises(UnknownNameError):
        ledger.release("r1")


def test_data_survives_reopening(dsn: str) -> None:
    first = PostgresLedger(dsn, make_org(), PRICES)
    first.charge(event("e1", "ada", "5"))
    first.close()
    second = PostgresLedger(dsn, make_org(), PRICES)
    assert second.month_to_date(OCT).members == {"ada": Decimal(5)}
    assert second.charge(event("e1", "ada", "5")).replayed
    second.close()


# --- schema and migrations --------------------------------------------------------------------


def _versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("SELECT version FROM usagebill_schema ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def test_migrations_are_idempotent(dsn: str) -> None:
    stores = [PostgresStore(dsn) for _ in range(2)]  # the second finds everything in place
    assert [store.schema_version for store in stores] == [SCHEMA_VERSION] * 2
    assert _versions(dsn) == list(range(1, SCHEMA_VERSION + 1))
    for store in stores:
        store.close()


def test_concurrent_openers_do_not_race(dsn: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait()
            PostgresStore(dsn).close()
        except BaseException as error:  # noqa: BLE001  (reported by the assertion)
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _versions(dsn) == list(range(1, SCHEMA_VERSION + 1))


def test_a_newer_schema_refuses_to_open(dsn: str) -> None:
    PostgresStore(dsn).close()
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "INSERT INTO usagebill_schema (version, description) VALUES (%s, 'future')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(InvalidValueError, match="newer"):
        PostgresStore(dsn)


def test_without_migrate_a_store_only_checks(dsn: str) -> None:
    with pytest.raises(InvalidValueError, match="migrate=True"):
        PostgresStore(dsn, migrate=False)
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT to_regclass('usagebill_schema')").fetchone() == (None,)
    PostgresStore(dsn).close()
    checked = PostgresStore(dsn, migrate=False)
    assert checked.schema_version == SCHEMA_VERSION
    checked.close()


def test_a_missing_organization_lock_is_an_error(ledger: PostgresLedger, dsn: str) -> None:
    with psycopg.connect(dsn) as connection:
        connection.execute("DELETE FROM usagebill_organizations WHERE organization = 'acme'")
    with pytest.raises(InvalidValueError, match="usagebill_organizations"):
        ledger.charge(event("e1", "ada", "1"))


# --- connections ------------------------------------------------------------------------------


def test_a_broken_connection_is_replaced(ledger: PostgresLedger, server_dsn: str) -> None:
    ledger.charge(event("e1", "ada", "1"))
    backend = ledger.store._connection().info.backend_pid
    with _admin(server_dsn) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(psycopg.OperationalError):
        ledger.charge(event("e2", "ada", "1"))  # the caller learns of it, and may retry
    assert ledger.charge(event("e2", "ada", "1")).recorded
    assert ledger.store._connection().info.backend_pid != backend
    assert ledger.month_to_date(OCT).members == {"ada": Decimal(2)}


def test_one_connection_per_thread(ledger: PostgresLedger) -> None:
    """Eight threads race 400 charges of one ledger: caps hold, nothing is lost."""
    results: list[tuple[str, Decimal, bool]] = []
    guard = threading.Lock()
    barrier = threading.Barrier(8)
    pids: set[int] = set()

    def work(worker: int) -> None:
        barrier.wait()
        pids.add(ledger.store._connection().info.backend_pid)
        rng = random.Random(worker)  # noqa: S311  (seeded test data)
        for number in range(50):
            user = rng.choice(["ada", "bob", "olga", "cy"])
            charge = event(f"t{worker}-{number}", user, f"{rng.randint(1, 80) / 100:.2f}")
            result = ledger.charge(charge)
            with guard:
                results.append((user, result.amount.amount, result.recorded))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 400
    assert len(pids) == 8
    spend = ledger.month_to_date(OCT)
    assert spend.total == sum((amount for _, amount, ok in results if ok), ZERO)
    assert spend.members.get("ada", ZERO) <= 20
    assert spend.seat_types.get(CHAT, ZERO) <= 30
    assert spend.total <= 100


def _run_threads(count: int, work: Any) -> list[BaseException]:
    """Run ``work(number)`` in ``count`` threads started together; the errors they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(number: int) -> None:
        barrier.wait()
        try:
            work(number)
        except BaseException as error:  # noqa: BLE001  (the test looks at them)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_one_hold_released_by_many_threads_is_released_once(ledger: PostgresLedger) -> None:
    for round_ in range(5):
        ledger.hold(f"r{round_}", "ada", Money("3"), at=OCT)
        errors = _run_threads(6, lambda _, request=f"r{round_}": ledger.release(request))
        assert len(errors) == 5
        assert all(isinstance(error, UnknownNameError) for error in errors)
        assert held(ledger) == (ZERO, ZERO, ZERO)  # never below zero


def test_cross_period_settlements_and_expiries_never_deadlock(
    ledger: PostgresLedger, clock: Clock
) -> None:
    """Threads settle October holds with November usage and back, while holds expire.

    With locks taken only on each path's counters, in path order, two such
    transactions could each hold one month's rows and wait for the other's.
    """
    clock.now = datetime(2026, 11, 1, tzinfo=UTC)
    months = (datetime(2026, 10, 31, 23, 59, tzinfo=UTC), datetime(2026, 11, 1, 0, 1, tzinfo=UTC))

    settled: list[str] = []

    def work(worker: int) -> None:
        for number in range(30):
            taken, used = months[(worker + number) % 2], months[(worker + number + 1) % 2]
            request = f"w{worker}-{number}"
            ttl = timedelta(microseconds=1) if number % 5 == 0 else timedelta(hours=1)
            if ledger.hold(request, "olga", Money("0.10"), at=taken, ttl=ttl).hold is None:
                continue
            clock.now += timedelta(microseconds=2)  # short holds expire, by the next operation
            try:
                ledger.settle(request, event(f"s-{request}", "olga", "0.05", used))
                settled.append(request)
            except UnknownNameError:
                pass  # it expired, and some thread released it

    assert _run_threads(6, work) == []
    october, november = ledger.month_to_date(months[0]), ledger.month_to_date(months[1])
    assert october.held_total == november.held_total == ZERO
    assert settled
    assert october.total + november.total == Decimal("0.05") * len(settled)
    assert ledger.stats(months[0])["expired_holds"] + ledger.stats(months[1])["expired_holds"]


def _forked_child(dsn: str, queue: Any) -> None:
    # Runs in a fork of the test process; the store was opened (and used) by the parent.
    store = _FORKED["store"]
    with store.transaction() as tx:
        tx.count("forked", "2026-10")
    queue.put(store._connection().info.backend_pid)


_FORKED: dict[str, PostgresStore] = {}


def test_a_forked_child_opens_its_own_connection(dsn: str) -> None:
    store = PostgresStore(dsn)
    _FORKED["store"] = store
    parent_pid = store._connection().info.backend_pid
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forked_child, args=(dsn, queue))
    child.start()
    child_pid = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert child_pid != parent_pid
    # The parent's connection still works, and sees what the child committed.
    assert store._connection().info.backend_pid == parent_pid
    assert store.stats("2026-10") == {"forked": 1}
    store.close()
    _FORKED.clear()


def test_after_a_fork_the_parents_connections_are_left_alone(dsn: str) -> None:
    """What the forked child does, in this process (whose coverage is measured)."""
    store = PostgresStore(dsn)
    inherited = store._connection()
    store._connections._pid = -1  # as if this process were a fork of process -1
    fresh = store._connection()
    assert fresh is not inherited
    assert store._connections._inherited == [inherited]
    assert not inherited.closed
    store.close()
    assert fresh.closed
    assert not inherited.closed  # a child must never close (terminate) its parent's sessions
    inherited.close()


def test_import_without_psycopg_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import usagebill.ledger as ledger\n"
        "print(ledger.SqliteLedger.__name__)\n"
        "try:\n"
        "    ledger.PostgresLedger\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run(  # noqa: S603  (our own interpreter, our own code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "SqliteLedger",
        "usagebill.ledger.postgres needs psycopg 3: pip install 'usagebill[postgres]'",
    ]


def test_the_package_exports_the_postgres_ledger_lazily() -> None:
    import usagebill.ledger as package  # noqa: PLC0415

    assert package.PostgresLedger is PostgresLedger
    assert package.PostgresStore is PostgresStore
    with pytest.raises(AttributeError, match="Nothing"):
        _ = package.Nothing


# --- many processes race ----------------------------------------------------------------------

RACE_USERS = ("u0", "u1", "u2", "u3")
RACE_CAPS = {"u0": Decimal(40), CHAT: Decimal(70), "org": Decimal(120)}


def race_org() -> Organization:
    """u0, u1 on Chat; u2, u3 on Chat + Claude Code; u0 40, Chat pool 70, organization 120."""
    people = [Member("owner", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    people += [
        Member(u, "member", CHAT if i < 2 else CHAT_AND_CLAUDE_CODE)
        for i, u in enumerate(RACE_USERS)
    ]
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money("120")),
        seat_types={CHAT: PoolLimit(pool_cap=Money("70"))},
        members={"u0": Money("40")},
    )
    return Organization.create("race", CATALOGUE, people, at=START, limits=limits)


def race_event(event_id: str) -> UsageEvent:
    """The same content for the same id, in every process."""
    rng = random.Random(event_id)  # noqa: S311  (seeded test data)
    return event(event_id, rng.choice(RACE_USERS), f"{rng.randint(1, 40) / 100:.2f}")


def race_worker(dsn: str, worker: int, charges: int, barrier: Any, queue: Any) -> None:
    """A child process (spawn): charge as fast as it can, then report every outcome."""
    try:
        ledger = PostgresLedger(dsn, race_org(), PRICES)
        barrier.wait(timeout=120)
        outcomes = []
        for number in range(charges):
            # One charge in ten is also sent by the other workers: it must count once.
            event_id = f"shared-{number // 10}" if number % 10 == 0 else f"w{worker}-{number}"
            result = ledger.charge(race_event(event_id))
            outcomes.append((event_id, str(result.amount.amount), result.recorded, result.replayed))
        ledger.close()
        queue.put((worker, outcomes, None))
    except BaseException as error:
        queue.put((worker, [], repr(error)))
        raise


def test_processes_racing_near_the_caps_never_overshoot(dsn: str) -> None:
    """4 processes race 2,000 charges worth ~4× the organization cap: no level passes its cap."""
    PostgresStore(dsn).close()  # migrate once, so the workers only race on charges
    context = multiprocessing.get_context("spawn")
    workers, charges = 4, 500
    barrier, queue = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=race_worker, args=(dsn, worker, charges, barrier, queue))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(60)
    assert [error for _, _, error in reports if error] == []
    assert [process.exitcode for process in processes] == [0] * workers

    outcomes = [outcome for _, worker_outcomes, _ in reports for outcome in worker_outcomes]
    assert len(outcomes) == workers * charges
    first_time = [o for o in outcomes if not o[3]]
    assert len({event_id for event_id, *_ in first_time}) == len(first_time)  # each id once
    accepted = [
        (race_event(event_id), Decimal(amount)) for event_id, amount, ok, _ in first_time if ok
    ]
    denied = [o for o in first_time if not o[2]]
    assert accepted
    assert denied  # the caps were reached

    ledger = PostgresLedger(dsn, race_org(), PRICES)
    spend = ledger.month_to_date(OCT)
    ledger.close()
    assert spend.total == sum((amount for _, amount in accepted), ZERO)
    for user in RACE_USERS:
        mine = sum((amount for usage, amount in accepted if usage.user_id == user), ZERO)
        assert spend.members.get(user, ZERO) == mine
    assert spend.seat_types.get(CHAT, ZERO) == spend.members.get("u0", ZERO) + spend.members.get(
        "u1", ZERO
    )
    # Zero overshoot, at every level.
    assert spend.members.get("u0", ZERO) <= RACE_CAPS["u0"]
    assert spend.seat_types.get(CHAT, ZERO) <= RACE_CAPS[CHAT]
    assert spend.total <= RACE_CAPS["org"]
    assert spend.held_total == ZERO
    # Near the cap: the organization is within the largest charge of its cap.
    assert spend.total > RACE_CAPS["org"] - Decimal("0.40")
