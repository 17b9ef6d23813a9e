"""The organization: validation, permission-checked changes, audit records, increase requests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from builders import CATALOG, member, organization
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    HIPAA,
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    Member,
    Money,
    Organization,
    PermissionDeniedError,
    PoolLimit,
    Role,
    SeatChange,
    Spend,
    SpendLimits,
    UnknownNameError,
    authorize,
)
from usagebill.accounts.limits import DEFAULT_THRESHOLDS, EffectiveLimit, LimitSource
from usagebill.accounts.organization import AuditRecord, MemberPath, RequestStatus
from usagebill.usage import Product

START = datetime(2026, 10, 1, tzinfo=UTC)
LATER = START + timedelta(days=9, hours=3)
LIMITS = SpendLimits(
    organization=PoolLimit(pool_cap=Money("1000"), member_default=Money("100")),
    seat_types={CHAT: PoolLimit(member_default=Money("50"))},
    members={"ada": Money("80")},
)


def make_org(limits: SpendLimits = LIMITS) -> Organization:
    """olga, otto (owner), adam (admin), ada (Chat with HIPAA) and bob, the roles of each kind."""
    return organization(
        member("otto", role="owner"),
        member("adam", CHAT_AND_CLAUDE_CODE, role="admin"),
        member("ada", add_ons=[HIPAA]),
        member("bob"),
        at=START,
        limits=limits,
    )


ORG = make_org()

Change = Callable[[Organization, str], tuple[Organization, AuditRecord]]

CHANGES: dict[str, tuple[Change, str, str, object, object]] = {
    # name: (change by actor, action, target, before, after)
    "set_limits": (
        lambda org, actor: org.set_limits(actor, LATER, SpendLimits()),
        "set_limits",
        "limits",
        LIMITS,
        SpendLimits(),
    ),
    "set_organization_limit": (
        lambda org, actor: org.set_organization_limit(actor, LATER, PoolLimit(Money("5"))),
        "set_organization_limit",
        "organization",
        LIMITS.organization,
        PoolLimit(Money("5")),
    ),
    "set_seat_type_limit": (
        lambda org, actor: org.set_seat_type_limit(actor, LATER, CHAT, PoolLimit(Money("9"))),
        "set_seat_type_limit",
        CHAT,
        PoolLimit(member_default=Money("50")),
        PoolLimit(Money("9")),
    ),
    "set_member_cap": (
        lambda org, actor: org.set_member_cap(actor, LATER, "bob", Money("7")),
        "set_member_cap",
        "bob",
        None,
        Money("7"),
    ),
    "assign_seat": (
        lambda org, actor: org.assign_seat(actor, LATER, "bob", CHAT_AND_CLAUDE_CODE),
        "assign_seat",
        "bob",
        Member("bob", "member", CHAT),
        Member("bob", "member", CHAT_AND_CLAUDE_CODE),
    ),
    "add_member": (
        lambda org, actor: org.add_member(actor, LATER, Member("cy", "member", CHAT)),
        "add_member",
        "cy",
        None,
        Member("cy", "member", CHAT),
    ),
    "remove_member": (
        lambda org, actor: org.remove_member(actor, LATER, "bob"),
        "remove_member",
        "bob",
        Member("bob", "member", CHAT),
        None,
    ),
}


@pytest.mark.parametrize("actor", ["olga", "otto"])
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_owners_make_changes_and_each_is_audited(name: str, actor: str) -> None:
    """The primary owner and owners may change caps, seats and members; each gives a record."""
    change, action, target, before, after = CHANGES[name]
    changed, record = change(ORG, actor)
    assert record == AuditRecord(actor, LATER, action, target, before, after)
    assert changed != ORG
    assert make_org() == ORG  # the original value is untouched


@pytest.mark.parametrize("actor", ["adam", "ada"])
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_admins_and_members_may_not_change_anything(name: str, actor: str) -> None:
    """Admins and members get PermissionDeniedError (a PermissionError) and nothing changes."""
    change = CHANGES[name][0]
    org = make_org()
    with pytest.raises(PermissionDeniedError, match="only an owner or the primary owner") as caught:
        change(org, actor)
    assert isinstance(caught.value, PermissionError)
    assert caught.value.actor == actor
    assert caught.value.role in {Role.ADMIN.value, Role.MEMBER.value}
    assert org == make_org()


def test_unknown_actor_is_an_unknown_name() -> None:
    """A change by someone who is not a member raises UnknownNameError."""
    with pytest.raises(UnknownNameError, match="unknown member 'mallory'"):
        ORG.set_member_cap("mallory", LATER, "ada", Money("1000"))


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_naive_timestamps_are_refused(name: str) -> None:
    """Every change needs a timezone-aware timestamp."""
    naive = datetime(2026, 10, 10, 12, 0)
    calls: dict[str, Callable[[], object]] = {
        "set_limits": lambda: ORG.set_limits("olga", naive, SpendLimits()),
        "set_organization_limit": lambda: ORG.set_organization_limit("olga", naive, PoolLimit()),
        "set_seat_type_limit": lambda: ORG.set_seat_type_limit("olga", naive, CHAT, PoolLimit()),
        "set_member_cap": lambda: ORG.set_member_cap("olga", naive, "ada", None),
        "assign_seat": lambda: ORG.assign_seat("olga", naive, "ada", CHAT),
        "add_member": lambda: ORG.add_member("olga", naive, Member("cy", "member", CHAT)),
        "remove_member": lambda: ORG.remove_member("olga", naive, "ada"),
    }
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        calls[name]()


def test_naive_creation_and_request_timestamps_are_refused() -> None:
    """Organization.create and increase requests need aware timestamps too."""
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        Organization.create(
            "acme", CATALOG, [Member("olga", "primary_owner", CHAT)], at=datetime(2026, 10, 1)
        )
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        ORG.request_increase("ada", datetime(2026, 10, 2), "r1", Money("90"), "launch")


def test_changed_caps_are_validated_like_new_ones() -> None:
    """A change to an unknown seat type, user or currency is refused, nothing changed."""
    with pytest.raises(UnknownNameError):
        ORG.set_seat_type_limit("olga", LATER, "team", PoolLimit())
    with pytest.raises(UnknownNameError):
        ORG.set_member_cap("olga", LATER, "zed", Money("1"))
    with pytest.raises(CurrencyMismatchError):
        ORG.set_organization_limit("olga", LATER, PoolLimit(Money("1", "EUR")))
    with pytest.raises(CurrencyMismatchError):
        ORG.set_limits("olga", LATER, SpendLimits(members={"ada": Money("1", "EUR")}))
    assert make_org() == ORG


def test_set_user_cap_none_removes_the_individual_cap() -> None:
    """Removing ada's individual cap falls back to the Chat seat default of 50."""
    org, record = ORG.set_member_cap("olga", LATER, "ada", None)
    assert org.effective_limit("ada") == EffectiveLimit(Money("50"), LimitSource.SEAT_TYPE_DEFAULT)
    assert (record.before, record.after) == (Money("80"), None)


