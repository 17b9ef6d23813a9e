"""The pure-Python engine: events to a usage cube in one pass, any order, with little memory.

The reference every other engine is checked against, and the one for months
that fit a process. Two things keep it fast and lean:

* **A digest per event id, not the event.** To tell a repeat from a conflict
  the engine keeps, per distinct id, a 60-bit digest of the event's content
  (and how often it came): about 70 bytes besides the id string, whatever
  the event holds. Two versions of an id are told apart unless their digests
  collide (a chance of 2**-60).
* **Each event's bucket is remembered per (user, model, product, modifiers)**
  with the span of instants over which the member's seat and the model's
  price stay the same: most events need no seat or price look-up at all.

The digest is all it keeps of a counted event, so when an id turns out to be
a conflict (another version arrives) the version already counted cannot be
taken back out at once: the id waits in :attr:`CubeBuilder.pending` until a
second pass over the same events (:meth:`CubeBuilder.resolve`) finds that
version again by its digest. The same holds for an event counted by two
builders that are merged. Conflicts are rare; :func:`usagebill.build_invoice`
and the command line make the second pass themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, Self

import attrs

from usagebill._checks import MAX_COUNT
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatTimeline
from usagebill.billing.cube import UsageCounts, UsageCube, UsageKey
from usagebill.errors import ConflictError, InvalidValueError, UsageBillError, short_repr
from usagebill.events import FAILED, UsageEvent, parse_record
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = ["CubeBuilder", "Outside"]

Outside = Literal["exclude", "reject"]

_MASK: Final = (1 << 60) - 1
"""Digests are ``hash(...) % _MASK``: below it, so ``-1 & _MASK`` is never one."""
_ONE: Final = 1 << 60
"""One more sighting of an id, counted above its digest in the same int."""
_CONFLICT: Final = -1
"""The mark of an id seen with different contents."""
_NO_TIER: Final = 1 << 256
"""The threshold of a price without a context tier: no prompt is above it."""
_USAGE_KEYS: Final = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
        "web_search_requests",
    }
)
_PRODUCTS: Final = {product.value: product for product in Product}
_MODIFIERS: Final = tuple(Modifiers.from_bits(bits) for bits in range(8))
_MODIFIER_BITS: Final = 7
"""The modifiers' bits among an event's flags (:data:`usagebill.events.FAILED` is 8)."""
_FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_parse_instant = datetime.fromisoformat


def _code(user_id: str, model: str, product: str, bits: int) -> int:
    """A digest of the strings of an event, the same in every process (``hash(str)`` is not)."""
    text = f"{user_id}\x1f{model}\x1f{product}\x1f{bits}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _digest(code: int, counts: tuple[int, ...], at: datetime) -> int:
    # The instant as its distance from the epoch: the same value, hashed far faster than an
    # aware datetime (which normalizes its offset on every hash).
    return hash((code, *counts, at - _EPOCH)) % _MASK


# Builders made by different interpreters may digest differently: they must not merge.
_SCHEME: Final = _digest(
    _code("u", "m", "p", 0), (1, 2, 3, 4, 5, 6), datetime(2000, 1, 1, tzinfo=UTC)
)


class CubeBuilder:
    """Sums usage events into a :class:`~usagebill.billing.cube.UsageCube`: add, merge, cube.

    ``outside="reject"`` makes an event outside the period an error instead of
    a count; ``dedupe=False`` skips the memory of event ids, for sources that
    already guarantee each event once (a ledger, a table with a unique key).
    An event that cannot be billed (unknown member or model, no seat held, a
    modifier the model does not offer) raises a typed error naming it, and
    nothing of it is kept.

    >>> from usagebill import Member, Money, Organization, SeatCatalog, TokenUsage
    >>> org = Organization.create(
    ...     "acme", SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
    ...     [Member("ada", "primary_owner", "chat")], at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> event = UsageEvent("e1", "ada", "claude-haiku-4-5", Product.CHAT,
    ...                    TokenUsage(input_tokens=1_000), datetime(2026, 10, 2, tzinfo=UTC))
    >>> cube = CubeBuilder(org, BillingPeriod.of("2026-10")).add_all([event, event]).cube()
    >>> cube.events, cube.duplicates
    (1, 1)
    """

    def __init__(
        self,
        org: Organization,
        period: BillingPeriod,
        prices: PriceTable | None = None,
        *,
        outside: Outside = "exclude",
        dedupe: bool = True,
    ) -> None:
        if outside not in ("exclude", "reject"):
            raise InvalidValueError("outside", outside, "must be 'exclude' or 'reject'")
        self.org = org
        self.period = period
        self.prices = prices if prices is not None else PriceTable.builtin()
        if self.prices.currency != org.currency:
            raise InvalidValueError(
                "prices", self.prices.version, f"must be in {org.currency} like the organization"
            )
        self._reject_outside = outside == "reject"
        self._start = period.start.astimezone(UTC)
        self._end = period.end.astimezone(UTC)
        self._seats = SeatTimeline(org.seat_history)
        self._scheme = _SCHEME
        # id -> digest, plus (sightings - 1) << 60; or _CONFLICT.
        self._seen: dict[str, int] | None = {} if dedupe else None
        # (user, model, product, bits) -> its entry (see _new_context)
        self._contexts: dict[tuple[Any, ...], list[Any]] = {}
        self._buckets: dict[tuple[Any, ...], list[int]] = {}
        self._pending: dict[str, list[int]] = {}  # id -> digests of versions to take back out
        self._conflicts: set[str] = set()
        self.duplicates = 0
        self.excluded = 0
        self.conflicting = 0

    # --- what it holds ------------------------------------------------------------------------

    @property
    def events(self) -> int:
        """How many distinct events are counted in the buckets so far."""
        return sum(bucket[0] for bucket in self._buckets.values())

    @property
    def conflicts(self) -> frozenset[str]:
        """The ids seen with different contents so far: none of their versions is billed."""
        return frozenset(self._conflicts)

    @property
    def pending(self) -> frozenset[str]:
        """Ids with a counted version to take back out by a second pass (:meth:`resolve`)."""
        return frozenset(self._pending)

    # --- adding -------------------------------------------------------------------------------

    def add(self, event: UsageEvent) -> None:
        """Count one event."""
        self._count(
            event.event_id,
            event.user_id,
            event.model,
            event.product,
            *event.usage.counts,
            event.at,
            event.modifiers.bits | FAILED * event.failed,
        )

    def add_all(self, events: Iterable[UsageEvent]) -> Self:
        """Count every event of ``events``; returns the builder."""
        for event in events:
            self.add(event)
        return self

    def add_record(self, data: Mapping[str, Any]) -> None:  # noqa: C901, PLR0912, PLR0915
        """Count one event given as its JSON dict (the fast path for files), checked strictly.

        The common case — a plain dict of string fields, int counts and an aware
        instant — is read and counted here, in one call: :meth:`_count` inlined
        (the hot path of reading files; keep the two alike). Anything unusual goes
        the strict way, which says exactly what is wrong.
        """
        try:
            event_id = data["event_id"]
            user_id = data["user_id"]
            model = data["model"]
            product = data["product"]
            usage = data["usage"]
            stamp = data["at"]
            size = len(data)
            if size == 6:
                bits = 0
            elif size == 7 and "modifiers" in data:
                modifiers = data["modifiers"]
                bits = (
                    Modifiers.of(**modifiers).bits if type(modifiers) is dict and modifiers else -1
                )
            else:
                bits = -1
            get = usage.get
            a = get("input_tokens", 0)
            b = get("output_tokens", 0)
            c = get("cache_write_5m_tokens", 0)
            d = get("cache_write_1h_tokens", 0)
            e = get("cache_read_tokens", 0)
            f = get("web_search_requests", 0)
            at = _parse_instant(stamp)
        except (KeyError, TypeError, ValueError, AttributeError):
            bits = -1
        if (
            bits < 0
            or type(data) is not dict
            or not (
                # product too: a list there would make the set lookup below raise TypeError
                type(event_id)
                is type(user_id)
                is type(model)
                is type(stamp)
                is type(product)
                is str
                and event_id
                and user_id
                and model
            )
            or product not in _PRODUCTS
            or type(usage) is not dict
            or not usage.keys() <= _USAGE_KEYS
            or not (type(a) is type(b) is type(c) is type(d) is type(e) is type(f) is int)
            or not 0 <= (a | b | c | d | e | f) <= MAX_COUNT  # as events._counts
            or at.tzinfo is None
        ):
            event_id, user_id, model, product, counts, at, bits = parse_record(data)
            a, b, c, d, e, f = counts
            self._count(event_id, user_id, model, product, a, b, c, d, e, f, at, bits)
            return
        # _count, inlined (bits has no FAILED here: such records took the strict way).
        context = (user_id, model, product, bits)
        entry = self._contexts.get(context)
        if entry is None:
            entry = self._contexts[context] = self._new_context(context)
        seen = self._seen
        if seen is not None:
            digest = hash((entry[0], a, b, c, d, e, f, at - _EPOCH)) % _MASK  # as _digest
            before = seen.get(event_id)
            if before is not None:
                if before & _MASK == digest:
                    seen[event_id] = before + _ONE
                    self.duplicates += 1
                else:
                    self._conflict(event_id, before)
                return
        if entry[1] <= at < entry[2]:
            bucket = entry[4] if a + c + d + e > entry[5] else entry[3]
        else:
            bucket = self._locate(event_id, entry, context, at, a + c + d + e)
            if bucket is None:
                if seen is not None:
                    seen[event_id] = digest
                self.excluded += 1
                return
        if seen is not None:
            seen[event_id] = digest
        bucket[0] += 1
        bucket[1] += a
        bucket[2] += b
        if c | d | e | f:  # cache and web search counts: often all zero, each often zero
            if c:
                bucket[3] += c
            if d:
                bucket[4] += d
            if e:
                bucket[5] += e
            if f:
                bucket[6] += f

    def _count(  # noqa: PLR0917  (the hot path: plain values, no object per event)
        self,
        event_id: str,
        user_id: str,
        model: str,
        product: str,
        a: int,
        b: int,
        c: int,
        d: int,
        e: int,
        f: int,
        at: datetime,
        bits: int,
    ) -> None:
        context = (user_id, model, product, bits)
        entry = self._contexts.get(context)
        if entry is None:
            entry = self._contexts[context] = self._new_context(context)
        seen = self._seen
        if seen is not None:
            digest = hash((entry[0], a, b, c, d, e, f, at - _EPOCH)) % _MASK  # as _digest
            before = seen.get(event_id)
            if before is not None:
                if before & _MASK == digest:
                    seen[event_id] = before + _ONE
                    self.duplicates += 1
                else:
                    self._conflict(event_id, before)
                return
        if bits & FAILED:  # what the organization's failure policy bills of it
            a, b, c, d, e, f = self._billable((a, b, c, d, e, f))
        if entry[1] <= at < entry[2]:
            bucket = entry[4] if a + c + d + e > entry[5] else entry[3]
        else:
            bucket = self._locate(event_id, entry, context, at, a + c + d + e)
            if bucket is None:
                if seen is not None:
                    seen[event_id] = digest
                self.excluded += 1
                return
        if seen is not None:
            seen[event_id] = digest
        bucket[0] += 1
        bucket[1] += a
        bucket[2] += b
        bucket[3] += c
        bucket[4] += d
        bucket[5] += e
        bucket[6] += f

    def _billable(self, counts: tuple[int, ...]) -> tuple[int, ...]:
        """The counts the organization's failure policy bills of a request that failed."""
        billed: tuple[int, ...] = attrs.astuple(
            self.org.failure_policy.billable(TokenUsage(*counts))
        )
        return billed

    def _conflict(self, event_id: str, before: int) -> None:
        """Another version of ``event_id`` arrived: set every version aside."""
        self.conflicting += 1
        if before != _CONFLICT:
            self._set_aside(event_id, before)

    def _set_aside(self, event_id: str, value: int) -> None:
        """Turn one builder's count of an id (``value`` of its ``_seen``) into a conflict."""
        assert self._seen is not None  # noqa: S101  (only builders that deduplicate get here)
        if value != _CONFLICT:
            repeats = value >> 60
            self.duplicates -= repeats
            self.conflicting += repeats + 1
            self._pending.setdefault(event_id, []).append(value & _MASK)
        self._seen[event_id] = _CONFLICT
        self._conflicts.add(event_id)

    def _new_context(self, context: tuple[Any, ...]) -> list[Any]:
        """A cache entry: [code, from, to, bucket, bucket in the tier, threshold, every span]."""
        return [_code(*context), self._start, self._start, None, None, _NO_TIER, []]

    def _locate(
        self, event_id: str, entry: list[Any], context: tuple[Any, ...], at: datetime, prompt: int
    ) -> list[int] | None:
        """The bucket of an event the cached span does not cover (``None``: outside the period).

        Refreshes ``entry`` with the span of instants around ``at`` that share its bucket.
        """
        if not self._start <= at < self._end:
            if self._reject_outside:
                raise InvalidValueError(
                    f"event {short_repr(event_id)} at", at, f"must fall in the period {self.period}"
                )
            return None
        for span in entry[6]:  # a span seen before (e.g. before a price change mid-month)
            if span[0] <= at < span[1]:
                entry[1:6] = span
                known: list[int] = span[3] if prompt > span[4] else span[2]
                return known
        user_id, model, product, bits = context
        try:
            seat_type, held_from, held_to = self._seats.held_at(user_id, at)
            model_id = self.prices.resolve(model)
            listing = self.prices.models[model_id]
            version = listing.version_at(at)
            price = listing.prices[version]
            if bits & _MODIFIER_BITS:  # refuse a modifier the model lacks now, not when priced
                price.compiled(_MODIFIERS[bits & _MODIFIER_BITS], False)  # noqa: FBT003
        except UsageBillError as error:
            error.add_note(f"in usage event {short_repr(event_id)}")
            raise
        following = listing.prices[version + 1 :]
        later = following[0].effective_from if following else None
        start = max(self._start, held_from, price.effective_from or self._start)
        end = min(self._end, held_to or _FAR_FUTURE, later or _FAR_FUTURE)
        tier = price.tier(fast=bool(bits & 4))  # each mode has its own tier
        modifiers, failed = bits & _MODIFIER_BITS, bool(bits & FAILED)
        keys = [
            (user_id, seat_type, model_id, _PRODUCTS[product], version, in_tier, modifiers, failed)
            for in_tier in (False, True)
        ]
        span = (
            start,
            end,
            self._buckets.setdefault(keys[0], [0] * 7),
            self._buckets.setdefault(keys[1], [0] * 7),
            _NO_TIER if tier is None else tier.above_prompt_tokens,
        )
        entry[1:6] = span
        entry[6].append(span)
        bucket: list[int] = entry[4] if prompt > entry[5] else entry[3]
        return bucket

    # --- the second pass ----------------------------------------------------------------------

    def resolve(self, events: Iterable[UsageEvent]) -> Self:
        """Take back out the versions of :attr:`pending` ids: a second pass over the same events.

        Only the events of pending ids matter; the others are skipped at once.
        """
        for event in events:
            if event.event_id in self._pending:
                usage = event.usage
                self._take_back(
                    event.event_id,
                    (
                        event.user_id,
                        event.model,
                        event.product,
                        event.modifiers.bits | FAILED * event.failed,
                    ),
                    usage.counts,
                    event.at,
                )
        return self

    def resolve_records(self, records: Iterable[Mapping[str, Any]]) -> Self:
        """:meth:`resolve` for events given as their JSON dicts."""
        for data in records:
            if data.get("event_id") in self._pending:
                event_id, user_id, model, product, counts, at, bits = parse_record(data)
                self._take_back(event_id, (user_id, model, product, bits), counts, at)
        return self

    def _take_back(
        self, event_id: str, context: tuple[Any, ...], counts: tuple[int, ...], at: datetime
    ) -> None:
        digests = self._pending[event_id]
        digest = _digest(_code(*context), counts, at)
        if digest not in digests:
            return  # another version: it was never counted
        digests.remove(digest)
        if not digests:
            del self._pending[event_id]
        if context[3] & FAILED:
            counts = self._billable(counts)
        entry = self._contexts.get(context) or self._new_context(context)
        prompt = counts[0] + counts[2] + counts[3] + counts[4]
        if entry[1] <= at < entry[2]:
            bucket = entry[4] if prompt > entry[5] else entry[3]
        else:
            bucket = self._locate(event_id, entry, context, at, prompt)
        if bucket is None:
            self.excluded -= 1
            return
        bucket[0] -= 1
        for position, count in enumerate(counts, start=1):
            bucket[position] -= count

    # --- merging and the cube -----------------------------------------------------------------

    def merge(self, other: CubeBuilder) -> Self:
        """Add another part of the same month into this builder; returns this builder.

        An event both parts counted is counted once, and a conflict between the
        parts sets every version aside: the version(s) to take back out wait in
        :attr:`pending` for :meth:`resolve`.
        """
        self._check_mergeable(other)
        for key, counts in other._buckets.items():
            bucket = self._buckets.setdefault(key, [0] * 7)
            for position, count in enumerate(counts):
                bucket[position] += count
        self.duplicates += other.duplicates
        self.excluded += other.excluded
        self.conflicting += other.conflicting
        self._conflicts |= other._conflicts
        for event_id, digests in other._pending.items():
            self._pending.setdefault(event_id, []).extend(digests)
        if self._seen is not None and other._seen is not None:
            self._merge_seen(other._seen)
        return self

    def _merge_seen(self, theirs: dict[str, int]) -> None:
        seen = self._seen
        assert seen is not None  # noqa: S101  (checked by merge)
        for event_id, value in theirs.items():
            mine = seen.get(event_id)
            if mine is None:
                seen[event_id] = value
            elif _CONFLICT not in (mine, value) and mine & _MASK == value & _MASK:
                # The same event, counted by both parts: one count comes back out.
                seen[event_id] = mine + (value >> 60 << 60) + _ONE
                self.duplicates += 1
                self._pending.setdefault(event_id, []).append(mine & _MASK)
            else:  # two versions: every one is set aside
                self._set_aside(event_id, mine)
                self._set_aside(event_id, value)

    def _check_mergeable(self, other: CubeBuilder) -> None:
        if not isinstance(other, CubeBuilder):
            raise InvalidValueError("other", other, "must be a builder")
        if other is self:
            raise InvalidValueError("other", other.period.label, "must be another builder")
        if (other.org, other.period, other.prices) != (self.org, self.period, self.prices):
            raise InvalidValueError(
                "other", other.period.label, "must bill the same organization, period and prices"
            )
        if (self._seen is None) != (other._seen is None):
            raise InvalidValueError(
                "other", other.period.label, "must deduplicate events like this builder"
            )
        if other._scheme != self._scheme:
            raise InvalidValueError(
                "other", other.period.label, "must come from the same Python (its digests differ)"
            )

    def cube(self) -> UsageCube:
        """The usage cube of everything added so far.

        Raises :class:`~usagebill.errors.ConflictError` while ids are
        :attr:`pending`: their first version is still counted.
        """
        if self._pending:
            ids = sorted(self._pending)
            raise ConflictError(
                "event_id",
                ids[:10],
                f"({len(ids)} ids) had a version counted before another version, or by two "
                "merged parts: pass the same events again to resolve() to take it back out",
            )
        return UsageCube(
            self.org.name,
            self.period,
            self.prices.version,
            {UsageKey(*key): UsageCounts(*counts) for key, counts in self._buckets.items()},
            duplicates=self.duplicates,
            excluded=self.excluded,
            conflicts=self._conflicts,
            conflicting=self.conflicting,
        )
