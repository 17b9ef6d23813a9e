"""Exact money: a :class:`~decimal.Decimal` amount with an ISO 4217 currency.

Arithmetic never rounds. Addition, subtraction and multiplication are carried
out in a private decimal context with 60 significant digits that *traps*
inexact results, so a sum that could not be held exactly raises instead of
drifting; the global decimal context is never read or changed.

Showing money rounds, once, by the one rule of this module:
:data:`ROUNDING` = ``ROUND_HALF_EVEN`` to the currency's minor unit (cents for
USD). Half-even (banker's rounding) is unbiased: over an invoice of hundreds of
lines, halves go up as often as down, so the rounded lines stay close to the
exact total. It is also the rounding of IEEE 754 and of Python's ``round()``.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import attrs

from usagebill._checks import check_currency
from usagebill.errors import CurrencyMismatchError, InvalidValueError, MoneyTypeError, short_repr

__all__ = ["EXACT", "ROUNDING", "Money", "exact_decimal", "minor_unit", "unchecked_money"]

ROUNDING: Final = decimal.ROUND_HALF_EVEN
"""The one rounding rule for showing money: half to even, at the currency's minor unit."""

EXACT: Final = decimal.Context(
    prec=60,
    rounding=ROUNDING,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
"""Exact arithmetic: 60 significant digits, and any result that would need rounding raises.

Compute sums and products of amounts in it (``EXACT.add(a, b)``), never in the
global decimal context, which rounds.
"""

#: Showing money rounds, by ROUNDING, whatever the caller's global decimal context says.
_SHOWN: Final = decimal.Context(
    prec=60,
    rounding=ROUNDING,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.Overflow],
)

