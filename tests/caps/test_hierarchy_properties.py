"""Properties of nested caps: the hierarchy invariant, monotonicity, locality, attribution,
notifications, and a state machine mixing charges with every kind of change."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger_support import Scope, caps_in_force, used_by
from usagebill import (
    ConflictError,
    InvalidValueError,
    Member,
    Money,
    Organization,
    PermissionDeniedError,
    PoolLimit,
    Product,
    Role,
    Spend,
    SpendLimits,
    authorize,
    notifications,
)
from usagebill.accounts.limits import LimitSource
from usagebill.accounts.organization import AuditRecord, RequestStatus
from usagebill.caps.decision import Level
from usagebill.testing import amounts, caps, organizations, spends

START = datetime(2026, 10, 1, tzinfo=UTC)
"""When usagebill.testing's organizations are created (its default)."""
ZERO = Decimal(0)
PRODUCTS = st.sampled_from([Product.CHAT, Product.CHAT, *Product])  # mostly included everywhere


# --- the rules, written out independently of usagebill.caps.decision -----------------------------


def path(org: Organization, user_id: str) -> list[Scope]:
    seat_type = org.members[user_id].seat_type
    return [(Level.MEMBER, user_id), (Level.SEAT_TYPE, seat_type), (Level.ORGANIZATION, org.name)]


def expected_allowed(
    org: Organization, spend: Spend, user_id: str, amount: Money, product: Product
) -> bool:
    """The mission's rule: included product, and a zero charge or spent + held + a <= cap."""
    seat = org.catalog.get(org.members[user_id].seat_type)
    if product not in seat.includes:
        return False
    if amount.is_zero():
        return True
    limits = caps_in_force(org)
    return all(
        limits[scope] is None or used_by(spend, scope) + amount.amount <= limits[scope]  # type: ignore[operator]
        for scope in path(org, user_id)
    )


def within_limits(org: Organization, spend: Spend) -> bool:
    return all(
        cap is None or used_by(spend, scope) <= cap for scope, cap in caps_in_force(org).items()
    )


def assert_consistent(spend: Spend) -> None:
    """Organization total == Σ users == Σ seat types, committed and held."""
    assert spend.total == sum(spend.members.values(), ZERO) == sum(spend.seat_types.values(), ZERO)
    assert (
        spend.held_total
        == sum(spend.held_members.values(), ZERO)
        == sum(spend.held_seat_types.values(), ZERO)
    )


def primary_owner(org: Organization) -> str:
    return next(m.user_id for m in org.members.values() if m.role is Role.PRIMARY_OWNER)


def with_limits(org: Organization, limits: SpendLimits) -> Organization:
    return org.set_limits(primary_owner(org), START, limits)[0]


# --- strategies' own promises ---------------------------------------------------------------


@given(data=st.data())
def test_drawn_spend_is_consistent_and_within_limits_when_asked(data: st.DataObject) -> None:
    """spends() totals agree; with within_limits every scope is within its cap."""
    org = data.draw(organizations())
    assert_consistent(data.draw(spends(org)))
    spend = data.draw(spends(org, within_limits=True, former_members=False))
    assert_consistent(spend)
    assert within_limits(org, spend)
    assert spend.currency == org.currency
    assert set(spend.members) <= set(org.members)


def test_amounts_are_never_negative() -> None:
    """amounts() refuses a negative lower bound rather than drawing invalid money."""
    with pytest.raises(ValueError, match="must not be negative"):
        amounts(min_value=-1)


# --- attribution ----------------------------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["record", "hold", "release"]),
        st.sampled_from(["ada", "bob", "cy"]),
        st.sampled_from(["chat", "chat_claude_code", "seat_0"]),
        amounts(max_value=20),
    ),
    max_size=20,
)


@given(OPERATIONS)
def test_org_total_is_the_sum_over_users_and_over_seat_types(
    operations: list[tuple[str, str, str, Money]],
) -> None:
    """Any mix of records, holds and releases keeps total == Σ users == Σ seat types."""
    spend = Spend()
    for operation, user_id, seat_type, drawn in operations:
        amount = drawn
        if operation == "release":
            held = min(
                spend.held_members.get(user_id, ZERO), spend.held_seat_types.get(seat_type, ZERO)
            )
            amount = Money(min(drawn.amount, held))
        spend = getattr(spend, operation)(user_id, seat_type, amount)
        assert_consistent(spend)


