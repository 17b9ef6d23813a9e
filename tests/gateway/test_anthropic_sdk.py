"""The guard around the real ``anthropic`` SDK (synchronous), against the fake Messages API.

Figures (conftest): a request costs $0.006 (1,000 input + 200 output tokens of Sonnet 4.6)
and holds $0.018 (1,000 tokens counted, ``max_tokens=1_000``); ada's cap is $1.
"""

import anthropic
import pytest

from builders import event
from conftest import AT, CALL, SONNET, make_org, spent
from usagebill import (
    FailurePolicy,
    InvalidValueError,
    Money,
    Product,
    TokenUsage,
)
from usagebill.caps.decision import Level
from usagebill.gateway import GuardedAnthropic, RequestDeniedError
from usagebill.gateway.anthropic_sdk import http_library
from usagebill.gateway.testing import Reply
from usagebill.ledger import MemoryLedger

HTTP = http_library()


def test_the_fake_speaks_the_sdks_own_http_library():
    assert issubclass(anthropic.DefaultHttpxClient, HTTP.Client)
    assert HTTP.__name__ == "httpx2"  # the installed 2.x SDK is built on httpx2


# --- create ---------------------------------------------------------------------------------


def test_create_counts_holds_calls_and_settles(guarded, api, ledger):
    message = guarded.for_member("ada", request_id="r1").messages.create(**CALL)
    assert message.usage.output_tokens == 200
    assert [path for path, _body in api.requests] == ["/v1/messages/count_tokens", "/v1/messages"]
    assert api.requests[0][1] == {"model": SONNET, "messages": CALL["messages"]}
    assert spent(ledger) == (Money("0.006"), Money(0))
    # The request id names the event: settling the same event again replays the outcome.
    usage = TokenUsage(input_tokens=1_000, output_tokens=200)
    again = ledger.settle("r1", event("r1", "ada", SONNET, at=AT, usage=usage))
    assert (again.replayed, again.amount) == (True, Money("0.006"))


def test_a_view_with_a_request_id_makes_one_request(guarded, api):
    ada = guarded.for_member("ada", request_id="r1")
    ada.messages.create(**CALL)
    with pytest.raises(InvalidValueError, match="request_id"):
        ada.messages.create(**CALL)
    assert len(api.requests) == 2  # one count, one message: the second asked nothing


def test_an_estimate_of_the_input_saves_the_count(guarded, api, ledger):
    guarded.for_member("ada", input_tokens=5_000).messages.create(**CALL)
    assert [path for path, _body in api.requests] == ["/v1/messages"]
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_a_denied_request_never_reaches_the_provider(api):
    ledger = MemoryLedger(make_org(ada_cap="0.01"), clock=lambda: AT)
    ada = GuardedAnthropic(api.client(), ledger).for_member("ada", input_tokens=1_000)
    with pytest.raises(RequestDeniedError) as raised:
        ada.messages.create(**CALL)
    assert raised.value.binding.level is Level.MEMBER
    assert raised.value.headroom == Money("0.01")
    assert raised.value.amount == Money("0.018")
    with pytest.raises(RequestDeniedError), ada.messages.stream(**CALL):
        pass
    assert api.requests == []
    assert spent(ledger) == (Money(0), Money(0))


def test_the_product_is_checked_against_the_seat(guarded, api, ledger):
    with pytest.raises(RequestDeniedError) as raised:
        guarded.for_member("ada", product="claude_code").messages.create(**CALL)
    assert raised.value.decision.not_included is Product.CLAUDE_CODE
    assert api.calls == 0
    guarded.for_member("cy", product=Product.CLAUDE_CODE).messages.create(**CALL)
    assert ledger.month_to_date(AT).member("cy") == Money("0.006")


def test_modifiers_of_the_call_price_the_hold_and_the_response_prices_the_charge(guarded, ledger):
    guarded.for_member("ada").messages.create(**CALL, inference_geo="us")
    assert spent(ledger) == (Money("0.0066"), Money(0))  # 0.006 x 1.1