def test_seat_change_is_kept_in_history_and_effective_at_once() -> None:
    """assign_seat records a dated SeatChange and the next decision uses the new seat."""
    spend = Spend()
    assert not authorize(ORG, spend, "bob", Money("1"), product=Product.CLAUDE_CODE)
    org, _ = ORG.assign_seat("otto", LATER, "bob", CHAT_AND_CLAUDE_CODE)
    assert org.seat_history[-1] == SeatChange("bob", LATER, CHAT_AND_CLAUDE_CODE)
    assert org.seat_history[:-1] == ORG.seat_history
    assert org.member("bob").seat_type == CHAT_AND_CLAUDE_CODE
    assert authorize(org, spend, "bob", Money("1"), product=Product.CLAUDE_CODE).allowed
    # bob's effective limit leaves the Chat default (50) for the organization default (100)
    assert org.effective_limit("bob") == EffectiveLimit(
        Money("100"), LimitSource.ORGANIZATION_DEFAULT
    )


def test_seat_change_validates_seat_and_add_ons() -> None:
    """Assigning an unknown seat or an add-on the seat lacks is refused."""
    with pytest.raises(UnknownNameError):
        ORG.assign_seat("olga", LATER, "bob", "team")
    with pytest.raises(InvalidValueError, match="not offered"):
        ORG.assign_seat("olga", LATER, "bob", CHAT_AND_CLAUDE_CODE, [HIPAA])
    with pytest.raises(UnknownNameError):
        ORG.assign_seat("olga", LATER, "zed", CHAT)
    org, record = ORG.assign_seat("olga", LATER, "bob", CHAT, [HIPAA])
    assert org.member("bob").add_ons == {HIPAA}
    assert record.after == Member("bob", "member", CHAT, [HIPAA])


