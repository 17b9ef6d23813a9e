"""The cap replay: a period's requests decided again, in time order, under a scenario's caps.

Each request goes through :func:`~usagebill.caps.decision.decide` — the very
decision the gateway makes — on the path of the seat its member held at that
instant (:meth:`~usagebill.accounts.organization.Organization.path_at`), over a
month-to-date spend that grows with every request allowed. Those it denies are
left out of the what-if invoice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from usagebill.accounts.limits import Level, Spend
from usagebill.accounts.organization import Organization
from usagebill.analysis.whatif.result import DenialReason, DeniedRequest
from usagebill.caps.decision import Decision, UsedOnPath, decide
from usagebill.errors import UsageBillError
from usagebill.events import UsageEvent
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import PriceTable

__all__ = ["not_included", "replay"]

_ZERO: Final = Decimal(0)


def replay(
    org: Organization, prices: PriceTable, events: list[UsageEvent]
) -> tuple[list[DeniedRequest], Spend]:
    """Every event in time order through :func:`~usagebill.caps.decision.decide`.

    ``events`` are the period's, each once, in time order
    (:func:`~usagebill.events.deduplicated_between`). Returns the denied requests
    in that order, and the month-to-date spend of those allowed.
    """
    currency, policy = org.currency, org.failure_policy
    members: dict[str, Decimal] = {}
    seat_types: dict[str, Decimal] = {}
    total = _ZERO
    add = EXACT.add
    denied = []
    for event in events:
        try:
            path = org.path_at(event.user_id, event.at)
            usage = event.billed_usage(policy)
            amount = unchecked_money(
                prices.amount(event.model, usage, event.at, event.modifiers), currency
            )
        except UsageBillError as error:
            error.in_event(event.event_id)
            raise
        user_id, seat_type = event.user_id, path.seat_type
        used = UsedOnPath(members.get(user_id, _ZERO), seat_types.get(seat_type, _ZERO), total)
        decision = decide(path, used, amount, product=event.product)
        if decision.allowed:
            value = amount.amount
            members[user_id] = add(used.member, value)
            seat_types[seat_type] = add(used.seat_type, value)
            total = add(total, value)
        else:
            denied.append(_denied(event, decision))
    return denied, Spend(currency, members, seat_types, total)


def not_included(
    org: Organization, prices: PriceTable, events: list[UsageEvent]
) -> list[DeniedRequest]:
    """The requests for products the seat their member held then does not include.

    What a scenario that moves members (and replays no caps) denies.
    """
    denied = []
    for event in events:
        path = org.path_at(event.user_id, event.at)
        seat_type = path.seat_type
        if event.product not in path.includes:
            usage = event.billed_usage(org.failure_policy)
            amount = Money(
                prices.amount(event.model, usage, event.at, event.modifiers), org.currency
            )
            denied.append(
                DeniedRequest(
                    event_id=event.event_id,
                    user_id=event.user_id,
                    seat_type=seat_type,
                    at=event.at,
                    model=event.model,
                    product=event.product,
                    amount=amount,
                    reason=DenialReason.NOT_INCLUDED,
                    detail=(
                        f"denied: seat type {seat_type} of {event.user_id} "
                        f"does not include {event.product}"
                    ),
                )
            )
    return denied


_LEVELS: Final = {
    Level.MEMBER: DenialReason.MEMBER,
    Level.SEAT_TYPE: DenialReason.SEAT_TYPE,
    Level.ORGANIZATION: DenialReason.ORGANIZATION,
}


def _denied(event: UsageEvent, decision: Decision) -> DeniedRequest:
    reason = (
        DenialReason.NOT_INCLUDED
        if decision.not_included is not None
        else _LEVELS[decision.bindings[0].level]
    )
    return DeniedRequest(
        event_id=event.event_id,
        user_id=event.user_id,
        seat_type=decision.seat_type,
        at=event.at,
        model=event.model,
        product=event.product,
        amount=decision.amount,
        reason=reason,
        detail=decision.reason,
    )
