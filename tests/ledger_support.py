"""What the ledger tests share: an organization, a price table in cents, stores, checks.

* :data:`PRICES` has one model, ``unit``, whose input tokens cost one cent each, so
  ``event("e1", "ada", "5.25", at)`` is a usage of 525 tokens that costs exactly 5.25 USD.
* :func:`open_ledger` opens a ledger of any kind (memory, SQLite, PostgreSQL) the same way;
  :func:`store_params` gives them as pytest parameters, PostgreSQL skipped with its reason
  unless ``usagebill.ledger.postgres`` imports and ``USAGEBILL_TEST_POSTGRES_DSN`` is set.
* :func:`figures` is a Spend without its zero entries (stores may keep rows that went back
  to zero), for comparing month-to-date spend with hand-worked figures or a model.
* The ``*_worker`` functions run in child processes (``spawn``): they live here, in a module
  the child imports cheaply, and take only plain arguments.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
    Spend,
    SpendLimits,
    TokenUsage,
    UnknownNameError,
    UsageEvent,
)
from usagebill.accounts.limits import DEFAULT_THRESHOLDS
from usagebill.caps.decision import Level
from usagebill.ledger import DEFAULT_HOLD_TTL, Ledger, MemoryLedger, SqliteLedger
from usagebill.pricing.prices import ModelListing, ModelPrice, Rates

ZERO = Decimal(0)
START = datetime(2026, 10, 1, tzinfo=UTC)
OCT = datetime(2026, 10, 15, 12, tzinfo=UTC)
NOV = datetime(2026, 11, 15, 12, tzinfo=UTC)
DSN_VARIABLE = "USAGEBILL_TEST_POSTGRES_DSN"
KINDS = ("memory", "sqlite", "postgres")

PRICES = PriceTable(
    "cents-1",
    {
        "unit": ModelListing(
            (
                ModelPrice(
                    Rates(
                        input=Decimal(10_000),
                        output=ZERO,
                        cache_write_5m=ZERO,
                        cache_write_1h=ZERO,
                        cache_read=ZERO,
                    )
                ),
            )
        )
    },
)
"""One model, ``unit``: 10,000 USD per million input tokens, i.e. one cent a token."""

CATALOGUE = SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
PEOPLE = (
    Member("olga", "primary_owner", CHAT_AND_CLAUDE_CODE),
    Member("ada", "member", CHAT),
    Member("bob", "member", CHAT),
    Member("cy", "member", CHAT_AND_CLAUDE_CODE),
)


def usd(amount: str | int | Decimal) -> Money:
    return Money(amount)


def make_org(
    *,
    org_cap: str | None = "100",
    chat_pool: str | None = "30",
    code_pool: str | None = None,
    members: dict[str, str] | None = None,
    timezone: str = "UTC",
    thresholds: Iterable[Decimal] = DEFAULT_THRESHOLDS,
    people: Iterable[Member] = PEOPLE,
) -> Organization:
    """acme: olga (primary owner) and cy on Chat + Claude Code, ada and bob on Chat.

    By default: organization pool cap 100, Chat pool cap 30, ada 20, bob 25.
    """
    caps = {"ada": "20", "bob": "25"} if members is None else members
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=None if org_cap is None else usd(org_cap)),
        seat_types={
            CHAT: PoolLimit(pool_cap=None if chat_pool is None else usd(chat_pool)),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=None if code_pool is None else usd(code_pool)),
        },
        members={user: usd(cap) for user, cap in caps.items()},
    )
    return Organization.create(
        "acme",
        CATALOGUE,
        people,
        at=START,
        limits=limits,
        timezone=timezone,
        thresholds=thresholds,
    )


def cents(amount: str | Decimal) -> int:
    value = Decimal(amount) * 100
    if value != value.to_integral_value():
        msg = f"{amount} is not a whole number of cents"
        raise ValueError(msg)
    return int(value)


def event(
    event_id: str,
    user_id: str,
    amount: str | Decimal,
    at: datetime = OCT,
    product: Product = Product.CHAT,
) -> UsageEvent:
    """A usage that costs exactly ``amount`` USD under :data:`PRICES`."""
    return UsageEvent(
        event_id, user_id, "unit", product, TokenUsage(input_tokens=cents(amount)), at
    )


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = OCT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


# --- stores ---------------------------------------------------------------------------------


def postgres_skip_reason() -> str | None:
    """Why PostgreSQL is not tested here, or None when it is."""
    try:
        import usagebill.ledger.postgres  # noqa: F401, PLC0415
    except ImportError as error:
        return (
            f"PostgreSQL ledger NOT TESTED: usagebill.ledger.postgres does not import ({error}); "
            "install usagebill[postgres]"
        )
    if not os.environ.get(DSN_VARIABLE):
        return f"PostgreSQL ledger NOT TESTED: set {DSN_VARIABLE} to a database it may truncate"
    return None


def store_params(kinds: Iterable[str] = KINDS) -> list[Any]:
    """The store kinds as pytest parameters; PostgreSQL carries a skip mark when unavailable."""
    params = []
    for kind in kinds:
        reason = postgres_skip_reason() if kind == "postgres" else None
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(kind, id=kind, marks=marks))
    return params


def open_ledger(
    kind: str,
    org: Organization,
    path: str | Path | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    hold_ttl: timedelta = DEFAULT_HOLD_TTL,
    fresh: bool = False,
) -> Ledger:
    """A ledger of ``kind``; ``path`` is the SQLite file; ``fresh`` empties a PostgreSQL one."""
    if kind == "memory":
        return MemoryLedger(org, PRICES, clock=clock, hold_ttl=hold_ttl)
    if kind == "sqlite":
        if path is None:
            msg = "a SQLite ledger needs a path"
            raise ValueError(msg)
        return SqliteLedger(path, org, PRICES, clock=clock, hold_ttl=hold_ttl)
    if kind == "postgres":
        from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

        ledger: Ledger = PostgresLedger(
            os.environ[DSN_VARIABLE], org, PRICES, clock=clock, hold_ttl=hold_ttl
        )
        if fresh:
            ledger.store.reset()  # type: ignore[attr-defined]
        return ledger
    msg = f"unknown store kind {kind!r}"
    raise ValueError(msg)


# --- reading spend --------------------------------------------------------------------------


def _nonzero(amounts: Any) -> dict[str, Decimal]:
    return {key: value for key, value in amounts.items() if value}


def figures(spend: Spend) -> dict[str, Any]:
    """A Spend as plain dicts without zero entries: committed and held, by user and seat type."""
    return {
        "members": _nonzero(spend.members),
        "seat_types": _nonzero(spend.seat_types),
        "total": spend.total,
        "held_members": _nonzero(spend.held_members),
        "held_seat_types": _nonzero(spend.held_seat_types),
        "held_total": spend.held_total,
    }


def committed(
    members: dict[str, str] | None = None, seat_types: dict[str, str] | None = None
) -> dict[str, Any]:
    """Hand-worked figures with nothing held: ``figures()`` of the expected spend."""
    users_d = {k: Decimal(v) for k, v in (members or {}).items() if Decimal(v)}
    seats_d = {k: Decimal(v) for k, v in (seat_types or {}).items() if Decimal(v)}
    return {
        "members": users_d,
        "seat_types": seats_d,
        "total": sum(users_d.values(), ZERO),
        "held_members": {},
        "held_seat_types": {},
        "held_total": ZERO,
    }


def assert_consistent(spend: Spend) -> None:
    """Organization total == Σ users == Σ seat types, committed and held; nothing negative."""
    assert spend.total == sum(spend.members.values(), ZERO) == sum(spend.seat_types.values(), ZERO)
    assert (
        spend.held_total
        == sum(spend.held_members.values(), ZERO)
        == sum(spend.held_seat_types.values(), ZERO)
    )
    for amounts in (spend.members, spend.seat_types, spend.held_members, spend.held_seat_types):
        assert all(value >= 0 for value in amounts.values())


Scope = tuple[Level, str]


def used_by(spend: Spend, scope: Scope) -> Decimal:
    """Committed + held of one scope (a member, a seat type's pool, the organization)."""
    level, subject = scope
    if level is Level.MEMBER:
        return spend.members.get(subject, ZERO) + spend.held_members.get(subject, ZERO)
    if level is Level.SEAT_TYPE:
        return spend.seat_types.get(subject, ZERO) + spend.held_seat_types.get(subject, ZERO)
    return spend.total + spend.held_total


def caps_in_force(org: Organization) -> dict[Scope, Decimal | None]:
    """Every scope of the organization with its cap (None: no cap), from the written rules."""
    result: dict[Scope, Decimal | None] = {}
    for user_id, member in org.members.items():
        cap = org.limits.effective(user_id, member.seat_type).cap
        result[Level.MEMBER, user_id] = None if cap is None else cap.amount
    for seat_type in org.catalog.seat_types:
        pool = org.limits.seat_type(seat_type).pool_cap
        result[Level.SEAT_TYPE, seat_type] = None if pool is None else pool.amount
    org_cap = org.limits.organization.pool_cap
    result[Level.ORGANIZATION, org.name] = None if org_cap is None else org_cap.amount
    return result


def overshoot(org: Organization, spend: Spend) -> dict[Scope, Decimal]:
    """Each scope whose committed + held passes its cap, with by how much."""
    return {
        scope: used_by(spend, scope) - cap
        for scope, cap in caps_in_force(org).items()
        if cap is not None and used_by(spend, scope) > cap
    }


# --- child processes ------------------------------------------------------------------------

STRESS_USERS = tuple(f"u{i}" for i in range(8))


def stress_org(operations: int = 10_000) -> Organization:
    """Eight members over two seat types, caps at every level that the racing work exceeds.

    The caps grow with the number of operations, so that about a third of the way through
    every level is full, and the rest of the run races at the caps (settlements and releases
    free a little room, which the others compete for).
    """
    scale = Decimal(operations) / 10_000

    def cap(amount: str) -> Money:
        return Money((Decimal(amount) * scale).quantize(Decimal("0.01")))

    people = [Member("owner", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    people += [
        Member(user, "member", CHAT if i % 2 else CHAT_AND_CLAUDE_CODE)
        for i, user in enumerate(STRESS_USERS)
    ]
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=cap("3000"), member_default=cap("520")),
        seat_types={
            CHAT: PoolLimit(pool_cap=cap("1400")),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=cap("1800")),
        },
        members={"u0": cap("300.01"), "u3": cap("666.67")},
    )
    return Organization.create("stress", CATALOGUE, people, at=START, limits=limits)


