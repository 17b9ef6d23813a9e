"""One guarded model request: hold its upper bound, call the model, settle what it used.

A gateway repeats the same dance around every model call; it is written once
here, for any SDK (:mod:`usagebill.gateway.anthropic_sdk` drives it from the
official ``anthropic`` SDK):

1. :func:`request_bound` prices the most a Messages API request can cost: its
   prompt as counted before the call, ``max_tokens`` of output, its web
   searches, its modifiers (US-only inference, fast mode).
2. :meth:`GuardedCall.open` holds that bound on every level of the member's
   path, for the request's product, or raises :class:`RequestDeniedError`: the
   request must not reach the provider.
3. The call runs. :meth:`GuardedCall.complete` settles with the response's
   usage; a stream is followed event by event (:meth:`GuardedCall.observe`)
   and settles at ``message_stop`` from its final usage.
4. A request the provider refused (an error status) never started:
   :meth:`GuardedCall.release` frees the hold. A request that failed after it
   started (a timeout, a cancelled task, a stream closed or cut short) is
   settled as an event marked ``failed`` (:meth:`GuardedCall.close`), which the
   organization's :class:`~usagebill.usage.FailurePolicy` bills.

One :class:`GuardedCall` is one logical request: it settles once, whatever
the SDK retried under it, and its request id is the id of the event it
records.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, TypeAlias

import attrs

from usagebill.caps.decision import Binding, Decision
from usagebill.errors import InvalidValueError, UnknownNameError, UsageBillError
from usagebill.events import UsageEvent
from usagebill.ledger.core import ChargeResult, Ledger, SettleResult
from usagebill.ledger.leases import LeasedLedger
from usagebill.money import Money
from usagebill.pricing.prices import PriceTable
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = [
    "DEFAULT_WEB_SEARCHES",
    "GuardLedger",
    "GuardedCall",
    "RequestBound",
    "RequestDeniedError",
    "request_bound",
]

DEFAULT_WEB_SEARCHES: Final = 10
"""Searches assumed for a web search tool that sets no ``max_uses``."""
GuardLedger: TypeAlias = Ledger | LeasedLedger
"""What a guard holds and settles on: a ledger, or a leased front of one (budget leases)."""
_CACHE_KEYS: Final = ("cache_control", "system", "messages", "tools")
_USAGE_KEYS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "server_tool_use",
    "service_tier",
    "inference_geo",
    "speed",
)
_DELTA_KEYS: Final = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "server_tool_use",
    }
)


class RequestDeniedError(UsageBillError, PermissionError):
    """A guarded request its member may not make now; it never reached the provider.

    ``decision`` says why (:class:`~usagebill.caps.decision.Decision`): the
    levels that bind, tightest first, and the headroom left; or the product
    the member's seat does not include. ``amount`` is the request's upper
    bound, what it would have held. A gateway answers HTTP 429 (or 402) with
    ``decision.reason``.
    """

    def __init__(self, request_id: str, decision: Decision) -> None:
        self.request_id = request_id
        self.decision = decision
        super().__init__(decision.reason)

    @property
    def amount(self) -> Money:
        """The upper bound the request asked to hold."""
        return self.decision.amount

    @property
    def headroom(self) -> Money | None:
        """The least room left on the member's path (``None``: no cap on it)."""
        return self.decision.headroom

    @property
    def binding(self) -> Binding | None:
        """The tightest level that refused (``None`` for a product the seat lacks)."""
        return self.decision.bindings[0] if self.decision.bindings else None


