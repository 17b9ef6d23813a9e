"""Budget leases under random work: no level ever passes its cap, and every charge counts once.

Several fronts (each one process's :class:`LeasedLedger`) share one central ledger and a
clock the test moves. They charge random members random amounts near the caps, hold for
guarded requests and settle (at most what was held) or release them, retry events (to the
same front or another), flush, close, and crash (flushed first, then abandoned with
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
from decimal import ROUND_DOWN, Decimal

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
    usd,
)
from usagebill import UsageEvent
from usagebill.ledger import LeasedLedger, LeasePolicy, Ledger, premature_denials

USERS = ("olga", "ada", "bob", "cy")
TTL = timedelta(seconds=60)
REQUEST_TTL = timedelta(hours=2)  # a guarded request's: its lease's hold is kept that long

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
        st.sampled_from(
            ["charge"] * 8
            + ["hold"] * 3
            + ["settle"] * 2
            + ["release", "retry", "flush", "close", "crash", "wait"]
        ),
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


class Run:
    """The fronts of one example, what they admitted, and what their requests hold."""

    def __init__(self, policy: LeasePolicy, fronts: int) -> None:
        self.clock = Clock()
        self.central = open_ledger("memory", make_org(code_pool="60"), clock=self.clock)
        self.policy = policy
        self.live = [LeasedLedger(self.central, policy) for _ in range(fronts)]
        self.sent: list[UsageEvent] = []
        self.recorded: dict[str, Decimal] = {}
        self.holding: list[list[tuple[str, str, Decimal]]] = [[] for _ in range(fronts)]

    def charge(self, front: LeasedLedger, usage: UsageEvent) -> None:
        self.sent.append(usage)
        result = front.charge(usage)
        if result.recorded:
            self.recorded[usage.event_id] = result.amount.amount
        elif len(self.live) == 1:
            assert premature_denials(self.central, [usage], at=OCT) == []

    def hold(self, which: int, request: str, user: str, wanted: Decimal) -> None:
        front = self.live[which]
        if front.hold(request, user, usd(wanted), at=OCT, ttl=REQUEST_TTL).hold is not None:
            self.holding[which].append((request, user, wanted))

    def end_request(self, which: int, number: int, pick: int, *, settle: bool) -> None:
        holding = self.holding[which]
        request, user, wanted = holding.pop(pick % len(holding))
        if not settle:
            self.live[which].release(request)
            return
        cost = (wanted * (pick % 7) / 6).quantize(Decimal("0.01"), ROUND_DOWN)  # at most held
        self.live[which].settle(request, event(f"s{number}", user, cost))
        self.recorded[f"s{number}"] = cost

    def restart(self, which: int, *, crash: bool) -> None:
        """Close a front, or flush it and abandon it with its leases (a crash)."""
        if crash:
            self.live[which].flush()
        else:
            self.live[which].close()
        self.live[which] = LeasedLedger(self.central, self.policy)
        self.holding[which] = []  # their requests are unknown now: they end as charges

    def wait(self, seconds: int) -> None:
        """Time passes; a gateway's timer flushes every front first (within ttl - margin)."""
        for front in self.live:
            front.flush()
        self.clock.advance(timedelta(seconds=seconds))


@given(policies, steps, st.sampled_from([1, 2, 3]))
def test_leases_never_overshoot_and_count_every_admitted_charge_once(
    policy: LeasePolicy, work: list[tuple[str, int, str, int]], fronts: int
) -> None:
    run = Run(policy, fronts)
    central = run.central
    for number, (kind, which, user, cents) in enumerate(work):
        index = which % fronts
        if kind == "retry" and run.sent:
            run.charge(run.live[index], run.sent[cents % len(run.sent)])
        elif kind in {"charge", "retry"}:
            run.charge(run.live[index], event(f"e{number}", user, Decimal(cents) / 100))
        elif kind == "hold":
            run.hold(index, f"r{number}", user, Decimal(cents) / 100)
        elif kind in {"settle", "release"} and run.holding[index]:
            run.end_request(index, number, cents, settle=kind == "settle")
        elif kind == "flush":
            run.live[index].flush()
        elif kind in {"close", "crash"}:
            run.restart(index, crash=kind == "crash")
        elif kind == "wait":
            run.wait(cents % 45)
        check_caps(central)
    for front in run.live:
        front.close()
    run.clock.advance(REQUEST_TTL * 3)
    central.expire()  # what crashed fronts still held
    spend = central.month_to_date(OCT)
    check_caps(central)
    assert spend.held_total == 0
    assert spend.total == sum(run.recorded.values(), Decimal(0))
    assert central.stats(OCT)["overruns"] == 0  # nothing was admitted past its lease's deadline
