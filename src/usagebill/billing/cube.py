"""The usage cube: a month's usage summed per bucket, the mergeable partial of an invoice.

Rating is linear: the requests of one bucket — the same user, seat type held at
the request's instant, model, product, modifiers, price version and context
tier — cost their summed token counts times the bucket's rates, exactly. So
the heavy part of a bill is an integer GROUP BY that any engine can do (the
pure-Python :class:`~usagebill.billing.invoice.InvoiceBuilder`, DuckDB, Dask,
a SQL store, Spark), and only the few thousand buckets are priced, in
:func:`~usagebill.billing.invoice.price_cube`, with exact Decimals.

Besides the buckets a cube counts what it did not bill:

* ``duplicates``: repeats of an event already counted (same id, same content);
* ``excluded``: distinct events outside the period;
* ``conflicts``: the ids seen with different contents. An engine cannot know
  which version is true, so **none of their versions is billed**: every event
  of such an id is set aside (``conflicting`` counts them), and the ids are
  listed for someone to settle. The rule is the same in every engine and does
  not depend on the order of the events.

So ``events + duplicates + excluded + conflicting`` is every event read.

Cubes of **disjoint sets of event ids** merge by adding (:meth:`UsageCube.merge`):
associative and commutative, so parts built anywhere, in any grouping, give
the same cube. Events shared by two parts must be deduplicated first — by a
shuffle on the event id (the Dask engine), or by
:meth:`~usagebill.billing.invoice.InvoiceBuilder.merge`.

A SQL store makes a cube with one GROUP BY over its deduplicated events (see
:meth:`UsageCube.from_rows`)::

    SELECT user_id, seat_type, model, product, price_version, in_tier, modifiers, failed,
           count(*), sum(input_tokens), sum(output_tokens), sum(cache_write_5m_tokens),
           sum(cache_write_1h_tokens), sum(cache_read_tokens), sum(web_search_requests)
    FROM events WHERE at >= :start AND at < :end
    GROUP BY ALL
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import attrs

from usagebill._frozendict import FrozenDict
from usagebill.errors import InvalidValueError
from usagebill.periods import BillingPeriod
from usagebill.usage import Product

__all__ = ["UsageCounts", "UsageCube", "UsageKey"]


class UsageKey(NamedTuple):
    """What prices a request: one bucket of the cube.

    ``model`` is the canonical model id (not an alias); ``price_version`` is the
    position of the price in force in the model's listing; ``modifiers`` are
    bits (batch 1, US-only 2, fast 4, as :attr:`usagebill.usage.Modifiers.bits`);
    ``failed`` marks requests that failed after they started, whose counts are
    what the organization's :class:`~usagebill.usage.FailurePolicy` bills.

    >>> UsageKey("ada", "chat", "claude-sonnet-4-6", Product.CHAT, 0, False, 1).modifiers
    1
    """

    user_id: str
    seat_type: str
    model: str
    product: Product
    price_version: int
    in_tier: bool
    modifiers: int
    failed: bool = False


class UsageCounts(NamedTuple):
    """The requests of a bucket and their six token counts, summed.

    >>> UsageCounts(1, 1_000, 200, 0, 0, 0, 0) + UsageCounts(2, 500, 0, 0, 0, 8_000, 1)
    UsageCounts(requests=3, input_tokens=1500, output_tokens=200, cache_write_5m_tokens=0, \
cache_write_1h_tokens=0, cache_read_tokens=8000, web_search_requests=1)
    """

    requests: int
    input_tokens: int
    output_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    web_search_requests: int

    def __add__(self, other: object) -> UsageCounts:
        if not isinstance(other, UsageCounts):
            return NotImplemented
        return UsageCounts(*(mine + theirs for mine, theirs in zip(self, other, strict=True)))


_PRODUCTS = {product.value: product for product in Product}


def _key(row: Iterable[Any]) -> UsageKey:
    user_id, seat_type, model, product, version, in_tier, modifiers, failed = row
    found = _PRODUCTS.get(product) if isinstance(product, str) else None
    if not (
        found is not None
        and type(user_id) is type(seat_type) is type(model) is str
        and user_id
        and seat_type
        and model
        and type(version) is int
        and version >= 0
        and type(modifiers) is int
        and 0 <= modifiers < 8
    ):
        _check_key(user_id, seat_type, model, product, version, modifiers)
    if type(row) is UsageKey and found is product and type(in_tier) is type(failed) is bool:
        return row
    return UsageKey(
        user_id,
        seat_type,
        model,
        found,  # type: ignore[arg-type]  # checked above
        version,
        bool(in_tier),
        modifiers,
        bool(failed),
    )


def _check_key(  # noqa: PLR0917
    user_id: object,
    seat_type: object,
    model: object,
    product: object,
    version: object,
    modifiers: object,
) -> None:
    if not isinstance(product, str) or product not in _PRODUCTS:
        raise InvalidValueError("product", product, f"must be one of {sorted(_PRODUCTS)}")
    for name, value in (("user_id", user_id), ("seat_type", seat_type), ("model", model)):
        if type(value) is not str or not value:
            raise InvalidValueError(name, value, "must be a non-empty string")
    if type(version) is not int or version < 0:
        raise InvalidValueError("price_version", version, "must be a non-negative int")
    raise InvalidValueError("modifiers", modifiers, "must be modifier bits from 0 to 7")


def _counts(values: Iterable[Any]) -> UsageCounts:
    counts = values if type(values) is UsageCounts else UsageCounts(*values)
    r, a, b, c, d, e, f = counts
    # Seven exact ints (no bool, no float), none negative: one OR is negative if any count is.
    if (
        type(r) is type(a) is type(b) is type(c) is type(d) is type(e) is type(f) is int
        and (r | a | b | c | d | e | f) >= 0
    ):
        return counts
    for name, count in zip(UsageCounts._fields, counts, strict=True):
        if type(count) is not int or count < 0:
            raise InvalidValueError(name, count, "must be a non-negative int")
    return counts  # pragma: no cover  (one of the counts failed above)


def _buckets(value: Mapping[UsageKey, UsageCounts]) -> FrozenDict[UsageKey, UsageCounts]:
    buckets = {_key(key): _counts(counts) for key, counts in value.items()}
    # An empty bucket bills nothing and would only make equal cubes differ.
    if all(counts.requests for counts in buckets.values()):
        return FrozenDict(buckets)
    return FrozenDict({key: counts for key, counts in buckets.items() if counts.requests})


def _count(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise InvalidValueError(attribute.name, value, "must be a non-negative int")


def _ids(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise InvalidValueError("conflicts", value, "must be a collection of event ids")
    return frozenset(value)


@attrs.frozen
class UsageCube:
    """A month's usage of one organization per bucket, and what was not billed (module docs).

    ``price_table`` is the version of the table that chose each event's price
    version and tier: the cube is priced with that table.

    >>> from usagebill.periods import BillingPeriod
    >>> october = BillingPeriod.of("2026-10")
    >>> key = UsageKey("ada", "chat", "claude-sonnet-4-6", Product.CHAT, 0, False, 0)
    >>> part = UsageCube("acme", october, "claude-2026-11-25",
    ...                  {key: UsageCounts(2, 3_000, 500, 0, 0, 0, 0)}, duplicates=1)
    >>> whole = part.merge(attrs.evolve(part, duplicates=0, excluded=4))
    >>> whole.buckets[key].input_tokens, whole.events, whole.duplicates, whole.excluded
    (6000, 4, 1, 4)
    """

    organization: str
    period: BillingPeriod
    price_table: str
    buckets: FrozenDict[UsageKey, UsageCounts] = attrs.field(factory=FrozenDict, converter=_buckets)
    duplicates: int = attrs.field(default=0, validator=_count)
    excluded: int = attrs.field(default=0, validator=_count)
    conflicts: frozenset[str] = attrs.field(default=frozenset(), converter=_ids)
    conflicting: int = attrs.field(default=0, validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.conflicting < 2 * len(self.conflicts) or (self.conflicting and not self.conflicts):
            raise InvalidValueError(
                "conflicting",
                self.conflicting,
                f"must count every event (two at least each) of the {len(self.conflicts)} "
                "conflicting ids",
            )

    @classmethod
    def from_rows(
        cls,
        organization: str,
        period: BillingPeriod,
        price_table: str,
        rows: Iterable[Iterable[Any]],
        *,
        duplicates: int = 0,
        excluded: int = 0,
        conflicts: Iterable[str] = (),
        conflicting: int = 0,
    ) -> UsageCube:
        """A cube from the rows of a GROUP BY: the eight key columns, then the seven counts.

        Rows with the same key add up, so partial aggregates may be passed as they are.
        """
        buckets: dict[UsageKey, UsageCounts] = {}
        for row in rows:
            values = tuple(row)
            if len(values) != 15:
                raise InvalidValueError("row", values, "must have 8 key and 7 count columns")
            key, counts = UsageKey(*values[:8]), UsageCounts(*values[8:])
            found = buckets.get(key)
            buckets[key] = counts if found is None else found + counts  # checked by the cube
        return cls(
            organization,
            period,
            price_table,
            buckets,
            duplicates=duplicates,
            excluded=excluded,
            conflicts=conflicts,
            conflicting=conflicting,
        )

    @property
    def events(self) -> int:
        """How many distinct events are billed."""
        return sum(counts.requests for counts in self.buckets.values())

    def merge(self, other: UsageCube) -> UsageCube:
        """The cube of both parts: counts add, conflicts join (parts hold different event ids)."""
        if not isinstance(other, UsageCube):
            raise InvalidValueError("other", other, "must be a UsageCube")
        mine = (self.organization, self.period, self.price_table)
        if (other.organization, other.period, other.price_table) != mine:
            raise InvalidValueError(
                "other",
                (other.organization, other.period.label, other.price_table),
                f"must be a cube of the same organization, period and prices as {mine[0]!r}, "
                f"{mine[1].label}, {mine[2]!r}",
            )
        buckets = dict(self.buckets)
        for key, counts in other.buckets.items():
            found = buckets.get(key)
            buckets[key] = counts if found is None else found + counts
        return UsageCube(
            self.organization,
            self.period,
            self.price_table,
            buckets,
            duplicates=self.duplicates + other.duplicates,
            excluded=self.excluded + other.excluded,
            conflicts=self.conflicts | other.conflicts,
            conflicting=self.conflicting + other.conflicting,
        )

    __add__ = merge

    def rows(self) -> list[tuple[Any, ...]]:
        """The buckets as rows (key columns, then counts), sorted: for tables and files."""
        return sorted(
            (*key, *counts)
            for key, counts in self.buckets.items()  # product is a str enum: sorts by value
        )