# --- the hierarchy invariant ----------------------------------------------------------------


@given(data=st.data())
def test_charges_applied_only_when_allowed_stay_within_every_cap(data: st.DataObject) -> None:
    """From a state within its limits, authorised charges never take any level past its cap."""
    org = data.draw(organizations(), label="org")
    spend = data.draw(spends(org, within_limits=True), label="spend")
    members = sorted(org.members)
    charges = st.tuples(
        st.sampled_from(members),
        amounts(currency=org.currency, max_value=60),
        st.booleans(),
        st.sampled_from(list(Product)),
    )
    for user_id, amount, as_hold, product in data.draw(st.lists(charges, max_size=12)):
        decision = authorize(org, spend, user_id, amount, product=product)
        assert decision.allowed is expected_allowed(org, spend, user_id, amount, product)
        if decision:
            seat_type = org.members[user_id].seat_type
            spend = (spend.hold if as_hold else spend.record)(user_id, seat_type, amount)
        assert within_limits(org, spend)
        assert_consistent(spend)


def near_headroom(org: Organization, spend: Spend, user_id: str) -> list[Money]:
    """Zero, and the member's headroom and one cent either side of it (where answers change)."""
    currency = org.currency
    zero = Money.zero(currency)
    headroom = authorize(org, spend, user_id, zero).headroom
    if headroom is None:
        return [zero]
    cent = Money("0.01", currency)
    return [zero, headroom, headroom + cent, max(headroom - cent, zero)]


@given(data=st.data())
def test_decision_agrees_with_the_rules(data: st.DataObject) -> None:
    """On any state (even past lowered caps) the decision, bindings, headroom follow the rules."""
    org = data.draw(organizations())
    spend = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    product = data.draw(PRODUCTS)
    drawn = data.draw(amounts(currency=org.currency, max_value=80))
    limits = caps_in_force(org)
    rooms = [
        limits[scope] - used_by(spend, scope)  # type: ignore[operator]
        for scope in path(org, user_id)
        if limits[scope] is not None
    ]
    for amount in [*near_headroom(org, spend, user_id), drawn]:
        decision = authorize(org, spend, user_id, amount, product=product)
        assert decision.allowed is expected_allowed(org, spend, user_id, amount, product)
        assert "\n" not in decision.reason
        if decision.not_included is not None:
            assert decision.headroom is None
            continue
        least = None if not rooms else Money(max(min(rooms), ZERO), org.currency)
        assert decision.headroom == least
        shortfalls = [binding.shortfall.amount for binding in decision.bindings]
        assert shortfalls == sorted(shortfalls, reverse=True)
        assert all(shortfall > 0 for shortfall in shortfalls)
        if amount.is_zero():
            assert decision.allowed
        else:
            assert decision.allowed is (not decision.bindings)
            assert len(decision.bindings) == sum(amount.amount > room for room in rooms)


# --- monotonicity ---------------------------------------------------------------------------


@st.composite
def charge_pairs(draw: st.DrawFn, org: Organization, spend: Spend, user_id: str) -> list[Money]:
    """Two amounts, in order, often around the member's headroom."""
    near = near_headroom(org, spend, user_id)
    one = st.sampled_from(near) | amounts(currency=org.currency, max_value=80)
    return sorted([draw(one), draw(one)], key=lambda money: money.amount)


@given(data=st.data())
def test_denied_for_x_is_denied_for_more_allowed_for_x_is_allowed_for_less(
    data: st.DataObject,
) -> None:
    """For x <= y: denied(x) implies denied(y), and allowed(y) implies allowed(x)."""
    org = data.draw(organizations())
    spend = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    product = data.draw(st.sampled_from(list(Product)))
    small, large = data.draw(charge_pairs(org, spend, user_id))
    for_small = authorize(org, spend, user_id, small, product=product)
    for_large = authorize(org, spend, user_id, large, product=product)
    if not for_small.allowed:
        assert not for_large.allowed
    if for_large.allowed:
        assert for_small.allowed


def raise_cap(cap: Money | None, by: Money | None) -> Money | None:
    """Raise a cap by ``by``; ``by=None`` removes it (no cap is the highest of all)."""
    if cap is None or by is None:
        return None
    return cap + by