def shared_event(number: int) -> UsageEvent:
    """An event several workers send (the same content each time): it must count once."""
    rng = random.Random(number)  # noqa: S311  (seeded test data)
    return event(
        f"shared-{number}", rng.choice(STRESS_USERS), f"{rng.randint(1, 400) / 100:.2f}", OCT
    )


Outcome = tuple[str, str, str, Decimal, bool, bool]
"""(kind, event id, member, amount, recorded, replayed) of one charge or settlement."""


def stress_work(ledger: Ledger, worker: int, operations: int, seed: int) -> list[Outcome]:
    """About ``operations`` charges, holds, extends, settles and releases near the caps.

    A tenth of the charges retry one of this worker's events, a tenth send one of 200
    events that every worker sends. Settlements never cost more than their hold (no
    overrun), so no level may ever pass its cap.
    """
    rng = random.Random(seed * 1000 + worker)  # noqa: S311
    outcomes: list[Outcome] = []
    sent: list[UsageEvent] = []

    def amount() -> str:
        return f"{rng.randint(1, 400) / 100:.2f}"

    def charge(usage: UsageEvent) -> None:
        result = ledger.charge(usage)
        outcomes.append(
            ("charge", usage.event_id, usage.user_id, result.amount.amount, result.recorded,
             result.replayed)
        )  # fmt: skip

    def settle(request: str, usage: UsageEvent) -> None:
        result = ledger.settle(request, usage)
        assert result.overrun is None
        outcomes.append(
            ("settle", usage.event_id, usage.user_id, result.amount.amount, True, result.replayed)
        )

    done = 0
    while done < operations:
        roll = rng.random()
        done += 1
        if roll < 0.45:
            sent.append(event(f"w{worker}-c{done}", rng.choice(STRESS_USERS), amount()))
            charge(sent[-1])
        elif roll < 0.55 and sent:
            charge(rng.choice(sent))  # a retry: same id, same content
        elif roll < 0.65:
            charge(shared_event(rng.randint(0, 199)))  # also sent by other workers
        else:
            user, request, wanted = rng.choice(STRESS_USERS), f"w{worker}-r{done}", usd(amount())
            if not ledger.hold(request, user, wanted, at=OCT).decision.allowed:
                continue
            if rng.random() < 0.3:
                extra = usd(amount())
                done += 1
                if ledger.extend(request, extra).decision.allowed:
                    wanted += extra
            done += 1
            if rng.random() < 0.15:
                ledger.release(request)
                continue
            cost = Decimal(rng.randint(0, cents(wanted.amount))) / 100  # never above the hold
            settlement = event(f"w{worker}-s{done}", user, cost)
            settle(request, settlement)
            if rng.random() < 0.2:
                done += 1
                settle(request, settlement)  # a retried settlement
    return outcomes