def test_an_error_status_releases_the_hold(guarded, api, ledger):
    api.reply(Reply(status=400))
    with pytest.raises(anthropic.BadRequestError):
        guarded.for_member("ada").messages.create(**CALL)
    assert spent(ledger) == (Money(0), Money(0))


def test_a_5xx_after_the_sdks_retries_releases_the_hold(api, ledger):
    guarded = GuardedAnthropic(api.client(max_retries=2), ledger)
    api.reply(Reply(status=529), Reply(status=500), Reply(status=529))
    with pytest.raises(anthropic.APIStatusError) as raised:
        guarded.for_member("ada").messages.create(**CALL)
    assert raised.value.status_code == 529
    assert api.calls == 3
    assert spent(ledger) == (Money(0), Money(0))


def test_a_request_the_sdk_retried_is_charged_once(guarded, api, ledger):
    api.reply(Reply(status=529), Reply(status=503))
    guarded.for_member("ada").messages.create(**CALL)
    assert api.calls == 3
    assert spent(ledger) == (Money("0.006"), Money(0))


@pytest.mark.parametrize(
    ("policy", "billed"),
    [
        (FailurePolicy.NOTHING, "0"),
        (FailurePolicy.INPUT, "0.003"),  # the 1,000 tokens counted before the call
        (FailurePolicy.REPORTED, "0.003"),  # the provider reported nothing: the count
    ],
)
def test_a_timeout_is_a_failure_after_the_start(api, policy, billed):
    ledger = MemoryLedger(make_org(policy=policy), clock=lambda: AT)
    guarded = GuardedAnthropic(api.client(max_retries=0), ledger)
    api.reply(Reply(timeout=True))
    with pytest.raises(anthropic.APITimeoutError):
        guarded.for_member("ada").messages.create(**CALL)
    assert spent(ledger) == (Money(billed), Money(0))


def test_a_timeout_the_sdk_retried_past_is_charged_once(guarded, api, ledger):
    api.reply(Reply(timeout=True))
    guarded.for_member("ada").messages.create(**CALL)
    assert api.calls == 2
    assert spent(ledger) == (Money("0.006"), Money(0))


@pytest.mark.parametrize(
    ("cause", "started"),
    [
        (HTTP.ConnectError("refused"), False),
        (HTTP.ConnectTimeout("slow"), False),
        (HTTP.ReadError("reset"), True),
        (HTTP.ReadTimeout("slow"), True),
    ],
)
def test_a_connection_that_never_got_through_did_not_start(cause, started):
    from usagebill.gateway.anthropic_sdk import _started  # noqa: PLC0415

    request = HTTP.Request("POST", "https://api.anthropic.com/v1/messages")
    error = anthropic.APIConnectionError(request=request)
    error.__cause__ = cause
    assert _started(error) is started
    assert _started(KeyboardInterrupt()) is True
    assert _started(TypeError("bad argument")) is False


# --- streams --------------------------------------------------------------------------------


def test_stream_settles_at_message_stop_from_the_final_usage(guarded, api, ledger):
    with guarded.for_member("ada").messages.stream(**CALL) as stream:
        assert spent(ledger) == (Money(0), Money("0.018"))
        text = "".join(stream.text_stream)
        assert spent(ledger) == (Money("0.006"), Money(0))  # settled before the block ends
        final = stream.get_final_message()
    assert text == api.text
    assert TokenUsage.from_anthropic(final.usage) == TokenUsage(
        input_tokens=1_000, output_tokens=200
    )
    assert stream.call.result.amount == Money("0.006")
    assert stream.get_final_text() == api.text
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_the_stream_is_sent_with_event_lines(guarded, api):
    with guarded.for_member("ada").messages.stream(**CALL) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert "message_delta" in kinds
    assert kinds[-1] == "message_stop"
    assert stream.response.headers["content-type"] == "text/event-stream"


