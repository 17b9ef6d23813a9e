"""Requests that fail after they start: one policy, the same in the ledger, invoice and reconcile.

Prices (built-in table): Sonnet 4.6 $3 / $15 per million input / output tokens, cache reads
$0.30, 5-minute cache writes $3.75; web search $10 per 1,000.
"""

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import OCTOBER, SONNET, event, member, organization
from usagebill import (
    ChangeCaps,
    ConflictError,
    FailurePolicy,
    InvalidValueError,
    InvoiceBuilder,
    LoadError,
    Money,
    Organization,
    PriceTable,
    Product,
    Scenario,
    SpendLimits,
    TokenUsage,
    UsageEvent,
    build_invoice,
    forecast,
    reconcile,
    whatif,
)
from usagebill.events import FAILED, parse_record, record_of
from usagebill.ledger import MemoryLedger

AT = datetime(2026, 10, 3, 9, tzinfo=UTC)
# 10,000 input ($0.03), 2,000 output ($0.03), 20,000 cache reads ($0.006), 2 searches ($0.02)
USED = TokenUsage(
    input_tokens=10_000, output_tokens=2_000, cache_read_tokens=20_000, web_search_requests=2
)
BILLED = {
    FailurePolicy.NOTHING: Decimal(0),
    FailurePolicy.INPUT: Decimal("0.036"),  # 0.03 + 0.006
    FailurePolicy.REPORTED: Decimal("0.086"),  # 0.03 + 0.03 + 0.006 + 0.02
}
request = functools.partial(event, at=AT, usage=USED)
"""The requests of this file: ada's, to Sonnet 4.6 in Chat, USED at AT unless told."""


# --- the policy and the event --------------------------------------------------------------


def test_each_policy_bills_its_part_of_the_usage():
    assert FailurePolicy.NOTHING.billable(USED) == TokenUsage()
    assert FailurePolicy.INPUT.billable(USED) == TokenUsage(
        input_tokens=10_000, cache_read_tokens=20_000
    )
    assert FailurePolicy.REPORTED.billable(USED) is USED


@pytest.mark.parametrize("policy", list(FailurePolicy))
def test_only_a_failed_event_is_billed_by_the_policy(policy):
    assert request("e", failed=False).billed_usage(policy) == USED
    assert request("e", failed=True).billed_usage(policy) == policy.billable(USED)


def test_a_failed_event_round_trips_and_a_completed_one_leaves_the_flag_out():
    failed = request("e1", failed=True)
    assert failed.to_dict()["failed"] is True
    assert UsageEvent.from_dict(failed.to_dict()) == failed
    assert "failed" not in request("e2", failed=False).to_dict()


def test_the_failed_flag_is_a_bit_of_the_record():
    record = record_of(request("e1", failed=True))
    assert record[6] == FAILED
    assert parse_record(request("e1", failed=True).to_dict()) == record


@pytest.mark.parametrize("flag", [1, "true", None])
def test_the_failed_flag_must_be_a_boolean(flag):
    data = {**request("e1", failed=False).to_dict(), "failed": flag}
    with pytest.raises(InvalidValueError, match="failed must be true or false"):
        parse_record(data)
    with pytest.raises(InvalidValueError, match="failed"):
        UsageEvent.from_dict(data)
    with pytest.raises(InvalidValueError, match="failed must be True or False"):
        UsageEvent("e", "ada", SONNET, Product.CHAT, USED, AT, failed=flag)


def test_the_organization_carries_one_policy():
    assert organization(member("ada")).failure_policy is FailurePolicy.REPORTED
    with pytest.raises(InvalidValueError, match="failure_policy must be a FailurePolicy"):
        attrs.evolve(organization(member("ada")), failure_policy="input")


def test_the_organization_file_names_the_policy():
    data = {
        "name": "acme",
        "failure_policy": "input",
        "seat_types": {"chat": {"monthly_fee": "20", "includes": ["chat"]}},
        "members": [
            {
                "user_id": "olga",
                "role": "primary_owner",
                "seats": [{"from": datetime(2026, 9, 1, tzinfo=UTC), "seat_type": "chat"}],
            }
        ],
    }
    assert Organization.from_dict(data).failure_policy is FailurePolicy.INPUT
    with pytest.raises(LoadError, match="failure_policy"):
        Organization.from_dict({**data, "failure_policy": "half"})


# --- the same figures everywhere -----------------------------------------------------------


@pytest.mark.parametrize("policy", list(FailurePolicy))
def test_the_ledger_the_invoice_and_the_reconciliation_bill_a_failure_alike(policy):
    org = organization(member("ada"), failure_policy=policy)
    ledger = MemoryLedger(org, clock=lambda: AT)
    charged = ledger.charge(request("e1", failed=True))
    invoice = build_invoice(org, [request("e1", failed=True)], OCTOBER)
    report = {
        "data": [
            {
                "starting_at": "2026-10-03T00:00:00Z",
                "ending_at": "2026-10-04T00:00:00Z",
                "results": [{"model": SONNET, "uncached_input_tokens": 0, "output_tokens": 0}],
            }
        ]
    }
    reconciled = reconcile([request("e1", failed=True)], report, failure_policy=policy)
    assert charged.amount == Money(BILLED[policy])
    billed = Money.sum(line.exact for line in invoice.usage_lines)  # a zero line is left out
    assert billed == Money(BILLED[policy])
    assert reconciled.events_total == Money(BILLED[policy])


def test_a_settled_failure_is_billed_by_the_policy():
    ledger = MemoryLedger(
        organization(member("ada"), failure_policy=FailurePolicy.INPUT), clock=lambda: AT
    )
    ledger.hold("req-1", "ada", Money("0.10"), at=AT)
    settled = ledger.settle("req-1", request("e1", failed=True))
    assert settled.amount == Money("0.036")  # 0.03 + 0.006
    assert ledger.month_to_date(AT).member("ada") == Money("0.036")
    assert ledger.month_to_date(AT).held_total == 0


