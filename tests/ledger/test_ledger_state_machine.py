"""A ledger driven step by step, against a pure model made of ``Spend`` and ``authorize``.

Each step is a charge, a hold, an extension, a settlement, a release, a retry (the same
event again, or the same id with other content), an explicit expiry, a move of the clock
(holds expire), a change of caps or a change of seat. The model knows the rules only as
the pure functions state them; after every step:

* the ledger's decision equals :func:`usagebill.authorize` on the model's spend, and the
  notifications equal :func:`usagebill.notifications` between the model's before and after;
* ``month_to_date`` of both months equals the model's Spend; stats and the expired holds
  reported equal the model's;
* a charge, hold or extension never takes a level past its cap (it may only add where there
  is room), and while the state is within every cap it stays so: only a settlement above
  its hold or in another month, a lowered cap or a seat change may leave it over, and the
  model then says whether it is.

Memory (200 examples of up to 50 steps), SQLite (100 of 40) always; PostgreSQL (50 of 40)
when it is available: about 10 s in all. ``USAGEBILL_STRESS=1`` runs ten times as many.
Run with ``--hypothesis-show-statistics`` to see how often each outcome came up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger_support import (
    CATALOGUE,
    NOV,
    OCT,
    PEOPLE,
    Clock,
    assert_consistent,
    caps_in_force,
    event,
    figures,
    make_org,
    open_ledger,
    overshoot,
    postgres_skip_reason,
    used_by,
)
from usagebill import (
    ConflictError,
    Money,
    Organization,
    Product,
    Spend,
    SpendLimits,
    TokenUsage,
    UnknownNameError,
    UsageEvent,
    authorize,
    notifications,
)
from usagebill.ledger import ChargeResult, Hold, Ledger, SettleResult
from usagebill.testing import spend_limits

TTL = timedelta(minutes=10)
AT = {"2026-10": OCT, "2026-11": NOV}
USERS = tuple(member.user_id for member in PEOPLE)
STRESS = os.environ.get("USAGEBILL_STRESS") == "1"

cents = st.one_of(st.integers(0, 1500), st.sampled_from([0, 1, 99, 500, 1000]))
periods = st.sampled_from(sorted(AT))
products = st.sampled_from([Product.CHAT, Product.CLAUDE_CODE])
requests = st.sampled_from([f"r{i}" for i in range(5)])
ttls = st.sampled_from([None, timedelta(minutes=1), timedelta(minutes=30)])


def event_note(what: str) -> None:
    """Count ``what`` for ``--hypothesis-show-statistics`` (nothing outside a test run)."""
    with contextlib.suppress(InvalidArgument):
        hypothesis_event(what)


def money(amount: int) -> Money:
    return Money(Decimal(amount).scaleb(-2))


@attrs.frozen
class Seen:
    """An event the ledger has recorded: by which operation, with what, and its outcome."""

    kind: str  # "charge" or "settle"
    request_id: str | None
    event: UsageEvent
    outcome: ChargeResult | SettleResult


class LedgerMachine(RuleBasedStateMachine):
    """One ledger and its model; subclasses pick the store."""

    kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="usagebill-ledger-machine-")
        self.clock = Clock(OCT)
        self.org: Organization = make_org()
        self.ledger: Ledger | None = None
        self.spend = {period: Spend() for period in AT}
        self.holds: dict[str, Hold] = {}
        self.events: dict[str, Seen] = {}
        self.expired: Counter[Hold] = Counter()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.within = True
        self.serial = 0

    # --- set-up and tear-down -------------------------------------------------------------

    @initialize(limits=spend_limits(CATALOGUE, USERS, max_value=40))
    def open(self, limits: SpendLimits) -> None:
        self.org = self.org.set_limits("olga", OCT, limits)[0]
        self.ledger = open_ledger(
            self.kind,
            self.org,
            os.path.join(self.directory, "ledger.db"),  # noqa: PTH118
            clock=self.clock,
            hold_ttl=TTL,
            fresh=True,
        )

    def teardown(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def live(self) -> Ledger:
        assert self.ledger is not None
        return self.ledger

    # --- the model's own steps ------------------------------------------------------------

    def begin(self) -> tuple[Any, ...]:
        """Expire holds as every operation does first; return the state to roll back to."""
        saved = (dict(self.spend), dict(self.holds), Counter(self.expired), Counter(self.counts))
        for request_id, hold in list(self.holds.items()):
            if hold.expires_at <= self.clock.now:
                self.release_in_model(hold)
                del self.holds[request_id]
                self.expired[hold] += 1
                self.counts[hold.period, "expired_holds"] += 1
        return saved

    def roll_back(self, saved: tuple[Any, ...]) -> None:
        """An operation that raised applied nothing, not even its expiries."""
        self.spend, self.holds, self.expired, self.counts = saved

    def release_in_model(self, hold: Hold) -> None:
        self.spend[hold.period] = self.spend[hold.period].release(
            hold.user_id, hold.seat_type, hold.amount
        )

    def took_room_only(self, period: str, before: Spend) -> None:
        """A charge, hold or extension adds only where the level has room for it."""
        after = self.spend[period]
        for scope, cap in caps_in_force(self.org).items():
            if cap is not None:
                grew = used_by(after, scope) > used_by(before, scope)
                assert not grew or used_by(after, scope) <= cap, (scope, cap)

    def recheck_within(self) -> None:
        self.within = not any(overshoot(self.org, spend) for spend in self.spend.values())

    def pick_request(self, data: st.DataObject) -> str:
        """Mostly a live hold's request id; sometimes any (unknown, settled or expired)."""
        live = data.draw(st.integers(0, 4)) > 0
        if self.holds and live:
            return data.draw(st.sampled_from(sorted(self.holds)))
        return data.draw(requests)

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    # --- charges --------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), amount=cents, product=products, period=periods)
    def charge(self, *, user: str, amount: int, product: Product, period: str) -> None:
        self.do_charge(event(self.next_id("e"), user, money(amount).amount, AT[period], product))

    def do_charge(self, usage: UsageEvent) -> None:
        saved = self.begin()
        seen = self.events.get(usage.event_id)
        if seen is not None:
            if seen.kind == "charge" and seen.event == usage:
                assert self.live.charge(usage) == attrs.evolve(seen.outcome, replayed=True)
                return
            with pytest.raises(ConflictError):
                self.live.charge(usage)
            self.roll_back(saved)
            return
        period = f"{usage.at:%Y-%m}"  # the organization keeps UTC
        seat_type = self.org.members[usage.user_id].seat_type
        amount = money(usage.usage.input_tokens)
        before = self.spend[period]
        decision = authorize(self.org, before, usage.user_id, amount, product=usage.product)
        result = self.live.charge(usage)
        event_note("charge allowed" if decision.allowed else "charge denied")
        assert result.decision == decision
        assert (result.amount, result.period, result.replayed) == (amount, period, False)
        if decision.allowed:
            after = before.record(usage.user_id, seat_type, amount)
            expected = notifications(self.org, before, after, members=[usage.user_id])
            assert result.notifications == expected
            self.spend[period] = after
            self.took_room_only(period, before)
        else:
            assert result.notifications == ()
        self.events[usage.event_id] = Seen("charge", None, usage, result)

    @precondition(lambda self: self.events)
    @rule(data=st.data(), how=st.sampled_from(["same", "other", "crossed"]))
    def retry(self, data: st.DataObject, how: str) -> None:
        """The same event again (a replay), with other content or as the other operation."""
        seen = self.events[data.draw(st.sampled_from(sorted(self.events)))]
        usage = seen.event
        if how == "other":
            more = TokenUsage(input_tokens=usage.usage.input_tokens + 1)
            usage = attrs.evolve(usage, usage=more)
        as_settle = (seen.kind == "settle") != (how == "crossed")
        if as_settle:
            request = seen.request_id or data.draw(requests)
            self.do_settle(request, usage)
        else:
            self.do_charge(usage)

    # --- holds ----------------------------------------------------------------------------

    @rule(
        request=requests,
        user=st.sampled_from(USERS),
        amount=cents,
        product=products,
        period=periods,
        ttl=ttls,
    )
    def hold(
        self,
        *,
        request: str,
        user: str,
        amount: int,
        product: Product,
        period: str,
        ttl: timedelta | None,
    ) -> None:
        saved = self.begin()
        wanted = money(amount)
        existing = self.holds.get(request)
        if existing is not None:
            if (existing.user_id, existing.amount) != (user, wanted):
                with pytest.raises(ConflictError):
                    self.live.hold(request, user, wanted, at=AT[period], ttl=ttl)
                self.roll_back(saved)
                return
            again = self.live.hold(request, user, wanted, at=AT[period], ttl=ttl)
            assert again.hold == existing
            assert again.decision.allowed
            return
        before = self.spend[period]
        decision = authorize(self.org, before, user, wanted, product=product)
        result = self.live.hold(request, user, wanted, at=AT[period], product=product, ttl=ttl)
        event_note("hold allowed" if decision.allowed else "hold denied")
        assert result.decision == decision
        if not decision.allowed:
            assert result.hold is None
            return
        seat_type = self.org.members[user].seat_type
        expires = self.clock.now + (ttl or TTL)
        taken = Hold(request, user, seat_type, period, wanted, product, expires)
        assert result.hold == taken
        self.holds[request] = taken
        self.spend[period] = before.hold(user, seat_type, wanted)
        self.took_room_only(period, before)

    @rule(data=st.data(), amount=cents, ttl=ttls)
    def extend(self, data: st.DataObject, amount: int, ttl: timedelta | None) -> None:
        request = self.pick_request(data)
        saved = self.begin()
        hold = self.holds.get(request)
        if hold is None:
            with pytest.raises(UnknownNameError):
                self.live.extend(request, money(amount), ttl=ttl)
            self.roll_back(saved)
            return
        if self.org.members[hold.user_id].seat_type != hold.seat_type:
            with pytest.raises(ConflictError):
                self.live.extend(request, money(amount), ttl=ttl)
            self.roll_back(saved)
            return
        before = self.spend[hold.period]
        decision = authorize(self.org, before, hold.user_id, money(amount), product=hold.product)
        result = self.live.extend(request, money(amount), ttl=ttl)
        event_note("extend allowed" if decision.allowed else "extend denied")
        assert result.decision == decision
        if not decision.allowed:
            assert result.hold == hold
            return
        grown = attrs.evolve(
            hold, amount=hold.amount + money(amount), expires_at=self.clock.now + (ttl or TTL)
        )
        assert result.hold == grown
        self.holds[request] = grown
        self.spend[hold.period] = before.hold(hold.user_id, hold.seat_type, money(amount))
        self.took_room_only(hold.period, before)

    @rule(
        data=st.data(),
        amount=cents,
        period=periods,
        stranger=st.integers(0, 9).map(lambda roll: roll == 0),
    )
    def settle(self, data: st.DataObject, amount: int, period: str, stranger: bool) -> None:
        request = self.pick_request(data)
        hold = self.holds.get(request)
        user = hold.user_id if hold is not None else data.draw(st.sampled_from(USERS))
        if stranger:
            user = data.draw(st.sampled_from(USERS))
        usage = event(self.next_id("s"), user, money(amount).amount, AT[period])
        self.do_settle(request, usage)

    def do_settle(self, request: str, usage: UsageEvent) -> None:
        saved = self.begin()
        seen = self.events.get(usage.event_id)
        if seen is not None:
            if (seen.kind, seen.request_id, seen.event) == ("settle", request, usage):
                assert self.live.settle(request, usage) == attrs.evolve(seen.outcome, replayed=True)
                return
            with pytest.raises(ConflictError):
                self.live.settle(request, usage)
            self.roll_back(saved)
            return
        hold = self.holds.get(request)
        if hold is None or hold.user_id != usage.user_id:
            with pytest.raises(UnknownNameError if hold is None else ConflictError):
                self.live.settle(request, usage)
            self.roll_back(saved)
            return
        period = f"{usage.at:%Y-%m}"  # the organization keeps UTC
        amount = money(usage.usage.input_tokens)
        self.release_in_model(hold)
        before = self.spend[period]
        # The usage counts toward the seat held at its instant (every seat change is at OCT).
        seat_type = self.org.members[hold.user_id].seat_type
        after = before.record(hold.user_id, seat_type, amount)
        overrun = amount - hold.amount if amount > hold.amount else None
        result = self.live.settle(request, usage)
        assert result == SettleResult(
            request,
            usage.event_id,
            amount,
            hold.amount,
            overrun,
            period,
            notifications(self.org, before, after, members=[hold.user_id]),
        )
        event_note("settled with an overrun" if overrun else "settled within the hold")
        if overrun is not None:
            self.counts[period, "overruns"] += 1
        self.spend[period] = after
        del self.holds[request]
        self.events[usage.event_id] = Seen("settle", request, usage, result)
        self.recheck_within()  # an overrun, or a cost committed to another month, may pass a cap

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        request = self.pick_request(data)
        saved = self.begin()
        hold = self.holds.pop(request, None)
        if hold is None:
            with pytest.raises(UnknownNameError):
                self.live.release(request)
            self.roll_back(saved)
            return
        assert self.live.release(request) == hold
        self.release_in_model(hold)

    # --- time, caps and seats -------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 4, 9, 10, 31]))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def expire(self) -> None:
        before = Counter(self.expired)
        self.begin()
        assert Counter(self.live.expire()) == self.expired - before
        if self.expired != before:
            event_note("holds expired")

    @rule(limits=spend_limits(CATALOGUE, USERS, max_value=40))
    def change_caps(self, limits: SpendLimits) -> None:
        self.org = self.org.set_limits("olga", OCT, limits)[0]
        self.live.set_organization(self.org)
        self.recheck_within()

    @rule(user=st.sampled_from(USERS), seat_type=st.sampled_from(sorted(CATALOGUE.seat_types)))
    def change_seat(self, user: str, seat_type: str) -> None:
        self.org = self.org.assign_seat("olga", OCT, user, seat_type)[0]
        self.live.set_organization(self.org)
        self.recheck_within()

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def ledger_equals_model(self) -> None:
        if self.ledger is None:
            return
        for period, at in AT.items():
            spend = self.ledger.month_to_date(at)
            assert_consistent(spend)
            assert figures(spend) == figures(self.spend[period]), period
            expected = {name: self.counts[period, name] for name in ("overruns", "expired_holds")}
            assert self.ledger.stats(at) == expected
        assert Counter(self.ledger.expired_holds) == self.expired

    @invariant()
    def within_every_cap(self) -> None:
        """Committed + held <= cap at every level, while nothing was allowed to pass one."""
        if self.within:
            for period, spend in self.spend.items():
                assert overshoot(self.org, spend) == {}, period


