"""The ledger as the system of record: what it charged is what it invoices, byte for byte.

* the seat of a charge is the one held at the event's instant, not the member's seat now;
* over generated months (retries, conflicts, seat changes mid-day, a price change mid-month,
  tiers at and over their threshold, failed requests under each policy, events outside the
  period, four time zones), ``ledger.invoice(period)`` is the JSON, to the byte, of
  ``build_invoice`` on the events the ledger accepted; the store's GROUP BY gives the pure
  engine's cube; month-to-date summed from the records is the counters' committed spend;
* the exported events bill the same invoice;
* one SQLite file (one PostgreSQL database) keeps many organizations apart;
* a version-1 store (one organization, fingerprints only) upgrades with its data kept.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import SONNET, event, member, organization
from ledger_support import DSN_VARIABLE, figures, postgres_skip_reason, store_params
from usage_months import changing_month, months
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    BillingPeriod,
    ConflictError,
    InvoiceBuilder,
    Money,
    Organization,
    Product,
    UsageBillError,
    UsageEvent,
    build_invoice,
)
from usagebill.billing.cube import UsageCube
from usagebill.billing.dimensions import billed_columns
from usagebill.ledger import ChargeResult, Hold, Ledger, MemoryLedger, SqliteLedger
from usagebill.ledger.core import dump_json, legacy_fingerprint
from usagebill.ledger.sqlite import SCHEMA_V1, SCHEMA_VERSION, SqliteStore

OCTOBER = BillingPeriod.of("2026-10")
RECORD_RUNS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def open_store(kind: str, org: Organization, path: Path) -> Ledger:
    """A ledger of ``kind`` with the built-in prices (PostgreSQL emptied for ``org``)."""
    if kind == "memory":
        return MemoryLedger(org)
    if kind == "sqlite":
        return SqliteLedger(path, org)
    from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

    ledger = PostgresLedger(os.environ[DSN_VARIABLE], org)
    ledger.reset()
    return ledger


@pytest.fixture(params=store_params())
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def moved_on_the_14th() -> Organization:
    """ada on Chat from September, on Chat + Claude Code from 14 October."""
    org = organization(member("ada", CHAT))
    return org.assign_seat("olga", datetime(2026, 10, 14, tzinfo=UTC), "ada", CHAT_AND_CLAUDE_CODE)[
        0
    ]


def test_an_event_counts_toward_the_seat_held_at_its_instant(kind: str, tmp_path: Path) -> None:
    """ada's request of 10 October, charged after she moved up on the 14th: 1,000,000 input
    tokens of Sonnet 4.6, 3.00 USD, in Chat's pool and on Chat's invoice line."""
    ledger = open_store(kind, moved_on_the_14th(), tmp_path / "ledger.db")
    try:
        usage = event("e1", "ada", SONNET, at=datetime(2026, 10, 10, 9, tzinfo=UTC),
                      input_tokens=1_000_000)  # fmt: skip
        result = ledger.charge(usage)
        assert (result.decision.seat_type, result.amount) == (CHAT, Money("3"))
        spend = ledger.month_to_date(usage.at)
        assert spend.seat_types == {CHAT: Decimal(3)}
        invoice = ledger.invoice("2026-10")
        assert [(line.seat_type, line.amount) for line in invoice.usage_lines] == [
            (CHAT, Money("3.00"))
        ]
        assert invoice.to_json() == build_invoice(ledger.org, [usage], OCTOBER).to_json()
    finally:
        ledger.close()


def accept(ledger: Ledger, events: list[UsageEvent], settle_every: int) -> list[UsageEvent]:
    """Charge (or hold and settle, every ``settle_every``-th) each event; those recorded."""
    accepted: dict[str, UsageEvent] = {}
    for number, usage in enumerate(events):
        try:
            if number % settle_every == 0:
                request = f"r-{usage.event_id}"
                ledger.hold(request, usage.user_id, Money("1"), at=usage.at)
                ledger.settle(request, usage)
                recorded = True
            else:
                recorded = ledger.charge(usage).recorded
        except ConflictError:
            continue  # another version of an id already recorded: refused, nothing applied
        except UsageBillError:
            continue  # no seat held at the instant, or the hold's request was settled before
        if recorded:
            accepted.setdefault(usage.event_id, usage)
    return list(accepted.values())


def check_agreement(ledger: Ledger, org: Organization, period: BillingPeriod,
                    accepted: list[UsageEvent]) -> None:  # fmt: skip
    """The ledger's cube, invoice and month-to-date against the events it accepted in period."""
    accepted = [usage for usage in accepted if period.start <= usage.at < period.end]
    expected = InvoiceBuilder(org, period).add_all(accepted).cube()
    assert ledger.cube(period) == expected
    if not isinstance(ledger, MemoryLedger):  # the usage table agrees with its events
        unbilled = tuple(not billed for billed in billed_columns(org.failure_policy))
        rows = ledger.store.usage_rows(period.label, unbilled, from_events=True)  # type: ignore[call-arg]
        assert UsageCube.from_rows(org.name, period, expected.price_table, rows) == expected
    invoice = ledger.invoice(period)
    assert invoice.to_json() == build_invoice(org, accepted, period).to_json()
    at = period.start + timedelta(days=1)
    assert figures(ledger.recorded_spend(at)) == figures(
        attrs.evolve(ledger.month_to_date(at), held_members={}, held_seat_types={},
                     held_total=Decimal(0))
    )  # fmt: skip


