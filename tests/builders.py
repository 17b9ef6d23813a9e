"""One organization and one usage event for the tests: defaults for all a test does not care about.

The organization is acme, created on 1 September 2026 (UTC, a month before the
October most tests bill), with the two enterprise seat types at example fees
(Chat 20.00, Chat + Claude Code 40.00 a month; HIPAA 5.00) and olga its primary
owner on Chat + Claude Code. Without members given, ada (Chat + Claude Code) and
bob (Chat, with HIPAA) join her: seat fees 40 + 40 + 25 = 105.00 a month. Given
members join olga, unless one of them is the primary owner. Every other keyword
goes to :meth:`Organization.create` (``limits``, ``timezone``, ``failure_policy``,
``invoicing``…)::

    organization()                                      # olga, ada, bob
    organization(member("ada"), limits=caps)            # olga, and ada on Chat
    organization(member("bob", CHAT_AND_CLAUDE_CODE), at=START)

The event is ada's request to Claude Sonnet 4.6 in Chat at noon on 3 October,
with the token counts given as keywords (none: an empty request)::

    event("a1", input_tokens=1_000_000)                 # 3.00 USD
    event("b2", "bob", HAIKU, at=october(6), output_tokens=200_000)

:func:`busy_october` is the organization whose members come and go during the
month (the invoice's proration tests bill it).

A test whose figures are worked by hand says the ones it relies on (a fee, a
member's seat) in its own call, even when they are the defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    HIPAA,
    BillingPeriod,
    Member,
    Modifiers,
    Money,
    Organization,
    Product,
    SeatCatalog,
    TokenUsage,
    UsageEvent,
)

__all__ = [
    "CATALOG",
    "HAIKU",
    "OCTOBER",
    "SONNET",
    "START",
    "busy_october",
    "event",
    "member",
    "october",
    "organization",
]

START = datetime(2026, 9, 1, tzinfo=UTC)
"""When the organization is created and its members get their seats."""
OCTOBER = BillingPeriod.of("2026-10")
CATALOG = SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
"""The two seat types of the source at example fees (Anthropic publishes none)."""
SONNET = "claude-sonnet-4-6"
"""3.00 USD a million input tokens, 15.00 a million output tokens."""
HAIKU = "claude-haiku-4-5"
"""1.00 USD a million input tokens, 5.00 a million output tokens."""


def member(
    user_id: str, seat_type: str = CHAT, *, role: str = "member", add_ons: Iterable[str] = ()
) -> Member:
    """A member on ``seat_type`` (Chat unless told), with ``add_ons``."""
    return Member(user_id, role, seat_type, frozenset(add_ons))


def organization(
    *members: Member,
    name: str = "acme",
    catalog: SeatCatalog = CATALOG,
    at: datetime = START,
    **settings: Any,
) -> Organization:
    """acme: olga its primary owner, and ``members`` (none given: ada and bob; see above)."""
    people = list(members) or [member("ada", CHAT_AND_CLAUDE_CODE), member("bob", add_ons=[HIPAA])]
    if not any(person.role == "primary_owner" for person in people):
        people.insert(0, member("olga", CHAT_AND_CLAUDE_CODE, role="primary_owner"))
    return Organization.create(name, catalog, people, at=at, **settings)


def busy_october() -> Organization:
    """olga all month; ada joins on 11 October (Chat, with HIPAA); bob, on Chat, moves to
    Chat + Claude Code at noon on 16 October and leaves on 26 October (midnights UTC)."""
    org = organization(member("bob"))
    org, _ = org.add_member("olga", october(11, 0), member("ada", add_ons=[HIPAA]))
    org, _ = org.assign_seat("olga", october(16, 12), "bob", CHAT_AND_CLAUDE_CODE)
    org, _ = org.remove_member("olga", october(26, 0), "bob")
    return org


def october(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An instant of October 2026 in UTC: noon unless told."""
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def event(  # noqa: PLR0917  (UsageEvent's own fields, in its order, each with a default)
    event_id: str = "e1",
    user_id: str = "ada",
    model: str = SONNET,
    product: Product | str = Product.CHAT,
    at: datetime | None = None,
    modifiers: Modifiers | None = None,
    *,
    failed: bool = False,
    usage: TokenUsage | None = None,
    **tokens: int,
) -> UsageEvent:
    """A usage event: ada's Sonnet 4.6 chat request at noon on 3 October unless told.

    The usage is ``usage`` or the token counts given as keywords (``input_tokens=…``).
    Every value given goes to :class:`UsageEvent` as it is, to be checked there.
    """
    if usage is not None and tokens:
        raise TypeError("give usage or token counts, not both")
    return UsageEvent(
        event_id,
        user_id,
        model,
        product,  # a name is fine: UsageEvent converts it
        usage if usage is not None else TokenUsage(**tokens),
        october(3) if at is None else at,
        Modifiers() if modifiers is None else modifiers,
        failed=failed,
    )