@st.composite
def raised_limits(draw: st.DrawFn, org: Organization) -> SpendLimits:
    """The organization's caps with one or more of them raised (or removed)."""
    limits = org.limits
    by = st.none() | amounts(currency=org.currency, max_value=30)
    choice = draw(st.sampled_from(["org_pool", "org_default", "seat_pool", "seat_default", "user"]))
    if choice == "org_pool":
        pool = limits.organization
        return attrs.evolve(
            limits, organization=attrs.evolve(pool, pool_cap=raise_cap(pool.pool_cap, draw(by)))
        )
    if choice == "org_default":
        pool = limits.organization
        default = raise_cap(pool.member_default, draw(by))
        return attrs.evolve(limits, organization=attrs.evolve(pool, member_default=default))
    seat_type = draw(st.sampled_from(sorted(org.catalog.seat_types)))
    pool = limits.seat_type(seat_type)
    if choice == "seat_pool":
        return limits.with_seat_type(
            seat_type, attrs.evolve(pool, pool_cap=raise_cap(pool.pool_cap, draw(by)))
        )
    if choice == "seat_default":
        # Removing a seat type's default is no raise: its members fall back to the
        # organization's default, which may be lower. Raise it by an amount only.
        more = draw(amounts(currency=org.currency, max_value=30))
        return limits.with_seat_type(
            seat_type, attrs.evolve(pool, member_default=raise_cap(pool.member_default, more))
        )
    user_id = draw(st.sampled_from(sorted(org.members)))
    effective = org.effective_limit(user_id).cap
    if effective is None:  # already unlimited: nothing to raise
        return limits
    # an individual cap above the member's effective limit raises it, whatever its source
    raised = raise_cap(effective, draw(by))
    return limits.with_member_cap(user_id, raised) if raised is not None else limits


@given(data=st.data())
def test_raising_any_cap_never_turns_allowed_into_denied(data: st.DataObject) -> None:
    """A charge allowed under some caps stays allowed after any of them is raised or removed."""
    org = data.draw(organizations())
    spend = data.draw(spends(org))
    user_id = data.draw(st.sampled_from(sorted(org.members)))
    amount = data.draw(charge_pairs(org, spend, user_id))[0]
    before = authorize(org, spend, user_id, amount)
    raised = with_limits(org, data.draw(raised_limits(org)))
    after = authorize(raised, spend, user_id, amount)
    event(f"allowed before: {before.allowed}")
    if before.allowed:
        assert after.allowed
    if before.headroom is not None and after.headroom is not None:
        assert after.headroom >= before.headroom


# --- locality -------------------------------------------------------------------------------


@given(data=st.data())
def test_a_charge_does_not_change_decisions_of_members_sharing_no_cap(data: st.DataObject) -> None:
    """Without an org pool cap, a charge on one seat type leaves other seat types' decisions."""
    org = data.draw(organizations(min_members=2))
    limits = attrs.evolve(
        org.limits, organization=attrs.evolve(org.limits.organization, pool_cap=None)
    )
    org = with_limits(org, limits)
    pairs = [
        (a, b)
        for a, first in org.members.items()
        for b, second in org.members.items()
        if first.seat_type != second.seat_type
    ]
    assume(pairs)
    charged, other = data.draw(st.sampled_from(sorted(pairs)))
    spend = data.draw(spends(org))
    amount = data.draw(amounts(currency=org.currency, max_value=80))
    as_hold = data.draw(st.booleans())
    after = (spend.hold if as_hold else spend.record)(
        charged, org.members[charged].seat_type, amount
    )
    for asked in data.draw(
        st.lists(amounts(currency=org.currency, max_value=80), min_size=1, max_size=3)
    ):
        for product in Product:
            assert authorize(org, spend, other, asked, product=product) == authorize(
                org, after, other, asked, product=product
            )


# --- notifications --------------------------------------------------------------------------


