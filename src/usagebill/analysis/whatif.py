"""What-if bills: the same month's usage, billed under a changed scenario.

A finance or IT owner asks "what would October have cost if…": if these
members had held Chat seats instead of Chat + Claude Code, if the caps had been
lower, if a model had cost more, if we had been on a flat plan. Guesswork
answers that with a spreadsheet; :func:`whatif` answers it by re-billing the
period's *real* events, through the same code that bills them for real.

A :class:`Scenario` is a tuple of changes, each a frozen value, applied in
order and freely combined:

* :class:`MoveSeats` — these members hold another seat type (and add-ons) for
  the whole period: every moment they held any seat, they hold this one;
* :class:`ChangeCaps` — every cap replaced by another :class:`SpendLimits`;
* :class:`ChangePrices` — another price table; :class:`ChangeModelPrice` — one
  model's new rates, for the whole period or from an instant on;
* :class:`FlatPlan` — the billing model usage billing replaces: a fixed
  monthly fee per seat that includes a usage allowance per seat, overage
  priced at API rates or blocked. It is *compared* with the usage-billed
  invoice (:class:`PlanComparison`), not billed.

How caps are treated — the point that decides whether a what-if can be
trusted:

* **Without a cap change, caps are not replayed.** The real month already ran
  under the real caps; replaying them would only re-decide what was decided.
  So a scenario with no change reproduces the original invoice exactly, byte
  for byte (the property tests check it).
* **With** :class:`ChangeCaps` **(or** ``replay_caps=True`` **)**, the
  period's events are replayed in time order through
  :func:`~usagebill.caps.decision.authorize` — the very decision the gateway makes —
  over a growing month-to-date spend, each request against the seat its member
  held at that instant. Requests it denies are listed
  (:attr:`WhatIf.denied`, with the binding level and the amount they carried)
  and left out of the what-if invoice.
* A member moved to a seat that does not include a product they used (Claude
  Code on a Chat seat) would have been denied those requests: they are listed
  as ``not_included`` and left out, with or without a cap replay.

The what-if invoice is an ordinary :class:`~usagebill.billing.invoice.Invoice` (same
lines, same rounding), so :func:`~usagebill.analysis.diff.diff` shows what changed.
Everything here is pure; :func:`load_scenario` is the one function that reads
files.
"""

from __future__ import annotations

import enum
import functools
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

import attrs

from usagebill._checks import aware, flag, instance_of, non_empty_str, optional
from usagebill._frozendict import FrozenDict
from usagebill.accounts.limits import Level, Spend, SpendLimits
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import Member, Role, SeatCatalog, SeatChange, SeatTimeline
from usagebill.analysis.diff import InvoiceDiff, diff
from usagebill.billing.invoice import Invoice, InvoiceBuilder, build_invoice
from usagebill.caps.decision import Decision, authorize
from usagebill.errors import (
    CurrencyMismatchError,
    InvalidValueError,
    UnknownNameError,
    UsageBillError,
    short_repr,
)
from usagebill.events import UsageEvent, deduplicated_between
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import ModelPrice, PriceTable, Rates
from usagebill.reports.render import shown_amount, shown_change
from usagebill.usage import FailurePolicy, Product

__all__ = [
    "ChangeCaps",
    "ChangeModelPrice",
    "ChangePrices",
    "DenialReason",
    "DeniedRequest",
    "DeniedTotal",
    "FlatPlan",
    "MoveSeats",
    "PlanComparison",
    "PlanRow",
    "Scenario",
    "WhatIf",
    "whatif",
]

T = TypeVar("T")
Overage = Literal["priced", "blocked"]
_ZERO: Final = Decimal(0)
_WIDTH: Final = 100


# --- the changes ----------------------------------------------------------------------------


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError("members", value, "must be a list of user ids (not one string)")
    names = tuple(value)
    if not names:
        raise InvalidValueError("members", names, "must name at least one user")
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidValueError("members", name, "must hold non-empty user ids")
    if len(set(names)) != len(names):
        raise InvalidValueError("members", names, "must not repeat a user")
    return names


