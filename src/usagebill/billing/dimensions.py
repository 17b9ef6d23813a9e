"""How a table engine buckets events: integer work in the engine, seats and prices in Python.

An engine that runs SQL (DuckDB, a ledger's store) or dataframes (Dask)
should not join every event with the seat history and the price table. It
groups its events instead by what can change their bucket — user, model,
product, modifiers, and three integers computed per event with plain
comparisons:

* the **segment**: ``0`` before the period, ``-1`` after it, and inside it one
  more than the number of the model's :func:`price_changes` at or before the
  event;
* the **seat span**: for the few members whose seat changes inside the period,
  the start of the seat span the event falls in (:func:`seat_spans`); for the
  others, nothing;
* the **tier flags**: for each of :func:`tier_thresholds`, whether the event's
  prompt is above it (always false for the models without such a tier: :func:`tier_models`).

Within such a group the seat and the price version are the same for every
event, so one instant of the group (its earliest) picks them, here, in
Python, with the very look-ups of the pure engine: :func:`cube_from_groups`
turns the engine's few thousand groups into a
:class:`~usagebill.billing.cube.UsageCube`. Instants are integer microseconds
since the Unix epoch, UTC, so that every engine compares them alike.
"""

from __future__ import annotations

import glob
import gzip
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

import attrs

from usagebill._checks import COUNT, MAX_COUNT, TOO_MANY
from usagebill._documents import json_line
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatTimeline
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.errors import InvalidValueError, LoadError, UsageBillError, short_repr
from usagebill.events import FAILED
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.usage import FailurePolicy, Modifiers, Product, TokenUsage

__all__ = [
    "EVENT_COLUMNS",
    "MODIFIER_COLUMNS",
    "PRODUCTS",
    "SOURCE_FORMATS",
    "TOKEN_COLUMNS",
    "EventGroup",
    "billed_columns",
    "cube_from_groups",
    "epoch_us",
    "instant",
    "price_changes",
    "record_of_row",
    "seat_spans",
    "source_format",
    "tier_models",
    "tier_thresholds",
    "unreadable_source",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_END: Final = datetime.max.replace(tzinfo=UTC)
TOKEN_COLUMNS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
)
"""The six counts, as columns of a table of events (and keys of ``usage`` in JSON)."""
MODIFIER_COLUMNS: Final = ("batch", "us_only", "fast")
"""The modifiers, as boolean columns (bits 1, 2 and 4)."""
EVENT_COLUMNS: Final = ("event_id", "user_id", "model", "product", "at")
"""The columns every table of events has; the counts and modifiers may be left out."""
PRODUCTS: Final = tuple(product.value for product in Product)
_PRODUCTS: Final = {product.value: product for product in Product}
_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))


SOURCE_FORMATS: Final = {
    ".jsonl": "json",
    ".ndjson": "json",
    ".jsonl.gz": "json",
    ".ndjson.gz": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}
"""File name endings and the format of the events in them."""


def source_format(path: str | Path) -> str:
    """``json``, ``parquet`` or ``csv``, from the file name's ending; an error otherwise."""
    name = str(path).lower()
    for suffix in sorted(SOURCE_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return SOURCE_FORMATS[suffix]
    raise InvalidValueError(
        "events",
        Path(str(path)).name,  # the ending shows, however long the path
        f"must end in one of {sorted(SOURCE_FORMATS)} (the format comes from it)",
    )


def unreadable_source(paths: Sequence[str] | None, error: Exception) -> LoadError:
    """An engine's refusal of its files, pinned to the ``file:line`` the strict reader refuses.

    A table engine names a byte offset at best, or nothing; the pure engine's
    reader, run over the JSON Lines files only once the engine has refused them,
    says which line and what is wrong. Otherwise the engine's own words.
    """
    files = {found for path in paths or () for found in glob.glob(path)}  # noqa: PTH207  (absolute)
    for name in sorted(files):
        if source_format(name) == "json":
            with (gzip.open if name.endswith(".gz") else open)(name, "rb") as lines:
                for number, line in enumerate(lines, start=1):
                    try:
                        if line.strip():
                            json_line(line)
                    except UsageBillError as problem:
                        return LoadError(f"{name}:{number}", [("line", str(problem))])
    where = ", ".join(paths) if paths else "events"
    return LoadError(where, [("events", str(error).strip()[:300])])


def record_of_row(row: Mapping[str, object]) -> dict[str, object]:
    """The JSON form of an event (as :func:`usagebill.events.parse_record` reads it) of a table row.

    Empty or missing counts are 0, empty or missing modifiers false; text
    cells (CSV) are read strictly; a timestamp is written in ISO 8601. What
    is wrong is left for the strict parser to name.
    """
    usage = {name: _cell_count(row[name], name) for name in TOKEN_COLUMNS if name in row}
    flags = {name: _cell_flag(row[name], name) for name in MODIFIER_COLUMNS if name in row}
    record: dict[str, object] = {name: row[name] for name in EVENT_COLUMNS if name in row}
    if "at" in record:
        stamp = record["at"]
        record["at"] = stamp.isoformat() if isinstance(stamp, datetime) else _blank(stamp)
    record["usage"] = {name: count for name, count in usage.items() if count != 0}
    if any(flags.values()):
        record["modifiers"] = {name: True for name, on in flags.items() if on}
    if "failed" in row and _cell_flag(row["failed"], "failed"):
        record["failed"] = True
    return record


def _blank(value: object) -> object:
    """None for an empty cell: ``None``, NaN or NaT (a value unequal to itself)."""
    return None if value is None or value != value else value  # noqa: PLR0124


_COUNT_DIGITS: Final = len(str(MAX_COUNT))


def _cell_count(value: object, name: str) -> object:
    value = _blank(value)
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        # ASCII digits only: str.isdigit() also says yes to "²" (which int() refuses) and "٣".
        if not (value.isascii() and value.isdigit()):
            raise InvalidValueError(f"usage.{name}", value, COUNT)
        if len(value) > _COUNT_DIGITS:  # int() refuses 4,300 digits; a count has at most 19
            raise InvalidValueError(f"usage.{name}", value, TOO_MANY)
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value) is not int and hasattr(value, "__index__"):  # a numpy integer
        return int(value)
    return value  # the strict parser refuses what is not an int


