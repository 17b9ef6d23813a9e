"""Issue 10: hostile input never escapes as a foreign exception or a traceback.

Each test is one item of the issue, written before its fix; the fuzz tests
(``tests/test_fuzz_*.py``) then check the property for every entry point.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from usagebill import (
    BillingPeriod,
    Invoice,
    LoadError,
    Money,
    Organization,
    PriceTable,
    TokenUsage,
    UsageBillError,
    UsageEvent,
    __version__,
    cli,
    forecast,
)
from usagebill.analysis.whatif import Scenario
from usagebill.cli import main
from usagebill.errors import InvalidValueError

EXAMPLES = Path(__file__).parent.parent / "examples"
ORG = EXAMPLES / "org.toml"

DEEP_JSON = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = "9" * 5_000


def documents():  # imported when used: each test here fails alone on the code before its fix
    return importlib.import_module("usagebill._documents")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def event(event_id: str = "e1", **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "event_id": event_id,
        "user_id": "u-001",
        "model": "claude-sonnet-4-6",
        "product": "chat",
        "at": "2026-10-05T12:00:00Z",
        "usage": {"input_tokens": 1000, "output_tokens": 100},
    }
    data.update(changes)
    return data


def events_file(tmp_path: Path, *lines: str | bytes, name: str = "usage.jsonl") -> str:
    path = tmp_path / name
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return str(path)


def command(name: str, events: str, *more: str) -> list[str]:
    argv = [name, "--org", str(ORG), "--events", events, "--period", "2026-10", *more]
    if name == "whatif":
        argv += ["--scenario", str(EXAMPLES / "scenario-downgrade.toml")]
    if name == "forecast":
        argv += ["--as-of", "2026-10-15"]
    return argv


COMMANDS = ["invoice", "whatif", "forecast"]


# --- 1. deep or huge JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [DEEP_JSON, '{"a": ' + HUGE_NUMBER + "}", "[NaN]"])
def test_deep_or_huge_json_is_a_load_error(text):
    with pytest.raises(LoadError) as caught:
        Invoice.from_json(text)
    assert caught.value.problems


def test_json_nested_past_the_limit_is_refused_even_when_the_parser_manages():
    limit = documents().MAX_DEPTH
    deep = "[" * (limit + 1) + "]" * (limit + 1)
    with pytest.raises(LoadError, match="nested too deeply"):
        documents().json_document(deep, "doc.json")
    ok = "[" * limit + "]" * limit
    assert documents().json_document(ok, "doc.json") is not None


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("line", [DEEP_JSON, '{"event_id": ' + HUGE_NUMBER + "}"])
def test_a_deep_or_huge_events_line_is_exit_2_naming_it(tmp_path, name, line):
    events = events_file(tmp_path, json.dumps(event("a")), line)
    status, _, err = run(*command(name, events))
    assert status == 2, err
    assert err.startswith(f"usagebill: error: {events}:2: "), err
    assert "Traceback" not in err


# --- 2. deep or huge TOML ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["x = " + "[" * 500 + "]" * 500, "x = " + HUGE_NUMBER, "x = {a = " * 300]
)
@pytest.mark.parametrize("load", [Organization.from_file, Scenario.from_file, PriceTable.from_file])
def test_deep_or_huge_toml_is_a_load_error_naming_the_file(tmp_path, text, load):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(LoadError) as caught:
        load(path)
    assert caught.value.source == str(path)


def test_a_deep_org_file_is_exit_2_on_the_command_line(tmp_path):
    org = tmp_path / "org.toml"
    org.write_text("x = " + "[" * 500 + "]" * 500)
    events = events_file(tmp_path, json.dumps(event()))
    status, _, err = run("invoice", "--org", str(org), "--events", events, "--period", "2026-10")
    assert status == 2
    assert f"{org} does not load" in err


# --- 6. encodings --------------------------------------------------------------------------------


def test_a_line_that_is_not_utf8_names_its_byte_and_column():
    with pytest.raises(InvalidValueError, match=r"not UTF-8 text: byte 0xe9 at column 18"):
        documents().json_line(b'{"event_id": "caf\xe9"}')


@pytest.mark.parametrize("name", COMMANDS)
def test_a_non_utf8_line_is_exit_2_naming_it_or_skipped(tmp_path, name):
    events = events_file(tmp_path, json.dumps(event("a")), b'{"event_id": "caf\xe9"}')
    status, _, err = run(*command(name, events))
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:2: line is not UTF-8 text"), err
    status, _, err = run(*command(name, events, "--skip-invalid"))
    assert status == 0, err
    assert f"skipped {events}:2: line is not UTF-8 text" in err


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path):
    lines = [json.dumps(event("a")), json.dumps(event("b"))]
    events = tmp_path / "usage.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    status, out, err = run(*command("invoice", str(events)))
    assert status == 0, err
    assert "2 billed" in out


def test_a_toml_file_with_a_byte_order_mark_loads_and_a_bad_byte_is_named(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"\xef\xbb\xbfname = 'x'\n")
    assert documents().toml_document(path) == {"name": "x"}
    path.write_bytes(b"name = 'x'\nother = 'caf\xe9'\n")
    with pytest.raises(LoadError) as caught:
        documents().toml_document(path)
    assert caught.value.problems == (("line 2", "is not UTF-8 text: byte 0xe9 at column 13"),)


def test_a_gzip_file_cut_short_is_a_load_error_naming_it(tmp_path):
    data = gzip.compress(("\n".join(json.dumps(event(f"e{i}")) for i in range(50))).encode())
    path = tmp_path / "usage.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    status, _, err = run(*command("invoice", str(path)))
    assert status == 2
    assert f"usagebill: error: {path} does not load" in err


def test_every_problem_is_a_usagebill_error():
    assert issubclass(LoadError, UsageBillError)


# --- found by the fuzzing ------------------------------------------------------------------------


def test_a_cap_reached_past_any_date_is_not_projected():
    """One small event early in the month: at its rate the cap is centuries away, not an error."""
    org = Organization.from_file(ORG)
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    tiny = UsageEvent.from_dict(event("a"))
    as_of = datetime(2026, 10, 15, tzinfo=UTC)
    result = forecast(org, [tiny], period, as_of, PriceTable.builtin())
    assert all(cap.at is None for cap in result.caps)


# --- 3. messages that would crash on huge values ------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: TokenUsage.from_anthropic({"input_tokens": -(10**5000), "output_tokens": 1}),
        lambda: Money("1", 10**5000),
        lambda: UsageEvent.from_dict(event(10**5000)),
        lambda: UsageEvent.from_dict(event(usage={"input_tokens": -(10**5000)})),
        lambda: UsageEvent.from_dict({**event(), "x" * 10**6: 1}),
        lambda: Money(float("nan")),
    ],
)
def test_a_message_about_a_huge_value_is_short_and_never_an_error_of_its_own(build):
    with pytest.raises(UsageBillError) as caught:
        build()
    assert len(str(caught.value)) < 400


# --- 4. time zones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/localtime",
        "/etc/localtime",
        "a" * 1_500,
        "UTC+3",
        # Files of the zoneinfo directory that are no IANA key (found by the file fuzzing):
        "right/UTC",
        "posix/Europe/Paris",
        "posixrules",
        "localtime",
    ],
)
def test_a_time_zone_is_an_iana_key_or_a_typed_error(tmp_path, name):
    org = tmp_path / "org.toml"
    org.write_text(ORG.read_text().replace('"America/New_York"', json.dumps(name)))
    with pytest.raises(LoadError, match="timezone must be an IANA time zone name"):
        Organization.from_file(org)


# --- 5. a scenario's price file ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.json", "", "a\x00b"])
def test_a_scenario_price_file_that_cannot_be_read_is_a_load_error(tmp_path, name):
    with pytest.raises(LoadError) as caught:
        Scenario.from_dict({"prices": {"file": name}}, directory=tmp_path)
    ((where, _why),) = caught.value.problems
    assert where == "$.prices.file"


def test_whatif_with_an_unreadable_price_file_is_exit_2(tmp_path):
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[prices]\nfile = "a\\u0000b"\n')
    events = events_file(tmp_path, json.dumps(event()))
    status, _, err = run(
        "whatif", "--org", str(ORG), "--events", events, "--period", "2026-10",
        "--scenario", str(scenario),
    )  # fmt: skip
    assert status == 2
    assert "NUL" in err
    assert "Traceback" not in err


# --- 7. file:line for every per-event problem, in every command ---------------------------------

REPLAY_CAPS = 'replay_caps = true\nname = "replayed"\n'


@pytest.mark.parametrize("name", [*COMMANDS, "whatif-replay"])
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"model": "claude-nope"}, "unknown model 'claude-nope'"),
        ({"user_id": "zed"}, "unknown member 'zed'"),
        ({"modifiers": {"fast": True}}, "fast"),
    ],
)
def test_every_command_names_the_line_of_a_bad_event(tmp_path, name, change, words):
    events = events_file(tmp_path, json.dumps(event("a")), json.dumps(event("b", **change)))
    argv = command(name.removesuffix("-replay"), events)
    if name == "whatif-replay":  # the scenario that replays every event in time order
        scenario = tmp_path / "replay.toml"
        scenario.write_text(REPLAY_CAPS)
        argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:2: "), err
    assert words in err


def test_a_line_of_malformed_json_names_one_line_and_its_column(tmp_path):
    events = events_file(tmp_path, json.dumps(event("a")), json.dumps(event("b")), '{"event_id": 1')
    status, _, err = run(*command("invoice", events))
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:3: line is not JSON: ")
    assert "at column 15" in err
    assert "line 2" not in err


# --- 8. messages for the shell user --------------------------------------------------------------


def test_reject_outside_shows_the_instant_in_iso_8601(tmp_path):
    events = events_file(tmp_path, json.dumps(event("a", at="2026-11-02T00:00:00Z")))
    status, _, err = run(*command("invoice", events, "--reject-outside"))
    assert status == 2
    assert "datetime.datetime" not in err
    assert "2026-11-02T00:00:00+00:00" in err


def test_an_unknown_model_without_suggestions_points_at_usagebill_prices(tmp_path):
    events = events_file(tmp_path, json.dumps(event("a", model="q" * 30)))
    for name in COMMANDS:
        status, _, err = run(*command(name, events))
        assert status == 2
        assert "see usagebill prices" in err, err
        assert "PriceTable" not in err
    status, _, err = run("cost", "--model", "q" * 30)
    assert (status, "see usagebill prices" in err) == (2, True)


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(InvalidValueError, match=r"known: at, event_id, failed, model"):
        UsageEvent.from_dict({**event(), "user": "ada"})
    org = tmp_path / "org.toml"
    org.write_text("nmae = 'x'\n" + ORG.read_text())
    with pytest.raises(LoadError, match=r"unknown keys \['nmae'\].*billing_anchor_day"):
        Organization.from_file(org)


# --- 9. empty input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_an_empty_events_file_warns_and_strict_makes_it_an_error(tmp_path, name):
    events = tmp_path / "usage.jsonl"
    events.write_text("\n\n")
    status, _, err = run(*command(name, str(events)))
    assert status == 0
    assert f"usagebill: warning: no usage events in {events}" in err
    status, out, err = run(*command(name, str(events), "--strict"))
    assert (status, out) == (2, "")
    assert f"usagebill: error: no usage events in {events}" in err


# --- 11. help ------------------------------------------------------------------------------------


def test_the_version_and_help_on_every_subcommand_and_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"usagebill {__version__}"
    parser = cli._parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {choice.dest: choice.help for choice in commands._choices_actions}
    for name, sub in commands.choices.items():
        assert listed[name], name
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings}"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("name", ["whatif-replay", "forecast"])
def test_whatif_and_forecast_show_progress_on_a_terminal(tmp_path, monkeypatch, name):
    monkeypatch.setattr(cli, "_PROGRESS_EVERY", 2)
    events = events_file(tmp_path, *(json.dumps(event(f"e{i}")) for i in range(5)))
    argv = command(name.removesuffix("-replay"), events)
    if name == "whatif-replay":
        scenario = tmp_path / "replay.toml"
        scenario.write_text(REPLAY_CAPS)
        argv[argv.index("--scenario") + 1] = str(scenario)
    err = _Terminal()
    assert main(argv, out=io.StringIO(), err=err) == 0
    assert "4 lines read" in err.getvalue()
    assert "5 events" in err.getvalue()


CSV_HEADER = "event_id,user_id,model,product,at,input_tokens,output_tokens"


def test_a_csv_events_file_with_a_bad_byte_names_the_row_and_a_bom_is_accepted(tmp_path):
    path = tmp_path / "usage.csv"
    good = "e1,u-001,claude-sonnet-4-6,chat,2026-10-05T12:00:00Z,1000,100"
    path.write_bytes(
        b"\xef\xbb\xbf" + f"{CSV_HEADER}\r\n{good}\r\n".encode() + b"e2,caf\xe9,x,chat,y,1,1\r\n"
    )
    status, _, err = run(*command("invoice", str(path)))
    assert status == 2
    assert err.startswith(f"usagebill: error: {path}:3: row is not UTF-8 text: byte 0xe9"), err
    status, out, err = run(*command("invoice", str(path), "--skip-invalid"))
    assert status == 0, err
    assert "1 billed" in out


def test_the_real_command_reads_standard_input_line_by_line():
    """A subprocess, as a shell runs it: a bad byte on stdin is exit 2 naming -:2, no traceback."""
    good = json.dumps(event("a")).encode()
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", "from usagebill.cli import run; run()", *command("invoice", "-")],
        input=b"\xef\xbb\xbf" + good + b"\r\n" + b'{"event_id": "caf\xe9"}\n',
        capture_output=True,
        check=False,
        timeout=60,
    )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.startswith("usagebill: error: -:2: line is not UTF-8 text: byte 0xe9"), err
    assert "Traceback" not in err


# --- found by the fuzzing: counts no real usage has ----------------------------------------------

HUGE_COUNT = {"input_tokens": 10**70}


@pytest.mark.parametrize("count", [2**63, 10**70])
def test_a_count_past_64_bits_is_refused_with_its_own_rule(count):
    with pytest.raises(InvalidValueError, match=r"at most 2\*\*63 - 1"):
        UsageEvent.from_dict(event(usage={"input_tokens": count}))
    with pytest.raises(InvalidValueError, match=r"at most 2\*\*63 - 1"):
        TokenUsage.from_anthropic({"input_tokens": 1, "output_tokens": count})
    assert UsageEvent.from_dict(event(usage={"input_tokens": 2**63 - 1})).usage.input_tokens > 0


def test_a_value_type_holds_sums_up_to_2_to_the_127():
    """The library's own values (a month's sum) go past 64 bits, not past what rating can price."""
    most = TokenUsage(input_tokens=2**127 - 1, output_tokens=2**127 - 1)
    cost = PriceTable.builtin().cost("claude-opus-4-6", most, at=datetime(2026, 10, 15, tzinfo=UTC))
    assert cost.rounded().amount > 0
    with pytest.raises(InvalidValueError, match=r"at most 2\*\*127 - 1"):
        TokenUsage(input_tokens=10**80)  # its cost raised decimal.Inexact


def test_a_sum_of_counts_may_pass_64_bits():
    """Two events of 2**63 - 1 tokens each: the line's sum is a count too (found by fuzzing)."""
    most = TokenUsage(input_tokens=2**63 - 1)
    assert (most + most).input_tokens == 2**64 - 2