def _add_ons(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError("add_ons", value, "must be a collection of names, not a string")
    return frozenset(value)


def _money_amount(field: str, value: object) -> Money:
    if not isinstance(value, Money) or value.amount < 0:
        raise InvalidValueError(field, value, "must be a non-negative Money")
    return value


@attrs.frozen
class MoveSeats:
    """``members`` hold ``seat_type`` (with ``add_ons``) for the whole period.

    Every seat they held — before, during or after the period; only the period
    is billed — becomes this one, so a member who changed seat mid-month is
    billed as if they had held the new seat throughout. Requests for products
    the new seat does not include are denied (``not_included``).
    """

    members: tuple[str, ...] = attrs.field(converter=_names)
    seat_type: str = attrs.field(validator=non_empty_str)
    add_ons: frozenset[str] = attrs.field(default=frozenset(), converter=_add_ons)

    def describe(self) -> str:
        """One line for people."""
        extras = f" with {', '.join(sorted(self.add_ons))}" if self.add_ons else ""
        return f"move {', '.join(self.members)} to {self.seat_type}{extras} for the whole period"


@attrs.frozen
class ChangeCaps:
    """Every cap replaced by ``limits``; the period's requests are replayed against them."""

    limits: SpendLimits = attrs.field(validator=instance_of(SpendLimits, "SpendLimits"))

    def describe(self) -> str:
        """One line for people."""
        caps = [f"{path} {cap.rounded()}" for path, cap in self.limits.all_caps()]
        return "caps replaced: " + ("; ".join(caps) if caps else "no caps at all")


@attrs.frozen
class ChangePrices:
    """Every request priced by ``table`` instead (same currency as the organization)."""

    table: PriceTable = attrs.field(validator=instance_of(PriceTable))

    def describe(self) -> str:
        """One line for people."""
        return f"prices from table {self.table.version}"


@attrs.frozen
class ChangeModelPrice:
    """``model`` at new standard ``rates``, for the whole period or from ``effective_from``.

    Without ``effective_from`` every price version of the model keeps its date
    and gets the new rates, so the invoice lines stay the same lines with new
    amounts. With it, a new version starts then and replaces any later one.
    ``long_context`` sets the rates of the model's context tier (which
    otherwise keeps its own); fast-mode rates and multipliers are kept.
    """

    model: str = attrs.field(validator=non_empty_str)
    rates: Rates = attrs.field(validator=instance_of(Rates, "Rates"))
    effective_from: datetime | None = attrs.field(default=None, validator=optional(aware))
    long_context: Rates | None = attrs.field(
        default=None, validator=optional(instance_of(Rates, "Rates or None"))
    )

    def describe(self) -> str:
        """One line for people."""
        rates = self.rates
        when = (
            "for the whole period"
            if self.effective_from is None
            else f"from {self.effective_from.isoformat()}"
        )
        return (
            f"{self.model} at input {rates.input}, output {rates.output}, cache write "
            f"{rates.cache_write_5m}/{rates.cache_write_1h}, cache read {rates.cache_read} "
            f"per million tokens {when}"
        )


def _fees(value: object) -> FrozenDict[str, Money]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidValueError("fees", value, "must map each seat type to its monthly fee")
    for seat_type, fee in value.items():
        _money_amount(f"fees[{short_repr(seat_type)}]", fee)
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


def _allowance(value: object) -> Money:
    return _money_amount("allowance", value)


def _overage(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("priced", "blocked"):
        raise InvalidValueError("overage", value, "must be 'priced' or 'blocked'")


@attrs.frozen
class FlatPlan:
    """A flat plan: a monthly fee per seat including ``allowance`` of usage per seat.

    Usage beyond the allowance is ``"priced"`` at API rates, or ``"blocked"``
    (the member's requests stop once the next one would take their usage over
    the allowance — the same ``<=`` rule as a cap). Fees and allowance are
    prorated like seat fees, to the second the member held a seat; add-ons
    (HIPAA) keep their own fee.
    """

    fees: FrozenDict[str, Money] = attrs.field(converter=_fees)
    allowance: Money = attrs.field(converter=_allowance)
    overage: Overage = attrs.field(default="priced", validator=_overage)

    def __attrs_post_init__(self) -> None:
        currency = self.allowance.currency
        for seat_type, fee in self.fees.items():
            if fee.currency != currency:
                raise CurrencyMismatchError(
                    currency, fee.currency, f"fees[{short_repr(seat_type)}]"
                )

    def describe(self) -> str:
        """One line for people."""
        fees = ", ".join(f"{name} {fee.rounded()}" for name, fee in sorted(self.fees.items()))
        overage = "priced at API rates" if self.overage == "priced" else "blocked"
        return (
            f"flat plan: {fees} a seat a month, {self.allowance.rounded()} of usage included "
            f"per seat, overage {overage}"
        )


Change = MoveSeats | ChangeCaps | ChangePrices | ChangeModelPrice | FlatPlan
_CHANGES: Final = (MoveSeats, ChangeCaps, ChangePrices, ChangeModelPrice, FlatPlan)


def _changes(value: object) -> tuple[Change, ...]:
    if isinstance(value, _CHANGES) or not isinstance(value, Iterable):
        raise InvalidValueError("changes", value, "must be a tuple of changes")
    changes = tuple(value)
    for position, change in enumerate(changes):
        if not isinstance(change, _CHANGES):
            names = ", ".join(kind.__name__ for kind in _CHANGES)
            raise InvalidValueError(f"changes[{position}]", change, f"must be one of {names}")
    if sum(isinstance(change, FlatPlan) for change in changes) > 1:
        raise InvalidValueError("changes", changes, "must hold at most one FlatPlan")
    return changes


@attrs.frozen
class Scenario:
    """A named set of changes, applied in order; no change at all is the invoice as billed.

    ``replay_caps`` replays the caps even when no :class:`ChangeCaps` is given
    (e.g. to see what the current caps would have denied under new prices).
    """

    changes: tuple[Change, ...] = attrs.field(default=(), converter=_changes)
    name: str = attrs.field(default="what-if", validator=non_empty_str)
    replay_caps: bool = attrs.field(default=False, validator=flag)

    @property
    def replays(self) -> bool:
        """Tell whether the caps are replayed: asked for, or changed by the scenario."""
        return self.replay_caps or any(isinstance(c, ChangeCaps) for c in self.changes)

    @property
    def flat_plan(self) -> FlatPlan | None:
        """The scenario's flat plan, if it compares one."""
        return next((c for c in self.changes if isinstance(c, FlatPlan)), None)

    def describe(self) -> list[str]:
        """One line per change, for people."""
        lines = [change.describe() for change in self.changes] or ["no change"]
        if self.replay_caps:
            lines.append("caps replayed")
        return lines


# --- results ---------------------------------------------------------------------------------


class DenialReason(enum.StrEnum):
    """Why the replay denied a request: the tightest binding level, or the seat's products."""

    MEMBER = "member"
    SEAT_TYPE = "seat_type"
    ORGANIZATION = "organization"
    NOT_INCLUDED = "not_included"


@attrs.frozen
class DeniedRequest:
    """A request the scenario would have denied, and the exact amount it carried."""

    event_id: str
    user_id: str
    seat_type: str
    at: datetime
    model: str
    product: Product
    amount: Money
    reason: DenialReason
    detail: str


@attrs.frozen
class DeniedTotal:
    """Denied requests of one user or one reason: how many, and their exact amount."""

    key: str
    requests: int
    amount: Money


@attrs.frozen
class PlanRow:
    """One member under the flat plan, beside what usage billing charged them.

    ``usage`` is the member's usage at API rates (their usage lines on the
    usage-billed invoice); ``included + overage + blocked == usage`` and
    ``total == flat_fee + overage``. ``difference`` is flat minus usage-billed:
    positive when the flat plan would have cost more.
    """

    user_id: str
    flat_fee: Money
    usage: Money
    allowance: Money
    included: Money
    overage: Money
    blocked: Money
    total: Money
    usage_billed: Money
    difference: Money


_PLAN_COLUMNS: Final = (
    "flat_fee",
    "usage",
    "allowance",
    "included",
    "overage",
    "blocked",
    "total",
    "usage_billed",
    "difference",
)


@attrs.frozen
class PlanComparison:
    """A flat plan against the usage-billed invoice of the same events, member by member.

    ``totals`` sums each column of the rows (a :class:`PlanRow` keyed
    ``"total"``); every figure is rounded to the minor unit.
    """

    plan: FlatPlan
    currency: str
    rows: tuple[PlanRow, ...]
    totals: PlanRow

    @property
    def cheaper(self) -> str:
        """``"flat"``, ``"usage"`` or ``"same"``: which model would have cost less."""
        difference = self.totals.difference.amount
        return "same" if not difference else ("usage" if difference > 0 else "flat")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per member (amounts as Decimals), ready for ``pandas.DataFrame``."""
        return [
            {
                "user_id": row.user_id,
                **{name: getattr(row, name).amount for name in _PLAN_COLUMNS},
                "currency": self.currency,
            }
            for row in self.rows
        ]

    def to_text(self) -> str:
        """A plain-text table: one row per member, then the totals."""
        width = 13
        head = f"{'user':<10}" + "".join(f"{name:>{width}}" for name in _PLAN_COLUMNS)
        out = [self.plan.describe(), head, "-" * len(head)]
        for row in (*self.rows, self.totals):
            if row is self.totals:
                out.append("-" * len(head))
            cells = "".join(
                f"{shown_amount(getattr(row, name)):>{width}}" for name in _PLAN_COLUMNS
            )
            out.append(f"{row.user_id:<10}{cells}")
        verdict = {
            "flat": "the flat plan would have cost less",
            "usage": "usage billing cost less",
            "same": "both models cost the same",
        }[self.cheaper]
        out.append(
            f"Flat plan {shown_amount(self.totals.total)} vs usage-billed "
            f"{shown_amount(self.totals.usage_billed)} {self.currency}: {verdict} "
            f"({shown_change(self.totals.difference)})."
        )
        return "\n".join(out) + "\n"

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(name)}</th>" for name in ("user", *_PLAN_COLUMNS))
        body = "".join(
            f"<tr><td>{esc(row.user_id)}</td>"
            + "".join(
                f"<td style='text-align:right'>{esc(shown_amount(getattr(row, name)))}</td>"
                for name in _PLAN_COLUMNS
            )
            + "</tr>"
            for row in (*self.rows, self.totals)
        )
        return (
            f"<div class='usagebill-plan'><p>{esc(self.plan.describe())}</p>"
            f"<table><tr>{head}</tr>{body}</table></div>"
        )


@attrs.frozen
class WhatIf:
    """A period re-billed under a scenario, beside the invoice as billed.

    ``invoice`` is the usage-billed invoice under the scenario's changes (for a
    :class:`FlatPlan` scenario it is what the plan is compared with);
    ``denied`` lists the requests the scenario would have denied, in time
    order; ``spend`` is the month-to-date spend at the end of a cap replay
    (``None`` without one).
    """

    scenario: Scenario
    baseline: Invoice
    invoice: Invoice
    denied: tuple[DeniedRequest, ...]
    replayed: bool
    spend: Spend | None
    comparison: PlanComparison | None

    @functools.cached_property
    def diff(self) -> InvoiceDiff:
        """``invoice`` minus ``baseline``, line by line (computed when first asked for)."""
        return diff(self.baseline, self.invoice)

    @property
    def denied_total(self) -> Money:
        """The exact amount of every denied request."""
        return Money.sum((request.amount for request in self.denied), self.invoice.currency)

    @property
    def denied_by_user(self) -> tuple[DeniedTotal, ...]:
        """Denied requests per user, sorted by user id."""
        return _denied_totals(((r.user_id, r) for r in self.denied), self.invoice.currency)

    @property
    def denied_by_level(self) -> tuple[DeniedTotal, ...]:
        """Denied requests per binding level (``member``, ``seat_type``, …, ``not_included``)."""
        return _denied_totals(((r.reason.value, r) for r in self.denied), self.invoice.currency)

    def denied_records(self) -> list[dict[str, Any]]:
        """One dict per denied request, ready for ``pandas.DataFrame``."""
        return [
            {
                "event_id": r.event_id,
                "user_id": r.user_id,
                "seat_type": r.seat_type,
                "at": r.at.isoformat(),
                "model": r.model,
                "product": r.product.value,
                "level": r.reason.value,
                "amount": r.amount.amount,
                "currency": r.amount.currency,
                "detail": r.detail,
            }
            for r in self.denied
        ]

    def to_records(self) -> list[dict[str, Any]]:
        """The diff's records: one dict per invoice line identity, before and after."""
        return self.diff.to_records()

    def to_text(self) -> str:
        """The scenario, what it denied, the invoice diff and any plan comparison."""
        out = [f"WHAT-IF: {self.scenario.name}", "=" * _WIDTH]
        out += [f"  - {line}" for line in self.scenario.describe()]
        out.append(
            f"Caps replayed: {'yes' if self.replayed else 'no (the scenario does not change them)'}"
        )
        out += ["", *_denied_text(self), self.diff.to_text()]
        if self.comparison is not None:
            out += ["PLAN COMPARISON", "-" * _WIDTH, self.comparison.to_text()]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The scenario and its invoice diff as Markdown."""
        head = [f"# What-if: {self.scenario.name}", ""]
        head += [f"- {line}" for line in self.scenario.describe()]
        head += [
            "",
            f"Denied requests: {len(self.denied):,} ({shown_amount(self.denied_total)})",
            "",
        ]
        return "\n".join(head) + "\n" + self.diff.to_markdown()

    def _repr_html_(self) -> str:
        esc = html.escape
        changes = "".join(f"<li>{esc(line)}</li>" for line in self.scenario.describe())
        denied = (
            f"<p>{len(self.denied):,} requests denied "
            f"({esc(shown_amount(self.denied_total))} {esc(self.invoice.currency)})</p>"
        )
        plan = "" if self.comparison is None else self.comparison._repr_html_()
        return (
            f"<div class='usagebill-whatif'><h3>What-if: {esc(self.scenario.name)}</h3>"
            f"<ul>{changes}</ul>{denied}{self.diff._repr_html_()}{plan}</div>"
        )


def _denied_totals(
    pairs: Iterable[tuple[str, DeniedRequest]], currency: str
) -> tuple[DeniedTotal, ...]:
    counts: dict[str, int] = {}
    sums: dict[str, Decimal] = {}
    for key, request in pairs:
        counts[key] = counts.get(key, 0) + 1
        sums[key] = EXACT.add(sums.get(key, _ZERO), request.amount.amount)
    return tuple(
        DeniedTotal(key, counts[key], unchecked_money(sums[key], currency)) for key in sorted(sums)
    )


def _denied_text(result: WhatIf) -> list[str]:
    if not result.denied:
        return ["DENIED REQUESTS: none", ""]
    out = [
        (
            f"DENIED REQUESTS: {len(result.denied):,}, carrying "
            f"{shown_amount(result.denied_total)} {result.invoice.currency} "
            "(left out of the what-if invoice)"
        ),
        "-" * _WIDTH,
    ]
    for title, totals in (("by level", result.denied_by_level), ("by user", result.denied_by_user)):
        out.append(f"  {title}:")
        out += [
            f"    {total.key:<30}{total.requests:>10,} requests{shown_amount(total.amount):>16}"
            for total in totals
        ]
    return [*out, ""]


# --- applying a scenario --------------------------------------------------------------------


def _move(org: Organization, change: MoveSeats) -> Organization:
    """``org`` with ``change.members`` on the new seat wherever they held one."""
    org.catalog.check_add_ons(change.seat_type, change.add_ons)
    known = {c.user_id for c in org.seat_history}
    for user_id in change.members:
        if user_id not in known:
            raise UnknownNameError("member", user_id)
    moved = frozenset(change.members)
    history: list[SeatChange] = []
    last: dict[str, SeatChange] = {}
    for held in org.seat_history:
        seat = held
        if seat.user_id in moved:
            if seat.seat_type is not None:
                seat = SeatChange(seat.user_id, seat.at, change.seat_type, change.add_ons)
            previous = last.get(seat.user_id)
            if previous is not None and (previous.seat_type, previous.add_ons) == (
                seat.seat_type,
                seat.add_ons,
            ):
                continue  # the same seat again: one held span, one seat line
            last[seat.user_id] = seat
        history.append(seat)
    members = {
        user_id: (
            attrs.evolve(member, seat_type=change.seat_type, add_ons=change.add_ons)
            if user_id in moved
            else member
        )
        for user_id, member in org.members.items()
    }
    return attrs.evolve(org, members=members, seat_history=history)


def _with_model_price(table: PriceTable, change: ChangeModelPrice) -> PriceTable:
    model_id = table.resolve(change.model)
    listing = table.models[model_id]

    def priced(price: ModelPrice) -> ModelPrice:
        tier = price.long_context
        if change.long_context is not None:
            if tier is None:
                raise InvalidValueError(
                    "long_context", change.long_context, f"{model_id} has no context tier"
                )
            tier = attrs.evolve(tier, rates=change.long_context)
        # What-if figures are the scenario's own: none is derived from the price list any more.
        return attrs.evolve(
            price, rates=change.rates, long_context=tier, source="what-if", derived={}
        )

    start = change.effective_from
    if start is None:
        prices = tuple(priced(price) for price in listing.prices)
    else:
        earlier = tuple(
            p for p in listing.prices if p.effective_from is None or p.effective_from < start
        )
        if not earlier:
            raise InvalidValueError(
                "effective_from", start, f"must come after the first price of {model_id}"
            )
        prices = (*earlier, attrs.evolve(priced(earlier[-1]), effective_from=start))
    return PriceTable(
        version=f"{table.version} + {model_id} what-if",
        models=table.models.set(model_id, attrs.evolve(listing, prices=prices)),
        currency=table.currency,
        source=table.source,
    )


def _apply(
    org: Organization, prices: PriceTable, scenario: Scenario
) -> tuple[Organization, PriceTable, dict[str, str]]:
    """The scenario's organization and prices, and each moved user's new seat type."""
    moved: dict[str, str] = {}
    for change in scenario.changes:
        if isinstance(change, MoveSeats):
            org = _move(org, change)
            moved.update(dict.fromkeys(change.members, change.seat_type))
        elif isinstance(change, ChangeCaps):
            org = attrs.evolve(org, limits=change.limits)  # the organization checks them
        elif isinstance(change, ChangePrices):
            if change.table.currency != org.currency:
                raise CurrencyMismatchError(org.currency, change.table.currency, "table.currency")
            prices = change.table
        elif isinstance(change, ChangeModelPrice):
            prices = _with_model_price(prices, change)
        elif change.allowance.currency != org.currency:
            raise CurrencyMismatchError(org.currency, change.allowance.currency, "allowance")
    return org, prices, moved


# --- replaying ------------------------------------------------------------------------------


class _RunningSpend:
    """Month-to-date spend that grows in place: what :func:`authorize` reads, per request.

    A :class:`~usagebill.accounts.limits.SpendLike` like a ledger's view; a frozen
    :class:`Spend` would copy its dicts at every request of a large month.
    """

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.members: dict[str, Decimal] = {}
        self.seat_types: dict[str, Decimal] = {}
        self.total = _ZERO
        self.held_members: dict[str, Decimal] = {}
        self.held_seat_types: dict[str, Decimal] = {}
        self.held_total = _ZERO

    def record(self, user_id: str, seat_type: str, amount: Decimal) -> None:
        self.members[user_id] = EXACT.add(self.members.get(user_id, _ZERO), amount)
        self.seat_types[seat_type] = EXACT.add(self.seat_types.get(seat_type, _ZERO), amount)
        self.total = EXACT.add(self.total, amount)

    def frozen(self) -> Spend:
        return Spend(self.currency, self.members, self.seat_types, self.total)


def _view(org: Organization, user_id: str, seat_type: str) -> Organization:
    """``org`` as :func:`authorize` sees it for ``user_id`` holding ``seat_type``.

    The decision reads the member's seat type, the catalog and the caps; an
    organization of that one member, with the caps that apply to them, gives
    it exactly those — for a past seat, and for a member since removed.
    """
    limits = org.limits
    cap = limits.members.get(user_id)
    return Organization(
        name=org.name,
        catalog=org.catalog,
        members={user_id: Member(user_id, Role.PRIMARY_OWNER, seat_type)},
        limits=SpendLimits(
            limits.organization, limits.seat_types, {} if cap is None else {user_id: cap}
        ),
        timezone=org.timezone,
        seat_history=(SeatChange(user_id, datetime(1, 1, 2, tzinfo=UTC), seat_type),),
    )


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


def _replay(
    org: Organization, prices: PriceTable, events: list[UsageEvent]
) -> tuple[list[DeniedRequest], Spend]:
    """Every event in time order through :func:`authorize`, over a growing spend."""
    timeline = SeatTimeline(org.seat_history)
    views: dict[tuple[str, str], Organization] = {}
    spend = _RunningSpend(org.currency)
    currency = org.currency
    denied = []
    for event in events:
        try:
            seat_type = timeline.seat_at(event.user_id, event.at.astimezone(UTC))
            view = views.get((event.user_id, seat_type))
            if view is None:
                view = views[event.user_id, seat_type] = _view(org, event.user_id, seat_type)
            usage = event.billed_usage(org.failure_policy)
            amount = unchecked_money(
                prices.amount(event.model, usage, event.at, event.modifiers), currency
            )
        except UsageBillError as error:
            error.add_note(f"in usage event {short_repr(event.event_id)}")
            raise
        decision = authorize(view, spend, event.user_id, amount, product=event.product)
        if decision.allowed:
            spend.record(event.user_id, seat_type, amount.amount)
        else:
            denied.append(_denied(event, decision))
    return denied, spend.frozen()


def _not_included(
    org: Organization, prices: PriceTable, events: list[UsageEvent]
) -> list[DeniedRequest]:
    """Moved members' requests for products their new seat does not include."""
    timeline = SeatTimeline(org.seat_history)
    denied = []
    for event in events:
        seat_type = timeline.seat_at(event.user_id, event.at.astimezone(UTC))
        if event.product not in org.catalog.get(seat_type).includes:
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


# --- the flat plan --------------------------------------------------------------------------


def _compare(
    plan: FlatPlan,
    *,
    org: Organization,
    prices: PriceTable,
    period: BillingPeriod,
    invoice: Invoice,
    allowed: list[UsageEvent],
) -> PlanComparison:
    currency = org.currency
    zero = Money.zero(currency)
    catalog = SeatCatalog(
        {
            name: attrs.evolve(seat, monthly_fee=plan.fees.get(name, seat.monthly_fee))
            for name, seat in org.catalog.seat_types.items()
        }
    )
    seat_lines = build_invoice(attrs.evolve(org, catalog=catalog), (), period, prices).seat_lines
    flat_fee: dict[str, Money] = {}
    seconds: dict[str, int] = {}
    for line in seat_lines:
        if line.add_on is None:
            if line.seat_type not in plan.fees:
                raise InvalidValueError(
                    "fees",
                    sorted(plan.fees),
                    f"must give a fee for seat type {short_repr(line.seat_type)}",
                )
            seconds[line.user_id] = seconds.get(line.user_id, 0) + line.seconds
        flat_fee[line.user_id] = flat_fee.get(line.user_id, zero) + line.amount
    usage: dict[str, Money] = {}
    for usage_line in invoice.usage_lines:
        usage[usage_line.user_id] = usage.get(usage_line.user_id, zero) + usage_line.amount
    allowance = {
        user_id: plan.allowance * held / period.seconds for user_id, held in seconds.items()
    }
    allowed_usage = _within(allowance, prices, allowed, currency, org.failure_policy)
    billed = {subtotal.key: subtotal.amount for subtotal in invoice.by_member}
    rows = []
    for user_id in sorted(flat_fee.keys() | billed.keys()):
        fee = flat_fee.get(user_id, zero)
        used = usage.get(user_id, zero)
        room = allowance.get(user_id, zero).rounded()
        if plan.overage == "priced":
            stopped = zero.rounded()
            included = min(used, room)
            over = used - included
        else:
            included = min(allowed_usage.get(user_id, zero).rounded(), used)
            stopped = used - included
            over = zero.rounded()
        total = fee + over
        usage_billed = billed.get(user_id, zero)
        rows.append(
            PlanRow(
                user_id,
                fee,
                used,
                room,
                included,
                over,
                stopped,
                total,
                usage_billed,
                total - usage_billed,
            )
        )
    sums = [Money.sum((getattr(row, name) for row in rows), currency) for name in _PLAN_COLUMNS]
    return PlanComparison(plan, currency, tuple(rows), PlanRow("total", *sums))


def _within(
    allowance: Mapping[str, Money],
    prices: PriceTable,
    events: list[UsageEvent],
    currency: str,
    policy: FailurePolicy,
) -> dict[str, Money]:
    """Per member, the usage a blocking allowance lets through.

    Requests in time order, each allowed while ``used + amount <= allowance``
    (a zero request always is), as a cap would.
    """
    used: dict[str, Decimal] = {}
    for event in events:
        usage = event.billed_usage(policy)
        amount = prices.amount(event.model, usage, event.at, event.modifiers)
        user_id = event.user_id
        so_far = used.get(user_id, _ZERO)
        room = allowance.get(user_id)
        if not amount or (room is not None and EXACT.add(so_far, amount) <= room.amount):
            used[user_id] = EXACT.add(so_far, amount)
    return {user_id: unchecked_money(amount, currency) for user_id, amount in used.items()}


# --- the entry point ------------------------------------------------------------------------


def _check_baseline(
    baseline: Invoice, org: Organization, period: BillingPeriod, prices: PriceTable
) -> None:
    if (baseline.organization, baseline.period, baseline.price_table) != (
        org.name,
        period,
        prices.version,
    ):
        raise InvalidValueError(
            "baseline",
            f"{baseline.organization} {baseline.period.label} {baseline.price_table}",
            "must be the invoice of this organization, period and price table",
        )


def whatif(
    org: Organization,
    events: Iterable[UsageEvent],
    period: BillingPeriod,
    scenario: Scenario,
    prices: PriceTable | None = None,
    *,
    baseline: Invoice | None = None,
) -> WhatIf:
    """Re-bill ``period``'s ``events`` under ``scenario``, beside the invoice as billed.

    ``prices`` is the table the period was billed with (default: the built-in
    one). Pass ``baseline`` when that invoice is already built, to skip
    building it again; it must be this organization's, period's and table's.
    ``events`` may be any iterable (a generator is read once, into a tuple).

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, SeatCatalog, TokenUsage
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat_claude_code"),
    ...      Member("ada", "member", "chat_claude_code")],
    ...     at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> events = [UsageEvent("e1", "ada", "claude-sonnet-4-6", Product.CLAUDE_CODE,
    ...                      TokenUsage(input_tokens=100_000), datetime(2026, 10, 3, tzinfo=UTC))]
    >>> result = whatif(org, events, BillingPeriod.of("2026-10"),
    ...                 Scenario((MoveSeats(["ada"], "chat"),), name="ada on Chat"))
    >>> print(result.diff.total.change, [r.reason.value for r in result.denied])
    -20.30 USD ['not_included']
    """
    prices = prices if prices is not None else PriceTable.builtin()
    if not isinstance(scenario, Scenario):
        raise InvalidValueError("scenario", scenario, "must be a Scenario")
    listed = events if isinstance(events, Sequence) else tuple(events)
    scenario_org, scenario_prices, moved = _apply(org, prices, scenario)
    if baseline is None:
        baseline = build_invoice(org, listed, period, prices)
    _check_baseline(baseline, org, period, prices)
    plan = scenario.flat_plan
    ordered: list[UsageEvent] | None = None
    spend = None
    if scenario.replays:
        ordered = deduplicated_between(listed, period.start, period.end)
        denied, spend = _replay(scenario_org, scenario_prices, ordered)
    elif moved:
        denied = _not_included(
            scenario_org,
            scenario_prices,
            deduplicated_between(listed, period.start, period.end, members=moved),
        )
    else:
        denied = []
    refused = {request.event_id for request in denied}
    builder = InvoiceBuilder(scenario_org, period, scenario_prices)
    invoice = builder.add_all(
        (event for event in listed if event.event_id not in refused) if refused else listed
    ).finish()
    comparison = None
    if plan is not None:
        allowed: list[UsageEvent] = []
        if plan.overage == "blocked":
            allowed = [
                e
                for e in ordered or deduplicated_between(listed, period.start, period.end)
                if e.event_id not in refused
            ]
        comparison = _compare(
            plan,
            org=scenario_org,
            prices=scenario_prices,
            period=period,
            invoice=invoice,
            allowed=allowed,
        )
    return WhatIf(
        scenario=scenario,
        baseline=baseline,
        invoice=invoice,
        denied=tuple(denied),
        replayed=scenario.replays,
        spend=spend,
        comparison=comparison,
    )
