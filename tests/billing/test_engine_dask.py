"""The Dask engine on a distributed.LocalCluster of worker processes agrees with the pure engine.

Kept small: CI has two cores. One cluster for the module; a few generated months.
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_months import months, organization, write
from usagebill import InvoiceBuilder, Product, TokenUsage, UsageEvent
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
    org, period, _ = organization("UTC")

    def ev(event_id, tokens):
        usage = TokenUsage(input_tokens=tokens)
        return UsageEvent(event_id, "olga", "claude-sonnet-4-6", Product.CHAT, usage, period.start)

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write([ev("e1", 5), ev("e2", 7)], tmp_path, "jsonl").rename(first)
    write([ev("e1", 5), ev("e2", 8), ev("e3", 1)], tmp_path, "jsonl").rename(second)
    cube = engine.cube(str(tmp_path / "*.jsonl"), org, period, scheduler=client, partitions=2)
    assert (cube.events, cube.duplicates, cube.conflicts, cube.conflicting) == (2, 1, {"e2"}, 2)
