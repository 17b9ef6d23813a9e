"""The command line reads events where they live, with the engine asked for: the same invoice.

Globs of JSON Lines (gzip too), CSV and Parquet files; the pure, DuckDB and Dask engines.
"""

import gzip
import io
from pathlib import Path

import pytest

from test_cli import EVENTS, ORG, invoice_args, record, run
from usagebill.cli import main
from usagebill.io.event_files import expand, read_events


@pytest.fixture(scope="module")
def example_files(tmp_path_factory) -> Path:
    """The example month split in three files of each format."""
    directory = tmp_path_factory.mktemp("events")
    lines = Path(EVENTS).read_text(encoding="utf-8").splitlines()
    parts = [lines[i::3] for i in range(3)]
    for number, part in enumerate(parts):
        (directory / f"part-{number}.jsonl").write_text("\n".join(part) + "\n")
        (directory / f"part-{number}.jsonl.gz").write_bytes(gzip.compress("\n".join(part).encode()))
    import duckdb  # noqa: PLC0415  (a quick way to write Parquet and CSV in a test)

    flat = (
        'SELECT event_id, user_id, model, product, CAST("at" AS TIMESTAMPTZ) AS "at", usage.*, '
        "coalesce(modifiers.batch, false) AS batch, coalesce(modifiers.us_only, false) AS us_only, "
        "coalesce(modifiers.fast, false) AS fast FROM read_json(?, format = 'newline_delimited')"
    )
    for number in range(3):
        source = str(directory / f"part-{number}.jsonl")
        relation = duckdb.sql(flat.replace("?", f"'{source}'"))
        relation.write_parquet(str(directory / f"part-{number}.parquet"))
        relation.write_csv(str(directory / f"part-{number}.csv"))
    return directory


@pytest.fixture(scope="module")
def expected_json() -> str:
    status, out, err = run(*invoice_args(ORG, EVENTS, "--format", "json"))
    assert (status, err) == (0, "")
    return out


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "parquet", "csv"])
@pytest.mark.parametrize("engine", ["python", "duckdb", "dask"])
def test_every_engine_and_format_bills_the_same(example_files, expected_json, suffix, engine):
    """Three files by a glob, any format, any engine: the invoice of the one file, same bytes."""
    pattern = str(example_files / f"part-*.{suffix}")
    status, out, err = run(*invoice_args(ORG, pattern, "--format", "json", "--engine", engine))
    assert (status, err) == (0, "")
    assert out == expected_json


def test_a_conflict_stops_the_invoice_naming_the_ids(tmp_path):
    """Two versions of an id: exit 2 naming both lines; --skip-invalid bills the rest, lists it."""
    from test_cli import PRICES, TINY_ORG  # noqa: PLC0415

    (tmp_path / "org.toml").write_text(TINY_ORG)
    (tmp_path / "prices.toml").write_text(PRICES)
    events = tmp_path / "usage.jsonl"
    events.write_text("\n".join([record("a"), record("b"), record("a", day=6), record("a")]) + "\n")
    args = invoice_args(
        str(tmp_path / "org.toml"), str(events), "--prices", str(tmp_path / "prices.toml")
    )
    for engine in ("python", "duckdb"):
        status, out, err = run(*args, "--engine", engine)
        assert (status, out) == (2, "")
        assert err.startswith(f"usagebill: error: {events}:3: event_id 'a' was read at {events}:1")
        assert "with other content" in err
        status, out, err = run(*args, "--engine", engine, "--skip-invalid")
        assert status == 0
        assert "1 billed" in out
        assert (
            err == f"1 conflicting event ids (3 events) not billed: 'a' ({events}:1, {events}:3)\n"
        )


def test_conflicts_in_standard_input_cannot_be_settled(tmp_path, monkeypatch):
    from test_cli import PRICES, TINY_ORG  # noqa: PLC0415

    (tmp_path / "org.toml").write_text(TINY_ORG)
    (tmp_path / "prices.toml").write_text(PRICES)
    monkeypatch.setattr("sys.stdin", io.StringIO(record("a") + "\n" + record("a", day=6) + "\n"))
    status, _, err = run(
        *invoice_args(str(tmp_path / "org.toml"), "-", "--prices", str(tmp_path / "prices.toml"))
    )
    assert status == 2
    assert "standard input" in err
    status, _, err = run(*invoice_args(ORG, "-", "--engine", "duckdb"))
    assert status == 2
    assert "reads files" in err


def test_sources_that_do_not_exist_or_have_no_format(tmp_path):
    """A glob that matches nothing, or a file whose ending names no format: exit 2."""
    status, _, err = run(*invoice_args(ORG, str(tmp_path / "*.jsonl")))
    assert status == 2
    assert "no file matches" in err
    (tmp_path / "events.txt").write_text("")
    status, _, err = run(*invoice_args(ORG, str(tmp_path / "events.txt")))
    assert status == 2
    assert "must end in one of" in err


def test_bad_csv_cells_name_the_row(tmp_path):
    """A CSV cell that is not a count stops the run naming the file and row."""
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,user_id,model,product,at,input_tokens\na,olga,m,chat,2026-10-05T00:00:00Z,12x\n"
    )
    (line,) = read_events(expand(str(path)))
    assert line.where == f"{path}:2"
    assert "usage.input_tokens" in str(line.error)


def test_whatif_and_forecast_read_the_same_sources(example_files):
    """whatif and forecast take globs of Parquet files like invoice does."""
    pattern = str(example_files / "part-*.parquet")
    scenario = str(Path(ORG).parent / "scenario-downgrade.toml")
    status, out, err = run(
        "whatif", "--org", ORG, "--scenario", scenario, "--events", pattern, "--period", "2026-10"
    )
    assert (status, err) == (0, "")
    _, same, _ = run(
        "whatif", "--org", ORG, "--scenario", scenario, "--events", EVENTS, "--period", "2026-10"
    )
    assert out == same
    status, out, err = run(
        "forecast",
        "--org",
        ORG,
        "--events",
        pattern,
        "--period",
        "2026-10",
        "--as-of",
        "2026-10-15",
    )
    assert (status, err) == (0, "")
    assert (
        out
        == run(
            "forecast",
            "--org",
            ORG,
            "--events",
            EVENTS,
            "--period",
            "2026-10",
            "--as-of",
            "2026-10-15",
        )[1]
    )


def test_an_engine_says_what_it_does_on_a_terminal(example_files):
    """On a terminal, the DuckDB or Dask engine says when it starts and what it billed."""
    from test_cli import _Terminal  # noqa: PLC0415

    err = _Terminal()
    pattern = str(example_files / "part-*.parquet")
    status = main(invoice_args(ORG, pattern, "--engine", "duckdb"), out=io.StringIO(), err=err)
    assert status == 0
    assert err.getvalue().startswith("summing 3 files with duckdb… 16,959 events billed in ")