@pytest.mark.parametrize(
    "name",
    [
        "invoice",
        "whatif-replay",
        "forecast",
    ],
)
def test_a_huge_count_is_exit_2_naming_its_line(tmp_path, name):
    events = events_file(tmp_path, json.dumps(event("a")), json.dumps(event("b", usage=HUGE_COUNT)))
    argv = command(name.removesuffix("-replay"), events)
    if name == "whatif-replay":
        scenario = tmp_path / "replay.toml"
        scenario.write_text(REPLAY_CAPS)
        argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2, err
    assert err.startswith(f"usagebill: error: {events}:2: usage.input_tokens must be at most")


SCENARIO_PRICES = """\
version = "p1"
currency = "USD"
source = "a table without the month's models"
[models.m-basic]
[[models.m-basic.prices]]
rates = { input = "1", output = "2", cache_write_5m = "1", cache_write_1h = "2", cache_read = "1" }
"""


@pytest.mark.parametrize("replay", ["", '[caps.organization]\npool_cap = "100"\n'])
def test_a_model_the_scenario_prices_lack_is_named_with_its_line_and_the_scenario(tmp_path, replay):
    (tmp_path / "p.toml").write_text(SCENARIO_PRICES)
    scenario = tmp_path / "s.toml"
    scenario.write_text('[prices]\nfile = "p.toml"\n' + replay)
    events = events_file(tmp_path, json.dumps(event("a")))
    argv = command("whatif", events)
    argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2
    assert err == (
        f"usagebill: error: {events}:1: model 'claude-sonnet-4-6' is not in the price table of "
        f"scenario {scenario}\n"
    )


