"""The command line: invoices in every format, the price table, one request's cost, bad input."""

import csv
import io
import json
from pathlib import Path

import pytest

from usagebill import BillingPeriod, Invoice, InvoiceBuilder, Organization, PriceTable, cli
from usagebill.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples"
ORG = str(EXAMPLES / "org.toml")
EVENTS = str(EXAMPLES / "usage-2026-10.jsonl")

# (A backslash at the end of a line joins it to the next: TOML inline tables are one line.)
PRICES = """\
version = "my-prices-1"
currency = "USD"
source = "a test table"

[models.m-basic]
display_name = "Basic"
aliases = ["basic"]
retired = 2026-12-01

[[models.m-basic.prices]]
confidence = "low: guessed for the test"
rates = { input = "1", output = "2", cache_write_5m = "1.25", cache_write_1h = "2", \
cache_read = "0.10" }
long_context.above_prompt_tokens = 1000
long_context.rates = { input = "2", output = "4", cache_write_5m = "2.5", cache_write_1h = "4", \
cache_read = "0.20" }

[models.m-fast]
[[models.m-fast.prices]]
rates = { input = "3", output = "6", cache_write_5m = "3", cache_write_1h = "3", \
cache_read = "0.3" }
fast = { input = "6", output = "12", cache_write_5m = "6", cache_write_1h = "6", \
cache_read = "0.6" }
us_only_multiplier = "1.1"

[models.m-later]
[[models.m-later.prices]]
rates = { input = "9", output = "9", cache_write_5m = "9", cache_write_1h = "9", cache_read = "9" }
effective_from = 2027-01-01T00:00:00Z
"""

TINY_ORG = """\
name = "Tiny"

[seat_types.chat]
monthly_fee = "31.00"
includes = ["chat"]

[[members]]
user_id = "olga"
role = "primary_owner"
seats = [{ from = 2026-01-01T00:00:00Z, seat_type = "chat" }]
"""


def record(event_id: str, day: int = 5, **changes) -> str:
    data = {
        "event_id": event_id,
        "user_id": "olga",
        "model": "basic",
        "product": "chat",
        "at": f"2026-10-{day:02d}T12:00:00Z",
        "usage": {"input_tokens": 500_000, "output_tokens": 250_000},
    }
    data.update(changes)
    return json.dumps(data)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "prices.toml").write_text(PRICES, encoding="utf-8")
    (tmp_path / "org.toml").write_text(TINY_ORG, encoding="utf-8")
    return tmp_path


def invoice_args(org: str, events: str, *more: str) -> list[str]:
    return ["invoice", "--org", org, "--events", events, "--period", "2026-10", *more]


# --- invoice on the example data --------------------------------------------------------------


@pytest.fixture(scope="module")
def expected() -> Invoice:
    org = Organization.from_file(ORG)
    builder = InvoiceBuilder(org, BillingPeriod.of("2026-10", timezone=org.timezone))
    with Path(EVENTS).open(encoding="utf-8") as lines:
        for line in lines:
            builder.add_record(json.loads(line))
    return builder.finish()


def test_invoice_text(expected):
    """The default format is text: header, totals, every user."""
    status, out, err = run(*invoice_args(ORG, EVENTS))
    assert (status, err) == (0, "")
    assert out == expected.to_text()
    assert out.startswith("INVOICE AH-2026-10-0010\n")
    assert f"{expected.total.amount:,f}" in out
    assert "16,959 billed, 35 duplicates ignored, 667 outside the period" in out


def test_invoice_markdown(expected):
    """--format md writes the Markdown invoice."""
    status, out, _ = run(*invoice_args(ORG, EVENTS, "--format", "md"))
    assert status == 0
    assert out == expected.to_markdown()
    assert out.startswith("# Invoice AH-2026-10-0010\n")