def test_create_with_stream_true_settles_at_message_stop(guarded, ledger):
    stream = guarded.for_member("ada").messages.create(**CALL, stream=True)
    with stream:
        for event in stream:
            if event.type == "message_stop":
                assert spent(ledger) == (Money("0.006"), Money(0))
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_a_stream_closed_early_is_a_failure_billed_by_the_policy(api):
    ledger = MemoryLedger(make_org(policy=FailurePolicy.INPUT), clock=lambda: AT)
    stream = (
        GuardedAnthropic(api.client(), ledger)
        .for_member("ada")
        .messages.create(**CALL, stream=True)
    )
    assert next(stream).type == "message_start"
    stream.close()
    assert stream.call.result.amount == Money("0.003")  # 1,000 input tokens reported
    assert spent(ledger) == (Money("0.003"), Money(0))


def test_leaving_the_stream_block_early_is_a_failure(guarded, ledger):
    with guarded.for_member("ada").messages.stream(**CALL) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    # Reported so far: 1,000 input tokens and 1 output token (message_start).
    assert spent(ledger) == (Money("0.003015"), Money(0))


def test_a_stream_cut_short_is_a_failure(guarded, api, ledger):
    api.reply(Reply(cut_after=4))
    stream = guarded.for_member("ada").messages.create(**CALL, stream=True)
    assert [event.type for event in stream][-1] == "content_block_delta"
    assert stream.call.result.amount == Money("0.003015")
    assert spent(ledger) == (Money("0.003015"), Money(0))


def test_an_error_event_mid_stream_is_a_failure_after_the_start(guarded, api, ledger):
    api.reply(Reply(error_after=4))
    stream = guarded.for_member("ada").messages.stream(**CALL).__enter__()
    with pytest.raises(anthropic.APIStatusError, match="overloaded"):
        stream.until_done()
    assert spent(ledger) == (Money("0.003015"), Money(0))


def test_an_error_status_on_a_stream_releases_the_hold(guarded, api, ledger):
    api.reply(Reply(status=400), Reply(status=400))
    with pytest.raises(anthropic.BadRequestError):
        guarded.for_member("ada").messages.stream(**CALL).__enter__()
    with pytest.raises(anthropic.BadRequestError):
        guarded.for_member("ada").messages.create(**CALL, stream=True)
    assert spent(ledger) == (Money(0), Money(0))


# --- the client and its views ---------------------------------------------------------------


def test_a_hold_lives_as_long_as_the_sdk_may_take(api, ledger):
    quick = GuardedAnthropic(api.client(timeout=10, max_retries=2), ledger)
    with quick.for_member("ada").messages.stream(**CALL) as stream:
        assert stream.call.ttl == ledger.hold_ttl  # 3 x (10 + 60) s is less than 10 minutes
    slow = GuardedAnthropic(api.client(timeout=600, max_retries=2), ledger)
    with slow.for_member("ada").messages.stream(**CALL) as stream:
        assert stream.call.ttl.total_seconds() == 3 * (600 + 60)
    unbounded = GuardedAnthropic(api.client(timeout=None), ledger)
    with unbounded.for_member("ada").messages.stream(**CALL) as stream:
        assert stream.call.ttl == ledger.hold_ttl  # renewed while it streams


def test_count_tokens_passes_through(guarded, api):
    counted = guarded.for_member("ada").messages.count_tokens(
        model=SONNET, messages=CALL["messages"]
    )
    assert counted.input_tokens == api.counted_tokens


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"product": "video"}, "product"),
        ({"request_id": 7}, "request_id"),
        ({"input_tokens": -1}, "input_tokens"),
    ],
)
def test_for_member_checks_its_arguments(guarded, kwargs, field):
    arguments = {"user_id": "ada", **kwargs}
    with pytest.raises(InvalidValueError) as raised:
        guarded.for_member(arguments.pop("user_id"), **arguments)
    assert raised.value.field == field


def test_the_guard_wraps_the_sdks_clients_only(api, ledger):
    with pytest.raises(InvalidValueError, match=r"anthropic\.Anthropic"):
        GuardedAnthropic(api.async_client(), ledger)
    with pytest.raises(InvalidValueError, match="web_searches"):
        GuardedAnthropic(api.client(), ledger, web_searches=-1)
    assert GuardedAnthropic(api.client(), ledger).client.api_key == "test-key"
