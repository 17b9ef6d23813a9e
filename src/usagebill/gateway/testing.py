"""An in-process stand-in for the Messages API, to test a gateway without the network.

:class:`FakeMessagesAPI` answers the real ``anthropic`` SDK through a mock
transport of the HTTP library the SDK is built on: ``POST /v1/messages`` as
JSON or as server-sent events (``event:`` lines; ``message_start``,
``content_block_*``, ``message_delta`` with the final usage,
``message_stop``), and ``POST /v1/messages/count_tokens``. Queue
:class:`Reply` values to make the next requests fail: an error status (the
SDK retries 5xx and 529), a timeout, a stream cut short or broken by an
``error`` event.

>>> api = FakeMessagesAPI(input_tokens=1_000, output_tokens=50)
>>> message = api.client().messages.create(
...     model="claude-sonnet-4-6", max_tokens=100,
...     messages=[{"role": "user", "content": "Hi"}])
>>> message.usage.input_tokens, message.usage.output_tokens, api.calls
(1000, 50, 1)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Final

import anthropic
import attrs

from usagebill.gateway.anthropic_sdk import http_library

__all__ = ["FakeMessagesAPI", "Reply"]

_HTTP: Final = http_library()
_SSE: Final = {"content-type": "text/event-stream"}
_ERRORS: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@attrs.frozen
class Reply:
    """How the fake answers one ``POST /v1/messages``.

    ``status``: an error status (with the API's error body) instead of a
    message; ``timeout``: no answer (the HTTP library's read timeout);
    ``cut_after``: a stream whose body ends after that many events, without
    ``message_stop``; ``error_after``: a stream that sends an ``error`` event
    (overloaded) after that many events.

    A request the API refuses as malformed (the SDK does not retry a 400):

    >>> import anthropic
    >>> api.reply(Reply(status=400))
    >>> try:
    ...     api.client().messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[])
    ... except anthropic.BadRequestError as error:
    ...     print(error.status_code, api.calls)
    400 2
    """

    status: int = 200
    timeout: bool = False
    cut_after: int | None = None
    error_after: int | None = None


class FakeMessagesAPI:
    """The Messages API, in process: every answer reports the usage it is configured with.

    A message uses ``input_tokens`` of input (``count_tokens`` answers
    ``counted_tokens``, by default the same), ``cache_read_tokens`` of cache
    reads, and ``min(output_tokens, max_tokens)`` of output, spread over the
    text's words. ``latency`` (seconds) passes before each answer and between
    the events of a stream. ``requests`` lists every request's path and JSON
    body; ``calls`` counts the messages requests (retries included).

    >>> terse = FakeMessagesAPI(output_tokens=5)
    >>> reply = terse.client().messages.create(
    ...     model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    >>> reply.usage.output_tokens, terse.requests[0][1]["max_tokens"], terse.calls
    (5, 10, 1)
    """

    def __init__(
        self,
        *,
        input_tokens: int = 1_000,
        output_tokens: int = 200,
        cache_read_tokens: int = 0,
        counted_tokens: int | None = None,
        text: str = "Hello from the fake Messages API.",
        latency: float = 0.0,
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.counted_tokens = input_tokens if counted_tokens is None else counted_tokens
        self.text = text
        self.latency = latency
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def calls(self) -> int:
        """How many ``POST /v1/messages`` arrived (each retry counts)."""
        return sum(path == "/v1/messages" for path, _body in self.requests)

    def reply(self, *replies: Reply) -> None:
        """Answer the next messages requests so, one reply each, then normally again."""
        with self._lock:
            self._replies.extend(replies)

    def client(self, **options: Any) -> anthropic.Anthropic:  # noqa: ANN401  (the SDK's options)
        """An :class:`anthropic.Anthropic` whose requests this fake answers."""
        transport = _HTTP.MockTransport(self._answer)
        http_client = anthropic.DefaultHttpxClient(transport=transport)
        return anthropic.Anthropic(api_key="test-key", http_client=http_client, **options)

    def async_client(self, **options: Any) -> anthropic.AsyncAnthropic:  # noqa: ANN401
        """An :class:`anthropic.AsyncAnthropic` whose requests this fake answers."""
        transport = _HTTP.MockTransport(self._answer_async)
        http_client = anthropic.DefaultAsyncHttpxClient(transport=transport)
        return anthropic.AsyncAnthropic(api_key="test-key", http_client=http_client, **options)

    # --- answering ------------------------------------------------------------------------

    def _take(self, request: Any) -> tuple[str, dict[str, Any], Reply]:  # noqa: ANN401
        path = request.url.path
        body = json.loads(request.content or b"{}")
        with self._lock:
            self.requests.append((path, body))
            reply = self._replies.popleft() if path == "/v1/messages" and self._replies else Reply()
        if reply.timeout:
            raise _HTTP.ReadTimeout("the fake API did not answer", request=request)
        return path, body, reply

    def _answer(self, request: Any) -> Any:  # noqa: ANN401  (the HTTP library's types)
        path, body, reply = self._take(request)
        if self.latency:  # even sleep(0) gives the CPU away
            time.sleep(self.latency)
        if path != "/v1/messages" or reply.status != 200 or not body.get("stream"):
            return self._plain(path, body, reply)
        return _HTTP.Response(200, headers=_SSE, content=_SyncBody(self._events(body, reply), self))

    async def _answer_async(self, request: Any) -> Any:  # noqa: ANN401
        path, body, reply = self._take(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        if path != "/v1/messages" or reply.status != 200 or not body.get("stream"):
            return self._plain(path, body, reply)
        return _HTTP.Response(
            200, headers=_SSE, content=_AsyncBody(self._events(body, reply), self)
        )

    def _plain(self, path: str, body: Mapping[str, Any], reply: Reply) -> Any:  # noqa: ANN401
        if reply.status != 200:
            error = {
                "type": "error",
                "error": {"type": _ERRORS.get(reply.status, "api_error"), "message": "fake"},
            }
            # Retry at once: the SDK honours retry-after-ms, and tests need not wait.
            return _HTTP.Response(reply.status, json=error, headers={"retry-after-ms": "1"})
        if path == "/v1/messages/count_tokens":
            return _HTTP.Response(200, json={"input_tokens": self.counted_tokens})
        if path != "/v1/messages":
            return _HTTP.Response(404, json={"type": "error", "error": {"type": "not_found_error"}})
        output = self._output(body)
        message = {
            **self._message(body),
            "content": [{"type": "text", "text": self.text}],
            "stop_reason": "end_turn",
            "usage": {**self._usage(body), "output_tokens": output},
        }
        return _HTTP.Response(200, json=message)

    def _output(self, body: Mapping[str, Any]) -> int:
        return min(self.output_tokens, int(body.get("max_tokens", self.output_tokens)))

    def _message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-4-6"),
            "stop_sequence": None,
        }

    def _usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
            "inference_geo": "us" if body.get("inference_geo") == "us" else "global",
            "speed": "fast" if body.get("speed") == "fast" else "standard",
        }

    def _events(self, body: Mapping[str, Any], reply: Reply) -> list[bytes]:
        """The stream's events, each an SSE frame; cut or broken as ``reply`` says."""
        usage = self._usage(body)
        words = self.text.split(" ")
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        **self._message(body),
                        "content": [],
                        "stop_reason": None,
                        "usage": {**usage, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            ("ping", {"type": "ping"}),
            *(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": word if i == 0 else f" {word}"},
                    },
                )
                for i, word in enumerate(words)
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    # Newer API versions repeat the input counts here, as running totals.
                    "usage": {
                        "output_tokens": self._output(body),
                        "input_tokens": usage["input_tokens"],
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    },
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        if reply.error_after is not None:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "fake"}}
            events = [*events[: reply.error_after], ("error", error)]
        elif reply.cut_after is not None:
            events = events[: reply.cut_after]
        return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


class _SyncBody:
    """A stream's body, one event at a time, ``latency`` apart."""

    def __init__(self, frames: list[bytes], api: FakeMessagesAPI) -> None:
        self._frames = frames
        self._api = api

    def __iter__(self) -> Iterator[bytes]:
        for position, frame in enumerate(self._frames):
            if position and self._api.latency:
                time.sleep(self._api.latency)
            yield frame


class _AsyncBody:
    """The same, for the async client."""

    def __init__(self, frames: list[bytes], api: FakeMessagesAPI) -> None:
        self._frames = frames
        self._api = api

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for position, frame in enumerate(self._frames):
            if position and self._api.latency:
                await asyncio.sleep(self._api.latency)
            yield frame
