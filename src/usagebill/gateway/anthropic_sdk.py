"""Drop-in guards for the official ``anthropic`` SDK (``pip install 'usagebill[anthropic]'``).

Wrap the client once, then ask it for a member's view per request::

    guarded = GuardedAnthropic(anthropic.Anthropic(), ledger)
    ada = guarded.for_member("ada", product=Product.CLAUDE_CODE)
    message = ada.messages.create(model=..., max_tokens=..., messages=[...])

``messages.create`` (``stream=True`` too) and ``messages.stream`` hold the
request's upper bound, call the SDK, and settle the response's usage (a stream
at ``message_stop``); a denied request raises
:class:`~usagebill.gateway.guard.RequestDeniedError` before anything is sent.
Everything else of the SDK is reached, unguarded, through ``guarded.client``.

How a failure ends the call (:class:`~usagebill.gateway.guard.GuardedCall`):
an error status from the provider, or a connection that never got through,
releases the hold; a timeout, a cancelled task, any error while a stream is
read, or a stream closed before ``message_stop`` settles an event marked
``failed``, billed by the organization's failure policy.

The examples of this module guard a fake Messages API
(:mod:`usagebill.gateway.testing`) that answers every request with 1,000 input
and 100 output tokens: 0.0045 USD on Claude Sonnet 4.6 (3.00 and 15.00 USD a
million), whose bound with ``max_tokens=200`` is 0.006 USD. ada has a Chat seat:

>>> import asyncio
>>> from datetime import datetime, UTC
>>> from usagebill import Member, Money, Organization, SeatCatalog
>>> from usagebill.gateway.testing import FakeMessagesAPI
>>> from usagebill.ledger import MemoryLedger
>>> org = Organization.create(
...     "acme", SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
...     [Member("ada", "primary_owner", "chat")], at=datetime(2026, 9, 1, tzinfo=UTC))
>>> ledger = MemoryLedger(org, clock=lambda: datetime(2026, 10, 2, tzinfo=UTC))
>>> api = FakeMessagesAPI(input_tokens=1_000, output_tokens=100)
>>> HI = {"model": "claude-sonnet-4-6", "max_tokens": 200,
...       "messages": [{"role": "user", "content": "Hi"}]}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from types import ModuleType, TracebackType
from typing import Any, Final, Literal, Self, overload

import attrs

try:
    import anthropic
    from anthropic.lib.streaming import (
        AsyncMessageStream,
        AsyncMessageStreamManager,
        MessageStream,
        MessageStreamManager,
    )
    from anthropic.resources.messages import AsyncMessages, Messages
    from anthropic.types import Message
except ImportError as missing:  # pragma: no cover  (the SDK is installed wherever tests run)
    raise ImportError(
        "usagebill.gateway's SDK guard needs the anthropic SDK: pip install 'usagebill[anthropic]'"
    ) from missing

from usagebill.errors import InvalidValueError
from usagebill.gateway.guard import DEFAULT_WEB_SEARCHES, GuardedCall, GuardLedger
from usagebill.usage import Product

__all__ = [
    "AsyncGuardedMessageStream",
    "AsyncGuardedMessageStreamManager",
    "AsyncGuardedMessages",
    "AsyncGuardedStream",
    "AsyncMemberClient",
    "GuardedAnthropic",
    "GuardedAsyncAnthropic",
    "GuardedMessageStream",
    "GuardedMessageStreamManager",
    "GuardedMessages",
    "GuardedStream",
    "MemberClient",
    "http_library",
]

_COUNTED: Final = frozenset(inspect.signature(Messages.count_tokens).parameters) - {
    "self",
    "extra_headers",
    "extra_query",
    "extra_body",
    "timeout",
}
"""The arguments of ``messages.create`` that ``messages.count_tokens`` takes too."""
_RETRY_WAIT: Final = 60.0
"""The longest the SDK waits between two attempts (it honours ``retry-after`` up to a minute)."""


def http_library() -> ModuleType:
    """The HTTP library the installed SDK is built on: ``httpx2`` (2.x releases) or ``httpx``."""
    client_class = anthropic.DefaultHttpxClient.__mro__[1]
    return importlib.import_module(client_class.__module__.partition(".")[0])


_HTTP: Final = http_library()
_NEVER_SENT: Final = (_HTTP.ConnectError, _HTTP.ConnectTimeout, _HTTP.PoolTimeout)


def _started(error: BaseException) -> bool:
    """Tell whether a call that raised ``error`` may have run at the provider (and be billed)."""
    if isinstance(error, anthropic.APIStatusError):
        return False  # the provider answered with an error: it ran nothing
    if isinstance(error, anthropic.APIConnectionError):
        return not isinstance(error.__cause__, _NEVER_SENT)  # a timeout, a dropped connection
    return not isinstance(error, Exception)  # a cancelled task, an interrupt: it was on its way


def _end(call: GuardedCall, error: BaseException) -> None:
    """End a call that raised ``error`` before it returned: a failure, or never started."""
    if _started(error):
        call.close()
    else:
        call.release()


def _ttl(
    client: anthropic.Anthropic | anthropic.AsyncAnthropic, params: Mapping[str, Any]
) -> float:
    """Seconds the SDK may take over a call: its timeout, times its attempts, plus their waits."""
    timeout = params.get("timeout", client.timeout)
    seconds = timeout if isinstance(timeout, int | float) else getattr(timeout, "read", None)
    if not isinstance(seconds, int | float):
        return 0.0
    return (client.max_retries + 1) * (seconds + _RETRY_WAIT)


@attrs.define
class _Member:
    """Who a call is for, what the guard needs to know of it, whether its request was made."""

    user_id: str
    product: Product
    request_id: str | None
    input_tokens: int | None
    used: bool = False


def _member(
    user_id: str, product: Product | str, request_id: str | None, input_tokens: int | None
) -> _Member:
    if type(user_id) is not str or not user_id:
        raise InvalidValueError("user_id", user_id, "must be a non-empty string")
    try:
        product = Product(product)
    except ValueError:
        raise InvalidValueError("product", product, f"must be one of {list(Product)}") from None
    if request_id is not None and (type(request_id) is not str or not request_id):
        raise InvalidValueError("request_id", request_id, "must be a non-empty string or None")
    if input_tokens is not None and (type(input_tokens) is not int or input_tokens < 0):
        raise InvalidValueError("input_tokens", input_tokens, "must be a non-negative int or None")
    return _Member(user_id, product, request_id, input_tokens)


def _searches(web_searches: int) -> int:
    if type(web_searches) is not int or web_searches < 0:
        raise InvalidValueError("web_searches", web_searches, "must be a non-negative int")
    return web_searches


def _claim(member: _Member) -> None:
    """Refuse a second request from a view that names its one request."""
    if member.request_id is not None:
        if member.used:
            raise InvalidValueError(
                "request_id",
                member.request_id,
                "names one request, and this view made it already: make a view per request",
            )
        member.used = True


def _open(
    guard: GuardedAnthropic | GuardedAsyncAnthropic,
    member: _Member,
    params: Mapping[str, Any],
    input_tokens: int,
) -> GuardedCall:
    """Hold the call's bound for as long as the SDK may take over it."""
    ledger = guard.ledger
    ttl = max(ledger.hold_ttl, timedelta(seconds=_ttl(guard.client, params)))
    return GuardedCall.open(
        ledger,
        params,
        user_id=member.user_id,
        product=member.product,
        input_tokens=input_tokens,
        request_id=member.request_id,
        ttl=ttl,
        web_searches=guard.web_searches,
    )


