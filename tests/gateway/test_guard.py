"""The guard without an SDK: the bound of a request, and one call's hold → settle / release.

Prices (built-in table): Sonnet 4.6 $3 / $15 per million input / output tokens, 5-minute
cache writes $3.75, 1-hour writes $6, x1.1 US-only; Opus 5.5 in fast mode $8 / $40; web
search $10 per 1,000.
"""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import AT, CALL, SONNET, make_org, spent
from usagebill import (
    FailurePolicy,
    InvalidValueError,
    Money,
    PriceTable,
    Product,
    UsageBillError,
)
from usagebill.caps.decision import Level
from usagebill.errors import UnsupportedModifierError
from usagebill.gateway import GuardedCall, RequestDeniedError, request_bound
from usagebill.ledger import MemoryLedger

TABLE = PriceTable.builtin()


def _bound(input_tokens=2_000, **params):
    return request_bound(TABLE, {**CALL, **params}, input_tokens=input_tokens, at=AT)


# --- the bound ------------------------------------------------------------------------------


def test_the_bound_prices_the_counted_prompt_and_max_tokens():
    bound = _bound()
    assert bound.amount == Money("0.021")  # 2,000 x $3 + 1,000 x $15 per million
    assert (bound.max_output_tokens, bound.max_web_searches) == (1_000, 0)


def test_a_request_that_asks_for_caching_may_write_its_whole_prompt():
    system = [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    five = _bound(system=system)
    assert five.prompt.cache_write_5m_tokens == 2_000
    assert five.amount == Money("0.0225")  # 2,000 x $3.75 + 1,000 x $15 per million
    hour = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    deep = [{"role": "user", "content": [{"type": "tool_result", "content": hour}]}]
    assert _bound(messages=deep).amount == Money("0.027")  # 2,000 x $6 + 1,000 x $15
    assert _bound(cache_control={"type": "ephemeral"}).prompt.cache_write_5m_tokens == 2_000


def test_modifiers_come_from_the_call():
    assert _bound(inference_geo="us").amount == Money("0.0231")  # 0.021 x 1.1
    fast = _bound(model="claude-opus-5-5", speed="fast")
    assert fast.modifiers.fast
    assert fast.amount == Money("0.056")  # 2,000 x $8 + 1,000 x $40 per million
    with pytest.raises(UnsupportedModifierError):
        _bound(speed="fast")  # Sonnet 4.6 has no fast mode


def test_web_searches_count_their_max_uses_or_the_default():
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "web_search_20250305", "name": "web_search"},
        {"name": "get_weather", "input_schema": {"type": "object"}},
    ]
    bound = _bound(tools=tools)
    assert bound.max_web_searches == 13  # 3 + the default 10
    assert bound.amount == Money("0.151")  # 0.021 + 13 x $0.01


@pytest.mark.parametrize(
    ("params", "input_tokens", "field"),
    [
        ({"model": 4}, 10, "model"),
        ({"max_tokens": None}, 10, "max_tokens"),
        ({"max_tokens": -1}, 10, "max_tokens"),
        ({}, -5, "input_tokens"),
        ({}, 1.5, "input_tokens"),
    ],
)
def test_a_bad_request_is_a_typed_error(params, input_tokens, field):
    with pytest.raises(InvalidValueError) as raised:
        _bound(input_tokens, **params)
    assert raised.value.field == field


# --- one call -------------------------------------------------------------------------------


def _open(ledger, **kwargs):
    options = {"user_id": "ada", "product": Product.CHAT, "input_tokens": 1_000, **kwargs}
    return GuardedCall.open(ledger, CALL, **options)


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "usage": {
            "input_tokens": 1_000,
            "output_tokens": 1,
            "cache_creation_input_tokens": 3_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 3_000},
            "inference_geo": "us",
        },
    },
}


def test_a_call_holds_its_bound_then_settles_what_the_stream_reports():
    ledger = MemoryLedger(make_org(), clock=lambda: AT)
    call = _open(ledger, request_id="r1")
    assert spent(ledger) == (Money(0), Money("0.018"))
    call.observe(START)
    call.observe({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}})
    # Running totals replace the earlier counts; the 1-hour breakdown still holds.
    call.observe({"type": "message_delta", "usage": {"output_tokens": 200, "input_tokens": 1_200}})
    assert call.is_open
    call.observe({"type": "message_stop"})
    assert not call.is_open
    # (1,200 x $3 + 200 x $15 + 3,000 x $6) per million, x1.1 US-only as reported
    assert call.result.amount == Money("0.02706")
    assert spent(ledger) == (Money("0.02706"), Money(0))
    assert (call.result.event_id, call.result.overrun) == ("r1", Money("0.00906"))
    call.close()  # nothing more to do: the call settled once
    assert spent(ledger) == (Money("0.02706"), Money(0))


def test_a_cache_write_total_that_grows_keeps_its_one_hour_part():
    ledger = MemoryLedger(make_org(), clock=lambda: AT)
    call = _open(ledger)
    call.observe(START)
    call.observe(
        {
            "type": "message_delta",
            "usage": {"output_tokens": 10, "cache_creation_input_tokens": 4_000},
        }
    )
    call.observe({"type": "message_stop"})
    # 1,000 x $3 + 10 x $15 + 1,000 x $3.75 (5-minute) + 3,000 x $6 (1-hour), x1.1
    assert call.result.amount == Money("0.02739")  # 24,900 millionths of $, x1.1


