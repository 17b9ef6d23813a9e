"""Time per spend-cap decision for an organization of 10,000 members with caps at every level.

    python benchmarks/decision.py [--members 10000] [--decisions 200000]

Prints µs per ``authorize`` call, allowed and denied apart, and, as a floor in
the same run, the cost of the bare work a decision needs: three dict look-ups
and three Decimal comparisons.
"""

from __future__ import annotations

import argparse
import random
import time
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
    authorize,
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


def per_call(function: object, calls: list[tuple[str, Money]], repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds per call of ``function(user, amount)`` over ``calls``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for user, amount in calls:
            function(user, amount)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / len(calls))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(2026)
    org, spend = build(args.members, rng)
    ids = list(org.members)
    small = [
        (rng.choice(ids), Money(Decimal(rng.randint(1, 500)) / 100)) for _ in range(args.decisions)
    ]
    large = [(rng.choice(ids), Money(rng.randint(100, 400))) for _ in range(args.decisions)]

    def decide(user: str, amount: Money) -> object:
        return authorize(org, spend, user, amount)

    users, seats, limits = spend.members, spend.seat_types, org.limits

    def floor(user: str, amount: Money) -> bool:
        # The bare work: look-ups of the member, their cap and spends, three comparisons.
        member = org.members[user]
        cap = limits.members.get(user)
        value = amount.amount
        return (
            users[user] + value <= (cap.amount if cap else Decimal(100))
            and seats[member.seat_type] + value <= Decimal(10**9)
            and spend.total + value <= Decimal(10**9)
        )

    requests = small + large
    allowed = [(u, a) for u, a in requests if authorize(org, spend, u, a).allowed]
    denied = [(u, a) for u, a in requests if not authorize(org, spend, u, a).allowed]
    floor_s = per_call(floor, allowed)
    allowed_s = per_call(decide, allowed)
    denied_s = per_call(decide, denied)
    print(f"organization: {len(org.members):,} members, caps at every level; random members")
    print(f"allowed ({len(allowed):,} requests): {allowed_s * 1e6:.2f} µs per decision")
    print(f"denied  ({len(denied):,} requests): {denied_s * 1e6:.2f} µs per decision (explained)")
    print(f"floor (dict look-ups + Decimal comparisons): {floor_s * 1e6:.2f} µs")
    print(f"ratio to floor: {allowed_s / floor_s:.1f}x allowed, {denied_s / floor_s:.1f}x denied")


if __name__ == "__main__":
    main()
