"""The organization, and every change to it: permission-checked, timestamped, audited.

An :class:`Organization` is an immutable value. Each change takes the actor and
a timezone-aware timestamp and returns the new organization with an
:class:`AuditRecord` (who, when, what, before, after). Only an owner or the
primary owner may change caps, seats and members; anyone else gets a
:class:`~usagebill.errors.PermissionDeniedError` and nothing changes.

The examples of this module start from one organization (example fees, not Anthropic's):

>>> from datetime import datetime, UTC
>>> october = datetime(2026, 10, 1, tzinfo=UTC)
>>> acme = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
...     at=october, limits=SpendLimits(members={"ada": Money("100")}))
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from usagebill._checks import check_aware, instance_of, int_between, time_zone
from usagebill._frozendict import FrozenDict, frozen_dict
from usagebill.accounts.invoicing import InvoiceSettings
from usagebill.accounts.limits import (
    DEFAULT_THRESHOLDS,
    EffectiveLimit,
    LimitSource,
    PoolLimit,
    Spend,
    SpendLimits,
)
from usagebill.accounts.seats import Member, Role, SeatCatalog, SeatChange, SeatTimeline
from usagebill.errors import (
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    LoadError,
    PermissionDeniedError,
    UnknownNameError,
    UsageBillError,
    short_repr,
)
from usagebill.money import Money
from usagebill.usage import FailurePolicy, Product

if TYPE_CHECKING:
    from usagebill.accounts.limit_report import LimitReport

__all__ = [
    "AuditRecord",
    "IncreaseRequest",
    "MemberPath",
    "Organization",
    "RequestStatus",
]


@attrs.frozen
class AuditRecord:
    """One change: who made it, when, what it changed, the value before and after.

    >>> _, record = acme.set_member_cap("olga", datetime(2026, 10, 6, tzinfo=UTC), "ada",
    ...                                 Money("150"))
    >>> print(record.actor, record.action, record.target, record.before, "->", record.after)
    olga set_member_cap ada 100.00 USD -> 150.00 USD
    """

    actor: str
    at: datetime
    action: str
    target: str
    before: object
    after: object


class RequestStatus(enum.StrEnum):
    """Where an increase request stands; it is decided once.

    >>> org, _ = acme.request_increase("ada", october, "r-1", Money("300"), "batch jobs")
    >>> org.increase_requests["r-1"].status
    <RequestStatus.PENDING: 'pending'>
    >>> org, _ = org.decide_increase("olga", october, "r-1", approve=False, note="use batch")
    >>> org.increase_requests["r-1"].status
    <RequestStatus.DENIED: 'denied'>
    """

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@attrs.frozen
class IncreaseRequest:
    """A member's request for a higher limit, and its decision.

    Approving it writes the member's individual cap:

    >>> org, _ = acme.request_increase("ada", october, "r-2", Money("150"), "launch week")
    >>> org, _ = org.decide_increase("olga", datetime(2026, 10, 2, tzinfo=UTC), "r-2", approve=True)
    >>> request = org.increase_requests["r-2"]
    >>> request.status.value, request.decided_by, org.effective_limit("ada").cap
    ('approved', 'olga', Money('150', 'USD'))
    """

    request_id: str
    user_id: str
    amount: Money
    reason: str
    requested_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""


class MemberPath(NamedTuple):
    """The caps and pools on one member's path: all a decision reads of the organization.

    From the member up: their effective cap and the level it comes from; their
    seat type, the products it includes and its pool cap; the organization's
    pool cap. ``None`` is no cap. The organization's name and currency name the
    organization's level and the amounts of a decision. See
    :meth:`Organization.path` and :meth:`Organization.path_at`.

    >>> path = acme.path("ada")
    >>> path.seat_type, path.member_cap, path.member_cap_source.value
    ('chat', Money('100', 'USD'), 'individual')
    >>> path.seat_type_cap, path.organization_cap, path.organization, path.currency
    (None, None, 'acme', 'USD')
    """

    user_id: str
    seat_type: str
    includes: frozenset[Product]
    member_cap: Money | None
    member_cap_source: LimitSource
    seat_type_cap: Money | None
    organization_cap: Money | None
    organization: str
    currency: str


def _timezone(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    time_zone(value)


def _history(value: Iterable[SeatChange]) -> tuple[SeatChange, ...]:
    result = tuple(value)
    for position, change in enumerate(result):
        if not isinstance(change, SeatChange):
            raise InvalidValueError(f"seat_history[{position}]", change, "must be a SeatChange")
    return result


def _thresholds(value: Iterable[object]) -> tuple[Decimal, ...]:
    checked = []
    for threshold in value:
        if not isinstance(threshold, Decimal) or not threshold.is_finite() or not threshold > 0:
            raise InvalidValueError("thresholds", threshold, "must be positive Decimals")
        checked.append(threshold)
    result = tuple(sorted(checked))
    if len(set(result)) != len(result):
        raise InvalidValueError("thresholds", result, "must not repeat")
    return result


def _failure_policy(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, FailurePolicy):
        raise InvalidValueError("failure_policy", value, "must be a FailurePolicy")


@attrs.frozen
class Organization:
    """Everything billing needs to know about one organization, as one immutable value.

    ``failure_policy`` says what a request that failed after it started is
    billed, in the ledger, the invoice and the reconciliation alike;
    ``invoicing`` what its invoices say besides the amounts (parties, numbering,
    terms, rounding: :mod:`usagebill.accounts.invoicing`).

    >>> from datetime import datetime, UTC
    >>> catalog = SeatCatalog.enterprise(     # example fees, not Anthropic's
    ...     chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))
    >>> start = datetime(2026, 10, 1, tzinfo=UTC)
    >>> org = Organization.create(
    ...     "acme", catalog, [Member("olga", "primary_owner", "chat_claude_code"),
    ...                         Member("ada", "member", "chat", {"hipaa"})], at=start)
    >>> org, record = org.set_member_cap("olga", start, "ada", Money("100"))
    >>> org.effective_limit("ada").cap, record.action
    (Money('100', 'USD'), 'set_member_cap')
    """

    name: str
    catalog: SeatCatalog = attrs.field(validator=instance_of(SeatCatalog))
    members: FrozenDict[str, Member] = attrs.field(converter=frozen_dict)
    limits: SpendLimits = attrs.field(factory=SpendLimits, validator=instance_of(SpendLimits))
    timezone: str = attrs.field(default="UTC", validator=_timezone)
    billing_anchor_day: int = attrs.field(default=1, validator=int_between(1, 31))
    seat_history: tuple[SeatChange, ...] = attrs.field(default=(), converter=_history)
    thresholds: tuple[Decimal, ...] = attrs.field(default=DEFAULT_THRESHOLDS, converter=_thresholds)
    increase_requests: FrozenDict[str, IncreaseRequest] = attrs.field(
        factory=FrozenDict, converter=frozen_dict
    )
    failure_policy: FailurePolicy = attrs.field(
        default=FailurePolicy.REPORTED, validator=_failure_policy
    )
    invoicing: InvoiceSettings = attrs.field(
        factory=InvoiceSettings, validator=instance_of(InvoiceSettings)
    )
    # Memos of path() and path_at(): derived from the fields above, which never change.
    _paths: dict[str | tuple[str, str], MemberPath] = attrs.field(
        init=False, factory=dict, eq=False, hash=False, repr=False
    )
    _timeline: SeatTimeline | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        primary = [m.user_id for m in self.members.values() if m.role is Role.PRIMARY_OWNER]
        if len(primary) != 1:
            raise InvalidValueError("members", primary, "must include exactly one primary owner")
        for user_id, member in self.members.items():
            if member.user_id != user_id:
                raise InvalidValueError(
                    f"members[{short_repr(user_id)}].user_id", member.user_id, "must match its key"
                )
            self.catalog.check_add_ons(member.seat_type, member.add_ons)
        self._check_limits(self.limits)
        self._check_history()

    @classmethod
    def create(
        cls,
        name: str,
        catalog: SeatCatalog,
        members: Iterable[Member],
        *,
        at: datetime,
        limits: SpendLimits | None = None,
        timezone: str = "UTC",
        billing_anchor_day: int = 1,
        thresholds: Iterable[Decimal] = DEFAULT_THRESHOLDS,
        failure_policy: FailurePolicy = FailurePolicy.REPORTED,
        invoicing: InvoiceSettings | None = None,
    ) -> Organization:
        """A new organization whose members all got their seats at ``at``."""
        check_aware(at)
        member_list = list(members)
        seen: set[str] = set()
        for member in member_list:
            if member.user_id in seen:
                raise ConflictError("user_id", member.user_id, "is listed twice")
            seen.add(member.user_id)
        return cls(
            name=name,
            catalog=catalog,
            members={m.user_id: m for m in member_list},
            limits=limits or SpendLimits(),
            timezone=timezone,
            billing_anchor_day=billing_anchor_day,
            seat_history=[SeatChange(m.user_id, at, m.seat_type, m.add_ons) for m in member_list],
            thresholds=thresholds,
            failure_policy=failure_policy,
            invoicing=invoicing if invoicing is not None else InvoiceSettings(),
        )

    @classmethod
    def from_dict(cls, data: object, *, source: str = "organization") -> Organization:
        """Build an organization from the dict form of its file (see ``docs/invoices.md``).

        Strict: unknown keys, wrong types and float amounts are refused. Every
        problem is a :class:`~usagebill.errors.LoadError` naming its path in ``source``.
        """
        # Here, not at the top: the file format needs cattrs, and a gateway that only decides
        # should not pay for importing it.
        from usagebill.accounts.organization_file import organization_parts  # noqa: PLC0415

        try:
            return cls(**organization_parts(data, source))
        except LoadError:
            raise
        except (UsageBillError, ValueError) as error:  # e.g. an unknown seat type
            raise LoadError(source, [("$", str(error))]) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Organization:
        """Read an organization file (TOML: see :mod:`usagebill.accounts.organization_file`).

        >>> acme = Organization.from_file("examples/org.toml")
        >>> acme.name, len(acme.members), acme.timezone
        ('Acme Health', 50, 'America/New_York')
        """
        from usagebill.serde import read_toml  # noqa: PLC0415  (see from_dict)

        path = Path(path)
        return cls.from_dict(read_toml(path), source=str(path))

    @property
    def currency(self) -> str:
        """The currency of every fee, cap and charge of this organization."""
        return self.catalog.currency

    # --- validation -----------------------------------------------------------------------

    def _check_limits(self, limits: SpendLimits) -> None:
        limits.check_currency(self.currency)
        for seat_type in limits.seat_types:
            self.catalog.get(seat_type)
        for user_id in limits.members:
            self.member(user_id)

    def _check_history(self) -> None:
        last: dict[str, SeatChange] = {}
        for position, change in enumerate(self.seat_history):
            previous = last.get(change.user_id)
            if previous is not None and change.at < previous.at:
                raise InvalidValueError(
                    f"seat_history[{position}].at", change.at, "must not go back in time"
                )
            if change.seat_type is not None:
                self.catalog.check_add_ons(change.seat_type, change.add_ons)
            last[change.user_id] = change
        for user_id, member in self.members.items():
            current = last.get(user_id)
            if current is None or (current.seat_type, current.add_ons) != (
                member.seat_type,
                member.add_ons,
            ):
                raise InvalidValueError(
                    f"seat_history for {short_repr(user_id)}",
                    current,
                    f"must end with the member's current seat {short_repr(member.seat_type)}",
                )

    # --- reading --------------------------------------------------------------------------

    def member(self, user_id: str) -> Member:
        """The member ``user_id``; an unknown id is an :class:`UnknownNameError`."""
        try:
            return self.members[user_id]
        except KeyError:
            raise UnknownNameError("member", user_id) from None

    def path(self, user_id: str, seat_type: str | None = None) -> MemberPath:
        """The caps and pools on ``user_id``'s path: what a decision needs to know of them.

        Through the seat type they hold now, or through ``seat_type``: then their
        effective cap is the one that seat would give them (for a past seat, or a
        member since removed). Worked out once per member, seat type and
        organization value (it is immutable).

        >>> from datetime import datetime, UTC
        >>> org = Organization.create(
        ...     "acme",
        ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
        ...     [Member("olga", "primary_owner", "chat_claude_code"),
        ...      Member("ada", "member", "chat")],
        ...     at=datetime(2026, 10, 1, tzinfo=UTC),
        ...     limits=SpendLimits(seat_types={"chat": PoolLimit(Money("300"), Money("50"))}),
        ... )
        >>> path = org.path("ada")
        >>> path.seat_type, path.member_cap, path.seat_type_cap
        ('chat', Money('50', 'USD'), Money('300', 'USD'))
        >>> path.member_cap_source.value, path.organization_cap, path.organization
        ('seat_type_default', None, 'acme')
        >>> org.path("ada", "chat_claude_code").member_cap is None
        True
        """
        key: str | tuple[str, str] = user_id if seat_type is None else (user_id, seat_type)
        path = self._paths.get(key)
        if path is None:
            held = self.member(user_id).seat_type if seat_type is None else seat_type
            cap, source = self.limits.effective_cap(user_id, held)
            path = self._paths[key] = MemberPath(
                user_id,
                held,
                self.catalog.get(held).includes,
                cap,
                source,
                self.limits.seat_type(held).pool_cap,
                self.limits.organization.pool_cap,
                self.name,
                self.catalog.currency,
            )
        return path

    def path_at(self, user_id: str, at: datetime) -> MemberPath:
        """``user_id``'s path through the seat they held at ``at``, under the caps of this value.

        What a replay of past requests decides on: the seat of the seat history
        (a member since moved or removed included), today's caps. A member who
        held no seat then is an :class:`~usagebill.errors.InvalidValueError`,
        one never seated an :class:`~usagebill.errors.UnknownNameError`.
        """
        timeline = self._timeline
        if timeline is None:
            timeline = SeatTimeline(self.seat_history)
            object.__setattr__(self, "_timeline", timeline)  # a memo of a frozen value
        return self.path(user_id, timeline.seat_at(user_id, check_aware(at)))

    def effective_limit(self, user_id: str) -> EffectiveLimit:
        """``user_id``'s effective limit and the level it comes from."""
        return self.limits.effective(user_id, self.member(user_id).seat_type)

    def limit_report(self, spend: Spend) -> LimitReport:
        """Every member's effective limit, its source, and month-to-date spend, by user id."""
        from usagebill.accounts.limit_report import (  # noqa: PLC0415  (a gateway never needs it)
            LimitReport,
            LimitReportRow,
        )

        rows = tuple(
            LimitReportRow(
                user_id,
                member.seat_type,
                self.limits.effective(user_id, member.seat_type),
                spend.member(user_id),
                spend.held_by_member(user_id),
            )
            for user_id, member in sorted(self.members.items())
        )
        return LimitReport(self.name, self.currency, rows)

    # --- changes --------------------------------------------------------------------------

    def _manager(self, actor: str, at: datetime, action: str) -> None:
        check_aware(at)
        role = self.member(actor).role
        if not role.may_manage:
            raise PermissionDeniedError(actor, role.value, action)

    def _changed(
        self,
        actor: str,
        at: datetime,
        action: str,
        *,
        target: str,
        before: object,
        after: object,
        **changes: Any,  # noqa: ANN401  (forwarded to attrs.evolve, which checks them)
    ) -> tuple[Organization, AuditRecord]:
        return attrs.evolve(self, **changes), AuditRecord(actor, at, action, target, before, after)

    def set_limits(
        self, actor: str, at: datetime, limits: SpendLimits
    ) -> tuple[Organization, AuditRecord]:
        """Replace every cap at once."""
        self._manager(actor, at, "set spend limits")
        self._check_limits(limits)
        return self._changed(
            actor,
            at,
            "set_limits",
            target="limits",
            before=self.limits,
            after=limits,
            limits=limits,
        )

    def set_organization_limit(
        self, actor: str, at: datetime, limit: PoolLimit
    ) -> tuple[Organization, AuditRecord]:
        """Set the organization's pool cap and per-member default."""
        self._manager(actor, at, "set the organization's caps")
        limits = attrs.evolve(self.limits, organization=limit)
        self._check_limits(limits)
        return self._changed(
            actor,
            at,
            "set_organization_limit",
            target="organization",
            before=self.limits.organization,
            after=limit,
            limits=limits,
        )

    def set_seat_type_limit(
        self, actor: str, at: datetime, seat_type: str, limit: PoolLimit
    ) -> tuple[Organization, AuditRecord]:
        """Set a seat type's pool cap and per-member default."""
        self._manager(actor, at, "set a seat type's caps")
        limits = self.limits.with_seat_type(seat_type, limit)
        self._check_limits(limits)
        return self._changed(
            actor,
            at,
            "set_seat_type_limit",
            target=seat_type,
            before=self.limits.seat_type(seat_type),
            after=limit,
            limits=limits,
        )

    def set_member_cap(
        self, actor: str, at: datetime, user_id: str, cap: Money | None
    ) -> tuple[Organization, AuditRecord]:
        """Set (or, with ``None``, remove) a member's individual cap."""
        self._manager(actor, at, "set a member's cap")
        limits = self.limits.with_member_cap(user_id, cap)
        self._check_limits(limits)
        return self._changed(
            actor,
            at,
            "set_member_cap",
            target=user_id,
            before=self.limits.members.get(user_id),
            after=cap,
            limits=limits,
        )

    def assign_seat(
        self,
        actor: str,
        at: datetime,
        user_id: str,
        seat_type: str,
        add_ons: Iterable[str] = (),
    ) -> tuple[Organization, AuditRecord]:
        """Give ``user_id`` a seat type (and add-ons), effective at ``at``."""
        self._manager(actor, at, "assign seats")
        member = self.member(user_id)
        updated = attrs.evolve(member, seat_type=seat_type, add_ons=frozenset(add_ons))
        self.catalog.check_add_ons(seat_type, updated.add_ons)
        return self._changed(
            actor,
            at,
            "assign_seat",
            target=user_id,
            before=member,
            after=updated,
            members=self.members.set(user_id, updated),
            seat_history=(*self.seat_history, SeatChange(user_id, at, seat_type, updated.add_ons)),
        )

    def add_member(
        self, actor: str, at: datetime, member: Member
    ) -> tuple[Organization, AuditRecord]:
        """Add a member (never a second primary owner), seated from ``at``."""
        self._manager(actor, at, "add members")
        if member.user_id in self.members:
            raise ConflictError("user_id", member.user_id, "is already a member")
        return self._changed(
            actor,
            at,
            "add_member",
            target=member.user_id,
            before=None,
            after=member,
            members=self.members.set(member.user_id, member),
            seat_history=(
                *self.seat_history,
                SeatChange(member.user_id, at, member.seat_type, member.add_ons),
            ),
        )

    def remove_member(
        self, actor: str, at: datetime, user_id: str
    ) -> tuple[Organization, AuditRecord]:
        """Remove a member from ``at`` on: their seat ends, their spend stays on the books."""
        self._manager(actor, at, "remove members")
        member = self.member(user_id)
        if member.role is Role.PRIMARY_OWNER:
            raise InvalidValueError(
                "user_id", user_id, "is the primary owner and cannot be removed"
            )
        return self._changed(
            actor,
            at,
            "remove_member",
            target=user_id,
            before=member,
            after=None,
            members=self.members.without(user_id),
            limits=self.limits.with_member_cap(user_id, None),
            seat_history=(*self.seat_history, SeatChange(user_id, at, None)),
        )

    # --- increase requests ----------------------------------------------------------------

    def request_increase(
        self, user_id: str, at: datetime, request_id: str, amount: Money, reason: str
    ) -> tuple[Organization, AuditRecord]:
        """``user_id`` asks for a higher limit; any member may ask for themselves."""
        check_aware(at)
        if not isinstance(amount, Money):
            raise InvalidValueError("amount", amount, "must be Money")
        current = self.effective_limit(user_id).cap
        if current is None:
            raise InvalidValueError(
                "amount", amount, f"{short_repr(user_id)} has no limit to raise"
            )
        if amount.currency != self.currency:
            raise CurrencyMismatchError(self.currency, amount.currency, "amount")
        if amount <= current:
            raise InvalidValueError(
                "amount", amount, f"must be more than the current limit {current}"
            )
        if request_id in self.increase_requests:
            raise ConflictError("request_id", request_id, "is already used")
        request = IncreaseRequest(request_id, user_id, amount, reason, at)
        return self._changed(
            user_id,
            at,
            "request_increase",
            target=request_id,
            before=None,
            after=request,
            increase_requests=self.increase_requests.set(request_id, request),
        )

    def decide_increase(
        self, actor: str, at: datetime, request_id: str, *, approve: bool, note: str = ""
    ) -> tuple[Organization, AuditRecord]:
        """Approve (writing the member's individual cap) or deny a pending request, once."""
        self._manager(actor, at, "decide increase requests")
        try:
            request = self.increase_requests[request_id]
        except KeyError:
            raise UnknownNameError("increase request", request_id) from None
        if request.status is not RequestStatus.PENDING:
            raise ConflictError("request_id", request_id, f"was already {request.status.value}")
        decided = attrs.evolve(
            request,
            status=RequestStatus.APPROVED if approve else RequestStatus.DENIED,
            decided_by=actor,
            decided_at=at,
            note=note,
        )
        limits = self.limits
        if approve and request.user_id in self.members:
            limits = limits.with_member_cap(request.user_id, request.amount)
        return self._changed(
            actor,
            at,
            "decide_increase",
            target=request_id,
            before=request,
            after=decided,
            increase_requests=self.increase_requests.set(request_id, decided),
            limits=limits,
        )
