"""Issue 10: hostile input never escapes as a foreign exception or a traceback.

Each test is one item of the issue, written before its fix; the fuzz tests
(``tests/test_fuzz_*.py``) then check the property for every entry point.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from usagebill import (
    BillingPeriod,
    Invoice,
    LoadError,
    Organization,
    PriceTable,
    UsageBillError,
    UsageEvent,
    forecast,
)
from usagebill._documents import MAX_DEPTH, json_document, json_line, toml_document
from usagebill.analysis.whatif import Scenario
from usagebill.cli import main
from usagebill.errors import InvalidValueError

EXAMPLES = Path(__file__).parent.parent / "examples"
ORG = EXAMPLES / "org.toml"

DEEP_JSON = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = "9" * 5_000


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
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(LoadError, match="nested too deeply"):
        json_document(deep, "doc.json")
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert json_document(ok, "doc.json") is not None


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
        json_line(b'{"event_id": "caf\xe9"}')


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
    assert toml_document(path) == {"name": "x"}
    path.write_bytes(b"name = 'x'\nother = 'caf\xe9'\n")
    with pytest.raises(LoadError) as caught:
        toml_document(path)
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
