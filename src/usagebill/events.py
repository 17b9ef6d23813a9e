"""Usage events: one model request by one member, as the invoice and the ledgers see it.

Events arrive as :class:`UsageEvent` values or as the dicts of a JSON Lines file
(one event per line)::

    {"event_id": "evt-1", "user_id": "ada", "model": "claude-sonnet-4-6",
     "product": "chat", "at": "2026-10-03T09:15:00Z",
     "usage": {"input_tokens": 1200, "output_tokens": 350, "cache_read_tokens": 8000},
     "modifiers": {"batch": false, "us_only": false, "fast": false}}

``usage`` takes the fields of :class:`~usagebill.usage.TokenUsage` (absent
counts are zero); ``modifiers`` is optional; ``"failed": true`` marks a request
that failed after it started (billed by the organization's
:class:`~usagebill.usage.FailurePolicy`). Loading is strict: unknown keys,
a string where a count belongs, a timestamp without a UTC offset are errors
that name the event.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from usagebill._checks import (
    MAX_COUNT,
    TEXT,
    aware,
    count_rule,
    flag,
    instance_of,
    instant,
    non_empty_str,
)
from usagebill.errors import ConflictError, InvalidValueError
from usagebill.usage import FailurePolicy, Modifiers, Product, TokenUsage

__all__ = ["FAILED", "UsageEvent", "deduplicated", "deduplicated_between"]

_USAGE_FIELDS: Final = tuple(field.name for field in attrs.fields(TokenUsage))
_EVENT_KEYS: Final = frozenset(
    {"event_id", "user_id", "model", "product", "at", "usage", "modifiers", "failed"}
)
_MODIFIER_FIELDS: Final = tuple(field.name for field in attrs.fields(Modifiers))
_MODIFIER_KEYS: Final = frozenset(_MODIFIER_FIELDS)
# Each modifier's bit, read off Modifiers.bits once: batch 1, us_only 2, fast 4.
_MODIFIER_BITS: Final = tuple((name, Modifiers(**{name: True}).bits) for name in _MODIFIER_FIELDS)
_PRODUCTS: Final = {product.value: product for product in Product}
FAILED: Final = 8
"""The bit of a :data:`Record`'s flags that marks a request failed after it started."""