# --- synchronous ----------------------------------------------------------------------------


class GuardedAnthropic:
    """An :class:`anthropic.Anthropic` whose message calls are held and settled on ``ledger``.

    ``web_searches`` is what a web search tool without ``max_uses`` may do, for
    the bound. ``client`` is the SDK's own client, for everything unguarded.

    >>> guarded = GuardedAnthropic(api.client(), ledger)
    >>> message = guarded.for_member("ada").messages.create(**HI)
    >>> message.usage.output_tokens, ledger.month_to_date().member("ada")
    (100, Money('0.0045', 'USD'))
    """

    def __init__(
        self,
        client: anthropic.Anthropic,
        ledger: GuardLedger,
        *,
        web_searches: int = DEFAULT_WEB_SEARCHES,
    ) -> None:
        if not isinstance(client, anthropic.Anthropic):
            raise InvalidValueError("client", client, "must be an anthropic.Anthropic")
        self.client = client
        self.ledger = ledger
        self.web_searches = _searches(web_searches)

    def for_member(
        self,
        user_id: str,
        *,
        product: Product | str = Product.CHAT,
        request_id: str | None = None,
        input_tokens: int | None = None,
    ) -> MemberClient:
        """The client as ``user_id`` uses it from ``product``; cheap, so make one per request.

        ``request_id`` names the one logical request this view may then make
        (the id of its hold and of the event it records); without it, each
        call gets a fresh id. ``input_tokens`` is your estimate of the prompt;
        without it, each call asks ``messages.count_tokens`` first.
        """
        member = _member(user_id, product, request_id, input_tokens)
        return MemberClient(GuardedMessages(self, member))


