"""A month's usage cube re-keyed for a scenario: a what-if without reading the events again.

A scenario that only moves seats or changes prices changes which bucket of the
:class:`~usagebill.billing.cube.UsageCube` a request falls in (the seat type held,
the price version in force) and what a bucket costs, never how many tokens it
holds. So the scenario's cube is the month's cube with its buckets re-keyed —
exactly the cube its events would make under the scenario, as long as every
bucket moves whole. :func:`repriced_cube` checks that for each bucket:

* a moved member's new seat includes the bucket's product (otherwise the
  scenario denies those requests, and the what-if lists each one: only the
  events can say which);
* every name of the bucket's model resolves to the same model in the new price
  table (the cube keeps the canonical id, not the name each event used);
* the part of the period in which the bucket's price version was in force lies
  within one price version of the new table (a price starting inside it would
  split the bucket by the instants of its requests, which the cube does not keep);
* the old and the new price split requests at the same context-tier threshold in
  the bucket's mode (the tier sorts requests by their own prompt size), and the
  new price offers the bucket's modifiers.

When one does not hold it answers ``None``: the caller re-bills the events. Caps
replayed and a flat plan that blocks overage decide each request in time order;
they always need the events (:attr:`Scenario.needs_events
<usagebill.analysis.whatif.scenario.Scenario.needs_events>`).

The examples below move ada to Chat + Claude Code; her October Chat usage moves
with her, to the new seat type's bucket:

>>> from datetime import datetime, UTC
>>> from usagebill import (BillingPeriod, ChangeModelPrice, InvoiceBuilder, Member, Money,
...                        MoveSeats, Organization, PriceTable, Product, Rates, SeatCatalog,
...                        TokenUsage, UsageEvent)
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
...     at=datetime(2026, 9, 1, tzinfo=UTC))
>>> event = UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CHAT,
...                    TokenUsage(input_tokens=1_000), datetime(2026, 10, 2, tzinfo=UTC))
>>> before = Setting(org, PriceTable.builtin())
>>> cube = InvoiceBuilder(org, BillingPeriod.of("2026-10")).add_all([event]).cube()
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from usagebill.analysis.whatif.changes import Setting
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.errors import InvalidValueError, UsageBillError
from usagebill.pricing.prices import ModelPrice, PriceTable
from usagebill.usage import Modifiers

__all__ = ["repriced_cube"]

_FAST: Final = 4
"""The fast-mode bit of :attr:`UsageKey.modifiers`: fast mode has a context tier of its own."""


def repriced_cube(cube: UsageCube, before: Setting, after: Setting) -> UsageCube | None:
    """``cube``, made under ``before``, as the same events would make it under ``after``.

    ``None`` when a bucket cannot move whole (see the module docs): then only the
    events can answer. Duplicates, events outside the period and conflicts carry over.

    >>> moved = MoveSeats(["ada"], "chat_claude_code").apply(before)
    >>> [(key.seat_type, counts.input_tokens) for key, counts in
    ...  repriced_cube(cube, before, moved).buckets.items()]
    [('chat_claude_code', 1000)]

    A new Sonnet price from 15 October would split the bucket by its requests' instants:

    >>> from decimal import Decimal
    >>> rates = Rates(Decimal(5), Decimal(25), Decimal("6.25"), Decimal(10), Decimal("0.5"))
    >>> mid_month = datetime(2026, 10, 15, tzinfo=UTC)
    >>> print(repriced_cube(cube, before, ChangeModelPrice(
    ...     "claude-sonnet-4-6", rates, effective_from=mid_month).apply(before)))
    None
    >>> whole_month = ChangeModelPrice("claude-sonnet-4-6", rates).apply(before)
    >>> repriced_cube(cube, before, whole_month).price_table
    'claude-2026-12-01 + claude-sonnet-4-6 what-if'
    """
    if (cube.organization, cube.price_table) != (before.org.name, before.prices.version):
        raise InvalidValueError(
            "cube",
            (cube.organization, cube.price_table),
            f"must be a cube of organization {before.org.name!r} made with prices "
            f"{before.prices.version!r}",
        )
    if after.org.failure_policy != before.org.failure_policy:
        return None  # a failed request's billed counts would change
    catalog, moved = after.org.catalog, after.moved
    versions: dict[tuple[str, int], tuple[ModelPrice, ModelPrice, int] | None] = {}
    buckets: dict[UsageKey, UsageCounts] = {}
    for key, counts in cube.buckets.items():
        seat_type = moved.get(key.user_id, key.seat_type)
        if key.user_id in moved and not catalog.get(seat_type).includes_product(key.product):
            return None  # denied request by request
        found = (key.model, key.price_version)
        if found not in versions:
            versions[found] = _new_version(before.prices, after.prices, key, cube)
        mapped = versions[found]
        if mapped is None or not _same_split(mapped[0], mapped[1], key):
            return None
        new_key = key._replace(seat_type=seat_type, price_version=mapped[2])
        held = buckets.get(new_key)
        buckets[new_key] = counts if held is None else held + counts
    return UsageCube(
        cube.organization,
        cube.period,
        after.prices.version,
        buckets,
        duplicates=cube.duplicates,
        excluded=cube.excluded,
        conflicts=cube.conflicts,
        conflicting=cube.conflicting,
    )


def _new_version(
    old: PriceTable, new: PriceTable, key: UsageKey, cube: UsageCube
) -> tuple[ModelPrice, ModelPrice, int] | None:
    """The old price of the bucket, its price under ``new`` and that price's position.

    ``None`` when the model's names resolve elsewhere in ``new`` or a new price starts
    while the old one was in force during the period.
    """
    listing = old.models[key.model]
    try:
        if any(new.resolve(name) != key.model for name in (key.model, *listing.aliases)):
            return None
        replacement = new.models[key.model]
        start: datetime = cube.period.start
        begins = listing.prices[key.price_version].effective_from
        if begins is not None:
            start = max(start, begins)
        end: datetime = cube.period.end
        stops = listing.effective_until(key.price_version)
        if stops is not None:
            end = min(end, stops)
        version = replacement.version_at(start)
    except UsageBillError:  # the model, or a price at that instant, is missing from ``new``
        return None
    following = replacement.effective_until(version)
    if following is not None and following < end:
        return None
    return listing.prices[key.price_version], replacement.prices[version], version


def _same_split(old: ModelPrice, new: ModelPrice, key: UsageKey) -> bool:
    """Tell whether ``new`` puts the bucket's requests in the same tier and can price them."""
    fast = bool(key.modifiers & _FAST)
    old_tier, new_tier = old.tier(fast=fast), new.tier(fast=fast)
    if (old_tier is None) != (new_tier is None) or (
        old_tier is not None
        and new_tier is not None
        and old_tier.above_prompt_tokens != new_tier.above_prompt_tokens
    ):
        return False
    try:
        new.compiled(Modifiers.from_bits(key.modifiers), key.in_tier)
    except UsageBillError:  # the new price does not offer a modifier of the bucket
        return False
    return True
