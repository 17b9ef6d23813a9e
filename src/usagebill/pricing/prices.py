"""Price tables and rating: a request's token usage to an exact amount of money.

Three rules from the public price list shape this module:

* **Every category is a listed figure.** Cache writes and reads are stored as
  listed, never derived from multipliers (Claude Haiku 3's are not 1.25x / 0.1x
  of its input rate).
* **Context tiers reprice the whole request.** When a request's prompt — its
  uncached input plus cache writes plus cache reads — is *more than* the tier's
  threshold, every token of that request, output included, is charged at the
  tier's rates. A prompt exactly at the threshold stays at the standard rates.
* **Prices have effective dates.** A model keeps every price it ever had; usage
  is rated at the price in force at its own timestamp, so one table bills any
  month, past or present.

Each price version has two modes, standard and fast, and each mode its own
optional context tier, so every combination the price list has had can be
written down (Claude Opus 4.6 in February 2026 had a tier in both). Modifiers
multiply every token rate (batch x0.5, US-only inference x1.1) or swap the
rates (fast mode); web search is a flat rate per request. A figure the price
list does not print (a long-context cache rate, say) is marked as derived, with
its rule, so that :meth:`PriceTable.provenance` can say which figures are listed.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs

from usagebill._checks import (
    aware,
    check_aware,
    check_currency,
    check_non_negative_int,
    instance_of,
    non_negative_int,
    optional,
)
from usagebill._frozendict import FrozenDict, frozen_dict
from usagebill.errors import (
    InvalidValueError,
    UnknownModelError,
    UnsupportedModifierError,
    short_repr,
)
from usagebill.money import EXACT, Money, exact_decimal, unchecked_money
from usagebill.usage import Modifiers, TokenUsage

__all__ = [
    "BATCH_MULTIPLIER",
    "CATEGORIES",
    "PARTS",
    "ContextTier",
    "Derivation",
    "Figure",
    "ModelListing",
    "ModelPrice",
    "PriceTable",
    "Provenance",
    "Quote",
    "Rates",
]

BATCH_MULTIPLIER: Final = Decimal("0.5")
"""The Batch API takes 50 % off every token rate (not off web search)."""

CATEGORIES: Final = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
"""The token categories of :class:`Rates`, in order."""

PARTS: Final = ("rates", "long_context", "fast", "fast_long_context")
"""The parts of a :class:`ModelPrice` that hold rates: a figure is named ``part.category``."""

_IN_TIER: Final = 8  # compiled rates are keyed by Modifiers.bits (0 to 7), plus 8 in the tier
_PER_MILLION: Final = 6  # rates are listed per million tokens: 10**6
_PER_THOUSAND: Final = 3  # web search is listed per 1,000 requests


def _rate(value: object) -> Decimal:
    return exact_decimal(value, "rate")


def _optional_rate(value: object) -> Decimal | None:
    return None if value is None else _rate(value)


# A billion per million tokens (a thousand per token) is far past any price, and keeps a rate
# times the largest count (under 2**63) within the exact arithmetic's digits, rounded.
_HIGHEST_RATE: Final = Decimal(10) ** 9
_HIGHEST_MULTIPLIER: Final = Decimal(1000)
# As in documents (usagebill.serde): 20 decimal places keep a rate times any count exact.
_MOST_PLACES: Final = 20


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # A validator, not the converter, so that the error names the field (e.g. output).
    if isinstance(value, Decimal) and value < 0:
        raise InvalidValueError(attribute.name, value, "must not be negative")
    if isinstance(value, Decimal) and value >= _HIGHEST_RATE:
        raise InvalidValueError(attribute.name, value, "must be less than 1,000,000,000")
    if isinstance(value, Decimal) and _places(value) > _MOST_PLACES:
        raise InvalidValueError(
            attribute.name, value, f"must have at most {_MOST_PLACES} decimal places"
        )


def _places(value: Decimal) -> int:
    exponent = value.normalize(EXACT).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


_rate_field = attrs.field(converter=_rate, validator=_non_negative)


def _multiplier(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # A surcharge factor (1.1): a large one would take derived rates far past listed ones.
    if isinstance(value, Decimal) and value >= _HIGHEST_MULTIPLIER:
        raise InvalidValueError(attribute.name, value, "must be less than 1,000")


@attrs.frozen
class Rates:
    """Listed prices per million tokens, one per token category.

    >>> Rates(input="3", output="15", cache_write_5m="3.75", cache_write_1h="6", cache_read="0.30")
    Rates(input=Decimal('3'), output=Decimal('15'), cache_write_5m=Decimal('3.75'), \
cache_write_1h=Decimal('6'), cache_read=Decimal('0.30'))
    """

    input: Decimal = _rate_field
    output: Decimal = _rate_field
    cache_write_5m: Decimal = _rate_field
    cache_write_1h: Decimal = _rate_field
    cache_read: Decimal = _rate_field

    def scaled(self, factor: Decimal) -> Rates:
        """Every rate multiplied by ``factor``, exactly (e.g. x0.5 for batch).

        Not checked again: checked rates times a checked factor may pass the bound on a
        listed rate (999,999,999 x 1.1 US-only), and that is no fault of one request.
        """
        scaled = object.__new__(Rates)
        for name, rate in zip(_RATE_NAMES, attrs.astuple(self), strict=True):
            object.__setattr__(scaled, name, EXACT.multiply(rate, factor))
        return scaled


_RATE_NAMES: Final = tuple(field.name for field in attrs.fields(Rates))


@attrs.frozen
class ContextTier:
    """Rates for requests whose prompt is *more than* ``above_prompt_tokens`` tokens.

    The prompt counts uncached input, cache writes and cache reads; the tier's
    rates then apply to every token of the request, output included. Claude
    Sonnet 4.6's, until March 2026:

    >>> tier = ContextTier(200_000, Rates("6", "22.50", "7.50", "12", "0.60"))
    >>> sonnet = ModelPrice(Rates("3", "15", "3.75", "6", "0.30"), long_context=tier)
    >>> at_threshold = TokenUsage(input_tokens=200_000)
    >>> above = TokenUsage(input_tokens=150_000, cache_read_tokens=60_000)
    >>> sonnet.in_tier(at_threshold), sonnet.in_tier(above)
    (False, True)
    """

    above_prompt_tokens: int = attrs.field(validator=non_negative_int)
    rates: Rates = attrs.field(validator=instance_of(Rates, "Rates"))


def _figure_name(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or _split_figure(value) is None:
        raise InvalidValueError(
            attribute.name, value, "must name a figure: part.category, e.g. long_context.input"
        )


def _split_figure(name: str) -> tuple[str, str] | None:
    part, _, category = name.partition(".")
    return (part, category) if part in PARTS and category in CATEGORIES else None


@attrs.frozen
class Derivation:
    """How a figure the price list does not print was worked out: ``times`` x the figure ``of``.

    Figures are named ``part.category``: ``rates.input``, ``long_context.cache_read``,
    ``fast.output``, ``fast_long_context.cache_write_1h`` and so on. ``rule`` says
    why the multiplier holds (e.g. the list's caching multipliers).

    >>> Derivation(of="long_context.input", times="0.1", rule="cache reads cost 0.1x input")
    Derivation(of='long_context.input', times=Decimal('0.1'), rule='cache reads cost 0.1x input')
    """

    of: str = attrs.field(validator=_figure_name)
    times: Decimal = _rate_field
    rule: str = attrs.field(default="", validator=instance_of(str, "a string"))

    def describe(self) -> str:
        """The rule in words: ``1.25 x long_context.input (why)``."""
        return f"{self.times} x {self.of}" + (f" ({self.rule})" if self.rule else "")


def _derivations(value: object) -> FrozenDict[str, Derivation]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("derived", value, "must map figure names to Derivations")
    for name, derivation in value.items():
        if not isinstance(name, str) or _split_figure(name) is None:
            raise InvalidValueError(
                "derived", name, "must name a figure: part.category, e.g. long_context.cache_read"
            )
        if not isinstance(derivation, Derivation):
            raise InvalidValueError(
                f"derived[{short_repr(name)}]", derivation, "must be a Derivation"
            )
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


@attrs.frozen
class ModelPrice:
    """One model's prices from ``effective_from`` on (``None``: since the model began).

    Two modes, each with an optional context tier of its own: ``rates`` and
    ``long_context`` for standard requests, ``fast`` and ``fast_long_context``
    for fast mode where the model offers it. ``us_only_multiplier`` is set
    where US-only inference is offered; ``web_search_per_1k`` is the price of
    1,000 web searches. ``source``, ``as_of``, ``confidence`` and ``notes`` say
    where the figures come from, and ``derived`` names each figure that the
    price list does not print, with its rule (every other figure is listed).

    Modifiers multiply the rates a request pays:

    >>> sonnet = ModelPrice(Rates("3", "15", "3.75", "6", "0.30"), us_only_multiplier="1.1")
    >>> sonnet.rates_for(Modifiers(batch=True, us_only=True)).output  # 15 x 0.5 x 1.1
    Decimal('8.25')
    """

    rates: Rates = attrs.field(validator=instance_of(Rates, "Rates"))
    long_context: ContextTier | None = attrs.field(
        default=None, validator=optional(instance_of(ContextTier, "a ContextTier or None"))
    )
    fast: Rates | None = attrs.field(
        default=None, validator=optional(instance_of(Rates, "Rates or None"))
    )
    fast_long_context: ContextTier | None = attrs.field(
        default=None, validator=optional(instance_of(ContextTier, "a ContextTier or None"))
    )
    web_search_per_1k: Decimal | None = attrs.field(
        default=Decimal(10), converter=_optional_rate, validator=_non_negative
    )
    us_only_multiplier: Decimal | None = attrs.field(
        default=None, converter=_optional_rate, validator=[_non_negative, _multiplier]
    )
    effective_from: datetime | None = attrs.field(default=None, validator=optional(aware))
    source: str = ""
    as_of: str = ""
    confidence: str = "high"
    notes: str = ""
    derived: FrozenDict[str, Derivation] = attrs.field(factory=FrozenDict, converter=_derivations)
    _compiled: dict[int, _Compiled] = attrs.field(
        init=False, eq=False, hash=False, repr=False, factory=dict
    )

    def __attrs_post_init__(self) -> None:
        if self.fast_long_context is not None and self.fast is None:
            raise InvalidValueError(
                "fast_long_context", self.fast_long_context, "needs fast: a tier of fast mode"
            )
        for name, derivation in self.derived.items():
            self._check_derivation(name, derivation)

    def _check_derivation(self, name: str, derivation: Derivation) -> None:
        value, base = self.figure(name), self.figure(derivation.of)
        if value is None or base is None:
            missing = name if value is None else derivation.of
            raise InvalidValueError(
                f"derived[{short_repr(name)}]", missing, "names a figure this price lacks"
            )
        expected = EXACT.multiply(base, derivation.times)
        if value != expected:
            raise InvalidValueError(
                f"derived[{short_repr(name)}]",
                value,
                f"must equal {derivation.describe()} = {expected}",
            )

    def figure(self, name: str) -> Decimal | None:
        """The figure called ``name`` (``part.category``); None if this price lacks the part."""
        split = _split_figure(name)
        if split is None:
            raise InvalidValueError("figure", name, "must be part.category, e.g. fast.input")
        part, category = split
        rates: Rates | ContextTier | None = getattr(self, part)
        if isinstance(rates, ContextTier):
            rates = rates.rates
        return None if rates is None else getattr(rates, category)

    def figures(self) -> tuple[Figure, ...]:
        """Every figure of this price: mode, tier, category, rate, and how it was obtained."""
        result = []
        for part in PARTS:
            value: Rates | ContextTier | None = getattr(self, part)
            if value is None:
                continue
            tier = value.above_prompt_tokens if isinstance(value, ContextTier) else None
            rates = value.rates if isinstance(value, ContextTier) else value
            for category in CATEGORIES:
                name = f"{part}.{category}"
                result.append(
                    Figure(
                        name=name,
                        mode="fast" if part.startswith("fast") else "standard",
                        above_prompt_tokens=tier,
                        category=category,
                        rate=getattr(rates, category),
                        derivation=self.derived.get(name),
                    )
                )
        return tuple(result)

    def tier(self, fast: bool = False) -> ContextTier | None:
        """The context tier of standard or fast mode (None: one rate at every prompt length)."""
        return self.fast_long_context if fast else self.long_context

    def in_tier(self, usage: TokenUsage, fast: bool = False) -> bool:
        """Tell whether ``usage`` falls in the context tier of its mode (prompt > threshold)."""
        tier = self.fast_long_context if fast else self.long_context
        return tier is not None and usage.prompt_tokens > tier.above_prompt_tokens

    def rates_for(self, modifiers: Modifiers, *, in_tier: bool = False) -> Rates:
        """The per-million rates a request pays: its mode's base or tier rates, then multipliers."""
        self._check(modifiers)
        if modifiers.fast:
            base: Rates = self.fast  # type: ignore[assignment]  # _check ensures it
            tier = self.fast_long_context
        else:
            base, tier = self.rates, self.long_context
        rates = tier.rates if in_tier and tier is not None else base
        factor = Decimal(1)
        if modifiers.batch:
            factor = EXACT.multiply(factor, BATCH_MULTIPLIER)
        if modifiers.us_only:
            factor = EXACT.multiply(factor, self.us_only_multiplier)  # type: ignore[arg-type]
        return rates if factor == 1 else rates.scaled(factor)

    def _check(self, modifiers: Modifiers) -> None:
        if modifiers.fast and self.fast is None:
            raise UnsupportedModifierError("fast", modifiers.fast, "is not offered by this model")
        if modifiers.us_only and self.us_only_multiplier is None:
            raise UnsupportedModifierError(
                "us_only",
                modifiers.us_only,
                "is not offered by this model (Claude 4.6 and later only)",
            )
        if modifiers.batch and modifiers.fast:
            raise UnsupportedModifierError(
                "batch", modifiers.batch, "cannot be combined with fast mode"
            )

    def compiled(self, modifiers: Modifiers, in_tier: bool) -> _Compiled:
        """The integer form of :meth:`rates_for`, memoised: the hot path of rating."""
        # modifiers.bits and _IN_TIER, inlined: a call or a global would cost on rating's hot path.
        return self.compiled_bits(
            modifiers.batch | modifiers.us_only << 1 | modifiers.fast << 2 | in_tier << 3
        )

    def compiled_bits(self, bits: int) -> _Compiled:
        """:meth:`compiled` keyed by :attr:`Modifiers.bits`, plus 8 in its mode's context tier."""
        compiled = self._compiled.get(bits)
        if compiled is None:
            modifiers = Modifiers.from_bits(bits & ~_IN_TIER)
            compiled = self._compiled[bits] = _Compiled.of(
                self.rates_for(modifiers, in_tier=bool(bits & _IN_TIER)), self.web_search_per_1k
            )
        return compiled


@attrs.frozen
class _Compiled:
    """Per-token rates as integers sharing one decimal exponent, so rating is int arithmetic.

    The amount of a usage is ``sum(count * rate) * 10**-exponent``, exactly.
    """

    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    web_search: int
    exponent: int
    rates: Rates  # the per-million rates these integers come from, for showing

    @classmethod
    def of(cls, rates: Rates, web_search_per_1k: Decimal | None) -> _Compiled:
        per_unit = [rate.scaleb(-_PER_MILLION, EXACT) for rate in attrs.astuple(rates)]
        per_unit.append(
            Decimal(0)
            if web_search_per_1k is None
            else web_search_per_1k.scaleb(-_PER_THOUSAND, EXACT)
        )
        exponent = max(0, *(-int(rate.as_tuple().exponent) for rate in per_unit))
        input_, output, write_5m, write_1h, read, search = (
            int(rate.scaleb(exponent, EXACT)) for rate in per_unit
        )
        return cls(input_, output, write_5m, write_1h, read, search, exponent, rates)

    def amount(self, usage: TokenUsage) -> Decimal:
        units = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_5m_tokens * self.cache_write_5m
            + usage.cache_write_1h_tokens * self.cache_write_1h
            + usage.cache_read_tokens * self.cache_read
            + usage.web_search_requests * self.web_search
        )
        return Decimal(units).scaleb(-self.exponent, EXACT)


