"""Every rule of the ledger protocol, worked by hand, run against each store alike.

The organization (see ``ledger_support.make_org``): olga (primary owner) and cy hold
Chat + Claude Code seats, ada and bob Chat seats. Unless a test says otherwise the
organization's pool cap is 100, the Chat pool cap 30, ada's cap 20 and bob's 25; nobody
else has a cap of their own. Usage is priced at one cent a token, so an event's amount is
its cost. The clock (read only to expire holds) stands at 2026-10-15 12:00 UTC, and holds
live 10 minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from ledger_support import (
    NOV,
    OCT,
    Clock,
    assert_consistent,
    committed,
    event,
    figures,
    make_org,
    open_ledger,
    store_params,
    usd,
)
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    ConflictError,
    InvalidValueError,
    Money,
    Organization,
    PoolLimit,
    Product,
    UnknownNameError,
)
from usagebill.accounts.limits import LimitSource
from usagebill.caps.alerts import Notification
from usagebill.caps.decision import Binding, Decision, Level
from usagebill.ledger import Hold, Ledger

TTL = timedelta(minutes=10)
OpenLedger = Callable[..., Ledger]


@pytest.fixture(params=store_params())
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock(OCT)


@pytest.fixture
def open_(kind: str, tmp_path: Path, clock: Clock) -> Iterator[OpenLedger]:
    """Open a ledger of the store under test; afterwards, every period it used adds up."""
    opened: list[Ledger] = []

    def make(org: Organization | None = None, *, hold_ttl: timedelta = TTL) -> Ledger:
        ledger = open_ledger(
            kind,
            org or make_org(),
            tmp_path / "ledger.db",
            clock=clock,
            hold_ttl=hold_ttl,
            fresh=True,
        )
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        for at in (OCT, NOV):
            assert_consistent(ledger.month_to_date(at))
        ledger.close()


@pytest.fixture
def ledger(open_: OpenLedger) -> Ledger:
    return open_()


def mtd(ledger: Ledger, at: datetime = OCT) -> dict[str, object]:
    return figures(ledger.month_to_date(at))


def held(
    on_users: dict[str, str],
    on_seat_types: dict[str, str],
    *,
    members: dict[str, str] | None = None,
    seat_types: dict[str, str] | None = None,
) -> dict[str, object]:
    """Hand-worked figures with amounts held (and ``members``/``seat_types`` committed)."""
    expected = committed(members, seat_types)
    expected["held_members"] = {k: Decimal(v) for k, v in on_users.items()}
    expected["held_seat_types"] = {k: Decimal(v) for k, v in on_seat_types.items()}
    expected["held_total"] = sum(expected["held_members"].values(), Decimal(0))
    return expected


def allowed(user_id: str, seat_type: str, amount: Money, headroom: Money | None) -> Decision:
    return Decision(
        allowed=True, user_id=user_id, seat_type=seat_type, amount=amount, headroom=headroom
    )


def with_member_cap(org: Organization, user_id: str, cap: str | None) -> Organization:
    return org.set_member_cap("olga", OCT, user_id, None if cap is None else usd(cap))[0]


# --- charges: the decision and its bindings ------------------------------------------------


def test_allowed_charge_is_recorded_with_its_decision(ledger: Ledger) -> None:
    """ada (cap 20, Chat pool 30, organization 100) charges 5.25: headroom min(20, 30, 100)."""
    result = ledger.charge(event("e1", "ada", "5.25"))
    assert result.decision == allowed("ada", CHAT, usd("5.25"), usd("20"))
    assert result.recorded
    assert not result.replayed
    assert (result.event_id, result.amount, result.period) == ("e1", usd("5.25"), "2026-10")
    assert result.notifications == ()
    assert mtd(ledger) == committed({"ada": "5.25"}, {CHAT: "5.25"})


def test_denied_charge_names_each_binding_level_tightest_first(ledger: Ledger) -> None:
    """ada 18 + bob 11: Chat pool at 29. ada asks 3: the pool is short 2 (30 - 29 = 1 left),
    her own cap short 1 (20 - 18 = 2 left); headroom is the least room, 1."""
    ledger.charge(event("e1", "ada", "18"))
    ledger.charge(event("e2", "bob", "11"))
    denied = ledger.charge(event("e3", "ada", "3"))
    assert denied.decision == Decision(
        allowed=False,
        user_id="ada",
        seat_type=CHAT,
        amount=usd("3"),
        headroom=usd("1"),
        bindings=(
            Binding(Level.SEAT_TYPE, CHAT, cap=usd("30"), used=usd("29"), shortfall=usd("2")),
            Binding(
                Level.MEMBER,
                "ada",
                cap=usd("20"),
                used=usd("18"),
                shortfall=usd("1"),
                source=LimitSource.INDIVIDUAL,
            ),
        ),
    )
    assert not denied.recorded
    assert mtd(ledger) == committed({"ada": "18", "bob": "11"}, {CHAT: "29"})
    # Exactly up to the cap is allowed (<=); a cent more is not.
    assert ledger.charge(event("e4", "ada", "1")).decision.headroom == usd("1")
    assert not ledger.charge(event("e5", "bob", "0.01")).recorded
    assert mtd(ledger) == committed({"ada": "19", "bob": "11"}, {CHAT: "30"})


def test_organization_pool_binds(ledger: Ledger) -> None:
    """cy (no cap of her own, no pool on her seat type) spends 95; olga's 6 passes 100 by 1."""
    assert ledger.charge(event("e1", "cy", "95")).decision.headroom == usd("100")
    denied = ledger.charge(event("e2", "olga", "6"))
    assert denied.decision.bindings == (
        Binding(Level.ORGANIZATION, "acme", cap=usd("100"), used=usd("95"), shortfall=usd("1")),
    )
    assert denied.decision.headroom == usd("5")
    assert ledger.charge(event("e3", "olga", "5")).recorded
    assert mtd(ledger) == committed({"cy": "95", "olga": "5"}, {CHAT_AND_CLAUDE_CODE: "100"})