def _settings(examples: int, steps: int) -> settings:
    scale = 10 if STRESS else 1
    return settings(
        max_examples=examples * scale,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


class MemoryMachine(LedgerMachine):
    kind = "memory"


class SqliteMachine(LedgerMachine):
    kind = "sqlite"


class PostgresMachine(LedgerMachine):
    kind = "postgres"


TestMemoryLedger = MemoryMachine.TestCase
TestMemoryLedger.settings = _settings(200, 50)
TestSqliteLedger = SqliteMachine.TestCase
TestSqliteLedger.settings = _settings(100, 40)
_POSTGRES_SKIP = postgres_skip_reason()
TestPostgresLedger = pytest.mark.skipif(_POSTGRES_SKIP is not None, reason=_POSTGRES_SKIP or "")(
    PostgresMachine.TestCase
)
TestPostgresLedger.settings = _settings(50, 40)


def test_the_model_catches_a_ledger_that_overshoots() -> None:
    """The machine's checks are not vacuous: a ledger that records what it should deny fails."""

    class Lenient(MemoryMachine):
        def open(self, limits: SpendLimits) -> None:
            super().open(limits)
            self.live.org = attrs.evolve(self.org, limits=SpendLimits())  # sees no caps

        def change_caps(self, limits: SpendLimits) -> None:
            pass

    machine = Lenient()
    machine.open(SpendLimits(members={"ada": Money("1")}))
    try:
        with pytest.raises(AssertionError):
            machine.charge(user="ada", amount=200, product=Product.CHAT, period="2026-10")
    finally:
        machine.teardown()