@RECORD_RUNS
@given(month=months(), settle_every=st.sampled_from([1, 3, 1_000]))
def test_the_ledger_invoices_what_it_charged(month, settle_every, tmp_path_factory) -> None:
    """Memory and SQLite: the invoice of the ledger is the invoice of its accepted events."""
    org, period, events = month
    for kind in ("memory", "sqlite"):
        ledger = open_store(kind, org, tmp_path_factory.mktemp(kind) / "ledger.db")
        try:
            accepted = accept(ledger, events, settle_every)
            check_agreement(ledger, org, period, accepted)
        finally:
            ledger.close()


@pytest.mark.skipif(postgres_skip_reason() is not None, reason=str(postgres_skip_reason()))
@settings(RECORD_RUNS, max_examples=15)
@given(month=months(), settle_every=st.sampled_from([1, 3, 1_000]))
def test_the_postgres_ledger_invoices_what_it_charged(month, settle_every) -> None:
    org, period, events = month
    ledger = open_store("postgres", org, Path())
    try:
        check_agreement(ledger, org, period, accept(ledger, events, settle_every))
    finally:
        ledger.close()


def test_a_worked_month_exported_and_billed_again(tmp_path: Path) -> None:
    """Four events: e1 retried (counted once), e2 in another version (refused), e3 in
    November (another period). The export of October bills October's invoice again."""
    org, period, _ = changing_month("UTC")
    at = period.start + timedelta(days=2)
    e1 = event("e1", "olga", SONNET, at=at, input_tokens=1_000)
    e2 = event("e2", "olga", SONNET, at=at, output_tokens=10)
    e3 = event("e3", "olga", SONNET, at=period.end + timedelta(hours=1), input_tokens=5)
    ledger = SqliteLedger(tmp_path / "ledger.db", org)
    for usage in (e1, e1, e2, e3):
        ledger.charge(usage)
    with pytest.raises(ConflictError, match="different content"):
        ledger.charge(attrs.evolve(e2, usage=e2.usage.__class__(output_tokens=11)))
    assert list(ledger.events(period)) == [e1, e2]
    assert [one.event_id for one in ledger.events()] == ["e1", "e2", "e3"]
    path = tmp_path / "october.jsonl"
    assert ledger.export_events(path, period) == 2
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ["e1", "e2"]
    again = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    assert build_invoice(org, again, period).to_json() == ledger.invoice(period).to_json()
    ledger.close()