@attrs.frozen
class MemberClient:
    """One member's guarded client: ``messages`` is all it offers.

    With the prompt estimated, no ``count_tokens`` request goes first:

    >>> ada = guarded.for_member("ada", input_tokens=1_000)
    >>> before = len(api.requests)
    >>> ada.messages.create(**HI).usage.input_tokens, len(api.requests) - before
    (1000, 1)
    """

    messages: GuardedMessages


class GuardedMessages:
    """``messages.create``, ``messages.stream`` and ``messages.count_tokens``, guarded.

    >>> messages = guarded.for_member("ada").messages
    >>> messages.count_tokens(model="claude-sonnet-4-6", messages=HI["messages"]).input_tokens
    1000
    """

    def __init__(self, guard: GuardedAnthropic, member: _Member) -> None:
        self._guard = guard
        self._member = member
        self._sdk: Messages = guard.client.messages

    @overload
    def create(self, *, stream: Literal[True], **params: Any) -> GuardedStream: ...
    @overload
    def create(self, *, stream: Literal[False] = ..., **params: Any) -> Message: ...
    def create(self, **params: Any) -> Message | GuardedStream:
        """``messages.create``: held first, settled from the response (or its stream)."""
        call = self._open(params)
        try:
            result = self._sdk.create(**params)
        except BaseException as error:
            _end(call, error)
            raise
        if isinstance(result, Message):
            call.complete(result.usage)
            return result
        return GuardedStream(result, call)

    def stream(self, **params: Any) -> GuardedMessageStreamManager:
        """``messages.stream``: held when the ``with`` block opens, settled at ``message_stop``."""
        return GuardedMessageStreamManager(
            lambda: self._sdk.stream(**params), lambda: self._open(params)
        )

    def count_tokens(self, **params: Any) -> Any:
        """``messages.count_tokens``, unguarded (it is free)."""
        return self._sdk.count_tokens(**params)

    def _open(self, params: Mapping[str, Any]) -> GuardedCall:
        _claim(self._member)
        tokens = self._member.input_tokens
        if tokens is None:
            counted = {key: value for key, value in params.items() if key in _COUNTED}
            tokens = self._sdk.count_tokens(**counted).input_tokens
        return _open(self._guard, self._member, params, tokens)


class GuardedStream:
    """The SDK's stream of events, followed by the guard: settles at ``message_stop``.

    Closing it (or leaving its ``with`` block) before then settles the request
    as failed after it started.

    >>> with guarded.for_member("ada").messages.create(**HI, stream=True) as events:
    ...     kinds = [event.type for event in events]
    >>> kinds[-1], events.call.result.amount
    ('message_stop', Money('0.0045', 'USD'))
    """

    def __init__(self, stream: Any, call: GuardedCall) -> None:
        self._stream = stream
        self.call = call
        self._events: Iterator[Any] = iter(stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self._events)
        except StopIteration:
            self.call.close()  # the stream ended: settled at message_stop, or cut short
            raise
        except BaseException:
            self.call.close()
            raise
        self.call.observe(event)
        return event

    def close(self) -> None:
        """Close the response; a request not settled yet failed after it started."""
        try:
            self._stream.close()
        finally:
            self.call.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.close()