@attrs.frozen
class Figure:
    """One rate of a price version, per million tokens, and whether the list prints it.

    ``mode`` is ``standard`` or ``fast``; ``above_prompt_tokens`` is the
    threshold of the context tier the figure belongs to (None: the base rates).

    >>> from datetime import datetime, UTC
    >>> february = PriceTable.builtin().price("claude-sonnet-4-6", datetime(2026, 2, 1, tzinfo=UTC))
    >>> read = next(f for f in february.figures() if f.name == "long_context.cache_read")
    >>> read.rate, read.listed, read.derivation.describe()
    (Decimal('0.60'), False, '0.1 x long_context.input (cache reads cost 0.1x input)')
    """

    name: str
    mode: str
    above_prompt_tokens: int | None
    category: str
    rate: Decimal
    derivation: Derivation | None

    @property
    def listed(self) -> bool:
        """True if the price list prints this figure; False if it was derived."""
        return self.derivation is None


@attrs.frozen
class Provenance:
    """Where a model's price at an instant comes from, figure by figure.

    ``version`` is the position (from 1) of the price in force among the
    model's ``versions``; it applies from ``effective_from`` (None: since the
    model began) until ``effective_until`` (None: still in force).

    >>> from datetime import datetime, UTC
    >>> october = datetime(2026, 10, 1, tzinfo=UTC)
    >>> where = PriceTable.builtin().provenance("claude-sonnet-4-6", october)
    >>> where.version, where.versions, str(where.effective_from), where.confidence
    (2, 2, '2026-03-13 00:00:00+00:00', 'high')
    """

    model: str
    display_name: str
    version: int
    versions: int
    effective_from: datetime | None
    effective_until: datetime | None
    source: str
    as_of: str
    confidence: str
    notes: str
    figures: tuple[Figure, ...]
    price: ModelPrice


