"""Spend-limit notifications: which thresholds a charge crossed.

A threshold is a fraction of a limit (by default 75 %, 90 % and 100 %). It
fires when committed spend goes from *below* it to *at or above* it. Spend only
grows within a period, so each threshold fires at most once per scope and
period; and because the comparison is made against the limit in force, a
changed limit re-arms its thresholds against the new figure. Held amounts are
reservations, not spend: they never fire a notification.

:func:`path_notifications` answers for one member's path (what a ledger knows
of a charge); :func:`notifications` for a whole organization's spend. Both
compare each level the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from usagebill.accounts.limits import Level, SpendLike
from usagebill.accounts.organization import MemberPath, Organization
from usagebill.caps.decision import UsedOnPath
from usagebill.money import EXACT, Money

__all__ = ["Notification", "notifications", "path_notifications"]


@attrs.frozen
class Notification:
    """Spend of ``subject`` at ``level`` crossed ``threshold`` of ``limit``.

    :func:`notifications` lists those a charge fired, e.g. a charge of 15.00 by a member
    of the example organization who had spent 40.00 of their 60.00 limit:

    >>> from usagebill import Spend
    >>> acme = Organization.from_file("examples/org.toml")
    >>> before = Spend().record("u-012", "chat_claude_code", Money("40"))
    >>> after = before.record("u-012", "chat_claude_code", Money("15"))
    >>> for note in notifications(acme, before, after):
    ...     print(note.message)
    u-012 has used 75% of the 60.00 USD limit (55.00 USD this period)
    u-012 has used 90% of the 60.00 USD limit (55.00 USD this period)
    """

    level: Level
    subject: str
    limit: Money
    threshold: Decimal
    spend: Money

    @property
    def message(self) -> str:
        """One line for people, e.g. ``ada has used 90% of their 100.00 USD limit``."""
        percent = f"{self.threshold * 100:f}"
        if "." in percent:  # strip only the fraction's zeros: 100 stays 100
            percent = percent.rstrip("0").rstrip(".")
        who = {
            Level.MEMBER: f"{self.subject} has",
            Level.SEAT_TYPE: f"seat type {self.subject} has",
            Level.ORGANIZATION: f"organization {self.subject} has",
        }[self.level]
        return (
            f"{who} used {percent}% of the {self.limit.rounded()} limit "
            f"({self.spend.rounded()} this period)"
        )


def path_notifications(
    path: MemberPath,
    before: UsedOnPath,
    after: UsedOnPath,
    *,
    thresholds: Sequence[Decimal],
) -> tuple[Notification, ...]:
    """The ``thresholds`` crossed on ``path`` between ``before`` and ``after`` (pure; by level).

    What a charge on one member's path fires: their limit, their seat type's
    pool, the organization's pool. Pass the organization's
    :attr:`~usagebill.accounts.organization.Organization.thresholds`.

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, SeatCatalog, SpendLimits
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
    ...     at=datetime(2026, 10, 1, tzinfo=UTC),
    ...     limits=SpendLimits(members={"ada": Money("100")}),
    ... )
    >>> before = UsedOnPath(Decimal(70), Decimal(70), Decimal(70))
    >>> crossed = path_notifications(org.path("ada"), before, before.plus(Decimal(20), Decimal(0)),
    ...                              thresholds=org.thresholds)
    >>> for note in crossed:
    ...     print(note.message)
    ada has used 75% of the 100.00 USD limit (90.00 USD this period)
    ada has used 90% of the 100.00 USD limit (90.00 USD this period)
    """
    levels = (
        (Level.MEMBER, path.user_id, path.member_cap, before.member, after.member),
        (Level.SEAT_TYPE, path.seat_type, path.seat_type_cap, before.seat_type, after.seat_type),
        (Level.ORGANIZATION, path.organization, path.organization_cap, before.total, after.total),
    )
    return tuple(
        notification
        for level, subject, limit, old, new in levels
        for notification in _crossed(
            level, subject, limit, old, new, thresholds=thresholds, currency=path.currency
        )
    )


def notifications(
    org: Organization,
    before: SpendLike,
    after: SpendLike,
    *,
    members: Iterable[str] | None = None,
) -> tuple[Notification, ...]:
    """The thresholds crossed between ``before`` and ``after`` (pure; in level order).

    ``members`` narrows the members looked at (e.g. the one who was charged);
    by default every member whose spend changed.
    """
    thresholds = org.thresholds
    currency = after.currency
    found: list[Notification] = []

    def check(level: Level, subject: str, limit: Money | None, old: Decimal, new: Decimal) -> None:
        found.extend(
            _crossed(level, subject, limit, old, new, thresholds=thresholds, currency=currency)
        )

    changed_members = _changed(before.members, after.members) if members is None else members
    for user_id in changed_members:
        if user_id in org.members:
            check(
                Level.MEMBER,
                user_id,
                org.effective_limit(user_id).cap,
                before.members.get(user_id, Decimal(0)),
                after.members.get(user_id, Decimal(0)),
            )
    for seat_type in _changed(before.seat_types, after.seat_types):
        check(
            Level.SEAT_TYPE,
            seat_type,
            org.limits.seat_type(seat_type).pool_cap,
            before.seat_types.get(seat_type, Decimal(0)),
            after.seat_types[seat_type],
        )
    check(Level.ORGANIZATION, org.name, org.limits.organization.pool_cap, before.total, after.total)
    return tuple(found)


def _crossed(
    level: Level,
    subject: str,
    limit: Money | None,
    old: Decimal,
    new: Decimal,
    *,
    thresholds: Iterable[Decimal],
    currency: str,
) -> Iterator[Notification]:
    """Each threshold of ``limit`` that spend going from ``old`` to ``new`` crossed."""
    if limit is None or new <= old:
        return
    for threshold in thresholds:
        mark = EXACT.multiply(threshold, limit.amount)
        if old < mark <= new:
            yield Notification(level, subject, limit, threshold, Money(new, currency))


def _changed(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> Iterator[str]:
    return (key for key, value in after.items() if before.get(key) != value)
