"""The FOCUS 1.2 export: the specification's columns, values and rules; BilledCost = the total."""

import csv
import io
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invoice_properties import OCTOBER, ORG, event_streams

from usagebill import BillingPeriod, Organization, UsageEvent, build_invoice
from usagebill.accounts.invoicing import InvoiceSettings
from usagebill.billing.focus import FOCUS_COLUMNS, DailyUsage, focus_table, to_focus_csv
from usagebill.cli import main
from usagebill.rounding import RoundingPolicy

ROOT = Path(__file__).parents[2]
# FOCUS 1.2's mandatory columns (the FOCUS_Spec repository at tag v1.2, specification/columns).
MANDATORY = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
]
# Conditional columns whose condition holds for a usage biller with a price list.
CONDITIONAL = [
    "ConsumedQuantity",
    "ConsumedUnit",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "ChargeFrequency",
    "InvoiceId",
]
DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NUMBER = re.compile(r"-?\d+(\.\d+)?(E-?\d+)?")
FEW = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _check_rules(rows: list[dict[str, str]], total: Decimal, number: str) -> None:
    """The specification's rules that matter (references.md), row by row, and the sum."""
    assert rows
    for row in rows:
        assert row["ChargeCategory"] in {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
        assert row["ChargeClass"] == ""  # null: nothing here corrects an earlier invoice
        assert row["BilledCost"] != ""
        usage = row["ChargeCategory"] == "Usage"
        assert (row["ConsumedQuantity"] != "") == usage  # null exactly when not Usage
        for key in ("SkuId", "PricingQuantity", "PricingUnit"):  # not null on Usage and Purchase
            assert row[key], key
        if row["ChargeCategory"] == "Purchase":
            assert row["ChargeFrequency"] != "Usage-Based"
        for key in (
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargePeriodStart",
            "ChargePeriodEnd",
        ):
            assert DATE.fullmatch(row[key]), (key, row[key])
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
        for key in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity"):
            assert NUMBER.fullmatch(row[key]), (key, row[key])
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["InvoiceId"] == number
        assert row["BillingCurrency"] == "USD"
    assert sum(Decimal(row["BilledCost"]) for row in rows) == total


def test_the_columns_are_the_specifications_then_ours():
    keys = [column.key for column in FOCUS_COLUMNS]
    assert set(MANDATORY) <= set(keys)
    assert set(CONDITIONAL) <= set(keys)
    ours = [key for key in keys if key.startswith("x_")]
    assert keys[-len(ours) :] == ours  # our columns come after the specification's


def test_the_example_month():
    org = Organization.from_file(ROOT / "examples" / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    with (ROOT / "examples" / "usage-2026-10.jsonl").open() as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    invoice = build_invoice(org, events, period)
    rows = _rows(to_focus_csv(invoice, DailyUsage(org, period).add_all(events).cubes()))
    _check_rules(rows, invoice.total.amount, "AH-2026-10-0010")
    purchases = [row for row in rows if row["ChargeCategory"] == "Purchase"]
    assert len(purchases) == len(invoice.seat_lines)
    assert {row["PricingUnit"] for row in rows} == {
        "Seat-Months",
        "1000000 Tokens",
        "1000 Requests",
    }
    usage = [row for row in rows if row["ChargeCategory"] == "Usage"]
    # One row per user × model × token category × day (and price): each row is one day.
    for row in usage[:200]:
        start = datetime.fromisoformat(row["ChargePeriodStart"])
        end = datetime.fromisoformat(row["ChargePeriodEnd"])
        assert end - start == timedelta(days=1)  # New York, all of October in EDT
    tokens = sum(int(row["ConsumedQuantity"]) for row in usage if row["x_TokenCategory"] == "input")
    assert tokens == sum(line.usage.input_tokens for line in invoice.usage_lines)


@FEW
@given(events=event_streams(), policy=st.sampled_from(list(RoundingPolicy)))
def test_billed_cost_sums_to_the_invoice_total_under_every_policy(events, policy):
    org = attrs.evolve(ORG, invoicing=InvoiceSettings(rounding=policy))
    invoice = build_invoice(org, events, OCTOBER)
    table = focus_table(invoice, DailyUsage(org, OCTOBER).add_all(events).cubes())
    billed = [row[0] for row in table.rows]
    assert sum(billed, invoice.total * 0) == invoice.total
    if table.rows:
        _check_rules(
            _rows(to_focus_csv(invoice, DailyUsage(org, OCTOBER).add_all(events).cubes())),
            invoice.total.amount,
            invoice.number,
        )


def test_days_of_other_events_are_refused():
    org = Organization.from_file(ROOT / "examples" / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    with (ROOT / "examples" / "usage-2026-10.jsonl").open() as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines][5_000:5_200]
    invoice = build_invoice(org, events, period)
    import pytest  # noqa: PLC0415

    from usagebill import InvalidValueError  # noqa: PLC0415

    with pytest.raises(InvalidValueError, match="must add up to the invoice's line"):
        focus_table(invoice, DailyUsage(org, period).add_all(events[:100]).cubes())


def test_the_command_line_writes_focus(capsys):
    out = io.StringIO()
    status = main(
        [
            "invoice",
            "--org",
            str(ROOT / "examples" / "org.toml"),
            "--events",
            str(ROOT / "examples" / "usage-2026-10.jsonl"),
            "--period",
            "2026-10",
            "--format",
            "focus",
        ],
        out=out,
        err=io.StringIO(),
    )
    assert status == 0
    rows = _rows(out.getvalue())
    assert sum(Decimal(row["BilledCost"]) for row in rows) == Decimal("2727.23")