# --- idempotency ----------------------------------------------------------------------------


def test_retry_replays_the_first_outcome_and_counts_once(ledger: Ledger) -> None:
    first = ledger.charge(event("e1", "ada", "5"))
    again = ledger.charge(event("e1", "ada", "5"))
    assert again.replayed
    assert again == attrs.evolve(first, replayed=True)
    assert mtd(ledger) == committed({"ada": "5"}, {CHAT: "5"})


def test_retry_of_a_denied_charge_stays_denied_after_a_cap_change(ledger: Ledger) -> None:
    """5 + 16 > 20: denied. With ada's cap raised to 25 the retry still answers the first
    outcome (denied); the same usage under a new id is allowed."""
    ledger.charge(event("e1", "ada", "5"))
    denied = ledger.charge(event("e2", "ada", "16"))
    assert not denied.recorded
    ledger.set_organization(with_member_cap(ledger.org, "ada", "25"))
    again = ledger.charge(event("e2", "ada", "16"))
    assert again == attrs.evolve(denied, replayed=True)
    assert ledger.charge(event("e3", "ada", "16")).recorded
    assert mtd(ledger) == committed({"ada": "21"}, {CHAT: "21"})


@pytest.mark.parametrize(
    "other",
    [
        event("e1", "ada", "5.01"),
        event("e1", "bob", "5"),
        event("e1", "ada", "5", at=OCT + timedelta(seconds=1)),
        event("e1", "ada", "5", at=NOV),
        event("e1", "ada", "5", product=Product.FILE_CREATION),
    ],
    ids=["amount", "member", "instant", "period", "product"],
)
def test_same_id_other_content_is_a_conflict_and_applies_nothing(
    ledger: Ledger, other: object
) -> None:
    first = ledger.charge(event("e1", "ada", "5"))
    with pytest.raises(ConflictError, match="different content"):
        ledger.charge(other)  # type: ignore[arg-type]
    assert mtd(ledger) == committed({"ada": "5"}, {CHAT: "5"})
    assert mtd(ledger, NOV) == committed()
    assert ledger.charge(event("e1", "ada", "5")) == attrs.evolve(first, replayed=True)