@attrs.frozen
class RequestBound:
    """The most one request can cost, and what that was worked out from.

    ``prompt`` is the input as known before the call, in the priciest
    category it may be billed in (cache writes when the request asks for
    caching); the output is at most ``max_output_tokens``.

    A request that asks for caching may write its whole prompt to the cache:

    >>> from datetime import datetime, UTC
    >>> params = {"model": "claude-sonnet-4-6", "max_tokens": 100,
    ...           "cache_control": {"type": "ephemeral"}}
    >>> cached = request_bound(PriceTable.builtin(), params, input_tokens=1_000,
    ...                        at=datetime(2026, 10, 1, tzinfo=UTC))
    >>> cached.prompt.cache_write_5m_tokens, cached.amount  # 1,000 x 3.75 + 100 x 15.00 a million
    (1000, Money('0.00525', 'USD'))
    """

    model: str
    prompt: TokenUsage
    max_output_tokens: int
    max_web_searches: int
    modifiers: Modifiers
    amount: Money


def request_bound(
    prices: PriceTable,
    params: Mapping[str, Any],
    *,
    input_tokens: int,
    at: datetime,
    web_searches: int = DEFAULT_WEB_SEARCHES,
) -> RequestBound:
    """The upper bound of a Messages API request (``params``, the SDK's keyword arguments).

    ``input_tokens`` counts the whole prompt (``messages.count_tokens`` or your
    estimate). A request that asks for prompt caching may write all of it to
    the cache, which costs more than plain input: the bound prices it so.
    ``inference_geo="us"`` and ``speed="fast"`` price as US-only and fast;
    each web search tool counts its ``max_uses`` (else ``web_searches``).

    >>> from datetime import datetime, UTC
    >>> bound = request_bound(PriceTable.builtin(),
    ...                       {"model": "claude-sonnet-4-6", "max_tokens": 1_000,
    ...                        "messages": [{"role": "user", "content": "Hi"}]},
    ...                       input_tokens=2_000, at=datetime(2026, 10, 1, tzinfo=UTC))
    >>> bound.amount                                  # 2,000 x $3 + 1,000 x $15 per million
    Money('0.021', 'USD')
    """
    model = params.get("model")
    max_tokens = params.get("max_tokens")
    if not isinstance(model, str):
        raise InvalidValueError("model", model, "must be a model id (a str)")
    if type(max_tokens) is not int or max_tokens < 0:
        raise InvalidValueError("max_tokens", max_tokens, "must be a non-negative int")
    if type(input_tokens) is not int or input_tokens < 0:
        raise InvalidValueError("input_tokens", input_tokens, "must be a non-negative int")
    lifetime = _cache_lifetime(params)
    if lifetime == "1h":
        prompt = TokenUsage(cache_write_1h_tokens=input_tokens)
    elif lifetime == "5m":
        prompt = TokenUsage(cache_write_5m_tokens=input_tokens)
    else:
        prompt = TokenUsage(input_tokens=input_tokens)
    modifiers = Modifiers.of(
        us_only=params.get("inference_geo") == "us", fast=params.get("speed") == "fast"
    )
    searches = _web_searches(params.get("tools"), web_searches)
    amount = prices.upper_bound(
        model,
        prompt,
        max_output_tokens=max_tokens,
        at=at,
        max_web_searches=searches,
        modifiers=modifiers,
    )
    return RequestBound(model, prompt, max_tokens, searches, modifiers, amount)


def _cache_lifetime(params: Mapping[str, Any]) -> str | None:
    """``"1h"`` or ``"5m"`` if any part of the request asks for caching (the longest), else None."""
    found = None
    stack: list[object] = [{key: params.get(key) for key in _CACHE_KEYS}]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            control = item.get("cache_control")
            if isinstance(control, Mapping):
                if control.get("ttl") == "1h":
                    return "1h"
                found = "5m"
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def _web_searches(tools: object, default: int) -> int:
    searches = 0
    for tool in tools if isinstance(tools, list | tuple) else ():
        if isinstance(tool, Mapping) and str(tool.get("type", "")).startswith("web_search"):
            uses = tool.get("max_uses")
            searches += uses if type(uses) is int and uses >= 0 else default
    return searches