def test_a_call_closed_before_message_stop_settles_a_failed_event():
    ledger = MemoryLedger(make_org(policy=FailurePolicy.REPORTED), clock=lambda: AT)
    call = _open(ledger)
    call.observe(START)
    call.close()
    # What was reported: (1,000 x $3 + 1 x $15 + 3,000 x $6) per million, x1.1
    assert call.result.amount == Money("0.0231165")
    assert spent(ledger) == (Money("0.0231165"), Money(0))


@pytest.mark.parametrize(
    ("policy", "billed"),
    [
        (FailurePolicy.NOTHING, "0"),
        (FailurePolicy.INPUT, "0.003"),  # the 1,000 tokens counted, at $3 per million
        (FailurePolicy.REPORTED, "0.003"),
    ],
)
def test_a_call_that_got_no_usage_records_the_counted_prompt(policy, billed):
    ledger = MemoryLedger(make_org(policy=policy), clock=lambda: AT)
    call = _open(ledger)
    call.close()
    assert call.result.amount == Money(billed)
    assert spent(ledger) == (Money(billed), Money(0))


def test_a_refused_call_releases_its_hold():
    ledger = MemoryLedger(make_org(), clock=lambda: AT)
    call = _open(ledger)
    call.release()
    call.release()
    call.close()
    assert call.result is None
    assert spent(ledger) == (Money(0), Money(0))


def test_completing_needs_a_usage():
    call = _open(MemoryLedger(make_org(), clock=lambda: AT))
    with pytest.raises(InvalidValueError, match="stream sent no usage"):
        call.complete()
    with pytest.raises(InvalidValueError, match="usage"):
        call.complete(42)


def test_a_denied_call_raises_with_the_decision():
    ledger = MemoryLedger(make_org(ada_cap="0.01"), clock=lambda: AT)
    with pytest.raises(RequestDeniedError) as raised:
        _open(ledger, request_id="r9")
    denied = raised.value
    assert isinstance(denied, PermissionError)
    assert (denied.request_id, denied.amount, denied.headroom) == (
        "r9",
        Money("0.018"),
        Money("0.01"),
    )
    assert denied.binding.level is Level.MEMBER
    assert denied.binding.shortfall == Money("0.008")
    assert str(denied) == denied.decision.reason
    with pytest.raises(RequestDeniedError) as raised:
        _open(ledger, product=Product.CLAUDE_CODE)  # ada's Chat seat does not include it
    assert raised.value.binding is None
    assert raised.value.decision.not_included is Product.CLAUDE_CODE
    assert spent(ledger) == (Money(0), Money(0))


class Clock:
    def __init__(self):
        self.now = AT

    def __call__(self):
        return self.now


def test_a_long_stream_keeps_its_hold_alive():
    clock = Clock()
    ledger = MemoryLedger(make_org(), clock=clock, hold_ttl=timedelta(minutes=10))
    call = _open(ledger)
    clock.now += timedelta(minutes=8)
    call._renew_at = 0  # half its TTL has passed (by the monotonic clock)
    call.observe(START)
    clock.now += timedelta(minutes=8)  # 16 minutes after the hold, 8 after its renewal
    assert ledger.expire() == []
    call.observe({"type": "message_stop"})
    assert spent(ledger) == (Money("0.0231165"), Money(0))


def test_a_call_that_outlived_its_hold_is_charged_all_the_same():
    clock = Clock()
    ledger = MemoryLedger(make_org(), clock=clock)
    call = _open(ledger, ttl=timedelta(minutes=1))
    clock.now += timedelta(minutes=2)
    assert len(ledger.expire()) == 1
    call.complete({"input_tokens": 1_000, "output_tokens": 200})
    assert call.result.amount == Money("0.006")
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_an_unknown_member_is_refused_before_anything_is_held():
    ledger = MemoryLedger(make_org(), clock=lambda: AT)
    with pytest.raises(LookupError, match="nobody"):
        _open(ledger, user_id="nobody")


def test_the_bound_uses_the_ledgers_prices_at_its_clock():
    ledger = MemoryLedger(make_org(ada_cap=None), clock=lambda: AT)
    call = _open(ledger, input_tokens=0)
    assert call.bound.amount == Money("0.015")  # 1,000 output tokens at $15 per million
    assert (call.at, call.bound.model) == (AT, SONNET)
    assert spent(ledger) == (Money(0), Money("0.015"))


# --- only documented errors escape ----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**7) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
junk_params = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from([SONNET, "claude-opus-5-5", "claude-3-haiku-20240307"])
        | json_values,
        "max_tokens": st.integers(-1, 10**6) | json_values,
        "system": json_values,
        "messages": json_values,
        "tools": json_values,
        "cache_control": json_values,
        "inference_geo": st.sampled_from(["us", "global"]) | json_values,
        "speed": st.sampled_from(["fast", "standard"]) | json_values,
    },
)


@given(params=junk_params, input_tokens=st.integers(-1, 10**6) | json_values)
def test_junk_requests_raise_only_usagebill_errors(params, input_tokens):
    try:
        bound = request_bound(TABLE, params, input_tokens=input_tokens, at=AT)
    except UsageBillError:
        return
    assert bound.amount >= Money(0)


@given(events=st.lists(st.dictionaries(st.sampled_from(["type", "message", "usage"]), json_values)))
def test_junk_stream_events_raise_only_usagebill_errors(events):
    ledger = MemoryLedger(make_org(ada_cap=None), clock=lambda: AT)
    call = _open(ledger)
    kinds = ["message_start", "message_delta", "message_stop"]
    try:
        for position, event in enumerate(events):
            call.observe({**event, "type": kinds[position % 3]} if position % 2 else event)
        call.close()
    except UsageBillError:
        return