def test_an_event_id_names_one_operation(ledger: Ledger) -> None:
    """An id charged cannot settle a hold; an id that settled one request cannot settle
    another. Both are conflicts, and the holds stay as they were."""
    ledger.charge(event("e1", "ada", "5"))
    ledger.hold("r1", "ada", usd("2"), at=OCT)
    with pytest.raises(ConflictError):
        ledger.settle("r1", event("e1", "ada", "5"))
    assert mtd(ledger) == held(
        {"ada": "2"}, {CHAT: "2"}, members={"ada": "5"}, seat_types={CHAT: "5"}
    )
    settled = ledger.settle("r1", event("s1", "ada", "1"))
    ledger.hold("r2", "ada", usd("3"), at=OCT)
    with pytest.raises(ConflictError):
        ledger.settle("r2", event("s1", "ada", "1"))
    with pytest.raises(ConflictError):
        ledger.charge(event("s1", "ada", "1"))
    assert ledger.settle("r1", event("s1", "ada", "1")) == attrs.evolve(settled, replayed=True)
    assert mtd(ledger) == held(
        {"ada": "3"}, {CHAT: "3"}, members={"ada": "6"}, seat_types={CHAT: "6"}
    )


# --- holds ----------------------------------------------------------------------------------


def test_hold_is_all_levels_or_none(ledger: Ledger) -> None:
    """ada spent 10 of the Chat pool's 30. bob's hold of 21 fits his own cap (25) but not
    the pool (20 left): nothing is held anywhere. 20 fits every level."""
    ledger.charge(event("e1", "ada", "10"))
    denied = ledger.hold("r1", "bob", usd("21"), at=OCT)
    assert denied.hold is None
    assert denied.decision == Decision(
        allowed=False,
        user_id="bob",
        seat_type=CHAT,
        amount=usd("21"),
        headroom=usd("20"),
        bindings=(
            Binding(Level.SEAT_TYPE, CHAT, cap=usd("30"), used=usd("10"), shortfall=usd("1")),
        ),
    )
    assert mtd(ledger) == committed({"ada": "10"}, {CHAT: "10"})

    granted = ledger.hold("r2", "bob", usd("20"), at=OCT)
    assert granted.decision.allowed
    assert granted.hold == Hold("r2", "bob", CHAT, "2026-10", usd("20"), Product.CHAT, OCT + TTL)
    assert mtd(ledger) == held(
        {"bob": "20"}, {CHAT: "20"}, members={"ada": "10"}, seat_types={CHAT: "10"}
    )
    # Held money counts: the pool has 10 committed + 20 held, no room for a cent.
    full = ledger.charge(event("e2", "ada", "0.01"))
    assert full.decision.bindings[0].used == usd("30")
    assert full.decision.headroom == usd("0")


def test_holding_again_returns_the_same_hold(ledger: Ledger) -> None:
    first = ledger.hold("r1", "ada", usd("5"), at=OCT)
    again = ledger.hold("r1", "ada", usd("5"), at=OCT)
    assert again.hold == first.hold
    assert again.decision.allowed
    with pytest.raises(ConflictError):
        ledger.hold("r1", "ada", usd("6"), at=OCT)
    with pytest.raises(ConflictError):
        ledger.hold("r1", "bob", usd("5"), at=OCT)
    assert mtd(ledger) == held({"ada": "5"}, {CHAT: "5"})


def test_extend_within_and_over_the_caps(ledger: Ledger, clock: Clock) -> None:
    """ada holds 5, then 5 + 10 = 15; 15 + 6 = 21 passes her 20 (short 1); 15 + 5 = 20 fits."""
    ledger.hold("r1", "ada", usd("5"), at=OCT)
    clock.advance(timedelta(minutes=5))
    grown = ledger.extend("r1", usd("10"))
    assert grown.decision == allowed("ada", CHAT, usd("10"), usd("15"))
    assert grown.hold is not None
    assert (grown.hold.amount, grown.hold.expires_at) == (usd("15"), clock.now + TTL)

    refused = ledger.extend("r1", usd("6"))
    assert not refused.decision.allowed
    assert refused.decision.bindings == (
        Binding(
            Level.MEMBER,
            "ada",
            cap=usd("20"),
            used=usd("15"),
            shortfall=usd("1"),
            source=LimitSource.INDIVIDUAL,
        ),
    )
    assert refused.hold == grown.hold  # unchanged
    assert mtd(ledger) == held({"ada": "15"}, {CHAT: "15"})
    assert ledger.extend("r1", usd("5")).decision.allowed
    assert mtd(ledger) == held({"ada": "20"}, {CHAT: "20"})
    with pytest.raises(UnknownNameError):
        ledger.extend("r-unknown", usd("1"))


