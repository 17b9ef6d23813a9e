"""The lines of an invoice, and how each explains itself to a reader who checks it by hand.

A seat line is a monthly fee times the fraction of the period the seat was
held; a usage line is, for each token category, a count times a rate per
million tokens (web searches: per thousand). Each line carries the names
people use (the seat type's and the model's display names) besides the ids,
so that an invoice read back from JSON explains itself without the
organization file or the price table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

import attrs

from usagebill.money import EXACT, Money, unchecked_money
from usagebill.pricing.prices import Rates
from usagebill.reports import counted
from usagebill.usage import FailurePolicy, Modifiers, Product, TokenUsage

__all__ = ["Charge", "SeatFeeLine", "Subtotal", "UsageLine", "shown_days", "shown_rate"]

_DAY: Final = 86_400
_CENT_DAYS: Final = Decimal("0.01")
_MODIFIER_NAMES: Final = {"batch": "batch −50 %", "us_only": "US-only ×1.1", "fast": "fast mode"}
# (category, usage field, rates field, how many units one rate prices, its unit's name)
_CATEGORIES: Final = (
    ("input", "input_tokens", "input"),
    ("output", "output_tokens", "output"),
    ("cache write 5m", "cache_write_5m_tokens", "cache_write_5m"),
    ("cache write 1h", "cache_write_1h_tokens", "cache_write_1h"),
    ("cache read", "cache_read_tokens", "cache_read"),
)


def shown_rate(rate: Decimal) -> str:
    """A rate as written, with at least two decimals: ``5.00``, ``0.075``, ``6.875``.

    >>> shown_rate(Decimal("5")), shown_rate(Decimal("0.0750")), shown_rate(Decimal("1500"))
    ('5.00', '0.075', '1,500.00')
    """
    exponent = rate.normalize().as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) else 0)
    return f"{rate:,.{places}f}"


def shown_days(seconds: int) -> str:
    """Seconds as days, to the hundredth, trailing zeros dropped: ``31``, ``15.5``, ``13.65``.

    >>> shown_days(2_678_400), shown_days(1_339_200), shown_days(1_179_000)
    ('31', '15.5', '13.65')
    """
    days = EXACT.divide(Decimal(seconds), _DAY) if seconds % 864 == 0 else None
    if days is None:  # not a whole hundredth of a day: round it for people
        days = (Decimal(seconds) / _DAY).quantize(_CENT_DAYS)
    text = f"{days:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@attrs.frozen
class SeatFeeLine:
    """A member's seat (or add-on) fee for the part of the period they held it.

    ``exact`` is ``monthly_fee × seconds / the period's seconds``; ``amount`` is
    the line as the organization's rounding policy shows it. ``seat_name`` and
    ``add_on_name`` are the display names of the organization's catalog.

    Half of September (15 of its 30 days) on a Chat seat of 20.00 a month:

    >>> from datetime import UTC
    >>> half = SeatFeeLine("ada", "chat", None, datetime(2026, 9, 1, tzinfo=UTC),
    ...                    datetime(2026, 9, 16, tzinfo=UTC), 1_296_000, Money(20), Money(10),
    ...                    Money(10), "Chat")
    >>> half.title, half.detail(2_592_000)
    ('Chat seat, 2026-09-01 00:00 to 2026-09-16 00:00', \
'20.00 a month × 15 of 30 days held (1,296,000 of 2,592,000 s)')
    """

    user_id: str
    seat_type: str
    add_on: str | None
    start: datetime
    end: datetime
    seconds: int
    monthly_fee: Money
    exact: Money
    amount: Money
    seat_name: str = ""
    add_on_name: str | None = None

    @property
    def description(self) -> str:
        """What the line is for, with ids (stable for diffs and programs)."""
        what = f"{self.seat_type} seat" if self.add_on is None else f"{self.add_on} add-on"
        return f"{what}, {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"

    @property
    def title(self) -> str:
        """What the line is for, in the names people use.

        >>> from datetime import UTC
        >>> line = SeatFeeLine("ada", "chat", "hipaa", datetime(2026, 10, 1, tzinfo=UTC),
        ...                    datetime(2026, 10, 16, tzinfo=UTC), 1_296_000, Money(5),
        ...                    Money("2.42"), Money("2.42"), "Chat", "HIPAA-compliant")
        >>> line.title
        'HIPAA-compliant add-on to the Chat seat, 2026-10-01 00:00 to 2026-10-16 00:00'
        >>> line.detail(2_678_400)
        '5.00 a month × 15 of 31 days held (1,296,000 of 2,678,400 s)'
        """
        seat = self.seat_name or self.seat_type
        what = (
            f"{seat} seat"
            if self.add_on is None
            else f"{self.add_on_name or self.add_on} add-on to the {seat} seat"
        )
        return f"{what}, {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"

    def detail(self, period_seconds: int) -> str:
        """How the amount is reached: the monthly fee × the fraction of the period held."""
        return (
            f"{shown_rate(self.monthly_fee.amount)} a month × {shown_days(self.seconds)} of "
            f"{shown_days(period_seconds)} days held ({self.seconds:,} of {period_seconds:,} s)"
        )


class Charge(NamedTuple):
    """One token category of a usage line: count × rate per ``per`` units = amount (exact).

    >>> output = Charge("output", 20_000, Decimal(15), 1_000_000, Money("0.3"))
    >>> output.quantity * output.rate / output.per == output.amount.amount
    True
    """

    category: str
    quantity: int
    rate: Decimal
    per: int
    amount: Money


@attrs.frozen
class UsageLine:
    """One user's usage of one model and product, at one price version, tier and modifiers.

    ``failure_policy`` is set on the lines of requests that failed after they
    started: their usage is what that policy bills. ``rates`` are the rates
    paid, per million tokens, after modifiers. ``included`` is false when the
    seat the member held at the time did not include the product: the usage is
    billed as it happened, and flagged. ``price_version`` is the position of
    the price in the model's listing (``price_from`` its start).

    A batch request of 100,000 input tokens of Claude Sonnet 4.6, at half its
    3.00 a million:

    >>> batch = UsageLine("ada", "chat", "claude-sonnet-4-6", Product.CHAT,
    ...                   Modifiers(batch=True), False, None, 1, TokenUsage(input_tokens=100_000),
    ...                   Rates("1.5", "7.5", "1.875", 3, "0.15"), None, Money("0.15"),
    ...                   Money("0.15"), model_name="Claude Sonnet 4.6")
    >>> batch.title, batch.charges()
    ('Claude Sonnet 4.6, Chat (batch −50 %)', \
(Charge(category='input', quantity=100000, rate=Decimal('1.5'), per=1000000, \
amount=Money('0.15', 'USD')),))
    """

    user_id: str
    seat_type: str
    model: str
    product: Product
    modifiers: Modifiers
    in_tier: bool
    price_from: datetime | None
    requests: int
    usage: TokenUsage
    rates: Rates
    web_search_per_1k: Decimal | None
    exact: Money
    amount: Money
    failure_policy: FailurePolicy | None = None
    model_name: str = ""
    seat_name: str = ""
    price_version: int = 0
    included: bool = True

    @property
    def description(self) -> str:
        """The model, product and anything that changed the price, with ids (for programs)."""
        notes = [name for name, on in attrs.asdict(self.modifiers).items() if on]
        if self.failure_policy is not None:
            notes.append(f"failed after starting, {self.failure_policy.description}")
        if self.in_tier:
            notes.append("long-context tier")
        if self.price_from is not None:
            notes.append(f"price from {self.price_from:%Y-%m-%d}")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"{self.model}, {self.product}{extra}"

    @property
    def title(self) -> str:
        """The model and product in the names people use, and what changed the price."""
        notes = [_MODIFIER_NAMES[name] for name, on in attrs.asdict(self.modifiers).items() if on]
        if self.failure_policy is not None:
            notes.append(f"failed after starting, {self.failure_policy.description}")
        if self.in_tier:
            notes.append("long-context tier")
        if self.price_from is not None:
            notes.append(f"price from {self.price_from:%Y-%m-%d}")
        if not self.included:
            notes.append(f"not included in the {self.seat_name or self.seat_type} seat")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"{self.model_name or self.model}, {self.product.display_name}{extra}"

    def charges(self) -> tuple[Charge, ...]:
        """Each category used: its count × its rate, exactly; they add up to :attr:`exact`."""
        currency = self.exact.currency
        found = []
        for category, count_field, rate_field in _CATEGORIES:
            count = getattr(self.usage, count_field)
            if count:
                rate = getattr(self.rates, rate_field)
                amount = EXACT.multiply(Decimal(count), rate).scaleb(-6, EXACT)
                found.append(
                    Charge(category, count, rate, 1_000_000, unchecked_money(amount, currency))
                )
        searches = self.usage.web_search_requests
        if searches and self.web_search_per_1k is not None:
            rate = self.web_search_per_1k
            amount = EXACT.multiply(Decimal(searches), rate).scaleb(-3, EXACT)
            found.append(
                Charge("web search", searches, rate, 1_000, unchecked_money(amount, currency))
            )
        return tuple(found)

    @property
    def detail(self) -> str:
        """How the amount is reached: each category's count × rate = amount.

        >>> line = UsageLine("ada", "chat", "claude-sonnet-4-6", Product.CHAT, Modifiers(),
        ...                  False, None, 2, TokenUsage(input_tokens=100_000, output_tokens=20_000),
        ...                  Rates(3, 15, "3.75", 6, "0.30"), Decimal(10), Money("0.6"),
        ...                  Money("0.6"), model_name="Claude Sonnet 4.6", seat_name="Chat")
        >>> line.detail
        '2 requests; input 100,000 × 3.00/MTok = 0.30; output 20,000 × 15.00/MTok = 0.30'
        """
        parts = [counted(self.requests, "request")]
        for charge in self.charges():
            unit = "MTok" if charge.per == 1_000_000 else "1,000"
            parts.append(
                f"{charge.category} {charge.quantity:,} × {shown_rate(charge.rate)}/{unit} = "
                f"{_exact_text(charge.amount)}"
            )
        return "; ".join(parts)


def _exact_text(money: Money) -> str:
    """An exact amount, at least to the minor unit: ``0.30``, ``0.04206``."""
    return shown_rate(money.amount)


@attrs.frozen
class Subtotal:
    """The sum of the shown lines of one user, seat type, model or product.

    ``name`` is the name people use (a display name; the key for a user).
    ``seat_fees`` and ``usage`` split the amount where both kinds of line
    count (users and seat types); they are ``None`` for models and products,
    which have usage only.

    >>> ada = Subtotal("ada", Money("23"), "ada", seat_fees=Money("20"), usage=Money("3"))
    >>> ada.seat_fees + ada.usage == ada.amount
    True
    """

    key: str
    amount: Money
    name: str = ""
    seat_fees: Money | None = None
    usage: Money | None = None