def test_invoice_json(expected):
    """--format json writes the invoice JSON, which reads back as the same invoice."""
    status, out, _ = run(*invoice_args(ORG, EVENTS, "--format", "json"))
    assert status == 0
    assert out.endswith("}\n")
    assert Invoice.from_json(out) == expected
    assert json.loads(out)["content_hash"] == expected.content_hash


def test_invoice_csv(expected):
    """--format csv writes one row per line and a header."""
    status, out, _ = run(*invoice_args(ORG, EVENTS, "--format", "csv"))
    assert status == 0
    assert out == expected.to_csv()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == expected.line_count()


def test_invoice_from_stdin(tiny, monkeypatch):
    """--events - reads the events from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(record("a") + "\n"))
    status, out, _ = run(
        *invoice_args(str(tiny / "org.toml"), "-", "--prices", str(tiny / "prices.toml"))
    )
    assert status == 0
    assert "1 billed" in out


# --- a custom price table ---------------------------------------------------------------------


def test_invoice_with_a_custom_price_table(tiny):
    """--prices bills with the given table, named on the invoice."""
    events = tiny / "usage.jsonl"
    events.write_text("\n".join([record("a"), "", record("b", 20), record("a")]) + "\n")
    status, out, err = run(
        *invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml")),
        "--format",
        "json",
    )
    assert (status, err) == (0, "")
    invoice = Invoice.from_json(out)
    assert invoice.price_table == "my-prices-1"
    assert (invoice.events, invoice.duplicates) == (2, 1)
    # Each request: prompt 500,000 > 1,000, so the tier: 500,000 × $2 + 250,000 × $4 = $2.00
    (line,) = invoice.usage_lines
    assert line.in_tier
    assert line.amount.amount == 4
    # A $31 seat over October's 31 days, all month: $31.00; total $35.00.
    assert str(invoice.total) == "35.00 USD"


def test_prices_from_a_custom_table(tiny):
    """`prices --prices FILE` lists that table and its notes; models not yet priced are left out."""
    status, out, _ = run("prices", "--prices", str(tiny / "prices.toml"), "--at", "2026-10-15")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "Price table my-prices-1 (USD per million tokens), at 2026-10-15"
    assert lines[1] == "Source: a test table"
    basic = next(line for line in lines if line.startswith("m-basic"))
    assert "retired 2026-12-01" in basic
    assert "tier > 1,000" in basic
    assert "confidence: low" in basic
    assert "fast mode" in next(line for line in lines if line.startswith("m-fast"))
    assert not any(line.startswith("m-later") for line in lines)
    assert not any(line != line.rstrip() for line in lines)


def test_a_bad_price_table_stops_with_exit_2(tiny):
    """A price table that does not load is exit 2 with its problems."""
    bad = tiny / "bad.json"
    bad.write_text('{"version": "x", "models": {}, "currency": 5}', encoding="utf-8")
    status, out, err = run("prices", "--prices", str(bad), "--at", "2026-10-15")
    assert (status, out) == (2, "")
    assert err.startswith("usagebill: error: ")
    assert "currency" in err


# --- prices and cost --------------------------------------------------------------------------


def test_prices_text_and_json():
    """`prices` shows the built-in table in text, or JSON that loads back as the same table."""
    status, out, _ = run("prices", "--at", "2026-10-15")
    assert status == 0
    assert out.startswith(f"Price table {PriceTable.builtin().version} (USD per million tokens)")
    assert any(line.startswith("claude-sonnet-4-6 ") for line in out.splitlines())
    status, out, _ = run("prices", "--format", "json")
    assert status == 0
    assert PriceTable.from_dict(json.loads(out)) == PriceTable.builtin()


def test_prices_default_to_now():
    """Without --at, the prices in force now are shown."""
    status, out, _ = run("prices")
    assert status == 0
    assert "per million tokens), at 20" in out


def test_cost_of_one_request():
    """`cost` rates one request: 2,000 × $3 + 500 × $15 = $0.0135, shown $0.01."""
    status, out, _ = run(
        "cost", "--model", "claude-sonnet-4-6", "--input", "2000", "--output", "500",
        "--at", "2026-10-15",
    )  # fmt: skip
    assert status == 0
    assert out.splitlines() == [
        "claude-sonnet-4-6 at claude-2026-12-01 (price version 2 of 2, from 2026-03-13)",
        (
            "rates per million tokens: input 3, output 15, cache_write_5m 3.75, "
            "cache_write_1h 6, cache_read 0.30"
        ),
        "cost: 0.0135 USD (shown: 0.01 USD)",
    ]


def test_cost_names_the_price_version_and_tier_before_ga():
    """Sonnet 4.6 on 2026-03-01, 250,000 input: version 1 of 2, its tier: 250,000 x $6 = $1.50."""
    status, out, _ = run(
        "cost", "--model", "claude-sonnet-4-6", "--input", "250000", "--at", "2026-03-01",
    )  # fmt: skip
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "claude-sonnet-4-6 at claude-2026-12-01 (price version 1 of 2, long-context tier)"
    )
    assert lines[-1] == "cost: 1.50 USD (shown: 1.50 USD)"


def test_prices_of_one_model_show_its_version_source_and_figures():
    """`prices --model` at 2026-03-01: Opus 4.6's first version, tiers per mode, derived marks."""
    status, out, _ = run("prices", "--at", "2026-03-01", "--model", "claude-opus-4-6")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "claude-opus-4-6 (Claude Opus 4.6) at 2026-03-01 00:00:00+00:00, table claude-2026-12-01"
    )
    assert lines[1] == (
        "Price version 1 of 2: from the model's release until 2026-03-13 00:00:00+00:00"
    )
    assert lines[2].startswith("Source: pydantic/genai-prices")
    assert lines[3] == "As of: 2026-12-01"
    assert lines[4].startswith("Confidence: medium")
    table = lines[lines.index("USD per million tokens; * derived, not printed by the price list") :]
    assert table[1:6] == [
        "mode      prompt tokens       input   output  write5m  write1h     read",
        "standard  up to 200,000           5       25     6.25       10     0.50",
        "standard  over 200,000           10    37.50   12.50*      20*    1.00*",
        "fast      up to 200,000          30      150   37.50*      60*    3.00*",
        "fast      over 200,000           60      225      75*     120*    6.00*",
    ]
    assert (
        "  long_context.cache_read = 0.1 x long_context.input (cache reads cost 0.1x input)"
    ) in lines
    assert lines[-1] == (
        "Modifiers: batch x0.5 on every token rate; US-only inference x1.1; "
        "web search 10 per 1,000 searches"
    )