def test_a_replay_names_the_refused_line_not_a_skipped_one(tmp_path):
    events = events_file(
        tmp_path, "{oops", json.dumps(event("a")), json.dumps(event("b", user_id="zed"))
    )
    argv = command("whatif", events, "--skip-invalid")
    scenario = tmp_path / "replay.toml"
    scenario.write_text(REPLAY_CAPS)
    argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2
    assert err.endswith(f"usagebill: error: {events}:3: unknown member 'zed'\n"), err


@pytest.mark.parametrize("data", [b"garbage", b"PAR1" + b"\x00" * 40 + b"PAR1"])
def test_a_parquet_file_that_is_not_parquet_is_a_load_error_naming_it(tmp_path, data):
    pytest.importorskip("pyarrow")
    path = tmp_path / "usage.parquet"
    path.write_bytes(data)
    status, _, err = run(*command("invoice", str(path)))
    assert status == 2
    assert err.startswith(f"usagebill: error: {path} does not load (1 problem):\n  row 1: is not ")


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (b"e2,u-001\n", "row must have as many cells as the header (7) (got '2 cells')"),
        (b"e2,u-001,claude-sonnet-4-6,chat,2026-10-05T12:00:00Z,1,1,9\n", "(got '8 cells')"),
        (b'e2,"unterminated,x\n', "row must have as many cells"),
    ],
)
def test_a_csv_row_not_as_wide_as_its_header_is_named(tmp_path, row, words):
    path = tmp_path / "usage.csv"
    good = b"e1,u-001,claude-sonnet-4-6,chat,2026-10-05T12:00:00Z,1000,100\n"
    path.write_bytes(CSV_HEADER.encode() + b"\n" + good + row)
    status, _, err = run(*command("invoice", str(path)))
    assert status == 2
    assert err.startswith(f"usagebill: error: {path}:3: "), err
    assert words in err