def test_failed_and_completed_are_different_content_for_the_ledger():
    ledger = MemoryLedger(organization(member("ada")), clock=lambda: AT)
    ledger.charge(request("e1", failed=False))
    with pytest.raises(ConflictError):
        ledger.charge(request("e1", failed=True))


def test_failed_requests_get_invoice_lines_of_their_own():
    events = [request("e1", failed=False), request("e2", failed=True), request("e3", failed=True)]
    invoice = build_invoice(
        organization(member("ada"), failure_policy=FailurePolicy.INPUT), events, OCTOBER
    )
    completed, failed = invoice.usage_lines
    assert (completed.requests, completed.failure_policy) == (1, None)
    assert (failed.requests, failed.failure_policy) == (2, FailurePolicy.INPUT)
    assert failed.exact == Money("0.072")  # 2 x (0.03 + 0.006)
    assert failed.description == (
        f"{SONNET}, chat (failed after starting, billed their input only, price from 2026-03-13)"
    )
    assert "failed after starting" in invoice.to_text()


def test_the_reconciliation_says_how_many_failed_requests_a_difference_holds():
    # The provider billed the whole request; the policy bills its input only:
    # 2,000 output tokens and 2 searches more on the report's side.
    report = {
        "data": [
            {
                "starting_at": "2026-10-03T00:00:00Z",
                "ending_at": "2026-10-04T00:00:00Z",
                "results": [
                    {
                        "model": SONNET,
                        "uncached_input_tokens": 10_000,
                        "cache_read_input_tokens": 20_000,
                        "output_tokens": 2_000,
                        "server_tool_use": {"web_search_requests": 2},
                    }
                ],
            }
        ]
    }
    events = [request("e1", failed=True)]
    result = reconcile(events, report, failure_policy=FailurePolicy.INPUT)
    (line,) = result.differences
    assert (line.requests, line.failed) == (1, 1)
    assert line.reasons[-1] == (
        "1 of our requests failed after starting, billed their input only "
        "(the provider bills what it served)"
    )
    assert result.total_change == Money("0.05")  # 0.03 output + 0.02 searches
    assert result.to_records()[0]["failed"] == 1
    assert reconcile(events, report).differences == ()  # billed as reported: it matches
    with pytest.raises(InvalidValueError, match="failure_policy"):
        reconcile(events, report, failure_policy="input")


def test_forecasts_and_cap_replays_count_a_failure_as_billed():
    org = organization(member("ada"), failure_policy=FailurePolicy.INPUT)
    events = [request("e1", failed=True), request("e2", failed=False)]
    ahead = forecast(org, events, OCTOBER, as_of=datetime(2026, 10, 4, tzinfo=UTC))
    assert ahead.total.spent == Money("0.12")  # 0.036 + 0.086, rounded
    # A cap of 0.10 on ada lets the failure (0.036) through, then denies the 0.086.
    replay = whatif(
        org, events, OCTOBER, Scenario([ChangeCaps(SpendLimits(members={"ada": Money("0.10")}))])
    )
    assert [denied.event_id for denied in replay.denied] == ["e2"]
    assert replay.spend is not None
    assert replay.spend.member("ada") == Money("0.036")


# --- one policy, every engine -------------------------------------------------------------

usages = st.builds(
    TokenUsage,
    input_tokens=st.integers(0, 300_000),
    output_tokens=st.integers(0, 8_000),
    cache_write_5m_tokens=st.integers(0, 20_000),
    cache_read_tokens=st.integers(0, 50_000),
    web_search_requests=st.integers(0, 3),
)
events = st.lists(
    st.builds(
        lambda index, usage, failed, minutes: request(
            f"e{index}", failed=failed, usage=usage, at=AT + timedelta(minutes=minutes)
        ),
        st.integers(0, 6),
        usages,
        st.booleans(),
        st.integers(0, 600),
    ),
    max_size=12,
    unique_by=lambda event: event.event_id,
)


@settings(max_examples=60, deadline=None)
@given(events=events, policy=st.sampled_from(list(FailurePolicy)), parts=st.integers(1, 3))
def test_ledger_invoice_and_reconciliation_agree_on_every_policy(events, policy, parts):
    """Σ ledger charges == the invoice's exact usage == reconcile's events total, to the digit.

    The invoice also comes out the same when built in parts and merged (with overlap).
    """
    org = organization(member("ada"), failure_policy=policy)
    table = PriceTable.builtin()
    ledger = MemoryLedger(org, clock=lambda: AT)
    charged = sum((ledger.charge(e).amount for e in events), Money(0))
    expected = sum(
        (Money(table.amount(e.model, e.billed_usage(policy), e.at, e.modifiers)) for e in events),
        Money(0),
    )
    whole = build_invoice(org, events + events, OCTOBER)  # each event twice, as below
    builders = [InvoiceBuilder(org, OCTOBER) for _ in range(parts)]
    for position, one in enumerate(events):
        builders[position % parts].add(one)
        builders[(position + 1) % parts].add(one)  # every event in two parts
    merged = builders[0]
    for other in builders[1:]:
        merged.merge(other)
    reconciled = reconcile(events, {"data": []}, failure_policy=policy)
    exact_usage = Money.sum((line.exact for line in whole.usage_lines), "USD")
    assert charged == expected == exact_usage
    assert reconciled.outside_amount == expected
    # Events both parts counted come back out by a second pass (the builder keeps digests only).
    assert merged.resolve(events).finish() == whole