def test_prices_of_one_model_after_ga_and_by_alias():
    """After GA Sonnet 4.6 is version 2 of 2, one row at any prompt length; aliases work."""
    status, out, _ = run("prices", "--at", "2026-03-20", "--model", "claude-sonnet-4-6")
    assert status == 0
    assert "Price version 2 of 2: from 2026-03-13 00:00:00+00:00 until now (still in force)" in out
    assert "standard  any                     3       15     3.75        6     0.30" in out
    assert "Derived figures" not in out
    status, out, _ = run("prices", "--at", "2026-03-20", "--model", "claude-haiku-4-5")
    assert status == 0
    assert out.startswith("claude-haiku-4-5-20251001 (Claude Haiku 4.5)")


def test_prices_of_one_model_as_json():
    """JSON: the version, its range and provenance, and each figure, listed or derived."""
    status, out, _ = run(
        "prices", "--at", "2026-03-01", "--model", "claude-sonnet-4-6", "--format", "json"
    )
    assert status == 0
    data = json.loads(out)
    assert (data["at"], data["table"], data["model"]) == (
        "2026-03-01T00:00:00+00:00",
        "claude-2026-12-01",
        "claude-sonnet-4-6",
    )
    assert (data["version"], data["versions"]) == (1, 2)
    assert (data["effective_from"], data["effective_until"]) == (None, "2026-03-13T00:00:00+00:00")
    assert data["as_of"] == "2026-12-01"
    read = next(f for f in data["figures"] if f["name"] == "long_context.cache_read")
    assert read == {
        "name": "long_context.cache_read",
        "mode": "standard",
        "above_prompt_tokens": 200_000,
        "category": "cache_read",
        "rate": "0.60",
        "derivation": {
            "of": "long_context.input",
            "times": "0.1",
            "rule": "cache reads cost 0.1x input",
        },
        "listed": False,
    }
    assert next(f for f in data["figures"] if f["name"] == "long_context.input")["listed"]
    assert "price" not in data


