"""Budget leases under random work: no level ever passes its cap, and every charge counts once.

Several fronts (each one process's :class:`LeasedLedger`) share one central ledger and a
clock the test moves. They charge random members random amounts near the caps, retry events
(to the same front or another), flush, close, and crash (flushed first, then abandoned with
their leases: the leases must expire back into the pool). After every step no level's
committed + held passes its cap (fronts flush before time passes, as a gateway's timer
does within ``ttl - margin``: a flush later than the lease's hold is an overrun, see
``test_leases.py``); at the end, with every lease closed or expired, nothing is
held and the organization total is exactly the sum of the charges admitted, each once.

With one front, a denial is always a true one: the front gives its own slack back before a
pool denies, so what denies is the books (``premature_denials`` finds nothing).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger_support import (
    OCT,
    Clock,
    assert_consistent,
    event,
    make_org,
    open_ledger,
    overshoot,
)
from usagebill import UsageEvent
from usagebill.ledger import LeasedLedger, LeasePolicy, Ledger, premature_denials

USERS = ("olga", "ada", "bob", "cy")
TTL = timedelta(seconds=60)

policies = st.builds(
    LeasePolicy,
    requests=st.integers(1, 40),
    share=st.sampled_from([Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal(1)]),
    ttl=st.just(TTL),
    margin=st.sampled_from([timedelta(0), timedelta(seconds=10)]),
    flush_every=st.integers(1, 8),
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["charge"] * 8 + ["retry", "flush", "close", "crash", "wait"]),
        st.integers(0, 2),  # which front
        st.sampled_from(USERS),
        st.integers(1, 900),  # cents
    ),
    min_size=1,
    max_size=60,
)


def check_caps(central: Ledger) -> None:
    spend = central.month_to_date(OCT)
    assert_consistent(spend)
    assert overshoot(central.org, spend) == {}


@given(policies, steps, st.sampled_from([1, 2, 3]))
def test_leases_never_overshoot_and_count_every_admitted_charge_once(
    policy: LeasePolicy, work: list[tuple[str, int, str, int]], fronts: int
) -> None:
    clock = Clock()
    central = open_ledger("memory", make_org(code_pool="60"), clock=clock)
    live = [LeasedLedger(central, policy) for _ in range(fronts)]
    sent: list[UsageEvent] = []
    recorded: dict[str, Decimal] = {}
    for number, (kind, which, user, cents) in enumerate(work):
        front = live[which % fronts]
        if kind in {"charge", "retry"}:
            usage = (
                sent[cents % len(sent)]
                if kind == "retry" and sent
                else event(f"e{number}", user, Decimal(cents) / 100)
            )
            sent.append(usage)
            result = front.charge(usage)
            if result.recorded:
                recorded[usage.event_id] = result.amount.amount
            elif fronts == 1:
                assert premature_denials(central, [usage], at=OCT) == []
        elif kind == "flush":
            front.flush()
        elif kind in {"close", "crash"}:
            if kind == "close":
                front.close()
            else:  # acknowledged charges flushed, then the process dies holding its leases
                front.flush()
            live[which % fronts] = LeasedLedger(central, policy)
        else:  # time passes; a gateway's timer flushes every front first (within ttl - margin)
            for waiting in live:
                waiting.flush()
            clock.advance(timedelta(seconds=cents % 45))
        check_caps(central)
    for front in live:
        front.close()
    clock.advance(TTL * 2)
    central.expire()  # what crashed fronts still held
    spend = central.month_to_date(OCT)
    check_caps(central)
    assert spend.held_total == 0
    assert spend.total == sum(recorded.values(), Decimal(0))
    assert central.stats(OCT)["overruns"] == 0  # nothing was admitted past its lease's deadline
