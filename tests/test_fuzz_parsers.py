"""Only documented exceptions escape: every public entry point that takes outside data, fuzzed.

Each entry point gets random junk and targeted mutations of a valid document
(:mod:`tests.fuzzing`); whatever it is given, it returns a value or raises a
:class:`~usagebill.errors.UsageBillError` — never a RecursionError, a bare
ValueError or TypeError, a UnicodeDecodeError or a warning turned error.
"""

from __future__ import annotations

import functools
import json
import tomllib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import (
    HOSTILE,
    hostile_values,
    json_junk,
    json_text,
    mutated_bytes,
    mutations,
    toml_text,
    utf8,
)
from usagebill import (
    BillingPeriod,
    Invoice,
    Modifiers,
    Money,
    Organization,
    PriceTable,
    TokenUsage,
    UsageBillError,
    UsageEvent,
    reconcile,
)
from usagebill.analysis.whatif import Scenario
from usagebill.billing.invoice import build_invoice
from usagebill.events import parse_record
from usagebill.io.anthropic import UsageReport
from usagebill.testing import price_table_dicts

EXAMPLES = Path(__file__).parents[1] / "examples"

# Deep copies of big documents and files on disk: slower than hypothesis expects of an example.
fuzz = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def only_documented(call: Callable[[], object]) -> None:
    """Run ``call``: a value, or a UsageBillError; a warning is an error too (dateutil's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            call()
        except UsageBillError as error:
            str(error)  # the message itself must build (no 4,300-digit int written out)


EVENT: dict[str, Any] = {
    "event_id": "evt-1",
    "user_id": "u-001",
    "model": "claude-sonnet-4-6",
    "product": "chat",
    "at": "2026-10-05T12:00:00Z",
    "usage": {
        "input_tokens": 1_200,
        "output_tokens": 350,
        "cache_write_5m_tokens": 10,
        "cache_write_1h_tokens": 20,
        "cache_read_tokens": 8_000,
        "web_search_requests": 1,
    },
    "modifiers": {"batch": False, "us_only": True, "fast": False},
    "failed": False,
}


@functools.cache
def organization_document() -> dict[str, Any]:
    with (EXAMPLES / "org.toml").open("rb") as file:
        return tomllib.load(file)


SCENARIO: dict[str, Any] = {
    "name": "everything",
    "replay_caps": True,
    "move_seats": [{"members": ["u-007", "u-018"], "seat_type": "chat", "add_ons": []}],
    "caps": {
        "organization": {"pool_cap": "12000", "member_default": "300"},
        "seat_types": {"chat": {"pool_cap": "2000", "member_default": "100"}},
        "members": {"u-011": "60"},
    },
    "model_prices": [
        {
            "model": "claude-opus-5-5",
            "rates": {
                "input": "5",
                "output": "25",
                "cache_write_5m": "6.25",
                "cache_write_1h": "10",
                "cache_read": "0.25",
            },
            "effective_from": datetime(2026, 10, 15, tzinfo=UTC),
        }
    ],
    "flat_plan": {"fees": {"chat": "30", "chat_claude_code": "75"}, "allowance": "40"},
}

MESSAGES_USAGE: dict[str, Any] = {
    "input_tokens": 12,
    "output_tokens": 300,
    "cache_creation_input_tokens": 2_000,
    "cache_read_input_tokens": 40_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1_500},
    "server_tool_use": {"web_search_requests": 2},
    "service_tier": "batch",
    "inference_geo": "us",
    "speed": "fast",
}

REPORT: dict[str, Any] = {
    "data": [
        {
            "starting_at": "2026-10-01T00:00:00Z",
            "ending_at": "2026-10-02T00:00:00Z",
            "results": [
                {
                    "model": "claude-sonnet-4-6",
                    "uncached_input_tokens": 1_200,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 0,
                        "ephemeral_1h_input_tokens": 7,
                    },
                    "cache_read_input_tokens": 8_000,
                    "output_tokens": 350,
                    "server_tool_use": {"web_search_requests": 0},
                    "context_window": "0-200k",
                    "service_tier": "standard",
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}


@functools.cache
def invoice_document() -> dict[str, Any]:
    """A small invoice's JSON form: olga's org of the examples, a few events."""
    org = Organization.from_file(EXAMPLES / "org.toml")
    with (EXAMPLES / "usage-2026-10.jsonl").open() as file:
        events = [UsageEvent.from_dict(json.loads(next(file))) for _ in range(200)]
    invoice = build_invoice(org, events, BillingPeriod.of("2026-10", timezone=org.timezone))
    document: dict[str, Any] = json.loads(invoice.to_json())
    return document


@functools.cache
def price_table_document() -> dict[str, Any]:
    return PriceTable.builtin().to_dict()


# --- the events ------------------------------------------------------------------------------


@fuzz
@given(json_junk | mutations(EVENT))
def test_the_event_record_parser(data):
    only_documented(lambda: parse_record(data))
    only_documented(lambda: UsageEvent.from_dict(data))


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("field", [*EVENT, "usage.input_tokens", "modifiers.fast"])
def test_every_hostile_value_in_every_event_field(field, value):
    """Exhaustive where it is cheap: each hostile value in each field of an event."""
    data = json.loads(json.dumps(EVENT))
    where, _, inner = field.partition(".")
    if inner:
        data[where][inner] = value
    else:
        data[where] = value
    only_documented(lambda: UsageEvent.from_dict(data))


# --- organizations and scenarios -------------------------------------------------------------


@fuzz
@given(json_junk | mutations(organization_document()))
def test_organization_from_dict(data):
    only_documented(lambda: Organization.from_dict(data))


@fuzz
@given(json_junk | mutations(SCENARIO) | mutations({"prices": {"file": "prices.json"}}))
def test_scenario_from_dict(data):
    only_documented(lambda: Scenario.from_dict(data, currency="USD", directory=EXAMPLES))


@fuzz
@given(
    data=st.binary(max_size=200)
    | mutated_bytes((EXAMPLES / "org.toml").read_bytes())
    | mutations(organization_document()).map(toml_text).map(utf8)
)
def test_organization_from_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("org") / "org.toml"
    path.write_bytes(data)
    only_documented(lambda: Organization.from_file(path))


@fuzz
@given(
    data=st.binary(max_size=200)
    | mutated_bytes((EXAMPLES / "scenario-downgrade.toml").read_bytes())
    | mutated_bytes(b'name = "n"\n[prices]\nfile = "prices.json"\n')
    | mutations(SCENARIO).map(toml_text).map(utf8)
)
def test_scenario_from_file(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("scenario")
    (directory / "prices.json").write_text('{"version": "1"}')
    path = directory / "scenario.toml"
    path.write_bytes(data)
    only_documented(lambda: Scenario.from_file(path))


@pytest.mark.parametrize("file", ["", ".", "missing.json", "a\x00b", "x" * 5_000, "/", "../"])
def test_a_scenario_price_file_that_cannot_be_read(file):
    """Each is a LoadError (naming the path), not an OSError nor a ValueError."""
    with pytest.raises(UsageBillError):
        Scenario.from_dict({"prices": {"file": file}}, directory=EXAMPLES)


# --- price tables ----------------------------------------------------------------------------


@fuzz
@given(json_junk | mutations(price_table_document()) | price_table_dicts().flatmap(mutations))
def test_price_table_from_dict(data):
    only_documented(lambda: PriceTable.from_dict(data))


@fuzz
@given(
    data=st.binary(max_size=200)
    | mutations(price_table_document()).map(json_text).map(utf8)
    | mutated_bytes(json.dumps({"version": "1", "currency": "USD", "models": {}}).encode())
)
def test_price_table_from_json_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("prices") / "prices.json"
    path.write_bytes(data)
    only_documented(lambda: PriceTable.from_file(path))


@fuzz
@given(
    data=st.binary(max_size=200)
    | mutated_bytes(b'version = "1"\ncurrency = "USD"\n[models]\n')
    | mutated_bytes(b'version = "1"\n[models.m]\nprices = [{rates = {input = "1"}}]\n')
    | mutations(price_table_document()).map(toml_text).map(utf8)
)
def test_price_table_from_toml_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("prices") / "prices.toml"
    path.write_bytes(data)
    only_documented(lambda: PriceTable.from_file(path))


# --- invoices --------------------------------------------------------------------------------


@fuzz
@given(
    st.text(max_size=100)
    | st.binary(max_size=100)
    | mutations(invoice_document()).map(json_text)
    | mutated_bytes(json.dumps(invoice_document()).encode())
)
def test_invoice_from_json(text):
    only_documented(lambda: Invoice.from_json(text))


# --- the provider's usage ----------------------------------------------------------------------


@fuzz
@given(json_junk | mutations(MESSAGES_USAGE))
def test_token_usage_from_anthropic(data):
    only_documented(lambda: TokenUsage.from_anthropic(data))
    only_documented(lambda: Modifiers.from_anthropic(data))


@fuzz
@given(json_junk | mutations(REPORT) | mutations(REPORT["data"]) | mutations([REPORT, REPORT]))
def test_the_usage_report_reader(data):
    only_documented(lambda: UsageReport.from_anthropic(data))


@functools.cache
def october_events() -> tuple[UsageEvent, ...]:
    with (EXAMPLES / "usage-2026-10.jsonl").open() as file:
        return tuple(UsageEvent.from_dict(json.loads(next(file))) for _ in range(50))


@fuzz
@given(mutations(REPORT) | mutations([REPORT]))
def test_reconciling_with_a_broken_report(data):
    """The report is read first: a broken one is its LoadError, whatever the events."""
    only_documented(lambda: reconcile(october_events(), data))


# --- money -----------------------------------------------------------------------------------


@fuzz
@given(
    hostile_values | json_junk | st.decimals() | st.text(max_size=30),
    hostile_values | st.text(max_size=5),
)
def test_money(amount, currency):
    only_documented(lambda: Money(amount, currency))
    only_documented(lambda: Money(amount) + Money(amount))
    only_documented(lambda: Money(amount).rounded())


@pytest.mark.parametrize("multiplier", ["1000", "1E+8"])
def test_a_us_only_multiplier_is_a_small_factor(multiplier):
    """A surcharge of 1,000 times or more would take derived rates far past any listed one."""
    document = price_table_document()
    model = next(iter(document["models"]))
    price = document["models"][model]["prices"][0]
    broken = {
        **document,
        "models": {
            model: {
                **document["models"][model],
                "prices": [{**price, "us_only_multiplier": multiplier}],
            }
        },
    }
    with pytest.raises(UsageBillError, match="us_only_multiplier: must be less than 1,000"):
        PriceTable.from_dict(broken)


def test_a_rate_built_in_code_has_at_most_20_decimal_places():
    """Found by the fuzzing: 55 decimal places passed, then rating raised decimal.Inexact."""
    from usagebill.pricing.prices import Rates  # noqa: PLC0415  (only this test builds rates)

    with pytest.raises(UsageBillError, match="input must have at most 20 decimal places"):
        Rates("3." + "1" * 55, "15", "3.75", "6", "0.30")
    finest = Rates("3." + "1" * 20, "15", "3.75", "6", "0.30")
    assert finest.input == Decimal("3." + "1" * 20)
