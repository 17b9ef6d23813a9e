"""What an organization's invoices say besides the amounts: parties, numbering, terms, rounding.

Set in the organization file's ``[invoicing]`` table (every key optional)::

    [invoicing]
    rounding = "half_even"             # "half_even" (default), "half_up", "largest_remainder"
    net_days = 30                      # payment terms: due this many days after issue
    purchase_order = "PO-4471"         # the customer's reference, printed on every invoice
    numbering = { prefix = "AH", first_period = "2026-01", first_sequence = 1 }

    [invoicing.seller]                 # who issues the invoice
    legal_name = "Northwind AI Services, Inc."
    address = ["100 Example Street", "San Francisco, CA 94105", "United States"]
    tax_id = "EIN 00-0000000"

    [invoicing.bill_to]                # who pays it (default: the organization's name)
    legal_name = "Acme Health, Inc."
    address = ["1 Example Plaza", "Boston, MA 02110", "United States"]

**Numbers** are ``PREFIX-YYYY-MM-SEQUENCE``: the prefix names the account, the
period's month follows, and the sequence counts monthly invoices from
``first_sequence`` in ``first_period``. So the number is a pure function of
the file and the period — the same inputs give the same number, and the
invoices of consecutive months have consecutive sequences, without a counter
to keep anywhere. Without ``first_period`` the number has no sequence
(``PREFIX-YYYY-MM``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import attrs

from usagebill._checks import int_between
from usagebill.errors import InvalidValueError
from usagebill.periods import BillingPeriod
from usagebill.rounding import RoundingPolicy

__all__ = ["InvoiceSettings", "Numbering", "Party"]

_PREFIX: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,19}")
_LABEL: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(attribute.name, value, "must be a non-empty string")


def _lines(value: Iterable[object]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InvalidValueError("address", value, "must be a list of lines")
    lines = tuple(value)
    for line in lines:
        if not isinstance(line, str) or not line.strip():
            raise InvalidValueError("address", lines, "must be non-empty strings")
    return lines  # type: ignore[return-value]  # each checked above


@attrs.frozen
class Party:
    """The seller or the customer as an invoice names them: legal name, address, tax id.

    >>> Party("Acme Health, Inc.", ["1 Example Plaza", "Boston, MA 02110"], "EIN 00-0000001").lines
    ('Acme Health, Inc.', '1 Example Plaza', 'Boston, MA 02110', 'Tax id: EIN 00-0000001')
    """

    legal_name: str = attrs.field(validator=_text)
    address: tuple[str, ...] = attrs.field(default=(), converter=_lines)
    tax_id: str = attrs.field(default="", validator=attrs.validators.instance_of(str))

    @property
    def lines(self) -> tuple[str, ...]:
        """The block as printed: the name, each address line, the tax id if any."""
        return (
            self.legal_name,
            *self.address,
            *((f"Tax id: {self.tax_id}",) if self.tax_id else ()),
        )


def _prefix(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _PREFIX.fullmatch(value):
        raise InvalidValueError(
            attribute.name, value, "must be 1 to 20 letters, digits, '.', '_' or '-'"
        )


def _first_period(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not _LABEL.fullmatch(value)):
        raise InvalidValueError(attribute.name, value, "must be a month written YYYY-MM")


@attrs.frozen
class Numbering:
    """How invoices are numbered: ``PREFIX-YYYY-MM-SEQUENCE`` (see the module docs).

    >>> numbering = Numbering("AH", first_period="2026-01", first_sequence=1)
    >>> numbering.number(BillingPeriod.of("2026-10"))
    'AH-2026-10-0010'
    """

    prefix: str = attrs.field(default="INV", validator=_prefix)
    first_period: str | None = attrs.field(default=None, validator=_first_period)
    first_sequence: int = attrs.field(default=1, validator=int_between(1, 10**9))
    digits: int = attrs.field(default=4, validator=int_between(1, 9))

    def number(self, period: BillingPeriod) -> str:
        """The number of the invoice of ``period``."""
        base = f"{self.prefix}-{period.label}"
        if self.first_period is None:
            return base
        months = period.month_index - BillingPeriod.of(self.first_period).month_index
        if months < 0:
            raise InvalidValueError(
                "period",
                period.label,
                f"comes before {self.first_period}, the first period of the invoice numbering",
            )
        return f"{base}-{self.first_sequence + months:0{self.digits}d}"


def _optional_party(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Party):
        raise InvalidValueError(attribute.name, value, "must be a Party or None")


def _policy(value: object) -> RoundingPolicy:
    if isinstance(value, str) and value in {policy.value for policy in RoundingPolicy}:
        return RoundingPolicy(value)
    choices = [policy.value for policy in RoundingPolicy]
    raise InvalidValueError("rounding", value, f"must be one of {choices}")


def _purchase_order(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(_instance, attribute, value)


@attrs.frozen
class InvoiceSettings:
    """An organization's invoice settings (the ``[invoicing]`` table; module docs).

    >>> settings = InvoiceSettings(net_days=45, rounding="largest_remainder")
    >>> settings.terms, settings.rounding.value
    ('Net 45', 'largest_remainder')
    """

    seller: Party | None = attrs.field(default=None, validator=_optional_party)
    bill_to: Party | None = attrs.field(default=None, validator=_optional_party)
    numbering: Numbering = attrs.field(
        factory=Numbering, validator=attrs.validators.instance_of(Numbering)
    )
    net_days: int = attrs.field(default=30, validator=int_between(0, 366))
    rounding: RoundingPolicy = attrs.field(default=RoundingPolicy.HALF_EVEN, converter=_policy)
    purchase_order: str | None = attrs.field(default=None, validator=_purchase_order)

    @property
    def terms(self) -> str:
        """The payment terms in words: ``Net 30``, or ``Due on receipt`` for zero days."""
        return f"Net {self.net_days}" if self.net_days else "Due on receipt"