@given(data=st.data())
def test_each_threshold_fires_exactly_once_per_period(data: st.DataObject) -> None:
    """Over any charges with limits unchanged, a threshold fires once iff spend crossed it."""
    org = data.draw(organizations())
    start = data.draw(spends(org))
    people = [*sorted(org.members), "former"]
    seats = sorted(org.catalog.seat_types)
    charge = st.tuples(
        st.sampled_from(people),
        st.sampled_from(seats),
        amounts(currency=org.currency, max_value=40),
        st.booleans(),
    )

    def committed(source: Spend, scope: Scope) -> Decimal:
        level, subject = scope
        if level is Level.MEMBER:
            return source.members.get(subject, ZERO)
        if level is Level.SEAT_TYPE:
            return source.seat_types.get(subject, ZERO)
        return source.total

    limits = caps_in_force(org)
    fired: Counter[tuple[Level, str, Decimal]] = Counter()
    spend = start
    for user_id, seat_type, drawn, as_hold in data.draw(st.lists(charge, max_size=15)):
        amount = drawn
        scopes = [
            (Level.MEMBER, user_id),
            (Level.SEAT_TYPE, seat_type),
            (Level.ORGANIZATION, org.name),
        ]
        marks = [
            threshold * cap - committed(spend, scope)
            for scope in scopes
            if (cap := limits.get(scope)) is not None
            for threshold in org.thresholds
            if threshold * cap > committed(spend, scope)
        ]
        land = bool(marks) and data.draw(st.booleans(), label="land exactly on a threshold")
        if land:
            amount = Money(data.draw(st.sampled_from(sorted(marks))), org.currency)
        after = (spend.hold if as_hold else spend.record)(user_id, seat_type, amount)
        fired.update((n.level, n.subject, n.threshold) for n in notifications(org, spend, after))
        spend = after

    expected = Counter(
        (level, subject, threshold)
        for (level, subject), cap in limits.items()
        if cap is not None
        for threshold in org.thresholds
        if committed(start, (level, subject))
        < threshold * cap
        <= committed(spend, (level, subject))
    )
    assert fired == expected


# --- the state machine ----------------------------------------------------------------------

NEWCOMERS = ("n0", "n1", "n2", "n3")
NEW_ROLES = st.sampled_from([Role.OWNER, Role.ADMIN, Role.MEMBER])
# A charge: None, any amount; 0, one cent over the headroom; else that fraction of the headroom
FRACTIONS = st.sampled_from([None, Decimal(1), Decimal("0.5"), Decimal(0)])
# A new cap: None, any cap; else that much under what is already used (lowered below spend)
UNDER = st.sampled_from([None, None, Decimal(0), Decimal("0.01"), Decimal(5)])


@functools.cache
def _one_of(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


def one_of(values: Iterable[str]) -> st.SearchStrategy[str]:
    """sampled_from over sorted values, built once per distinct set (steps stay cheap)."""
    return _one_of(tuple(sorted(values)))


@functools.cache
def _subsets(values: tuple[str, ...]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values))


def subsets(values: Iterable[str]) -> st.SearchStrategy[frozenset[str]]:
    return _subsets(tuple(sorted(values)))


