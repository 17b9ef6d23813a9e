"""Time per spend-cap decision for an organization of 10,000 members with caps at every level.

    python benchmarks/decision.py [--members 10000] [--decisions 200000] [--repeats 7]
    python benchmarks/decision.py --instructions   # instructions per call, under valgrind

Times ``authorize`` (a whole organization and month-to-date spend in) and
``decide`` (a member's path and what is used on it in, as a ledger calls it),
allowed and denied apart, against a floor measured in the same run: the same
three look-ups (the member's caps, their spend, their seat type's spend), three
additions and three comparisons a decision makes, on plain dicts of prebuilt
Decimals, with every constant (the caps, the organization's total) hoisted out
of the call. A second floor adds in ``EXACT``, as the decision does: what exact
sums cost. Every case is called by the same loop, with the garbage collector
off, in batches that take turns (see :func:`timed`).

``--instructions`` runs each case under ``valgrind --tool=cachegrind`` twice,
with two numbers of calls, and prints the difference per call: a count that is
the same from run to run, unlike time on a busy machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    Member,
    Money,
    Organization,
    PoolLimit,
    SeatCatalog,
    Spend,
    SpendLimits,
    UsedOnPath,
    authorize,
    decide,
)
from usagebill.money import EXACT

Call = tuple[object, ...]
CASES = (
    "floor",
    "floor, EXACT sums",
    "authorize allowed",
    "decide allowed",
    "authorize denied",
    "decide denied",
)


def build(members: int, rng: random.Random) -> tuple[Organization, Spend]:
    """An organization with caps at every level, and a month-to-date spend near them."""
    seat_types = (CHAT, CHAT_AND_CLAUDE_CODE)
    people = [Member("owner", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    people += [Member(f"u{i}", "member", seat_types[i % 2]) for i in range(1, members)]
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money(members * 60), member_default=Money(100)),
        seat_types={
            CHAT: PoolLimit(pool_cap=Money(members * 20), member_default=Money(40)),
            CHAT_AND_CLAUDE_CODE: PoolLimit(pool_cap=Money(members * 40)),
        },
        members={f"u{i}": Money(rng.randint(10, 200)) for i in range(1, members, 3)},
    )
    org = Organization.create(
        "bench",
        SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
        people,
        at=datetime(2026, 10, 1, tzinfo=UTC),
        limits=limits,
    )
    users = {m.user_id: Decimal(rng.randint(0, 9000)) / 100 for m in people}
    by_seat = {CHAT: Decimal(0), CHAT_AND_CLAUDE_CODE: Decimal(0)}
    for member in people:
        by_seat[member.seat_type] += users[member.user_id]
    spend = Spend(members=users, seat_types=by_seat, total=sum(users.values(), Decimal(0)))
    return org, spend


def capped(cap: Money | None) -> Decimal:
    """The amount of a cap the benchmark's organization sets."""
    if cap is None:
        raise SystemExit("the benchmark's organization caps every level")
    return cap.amount


def floors_of(
    org: Organization, spend: Spend
) -> tuple[Callable[[str, Money], bool], Callable[[str, Money], bool]]:
    """The bare work of an allowed decision, on plain dicts with every constant hoisted.

    Three look-ups (the member's seat type and caps, their spend, their seat
    type's spend), three additions, three comparisons. Every level of the
    benchmark's organization is capped, so no ``None`` is checked. The second
    floor adds in ``EXACT``, as the decision does: the difference is what exact
    sums cost.
    """
    caps = {}
    for user_id in org.members:
        path = org.path(user_id)
        caps[user_id] = (path.seat_type, capped(path.member_cap), capped(path.seat_type_cap))
    users, seats = dict(spend.members), dict(spend.seat_types)
    total, org_cap, zero = spend.total, capped(org.limits.organization.pool_cap), Decimal(0)
    add = EXACT.add

    def floor(user_id: str, amount: Money) -> bool:
        value = amount.amount
        seat_type, member_cap, seat_cap = caps[user_id]
        return (
            users.get(user_id, zero) + value <= member_cap
            and seats.get(seat_type, zero) + value <= seat_cap
            and total + value <= org_cap
        )

    def floor_exact(user_id: str, amount: Money) -> bool:
        value = amount.amount
        seat_type, member_cap, seat_cap = caps[user_id]
        return (
            add(users.get(user_id, zero), value) <= member_cap
            and add(seats.get(seat_type, zero), value) <= seat_cap
            and add(total, value) <= org_cap
        )

    return floor, floor_exact


