"""What one model request used: token counts, the product it came from, its modifiers.

Anthropic reports ``input_tokens`` *without* the cached tokens: cache writes
and cache reads are reported beside it. (OpenAI's ``prompt_tokens`` includes
cached tokens; mixing the two conventions double-counts.) :class:`TokenUsage`
keeps every category apart, so each token is counted exactly once.
:class:`FailurePolicy` says what a request that failed after it started is billed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from usagebill._checks import check_non_negative_int, flag, non_negative_int
from usagebill.errors import InvalidValueError

__all__ = ["FailurePolicy", "Modifiers", "Product", "TokenUsage"]

_count_field = attrs.field(default=0, validator=non_negative_int)


class Product(enum.StrEnum):
    """The product a request came from; seat types include some of them.

    Its value is the name usage event files and organization files write:

    >>> product = Product("claude_code")
    >>> product is Product.CLAUDE_CODE, str(product)
    (True, 'claude_code')
    """

    CHAT = "chat"
    FILE_CREATION = "file_creation"
    CODE_EXECUTION = "code_execution"
    CLAUDE_CODE = "claude_code"

    @property
    def display_name(self) -> str:
        """The product's name for people, as invoices print it: ``Claude Code``."""
        return (
            "Claude Code"
            if self is Product.CLAUDE_CODE
            else self.value.replace("_", " ").capitalize()
        )