def test_a_csv_field_past_the_readers_limit_is_a_load_error(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_bytes(CSV_HEADER.encode() + b"\ne2," + b"x" * 200_000 + b",m,chat,t,1,1\n")
    status, _, err = run(*command("invoice", str(path)))
    assert status == 2
    assert f"{path} does not load" in err
    assert "is not CSV: field larger than field limit" in err


@pytest.mark.parametrize("text", [" 20 ", "1_000", "\uff12\uff10", "\u0662\u0660"])
def test_money_text_is_ascii_digits_only(tmp_path, text):
    """Decimal reads spaces, underscores and any script's digits: money in a file does not."""
    with pytest.raises(InvalidValueError, match="in ASCII digits"):
        Money(text)
    org = tmp_path / "org.toml"
    org.write_text(
        ORG.read_text().replace('monthly_fee = "20.00"', f"monthly_fee = {json.dumps(text)}")
    )
    with pytest.raises(LoadError, match="in ASCII digits"):
        Organization.from_file(org)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("9" * 80, "--input must be at most 2**63 - 1"),  # was decimal.Inexact, a traceback
        ("1" * 5_000, "--input must be at most 2**63 - 1"),  # int() refuses to read it
        ("\uff12\uff10", "--input must be a count in digits 0-9"),  # int() reads these
        ("1_000", "--input must be a count in digits 0-9"),
        ("--5", "--input must be a count in digits 0-9"),
    ],
)
def test_a_count_option_is_digits_and_64_bits(value, words):
    status, out, err = run(
        "cost", "--model", "claude-sonnet-4-6", "--at", "2026-10-15", f"--input={value}"
    )
    assert (status, out) == (2, "")
    assert err.startswith(f"usagebill: error: {words}"), err