def workload(
    members: int, decisions: int
) -> tuple[dict[str, Callable[..., object]], dict[str, list[Call]]]:
    """Each case's function and the argument tuples it is called with."""
    rng = random.Random(2026)
    org, spend = build(members, rng)
    ids = list(org.members)
    small = [(rng.choice(ids), Money(Decimal(rng.randint(1, 500)) / 100)) for _ in range(decisions)]
    large = [(rng.choice(ids), Money(rng.randint(100, 400))) for _ in range(decisions)]
    requests = small + large
    verdicts = [authorize(org, spend, u, a).allowed for u, a in requests]
    allowed = [r for r, ok in zip(requests, verdicts, strict=True) if ok]
    denied = [r for r, ok in zip(requests, verdicts, strict=True) if not ok][: len(allowed)]

    floor, floor_exact = floors_of(org, spend)
    for bare in (floor, floor_exact):
        if not all(bare(*r) for r in allowed) or any(bare(*r) for r in denied):
            raise SystemExit("a floor does not decide as authorize does")

    def on_path(user_id: str, amount: Money) -> Call:
        """decide's arguments: what a ledger holds after reading the path's counters."""
        path = org.path(user_id)
        return path, UsedOnPath.from_spend(spend, user_id, path.seat_type), amount

    functions: dict[str, Callable[..., object]] = {
        "floor": floor,
        "floor, EXACT sums": floor_exact,
        "authorize allowed": authorize,
        "decide allowed": decide,
        "authorize denied": authorize,
        "decide denied": decide,
    }
    calls: dict[str, list[Call]] = {
        "floor": allowed,
        "floor, EXACT sums": allowed,
        "authorize allowed": [(org, spend, *r) for r in allowed],
        "decide allowed": [on_path(*r) for r in allowed],
        "authorize denied": [(org, spend, *r) for r in denied],
        "decide denied": [on_path(*r) for r in denied],
    }
    return functions, calls


def run(function: Callable[..., object], calls: Sequence[Call]) -> None:
    """The loop every case is timed (and counted) in."""
    for args in calls:
        function(*args)


def timed(
    functions: dict[str, Callable[..., object]],
    calls: dict[str, list[Call]],
    repeats: int,
    batch: int = 1_000,
) -> dict[str, float]:
    """Seconds per call of each case: the sum over batches of each batch's best time.

    The calls of each case are cut in batches of ``batch`` calls (about a
    millisecond each), and the cases take turns batch by batch, ``repeats``
    rounds. A batch's best of the rounds is the one the other processes of a
    busy machine interrupted least; taking turns, the cases see the same
    machine. Each case starts its round at another batch, so that no case runs
    on requests whose objects another case has just brought into the cache.
    """
    batches = {name: -(-len(calls[name]) // batch) for name in functions}
    best = {name: [float("inf")] * count for name, count in batches.items()}
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for step in range(max(batches.values())):
                for offset, (name, function) in enumerate(functions.items()):
                    count = batches[name]
                    if step >= count:
                        continue
                    index = (step + offset * count // len(functions)) % count
                    part = calls[name][index * batch : (index + 1) * batch]
                    start = time.perf_counter()
                    run(function, part)
                    elapsed = time.perf_counter() - start
                    best[name][index] = min(best[name][index], elapsed)
    finally:
        gc.enable()
    return {name: sum(times) / len(calls[name]) for name, times in best.items()}


def instructions(members: int, case: str, low: int = 2_000, high: int = 12_000) -> float:
    """Instructions per call of ``case``: two cachegrind runs that differ only in their calls."""

    def count(calls: int) -> int:
        command = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            f"--members={members}",
            f"--run={case}",
            f"--calls={calls}",
        ]
        environment = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict probes in both runs
        # S603: the command is built above from this script, its own interpreter and integers.
        output = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=True, env=environment
        ).stderr
        found = re.search(r"I\s+refs:\s+([\d,]+)", output)
        if found is None:
            raise SystemExit(f"no instruction count from valgrind:\n{output}")
        return int(found.group(1).replace(",", ""))

    return (count(high) - count(low)) / (high - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="count under valgrind")
    parser.add_argument("--run", choices=CASES, help=argparse.SUPPRESS)  # one case, untimed
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:  # what --instructions runs under valgrind: the setup, then exactly --calls calls
        functions, calls = workload(args.members, 2_000)
        cases = calls[args.run]
        gc.disable()
        run(functions[args.run], (cases * (args.calls // len(cases) + 1))[: args.calls])
        return
    if args.instructions:
        counts = {case: instructions(args.members, case) for case in CASES}
        floor = counts["floor"]
        for case, count in counts.items():
            print(
                f"{case:<18} {count:8,.0f} instructions per call  {count / floor:5.2f}x the floor"
            )
        allowed = counts["authorize allowed"]
        print(
            f"allowed decision: {allowed / floor:.2f}x the floor in instructions "
            f"({allowed:,.0f} vs {floor:,.0f})"
        )
        return

    functions, calls = workload(args.members, args.decisions)
    best = timed(functions, calls, args.repeats)
    floor = best["floor"]
    print(
        f"organization: {args.members:,} members, caps at every level; random members; "
        f"{len(calls['authorize allowed']):,} allowed and {len(calls['authorize denied']):,} "
        f"denied requests; best of {args.repeats} rounds"
    )
    for case, seconds in best.items():
        print(f"{case:<18} {seconds * 1e6:6.2f} µs per call  {seconds / floor:5.2f}x the floor")
    allowed = best["authorize allowed"]
    print(
        f"allowed decision: {allowed / floor:.2f}x the floor "
        f"({allowed * 1e6:.2f} µs vs {floor * 1e6:.2f} µs)"
    )


if __name__ == "__main__":
    main()
