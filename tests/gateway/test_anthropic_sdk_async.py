"""The guard around the real ``AsyncAnthropic``, against the fake Messages API.

Figures (conftest): a request costs $0.006 and holds $0.018; ada's cap is $1. A stream
cut after ``message_start`` reported 1,000 input and 1 output token: $0.003015.
"""

import asyncio

import anthropic
import pytest

from conftest import AT, CALL, make_org, spent
from usagebill import FailurePolicy, InvalidValueError, Money
from usagebill.gateway import GuardedAsyncAnthropic, RequestDeniedError
from usagebill.gateway.testing import Reply
from usagebill.ledger import MemoryLedger


def test_create_holds_calls_and_settles(aguarded, api, ledger):
    async def main():
        return await aguarded.for_member("ada").messages.create(**CALL)

    message = asyncio.run(main())
    assert message.usage.input_tokens == 1_000
    assert [path for path, _body in api.requests] == ["/v1/messages/count_tokens", "/v1/messages"]
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_stream_settles_at_message_stop(aguarded, api, ledger):
    async def main():
        async with aguarded.for_member("ada").messages.stream(**CALL) as stream:
            assert spent(ledger) == (Money(0), Money("0.018"))
            text = [chunk async for chunk in stream.text_stream]
            assert spent(ledger) == (Money("0.006"), Money(0))
            final = await stream.get_final_message()
            return "".join(text), final, await stream.get_final_text()

    text, final, again = asyncio.run(main())
    assert text == again == api.text
    assert final.usage.output_tokens == 200
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_create_with_stream_true_settles_at_message_stop(aguarded, ledger):
    async def main():
        stream = await aguarded.for_member("ada").messages.create(**CALL, stream=True)
        assert stream.response.status_code == 200  # the SDK stream's own attributes
        async with stream:
            return [event.type async for event in stream]

    kinds = asyncio.run(main())
    assert kinds[-1] == "message_stop"
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_a_denied_request_never_reaches_the_provider(api):
    ledger = MemoryLedger(make_org(ada_cap="0.01"), clock=lambda: AT)
    ada = GuardedAsyncAnthropic(api.async_client(), ledger).for_member("ada", input_tokens=1)

    async def main():
        with pytest.raises(RequestDeniedError):
            await ada.messages.create(**CALL)
        with pytest.raises(RequestDeniedError):
            async with ada.messages.stream(**CALL):
                pass

    asyncio.run(main())
    assert api.requests == []


def test_errors_after_the_hold(aguarded, api, ledger):
    api.reply(Reply(status=529), Reply(status=529), Reply(status=529), Reply(status=400))

    async def main():
        ada = aguarded.for_member("ada", input_tokens=1_000)
        with pytest.raises(anthropic.APIStatusError):
            await ada.messages.create(**CALL)  # 529 three times: the SDK gives up
        with pytest.raises(anthropic.BadRequestError):
            async with ada.messages.stream(**CALL):
                pass

    asyncio.run(main())
    assert api.calls == 4
    assert spent(ledger) == (Money(0), Money(0))


def test_a_request_the_sdk_retried_is_charged_once(aguarded, api, ledger):
    api.reply(Reply(status=529))
    asyncio.run(aguarded.for_member("ada").messages.create(**CALL))
    assert api.calls == 2
    assert spent(ledger) == (Money("0.006"), Money(0))


def test_a_timeout_is_a_failure_billed_by_the_policy(api):
    ledger = MemoryLedger(make_org(policy=FailurePolicy.NOTHING), clock=lambda: AT)
    guarded = GuardedAsyncAnthropic(api.async_client(max_retries=0), ledger)
    api.reply(Reply(timeout=True))
    with pytest.raises(anthropic.APITimeoutError):
        asyncio.run(guarded.for_member("ada").messages.create(**CALL))
    assert spent(ledger) == (Money(0), Money(0))  # billed nothing, and nothing left held


def test_a_task_cancelled_mid_stream_settles_what_was_reported(api, ledger):
    api.latency = 0.05
    guarded = GuardedAsyncAnthropic(api.async_client(), ledger)
    seen = []

    started = asyncio.Event()

    async def read():
        async with guarded.for_member("ada").messages.stream(**CALL) as stream:
            async for event in stream:
                seen.append(event.type)
                if event.type == "content_block_start":
                    started.set()

    async def main():
        task = asyncio.create_task(read())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert "message_stop" not in seen
    assert spent(ledger) == (Money("0.003015"), Money(0))


def test_a_task_cancelled_while_waiting_for_a_message_is_a_failure(api):
    ledger = MemoryLedger(make_org(policy=FailurePolicy.INPUT), clock=lambda: AT)
    api.latency = 5
    guarded = GuardedAsyncAnthropic(api.async_client(), ledger)

    async def main():
        task = asyncio.create_task(
            guarded.for_member("ada", input_tokens=1_000).messages.create(**CALL)
        )
        await asyncio.sleep(0.05)
        assert spent(ledger) == (Money(0), Money("0.018"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert spent(ledger) == (Money("0.003"), Money(0))  # the counted input, by the policy


def test_a_stream_closed_early_and_a_stream_broken_are_failures(aguarded, api, ledger):
    api.reply(Reply(), Reply(error_after=4))

    async def main():
        ada = aguarded.for_member("ada")
        stream = await ada.messages.create(**CALL, stream=True)
        assert (await anext(stream)).type == "message_start"
        await stream.close()
        broken = await ada.messages.stream(**CALL).__aenter__()
        with pytest.raises(anthropic.APIStatusError, match="overloaded"):
            await broken.until_done()

    asyncio.run(main())
    assert spent(ledger) == (Money("0.00603"), Money(0))  # 2 x 0.003015


def test_count_tokens_and_checks(aguarded, api, ledger):
    async def main():
        ada = aguarded.for_member("ada").messages
        return await ada.count_tokens(model=CALL["model"], messages=CALL["messages"])

    assert asyncio.run(main()).input_tokens == 1_000
    with pytest.raises(InvalidValueError, match="AsyncAnthropic"):
        GuardedAsyncAnthropic(api.client(), ledger)
    ada = aguarded.for_member("ada", request_id="r1", input_tokens=1)
    asyncio.run(ada.messages.create(**CALL))
    with pytest.raises(InvalidValueError, match="request_id"):
        asyncio.run(ada.messages.create(**CALL))