def test_parquet_export_reads_back(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    ledger = MemoryLedger(organization())
    ledger.charge(event("e1", "ada", SONNET, input_tokens=7))
    assert ledger.export_events(tmp_path / "events.parquet") == 1
    table = pq.read_table(tmp_path / "events.parquet").to_pylist()
    assert [(row["event_id"], row["input_tokens"], row["batch"]) for row in table] == [
        ("e1", 7, False)
    ]


# --- many organizations in one store ------------------------------------------------------


def test_one_sqlite_file_keeps_many_organizations_apart(tmp_path: Path) -> None:
    """acme and globex share a file and event ids: each sees only its own."""
    acme, globex = organization(), organization(name="globex")
    path = tmp_path / "ledger.db"
    first, second = SqliteLedger(path, acme), SqliteLedger(path, globex)
    usage = event("e1", "ada", SONNET, input_tokens=1_000_000)
    assert first.charge(usage).amount == Money("3")
    assert not second.charge(attrs.evolve(usage, usage=usage.usage.__class__(input_tokens=2)))\
        .replayed  # fmt: skip
    assert first.month_to_date(usage.at).total == Decimal(3)
    assert second.month_to_date(usage.at).total == Decimal("0.000006")
    assert [line.amount for line in first.invoice(OCTOBER).usage_lines] == [Money("3.00")]
    shared = first.store.for_organization("globex")
    assert shared.spend("2026-10", "USD").total == Decimal("0.000006")
    first.close()
    second.close()


# --- the upgrade of a version-1 store ------------------------------------------------------


def test_a_version_1_sqlite_file_upgrades_with_its_data(tmp_path: Path) -> None:
    """A file written by version 1 (counters, a charge's fingerprint and outcome, a hold kept
    as JSON, a statistic) opens with this code: everything is kept under the organization
    that opens it (the hold, released, is the same), a retry of the old charge replays,
    another version of it is a conflict."""
    org = organization()
    old = event("old-1", "ada", SONNET, input_tokens=1_000_000)
    outcome = MemoryLedger(org).charge(old)
    held = Hold("old-r", "ada", CHAT_AND_CLAUDE_CODE, "2026-10", Money("1.25"), Product.CHAT,
                datetime(2030, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC))  # fmt: skip
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_V1)
        connection.execute("INSERT INTO usagebill_meta VALUES ('schema_version', '1')")
        for level, key in (("user", "ada"), ("seat", CHAT_AND_CLAUDE_CODE), ("org", "")):
            connection.execute("INSERT INTO counters VALUES ('2026-10', ?, ?, '3', '1.25')",
                               (level, key))  # fmt: skip
        connection.execute(
            "INSERT INTO events VALUES (?, ?, ?)",
            ("old-1", legacy_fingerprint(old), dump_json(outcome)),
        )
        connection.execute("INSERT INTO stats VALUES ('2026-10', 'overruns', 2)")
        connection.execute(
            "INSERT INTO holds VALUES (?, ?, ?)",
            ("old-r", dump_json(held), held.expires_at.timestamp()),
        )
    connection.close()
    ledger = SqliteLedger(path, org)
    assert ledger.release("old-r") == held
    assert ledger.month_to_date(old.at).members == {"ada": Decimal(3)}
    assert ledger.stats(old.at)["overruns"] == 2
    assert ledger.charge(old) == attrs.evolve(outcome, replayed=True)
    with pytest.raises(ConflictError):
        ledger.charge(attrs.evolve(old, model="claude-haiku-4-5"))
    assert ledger.charge(event("new-1", "ada", SONNET, input_tokens=1)).recorded
    assert [one.event_id for one in ledger.events()] == ["new-1"]
    ledger.close()
    with sqlite3.connect(path) as connection:
        version = connection.execute(
            "SELECT value FROM usagebill_meta WHERE key = 'schema_version'"
        ).fetchone()
    connection.close()
    assert version == (str(SCHEMA_VERSION),)
    assert SqliteStore(path, organization="acme").spend("2026-10", "USD").total == Decimal(
        "3.000003"
    )


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """The test server's DSN with a fresh schema of its own (dropped afterwards)."""
    reason = postgres_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    import psycopg  # noqa: PLC0415

    base = os.environ[DSN_VARIABLE]
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute("DROP SCHEMA IF EXISTS upgrade_test CASCADE")
        admin.execute("CREATE SCHEMA upgrade_test")
    yield f"{base}?options=-csearch_path%3Dupgrade_test"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute("DROP SCHEMA upgrade_test CASCADE")