@attrs.frozen
class TokenUsage:
    """Token counts of one request (or a sum of requests), each category apart.

    ``input_tokens`` excludes cache writes and reads, as Anthropic reports it.
    Usages add up; every count is a non-negative ``int``.

    >>> TokenUsage(input_tokens=1_000, output_tokens=200) + TokenUsage(cache_read_tokens=5_000)
    TokenUsage(input_tokens=1000, output_tokens=200, cache_write_5m_tokens=0, \
cache_write_1h_tokens=0, cache_read_tokens=5000, web_search_requests=0)
    """

    input_tokens: int = _count_field
    output_tokens: int = _count_field
    cache_write_5m_tokens: int = _count_field
    cache_write_1h_tokens: int = _count_field
    cache_read_tokens: int = _count_field
    web_search_requests: int = _count_field

    @property
    def prompt_tokens(self) -> int:
        """All input of the request: uncached, cache writes and cache reads.

        This is what context tiers compare with their threshold.
        """
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    @property
    def counts(self) -> tuple[int, int, int, int, int, int]:
        """The six counts in field order: how the usage cube, the engines and the stores keep them.

        >>> TokenUsage(input_tokens=3, web_search_requests=1).counts
        (3, 0, 0, 0, 0, 1)
        """
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.cache_read_tokens,
            self.web_search_requests,
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.web_search_requests + other.web_search_requests,
        )

    def __bool__(self) -> bool:
        return any(self.counts)

    @classmethod
    def from_anthropic(cls, usage: object) -> TokenUsage:
        """Read the ``usage`` of an Anthropic Messages API response.

        ``usage`` is the SDK's ``Usage`` object or the plain dict of the JSON
        body. When the ``cache_creation`` breakdown is present it says which
        writes had a 1-hour lifetime; without it, every cache write is a
        5-minute one (the API's default lifetime). ``input_tokens`` and
        ``output_tokens`` are required; the other fields may be missing or ``None``.

        >>> TokenUsage.from_anthropic({
        ...     "input_tokens": 12, "output_tokens": 300,
        ...     "cache_creation_input_tokens": 2_000, "cache_read_input_tokens": 40_000,
        ...     "cache_creation": {"ephemeral_5m_input_tokens": 500,
        ...                        "ephemeral_1h_input_tokens": 1_500},
        ... }).cache_write_1h_tokens
        1500
        """
        get = _getter(usage)
        written = _optional_count(get("cache_creation_input_tokens"), "cache_creation_input_tokens")
        breakdown = get("cache_creation")
        if breakdown is None:
            write_5m, write_1h = written, 0
        else:
            part = _getter(breakdown)
            write_5m = _optional_count(
                part("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens"
            )
            write_1h = _optional_count(
                part("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens"
            )
            if get("cache_creation_input_tokens") is not None and write_5m + write_1h != written:
                raise InvalidValueError(
                    "cache_creation",
                    {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
                    f"must add up to cache_creation_input_tokens ({written})",
                )
        tools = get("server_tool_use")
        searches = 0 if tools is None else _getter(tools)("web_search_requests")
        return cls(
            input_tokens=_required_count(get("input_tokens"), "input_tokens"),
            output_tokens=_required_count(get("output_tokens"), "output_tokens"),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            cache_read_tokens=_optional_count(
                get("cache_read_input_tokens"), "cache_read_input_tokens"
            ),
            web_search_requests=_optional_count(searches, "server_tool_use.web_search_requests"),
        )


class FailurePolicy(enum.StrEnum):
    """What a request that failed after it started is billed.

    The provider bills a request it started even when the caller never saw its
    usage: a timeout, a cancelled task, a stream closed early. Such a request
    is an event marked ``failed``, and one organization bills all of them by
    one policy, the same in the ledger, the invoice and the reconciliation:

    * ``NOTHING``: nothing; the organization absorbs what the provider bills.
    * ``INPUT``: the prompt only (uncached input, cache writes and reads), no
      output and no web searches.
    * ``REPORTED`` (the default): every token the event records, as the
      provider reported it; the provider's usage report shows the rest.

    >>> FailurePolicy.INPUT.billable(TokenUsage(input_tokens=900, output_tokens=40))
    TokenUsage(input_tokens=900, output_tokens=0, cache_write_5m_tokens=0, \
cache_write_1h_tokens=0, cache_read_tokens=0, web_search_requests=0)
    """

    NOTHING = "nothing"
    INPUT = "input"
    REPORTED = "reported"

    def billable(self, usage: TokenUsage) -> TokenUsage:
        """The part of a failed request's ``usage`` that this policy bills."""
        if self is FailurePolicy.REPORTED:
            return usage
        if self is FailurePolicy.INPUT:
            return attrs.evolve(usage, output_tokens=0, web_search_requests=0)
        return _NO_USAGE

    @property
    def description(self) -> str:
        """How failed requests are billed, in words (invoice lines and reconciliations)."""
        return _FAILURE_DESCRIPTIONS[self]


_NO_USAGE: Final = TokenUsage()
_FAILURE_DESCRIPTIONS: Final = {
    FailurePolicy.NOTHING: "billed nothing",
    FailurePolicy.INPUT: "billed their input only",
    FailurePolicy.REPORTED: "billed as reported",
}


@attrs.frozen
class Modifiers:
    """How a request was run, where that changes its price.

    ``batch``: the Batch API, 50 % off every token rate. ``us_only``: US-only
    inference (``inference_geo="us"``), x1.1 on every token category, offered by
    Claude 4.6 and later models only. ``fast``: fast mode, priced by its own
    listed rates. They compose with each other and with caching (the API does
    not offer batch with fast mode).

    >>> Modifiers(batch=True, us_only=True)
    Modifiers(batch=True, us_only=True, fast=False)
    """

    batch: bool = attrs.field(default=False, validator=flag)
    us_only: bool = attrs.field(default=False, validator=flag)
    fast: bool = attrs.field(default=False, validator=flag)

    @classmethod
    def of(cls, batch: bool = False, us_only: bool = False, fast: bool = False) -> Modifiers:
        """The same as the constructor, but shared instances: the hot path of rating."""
        shared = _SHARED.get((batch, us_only, fast))
        # 1 == True hashes alike: only real bools may take the shortcut.
        if shared is None or not type(batch) is type(us_only) is type(fast) is bool:
            return cls(batch=batch, us_only=us_only, fast=fast)
        return shared

    @property
    def bits(self) -> int:
        """The modifiers as one small int, for keys and tables: batch 1, us_only 2, fast 4.

        >>> Modifiers(us_only=True, fast=True).bits
        6
        >>> Modifiers.from_bits(6) == Modifiers(us_only=True, fast=True)
        True
        """
        return self.batch | self.us_only << 1 | self.fast << 2

    @classmethod
    def from_bits(cls, bits: int) -> Modifiers:
        """The modifiers whose :attr:`bits` are ``bits`` (0 to 7): shared instances."""
        if type(bits) is not int or not 0 <= bits < len(_BY_BITS):
            raise InvalidValueError("bits", bits, f"must be an int from 0 to {len(_BY_BITS) - 1}")
        return _BY_BITS[bits]

    @classmethod
    def from_anthropic(cls, usage: object) -> Modifiers:
        """Read the modifiers an Anthropic response reports in its ``usage``.

        ``service_tier == "batch"``, ``speed == "fast"`` and ``inference_geo == "us"``.
        """
        get = _getter(usage)
        return cls(
            batch=get("service_tier") == "batch",
            us_only=get("inference_geo") == "us",
            fast=get("speed") == "fast",
        )


_BY_BITS: Final = tuple(
    Modifiers(batch=bool(bits & 1), us_only=bool(bits & 2), fast=bool(bits & 4))
    for bits in range(8)
)
_SHARED: Final = {(m.batch, m.us_only, m.fast): m for m in _BY_BITS}


def _getter(source: object) -> Callable[[str], object]:
    if isinstance(source, Mapping):
        return source.get
    return lambda name: getattr(source, name, None)


def _required_count(value: object, field: str) -> int:
    # Every Messages API usage reports both; without them this is not a usage (e.g. the
    # whole response was passed instead of response.usage) and must not rate as zero.
    if value is None:
        raise InvalidValueError(
            field, value, "is required: pass the response's usage (e.g. message.usage)"
        )
    return _optional_count(value, field)


def _optional_count(value: object, field: str) -> int:
    return 0 if value is None else check_non_negative_int(value, field)