def test_extend_is_all_levels_or_none(ledger: Ledger) -> None:
    """bob holds 10, ada spends 15: the pool has 25 used. bob's +6 fits his cap (16 of 25),
    not the pool (31 of 30): nothing more is held anywhere."""
    ledger.hold("r1", "bob", usd("10"), at=OCT)
    ledger.charge(event("e1", "ada", "15"))
    refused = ledger.extend("r1", usd("6"))
    assert [b.level for b in refused.decision.bindings] == [Level.SEAT_TYPE]
    assert mtd(ledger) == held(
        {"bob": "10"}, {CHAT: "10"}, members={"ada": "15"}, seat_types={CHAT: "15"}
    )


def test_settle_under_at_and_over_the_hold(ledger: Ledger) -> None:
    ledger.hold("r1", "ada", usd("10"), at=OCT)
    under = ledger.settle("r1", event("s1", "ada", "4"))
    assert (under.amount, under.held, under.overrun, under.period) == (
        usd("4"),
        usd("10"),
        None,
        "2026-10",
    )
    assert not under.replayed
    assert mtd(ledger) == committed({"ada": "4"}, {CHAT: "4"})  # the other 6 freed

    ledger.hold("r2", "ada", usd("5"), at=OCT)
    assert ledger.settle("r2", event("s2", "ada", "5")).overrun is None  # exactly the hold
    assert ledger.stats()["overruns"] == 0

    ledger.hold("r3", "ada", usd("2"), at=OCT)
    over = ledger.settle("r3", event("s3", "ada", "3.50"))
    assert over.overrun == usd("1.50")
    assert ledger.stats() == {"overruns": 1, "expired_holds": 0}
    assert mtd(ledger) == committed({"ada": "12.50"}, {CHAT: "12.50"})

    again = ledger.settle("r3", event("s3", "ada", "3.50"))
    assert again == attrs.evolve(over, replayed=True)
    assert ledger.stats()["overruns"] == 1
    assert mtd(ledger) == committed({"ada": "12.50"}, {CHAT: "12.50"})
    with pytest.raises(UnknownNameError):
        ledger.settle("r3", event("s4", "ada", "1"))


def test_an_overrun_is_recorded_even_past_the_cap(ledger: Ledger) -> None:
    """ada holds 7.50 of her last 7.50 (12.50 spent) and uses 9: 21.50 of 20 is recorded,
    flagged; from then on she is denied anything but zero."""
    ledger.charge(event("e1", "ada", "12.50"))
    ledger.hold("r1", "ada", usd("7.50"), at=OCT)
    result = ledger.settle("r1", event("s1", "ada", "9"))
    assert result.overrun == usd("1.50")
    assert mtd(ledger) == committed({"ada": "21.50"}, {CHAT: "21.50"})
    assert ledger.stats()["overruns"] == 1
    denied = ledger.charge(event("e2", "ada", "0.01"))
    assert denied.decision.bindings[0].shortfall == usd("1.51")
    assert denied.decision.headroom == usd("0")
    assert ledger.charge(event("e3", "ada", "0")).recorded


def test_settle_by_another_member_is_a_conflict(ledger: Ledger) -> None:
    ledger.hold("r1", "ada", usd("3"), at=OCT)
    with pytest.raises(ConflictError):
        ledger.settle("r1", event("s1", "bob", "1"))
    assert mtd(ledger) == held({"ada": "3"}, {CHAT: "3"})
    assert ledger.settle("r1", event("s1", "ada", "1")).amount == usd("1")  # id still free


def test_release_frees_every_level(ledger: Ledger) -> None:
    granted = ledger.hold("r1", "bob", usd("12"), at=OCT)
    assert mtd(ledger) == held({"bob": "12"}, {CHAT: "12"})
    assert ledger.release("r1") == granted.hold
    assert mtd(ledger) == committed()
    for operation in (
        lambda: ledger.release("r1"),
        lambda: ledger.settle("r1", event("s1", "bob", "1")),
        lambda: ledger.extend("r1", usd("1")),
    ):
        with pytest.raises(UnknownNameError):
            operation()
    assert ledger.hold("r2", "bob", usd("25"), at=OCT).decision.allowed  # all of it is back


# --- expiry ---------------------------------------------------------------------------------


