"""Budget leases: hand-worked examples over every store, and the expired-lease crash.

Figures use ``ledger_support``'s organization (organization cap 100, Chat pool 30,
ada 20, bob 25) and its one-cent-a-token price table: ``event("e1", "ada", "4")``
costs exactly 4.00 USD.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ledger_support import (
    NOV,
    OCT,
    ZERO,
    Clock,
    event,
    figures,
    make_org,
    open_ledger,
    overshoot,
    store_params,
    usd,
)
from usagebill import (
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    Money,
    Product,
    UnknownNameError,
)
from usagebill.caps.decision import Level
from usagebill.ledger import LeasedLedger, LeasePolicy, premature_denials

POLICY = LeasePolicy(share="0.25", largest=usd("5"), ttl=timedelta(seconds=60))


@pytest.fixture(params=store_params())
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_charges_that_fit_a_lease_are_decided_locally_and_recorded_at_flush(
    kind: str, tmp_path: Path
) -> None:
    clock = Clock()
    central = open_ledger(kind, make_org(), tmp_path / "l.db", clock=clock, fresh=True)
    front = LeasedLedger(central, POLICY)
    results = [front.charge(event(f"e{n}", "ada", "1")) for n in range(3)]
    assert [result.recorded for result in results] == [True, True, True]
    # ada's room is unknown at first: e0 is decided centrally (room 20, recorded at once);
    # then a lease of a quarter of the 19 left, 4.75, takes e1 and e2
    assert front.counts == {"local": 2, "central": 1, "leases": 1, "flushes": 1}
    assert [r.decision.headroom for r in results] == [usd("20"), usd("4.75"), usd("3.75")]
    spend = figures(central.month_to_date(OCT))
    assert (spend["total"], spend["held_total"], spend["held_members"]) == (1, 4.75, {"ada": 4.75})
    assert front.slack == usd("2.75")
    settled = front.flush()
    assert [(s.event_id, s.amount, s.held, s.overrun) for s in settled] == [
        (f"e{n}", usd("1"), usd("1"), None) for n in (1, 2)
    ]
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["total"], spend["held_total"]) == ({"ada": 3}, 3, 2.75)
    assert [hold.amount for hold in front.leases] == [usd("2.75")]
    front.close()
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["seat_types"], spend["held_total"]) == (
        {"ada": 3},
        {"chat": 3},
        0,
    )
    assert front.leases == ()
    central.close()


def test_near_a_cap_leases_shrink_and_the_last_cent_is_spent(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    front = LeasedLedger(central, POLICY)
    # ada may spend 20: every cent of it goes, however the leases fall, and then no more
    results = [front.charge(event(f"e{n}", "ada", "1")) for n in range(21)]
    assert [result.recorded for result in results] == [True] * 20 + [False]
    denied = results[-1].decision
    assert denied.bindings[0].level is Level.MEMBER
    assert denied.headroom == usd("0")
    assert front.counts["local"] > 10
    front.close()
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["held_total"]) == ({"ada": 20}, 0)
    assert premature_denials(central, [event("e20", "ada", "1")], at=OCT) == []
    central.close()


def test_a_lease_shrinks_to_the_room_it_is_denied(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    central.charge(event("before", "ada", "18"))
    front = LeasedLedger(central, POLICY)
    # room 2: a lease of 5 is denied, the next asks for max(2 / 4, 1) = the charge itself
    result = front.charge(event("e1", "ada", "1"))
    assert result.recorded
    assert front.counts["central"] == 1
    assert figures(central.month_to_date(OCT))["members"] == {"ada": 19}
    front.close()
    central.close()


def test_another_process_slack_can_deny_what_the_pool_would_cover(
    kind: str, tmp_path: Path
) -> None:
    # the denial quality leases trade: bob's lease holds 5 of the Chat pool's 30
    central = open_ledger(kind, make_org(members={}), tmp_path / "l.db", fresh=True)
    central.charge(event("before", "ada", "23"))
    first = LeasedLedger(central, LeasePolicy(share=1, largest=usd("5")))
    second = LeasedLedger(central, POLICY)
    assert first.charge(event("b1", "bob", "1")).recorded  # central: the pool has 6 left
    assert first.charge(event("b2", "bob", "1")).recorded  # a lease of 5: 1 left unleased
    denied = second.charge(event("a1", "ada", "3"))
    assert not denied.recorded
    assert denied.decision.bindings[0].level is Level.SEAT_TYPE
    first.close()  # bob's 4 unused come back
    assert premature_denials(central, [event("a1", "ada", "3")], at=OCT) == [
        event("a1", "ada", "3")
    ]
    assert second.charge(event("a1", "ada", "3")).recorded
    second.close()
    central.close()


def test_retries_replay_before_and_after_a_flush_and_count_once(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    front = LeasedLedger(central, POLICY)
    front.charge(event("e0", "ada", "1"))  # central: ada's lease comes with e1
    first = front.charge(event("e1", "ada", "1"))
    again = front.charge(event("e1", "ada", "1"))
    assert again.replayed
    assert again.decision == first.decision
    with pytest.raises(ConflictError, match="e1"):
        front.charge(event("e1", "ada", "2"))
    front.flush()
    front.charge(event("e1", "ada", "1"))  # a retry after its flush: recorded once
    (replayed,) = front.close()
    assert replayed.replayed
    other = LeasedLedger(central, POLICY)
    other.charge(event("e0", "ada", "1"))  # and under another front, centrally
    other.charge(event("e1", "ada", "1"))  # or under its lease
    other.close()
    assert figures(central.month_to_date(OCT))["members"] == {"ada": 2}
    central.close()


def test_what_a_lease_cannot_decide_goes_central(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    front = LeasedLedger(central, POLICY)
    assert front.charge(event("e1", "olga", "1", product=Product.CLAUDE_CODE)).recorded
    # ada's seat has no Claude Code: denied by the store, whatever the caps
    refused = front.charge(event("e2", "ada", "1", product=Product.CLAUDE_CODE))
    assert refused.decision.not_included is Product.CLAUDE_CODE
    assert front.charge(event("e3", "olga", "1")).recorded  # on olga's lease
    front.charge(event("e4", "olga", "1", at=NOV))  # another month: olga's lease ends
    assert front.counts == {"local": 1, "central": 3, "leases": 1, "flushes": 3}
    front.close()
    assert figures(central.month_to_date(OCT))["members"] == {"olga": 2}
    assert figures(central.month_to_date(NOV))["members"] == {"olga": 1}
    central.close()


def test_an_expired_lease_returns_to_the_pool_and_flushed_charges_stay(
    kind: str, tmp_path: Path
) -> None:
    clock = Clock()
    central = open_ledger(kind, make_org(), tmp_path / "l.db", clock=clock, fresh=True)
    crashed = LeasedLedger(central, POLICY)
    for n in range(3):
        crashed.charge(event(f"e{n}", "ada", "1"))
    crashed.flush()  # acknowledged: 3 recorded
    crashed.charge(event("lost", "ada", "1"))  # admitted, never flushed: the process dies
    del crashed
    assert figures(central.month_to_date(OCT))["held_total"] == Decimal("2.75")
    clock.advance(timedelta(seconds=61))
    assert [hold.amount for hold in central.expire()] == [usd("2.75")]
    spend = central.month_to_date(OCT)
    assert overshoot(central.org, spend) == {}
    assert figures(spend)["members"] == {"ada": 3}
    assert figures(spend)["held_total"] == 0
    assert central.stats(OCT)["expired_holds"] == 1
    central.close()


def test_a_lease_stops_admitting_a_margin_before_its_hold_expires(
    kind: str, tmp_path: Path
) -> None:
    clock = Clock()
    central = open_ledger(kind, make_org(), tmp_path / "l.db", clock=clock, fresh=True)
    front = LeasedLedger(central, POLICY)
    front.charge(event("e0", "ada", "1"))
    front.charge(event("e1", "ada", "1"))  # on a lease
    clock.advance(timedelta(seconds=50))  # the margin is 10 s: this lease is done
    front.charge(event("e2", "ada", "1"))
    assert front.counts["leases"] == 2
    assert central.stats(OCT)["overruns"] == 0
    front.close()
    assert figures(central.month_to_date(OCT))["members"] == {"ada": 3}
    central.close()


def test_a_flush_after_the_hold_expired_records_the_charges_as_overruns(
    kind: str, tmp_path: Path
) -> None:
    clock = Clock()
    central = open_ledger(kind, make_org(), tmp_path / "l.db", clock=clock, fresh=True)
    front = LeasedLedger(central, POLICY)
    front.charge(event("e0", "ada", "1"))
    front.charge(event("e1", "ada", "1"))  # on a lease
    clock.advance(timedelta(seconds=61))  # the process was stalled past its lease's TTL
    (late,) = front.close()
    assert (late.amount, late.held, late.overrun) == (usd("1"), usd("0"), usd("1"))
    assert figures(central.month_to_date(OCT))["members"] == {"ada": 2}
    assert central.stats(OCT) == {"overruns": 1, "expired_holds": 1}
    central.close()


def test_policy_checks_its_values() -> None:
    with pytest.raises(InvalidValueError, match="share"):
        LeasePolicy(share=0)
    with pytest.raises(InvalidValueError, match="largest"):
        LeasePolicy(largest=usd("0"))
    with pytest.raises(InvalidValueError, match="margin"):
        LeasePolicy(ttl=timedelta(seconds=5), margin=timedelta(seconds=5))
    with pytest.raises(InvalidValueError, match="flush_every"):
        LeasePolicy(flush_every=0)
    central = open_ledger("memory", make_org())
    with pytest.raises(CurrencyMismatchError):
        LeasedLedger(central, LeasePolicy(largest=Money("5", "EUR")))
    assert LeasePolicy().size(Decimal(40), Decimal(1)) == Decimal(10)


def test_a_front_gives_its_own_slack_back_before_a_pool_denies(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(members={}), tmp_path / "l.db", fresh=True)
    central.charge(event("before", "ada", "23"))
    front = LeasedLedger(central, LeasePolicy(share=1, largest=usd("5")))
    front.charge(event("b1", "bob", "1"))  # central: the Chat pool has 6 left
    assert front.charge(event("b2", "bob", "1")).recorded  # bob's lease: 5 of the 6
    # ada's 3 fits the pool only with bob's 4 unused: that lease ends, and ada is admitted
    assert front.charge(event("a1", "ada", "3")).recorded
    assert [hold.user_id for hold in front.leases] == []
    front.close()
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["held_total"]) == ({"ada": 26, "bob": 2}, 0)
    central.close()


def test_many_leases_near_the_caps_stay_exact_and_give_everything_back(
    kind: str, tmp_path: Path
) -> None:
    # shares of rooms worked out from shares: without rounding the sizes, their digits grow
    # with every lease, until the store's exact arithmetic refuses them
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    front = LeasedLedger(central, LeasePolicy(requests=1000, share="0.123457"))
    users = ("olga", "ada", "bob", "cy")
    admitted = ZERO
    for n in range(600):
        result = front.charge(event(f"e{n}", users[n % 4], f"0.{n % 89 + 7:02d}"))
        admitted += result.amount.amount if result.recorded else ZERO
        if n % 97 == 0:
            front.flush()
    front.close()
    spend = central.month_to_date(OCT)
    assert overshoot(central.org, spend) == {}
    assert (spend.total, spend.held_total) == (admitted, 0)
    assert spend.total > Decimal(99)  # the organization's 100 ran full
    central.close()


def test_a_held_request_grows_from_its_lease_then_centrally_or_not_at_all(
    kind: str, tmp_path: Path
) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    front = LeasedLedger(central, POLICY)
    front.charge(event("e0", "ada", "1"))  # learns ada's room: 19 left
    held = front.hold("r1", "ada", usd("1"), at=OCT)  # a lease of 4.75, 1 of it for r1
    assert held.hold is not None
    assert held.hold.amount == usd("1")
    assert front.hold("r1", "ada", usd("1"), at=OCT).hold == held.hold  # asked again
    with pytest.raises(ConflictError, match="r1"):
        front.hold("r1", "ada", usd("2"), at=OCT)
    assert front.extend("r1", usd("2")).hold.amount == usd("3")  # from the lease: 1.75 left
    assert figures(central.month_to_date(OCT))["held_total"] == Decimal("4.75")
    grown = front.extend("r1", usd("10"))  # more than the lease: the lease grows by 10
    assert grown.decision.allowed
    assert figures(central.month_to_date(OCT))["held_total"] == Decimal("14.75")
    refused = front.extend("r1", usd("6"))  # ada has 20 - 1 - 14.75 = 4.25 left
    assert not refused.decision.allowed
    assert refused.decision.bindings[0].level is Level.MEMBER
    assert refused.hold is not None
    assert refused.hold.amount == usd("13")
    settled = front.settle("r1", event("s1", "ada", "12.5"))
    assert (settled.amount, settled.held, settled.overrun) == (usd("12.5"), usd("13"), None)
    with pytest.raises(UnknownNameError, match="r1"):
        front.release("r1")
    front.close()
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["held_total"]) == ({"ada": Decimal("13.5")}, 0)
    central.close()


def test_a_front_flushing_on_a_timer_records_without_being_asked(kind: str, tmp_path: Path) -> None:
    central = open_ledger(kind, make_org(), tmp_path / "l.db", fresh=True)
    with LeasedLedger(central, POLICY).flushing(every=timedelta(milliseconds=20)) as front:
        for n in range(3):
            front.charge(event(f"e{n}", "ada", "1"))
        deadline = time.monotonic() + 10
        while figures(central.month_to_date(OCT))["total"] < 3:  # the timer flushed e1, e2
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert front.leases != ()
    assert front.leases == ()  # and the block's end closed the front
    assert front.flush_errors == []
    assert figures(central.month_to_date(OCT))["held_total"] == 0
    central.close()


def test_a_flush_ends_the_leases_past_their_deadline(kind: str, tmp_path: Path) -> None:
    clock = Clock()
    central = open_ledger(kind, make_org(), tmp_path / "l.db", clock=clock, fresh=True)
    front = LeasedLedger(central, POLICY)
    front.charge(event("e0", "ada", "1"))
    front.charge(event("e1", "ada", "1"))  # on a lease of 4.75
    clock.advance(timedelta(seconds=49))
    front.flush()
    assert [hold.amount for hold in front.leases] == [usd("3.75")]  # still admitting
    clock.advance(timedelta(seconds=1))  # the deadline: 10 s before the hold expires
    front.flush()
    assert front.leases == ()  # its slack is back in the pool 10 s early
    spend = figures(central.month_to_date(OCT))
    assert (spend["members"], spend["held_total"]) == ({"ada": 2}, 0)
    central.close()