#: Division is the one operation that cannot always be exact (1 / 3); it keeps 50 digits.
_DIVISION: Final = decimal.Context(
    prec=50,
    rounding=ROUNDING,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

# ISO 4217 currencies whose minor unit is not the cent. Every other code has two decimals.
_MINOR_UNITS: Final = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"),
        0,
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_QUANTUM: dict[str, Decimal] = {}


def minor_unit(currency: str) -> int:
    """Return the number of decimals of ``currency``'s minor unit (2 for USD, 0 for JPY)."""
    return _MINOR_UNITS.get(currency, 2)


def _quantum(currency: str) -> Decimal:
    quantum = _QUANTUM.get(currency)
    if quantum is None:
        quantum = _QUANTUM[currency] = Decimal(1).scaleb(-minor_unit(currency))
    return quantum


# Sums and the rounding to a minor unit must fit EXACT's 60 digits: 50 before the point leaves
# room for a thousand-thousand-fold sum and three decimals (BHD, KWD).
_LARGEST_DIGITS: Final = 50
# A number as files and people write money: ASCII digits, one optional sign, point and exponent.
_DECIMAL_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DECIMAL_RULE: Final = "must be a decimal number in ASCII digits, e.g. '12.30' (no spaces or '_')"
_TOO_LARGE: Final = f"must be less than 10**{_LARGEST_DIGITS} in size"


def exact_decimal(value: object, field: str = "amount") -> Decimal:
    """Convert an int, a str or a Decimal to a finite Decimal, refusing floats.

    >>> exact_decimal("12.30")
    Decimal('12.30')
    >>> exact_decimal(0.1)
    Traceback (most recent call last):
      ...
    usagebill.errors.MoneyTypeError: amount must be an int, str or Decimal, not float ...
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, str)):
        why = (
            ": binary floats cannot hold most decimal fractions (0.1 + 0.2 != 0.3), "
            "so money never passes through one; use a str such as '0.10' or a Decimal"
            if isinstance(value, float)
            else ""
        )
        raise MoneyTypeError(
            f"{field} must be an int, str or Decimal, not {type(value).__name__}{why}"
        )
    else:
        try:
            result = Decimal(value)
        except decimal.InvalidOperation:
            raise InvalidValueError(field, value, "must be a decimal number") from None
    if not result.is_finite():
        raise InvalidValueError(field, value, "must be a finite number (not NaN or infinity)")
    if type(value) is str and not _DECIMAL_TEXT.fullmatch(value):
        # Decimal also reads " 20 ", "1_000" and other scripts' digits: not how files write money.
        raise InvalidValueError(field, value, _DECIMAL_RULE)
    try:
        EXACT.plus(result)  # every amount must fit the exact context, or arithmetic would fail
    except (decimal.Inexact, decimal.Overflow):
        raise InvalidValueError(
            field,
            value,
            f"must have at most {EXACT.prec} significant digits, exponent within ±999999",
        ) from None
    if result.adjusted() >= _LARGEST_DIGITS:  # 10**5000 has one significant digit, yet
        raise InvalidValueError(field, value, _TOO_LARGE)
    return result


def _factor(value: object) -> Decimal:
    """A multiplier or divisor: int or Decimal only (a Money factor makes no sense)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MoneyTypeError(
            f"Money can only be multiplied or divided by an int or a Decimal, "
            f"not {type(value).__name__}"
        )
    return exact_decimal(value, "factor")


@attrs.frozen(order=False, repr=False)
class Money:
    """An exact amount of one currency.

    Built from an int, a str or a Decimal, never a float. ``+``, ``-`` and
    comparisons need the same currency; ``*`` and ``/`` take an int or a
    Decimal. ``sum()`` works, and :meth:`sum` gives an explicit zero for an
    empty sequence.

    >>> total = Money("12.30") + Money("0.005")
    >>> total
    Money('12.305', 'USD')
    >>> str(total.rounded())
    '12.30 USD'
    >>> Money("1") * 3 == Money("3.00")
    True
    """

    amount: Decimal = attrs.field(converter=exact_decimal)
    currency: str = attrs.field(default="USD", validator=lambda _i, _a, v: check_currency(v))

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        """Return zero in ``currency``."""
        return cls(0, currency)

    @classmethod
    def sum(cls, amounts: Iterable[Money], currency: str = "USD") -> Money:
        """Add ``amounts`` exactly; an empty iterable gives zero in ``currency``."""
        total = _ZERO
        for money in amounts:
            if not isinstance(money, Money):
                raise MoneyTypeError(f"Money.sum() adds Money only, not {type(money).__name__}")
            if money.currency != currency:
                raise CurrencyMismatchError(currency, money.currency)
            total = EXACT.add(total, money.amount)
        return unchecked_money(total, currency)

    # --- rounding: the one rule ---------------------------------------------------------

    def rounded(self) -> Money:
        """Round to the currency's minor unit by :data:`ROUNDING` (half to even)."""
        return unchecked_money(
            self.amount.quantize(_quantum(self.currency), ROUNDING, _SHOWN), self.currency
        )

    @property
    def minor_units(self) -> int:
        """The rounded amount as an integer count of minor units (cents for USD)."""
        return int(self.rounded().amount.scaleb(minor_unit(self.currency), EXACT))

    def is_zero(self) -> bool:
        """Tell whether the amount is exactly zero."""
        return not self.amount

    # --- arithmetic ---------------------------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise MoneyTypeError(
                f"Money only combines with Money, not {type(other).__name__} "
                f"(write Money({short_repr(other)}, {self.currency!r}) to mean an amount)"
            )
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)
        return other

    def __add__(self, other: Money) -> Money:
        return unchecked_money(EXACT.add(self.amount, self._same(other).amount), self.currency)

    def __radd__(self, other: object) -> Money:
        # Only so that sum() can start from its int 0; any other number is an error.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._same(other) + self

    def __sub__(self, other: Money) -> Money:
        return unchecked_money(EXACT.subtract(self.amount, self._same(other).amount), self.currency)

    def __neg__(self) -> Money:
        return unchecked_money(EXACT.minus(self.amount), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return unchecked_money(EXACT.abs(self.amount), self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        return unchecked_money(EXACT.multiply(self.amount, _factor(factor)), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor: int | Decimal) -> Money:
        """Divide; exact when the quotient terminates, else 50 significant digits."""
        return unchecked_money(_DIVISION.divide(self.amount, _factor(divisor)), self.currency)

    # --- comparisons: same currency only -----------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.amount == self._same(other).amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    # --- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Money('{_plain(self.amount, 0)}', '{self.currency}')"

    def __str__(self) -> str:
        """Show the exact amount, without trailing zeros past the currency's minor unit."""
        return f"{_plain(self.amount, minor_unit(self.currency))} {self.currency}"

    def __format__(self, spec: str) -> str:
        """Format the amount with ``spec`` (e.g. ``f"{m:,.2f}"``) followed by the currency."""
        if not spec:
            return str(self)
        with decimal.localcontext(_SHOWN):  # round by ROUNDING, not the caller's context
            return f"{self.amount:{spec}} {self.currency}"


def _plain(amount: Decimal, decimals: int) -> str:
    """Write ``amount`` in positional notation with at least ``decimals`` decimals."""
    if not amount:
        amount = _ZERO  # a negative zero (e.g. -0.001 rounded) shows as 0.00, not -0.00
    text = f"{amount.normalize(EXACT):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.ljust(decimals, "0")
    return f"{whole}.{fraction}" if fraction else whole


_new = object.__new__
_set_amount = Money.__dict__["amount"].__set__  # the slots' own setters skip frozen's guard
_set_currency = Money.__dict__["currency"].__set__


def unchecked_money(amount: Decimal, currency: str) -> Money:
    """Money from an amount computed in :data:`EXACT` arithmetic, without the checks.

    The fast path for results: ``Money(amount, currency)`` converts and checks
    both (about three times the cost), which a sum of amounts that were
    already money does not need. ``amount`` must be a finite ``Decimal`` that
    fits :data:`EXACT` and ``currency`` a checked code; nothing verifies it.

    >>> a, b = Money("0.10"), Money("0.20")
    >>> unchecked_money(EXACT.add(a.amount, b.amount), "USD") == Money("0.30")
    True
    """
    money: Money = _new(Money)
    _set_amount(money, amount)
    _set_currency(money, currency)
    return money


_ZERO: Final = Decimal(0)