class CapsMachine(RuleBasedStateMachine):
    """Charges (applied only when allowed), holds, cap and seat changes, joins and leaves,
    increase requests and their decisions; invariants checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.org: Organization
        self.spend = Spend()
        self.previous = Spend()
        self.now = START
        self.holds: list[tuple[str, str, Money]] = []
        self.requests: list[str] = []
        self.audit: list[AuditRecord] = []

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        self.org = data.draw(organizations(max_members=4, max_cap=60))
        self.spend = data.draw(spends(self.org, within_limits=True, holds=False, max_value=30))
        self.previous = self.spend
        assert within_limits(self.org, self.spend)

    # --- helpers ------------------------------------------------------------------------------

    def tick(self, _data: st.DataObject) -> None:
        self.now += timedelta(minutes=7)  # changes are dated, in order

    def actor(self, data: st.DataObject) -> str:
        return data.draw(one_of(self.org.members), label="actor")

    def cap(self, data: st.DataObject, used: Decimal) -> Money | None:
        """A new cap: anything caps() draws, or just under what is already used."""
        currency = self.org.currency
        under = data.draw(UNDER, label="under what is used by")
        if under is None:
            return data.draw(caps(currency=currency, max_value=60), label="cap")
        return Money(max(used - under, ZERO), currency)

    def change(self, data: st.DataObject, name: str, *args: object, **kwargs: object) -> bool:
        """Make a change as a drawn actor: owners succeed, others are refused with no change."""
        actor = self.actor(data)
        self.tick(data)
        before = self.org
        method = getattr(self.org, name)
        if self.org.members[actor].role.may_manage:
            self.org, record = method(actor, self.now, *args, **kwargs)
            assert (record.actor, record.at, record.action) == (actor, self.now, name)
            self.audit.append(record)
            return True
        with pytest.raises(PermissionDeniedError):
            method(actor, self.now, *args, **kwargs)
        assert self.org == before
        return False

    # --- charges and holds --------------------------------------------------------------------

    @rule(data=st.data(), count=st.integers(1, 3))
    def charge(self, data: st.DataObject, count: int) -> None:
        """A few charges (or holds), each applied only when the decision allows it."""
        for _ in range(count):
            self.charge_once(data)

    def charge_once(self, data: st.DataObject) -> None:
        user_id = data.draw(one_of(self.org.members), label="user")
        currency = self.org.currency
        headroom = authorize(self.org, self.spend, user_id, Money.zero(currency)).headroom
        fraction = data.draw(FRACTIONS, label="fraction of the headroom")
        if headroom is None or fraction is None:
            amount = data.draw(amounts(currency=currency, max_value=25), label="amount")
        else:  # all of the headroom (exactly at the cap), part of it, or one cent more
            amount = headroom * fraction if fraction else headroom + Money("0.01", currency)
        product = data.draw(PRODUCTS, label="product")
        as_hold = data.draw(st.booleans(), label="as hold")
        decision = authorize(self.org, self.spend, user_id, amount, product=product)
        assert decision.allowed is expected_allowed(self.org, self.spend, user_id, amount, product)
        if decision.not_included:
            event("charge not included")
        else:
            event("charge allowed" if decision else "charge denied by caps")
        if decision:
            seat_type = self.org.members[user_id].seat_type
            if as_hold:
                self.spend = self.spend.hold(user_id, seat_type, amount)
                self.holds.append((user_id, seat_type, amount))
            else:
                self.spend = self.spend.record(user_id, seat_type, amount)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), settle=st.booleans())
    def end_hold(self, data: st.DataObject, settle: bool) -> None:
        """Release a hold, or settle it: the actual charge (at most the hold) is recorded."""
        index = data.draw(st.integers(0, len(self.holds) - 1), label="hold")
        user_id, seat_type, held = self.holds.pop(index)
        self.spend = self.spend.release(user_id, seat_type, held)
        if settle:
            actual = data.draw(
                amounts(currency=held.currency, max_value=held.amount), label="actual"
            )
            self.spend = self.spend.record(user_id, seat_type, actual)

    # --- cap changes --------------------------------------------------------------------------

    @rule(data=st.data())
    def set_organization_limit(self, data: st.DataObject) -> None:
        used = self.spend.total + self.spend.held_total
        limit = PoolLimit(self.cap(data, used), self.cap(data, used))
        self.change(data, "set_organization_limit", limit)

    @rule(data=st.data())
    def set_seat_type_limit(self, data: st.DataObject) -> None:
        seat_type = data.draw(one_of(self.org.catalog.seat_types))
        used = used_by(self.spend, (Level.SEAT_TYPE, seat_type))
        limit = PoolLimit(self.cap(data, used), self.cap(data, used))
        self.change(data, "set_seat_type_limit", seat_type, limit)

    @rule(data=st.data())
    def set_member_cap(self, data: st.DataObject) -> None:
        user_id = data.draw(one_of(self.org.members), label="user")
        self.change(
            data,
            "set_member_cap",
            user_id,
            self.cap(data, used_by(self.spend, (Level.MEMBER, user_id))),
        )

    # --- seats and members --------------------------------------------------------------------

    def seat(self, data: st.DataObject) -> tuple[str, frozenset[str]]:
        seat_type = data.draw(one_of(self.org.catalog.seat_types), label="seat")
        offered = self.org.catalog.get(seat_type).add_ons
        add_ons = data.draw(subsets(offered), label="add-ons") if offered else frozenset()
        return seat_type, add_ons

    @rule(data=st.data())
    def assign_seat(self, data: st.DataObject) -> None:
        user_id = data.draw(one_of(self.org.members), label="user")
        seat_type, add_ons = self.seat(data)
        if self.change(data, "assign_seat", user_id, seat_type, add_ons):
            last = self.org.seat_history[-1]
            assert (last.user_id, last.at, last.seat_type) == (user_id, self.now, seat_type)
            assert self.org.members[user_id].seat_type == seat_type

    @precondition(lambda self: any(user_id not in self.org.members for user_id in NEWCOMERS))
    @rule(data=st.data())
    def add_member(self, data: st.DataObject) -> None:
        user_id = data.draw(one_of(u for u in NEWCOMERS if u not in self.org.members))
        role = data.draw(NEW_ROLES, label="role")
        seat_type, add_ons = self.seat(data)
        self.change(data, "add_member", Member(user_id, role, seat_type, add_ons))

    @precondition(lambda self: len(self.org.members) > 1)
    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        candidates = sorted(
            u for u, m in self.org.members.items() if m.role is not Role.PRIMARY_OWNER
        )
        user_id = data.draw(st.sampled_from(candidates), label="leaving")
        self.change(data, "remove_member", user_id)

    @rule(data=st.data())
    def primary_owner_stays(self, data: st.DataObject) -> None:
        """Removing the primary owner is refused, whoever asks."""
        owner = primary_owner(self.org)
        actor = self.actor(data)
        before = self.org
        with pytest.raises((InvalidValueError, PermissionDeniedError)):
            self.org.remove_member(actor, self.now, owner)
        assert self.org == before

    # --- increase requests --------------------------------------------------------------------

    @rule(data=st.data())
    def request_increase(self, data: st.DataObject) -> None:
        user_id = data.draw(one_of(self.org.members), label="asker")
        current = self.org.effective_limit(user_id).cap
        self.tick(data)
        request_id = f"r{len(self.requests)}"
        if current is None:
            with pytest.raises(InvalidValueError, match="no limit to raise"):
                self.org.request_increase(
                    user_id, self.now, request_id, Money(1, self.org.currency), "?"
                )
            return
        more = data.draw(
            amounts(currency=self.org.currency, min_value=Decimal("0.01"), max_value=30)
        )
        self.org, record = self.org.request_increase(
            user_id, self.now, request_id, current + more, "more"
        )
        assert record.actor == user_id
        self.audit.append(record)
        self.requests.append(request_id)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), approve=st.booleans())
    def decide_increase(self, data: st.DataObject, approve: bool) -> None:
        request_id = data.draw(st.sampled_from(self.requests), label="request")
        request = self.org.increase_requests[request_id]
        actor = self.actor(data)
        self.tick(data)
        before = self.org
        if request.status is not RequestStatus.PENDING and self.org.members[actor].role.may_manage:
            event("request decided twice")
            with pytest.raises(ConflictError):
                self.org.decide_increase(actor, self.now, request_id, approve=approve)
            assert self.org == before
            return
        if not self.org.members[actor].role.may_manage:
            with pytest.raises(PermissionDeniedError):
                self.org.decide_increase(actor, self.now, request_id, approve=approve)
            assert self.org == before
            return
        self.org, record = self.org.decide_increase(actor, self.now, request_id, approve=approve)
        self.audit.append(record)
        decided = self.org.increase_requests[request_id]
        assert decided.status is (RequestStatus.APPROVED if approve else RequestStatus.DENIED)
        if approve and request.user_id in self.org.members:
            limit = self.org.effective_limit(request.user_id)
            assert (limit.cap, limit.source) == (request.amount, LimitSource.INDIVIDUAL)
        else:
            assert self.org.limits == before.limits

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def totals_agree(self) -> None:
        """Organization total == Σ users == Σ seat types, committed and held."""
        assert_consistent(self.spend)

    @invariant()
    def a_total_over_its_cap_never_grows(self) -> None:
        """Every scope is within its cap, or has not grown since the previous step."""
        for scope, cap in caps_in_force(self.org).items():
            used = used_by(self.spend, scope)
            if cap is not None and used > cap:
                event("a scope is over its (lowered) cap")
                assert used <= used_by(self.previous, scope), scope
        self.previous = self.spend

    @invariant()
    def organization_stays_valid(self) -> None:
        """Exactly one primary owner; every change was audited at a non-decreasing time."""
        assert sum(m.role is Role.PRIMARY_OWNER for m in self.org.members.values()) == 1
        times = [record.at for record in self.audit]
        assert times == sorted(times)


CapsMachine.TestCase.settings = settings(stateful_step_count=30)
TestCapsMachine = CapsMachine.TestCase
