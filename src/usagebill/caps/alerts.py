"""Spend-limit notifications: which thresholds a charge crossed.

A threshold is a fraction of a limit (by default 75 %, 90 % and 100 %). It
fires when committed spend goes from *below* it to *at or above* it. Spend only
grows within a period, so each threshold fires at most once per scope and
period; and because the comparison is made against the limit in force, a
changed limit re-arms its thresholds against the new figure. Held amounts are
reservations, not spend: they never fire a notification.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

import attrs

from usagebill.accounts.limits import Level, SpendLike
from usagebill.accounts.organization import Organization
from usagebill.money import EXACT, Money

__all__ = ["Notification", "notifications"]


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
        if limit is None or new <= old:
            return
        for threshold in thresholds:
            mark = EXACT.multiply(threshold, limit.amount)
            if old < mark <= new:
                found.append(Notification(level, subject, limit, threshold, Money(new, currency)))

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


def _changed(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> Iterator[str]:
    return (key for key, value in after.items() if before.get(key) != value)