def test_seat_changes_may_not_go_back_in_time() -> None:
    """A seat change dated before the member's previous one is refused."""
    with pytest.raises(InvalidValueError, match="must not go back in time"):
        ORG.assign_seat("olga", START - timedelta(seconds=1), "bob", CHAT_AND_CLAUDE_CODE)


def test_removing_the_primary_owner_is_refused() -> None:
    """The primary owner cannot be removed, even by themselves or an owner."""
    for actor in ("olga", "otto"):
        with pytest.raises(InvalidValueError, match="primary owner and cannot be removed"):
            ORG.remove_member(actor, LATER, "olga")


def test_removing_a_member_ends_their_seat_and_cap() -> None:
    """A removed member leaves members and limits, and their seat ends in the history."""
    org, _ = ORG.remove_member("olga", LATER, "ada")
    assert "ada" not in org.members
    assert "ada" not in org.limits.members
    assert org.seat_history[-1] == SeatChange("ada", LATER, None)
    with pytest.raises(UnknownNameError):
        org.member("ada")
    # they may come back later, on a new seat
    back, _ = org.add_member("olga", LATER + timedelta(days=1), Member("ada", "member", CHAT))
    assert back.member("ada").add_ons == frozenset()


def test_adding_an_existing_member_is_a_conflict() -> None:
    """add_member with an id already in the organization raises ConflictError."""
    with pytest.raises(ConflictError, match="already a member"):
        ORG.add_member("olga", LATER, Member("ada", "owner", CHAT))


def test_a_second_primary_owner_is_refused() -> None:
    """Adding a second primary owner breaks the exactly-one rule."""
    with pytest.raises(InvalidValueError, match="exactly one primary owner"):
        ORG.add_member("olga", LATER, Member("pat", "primary_owner", CHAT))


def test_a_new_member_on_a_seat_lacking_their_add_on_is_refused() -> None:
    """add_member checks the member's seat and add-ons against the catalog."""
    with pytest.raises(InvalidValueError, match="not offered"):
        ORG.add_member("olga", LATER, Member("cy", "member", CHAT_AND_CLAUDE_CODE, [HIPAA]))


def test_duplicate_members_at_creation_are_a_conflict() -> None:
    """Organization.create refuses a member id listed twice instead of keeping one."""
    with pytest.raises(ConflictError, match="listed twice"):
        Organization.create(
            "acme",
            CATALOG,
            [Member("olga", "primary_owner", CHAT), Member("olga", "member", CHAT)],
            at=START,
        )


# --- construction and validation ------------------------------------------------------------


