"""The SDK guard on a leased front: requests held from a member's lease, settled at the flush.

Against the fake Messages API (``usagebill.gateway.testing``), built-in prices: a request
of Sonnet 4.6 costs $0.006 (1,000 input + 200 output tokens) and holds $0.018 (1,000 tokens
counted, ``max_tokens=1_000``).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger_support import Clock, make_org, store_params
from usagebill import Money
from usagebill.caps.decision import Level
from usagebill.ledger import LeasedLedger, LeasePolicy, Ledger, MemoryLedger, SqliteLedger

anthropic = pytest.importorskip("anthropic")

from usagebill.gateway import (  # noqa: E402
    GuardedAnthropic,
    GuardedAsyncAnthropic,
    RequestDeniedError,
)
from usagebill.gateway.testing import FakeMessagesAPI, Reply  # noqa: E402

AT = datetime(2026, 10, 20, 9, tzinfo=UTC)
RACERS = 30
CALL = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1_000,
    "messages": [{"role": "user", "content": "Hello"}],
}


def central_ledger(kind: str, ada_cap: str, path: Path) -> Ledger:
    org = make_org(members={"ada": ada_cap})
    if kind == "memory":
        return MemoryLedger(org, clock=lambda: AT)
    return SqliteLedger(path / "ledger.db", org, clock=lambda: AT)


def spent(central: Ledger, user_id: str = "ada") -> tuple[Money, Money]:
    spend = central.month_to_date(AT)
    return spend.member(user_id), Money(spend.held_members.get(user_id, 0))


@pytest.mark.parametrize("kind", store_params(("memory", "sqlite")))
def test_guarded_requests_hold_from_the_lease_and_are_recorded_at_the_flush(
    kind: str, tmp_path: Path
) -> None:
    central = central_ledger(kind, "1", tmp_path)
    front = LeasedLedger(central, LeasePolicy(requests=50, share="0.5"))
    api = FakeMessagesAPI()
    guarded = GuardedAnthropic(api.client(), front)
    for _ in range(20):
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
    # the first request is held centrally (ada's room is unknown: $1) in a lease of just its
    # $0.018, which settles at $0.006; the second tops that lease's $0.012 up to half the
    # $0.982 left ($0.491, +0.479): one lease of $0.497 serves all 20
    assert front.counts == {"local": 19, "central": 1, "leases": 1, "flushes": 0}
    assert spent(central) == (Money(0), Money("0.497"))
    front.flush()
    assert spent(central) == (Money("0.12"), Money("0.377"))
    front.close()
    assert spent(central) == (Money("0.12"), Money(0))


def test_near_the_cap_the_guard_denies_as_the_ledger_would(tmp_path: Path) -> None:
    central = central_ledger("memory", "0.05", tmp_path)
    front = LeasedLedger(central)
    api = FakeMessagesAPI()
    guarded = GuardedAnthropic(api.client(), front)
    # a hold of $0.018 fits while 0.05 - 0.006 k >= 0.018: six requests, k = 0 .. 5
    for _ in range(6):
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
    with pytest.raises(RequestDeniedError) as denied:
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
    binding = denied.value.binding
    assert binding is not None
    assert binding.level is Level.MEMBER
    assert api.calls == 6  # the denied request never reached the API
    front.close()
    assert spent(central) == (Money("0.036"), Money(0))


def test_a_refused_request_gives_its_hold_back_to_the_lease_and_a_stream_settles(
    tmp_path: Path,
) -> None:
    central = central_ledger("memory", "1", tmp_path)
    front = LeasedLedger(central, LeasePolicy(requests=50, share="0.5"))
    api = FakeMessagesAPI()
    guarded = GuardedAnthropic(api.client(), front)
    guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)  # learns the room
    api.reply(Reply(status=400))
    with pytest.raises(anthropic.BadRequestError):
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
    assert front.slack == Money("0.491")  # the new lease has all of it again
    with guarded.for_member("ada", input_tokens=1_000).messages.stream(**CALL) as stream:
        assert front.slack == Money("0.473")  # $0.018 held while the stream runs
        "".join(stream.text_stream)
    assert front.slack == Money("0.485")  # settled at message_stop: $0.006
    front.close()
    assert spent(central) == (Money("0.012"), Money(0))


def test_a_lease_that_ends_while_a_request_holds_stays_until_the_request_ends(
    tmp_path: Path,
) -> None:
    clock = Clock(AT)
    central = MemoryLedger(make_org(members={"ada": "1"}), clock=clock)
    front = LeasedLedger(central, LeasePolicy(requests=50, share="0.5"))
    api = FakeMessagesAPI()
    guarded = GuardedAnthropic(api.client(), front)
    guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)  # learns the room
    with guarded.for_member("ada", input_tokens=1_000).messages.stream(**CALL) as stream:
        clock.advance(timedelta(seconds=55))  # past the lease's deadline: it admits no more
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)  # a new lease
        assert front.counts["leases"] == 2
        # the old lease ($0.491) is still held, the stream holding $0.018 of it; the new one
        # is half the room last seen, $0.503: $0.2515, of which $0.006 is spent
        assert spent(central) == (Money("0.006"), Money("0.7425"))
        assert [hold.amount for hold in front.leases] == [Money("0.2455")]
        assert front.slack == Money("0.473") + Money("0.2455")
        "".join(stream.text_stream)
    front.close()
    assert spent(central) == (Money("0.018"), Money(0))
    assert central.stats(AT)["overruns"] == 0


@pytest.mark.parametrize("kind", store_params(("memory", "sqlite")))
@pytest.mark.parametrize(("cap", "winners"), [("0.018", 1), ("0.18", 10)])
def test_threads_racing_through_a_leased_front_win_exactly_what_the_cap_allows(
    kind: str, cap: str, winners: int, tmp_path: Path
) -> None:
    # each request's bound is its cost: 1,000 tokens in and out, $0.018
    central = central_ledger(kind, cap, tmp_path)
    front = LeasedLedger(central)
    api = FakeMessagesAPI(input_tokens=1_000, output_tokens=1_000, latency=0.02)
    guarded = GuardedAnthropic(api.client(max_retries=0), front)
    start = threading.Barrier(RACERS)

    def request(_index: int) -> bool:
        ada = guarded.for_member("ada", input_tokens=1_000)
        start.wait()
        try:
            ada.messages.create(**CALL)
        except RequestDeniedError:
            return False
        return True

    with ThreadPoolExecutor(RACERS) as pool:
        admitted = list(pool.map(request, range(RACERS)))
    front.close()
    assert sum(admitted) == winners  # one front: its denials are the books', never its slack
    assert api.calls == winners
    assert spent(central) == (Money(cap), Money(0))


def test_tasks_racing_through_a_leased_front_win_exactly_what_the_cap_allows(
    tmp_path: Path,
) -> None:
    central = central_ledger("sqlite", "0.18", tmp_path)
    front = LeasedLedger(central)
    api = FakeMessagesAPI(input_tokens=1_000, output_tokens=1_000, latency=0.02)
    guarded = GuardedAsyncAnthropic(api.async_client(max_retries=0), front)

    async def request() -> bool:
        try:
            await guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
        except RequestDeniedError:
            return False
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(request() for _ in range(RACERS)))

    admitted = asyncio.run(main())
    front.close()
    assert sum(admitted) == 10
    assert spent(central) == (Money("0.18"), Money(0))
