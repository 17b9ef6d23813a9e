"""The gateway guard's own overhead per model call, against the bare SDK on the same fake server.

    python benchmarks/guard.py             # 2,000 calls per case, best of 5 rounds
    python benchmarks/guard.py --quick     # 300 calls per case: a smoke run
    python benchmarks/guard.py --dsn postgresql://postgres@127.0.0.1:54329/postgres

Every case calls ``messages.create`` (or reads a whole ``messages.stream``) of the real
``anthropic`` SDK against :class:`~usagebill.gateway.testing.FakeMessagesAPI`, an
in-process mock transport with no latency, so the network is out of the figures: the
bare SDK's time per call is the floor, and the guard adds its bound, a hold and a settle
(two ledger transactions) to it. "guarded, counted" also asks ``messages.count_tokens``
first (a second round trip to the fake server); the others pass the caller's estimate.
The cases run interleaved, round after round, and each keeps its best round.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from usagebill import CHAT, Member, Money, Organization, PoolLimit, SeatCatalog, SpendLimits
from usagebill.gateway import GuardedAnthropic
from usagebill.gateway.testing import FakeMessagesAPI
from usagebill.ledger import Ledger, MemoryLedger, SqliteLedger

AT = datetime(2026, 10, 15, 12, tzinfo=UTC)
CALL = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1_000,
    "messages": [{"role": "user", "content": "Hello"}],
}
DSN_VARIABLE = "USAGEBILL_TEST_POSTGRES_DSN"


def organization() -> Organization:
    return Organization.create(
        "bench",
        SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
        [Member("owner", "primary_owner", CHAT), Member("ada", "member", CHAT)],
        at=datetime(2026, 10, 1, tzinfo=UTC),
        # Caps at every level, high enough for every call: each level is checked and written.
        limits=SpendLimits(
            organization=PoolLimit(pool_cap=Money("1000000")),
            seat_types={CHAT: PoolLimit(pool_cap=Money("1000000"))},
            members={"ada": Money("1000000")},
        ),
    )


def cases(api: FakeMessagesAPI, ledgers: dict[str, Ledger]) -> dict[str, Callable[[], object]]:
    bare = api.client(max_retries=0)

    def bare_create() -> object:
        return bare.messages.create(**CALL)

    def bare_stream() -> object:
        with bare.messages.stream(**CALL) as stream:
            return stream.get_final_message()

    found: dict[str, Callable[[], object]] = {
        "bare SDK, create": bare_create,
        "bare SDK, stream": bare_stream,
    }
    for name, ledger in ledgers.items():
        guarded = GuardedAnthropic(api.client(max_retries=0), ledger)

        def create(guarded: GuardedAnthropic = guarded) -> object:
            return guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)

        def stream(guarded: GuardedAnthropic = guarded) -> object:
            with guarded.for_member("ada", input_tokens=1_000).messages.stream(**CALL) as s:
                return s.get_final_message()

        found[f"guarded ({name}), create"] = create
        found[f"guarded ({name}), stream"] = stream
        if name == "memory":

            def counted(guarded: GuardedAnthropic = guarded) -> object:
                return guarded.for_member("ada").messages.create(**CALL)

            found[f"guarded ({name}), create, counted"] = counted
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="300 calls per case, 3 rounds")
    parser.add_argument("--dsn", default=os.environ.get(DSN_VARIABLE))
    args = parser.parse_args()
    calls, rounds = (300, 3) if args.quick else (args.calls, args.rounds)

    org = organization()
    tmp = tempfile.TemporaryDirectory()
    ledgers: dict[str, Ledger] = {
        "memory": MemoryLedger(org, clock=lambda: AT),
        "sqlite": SqliteLedger(Path(tmp.name) / "guard.db", org, clock=lambda: AT),
    }
    if args.dsn:
        from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

        ledgers["postgres"] = PostgresLedger(args.dsn, org, clock=lambda: AT)
        ledgers["postgres"].store.reset()  # type: ignore[attr-defined]
    api = FakeMessagesAPI(input_tokens=1_000, output_tokens=200)
    found = cases(api, ledgers)
    best = dict.fromkeys(found, float("inf"))
    for function in found.values():  # warm up: imports, prepared statements, caches
        function()
    for _ in range(rounds):
        for name, function in found.items():
            start = time.perf_counter()
            for _ in range(calls):
                function()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)

    print(f"{calls:,} calls per case, best of {rounds} rounds; fake server, no latency")
    print(f"{'case':<40} {'µs/call':>9} {'vs bare':>8} {'guard adds':>11}")
    for name, seconds in best.items():
        floor = best["bare SDK, stream" if name.endswith("stream") else "bare SDK, create"]
        added = "" if name.startswith("bare") else f"{(seconds - floor) * 1e6:>8.0f} µs"
        print(f"{name:<40} {seconds * 1e6:>9.0f} {seconds / floor:>7.2f}x {added:>11}")
    for ledger in ledgers.values():
        ledger.close()
    tmp.cleanup()
    floor, guarded = best["bare SDK, create"], best["guarded (memory), create"]
    print(
        f"guard: {guarded * 1e6:.0f} µs per create vs bare SDK {floor * 1e6:.0f} µs "
        f"({guarded / floor:.2f}x), +{(guarded - floor) * 1e6:.0f} µs (memory ledger)"
    )


if __name__ == "__main__":
    main()