def test_create_gives_defaults_and_seats_everyone_at_the_start() -> None:
    """create seats each member at ``at``; timezone UTC, anchor 1, thresholds 75/90/100 %."""
    org = make_org()
    assert org.timezone == "UTC"
    assert org.billing_anchor_day == 1
    assert org.thresholds == DEFAULT_THRESHOLDS == (Decimal("0.75"), Decimal("0.9"), Decimal(1))
    assert org.currency == "USD"
    assert org.seat_history[3] == SeatChange("ada", START, CHAT, [HIPAA])
    assert all(change.at == START for change in org.seat_history)
    bare = Organization.create("x", CATALOG, [Member("o", "primary_owner", CHAT)], at=START)
    assert bare.limits == SpendLimits()


def test_members_must_be_keyed_by_their_ids() -> None:
    """Organization(members=...) keys must match each member's id."""
    with pytest.raises(InvalidValueError, match="must match its key"):
        Organization(
            "acme",
            CATALOG,
            {"boss": Member("olga", "primary_owner", CHAT)},
            seat_history=[SeatChange("olga", START, CHAT)],
        )


def test_seat_history_must_end_with_each_current_seat() -> None:
    """Each member's last SeatChange must be their current seat and add-ons."""
    owner = Member("olga", "primary_owner", CHAT)
    with pytest.raises(InvalidValueError, match="must end with the member's current seat"):
        Organization("acme", CATALOG, {"olga": owner})
    with pytest.raises(InvalidValueError, match="must end with the member's current seat"):
        Organization(
            "acme", CATALOG, {"olga": owner}, seat_history=[SeatChange("olga", START, None)]
        )
    with pytest.raises(InvalidValueError, match="must be a SeatChange"):
        Organization("acme", CATALOG, {"olga": owner}, seat_history=["olga"])  # type: ignore[list-item]
    with pytest.raises(InvalidValueError, match="not offered"):
        Organization(
            "acme",
            CATALOG,
            {"olga": owner},
            seat_history=[
                SeatChange("olga", START, CHAT_AND_CLAUDE_CODE, [HIPAA]),
                SeatChange("olga", LATER, CHAT),
            ],
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("timezone", 3),
        ("billing_anchor_day", 0),
        ("billing_anchor_day", 32),
        ("billing_anchor_day", True),
        ("thresholds", [Decimal(0)]),
        ("thresholds", [Decimal("-0.5")]),
        ("thresholds", [0.5]),
        ("thresholds", [Decimal("NaN")]),
        ("thresholds", [Decimal("Infinity")]),
        ("thresholds", [Decimal("0.5"), Decimal("0.50")]),
    ],
)
def test_organization_settings_are_validated(field: str, value: object) -> None:
    """Time zone, billing anchor and thresholds are checked (thresholds positive, finite, once)."""
    with pytest.raises(InvalidValueError):
        Organization.create(
            "acme",
            CATALOG,
            [Member("olga", "primary_owner", CHAT)],
            at=START,
            **{field: value},  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("name", ["../../etc/localtime", "a" * 1_500, "/etc/localtime", "UTC+3"])
def test_a_time_zone_that_is_not_an_iana_name_never_reaches_dateutil(name: str) -> None:
    """A path or a 1,500-character name: the typed error, not dateutil's warning or OSError."""
    with pytest.raises(InvalidValueError, match="must be an IANA time zone name") as caught:
        Organization.create(
            "acme", CATALOG, [Member("olga", "primary_owner", CHAT)], at=START, timezone=name
        )
    assert caught.value.field == "timezone"


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Etc/GMT+5"])
def test_iana_time_zones_are_accepted(name: str) -> None:
    """IANA names, '+' included (Etc/GMT+5)."""
    org = Organization.create(
        "acme", CATALOG, [Member("olga", "primary_owner", CHAT)], at=START, timezone=name
    )
    assert org.timezone == name


def test_thresholds_are_sorted() -> None:
    """Configured thresholds are kept in increasing order."""
    org = Organization.create(
        "acme",
        CATALOG,
        [Member("olga", "primary_owner", CHAT)],
        at=START,
        thresholds=[Decimal("0.9"), Decimal("0.5")],
        timezone="Europe/Paris",
        billing_anchor_day=31,
    )
    assert org.thresholds == (Decimal("0.5"), Decimal("0.9"))


# --- increase requests ----------------------------------------------------------------------


def test_member_requests_and_owner_approves_an_increase() -> None:
    """Approval writes the requested amount as the member's individual cap; both are audited."""
    org, asked = ORG.request_increase("bob", START, "r1", Money("75"), "quarter close")
    request = org.increase_requests["r1"]
    assert (request.user_id, request.amount, request.status) == ("bob", Money("75"), "pending")
    assert asked == AuditRecord("bob", START, "request_increase", "r1", None, request)
    assert org.effective_limit("bob").cap == Money("50")  # nothing changes until approved

    approved, decided = org.decide_increase("otto", LATER, "r1", approve=True, note="ok")
    done = approved.increase_requests["r1"]
    assert done.status is RequestStatus.APPROVED
    assert (done.decided_by, done.decided_at, done.note) == ("otto", LATER, "ok")
    assert decided == AuditRecord("otto", LATER, "decide_increase", "r1", request, done)
    assert approved.effective_limit("bob") == EffectiveLimit(Money("75"), LimitSource.INDIVIDUAL)


def test_denied_increase_leaves_the_cap_unchanged() -> None:
    """A denied request is recorded as denied and writes no cap."""
    org, _ = ORG.request_increase("ada", START, "r1", Money("120"), "more")
    denied, record = org.decide_increase("olga", LATER, "r1", approve=False)
    assert denied.increase_requests["r1"].status is RequestStatus.DENIED
    assert denied.limits == ORG.limits
    assert record.after == denied.increase_requests["r1"]


def test_an_increase_request_is_decided_once() -> None:
    """Deciding the same request twice is a ConflictError."""
    org, _ = ORG.request_increase("ada", START, "r1", Money("120"), "more")
    org, _ = org.decide_increase("olga", LATER, "r1", approve=False)
    for approve in (True, False):
        with pytest.raises(ConflictError, match="was already denied"):
            org.decide_increase("otto", LATER, "r1", approve=approve)


@pytest.mark.parametrize("actor", ["adam", "ada", "bob"])
def test_only_owners_decide_increase_requests(actor: str) -> None:
    """An admin or member (even the requester) deciding gets PermissionDeniedError."""
    org, _ = ORG.request_increase("ada", START, "r1", Money("120"), "more")
    with pytest.raises(PermissionDeniedError):
        org.decide_increase(actor, LATER, "r1", approve=True)
    assert org.increase_requests["r1"].status is RequestStatus.PENDING


def test_increase_request_rules() -> None:
    """The amount must exceed the current limit; ids are unique; unknown ids are errors."""
    with pytest.raises(InvalidValueError, match="more than the current limit"):
        ORG.request_increase("ada", START, "r1", Money("80"), "same")  # ada's cap is 80
    with pytest.raises(CurrencyMismatchError):
        ORG.request_increase("ada", START, "r1", Money("90", "EUR"), "euros")
    with pytest.raises(InvalidValueError, match="must be Money"):
        ORG.request_increase("ada", START, "r1", 90, "bare")  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError):
        ORG.request_increase("zed", START, "r1", Money("90"), "who")
    unlimited = make_org(SpendLimits())
    with pytest.raises(InvalidValueError, match="no limit to raise"):
        unlimited.request_increase("ada", START, "r1", Money("90"), "none")
    org, _ = ORG.request_increase("ada", START, "r1", Money("90"), "first")
    with pytest.raises(ConflictError, match="already used"):
        org.request_increase("bob", START, "r1", Money("90"), "again")
    with pytest.raises(UnknownNameError, match="increase request 'r2'"):
        org.decide_increase("olga", LATER, "r2", approve=True)