def test_cost_with_every_option(tiny):
    """Cache writes and reads, web searches, batch and US-only, at a dated instant."""
    status, out, _ = run(
        "cost", "--model", "m-fast", "--input", "1000000", "--output", "1000000",
        "--cache-write-5m", "1000000", "--cache-write-1h", "1000000", "--cache-read", "1000000",
        "--web-searches", "2", "--batch", "--us-only", "--at", "2026-10-15T12:00:00+02:00",
        "--prices", str(tiny / "prices.toml"),
    )  # fmt: skip
    assert status == 0
    # Tokens: (3 + 6 + 3 + 3 + 0.3) × 0.5 × 1.1 = 15.3 × 0.55 = $8.415; 2 searches × $0.01
    assert "cost: 8.435 USD (shown: 8.44 USD)" in out


def test_cost_in_a_context_tier_says_so(tiny):
    """A request past the tier's threshold is marked."""
    status, out, _ = run(
        "cost", "--model", "basic", "--input", "1001", "--at", "2026-10-15",
        "--prices", str(tiny / "prices.toml"),
    )  # fmt: skip
    assert status == 0
    assert out.splitlines()[0] == "m-basic at my-prices-1 (long-context tier)"


def test_cost_with_fast_mode(tiny):
    """--fast prices at the model's fast rates."""
    status, out, _ = run(
        "cost", "--model", "m-fast", "--output", "1000000", "--fast", "--at", "2026-10-15",
        "--prices", str(tiny / "prices.toml"),
    )  # fmt: skip
    assert status == 0
    # 1,000,000 output tokens at fast mode's $12 per million
    assert "cost: 12.00 USD (shown: 12.00 USD)" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["cost", "--model", "claude-sonet-4-6", "--at", "2026-10-15"], "did you mean"),
        (["cost", "--model", "claude-haiku-4-5", "--fast", "--at", "2026-10-15"], "fast"),
        (["cost", "--model", "claude-sonnet-4-6", "--at", "soon"], "--at must be an ISO 8601"),
        (["cost", "--model", "claude-sonnet-4-6", "--input", "-5", "--at", "2026-10-15"],
         "--input must be a non-negative int"),
        (["prices", "--at", "31/10/2026"], "ISO 8601"),
        (["prices", "--model", "claude-sonet-4-6"], "did you mean"),
    ],
)  # fmt: skip
def test_cost_and_prices_errors_exit_2(argv, words):
    """Unknown models, unsupported modifiers, bad dates and counts: exit 2 and a message."""
    status, out, err = run(*argv)
    assert (status, out) == (2, "")
    assert err.startswith("usagebill: error: ")
    assert words in err


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "Expecting property name"),
        (record("x", usage={"input_tokens": "5"}), "usage.input_tokens must be a non-negative int"),
        (record("x", product="dance"), "product must be one of"),
        (
            record("x", at="2026-10-05T12:00:00"),
            "at must be an ISO 8601 datetime string with a UTC offset",
        ),
        (record("x", user_id="zed"), "unknown member 'zed'"),
        (record("x", model="m-nope"), "unknown model 'm-nope'"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_a_bad_line_stops_with_exit_2_naming_the_line(tiny, line, reason):
    """The first bad line stops the run: exit 2, the file, the line number and the reason."""
    events = tiny / "usage.jsonl"
    events.write_text("\n".join([record("a"), record("b"), line, record("c")]) + "\n")
    status, out, err = run(
        *invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml"))
    )
    assert (status, out) == (2, "")
    assert err.startswith(f"usagebill: error: {events}:3: ")
    assert reason in err


def test_skip_invalid_skips_and_counts(tiny):
    """--skip-invalid skips bad lines, names each, counts them, and bills the rest."""
    events = tiny / "usage.jsonl"
    events.write_text(
        "\n".join([record("a"), "{oops", record("b"), record("c", user_id="zed"), record("d")])
        + "\n"
    )
    status, out, err = run(
        *invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml")),
        "--skip-invalid",
    )
    assert status == 0
    assert "3 billed" in out
    assert err.splitlines() == [
        (
            f"skipped {events}:2: line is not JSON: Expecting property name enclosed in "
            "double quotes at column 2 (got '{oops')"
        ),
        f"skipped {events}:4: unknown member 'zed'",
        "2 invalid lines skipped",
    ]


def test_reject_outside(tiny):
    """--reject-outside stops at an event outside the period, naming its line."""
    events = tiny / "usage.jsonl"
    events.write_text("\n".join([record("a"), record("b", at="2026-11-01T00:00:00Z")]) + "\n")
    args = invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml"))
    status, out, _ = run(*args)
    assert status == 0
    assert "1 outside the period" in out
    status, _, err = run(*args, "--reject-outside")
    assert status == 2
    assert f"{events}:2: event 'b' at must fall in the period 2026-10" in err


@pytest.mark.parametrize("option", ["--org", "--events", "--prices"])
def test_a_missing_file_is_exit_2_with_a_message(tiny, option):
    """A missing organization, events or prices file: exit 2 and a message naming it."""
    events = tiny / "usage.jsonl"
    events.write_text(record("a") + "\n")
    argv = invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml"))
    argv[argv.index(option) + 1] = str(tiny / "missing.file")
    status, out, err = run(*argv)
    assert (status, out) == (2, "")
    assert err.startswith("usagebill: error: ")
    assert "missing.file" in err


def test_a_bad_org_file_or_period_is_exit_2(tiny):
    """An organization file that does not load, or a bad period: exit 2 with the reason."""
    bad = tiny / "bad.toml"
    bad.write_text(TINY_ORG.replace('monthly_fee = "31.00"', "monthly_fee = 31.0"))
    status, _, err = run(*invoice_args(str(bad), EVENTS))
    assert status == 2
    assert "$.seat_types['chat'].monthly_fee" in err
    status, _, err = run("invoice", "--org", ORG, "--events", EVENTS, "--period", "2026-13")
    assert status == 2
    assert "YYYY-MM" in err


def test_usage_errors_exit_through_argparse():
    """A missing required option is argparse's usage error (exit status 2)."""
    with pytest.raises(SystemExit) as error:
        main(["invoice", "--org", ORG], out=io.StringIO(), err=io.StringIO())
    assert error.value.code == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal(tiny, monkeypatch):
    """On a terminal, the line count is shown as the file is read."""
    monkeypatch.setattr(cli, "_PROGRESS_EVERY", 2)
    events = tiny / "usage.jsonl"
    events.write_text("\n".join(record(f"e{n}") for n in range(5)) + "\n")
    err = _Terminal()
    status = main(
        invoice_args(str(tiny / "org.toml"), str(events), "--prices", str(tiny / "prices.toml")),
        out=io.StringIO(),
        err=err,
    )
    assert status == 0
    assert err.getvalue() == "\r2 lines read\r4 lines read\r5 lines read\n"


class _ClosedPipe(io.StringIO):
    def write(self, _text: str) -> int:
        raise BrokenPipeError


def test_a_closed_pipe_ends_quietly(tiny):
    """When the reader goes away (`| head`), the command ends with status 0 and no trace."""
    err = io.StringIO()
    assert main(["prices", "--at", "2026-10-15"], out=_ClosedPipe(), err=err) == 0
    assert err.getvalue() == ""
