"""Concurrent guarded requests racing for the last of a cap: never one cent over it.

Each request's bound is exactly its cost: 1,000 input tokens (estimated and used) and
1,000 output tokens (``max_tokens``, and the fake answers that many) of Sonnet 4.6,
$0.003 + $0.015 = $0.018. With ada's cap at $0.18, exactly 10 of 30 racing requests fit;
at $0.018, exactly one. The losers are denied before they reach the fake API.
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import AT, CALL, STORES, make_ledger, make_org, spent
from usagebill import Money
from usagebill.gateway import GuardedAnthropic, GuardedAsyncAnthropic, RequestDeniedError
from usagebill.gateway.testing import FakeMessagesAPI

RACERS = 30
CAPS = [("0.018", 1), ("0.18", 10)]


def _api() -> FakeMessagesAPI:
    return FakeMessagesAPI(input_tokens=1_000, output_tokens=1_000, latency=0.02)


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize(("cap", "winners"), CAPS)
def test_threads_racing_never_overshoot(kind, cap, winners, tmp_path):
    ledger = make_ledger(kind, make_org(ada_cap=cap), tmp_path)
    api = _api()
    guarded = GuardedAnthropic(api.client(max_retries=0), ledger)
    start = threading.Barrier(RACERS)

    def request(_index: int) -> bool:
        ada = guarded.for_member("ada", input_tokens=1_000)
        start.wait()
        try:
            ada.messages.create(**CALL)
        except RequestDeniedError:
            return False
        return True

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            admitted = list(pool.map(request, range(RACERS)))
        assert sum(admitted) == winners
        assert api.calls == winners  # the denied never reached the provider
        assert spent(ledger) == (Money(cap), Money(0))  # exactly the cap, not a cent over
        assert ledger.month_to_date(AT).total == Money(cap).amount
    finally:
        ledger.close()


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize(("cap", "winners"), CAPS)
def test_tasks_racing_never_overshoot(kind, cap, winners, tmp_path):
    ledger = make_ledger(kind, make_org(ada_cap=cap), tmp_path)
    api = _api()
    guarded = GuardedAsyncAnthropic(api.async_client(max_retries=0), ledger)

    async def request() -> bool:
        try:
            await guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
        except RequestDeniedError:
            return False
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(request() for _ in range(RACERS)))

    try:
        admitted = asyncio.run(main())
        assert sum(admitted) == winners
        assert api.calls == winners
        assert spent(ledger) == (Money(cap), Money(0))
    finally:
        ledger.close()


def test_streams_racing_hold_until_they_settle(tmp_path):
    """Streams in flight keep their holds: a late request sees them and is denied."""
    ledger = make_ledger("sqlite", make_org(ada_cap="0.18"), tmp_path)
    api = _api()
    guarded = GuardedAnthropic(api.client(), ledger)
    streams = [
        guarded.for_member("ada", input_tokens=1_000).messages.stream(**CALL).__enter__()
        for _ in range(10)
    ]
    assert spent(ledger) == (Money(0), Money("0.18"))
    with pytest.raises(RequestDeniedError):
        guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
    for stream in streams:
        stream.until_done()
    assert spent(ledger) == (Money("0.18"), Money(0))
    ledger.close()
