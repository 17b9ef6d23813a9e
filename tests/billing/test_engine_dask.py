"""The Dask engine on a distributed.LocalCluster of worker processes agrees with the pure engine.

Kept small: CI has two cores. One cluster for the module; a few generated months.
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import event
from usage_months import changing_month, months, write
from usagebill import InvalidValueError, InvoiceBuilder, LoadError
from usagebill.billing.invoice import price_cube

distributed = pytest.importorskip("distributed")
engine = pytest.importorskip("usagebill.billing.engines.dask")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def reference(org, period, events):
    return InvoiceBuilder(org, period).add_all(events).resolve(events).cube()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
@given(month=months(), fmt=st.sampled_from(["jsonl", "jsonl.gz", "parquet", "csv", "pandas"]))
def test_dask_agrees_with_the_pure_engine(client, month, fmt):
    """Partitions shuffled on the event id, summed on the workers, merged: the same cube."""
    org, period, events = month
    with tempfile.TemporaryDirectory() as directory:
        cube = engine.cube(
            write(events, Path(directory), fmt), org, period, scheduler=client, partitions=3
        )
    expected = reference(org, period, events)
    assert cube == expected
    assert (
        price_cube(cube, org, conflicts="set_aside").to_json()
        == price_cube(expected, org, conflicts="set_aside").to_json()
    )


def test_duplicates_and_conflicts_across_partitions(client, tmp_path):
    """A retry and a conflicting version read in different partitions meet after the shuffle."""
    org, period, _ = changing_month("UTC")

    def ev(event_id, tokens):
        return event(event_id, "olga", at=period.start, input_tokens=tokens)

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write([ev("e1", 5), ev("e2", 7)], tmp_path, "jsonl").rename(first)
    write([ev("e1", 5), ev("e2", 8), ev("e3", 1)], tmp_path, "jsonl").rename(second)
    cube = engine.cube(str(tmp_path / "*.jsonl"), org, period, scheduler=client, partitions=2)
    assert (cube.events, cube.duplicates, cube.conflicts, cube.conflicting) == (2, 1, {"e2"}, 2)


def test_tables_and_the_local_scheduler(tmp_path):
    """A pandas or Dask DataFrame, on Dask's default scheduler; invoice() prices the cube."""
    import dask.dataframe as dd  # noqa: PLC0415

    org, period, _ = changing_month("UTC")
    once = event("e1", "olga", at=period.start, input_tokens=5)
    table = write([once, once], tmp_path, "pandas")
    expected = reference(org, period, [once, once])
    assert engine.cube(table, org, period) == expected
    assert engine.cube(dd.from_pandas(table, npartitions=2), org, period) == expected
    assert engine.invoice(table, org, period) == price_cube(expected, org)


def test_bad_sources_are_refused(tmp_path):
    org, period, _ = changing_month("UTC")
    with pytest.raises(InvalidValueError, match="paths or globs"):
        engine.cube(42, org, period)
    with pytest.raises(InvalidValueError, match="one format"):
        engine.cube([tmp_path / "a.jsonl", tmp_path / "b.csv"], org, period)
    (tmp_path / "empty.jsonl").write_text("")
    assert engine.cube(tmp_path / "empty.jsonl", org, period).events == 0
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(LoadError, match=r"(?s)bad\.jsonl:1 does not load.*is not JSON"):
        engine.cube(tmp_path / "bad.jsonl", org, period)