def test_approving_for_a_removed_member_writes_no_cap() -> None:
    """A request outliving its member may be decided, but writes no cap for a non-member."""
    org, _ = ORG.request_increase("bob", START, "r1", Money("75"), "more")
    org, _ = org.remove_member("olga", LATER, "bob")
    org, _ = org.decide_increase("olga", LATER, "r1", approve=True)
    assert org.increase_requests["r1"].status is RequestStatus.APPROVED
    assert "bob" not in org.limits.members


# --- the path a decision reads --------------------------------------------------------------


def test_a_members_path_carries_every_cap_on_it() -> None:
    """ada: her own 80 on Chat (no Chat pool), the organization's pool of 1,000."""
    assert ORG.path("ada") == MemberPath(
        user_id="ada",
        seat_type=CHAT,
        includes=CATALOG.get(CHAT).includes,
        member_cap=Money("80"),
        member_cap_source=LimitSource.INDIVIDUAL,
        seat_type_cap=None,
        organization_cap=Money("1000"),
        organization="acme",
        currency="USD",
    )
    bob, olga = ORG.path("bob"), ORG.path("olga")
    assert (bob.member_cap, bob.member_cap_source) == (Money("50"), LimitSource.SEAT_TYPE_DEFAULT)
    assert (olga.member_cap, olga.member_cap_source) == (
        Money("100"),
        LimitSource.ORGANIZATION_DEFAULT,
    )
    with pytest.raises(UnknownNameError):
        ORG.path("zed")