class GuardedMessageStream(GuardedStream):
    """The SDK's :class:`~anthropic.lib.streaming.MessageStream`, followed by the guard.

    >>> with guarded.for_member("ada").messages.stream(**HI) as stream:
    ...     stream.get_final_text()
    'Hello from the fake Messages API.'
    """

    def __init__(self, stream: MessageStream[Any], call: GuardedCall) -> None:
        super().__init__(stream, call)
        self.text_stream = self._text()

    def _text(self) -> Iterator[str]:
        for event in self:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield event.delta.text

    def until_done(self) -> None:
        """Read the stream to its end."""
        for _ in self:
            pass

    def get_final_message(self) -> Any:
        """Read the stream to its end; the accumulated message."""
        self.until_done()
        return self._stream.get_final_message()

    def get_final_text(self) -> str:
        """Read the stream to its end; its text blocks joined."""
        self.until_done()
        return str(self._stream.get_final_text())


class GuardedMessageStreamManager:
    """What ``messages.stream(...)`` returns: the hold is taken when the ``with`` block opens.

    The SDK's own stream manager is made only then, once the request may run.

    >>> manager = guarded.for_member("ada").messages.stream(**HI)  # nothing held yet
    >>> with manager as stream:
    ...     stream.until_done()
    >>> stream.call.result.held  # 1,000 x 3.00 + 200 x 15.00 a million
    Money('0.006', 'USD')
    """

    def __init__(
        self,
        manager: Callable[[], MessageStreamManager[Any]],
        open_call: Callable[[], GuardedCall],
    ) -> None:
        self._manager = manager
        self._open_call = open_call
        self._stream: GuardedMessageStream | None = None

    def __enter__(self) -> GuardedMessageStream:
        call = self._open_call()
        try:
            stream = self._manager().__enter__()
        except BaseException as error:
            _end(call, error)
            raise
        self._stream = GuardedMessageStream(stream, call)
        return self._stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.close()


# --- asynchronous ---------------------------------------------------------------------------