def test_a_flat_plan_without_a_fee_for_a_seat_type_names_the_scenario(tmp_path):
    scenario = tmp_path / "flat.toml"
    scenario.write_text('[flat_plan]\nfees = { nope = "1" }\nallowance = "1"\noverage = "priced"\n')
    events = events_file(tmp_path, json.dumps(event("a")))
    argv = command("whatif", events)
    argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2
    assert err.startswith(f"usagebill: error: {scenario}: fees must give a fee for seat type")


def test_a_literal_is_named_with_its_choices_not_python_typing():
    flat = {"fees": {"chat": "1"}, "allowance": "1", "overage": "sometimes"}
    with pytest.raises(LoadError) as caught:
        Scenario.from_dict({"flat_plan": flat})
    assert caught.value.problems == (
        ("$.flat_plan.overage", "must be one of ['priced', 'blocked'] (got 'sometimes')"),
    )


def test_an_empty_events_file_warns_with_the_duckdb_engine_too(tmp_path):
    pytest.importorskip("duckdb")
    events = tmp_path / "usage.jsonl"
    events.write_text(
        json.dumps(event("a", at="2026-12-05T12:00:00Z")) + "\n"
    )  # outside: no warning
    status, _, err = run(*command("invoice", str(events), "--engine", "duckdb"))
    assert (status, "warning" in err) == (0, False)
    events.write_text("")
    status, _, err = run(*command("invoice", str(events), "--engine", "duckdb"))
    assert status == 0
    assert f"usagebill: warning: no usage events in {events}" in err
    status, _, err = run(*command("invoice", str(events), "--engine", "duckdb", "--strict"))
    assert status == 2


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
@pytest.mark.parametrize("line", [b'{"event_id": "caf\xe9"}', DEEP_JSON.encode()])
def test_the_table_engines_name_a_hostile_line(tmp_path, engine, line):
    """DuckDB and Dask refuse the file; the strict reader then says which line and why."""
    pytest.importorskip(engine)
    events = events_file(tmp_path, json.dumps(event("a")), line)
    status, _, err = run(*command("invoice", events, "--engine", engine))
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:2 does not load")
    assert "Traceback" not in err


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (event("e2", model="claude-nope"), "unknown model 'claude-nope'"),
        ({k: v for k, v in event("e2").items() if k != "user_id"}, "needs this key"),
    ],
)
def test_the_table_engines_name_the_line_of_an_event_they_refuse(tmp_path, engine, bad, says):
    """The pure engine, run again only when a table engine refuses, says which line it was."""
    pytest.importorskip(engine)
    events = events_file(tmp_path, json.dumps(event("e1")), json.dumps(bad))
    status, _, err = run(*command("invoice", events, "--engine", engine))
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:2: ")
    assert says in err


