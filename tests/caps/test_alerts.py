"""Spend-limit notifications: which thresholds a charge crossed."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from builders import member, organization
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    Money,
    Organization,
    PoolLimit,
    Spend,
    SpendLimits,
    notifications,
)
from usagebill.accounts.limits import Level
from usagebill.caps.alerts import Notification

START = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = [member("ada"), member("bob")]  # and olga, the primary owner (Chat + Claude Code)
# ada: 100 of her own; Chat pool: 200; organization pool: 400.
LIMITS = SpendLimits(
    organization=PoolLimit(pool_cap=Money("400")),
    seat_types={CHAT: PoolLimit(pool_cap=Money("200"))},
    members={"ada": Money("100")},
)
ORG = organization(*PEOPLE, at=START, limits=LIMITS)
ADA_ONLY = organization(*PEOPLE, at=START, limits=SpendLimits(members={"ada": Money("100")}))
P75, P90, P100 = Decimal("0.75"), Decimal("0.9"), Decimal(1)


def fired(org: Organization, before: Spend, after: Spend) -> list[tuple[Level, str, Decimal]]:
    return [(n.level, n.subject, n.threshold) for n in notifications(org, before, after)]


def ada(amount: str, spend: Spend | None = None) -> Spend:
    return (spend or Spend()).record("ada", CHAT, Money(amount))


def test_exactly_at_a_threshold_fires() -> None:
    """74.99 -> 75 of ada's 100 fires 75 % (from below to at-or-above)."""
    before = ada("74.99")
    after = ada("0.01", before)
    assert notifications(ORG, before, after) == (
        Notification(Level.MEMBER, "ada", Money("100"), P75, Money("75")),
    )


def test_nothing_fires_below_or_already_above() -> None:
    """Staying below 75, or moving from 75 to 89.99, crosses nothing."""
    assert fired(ORG, ada("10"), ada("74.99")) == []
    assert fired(ORG, ada("75"), ada("89.99")) == []
    assert fired(ORG, ada("10"), ada("10")) == []


def test_one_charge_jumping_several_thresholds_fires_each() -> None:
    """50 -> 100 crosses 75 %, 90 % and 100 % of ada's limit: three notifications."""
    assert fired(ORG, ada("50"), ada("100")) == [
        (Level.MEMBER, "ada", P75),
        (Level.MEMBER, "ada", P90),
        (Level.MEMBER, "ada", P100),
    ]
    # past the limit (a charge recorded before a cap was lowered) still fires 100 % once
    assert fired(ORG, ada("95"), ada("130")) == [(Level.MEMBER, "ada", P100)]


def test_pool_caps_and_member_limits_are_all_covered() -> None:
    """ada 80 -> 90 and bob 60 -> 70: ada 90 %, Chat pool 75 % (150 of 200), org pool none."""
    before = ada("80").record("bob", CHAT, Money("60"))  # Chat 140, org 140
    after = before.record("ada", CHAT, Money("10")).record("bob", CHAT, Money("10"))
    assert fired(ORG, before, after) == [
        (Level.MEMBER, "ada", P90),  # 90 of 100
        (Level.SEAT_TYPE, CHAT, P75),  # 160 of 200 (75 % is 150)
    ]
    # olga spends 140 on Chat + Claude Code: org 160 -> 300 is 75 % of 400
    later = after.record("olga", CHAT_AND_CLAUDE_CODE, Money("140"))
    assert notifications(ORG, after, later) == (
        Notification(Level.ORGANIZATION, "acme", Money("400"), P75, Money("300")),
    )


def test_holds_never_fire() -> None:
    """Reserving 100 for ada moves no committed spend: no notification."""
    before = ada("50")
    assert notifications(ORG, before, before.hold("ada", CHAT, Money("100"))) == ()


def test_raised_limit_rearms_against_the_new_figure() -> None:
    """ada at 80 of 100 (75 % fired); raised to 200, 75 % fires again at 150 and not before."""
    raised, _ = ADA_ONLY.set_member_cap("olga", START + timedelta(days=5), "ada", Money("200"))
    assert fired(ADA_ONLY, ada("70"), ada("80")) == [(Level.MEMBER, "ada", P75)]
    assert fired(raised, ada("80"), ada("149.99")) == []  # 90 of 100 no longer counts
    assert fired(raised, ada("149.99"), ada("150")) == [(Level.MEMBER, "ada", P75)]


def test_members_without_a_limit_and_former_members_fire_nothing() -> None:
    """No effective limit: no member notification; spend of non-members is skipped."""
    before = Spend()
    after = before.record("bob", CHAT, Money("10")).record("zed", CHAT_AND_CLAUDE_CODE, Money("5"))
    assert fired(ORG, before, after) == []
    unlimited = organization(*PEOPLE, at=START)
    assert fired(unlimited, Spend(), ada("1000")) == []


def test_users_narrows_the_members_looked_at() -> None:
    """members= checks only the named members; pools are checked as usual."""
    before, after = ada("70"), ada("80")
    assert fired(ORG, before, after) == [(Level.MEMBER, "ada", P75)]
    assert notifications(ORG, before, after, members=["bob"]) == ()
    assert fired(ORG, before, after) == [
        (n.level, n.subject, n.threshold)
        for n in notifications(ORG, before, after, members=["ada", "zed"])
    ]


def test_thresholds_are_configurable() -> None:
    """An organization with thresholds 50 % and 110 % fires at those figures only."""
    org = organization(
        *PEOPLE,
        at=START,
        limits=SpendLimits(members={"ada": Money("100")}),
        thresholds=[Decimal("1.1"), Decimal("0.5")],
    )
    assert fired(org, ada("0"), ada("100")) == [(Level.MEMBER, "ada", Decimal("0.5"))]
    assert fired(org, ada("100"), ada("110")) == [(Level.MEMBER, "ada", Decimal("1.1"))]


@pytest.mark.parametrize(
    ("level", "subject", "threshold", "message"),
    [
        (
            Level.MEMBER,
            "ada",
            P100,
            "ada has used 100% of the 100.00 USD limit (100.00 USD this period)",
        ),
        (
            Level.SEAT_TYPE,
            CHAT,
            P90,
            "seat type chat has used 90% of the 100.00 USD limit (100.00 USD this period)",
        ),
        (
            Level.ORGANIZATION,
            "acme",
            Decimal("0.125"),
            "organization acme has used 12.5% of the 100.00 USD limit (100.00 USD this period)",
        ),
        (
            Level.MEMBER,
            "ada",
            Decimal(2),
            "ada has used 200% of the 100.00 USD limit (100.00 USD this period)",
        ),
    ],
)
def test_notification_message(level: Level, subject: str, threshold: Decimal, message: str) -> None:
    """The message names the scope, the percentage (100 % stays 100 %), limit and spend."""
    note = Notification(level, subject, Money("100"), threshold, Money("100"))
    assert note.message == message