def _sorted_prices(prices: Iterable[ModelPrice]) -> tuple[ModelPrice, ...]:
    result = tuple(prices)
    if not result:
        raise InvalidValueError("prices", result, "must list at least one price")
    for position, price in enumerate(result):
        if not isinstance(price, ModelPrice):
            raise InvalidValueError(f"prices[{position}]", price, "must be a ModelPrice")
        if position and (
            price.effective_from is None
            or (
                result[position - 1].effective_from is not None
                and price.effective_from <= result[position - 1].effective_from  # type: ignore[operator]
            )
        ):
            raise InvalidValueError(
                f"prices[{position}].effective_from",
                price.effective_from,
                "must be later than the price before it (only the first may be None)",
            )
    return result


def _aliases(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError("aliases", value, "must be a list of names (not one string)")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidValueError("aliases", name, "must be non-empty strings")
    return names


@attrs.frozen
class ModelListing:
    """A model of the price table: its names and every price it has had, oldest first.

    Claude Opus 4.6 has had two, the second from 13 March 2026:

    >>> from datetime import datetime, UTC
    >>> opus = PriceTable.builtin().models["claude-opus-4-6"]
    >>> opus.display_name, opus.aliases
    ('Claude Opus 4.6', ('claude-opus-4-6-20260205',))
    >>> [opus.version_at(datetime(2026, month, 1, tzinfo=UTC)) for month in (3, 10)]
    [0, 1]
    """

    prices: tuple[ModelPrice, ...] = attrs.field(converter=_sorted_prices)
    display_name: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)
    status: str = ""
    retired: date | None = None
    # The newest version and its start: what nearly every request is rated at, found first.
    _newest: int = attrs.field(init=False, eq=False, hash=False, repr=False)
    _newest_from: datetime | None = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_newest", len(self.prices) - 1)
        object.__setattr__(self, "_newest_from", self.prices[-1].effective_from)

    def price_at(self, at: datetime) -> ModelPrice:
        """The price in force at ``at`` (a timezone-aware datetime)."""
        check_aware(at)
        start = self._newest_from
        if start is None or start <= at:  # the newest version, with no call: the hot path
            return self.prices[self._newest]
        return self.prices[self.version_at(at)]

    def effective_until(self, position: int) -> datetime | None:
        """When the version at ``position`` stops applying: the next one's start (None: never)."""
        following = self.prices[position + 1 :]
        return following[0].effective_from if following else None

    def version_at(self, at: datetime) -> int:
        """The position in :attr:`prices` of the price in force at ``at``."""
        check_aware(at)
        start = self._newest_from
        if start is None or start <= at:
            return self._newest
        prices = self.prices
        for position in range(len(prices) - 2, -1, -1):  # a handful of versions at most
            start = prices[position].effective_from
            if start is None or start <= at:
                return position
        raise InvalidValueError(
            "at", at, f"must be on or after {prices[0].effective_from}, the first price"
        )