class GuardedAsyncAnthropic:
    """An :class:`anthropic.AsyncAnthropic` client, guarded like :class:`GuardedAnthropic`.

    The ledger's operations run inline: each is one short transaction, and no
    task can be cancelled halfway through one.

    >>> aguarded = GuardedAsyncAnthropic(api.async_client(), ledger)
    >>> asyncio.run(aguarded.for_member("ada").messages.create(**HI)).usage.output_tokens
    100
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        ledger: GuardLedger,
        *,
        web_searches: int = DEFAULT_WEB_SEARCHES,
    ) -> None:
        if not isinstance(client, anthropic.AsyncAnthropic):
            raise InvalidValueError("client", client, "must be an anthropic.AsyncAnthropic")
        self.client = client
        self.ledger = ledger
        self.web_searches = _searches(web_searches)

    def for_member(
        self,
        user_id: str,
        *,
        product: Product | str = Product.CHAT,
        request_id: str | None = None,
        input_tokens: int | None = None,
    ) -> AsyncMemberClient:
        """The client as ``user_id`` uses it (see :meth:`GuardedAnthropic.for_member`)."""
        member = _member(user_id, product, request_id, input_tokens)
        return AsyncMemberClient(AsyncGuardedMessages(self, member))


@attrs.frozen
class AsyncMemberClient:
    """One member's guarded async client: ``messages`` is all it offers.

    >>> ada = aguarded.for_member("ada", input_tokens=1_000)
    >>> asyncio.run(ada.messages.create(**HI)).usage.input_tokens
    1000
    """

    messages: AsyncGuardedMessages


class AsyncGuardedMessages:
    """``messages.create``, ``messages.stream`` and ``messages.count_tokens``, guarded (async).

    >>> counted = aguarded.for_member("ada").messages.count_tokens(
    ...     model="claude-sonnet-4-6", messages=HI["messages"])
    >>> asyncio.run(counted).input_tokens
    1000
    """

    def __init__(self, guard: GuardedAsyncAnthropic, member: _Member) -> None:
        self._guard = guard
        self._member = member
        self._sdk: AsyncMessages = guard.client.messages

    @overload
    async def create(self, *, stream: Literal[True], **params: Any) -> AsyncGuardedStream: ...
    @overload
    async def create(self, *, stream: Literal[False] = ..., **params: Any) -> Message: ...
    async def create(self, **params: Any) -> Message | AsyncGuardedStream:
        """``messages.create``: held first, settled from the response (or its stream)."""
        call = await self._open(params)
        try:
            result = await self._sdk.create(**params)
        except BaseException as error:
            _end(call, error)
            raise
        if isinstance(result, Message):
            call.complete(result.usage)
            return result
        return AsyncGuardedStream(result, call)

    def stream(self, **params: Any) -> AsyncGuardedMessageStreamManager:
        """``messages.stream``: held when the ``async with`` block opens."""
        return AsyncGuardedMessageStreamManager(
            lambda: self._sdk.stream(**params), lambda: self._open(params)
        )

    async def count_tokens(self, **params: Any) -> Any:
        """``messages.count_tokens``, unguarded (it is free)."""
        return await self._sdk.count_tokens(**params)

    async def _open(self, params: Mapping[str, Any]) -> GuardedCall:
        _claim(self._member)
        tokens = self._member.input_tokens
        if tokens is None:
            counted = {key: value for key, value in params.items() if key in _COUNTED}
            tokens = (await self._sdk.count_tokens(**counted)).input_tokens
        return _open(self._guard, self._member, params, tokens)


class AsyncGuardedStream:
    """The SDK's async stream of events, followed by the guard (see :class:`GuardedStream`).

    A task cancelled while it reads the stream settles the request as failed
    after it started.

    >>> async def kinds():
    ...     messages = aguarded.for_member("ada").messages
    ...     async with await messages.create(**HI, stream=True) as events:
    ...         return [event.type async for event in events]
    >>> asyncio.run(kinds())[-1]
    'message_stop'
    """

    def __init__(self, stream: Any, call: GuardedCall) -> None:
        self._stream = stream
        self.call = call
        self._events: AsyncIterator[Any] = aiter(stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await anext(self._events)
        except StopAsyncIteration:
            self.call.close()
            raise
        except BaseException:
            self.call.close()  # a cancelled task lands here too
            raise
        self.call.observe(event)
        return event

    async def close(self) -> None:
        """Close the response; a request not settled yet failed after it started."""
        try:
            await self._stream.close()
        finally:
            self.call.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncGuardedMessageStream(AsyncGuardedStream):
    """The SDK's :class:`~anthropic.lib.streaming.AsyncMessageStream`, followed by the guard.

    >>> async def text():
    ...     async with aguarded.for_member("ada").messages.stream(**HI) as stream:
    ...         return await stream.get_final_text()
    >>> asyncio.run(text())
    'Hello from the fake Messages API.'
    """

    def __init__(self, stream: AsyncMessageStream[Any], call: GuardedCall) -> None:
        super().__init__(stream, call)
        self.text_stream = self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for event in self:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield event.delta.text

    async def until_done(self) -> None:
        """Read the stream to its end."""
        async for _ in self:
            pass

    async def get_final_message(self) -> Any:
        """Read the stream to its end; the accumulated message."""
        await self.until_done()
        return await self._stream.get_final_message()

    async def get_final_text(self) -> str:
        """Read the stream to its end; its text blocks joined."""
        await self.until_done()
        return str(await self._stream.get_final_text())


class AsyncGuardedMessageStreamManager:
    """What async ``messages.stream(...)`` returns: held when the ``async with`` block opens.

    The SDK's own stream manager is made only then: it starts the request's
    coroutine, which a denied request must never create.

    >>> async def held():
    ...     async with aguarded.for_member("ada").messages.stream(**HI) as stream:
    ...         await stream.until_done()
    ...     return stream.call.result.held
    >>> asyncio.run(held())
    Money('0.006', 'USD')
    """

    def __init__(
        self,
        manager: Callable[[], AsyncMessageStreamManager[Any]],
        open_call: Callable[[], Awaitable[GuardedCall]],
    ) -> None:
        self._manager = manager
        self._open_call = open_call
        self._stream: AsyncGuardedMessageStream | None = None

    async def __aenter__(self) -> AsyncGuardedMessageStream:
        call = await self._open_call()
        try:
            stream = await self._manager().__aenter__()
        except BaseException as error:
            _end(call, error)
            raise
        self._stream = AsyncGuardedMessageStream(stream, call)
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