def stress_process_worker(
    kind: str,
    path: str,
    *,
    worker: int,
    operations: int,
    total: int,
    seed: int,
    barrier: Any,
    queue: Any,
) -> None:
    """A child process: open the ledger, wait for the others, race, send the outcomes back."""
    try:
        ledger = open_ledger(kind, stress_org(total), path)
        barrier.wait(timeout=120)
        outcomes = stress_work(ledger, worker, operations, seed)
        ledger.close()
        queue.put((worker, outcomes, None))
    except BaseException as error:  # the parent must hear of it, not wait forever
        queue.put((worker, [], repr(error)))
        raise


# --- the crash writer -----------------------------------------------------------------------


def crash_step(ledger: Ledger, number: int) -> None:
    """Do step ``number`` of the crash writer's endless, deterministic sequence of operations.

    Three charges, then a hold, then its settlement (1.00 of the 1.25 held) or release.
    A step that finds no hold (it was denied) raises nothing: the step did nothing.
    """
    group, kind = divmod(number, 5)
    request, user = f"h{group}", STRESS_USERS[group % len(STRESS_USERS)]
    try:
        if kind < 3:
            ledger.charge(crash_event(number))
        elif kind == 3:
            ledger.hold(request, user, usd("1.25"), at=OCT)
        elif group % 2:
            ledger.settle(request, event(f"settle-{group}", user, "1"))
        else:
            ledger.release(request)
    except UnknownNameError:
        pass  # the hold was denied: nothing to settle or release


def crash_event(number: int) -> UsageEvent:
    """The charge of step ``number``: the same content every time it is asked for."""
    rng = random.Random(number)  # noqa: S311  (seeded test data)
    return event(f"c{number}", rng.choice(STRESS_USERS), f"{rng.randint(0, 900) / 100:.2f}", OCT)


def crash_writer(kind: str, path: str, acks: str, first: int) -> None:
    """A child process: do steps from ``first`` on, appending each number to ``acks`` once done.

    The line is written only after the operation has returned (committed). The parent
    kills this process with SIGKILL at some moment; it never stops by itself.
    """
    ledger = open_ledger(kind, stress_org(), path)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, b"ready\n")
    number = first
    while True:
        crash_step(ledger, number)
        os.write(fd, f"{number}\n".encode())  # acknowledged
        number += 1
        if number % 64 == 0:
            time.sleep(0.0005)