@attrs.frozen
class Quote:
    """A rated request: the price version used, the rates paid, the exact amount.

    >>> from datetime import datetime, UTC
    >>> usage = TokenUsage(input_tokens=2_000, output_tokens=1_000)
    >>> quote = PriceTable.builtin().quote(
    ...     "claude-sonnet-4-6", usage, datetime(2026, 10, 1, tzinfo=UTC), Modifiers(batch=True))
    >>> quote.rates.output, quote.amount  # 15 x 0.5 per million; 0.003 + 0.0075
    (Decimal('7.5'), Money('0.0105', 'USD'))
    """

    model: str
    usage: TokenUsage
    modifiers: Modifiers
    price: ModelPrice
    in_tier: bool
    rates: Rates
    amount: Money


@functools.lru_cache(maxsize=1024)
def _close_matches(name: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The known ids closest to ``name``, memoised.

    A file that repeats an unknown model on every line (skipped with --skip-invalid)
    asked difflib again for each line: 2 ms a line.
    """
    return tuple(difflib.get_close_matches(name, known, n=3, cutoff=0.6))


@attrs.frozen
class PriceTable:
    """Model ids and aliases to their prices, versioned by effective date.

    ``version`` names the table (shown on invoices); ``currency`` is the
    currency of every rate. Use :meth:`builtin` for the Claude price list that
    ships with usagebill, or :meth:`from_file` for one of your own.

    >>> from datetime import datetime, UTC
    >>> table = PriceTable.builtin()
    >>> usage = TokenUsage(input_tokens=2_000, output_tokens=1_000)
    >>> table.cost("claude-sonnet-4-6", usage, at=datetime(2026, 10, 1, tzinfo=UTC))
    Money('0.021', 'USD')
    """

    version: str
    models: FrozenDict[str, ModelListing] = attrs.field(converter=frozen_dict)
    currency: str = attrs.field(default="USD", validator=lambda _i, _a, v: check_currency(v))
    source: str = ""
    _index: dict[str, str] = attrs.field(init=False, eq=False, hash=False, repr=False)
    _listings: dict[str, ModelListing] = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        index: dict[str, str] = {}
        for model_id, listing in self.models.items():
            if not isinstance(listing, ModelListing):
                raise InvalidValueError(
                    f"models[{short_repr(model_id)}]",
                    listing,
                    "must map a model id to a ModelListing",
                )
            for name in (model_id, *listing.aliases):
                if index.setdefault(name, model_id) != model_id:
                    raise InvalidValueError(
                        f"models[{short_repr(model_id)}].aliases",
                        name,
                        f"is already a name of {short_repr(index[name])}",
                    )
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_listings", {name: self.models[i] for name, i in index.items()})

    # --- loading ------------------------------------------------------------------------

    @classmethod
    @functools.cache
    def builtin(cls) -> PriceTable:
        """The Claude API price list shipped with usagebill (see ``usagebill prices``)."""
        text = (
            resources.files("usagebill.pricing")
            .joinpath("data/claude_prices.json")
            .read_text("utf-8")
        )
        return cls.from_dict(json.loads(text), source="usagebill/pricing/data/claude_prices.json")

    @classmethod
    def from_dict(cls, data: object, source: str = "price table") -> PriceTable:
        """Load a table from its dict form (as :meth:`to_dict` gives), strictly."""
        from usagebill.serde import structure  # noqa: PLC0415  (serde imports this module)

        return structure(data, cls, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Load a table from a ``.toml`` file, or JSON (any other suffix); LoadError if bad.

        A file that cannot be opened raises :class:`OSError`, as ``open`` does.
        """
        from usagebill._documents import read_bytes  # noqa: PLC0415
        from usagebill.serde import from_json, read_toml  # noqa: PLC0415

        path = Path(path)
        if path.suffix == ".toml":
            return cls.from_dict(read_toml(path), source=str(path))
        return from_json(read_bytes(path), cls, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict form of this table."""
        from usagebill.serde import unstructure  # noqa: PLC0415

        return unstructure(self)  # type: ignore[no-any-return]

    # --- lookup -------------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        """Every model id and alias this table knows, sorted."""
        return sorted(self._index)

    def resolve(self, model: str) -> str:
        """The canonical model id of ``model`` (an id or an alias)."""
        try:
            return self._index[model]
        except (KeyError, TypeError):
            name: object = model  # untyped callers pass anything: only a str has close matches
            suggestions = _close_matches(name, tuple(self._index)) if isinstance(name, str) else ()
            raise UnknownModelError(name, suggestions) from None

    def price(self, model: str, at: datetime) -> ModelPrice:
        """The price of ``model`` in force at ``at``."""
        listing = self._listings.get(model) if type(model) is str else None
        if listing is None:
            listing = self.models[self.resolve(model)]  # raises UnknownModelError
        return listing.price_at(at)

    def provenance(self, model: str, at: datetime) -> Provenance:
        """Which price version of ``model`` applies at ``at``, its source, and every figure.

        >>> from datetime import datetime, UTC
        >>> march_1 = datetime(2026, 3, 1, tzinfo=UTC)
        >>> where = PriceTable.builtin().provenance("claude-opus-4-6", march_1)
        >>> where.version, where.versions, str(where.effective_until)
        (1, 2, '2026-03-13 00:00:00+00:00')
        >>> [(f.name, str(f.rate)) for f in where.figures if not f.listed][:1]
        [('long_context.cache_write_5m', '12.50')]
        """
        model_id = self.resolve(model)
        listing = self.models[model_id]
        position = listing.version_at(at)
        price = listing.prices[position]
        return Provenance(
            model=model_id,
            display_name=listing.display_name,
            version=position + 1,
            versions=len(listing.prices),
            effective_from=price.effective_from,
            effective_until=listing.effective_until(position),
            source=price.source,
            as_of=price.as_of,
            confidence=price.confidence,
            notes=price.notes,
            figures=price.figures(),
            price=price,
        )

    # --- rating -------------------------------------------------------------------------

    def cost(
        self,
        model: str,
        usage: TokenUsage,
        at: datetime,
        *,
        batch: bool = False,
        us_only: bool = False,
        fast: bool = False,
    ) -> Money:
        """The exact cost of one request, never rounded."""
        if not type(batch) is type(us_only) is type(fast) is bool:  # checked: callers may not type
            Modifiers(batch=batch, us_only=us_only, fast=fast)  # type: ignore[unreachable]
        price = self.price(model, at)
        # Modifiers.bits of the flags and _IN_TIER, inlined: building Modifiers would slow rating.
        bits = batch | us_only << 1 | fast << 2 | price.in_tier(usage, fast) << 3
        return unchecked_money(price.compiled_bits(bits).amount(usage), self.currency)

    def amount(self, model: str, usage: TokenUsage, at: datetime, modifiers: Modifiers) -> Decimal:
        """:meth:`cost` as a bare Decimal in the table's currency: the hot path."""
        price = self.price(model, at)
        return price.compiled(modifiers, price.in_tier(usage, modifiers.fast)).amount(usage)

    def upper_bound(
        self,
        model: str,
        prompt: TokenUsage,
        *,
        max_output_tokens: int,
        at: datetime,
        max_web_searches: int = 0,
        modifiers: Modifiers | None = None,
    ) -> Money:
        """The most a request can cost, before it runs: what a ledger should hold for it.

        ``prompt`` is what is known before the call — uncached input, cache
        writes and reads (its output count is ignored) — and the response is at
        most ``max_output_tokens`` long (the request's ``max_tokens``) with at
        most ``max_web_searches`` searches. Rating is monotone in every count,
        and the prompt fixes the context tier, so no outcome costs more.

        >>> from datetime import datetime, UTC
        >>> table = PriceTable.builtin()
        >>> prompt = TokenUsage(input_tokens=20_000, cache_read_tokens=100_000)
        >>> table.upper_bound("claude-sonnet-4-6", prompt, max_output_tokens=8_000,
        ...                   at=datetime(2026, 10, 1, tzinfo=UTC))   # 0.06 + 0.03 + 0.12
        Money('0.21', 'USD')
        """
        check_non_negative_int(max_output_tokens, "max_output_tokens")
        check_non_negative_int(max_web_searches, "max_web_searches")
        worst = attrs.evolve(
            prompt, output_tokens=max_output_tokens, web_search_requests=max_web_searches
        )
        return self.quote(model, worst, at, modifiers).amount

    def quote(
        self, model: str, usage: TokenUsage, at: datetime, modifiers: Modifiers | None = None
    ) -> Quote:
        """Rate one request and say how: the price version, the tier, the rates paid."""
        modifiers = modifiers or Modifiers()
        price = self.price(model, at)
        in_tier = price.in_tier(usage, modifiers.fast)
        return Quote(
            model=self.resolve(model),
            usage=usage,
            modifiers=modifiers,
            price=price,
            in_tier=in_tier,
            rates=price.compiled(modifiers, in_tier).rates,
            amount=Money(price.compiled(modifiers, in_tier).amount(usage), self.currency),
        )