def test_a_hold_expires_after_its_ttl(ledger: Ledger, clock: Clock) -> None:
    """ada's 8 held until 12:10. At 12:09:59 it still counts (8 + 12.01 > 20); at 12:10 the
    next operation releases it, reports it, and has the room."""
    granted = ledger.hold("r1", "ada", usd("8"), at=OCT)
    clock.advance(TTL - timedelta(seconds=1))
    assert not ledger.charge(event("e1", "ada", "12.01")).recorded
    assert ledger.expired_holds == []
    clock.now = OCT + TTL
    assert ledger.charge(event("e2", "ada", "12.01")).recorded
    assert ledger.expired_holds == [granted.hold]
    assert ledger.stats() == {"overruns": 0, "expired_holds": 1}
    assert mtd(ledger) == committed({"ada": "12.01"}, {CHAT: "12.01"})
    with pytest.raises(UnknownNameError):
        ledger.settle("r1", event("s1", "ada", "1"))
    with pytest.raises(UnknownNameError):
        ledger.release("r1")
    ledger.charge(event("e3", "ada", "1"))
    assert ledger.expired_holds == [granted.hold]  # reported once
    assert ledger.stats()["expired_holds"] == 1


def test_an_operation_that_raises_expires_nothing(ledger: Ledger, clock: Clock) -> None:
    """An operation that raises applies nothing, expiries included: the expired hold is
    released and reported, once, by the next operation that succeeds."""
    ledger.charge(event("e1", "ada", "1"))
    granted = ledger.hold("r1", "ada", usd("5"), at=OCT)
    clock.advance(timedelta(hours=1))
    with pytest.raises(UnknownNameError):
        ledger.release("r-unknown")
    with pytest.raises(ConflictError):
        ledger.charge(event("e1", "ada", "2"))
    with pytest.raises(ConflictError):
        ledger.settle("r1", event("e1", "ada", "1"))
    assert ledger.expired_holds == []
    assert ledger.stats()["expired_holds"] == 0
    assert mtd(ledger) == held(
        {"ada": "5"}, {CHAT: "5"}, members={"ada": "1"}, seat_types={CHAT: "1"}
    )
    assert ledger.expire() == [granted.hold]
    assert ledger.expired_holds == [granted.hold]
    assert mtd(ledger) == committed({"ada": "1"}, {CHAT: "1"})
    assert ledger.expire() == []
    ledger.charge(event("e2", "ada", "1"))
    assert ledger.expired_holds == [granted.hold]
    assert ledger.stats()["expired_holds"] == 1


def test_extend_renews_the_ttl_and_a_hold_may_have_its_own(ledger: Ledger, clock: Clock) -> None:
    ledger.hold("r1", "ada", usd("5"), at=OCT)  # until 12:10
    ledger.hold("r2", "bob", usd("1"), at=OCT, ttl=timedelta(minutes=1))  # until 12:01
    clock.advance(timedelta(minutes=8))  # 12:08: r2 is gone
    assert [hold.request_id for hold in ledger.expire()] == ["r2"]
    assert ledger.extend("r1", usd("1")).hold.expires_at == OCT + timedelta(minutes=18)  # type: ignore[union-attr]
    clock.advance(timedelta(minutes=7))  # 12:15: r1 lives on
    assert ledger.expire() == []
    assert mtd(ledger) == held({"ada": "6"}, {CHAT: "6"})
    clock.advance(timedelta(minutes=3))  # 12:18
    assert [hold.request_id for hold in ledger.expire()] == ["r1"]
    assert ledger.stats()["expired_holds"] == 2


# --- periods --------------------------------------------------------------------------------


def test_hold_in_october_settled_in_november(ledger: Ledger, clock: Clock) -> None:
    """ada holds 6 at 23:50 on 31 October; at 00:05 she spends 10 in November, where
    October's hold takes no room; the settlement (4, stamped 00:10) frees October's 6 and
    commits to November."""
    late = datetime(2026, 10, 31, 23, 50, tzinfo=UTC)
    clock.now = late
    ledger.hold("r1", "ada", usd("6"), at=late)
    assert mtd(ledger, late) == held({"ada": "6"}, {CHAT: "6"})
    early = ledger.charge(event("e1", "ada", "10", at=datetime(2026, 11, 1, 0, 5, tzinfo=UTC)))
    assert (early.period, early.decision.headroom) == ("2026-11", usd("20"))
    settled = ledger.settle(
        "r1", event("s1", "ada", "4", at=datetime(2026, 11, 1, 0, 10, tzinfo=UTC))
    )
    assert (settled.period, settled.held, settled.overrun) == ("2026-11", usd("6"), None)
    assert mtd(ledger, late) == committed()
    assert mtd(ledger, NOV) == committed({"ada": "14"}, {CHAT: "14"})