def _cell_flag(value: object, name: str) -> bool:
    value = _blank(value)
    if value is None or value == "":
        return False
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false", "1", "0"):
            return lowered in ("true", "1")
    elif isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    where = name if name == "failed" else f"modifiers.{name}"
    raise InvalidValueError(where, value, "must be true or false")


def epoch_us(at: datetime) -> int:
    """An aware instant as integer microseconds since the Unix epoch."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def instant(at_us: int) -> datetime:
    """The aware instant (UTC) of ``at_us`` microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=at_us)


def price_changes(period: BillingPeriod, prices: PriceTable) -> dict[str, list[int]]:
    """For each model name (id or alias) whose price changes inside the period, the instants."""
    start, end = epoch_us(period.start), epoch_us(period.end)
    changes = {}
    for model_id, listing in prices.models.items():
        inside = sorted(
            epoch_us(price.effective_from)
            for price in listing.prices
            if price.effective_from is not None and start < epoch_us(price.effective_from) < end
        )
        if inside:
            changes.update(dict.fromkeys((model_id, *listing.aliases), inside))
    return changes


def seat_spans(org: Organization, period: BillingPeriod) -> list[tuple[str, int, int]]:
    """``(user_id, from, to)`` spans of the members whose seat changes inside the period.

    An event of such a member falls in one span; its start splits the
    member's events by the seat they held.
    """
    start, end = epoch_us(period.start), epoch_us(period.end)
    changes: dict[str, list[int]] = {}
    for change in org.seat_history:
        changes.setdefault(change.user_id, []).append(epoch_us(change.at))
    spans = []
    for user_id, times in sorted(changes.items()):
        if any(start < at < end for at in times):
            bounds = [-(2**63), *times, 2**63 - 1]
            spans += [(user_id, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    return spans


def billed_columns(policy: FailurePolicy) -> tuple[bool, ...]:
    """For each of the six counts, whether ``policy`` bills it of a request that failed."""
    return tuple(bool(count) for count in attrs.astuple(policy.billable(TokenUsage(*[1] * 6))))


def tier_thresholds(prices: PriceTable) -> list[int]:
    """Every context tier's threshold, sorted: one flag per event and threshold."""
    return sorted(
        {
            tier.above_prompt_tokens
            for listing in prices.models.values()
            for price in listing.prices
            for tier in (price.long_context, price.fast_long_context)
            if tier is not None
        }
    )


def tier_models(prices: PriceTable) -> dict[int, list[str]]:
    """For each of :func:`tier_thresholds`, the model names (ids and aliases) with such a tier.

    An engine need only flag the prompts of these models against that threshold:
    for any other model the flag is never read, and a constant keeps groups whole.
    """
    names: dict[int, set[str]] = {threshold: set() for threshold in tier_thresholds(prices)}
    for model_id, listing in prices.models.items():
        for price in listing.prices:
            for tier in (price.long_context, price.fast_long_context):
                if tier is not None:
                    names[tier.above_prompt_tokens].update((model_id, *listing.aliases))
    return {threshold: sorted(found) for threshold, found in names.items()}


def _span(
    seats: SeatTimeline, prices: PriceTable, group: EventGroup, at: datetime
) -> tuple[datetime, datetime, tuple[str, str, int, Any]]:
    """The seat and price of ``group`` at ``at``, and the span of instants they hold for."""
    seat_type, held_from, held_to = seats.held_at(group.user_id, at)
    model_id = prices.resolve(group.model)
    listing = prices.models[model_id]
    version = listing.version_at(at)
    price = listing.prices[version]
    if group.modifiers & 7:  # refuse a modifier the model does not offer
        price.compiled(_MODIFIERS[group.modifiers & 7], False)  # noqa: FBT003
    following = listing.prices[version + 1 :]
    lo = max(held_from, price.effective_from or held_from)
    hi = min(held_to or _END, (following[0].effective_from if following else None) or _END)
    context_tier = price.tier(fast=bool(group.modifiers & 4))  # each mode has its own tier
    tier = None if context_tier is None else context_tier.above_prompt_tokens
    return lo, hi, (seat_type, model_id, version, tier)


class EventGroup(NamedTuple):
    """Events an engine summed together: same user, model, product, modifiers, segment, flags.

    ``at_us`` is an instant of the group (its earliest), ``tiers`` the flags in
    the order of :func:`tier_thresholds`, ``counts`` the request count and the
    six token sums — of a failed request, what the organization's failure
    policy bills (:func:`billed_columns`).

    >>> group = EventGroup("ada", "claude-haiku-4-5", "chat", 0, epoch_us(datetime(2026, 10, 2,
    ...                    tzinfo=UTC)), (False,), (2, 3_000, 100, 0, 0, 0, 0))
    >>> instant(group.at_us)
    datetime.datetime(2026, 10, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """

    user_id: str
    model: str
    product: str
    modifiers: int  # the modifiers' bits, plus usagebill.events.FAILED (8) if it failed
    at_us: int
    tiers: Sequence[bool]
    counts: Sequence[int]


def cube_from_groups(
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    groups: Iterable[EventGroup],
    *,
    duplicates: int = 0,
    excluded: int = 0,
    conflicts: Iterable[str] = (),
    conflicting: int = 0,
    first_event: Callable[[EventGroup], str] | None = None,
) -> UsageCube:
    """The cube of an engine's groups of billed events (all inside the period).

    A group that cannot be billed (unknown member or model, no seat held, a
    modifier the model does not offer) raises the pure engine's error, noted
    with the id ``first_event`` gives for the group.
    """
    seats = SeatTimeline(org.seat_history)
    thresholds = {threshold: position for position, threshold in enumerate(tier_thresholds(prices))}
    start, end = epoch_us(period.start), epoch_us(period.end)
    # (user, model, modifiers) -> the spans [from, to) of epoch microseconds that share a seat
    # and a price, each with (seat type, model id, version, the position of its tier's flag).
    spans: dict[tuple[str, str, int], list[tuple[int, int, tuple[str, str, int, int | None]]]]
    spans = {}
    sums: dict[tuple[Any, ...], list[int]] = {}
    for group in groups:
        user_id, model, product, modifiers, at_us, tiers, counts = group
        if not start <= at_us < end:
            raise InvalidValueError("at", instant(at_us), f"must fall in the period {period}")
        known = spans.get((user_id, model, modifiers))
        if known is None:
            known = spans[user_id, model, modifiers] = []
        for low, high, found in known:  # noqa: B007  (found: used after the break)
            if low <= at_us < high:
                break
        else:
            try:
                lo, hi, (seat_type, model_id, version, tier) = _span(
                    seats, prices, group, instant(at_us)
                )
            except UsageBillError as error:
                if first_event is not None:
                    error.add_note(f"in usage event {short_repr(first_event(group))}")
                raise
            found = (seat_type, model_id, version, None if tier is None else thresholds[tier])
            known.append((epoch_us(lo), epoch_us(hi), found))
        seat_type, model_id, version, flag = found
        key = (
            user_id,
            seat_type,
            model_id,
            product,
            version,
            flag is not None and tiers[flag],
            modifiers & 7,
            bool(modifiers & FAILED),
        )
        bucket = sums.get(key)
        if bucket is None:
            sums[key] = list(counts)
        else:
            for position, count in enumerate(counts):
                bucket[position] += count
    buckets = {
        UsageKey(user_id, seat_type, model_id, _PRODUCTS[product], *rest): UsageCounts(*counts)
        for (user_id, seat_type, model_id, product, *rest), counts in sums.items()
    }
    return UsageCube(
        org.name,
        period,
        prices.version,
        buckets,
        duplicates=duplicates,
        excluded=excluded,
        conflicts=conflicts,
        conflicting=conflicting,
    )
