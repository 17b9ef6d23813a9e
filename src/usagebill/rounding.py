"""Rounding policies: how an invoice turns exact lines into amounts of the minor unit.

Amounts stay exact until an invoice shows them; then one of three policies,
chosen in the organization file and printed on the invoice, rounds its lines.
Every total the invoice shows is the sum of the rounded lines under it,
whatever the policy. This module is the one place each policy is applied
(:func:`round_lines`).

* ``half_even`` (the default): each line rounded half to even at the minor
  unit. Each line is off by at most half a unit; the total, the sum of the
  rounded lines, by at most half a unit per line — in practice far less, as
  halves go up as often as down.
* ``half_up``: each line rounded half away from zero (what Stripe, Lago and
  Kill Bill do). The same bounds; halves always go up, so the total tends to
  drift up.
* ``largest_remainder``: the exact total rounded once (half to even), then
  spread over the lines: each line rounded down, and the units left over
  given one each to the lines with the largest remainders (the earlier line
  first on a tie). The total is the exact total rounded — off by at most half
  a unit — and each line is off by less than one unit.

A line whose exact amount is zero is left out of an invoice before rounding
(:func:`round_lines` keeps it at zero under every policy).
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from usagebill.errors import CurrencyMismatchError, InvalidValueError, MoneyTypeError
from usagebill.money import EXACT, Money, minor_unit, unchecked_money

__all__ = ["RoundingPolicy", "round_lines", "spread"]

_QUANTIZE: Final = decimal.Context(
    prec=60, Emin=-999_999, Emax=999_999, traps=[decimal.InvalidOperation, decimal.Overflow]
)


class RoundingPolicy(enum.StrEnum):
    """How an invoice rounds its lines (see the module docs for each rule and its bounds).

    >>> RoundingPolicy("largest_remainder").total_bound_in_units(1_511)
    Decimal('0.5')
    """

    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    LARGEST_REMAINDER = "largest_remainder"

    @property
    def description(self) -> str:
        """The rule in words, as the invoice prints it."""
        return _DESCRIPTIONS[self]

    def total_bound_in_units(self, lines: int) -> Decimal:
        """How far the rounded total may be from the exact one, in minor units, for ``lines``."""
        if self is RoundingPolicy.LARGEST_REMAINDER:
            return Decimal("0.5")
        return Decimal("0.5") * lines

    def line_bound_in_units(self) -> Decimal:
        """How far one rounded line may be from its exact amount, in minor units (at most)."""
        return Decimal(1) if self is RoundingPolicy.LARGEST_REMAINDER else Decimal("0.5")


_DESCRIPTIONS: Final = {
    RoundingPolicy.HALF_EVEN: "each line rounded half to even to the minor unit; "
    "every total is the sum of the rounded lines",
    RoundingPolicy.HALF_UP: "each line rounded half up to the minor unit; "
    "every total is the sum of the rounded lines",
    RoundingPolicy.LARGEST_REMAINDER: "the exact total rounded once, half to even, to the minor "
    "unit and spread over the lines: each line rounded down, the units left over given to the "
    "lines with the largest remainders",
}
_MODES: Final = {
    RoundingPolicy.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingPolicy.HALF_UP: decimal.ROUND_HALF_UP,
}


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def _check(amounts: Sequence[Money], currency: str) -> None:
    for amount in amounts:
        if not isinstance(amount, Money):
            raise MoneyTypeError(f"rounding takes Money, not {type(amount).__name__}")
        if amount.currency != currency:
            raise CurrencyMismatchError(currency, amount.currency, "lines")


def round_lines(exact: Sequence[Money], policy: RoundingPolicy, currency: str) -> tuple[Money, ...]:
    """Each of the ``exact`` lines rounded by ``policy``, in the same order.

    >>> lines = [Money("0.125"), Money("0.135"), Money("0.004")]
    >>> [str(m.amount) for m in round_lines(lines, RoundingPolicy.HALF_EVEN, "USD")]
    ['0.12', '0.14', '0.00']
    >>> [str(m.amount) for m in round_lines(lines, RoundingPolicy.HALF_UP, "USD")]
    ['0.13', '0.14', '0.00']
    >>> [str(m.amount) for m in round_lines(lines, RoundingPolicy.LARGEST_REMAINDER, "USD")]
    ['0.13', '0.13', '0.00']

    (The exact total 0.264 rounds to 0.26; the lines rounded down, 0.12 + 0.13 + 0.00,
    leave one cent, which goes to 0.125: its remainder 0.005 ties with 0.135's, and it
    comes first.)
    """
    given: object = policy  # checked: callers may pass anything
    if not isinstance(given, RoundingPolicy):
        choices = [choice.value for choice in RoundingPolicy]
        raise InvalidValueError("policy", policy, f"must be one of {choices}")
    _check(exact, currency)
    if policy is RoundingPolicy.LARGEST_REMAINDER:
        total = Money.sum(exact, currency).rounded()
        return spread(total, exact)
    unit, mode = _unit(currency), _MODES[policy]
    return tuple(
        unchecked_money(line.amount.quantize(unit, mode, _QUANTIZE), currency) for line in exact
    )


def spread(total: Money, exact: Sequence[Money]) -> tuple[Money, ...]:
    """``total`` (a whole number of minor units) spread over parts in proportion to ``exact``.

    Each part is its exact amount rounded down to the minor unit; the units
    left over (``total`` less those) go one each to the parts with the largest
    remainders, the earlier part first on a tie (and round again when there
    are more units than parts; fewer than none take units back, smallest
    remainders first). The parts always add up to ``total``; when ``total`` is
    within one unit of the exact sum, each part is within one unit of its
    exact amount. Used by the largest-remainder policy, and to spread a
    rounded line over its daily rows (the FOCUS export).

    >>> [str(m.amount) for m in spread(Money("0.10"), [Money("0.033"), Money("0.033"),
    ...                                               Money("0.034")])]
    ['0.03', '0.03', '0.04']
    """
    currency = total.currency
    _check(exact, currency)
    unit = _unit(currency)
    if total.amount != total.amount.quantize(unit, decimal.ROUND_DOWN, _QUANTIZE):
        raise InvalidValueError("total", total, "must be a whole number of minor units")
    if not exact:
        if total:
            raise InvalidValueError("total", total, "cannot be spread over no parts")
        return ()
    floors = [line.amount.quantize(unit, decimal.ROUND_FLOOR, _QUANTIZE) for line in exact]
    left = total.amount
    for floor in floors:
        left = EXACT.subtract(left, floor)
    units = int(EXACT.divide(left, unit))
    # Largest remainder first; on a tie, the earlier part first.
    order = sorted(
        range(len(exact)), key=lambda i: (-EXACT.subtract(exact[i].amount, floors[i]), i)
    )
    rounds, extra = divmod(units, len(exact))
    shares = [EXACT.add(floor, EXACT.multiply(unit, rounds)) for floor in floors]
    for position in order[:extra]:
        shares[position] = EXACT.add(shares[position], unit)
    return tuple(unchecked_money(share, currency) for share in shares)
