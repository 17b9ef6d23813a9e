"""The organization file: an :class:`~usagebill.accounts.organization.Organization` written as TOML.

Read it with :meth:`Organization.from_file <usagebill.accounts.organization.Organization.from_file>`
(or :meth:`~usagebill.accounts.organization.Organization.from_dict` for the parsed dict); this
module holds the format and turns it into the organization's parts.

The format (every key checked; amounts are strings, instants carry an offset)::

    name = "Acme Health"
    timezone = "America/New_York"      # IANA name; default "UTC"
    billing_anchor_day = 1             # 1-31; default 1
    thresholds = ["0.75", "0.9", "1"]  # optional: notification thresholds
    failure_policy = "reported"        # what a request failed after it started is billed:
                                       # "nothing", "input" or "reported" (the default)

    [invoicing]                        # optional: parties, numbering, terms, rounding
    rounding = "half_even"             # or "half_up", "largest_remainder"
    net_days = 30
    numbering = { prefix = "AH", first_period = "2026-01", first_sequence = 1 }
    seller = { legal_name = "Northwind AI Services, Inc.", address = ["…"], tax_id = "…" }
    bill_to = { legal_name = "Acme Health, Inc.", address = ["…"] }
                                       # (every key: usagebill.accounts.invoicing)

    [seat_types.chat]                  # one table per seat type of the contract
    display_name = "Chat"
    monthly_fee = "20.00"              # your contract's fee, in `currency` (default USD)
    includes = ["chat", "file_creation", "code_execution"]
    add_ons.hipaa = { monthly_fee = "5.00", display_name = "HIPAA-compliant" }

    [limits.organization]              # all optional; absent means no cap
    pool_cap = "15000"
    member_default = "400"
    [limits.seat_types.chat]
    pool_cap = "3000"
    [limits.members]
    "u-017" = "900"

    [[members]]
    user_id = "olga"
    role = "primary_owner"             # primary_owner, owner, admin or member
    seats = [                          # the seat history, oldest first
      { from = 2026-01-01T00:00:00Z, seat_type = "chat", add_ons = ["hipaa"] },
      { from = 2026-10-15T12:00:00Z, seat_type = "chat_claude_code" },
    ]
    left = 2026-10-20T17:00:00Z        # optional: removed from the organization then
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from usagebill._checks import non_empty_str
from usagebill.accounts.invoicing import InvoiceSettings
from usagebill.accounts.limits import DEFAULT_THRESHOLDS, PoolLimit, SpendLimits
from usagebill.accounts.seats import AddOn, Member, Role, SeatCatalog, SeatChange, SeatType
from usagebill.errors import LoadError, short_repr
from usagebill.money import Money
from usagebill.serde import structure
from usagebill.usage import FailurePolicy, Product

__all__ = ["LimitsSpec", "PoolSpec", "organization_parts"]

T = TypeVar("T")


@attrs.frozen
class _AddOnSpec:
    monthly_fee: Decimal
    display_name: str = ""


@attrs.frozen
class _SeatTypeSpec:
    monthly_fee: Decimal
    includes: tuple[Product, ...]
    display_name: str = ""
    add_ons: dict[str, _AddOnSpec] = attrs.Factory(dict)


@attrs.frozen
class PoolSpec:
    """The ``[limits.organization]`` or ``[limits.seat_types.NAME]`` table of a file.

    >>> pool = structure({"pool_cap": "3000", "member_default": "50"}, PoolSpec)
    >>> pool.limit("USD")
    PoolLimit(pool_cap=Money('3000', 'USD'), member_default=Money('50', 'USD'))
    """

    pool_cap: Decimal | None = None
    member_default: Decimal | None = None

    def limit(self, currency: str) -> PoolLimit:
        """The caps as a :class:`~usagebill.accounts.limits.PoolLimit` in ``currency``."""
        return PoolLimit(_money(self.pool_cap, currency), _money(self.member_default, currency))


@attrs.frozen
class LimitsSpec:
    """The ``[limits]`` table of an organization (or scenario) file.

    >>> spec = structure({"organization": {"pool_cap": "15000", "member_default": "400"},
    ...                   "members": {"u-017": "900"}}, LimitsSpec)
    >>> limits = spec.limits("USD")
    >>> limits.effective("u-017", "chat").cap, limits.effective("u-018", "chat").cap
    (Money('900', 'USD'), Money('400', 'USD'))
    """

    organization: PoolSpec = PoolSpec()
    seat_types: dict[str, PoolSpec] = attrs.Factory(dict)
    members: dict[str, Decimal] = attrs.Factory(dict)

    def limits(self, currency: str) -> SpendLimits:
        """Every cap as :class:`~usagebill.accounts.limits.SpendLimits` in ``currency``."""
        return SpendLimits(
            organization=self.organization.limit(currency),
            seat_types={name: pool.limit(currency) for name, pool in self.seat_types.items()},
            members={user_id: Money(cap, currency) for user_id, cap in self.members.items()},
        )


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


@attrs.frozen
class _SeatSpec:
    seat_type: str
    add_ons: tuple[str, ...] = ()


@attrs.frozen
class _MemberSpec:
    user_id: str
    role: Role
    seats: tuple[dict[str, Any], ...]
    left: datetime | None = None


@attrs.frozen
class _OrgSpec:
    name: str = attrs.field(validator=non_empty_str)  # it heads every invoice
    seat_types: dict[str, _SeatTypeSpec]
    members: tuple[_MemberSpec, ...]
    currency: str = "USD"
    timezone: str = "UTC"
    billing_anchor_day: int = 1
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    limits: LimitsSpec = LimitsSpec()
    failure_policy: FailurePolicy = FailurePolicy.REPORTED
    invoicing: InvoiceSettings = attrs.Factory(InvoiceSettings)


def organization_parts(data: object, source: str = "organization") -> dict[str, Any]:
    """The keyword arguments of :class:`Organization` that the file's dict form describes.

    The format is checked strictly here; the organization's own rules (one primary owner,
    known seat types, …) are checked when it is built from these parts.
    """
    spec = structure(data, _OrgSpec, source=source)
    currency = spec.currency
    catalog = SeatCatalog(
        {
            name: SeatType(
                name,
                Money(seat.monthly_fee, currency),
                seat.includes,
                {
                    add_on: AddOn(add_on, Money(fee.monthly_fee, currency), fee.display_name)
                    for add_on, fee in seat.add_ons.items()
                },
                seat.display_name,
            )
            for name, seat in spec.seat_types.items()
        }
    )
    members, history = [], []
    first: dict[str, int] = {}
    for position, member in enumerate(spec.members):
        where = f"$.members[{position}]"
        seen = first.setdefault(member.user_id, position)
        if seen != position:  # a second entry would silently replace the first
            problem = f"repeats the user_id of $.members[{seen}] (got {short_repr(member.user_id)})"
            raise LoadError(source, [(f"{where}.user_id", problem)])
        changes = [
            _seat_change(member.user_id, seat, source, f"{where}.seats[{index}]")
            for index, seat in enumerate(member.seats)
        ]
        if not changes:
            raise LoadError(source, [(f"{where}.seats", "must list a seat")])
        history.extend(changes)
        if member.left is not None:
            if member.left <= max(change.at for change in changes):
                raise LoadError(source, [(f"{where}.left", "must come after every seat's 'from'")])
            history.append(SeatChange(member.user_id, member.left, None))
        else:
            last = changes[-1]
            members.append(Member(member.user_id, member.role, str(last.seat_type), last.add_ons))
    history.sort(key=lambda change: change.at)
    return {
        "name": spec.name,
        "catalog": catalog,
        "members": {member.user_id: member for member in members},
        "limits": spec.limits.limits(currency),
        "timezone": spec.timezone,
        "billing_anchor_day": spec.billing_anchor_day,
        "seat_history": history,
        "thresholds": spec.thresholds,
        "failure_policy": spec.failure_policy,
        "invoicing": spec.invoicing,
    }


def _seat_change(user_id: str, seat: dict[str, Any], source: str, where: str) -> SeatChange:
    fields = dict(seat)
    at = fields.pop("from", None)
    if at is None:
        raise LoadError(source, [(where, "each seat needs 'from'")])
    when = _structure_at(at, datetime, source, f"{where}.from")
    try:
        parsed = _structure_at(fields, _SeatSpec, source, where)
    except LoadError as error:  # "from" was read above: the known keys name it too
        problems = [
            (path, why.replace("(known: ", "(known: from, ")) for path, why in error.problems
        ]
        raise LoadError(source, problems) from None
    return SeatChange(user_id, when, parsed.seat_type, parsed.add_ons)


def _structure_at(data: object, cls: type[T], source: str, where: str) -> T:
    """Structure a part of the file, its problems' paths starting at ``where``."""
    try:
        return structure(data, cls)
    except LoadError as error:
        problems = [(where + path.removeprefix("$"), message) for path, message in error.problems]
        raise LoadError(source, problems) from None