def test_a_path_through_another_seat_takes_that_seats_default() -> None:
    """bob through Chat + Claude Code: the organization default (100), that seat's products."""
    path = ORG.path("bob", CHAT_AND_CLAUDE_CODE)
    assert (path.seat_type, path.member_cap, path.member_cap_source) == (
        CHAT_AND_CLAUDE_CODE,
        Money("100"),
        LimitSource.ORGANIZATION_DEFAULT,
    )
    assert Product.CLAUDE_CODE in path.includes
    assert ORG.path("bob", CHAT) == ORG.path("bob")
    with pytest.raises(UnknownNameError):
        ORG.path("bob", "team")


def test_paths_are_worked_out_once_per_organization_value() -> None:
    """The same value answers from its memo; a changed organization works its paths out anew."""
    org = make_org()
    assert org.path("ada") is org.path("ada")
    changed, _ = org.set_member_cap("olga", LATER, "ada", Money("5"))
    assert changed.path("ada").member_cap == Money("5")
    assert org.path("ada").member_cap == Money("80")


def test_the_path_at_an_instant_follows_the_seat_history() -> None:
    """bob moves to Chat + Claude Code at LATER; ada leaves then: each instant, its seat.

    Before LATER bob's path is Chat (default 50), from LATER on it is Chat + Claude
    Code (organization default 100). ada's individual cap left with her: her past
    Chat path falls back to the Chat default.
    """
    moved, _ = ORG.assign_seat("olga", LATER, "bob", CHAT_AND_CLAUDE_CODE)
    org, _ = moved.remove_member("olga", LATER, "ada")
    before, after = LATER - timedelta(seconds=1), LATER
    assert org.path_at("bob", before) == org.path("bob", CHAT)
    assert org.path_at("bob", before).member_cap == Money("50")
    assert org.path_at("bob", after) == org.path("bob")
    assert org.path_at("bob", after.astimezone(timezone(timedelta(hours=-7)))) == org.path("bob")
    assert org.path_at("ada", before).member_cap == Money("50")
    with pytest.raises(InvalidValueError, match="held no seat"):
        org.path_at("ada", after)
    with pytest.raises(InvalidValueError, match="held no seat"):
        org.path_at("bob", START - timedelta(seconds=1))
    with pytest.raises(UnknownNameError):
        org.path_at("zed", after)
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        org.path_at("bob", datetime(2026, 10, 5))