def test_an_unknown_key_of_a_seat_lists_from_among_the_known_ones(tmp_path):
    org = tmp_path / "org.toml"
    org.write_text(ORG.read_text().replace("seat_type = ", "seattype = ", 1))
    with pytest.raises(LoadError, match=r"unknown keys \['seattype'\].*\(known: from, seat_type"):
        Organization.from_file(org)


def test_an_organization_file_needs_a_name(tmp_path):
    """It heads every invoice: an empty one loaded (found by mutating the example file)."""
    org = tmp_path / "org.toml"
    org.write_text(ORG.read_text().replace('name = "Acme Health"', 'name = ""', 1))
    with pytest.raises(LoadError) as caught:
        Organization.from_file(org)
    assert caught.value.problems == (("$.name", "must be a non-empty string (got '')"),)


def test_a_member_listed_twice_is_named_not_merged(tmp_path):
    """The second entry replaced the first, and the error blamed the missing primary owner."""
    org = tmp_path / "org.toml"
    org.write_text(ORG.read_text().replace('user_id = "u-001"', 'user_id = "u-002"', 1))
    with pytest.raises(LoadError) as caught:
        Organization.from_file(org)
    assert caught.value.problems == (
        ("$.members[1].user_id", "repeats the user_id of $.members[0] (got 'u-002')"),
    )


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_an_instant_outside_the_utc_years_is_a_typed_error(tmp_path, at):
    """Its UTC time is in the year 10000 (or 0): every later comparison raised OverflowError."""
    with pytest.raises(InvalidValueError, match="must fall within the years 1 to 9999 in UTC"):
        UsageEvent.from_dict(event(at=at))
    org = tmp_path / "org.toml"
    org.write_text(ORG.read_text().replace("{ from = 2026-03-02T14:00:00Z", "{ from = " + at, 1))
    events = events_file(tmp_path, json.dumps(event("a")))
    status, _, err = run("invoice", "--org", str(org), "--events", events, "--period", "2026-10")
    assert status == 2
    assert "$.members[0].seats[0].from: must fall within the years 1 to 9999 in UTC" in err