def _product(value: object) -> Product:
    try:
        return _PRODUCTS[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise InvalidValueError("product", value, f"must be one of {sorted(_PRODUCTS)}") from None


@attrs.frozen
class UsageEvent:
    """One request: who made it, with which model and product, what it used, and when.

    ``failed`` marks a request that failed after it started (a timeout, a
    cancelled stream): its ``usage`` is what is known of it, and the
    organization's :class:`~usagebill.usage.FailurePolicy` says what is billed.

    >>> from datetime import datetime, UTC
    >>> event = UsageEvent("evt-1", "ada", "claude-sonnet-4-6", Product.CHAT,
    ...                    TokenUsage(input_tokens=1200), datetime(2026, 10, 3, tzinfo=UTC))
    >>> UsageEvent.from_dict(event.to_dict()) == event
    True
    """

    event_id: str = attrs.field(validator=non_empty_str)
    user_id: str = attrs.field(validator=non_empty_str)
    model: str = attrs.field(validator=non_empty_str)
    product: Product = attrs.field(converter=_product)
    usage: TokenUsage = attrs.field(validator=instance_of(TokenUsage))
    at: datetime = attrs.field(validator=aware)
    modifiers: Modifiers = attrs.field(factory=Modifiers, validator=instance_of(Modifiers))
    failed: bool = attrs.field(default=False, validator=flag)

    @classmethod
    def from_dict(cls, data: object) -> UsageEvent:
        """Read one event from its JSON dict form, strictly (see the module docs)."""
        event_id, user_id, model, product, counts, at, bits = parse_record(data)
        return cls(
            event_id,
            user_id,
            model,
            product,
            TokenUsage(*counts),
            at,
            Modifiers.from_bits(bits & ~FAILED),
            failed=bool(bits & FAILED),
        )

    def billed_usage(self, policy: FailurePolicy) -> TokenUsage:
        """What is billed of this event: all its usage, or what ``policy`` bills if it failed."""
        return policy.billable(self.usage) if self.failed else self.usage

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict form (zero counts and unset modifiers left out)."""
        usage = {
            name: count
            for name, count in zip(_USAGE_FIELDS, attrs.astuple(self.usage), strict=True)
            if count
        }
        modifiers = {name: True for name, on in attrs.asdict(self.modifiers).items() if on}
        data: dict[str, Any] = {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "model": self.model,
            "product": self.product.value,
            "at": self.at.isoformat(),
            "usage": usage,
        }
        if modifiers:
            data["modifiers"] = modifiers
        if self.failed:
            data["failed"] = True
        return data


def deduplicated(events: Iterable[UsageEvent]) -> Iterator[UsageEvent]:
    """Each event once, in the order given: a repeat is skipped, a conflict raises.

    The same id with other content is a :class:`~usagebill.errors.ConflictError`
    (the same instant written with another UTC offset is the same content).
    """
    seen: dict[str, UsageEvent] = {}
    for event in events:
        first = seen.get(event.event_id)
        if first is None:
            seen[event.event_id] = event
            yield event
        elif first != event:
            raise ConflictError(
                "event_id", event.event_id, "was seen before with different content"
            )


def deduplicated_between(
    events: Iterable[UsageEvent],
    start: datetime,
    end: datetime,
    *,
    members: Container[str] | None = None,
) -> list[UsageEvent]:
    """Each event once (see :func:`deduplicated`), in ``[start, end)``, in time order (then id).

    What a replay of a period reads: a month's events as they happened. With
    ``members``, only those members' events are kept.
    """
    kept = [
        event
        for event in deduplicated(events)
        if (members is None or event.user_id in members) and start <= event.at < end
    ]
    kept.sort(key=lambda event: (event.at, event.event_id))
    return kept


Record = tuple[str, str, str, Product, tuple[int, ...], datetime, int]
"""An event as plain values: id, user, model, product, counts, instant, flag bits.

The flags are the modifiers' bits (:attr:`Modifiers.bits <usagebill.usage.Modifiers.bits>`),
plus :data:`FAILED` for a request that failed after it started.
"""


def record_of(event: UsageEvent) -> Record:
    """An event as plain values (see :data:`Record`)."""
    return (
        event.event_id,
        event.user_id,
        event.model,
        event.product,
        attrs.astuple(event.usage),
        event.at,
        event.modifiers.bits | FAILED * event.failed,
    )


def parse_record(data: object) -> Record:
    """Check one event dict strictly and return its plain values: the fast path for files."""
    if type(data) is not dict and not isinstance(data, Mapping):  # dict first: it is fast
        raise InvalidValueError("event", data, "must be a JSON object")
    keys = data.keys()
    if not keys <= _EVENT_KEYS:
        raise InvalidValueError("event", sorted(keys - _EVENT_KEYS, key=repr), _UNKNOWN_EVENT_KEYS)
    try:
        event_id = data["event_id"]
        user_id = data["user_id"]
        model = data["model"]
        product = _PRODUCTS.get(data["product"])
        usage = data["usage"]
        stamp = data["at"]
    except KeyError as missing:
        raise InvalidValueError("event", str(missing).strip("'"), "needs this key") from None
    except TypeError:
        product = None  # an unhashable value (a list, a dict) is no product name either
    if product is None:
        raise InvalidValueError("product", data["product"], f"must be one of {sorted(_PRODUCTS)}")
    # _checks.non_empty_str inlined, three at once: the hot path of reading files.
    if not (
        type(event_id) is type(user_id) is type(model) is str and event_id and user_id and model
    ):
        for name, value in (("event_id", event_id), ("user_id", user_id), ("model", model)):
            if type(value) is not str or not value:
                raise InvalidValueError(name, value, TEXT)
    bits = _bits(data.get("modifiers"))
    failed = data.get("failed", False)
    if failed is not False:  # rare: no call on the common path
        bits |= _failed(failed)
    return (event_id, user_id, model, product, _counts(usage), instant(stamp), bits)


def _counts(usage: object) -> tuple[int, ...]:
    if type(usage) is not dict and not isinstance(usage, Mapping):
        raise InvalidValueError("usage", usage, "must be a JSON object of token counts")
    if not usage.keys() <= _USAGE_FIELDS_SET:
        unknown = sorted(set(usage) - _USAGE_FIELDS_SET, key=repr)
        raise InvalidValueError("usage", unknown, _UNKNOWN_USAGE_KEYS)
    counts = tuple(map(usage.get, _USAGE_FIELDS, _ZEROS))
    a, b, c, d, e, f = counts
    # _checks.non_negative_int inlined, six at once (the hot path of reading files). All exact ints
    # (a bool or a float is not a count), none negative: one OR is negative if any count is, and
    # above MAX_COUNT (all ones in binary) if any count is.
    # Only when that fails, look for the culprit.
    if (
        not (type(a) is type(b) is type(c) is type(d) is type(e) is type(f) is int)
        or not 0 <= (a | b | c | d | e | f) <= MAX_COUNT
    ):
        for name, count in zip(_USAGE_FIELDS, counts, strict=True):
            if type(count) is not int or not 0 <= count <= MAX_COUNT:
                raise InvalidValueError(f"usage.{name}", count, count_rule(count))
    return counts


_ZEROS: Final = (0,) * len(_USAGE_FIELDS)
_UNKNOWN_EVENT_KEYS: Final = f"has unknown keys (known: {', '.join(sorted(_EVENT_KEYS))})"
_UNKNOWN_USAGE_KEYS: Final = f"has unknown keys (known: {', '.join(_USAGE_FIELDS)})"


_USAGE_FIELDS_SET: Final = frozenset(_USAGE_FIELDS)


def _failed(value: object) -> int:
    if type(value) is not bool:
        raise InvalidValueError("failed", value, "must be true or false")
    return FAILED * value


def _bits(modifiers: object) -> int:
    if modifiers is None:
        return 0
    if not isinstance(modifiers, Mapping) or not modifiers.keys() <= _MODIFIER_KEYS:
        raise InvalidValueError("modifiers", modifiers, f"must use only {sorted(_MODIFIER_KEYS)}")
    bits = 0
    for name, bit in _MODIFIER_BITS:
        on = modifiers.get(name, False)
        if type(on) is not bool:
            raise InvalidValueError(f"modifiers.{name}", on, "must be true or false")
        bits |= bit * on
    return bits