class GuardedCall:
    """One logical request on the ledger: held, then settled or released exactly once.

    ``result`` is the settlement once there is one (a
    :class:`~usagebill.ledger.core.ChargeResult` if the hold had expired and
    the cost was charged instead).

    >>> from datetime import datetime, UTC
    >>> from usagebill import Member, Organization, SeatCatalog
    >>> from usagebill.ledger import MemoryLedger
    >>> org = Organization.create(
    ...     "acme", SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
    ...     [Member("ada", "primary_owner", "chat")], at=datetime(2026, 9, 1, tzinfo=UTC))
    >>> ledger = MemoryLedger(org, clock=lambda: datetime(2026, 10, 2, tzinfo=UTC))
    >>> call = GuardedCall.open(ledger, {"model": "claude-sonnet-4-6", "max_tokens": 1_000},
    ...                         user_id="ada", product=Product.CHAT, input_tokens=2_000)
    >>> call.bound.amount  # held: 2,000 x 3.00 + 1,000 x 15.00 a million
    Money('0.021', 'USD')
    >>> call.complete({"input_tokens": 2_000, "output_tokens": 100}).amount  # 0.006 + 0.0015
    Money('0.0075', 'USD')
    """

    def __init__(
        self,
        ledger: GuardLedger,
        request_id: str,
        user_id: str,
        product: Product,
        bound: RequestBound,
        *,
        at: datetime,
        ttl: timedelta,
        input_tokens: int,
    ) -> None:
        self.ledger = ledger
        self.request_id = request_id
        self.user_id = user_id
        self.product = product
        self.bound = bound
        self.at = at
        self.ttl = ttl
        self.input_tokens = input_tokens
        self.result: SettleResult | ChargeResult | None = None
        self.is_open = True
        self._usage: dict[str, Any] | None = None
        self._renew_at = time.monotonic() + ttl.total_seconds() / 2

    @classmethod
    def open(
        cls,
        ledger: GuardLedger,
        params: Mapping[str, Any],
        *,
        user_id: str,
        product: Product,
        input_tokens: int,
        request_id: str | None = None,
        ttl: timedelta | None = None,
        web_searches: int = DEFAULT_WEB_SEARCHES,
    ) -> GuardedCall:
        """Hold the request's upper bound, or raise :class:`RequestDeniedError`."""
        at = ledger.clock()
        ttl = ttl or ledger.hold_ttl
        bound = request_bound(
            ledger.prices, params, input_tokens=input_tokens, at=at, web_searches=web_searches
        )
        request_id = request_id or f"req_{uuid.uuid4().hex}"
        held = ledger.hold(request_id, user_id, bound.amount, at=at, product=product, ttl=ttl)
        if held.hold is None:
            raise RequestDeniedError(request_id, held.decision)
        return cls(
            ledger,
            request_id,
            user_id,
            product,
            bound,
            at=at,
            ttl=ttl,
            input_tokens=input_tokens,
        )

    # --- following the call ---------------------------------------------------------------

    def observe(self, event: object) -> None:
        """Follow one stream event: keep its usage; ``message_stop`` settles the request."""
        kind = _get(event, "type")
        if kind == "message_start":
            self._usage = _plain(_get(_get(event, "message"), "usage"))
        elif kind == "message_delta" and self._usage is not None:
            delta = _plain(_get(event, "usage"))
            # Newer API versions repeat the input counts here as running totals: they replace.
            self._usage.update(
                (key, value)
                for key, value in delta.items()
                if key in _DELTA_KEYS and value is not None
            )
        elif kind == "message_stop" and self.is_open:
            self.complete()
            return
        if self.is_open and time.monotonic() >= self._renew_at:
            self._renew()

    def complete(self, usage: object = None) -> SettleResult | ChargeResult:
        """Settle with the final usage: ``usage`` (a response's), else the stream's."""
        if usage is not None:
            self._usage = _plain(usage)
        if self._usage is None:
            raise InvalidValueError("usage", None, "must be given: the stream sent no usage")
        return self._settle(TokenUsage.from_anthropic(_consistent(self._usage)), failed=False)

    def close(self) -> SettleResult | ChargeResult | None:
        """End the call: if it has not settled, it failed after it started; settle it so.

        The event records what the provider reported before the failure, else
        the prompt as counted before the call; the organization's failure
        policy says what of it is billed.
        """
        if not self.is_open:
            return None
        if self._usage is not None:
            usage = TokenUsage.from_anthropic(_consistent(self._usage))
        else:
            usage = TokenUsage(input_tokens=self.input_tokens)
        return self._settle(usage, failed=True)

    def release(self) -> None:
        """Free the hold: the provider refused the request, which never started."""
        if self.is_open:
            self.is_open = False
            self.ledger.release(self.request_id)

    # --- helpers --------------------------------------------------------------------------

    def _settle(self, usage: TokenUsage, *, failed: bool) -> SettleResult | ChargeResult:
        reported = self._usage or {}
        asked = self.bound.modifiers
        modifiers = Modifiers.of(
            batch=_reported(reported, "service_tier", "batch", asked.batch),
            us_only=_reported(reported, "inference_geo", "us", asked.us_only),
            fast=_reported(reported, "speed", "fast", asked.fast),
        )
        event = UsageEvent(
            self.request_id,
            self.user_id,
            self.bound.model,
            self.product,
            usage,
            self.at,
            modifiers,
            failed=failed,
        )
        self.is_open = False
        try:
            self.result = self.ledger.settle(self.request_id, event)
        except UnknownNameError as error:
            if error.kind != "hold":
                raise
            # The hold expired under a call that outlived it: record the cost all the same.
            self.result = self.ledger.charge(event)
        return self.result

    def _renew(self) -> None:
        """Keep the hold alive while a long stream runs (it would expire after its TTL)."""
        self._renew_at = time.monotonic() + self.ttl.total_seconds() / 2
        with contextlib.suppress(UsageBillError):  # e.g. the member changed seat: let it be
            self.ledger.extend(
                self.request_id, Money.zero(self.bound.amount.currency), ttl=self.ttl
            )