def test_a_json_document_names_the_line_of_a_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / "prices.json"
    path.write_bytes(b'{\n  "version": "caf\xe9"\n}')
    with pytest.raises(LoadError) as caught:
        PriceTable.from_file(path)
    assert caught.value.problems == (("line 2", "is not UTF-8 text: byte 0xe9 at column 18"),)


@pytest.mark.parametrize("name", [*COMMANDS, "whatif-replay"])
def test_a_conflict_names_both_lines_in_every_command(tmp_path, name):
    """It named the id only; whatif blamed the scenario file."""
    events = events_file(
        tmp_path,
        json.dumps(event("a")),
        json.dumps(event("b")),
        json.dumps(event("a", usage={"input_tokens": 1})),
    )
    argv = command(name.removesuffix("-replay"), events)
    if name == "whatif-replay":
        scenario = tmp_path / "replay.toml"
        scenario.write_text(REPLAY_CAPS)
        argv[argv.index("--scenario") + 1] = str(scenario)
    status, _, err = run(*argv)
    assert status == 2
    assert err.startswith(f"usagebill: error: {events}:3: event_id 'a' was read at {events}:1 "), (
        err
    )


def test_an_unknown_model_repeated_on_every_line_is_matched_once(monkeypatch):
    """difflib took 2 ms a line: 500,000 lines of one typo under --skip-invalid took minutes."""
    import difflib  # noqa: PLC0415  (the module prices calls, counted here)

    calls = []
    real = difflib.get_close_matches
    monkeypatch.setattr(
        difflib, "get_close_matches", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    table = PriceTable.builtin()
    typo = "claude-sonet-4-6-" + str(id(calls))  # not asked before in this process
    for _ in range(3):
        with pytest.raises(UsageBillError, match="did you mean"):
            table.resolve(typo)
    assert len(calls) == 1


def test_unknown_keys_of_mixed_types_are_listed_not_a_type_error():
    """sorted() of {1, 'a'} raised TypeError while building the message (dicts from Python)."""
    with pytest.raises(InvalidValueError, match=r"\(got \['b', 1\]\)"):
        UsageEvent.from_dict({**event(), 1: "x", "b": 2})
    with pytest.raises(InvalidValueError, match=r"usage has unknown keys"):
        UsageEvent.from_dict(event(usage={1: 2, "x": 3}))
    table = {"version": "x", "models": {}, "currency": "USD", "source": "s", 1: 2, "a": 3}
    with pytest.raises(LoadError, match=r"unknown keys \['a', 1\]"):
        PriceTable.from_dict(table)
