"""The command line never shows a traceback: bad files give exit 2, naming file and line.

The command runs in-process through :func:`usagebill.cli.main` (hypothesis
needs hundreds of runs); two checks at the end run the real console script in a
subprocess, to see what a shell user sees.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import json_junk, json_text, mutated_bytes, mutations, toml_text, utf8
from usagebill.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"
ORG = EXAMPLES / "org.toml"
SCENARIO = EXAMPLES / "scenario-downgrade.toml"
COMMANDS = ("invoice", "whatif", "forecast")

# A CLI run reads files and bills a month: slower than hypothesis expects of one example, so
# fewer of them than the profile's (the CI profile's 200 would take minutes). A longer hunt:
# USAGEBILL_FUZZ_CLI_EXAMPLES=1000.
cli_fuzz = settings(
    max_examples=int(
        os.environ.get("USAGEBILL_FUZZ_CLI_EXAMPLES", min(settings.default.max_examples, 60))
    ),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def sample_lines() -> tuple[bytes, ...]:
    """Twenty valid event lines of the example month (members of the example organization)."""
    with (EXAMPLES / "usage-2026-10.jsonl").open("rb") as file:
        return tuple(next(file).rstrip(b"\n") for _ in range(400))[200:220]


def run(argv: list[str]) -> tuple[int, str, str]:
    """Run the command in-process: its status, what it printed and what it said on stderr."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):  # argparse writes its usage there
            status = main(argv, out=out, err=err)
    except SystemExit as exit_:  # argparse: a bad option is status 2 with its usage
        status = exit_.code if isinstance(exit_.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def command(name: str, events: Path, *, org: Path = ORG, scenario: Path = SCENARIO) -> list[str]:
    argv = [name, "--org", str(org), "--events", str(events), "--period", "2026-10"]
    if name == "whatif":
        argv += ["--scenario", str(scenario)]
    if name == "forecast":
        argv += ["--as-of", "2026-10-15"]
    return argv


def assert_clean(status: int, err: str) -> None:
    """Exit 0, or exit 2 with one ``usagebill: error:`` line first: never a traceback."""
    assert status in (0, 2), err
    assert "Traceback" not in err
    if status == 2:
        assert err.startswith(("usagebill: error:", "usage: usagebill")), err


@st.composite
def broken_event_files(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """Valid event lines, one of which (its 1-based number returned) is broken."""
    lines = list(sample_lines()[: draw(st.integers(1, 8))])
    number = draw(st.integers(1, len(lines)))
    original = json.loads(lines[number - 1])
    broken = draw(
        st.binary(min_size=1, max_size=40)
        | mutated_bytes(lines[number - 1])
        | mutations(original).map(json_text).map(utf8)
        | json_junk.map(json_text).map(utf8)
    )
    lines[number - 1] = broken.replace(b"\n", b" ").replace(b"\r", b" ")
    return lines, number


@cli_fuzz
@given(name=st.sampled_from(COMMANDS), broken=broken_event_files(), skip=st.booleans())
def test_a_broken_event_line_is_named_by_file_and_line(tmp_path_factory, name, broken, skip):
    lines, number = broken
    events = tmp_path_factory.mktemp("events") / "usage.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    status, _out, err = run(command(name, events) + (["--skip-invalid"] if skip else []))
    assert_clean(status, err)
    named = re.findall(rf"{re.escape(str(events))}:(\d+)", err)
    if status == 2 and "conflict" not in err:
        assert named == [str(number)], err  # this line, once
    if skip and named:
        assert set(named) == {str(number)}, err


@cli_fuzz
@given(name=st.sampled_from(COMMANDS), data=st.binary(max_size=300))
def test_random_bytes_as_the_events_file(tmp_path_factory, name, data):
    events = tmp_path_factory.mktemp("events") / "usage.jsonl"
    events.write_bytes(data)
    status, _out, err = run(command(name, events))
    assert_clean(status, err)


@cli_fuzz
@given(
    name=st.sampled_from(COMMANDS),
    data=st.binary(max_size=200)
    | mutated_bytes(ORG.read_bytes())
    | mutations(tomllib.loads(ORG.read_text())).map(toml_text).map(utf8),
)
def test_a_broken_organization_file(tmp_path_factory, name, data):
    directory = tmp_path_factory.mktemp("org")
    org = directory / "org.toml"
    org.write_bytes(data)
    events = directory / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    status, _out, err = run(command(name, events, org=org))
    assert_clean(status, err)
    if status == 2:
        assert str(org) in err, err


@cli_fuzz
@given(
    data=st.binary(max_size=200)
    | mutated_bytes(SCENARIO.read_bytes())
    | mutated_bytes(b'[prices]\nfile = "prices.json"\n')
    | mutations(tomllib.loads(SCENARIO.read_text())).map(toml_text).map(utf8)
)
def test_a_broken_scenario_file(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("scenario")
    scenario = directory / "scenario.toml"
    scenario.write_bytes(data)
    (directory / "prices.json").write_text('{"version": "1"}')
    events = directory / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    status, _out, err = run(command("whatif", events, scenario=scenario))
    assert_clean(status, err)
    if status == 2:  # the scenario, or the price file it names
        assert str(directory) in err, err


@functools.cache
def price_file_document() -> dict[str, Any]:
    from usagebill import PriceTable  # noqa: PLC0415  (only this test needs the table)

    document = PriceTable.builtin().to_dict()
    kept = ("claude-sonnet-4-6", "claude-haiku-4-5")
    document["models"] = {key: value for key, value in document["models"].items() if key in kept}
    return document


@cli_fuzz
@given(
    name=st.sampled_from(("invoice", "prices", "cost")),
    data=st.binary(max_size=100)
    | mutations(price_file_document()).map(json_text).map(utf8)
    | mutated_bytes(json.dumps(price_file_document()).encode()),
)
def test_a_broken_price_file(tmp_path_factory, name, data):
    directory = tmp_path_factory.mktemp("prices")
    prices = directory / "prices.json"
    prices.write_bytes(data)
    events = directory / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    if name == "invoice":
        argv = command(name, events)
    elif name == "prices":
        argv = ["prices", "--at", "2026-10-15"]
    else:
        argv = ["cost", "--model", "claude-sonnet-4-6", "--input", "1000", "--at", "2026-10-15"]
    status, _out, err = run([*argv, "--prices", str(prices)])
    assert_clean(status, err)
    if status == 2:
        assert str(prices) in err or "unknown model" in err, err


_ARGUMENT = st.text(max_size=30) | st.sampled_from(
    (
        *("", "-1", "2026-13", "2026-02-30", "9999-12", "0001-01", "1" * 5_000, "\x00", "NaN", "٣"),
        *("9999-12-31", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01"),
    )
)


@cli_fuzz
@given(
    option=st.sampled_from(("--period", "--as-of", "--issued-on", "--at", "--model", "--input")),
    value=_ARGUMENT,
)
def test_odd_option_values(tmp_path_factory, option, value):
    events = tmp_path_factory.mktemp("events") / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    if option in ("--period", "--as-of"):
        argv = command("forecast", events)
        argv[argv.index(option) + 1] = value
    elif option == "--issued-on":
        argv = [*command("invoice", events), option, value]
    else:
        argv = ["cost", "--model", "claude-sonnet-4-6", "--at", "2026-10-15"]
        argv = [*argv[:2], value, *argv[3:]] if option == "--model" else [*argv, option, value]
    status, _out, err = run(argv)
    assert_clean(status, err)


# --- what a shell user sees: the real console script ----------------------------------------------


def _script(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603  (this interpreter, the project's own script)
        [sys.executable, "-c", "from usagebill.cli import run; run()", *argv],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_the_console_script_reports_a_bad_byte_with_its_line():
    """A non-UTF-8 byte on line 2 of standard input: exit 2, one line naming it, no traceback."""
    lines = [*sample_lines()[:1], b'{"event_id": "caf\xe9"}', *sample_lines()[1:3]]
    done = _script(*command("invoice", Path("-")), stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("usagebill: error: -:2:"), err


def test_the_console_script_survives_a_deep_document(tmp_path):
    """A line nested 100,000 deep: exit 2 naming the line, not a RecursionError."""
    events = tmp_path / "usage.jsonl"
    events.write_bytes(sample_lines()[0] + b"\n" + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    done = _script(*command("whatif", events))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err
    assert f"{events}:2:" in err


def test_a_scenario_naming_an_unknown_member_names_its_file(tmp_path):
    """Found by the fuzzing: the member is checked against the organization, and the file named."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[[move_seats]]\nmembers = ["u-999"]\nseat_type = "chat"\n')
    events = tmp_path / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    status, _out, err = run(command("whatif", events, scenario=scenario))
    assert status == 2
    assert err == f"usagebill: error: {scenario}: unknown member 'u-999'\n"


def test_a_rate_too_large_to_bill_is_refused_with_its_path(tmp_path):
    """Found by the fuzzing: a 25-digit rate times 10**18 tokens made rounding raise deep inside."""
    document = price_file_document()
    model = document["models"]["claude-sonnet-4-6"]
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                **document,
                "models": {
                    "claude-sonnet-4-6": {
                        **model,
                        "prices": [
                            {**price, "rates": {**price["rates"], "input": "9" * 25}}
                            for price in model["prices"]
                        ],
                    }
                },
            }
        )
    )
    event = json.loads(sample_lines()[0]) | {"model": "claude-sonnet-4-6"}
    event["usage"] = {"input_tokens": 10**18}
    events = tmp_path / "usage.jsonl"
    events.write_text(json.dumps(event) + "\n")
    for name in COMMANDS:
        status, _out, err = run([*command(name, events), "--prices", str(prices)])
        assert status == 2, err
        assert f"{prices} does not load" in err
        assert "rates.input: must be less than 1,000,000,000" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--as-of", "9999-12-31T23:59:59-14:00", "as_of must be before the year 10000 in UTC"),
        ("--as-of", "9999-12-31T23:00", "--as-of must fall before the year 10000 in UTC"),
        ("--issued-on", "9999-12-31", "issued_on must leave room for the due date 30 days later"),
    ],
)
def test_instants_at_the_end_of_time(tmp_path, option, value, message):
    """Found by the fuzzing: the year 10000 in UTC (or a due date past it) was an OverflowError."""
    events = tmp_path / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    if option == "--as-of":
        argv = command("forecast", events)
        argv[argv.index(option) + 1] = value
        if "T23:00" in value:  # a local time in New York: UTC is 5 hours later, past 9999
            argv[argv.index("--period") + 1] = "0001-01"
    else:
        argv = [*command("invoice", events), option, value]
    status, _out, err = run(argv)
    assert status == 2, err
    assert message in err


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("org", 'monthly_fee = "20.00"', 'monthly_fee = "20.' + "0" * 55 + '1"'),
        ("org", 'pool_cap = "15000"', 'pool_cap = "1' + "0" * 30 + '"'),
        ("prices", '"input": "3"', '"input": "3.' + "1" * 55 + '"'),
    ],
)
def test_figures_too_fine_for_exact_sums_are_refused(tmp_path, file, old, new):
    """Found by the fuzzing: a fee or rate of 58 digits made the sums raise decimal.Inexact."""
    org, prices = tmp_path / "org.toml", tmp_path / "prices.json"
    org.write_text(ORG.read_text().replace(old, new) if file == "org" else ORG.read_text())
    text = json.dumps(price_file_document())
    prices.write_text(text.replace(old, new) if file == "prices" else text)
    events = tmp_path / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()) + b"\n")
    for name in COMMANDS:
        status, _out, err = run([*command(name, events, org=org), "--prices", str(prices)])
        assert status == 2, err
        assert "at most 20 decimal places and be less than 10**30" in err
        assert str(org if file == "org" else prices) in err


_CSV_HEADER = b"event_id,user_id,model,product,at,input_tokens,output_tokens,batch,failed\n"
_CSV_ROW = b"e1,u-001,claude-sonnet-4-6,chat,2026-10-05T12:00:00Z,1000,100,false,\n"


@pytest.mark.parametrize("cell", ["\u00b2", "1" * 5_000, "\u0663", "\uff11", "9" * 20])
def test_a_csv_count_that_is_no_count_names_its_row(tmp_path, cell):
    """Found by the fuzzing: "²" passed str.isdigit() and int() raised; 5,000 digits likewise."""
    events = tmp_path / "usage.csv"
    events.write_bytes(_CSV_HEADER + _CSV_ROW.replace(b",1000,", f",{cell},".encode()))
    status, _out, err = run(command("invoice", events))
    assert status == 2, err
    assert err.startswith(f"usagebill: error: {events}:2: usage.input_tokens must be"), err


@cli_fuzz
@given(
    name=st.sampled_from(COMMANDS),
    data=st.binary(max_size=200) | mutated_bytes(_CSV_HEADER + _CSV_ROW * 3),
)
def test_a_broken_csv_events_file(tmp_path_factory, name, data):
    events = tmp_path_factory.mktemp("events") / "usage.csv"
    events.write_bytes(data)
    status, _out, err = run(command(name, events))
    assert_clean(status, err)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--period", "9999-12", "period must be a month from 0001-01 to 9999-11 (got '9999-12')"),
        (
            "--as-of",
            "2026-09-30",
            (
                "as_of must come after the period's start 2026-10-01T04:00:00+00:00 "
                "(got '2026-09-30T00:00:00-04:00')"
            ),
        ),
    ],
)
def test_option_messages_show_what_was_typed(tmp_path, option, value, message):
    """Found by the fuzzing: the period showed its index (119999), the as-of a Python datetime."""
    events = tmp_path / "usage.jsonl"
    events.write_bytes(b"\n".join(sample_lines()[:3]) + b"\n")
    argv = command("forecast", events)
    argv[argv.index(option) + 1] = value
    status, _out, err = run(argv)
    assert status == 2
    assert err == f"usagebill: error: {message}\n"


@pytest.mark.parametrize("product", [["claude_code"], {"chat": True}])
@pytest.mark.parametrize("name", COMMANDS)
def test_an_unhashable_product_is_named_by_its_line(tmp_path, name, product):
    """Found by the fuzzing: the engine's fast path looked a list up in a set (TypeError)."""
    event = json.loads(sample_lines()[0]) | {"product": product}
    events = tmp_path / "usage.jsonl"
    events.write_text(json.dumps(event) + "\n")
    status, _out, err = run(command(name, events))
    assert status == 2, err
    assert err.startswith(f"usagebill: error: {events}:1: product must be one of"), err


def test_the_largest_figures_allowed_still_bill(tmp_path):
    """Found by the fuzzing: a listed rate under the bound, times US-only 1.1, was refused as a
    derived rate, blamed on the event's line. The largest rates and counts allowed bill exactly."""
    document = price_file_document()
    model = document["models"]["claude-sonnet-4-6"]
    largest = "999999999.99999999999999999999"  # below 10**9, 20 decimal places
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                **document,
                "models": {
                    "claude-sonnet-4-6": {
                        **model,
                        "prices": [
                            {**price, "rates": dict.fromkeys(price["rates"], largest)}
                            for price in model["prices"]
                        ],
                    }
                },
            }
        )
    )
    event = json.loads(sample_lines()[0]) | {"model": "claude-sonnet-4-6"}
    event["at"] = "2026-10-05T12:00:00Z"
    event["usage"] = dict.fromkeys(
        ("input_tokens", "output_tokens", "cache_read_tokens"), 2**63 - 1
    )
    events = tmp_path / "usage.jsonl"
    events.write_text(
        "".join(
            json.dumps(
                event | {"event_id": f"e{n}", "modifiers": {"batch": n % 2 == 1, "us_only": n > 1}}
            )
            + "\n"
            for n in range(4)
        )
    )
    for name in COMMANDS:
        status, _out, err = run([*command(name, events), "--prices", str(prices)])
        assert status == 0, err