def _get(source: object, name: str) -> Any:  # noqa: ANN401  (SDK objects or JSON dicts)
    value = getattr(source, name, None)  # the SDK's objects first: the common case
    if value is None and isinstance(source, Mapping):
        return source.get(name)
    return value


def _plain(usage: object) -> dict[str, Any]:
    """The fields of a usage (the SDK's object or a JSON dict) that billing reads, as a dict.

    Read one by one: cheaper than the SDK's ``model_dump``. What is not a usage
    has no counts, which :meth:`~usagebill.usage.TokenUsage.from_anthropic` refuses.
    """
    if isinstance(usage, Mapping):
        return {key: usage.get(key) for key in _USAGE_KEYS}
    return {key: getattr(usage, key, None) for key in _USAGE_KEYS}


def _consistent(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage with its cache-write breakdown matching its (possibly updated) total.

    A ``message_delta`` may update ``cache_creation_input_tokens`` but never the
    breakdown by lifetime: the 1-hour writes stay as reported (at most the
    total), the rest count as 5-minute writes, the API's default lifetime.
    """
    written, breakdown = usage.get("cache_creation_input_tokens"), usage.get("cache_creation")
    hour = _get(breakdown, "ephemeral_1h_input_tokens") or 0
    if type(written) is not int or breakdown is None or type(hour) is not int:
        return usage  # nothing to match, or not counts: from_anthropic names the problem
    hour = min(hour, written)
    return {
        **usage,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written - hour,
            "ephemeral_1h_input_tokens": hour,
        },
    }


def _reported(usage: Mapping[str, Any], key: str, value: str, asked: bool) -> bool:
    """What the provider reports it ran (``usage[key] == value``), or, if silent, what was asked."""
    reported = usage.get(key)
    return asked if reported is None else reported == value