def test_a_version_1_postgres_database_upgrades_with_its_data(pg_dsn: str) -> None:
    import psycopg  # noqa: PLC0415

    from usagebill.ledger.postgres import MIGRATIONS, PostgresLedger  # noqa: PLC0415

    org = organization()
    old = event("old-1", "ada", SONNET, input_tokens=1_000_000)
    outcome = MemoryLedger(org).charge(old)
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE usagebill_schema (version integer PRIMARY KEY, description text NOT"
            " NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for statement in MIGRATIONS[0][2]:
            connection.execute(statement)
        connection.execute("INSERT INTO usagebill_schema VALUES (1, 'v1')")
        for level, key in (("user", "ada"), ("seat", CHAT_AND_CLAUDE_CODE), ("org", "")):
            connection.execute(
                "INSERT INTO usagebill_counters VALUES ('2026-10', %s, %s, 3, 0)", (level, key)
            )
        connection.execute(
            "INSERT INTO usagebill_events (event_id, fingerprint, outcome) VALUES (%s, %s, %s)",
            ("old-1", legacy_fingerprint(old), dump_json(outcome)),
        )
    ledger = PostgresLedger(pg_dsn, org)
    try:
        assert ledger.month_to_date(old.at).members == {"ada": Decimal(3)}
        assert ledger.charge(old) == attrs.evolve(outcome, replayed=True)
        with pytest.raises(ConflictError):
            ledger.charge(attrs.evolve(old, model="claude-haiku-4-5"))
        other = PostgresLedger(ledger.store, organization(name="globex"))
        assert other.month_to_date(old.at).total == 0
        assert other.charge(old).recorded  # the same id, another organization
        assert ledger.month_to_date(old.at).total == Decimal(3)
    finally:
        ledger.close()


def test_outcomes_replay_from_their_columns(tmp_path: Path) -> None:
    """An allowed charge without notifications is rebuilt from its headroom column, and
    equals the first answer."""
    ledger = SqliteLedger(tmp_path / "ledger.db", organization())
    first = ledger.charge(event("e1", "ada", SONNET, input_tokens=10))
    assert isinstance(first, ChargeResult)
    assert ledger.charge(event("e1", "ada", SONNET, input_tokens=10)) == attrs.evolve(
        first, replayed=True
    )
    ledger.close()


def test_postgres_organizations_wait_only_for_themselves(pg_dsn: str) -> None:
    """While acme's row is locked, globex charges at once; acme's charge waits for the lock."""
    import threading  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

    acme = PostgresLedger(pg_dsn, organization())
    globex = PostgresLedger(acme.store, organization(name="globex"))
    done: dict[str, bool] = {}

    def charge(ledger: Ledger, name: str) -> None:
        done[name] = ledger.charge(event(f"{name}-1", "ada", SONNET, input_tokens=5)).recorded

    with psycopg.connect(pg_dsn) as blocker:
        blocker.execute(
            "SELECT 1 FROM usagebill_organizations WHERE organization = 'acme' FOR UPDATE"
        )
        waiting = threading.Thread(target=charge, args=(acme, "acme"))
        waiting.start()
        other = threading.Thread(target=charge, args=(globex, "globex"))
        other.start()
        other.join(timeout=10)
        assert done == {"globex": True}
        blocker.rollback()
    waiting.join(timeout=10)
    assert done == {"globex": True, "acme": True}
    acme.close()


def test_the_command_line_bills_a_ledger(tmp_path: Path) -> None:
    """``usagebill invoice --ledger sqlite:///…`` prints the invoice of the ledger's events,
    the same as ``--events`` of their export; a missing file or an odd URL is an error."""
    import io  # noqa: PLC0415

    from usagebill.cli import main  # noqa: PLC0415

    org_file = "examples/org.toml"
    org = Organization.from_file(org_file)
    ledger = SqliteLedger(tmp_path / "ledger.db", org)
    with Path("examples/usage-2026-10.jsonl").open(encoding="utf-8") as lines:
        for line in list(lines)[:1_500]:
            ledger.charge(UsageEvent.from_dict(json.loads(line)))
    exported = tmp_path / "events.jsonl"
    assert ledger.export_events(exported, "2026-10") > 500  # the others were denied by caps
    ledger.close()

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = main(["invoice", "--org", org_file, "--period", "2026-10", *argv], out, err)
        return status, out.getvalue(), err.getvalue()

    from_ledger = run("--ledger", f"sqlite:///{tmp_path / 'ledger.db'}", "--format", "json")
    from_events = run("--events", str(exported), "--format", "json")
    assert from_ledger == from_events
    assert from_ledger[0] == 0
    assert run("--ledger", f"sqlite:///{tmp_path / 'none.db'}")[2].endswith("no such SQLite file\n")
    assert "must be sqlite:///PATH" in run("--ledger", "mysql://x")[2]
    assert "one of them" in run()[2]


def test_a_batch_settles_against_one_hold_and_is_recorded(kind: str, tmp_path: Path) -> None:
    """ada holds 10.00; a batch of 3.00 and 6.00 (1M and 2M input tokens of Sonnet 4.6)
    leaves 1.00 held; a second batch of 3.00 passes what is left by 2.00 (an overrun) and
    releases the hold. A retry of an event under another hold replays; a charge of its id
    conflicts. Every event is on the invoice."""
    ledger = open_store(kind, organization(), tmp_path / "ledger.db")
    at = datetime(2026, 10, 3, 12, tzinfo=UTC)

    def usage(event_id: str, millions: int) -> UsageEvent:
        return event(event_id, "ada", SONNET, at=at, input_tokens=millions * 1_000_000)

    try:
        hold = ledger.hold("lease-1", "ada", Money("10"), at=at).hold
        assert hold is not None
        first = ledger.settle_batch(hold, [usage("b1", 1), usage("b2", 2)])
        assert [result.amount for result in first] == [Money("3"), Money("6")]
        spend = ledger.month_to_date(at)
        assert (spend.members["ada"], spend.held_members["ada"]) == (Decimal(9), Decimal(1))
        second = ledger.settle_batch(hold, [usage("b3", 1)], release=True)
        assert (second[0].held, second[0].overrun) == (Money("1"), Money("2"))
        assert ledger.month_to_date(at).held_total == 0
        other = ledger.hold("lease-2", "ada", Money("1"), at=at).hold
        assert other is not None
        again = ledger.settle_batch(other, [usage("b1", 1)])
        assert again == [attrs.evolve(first[0], replayed=True)]
        with pytest.raises(ConflictError):
            ledger.charge(usage("b2", 2))
        assert ledger.stats(at)["overruns"] == 1
        assert [one.event_id for one in ledger.events()] == ["b1", "b2", "b3"]
        assert ledger.invoice(OCTOBER).events == 3
    finally:
        ledger.close()