def test_an_october_hold_expiring_in_november_frees_october(ledger: Ledger, clock: Clock) -> None:
    late = datetime(2026, 10, 31, 23, 55, tzinfo=UTC)
    clock.now = late
    ledger.hold("r1", "bob", usd("7"), at=late)
    clock.advance(timedelta(hours=1))
    ledger.charge(event("e1", "bob", "1", at=clock.now))
    assert mtd(ledger, late) == committed()
    assert ledger.stats(late)["expired_holds"] == 1
    assert ledger.stats(clock.now)["expired_holds"] == 0
    assert mtd(ledger, clock.now) == committed({"bob": "1"}, {CHAT: "1"})


@pytest.mark.parametrize(
    ("timezone", "last_october", "first_november"),
    [
        # Paris is UTC+1 after 25 October 2026: its November starts at 23:00 UTC.
        ("Europe/Paris", "2026-10-31T22:59:59.999999Z", "2026-10-31T23:00:00Z"),
        # Los Angeles is still UTC-7 until 02:00 local on 1 November: 07:00 UTC.
        ("America/Los_Angeles", "2026-11-01T06:59:59Z", "2026-11-01T07:00:00Z"),
        ("UTC", "2026-10-31T23:59:59.999999Z", "2026-11-01T00:00:00Z"),
    ],
)
def test_charges_land_in_the_period_of_the_organization_time_zone(
    open_: OpenLedger, timezone: str, last_october: str, first_november: str
) -> None:
    """Each side of local midnight gets its own month, and its own caps: ada may spend her
    whole 20 on both sides."""
    ledger = open_(make_org(timezone=timezone))
    october = ledger.charge(event("e1", "ada", "20", at=datetime.fromisoformat(last_october)))
    november = ledger.charge(event("e2", "ada", "20", at=datetime.fromisoformat(first_november)))
    assert (october.period, november.period) == ("2026-10", "2026-11")
    assert october.recorded
    assert november.recorded
    assert mtd(ledger, OCT) == committed({"ada": "20"}, {CHAT: "20"})
    assert mtd(ledger, NOV) == committed({"ada": "20"}, {CHAT: "20"})


# --- cap changes ----------------------------------------------------------------------------


def test_cap_changes_apply_from_the_next_decision(ledger: Ledger) -> None:
    """ada at 15: 6 more is denied under 20, allowed under 25 (headroom 10). Her cap lowered
    to 10 undoes nothing (21 stays) and denies any further non-zero charge or hold."""
    ledger.charge(event("e1", "ada", "15"))
    assert not ledger.charge(event("e2", "ada", "6")).recorded
    ledger.set_organization(with_member_cap(ledger.org, "ada", "25"))
    raised = ledger.charge(event("e3", "ada", "6"))
    assert raised.decision == allowed("ada", CHAT, usd("6"), usd("10"))

    ledger.set_organization(with_member_cap(ledger.org, "ada", "10"))
    assert mtd(ledger) == committed({"ada": "21"}, {CHAT: "21"})
    lowered = ledger.charge(event("e4", "ada", "0.01"))
    assert lowered.decision.bindings == (
        Binding(
            Level.MEMBER,
            "ada",
            cap=usd("10"),
            used=usd("21"),
            shortfall=usd("11.01"),
            source=LimitSource.INDIVIDUAL,
        ),
    )
    assert lowered.decision.headroom == usd("0")
    assert not ledger.hold("r1", "ada", usd("0.01"), at=OCT).decision.allowed
    assert ledger.charge(event("e5", "ada", "0")).recorded


def test_a_pool_cap_change_applies_to_live_holds_extension(ledger: Ledger) -> None:
    """bob holds 20 of the Chat pool's 30; with the pool lowered to 20, +1 is denied."""
    ledger.hold("r1", "bob", usd("20"), at=OCT)
    assert ledger.extend("r1", usd("1")).decision.allowed
    org = ledger.org.set_seat_type_limit("olga", OCT, CHAT, PoolLimit(pool_cap=usd("20")))[0]
    ledger.set_organization(org)
    refused = ledger.extend("r1", usd("1"))
    assert refused.decision.bindings[0] == Binding(
        Level.SEAT_TYPE, CHAT, cap=usd("20"), used=usd("21"), shortfall=usd("2")
    )


# --- notifications --------------------------------------------------------------------------


def note(level: Level, subject: str, limit: str, threshold: str, spend: str) -> Notification:
    return Notification(level, subject, usd(limit), Decimal(threshold), usd(spend))


def test_member_notifications_fire_once_per_threshold_per_period(open_: OpenLedger) -> None:
    """ada's 20: 75 % is 15, 90 % is 18, 100 % is 20. Raised to 40, 75 % is 30 anew."""
    ledger = open_(make_org(org_cap=None, chat_pool=None, members={"ada": "20"}))
    assert ledger.charge(event("e1", "ada", "14")).notifications == ()
    crossing = ledger.charge(event("e2", "ada", "1"))
    assert crossing.notifications == (note(Level.MEMBER, "ada", "20", "0.75", "15"),)
    assert ledger.charge(event("e3", "ada", "0.5")).notifications == ()
    # A retry answers the first outcome (flagged replayed): nothing new fired.
    assert ledger.charge(event("e2", "ada", "1")) == attrs.evolve(crossing, replayed=True)
    assert ledger.charge(event("e4", "ada", "3")).notifications == (
        note(Level.MEMBER, "ada", "20", "0.9", "18.5"),
    )
    assert ledger.charge(event("e5", "ada", "1.5")).notifications == (
        note(Level.MEMBER, "ada", "20", "1", "20"),
    )
    assert ledger.charge(event("e6", "ada", "0")).notifications == ()
    ledger.set_organization(with_member_cap(ledger.org, "ada", "40"))
    assert ledger.charge(event("e7", "ada", "10")).notifications == (
        note(Level.MEMBER, "ada", "40", "0.75", "30"),
    )
    # November starts from nothing: 75 % of 40 fires again there.
    assert ledger.charge(event("e8", "ada", "30", at=NOV)).notifications == (
        note(Level.MEMBER, "ada", "40", "0.75", "30"),
    )


def test_pool_notifications_and_settlements(open_: OpenLedger) -> None:
    """Chat pool 30 (22.5, 27, 30) and organization 100 (75, 90, 100); no member caps."""
    ledger = open_(make_org(members={}))
    assert ledger.charge(event("e1", "ada", "22")).notifications == ()
    assert ledger.charge(event("e2", "bob", "1")).notifications == (
        note(Level.SEAT_TYPE, CHAT, "30", "0.75", "23"),
    )
    assert ledger.charge(event("e3", "cy", "52")).notifications == (
        note(Level.ORGANIZATION, "acme", "100", "0.75", "75"),
    )
    ledger.hold("r1", "bob", usd("4"), at=OCT)  # held money is not spend: nothing fires
    settled = ledger.settle("r1", event("s1", "bob", "4.50"))
    assert settled.notifications == (note(Level.SEAT_TYPE, CHAT, "30", "0.9", "27.5"),)
    assert ledger.charge(event("e4", "cy", "8")).notifications == ()  # organization at 87.5
    assert ledger.charge(event("e5", "ada", "2.5")).notifications == (
        note(Level.SEAT_TYPE, CHAT, "30", "1", "30"),
        note(Level.ORGANIZATION, "acme", "100", "0.9", "90"),
    )


# --- the edges ------------------------------------------------------------------------------


def test_a_zero_cost_charge_is_always_allowed(open_: OpenLedger) -> None:
    """A zero cap is zero (not "no cap"): a cent is denied, nothing at all is allowed."""
    ledger = open_(make_org(members={"ada": "0"}))
    denied = ledger.charge(event("e1", "ada", "0.01"))
    assert denied.decision.bindings[0].shortfall == usd("0.01")
    free = ledger.charge(event("e2", "ada", "0"))
    assert free.decision == allowed("ada", CHAT, usd("0"), usd("0"))
    assert ledger.hold("r1", "ada", usd("0"), at=OCT).decision.allowed
    assert mtd(ledger) == committed()


def test_a_product_not_in_the_seat_is_denied_whatever_the_caps(ledger: Ledger) -> None:
    """ada's Chat seat does not include Claude Code: denied, even at no cost; cy's does."""
    for event_id, amount in (("e1", "1"), ("e2", "0")):
        denied = ledger.charge(event(event_id, "ada", amount, product=Product.CLAUDE_CODE))
        assert denied.decision == Decision(
            allowed=False,
            user_id="ada",
            seat_type=CHAT,
            amount=usd(amount),
            headroom=None,
            not_included=Product.CLAUDE_CODE,
        )
    refused = ledger.hold("r1", "ada", usd("1"), at=OCT, product=Product.CLAUDE_CODE)
    assert refused.decision.not_included is Product.CLAUDE_CODE
    assert refused.hold is None
    assert ledger.charge(event("e3", "cy", "1", product=Product.CLAUDE_CODE)).recorded
    assert mtd(ledger) == committed({"cy": "1"}, {CHAT_AND_CLAUDE_CODE: "1"})


def test_an_unknown_member_is_an_error_and_nothing_is_kept(ledger: Ledger) -> None:
    with pytest.raises(UnknownNameError):
        ledger.charge(event("e1", "zed", "1"))
    with pytest.raises(UnknownNameError):
        ledger.hold("r1", "zed", usd("1"), at=OCT)
    assert mtd(ledger) == committed()
    first = ledger.charge(event("e1", "ada", "1"))  # the id was not taken
    assert not first.replayed
    assert first.recorded


def test_charges_count_toward_the_seat_type_held_when_made(ledger: Ledger) -> None:
    """ada spends 5 on Chat, moves to Chat + Claude Code, spends 7 there. Her hold taken on
    Chat cannot be topped up under the new seat (it would check one pool and fill another);
    it is released from Chat, and its usage (at the instant of the move, so on the new seat)
    counts toward Chat + Claude Code, as the invoice bills it."""
    ledger.charge(event("e1", "ada", "5"))
    ledger.hold("r1", "ada", usd("3"), at=OCT)
    moved = ledger.org.assign_seat("olga", OCT, "ada", CHAT_AND_CLAUDE_CODE)[0]
    ledger.set_organization(moved)
    assert ledger.charge(event("e2", "ada", "7", product=Product.CLAUDE_CODE)).recorded
    with pytest.raises(ConflictError, match="seat type"):
        ledger.extend("r1", usd("1"))
    ledger.settle("r1", event("s1", "ada", "2"))
    assert mtd(ledger) == committed({"ada": "14"}, {CHAT: "5", CHAT_AND_CLAUDE_CODE: "9"})


def test_holding_again_after_a_seat_change_decides_on_the_seat_held_now(open_: OpenLedger) -> None:
    """ada holds 5 on Chat, cy spends 8 in the Chat + Claude Code pool of 12, ada moves there.

    Asking for her hold again answers with a decision on her path now: ada 20 - 5 held = 15,
    her new pool 12 - 8 = 4, the organization 100 - 8 - 5 = 87; headroom 4 (the pool she
    holds now, read from its own counters).
    """
    ledger = open_(make_org(code_pool="12"))
    first = ledger.hold("r1", "ada", usd("5"), at=OCT)
    assert ledger.charge(event("e1", "cy", "8", product=Product.CLAUDE_CODE)).recorded
    ledger.set_organization(ledger.org.assign_seat("olga", OCT, "ada", CHAT_AND_CLAUDE_CODE)[0])
    again = ledger.hold("r1", "ada", usd("5"), at=OCT)
    assert again.hold == first.hold
    assert again.decision == allowed("ada", CHAT_AND_CLAUDE_CODE, usd("0"), usd("4"))


def test_reading_defaults_to_the_clock_and_stats_start_at_zero(
    ledger: Ledger, clock: Clock
) -> None:
    assert ledger.stats() == {"overruns": 0, "expired_holds": 0}
    ledger.charge(event("e1", "bob", "2"))
    assert ledger.month_to_date() == ledger.month_to_date(OCT)
    clock.now = NOV
    assert figures(ledger.month_to_date()) == committed()


def test_a_naive_instant_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidValueError):
        ledger.hold("r1", "ada", usd("1"), at=datetime(2026, 10, 15))
    assert mtd(ledger) == committed()
