"""The Dask engine: a month larger than one machine, aggregated on a cluster's workers.

``pip install usagebill[dask]``. The events are read in partitions (JSON Lines
plain or gzip, Parquet or CSV files and globs, or a pandas or Dask
DataFrame), **shuffled on the event id** so that every version of an id lands
in one partition, and each partition is summed on a worker by the pure
engine into a partial :class:`~usagebill.billing.cube.UsageCube`: repeats and
conflicts are found there, because they cannot straddle partitions any more.
The partial cubes hold different ids, so they merge exactly, by adding; only
they travel back to the client. The cube is the one the pure engine makes of
the same events, by construction.

Pass ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``) to run on
a cluster; without one, Dask's default scheduler runs it in this process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import dask.bag
import dask.dataframe as dd
import pandas as pd
from dask.base import compute
from dask.delayed import delayed

from usagebill.accounts.organization import Organization
from usagebill.billing.cube import UsageCube
from usagebill.billing.dimensions import record_of_row, source_format, unreadable_source
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.billing.invoice import Invoice, price_cube
from usagebill.errors import InvalidValueError, LoadError, UsageBillError
from usagebill.periods import BillingPeriod
from usagebill.pricing.prices import PriceTable

__all__ = ["cube", "invoice"]

_BLOCK: Final = 64 * 2**20  # bytes of text per partition (a gzip file is one partition)


def invoice(
    source: Any,  # noqa: ANN401  (paths, globs or a DataFrame: see the module docs)
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable | None = None,
    **options: Any,  # noqa: ANN401  (the options of cube())
) -> Invoice:
    """The invoice of ``period``: :func:`cube`, then :func:`price_cube` (conflicts raise)."""
    prices = prices if prices is not None else PriceTable.builtin()
    return price_cube(cube(source, org, period, prices, **options), org, prices)


def cube(
    source: Any,  # noqa: ANN401  (paths, globs or a DataFrame: see the module docs)
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable | None = None,
    *,
    outside: Outside = "exclude",
    scheduler: Any = None,  # noqa: ANN401  (an address, or a distributed.Client)
    partitions: int | None = None,
) -> UsageCube:
    """The usage cube of ``period`` from ``source``, summed on Dask's workers (module docs).

    ``partitions`` is how many partitions the shuffle makes (default: as many
    as were read).
    """
    prices = prices if prices is not None else PriceTable.builtin()
    CubeBuilder(org, period, prices, outside=outside)  # the same checks of the arguments
    names = _names(source)
    frame = _read(source, names)
    shuffled = frame.shuffle(on="event_id", npartitions=partitions or frame.npartitions)
    parts = [
        delayed(_partial_cube)(part, org, period, prices, outside) for part in shuffled.to_delayed()
    ]
    total = _tree_merge(parts)
    try:
        result = _compute(total, scheduler)
    except UsageBillError:
        raise
    except (UnicodeDecodeError, RecursionError, ValueError) as error:  # a line of the files
        raise unreadable_source(names, error) from None
    if result is None:  # no partition at all
        return UsageCube(org.name, period, prices.version)
    assert isinstance(result, UsageCube)  # noqa: S101  (what _partial_cube returns)
    return result


def _compute(total: Any, scheduler: Any) -> Any:  # noqa: ANN401  (a Delayed; what it computes)
    if isinstance(scheduler, str):
        from distributed import Client  # noqa: PLC0415  (only a cluster needs it)

        with Client(scheduler) as client:
            return client.compute(total).result()
    if scheduler is not None:
        return scheduler.compute(total).result()
    (result,) = compute(total)
    return result


def _tree_merge(parts: list[Any]) -> Any:  # noqa: ANN401  (a Delayed of a cube)
    """Pairwise merges, so that no one task holds every partial cube at once."""
    if not parts:
        return delayed(lambda: None)()
    while len(parts) > 1:
        pairs = [parts[i : i + 2] for i in range(0, len(parts), 2)]
        parts = [delayed(UsageCube.merge)(*pair) if len(pair) == 2 else pair[0] for pair in pairs]
    return parts[0]


# --- reading --------------------------------------------------------------------------------


def _names(source: Any) -> list[str] | None:  # noqa: ANN401
    """The paths or globs of ``source``; None for a DataFrame, an error for anything else."""
    if isinstance(source, (dd.DataFrame, pd.DataFrame)):
        return None
    paths = [source] if isinstance(source, (str, Path)) else source
    if not (
        isinstance(paths, Sequence) and paths and all(isinstance(p, (str, Path)) for p in paths)
    ):
        raise InvalidValueError(
            "events", type(source).__name__, "must be paths or globs, or a pandas or Dask DataFrame"
        )
    return [str(path) for path in paths]


def _read(source: Any, names: list[str] | None) -> dd.DataFrame:  # noqa: ANN401
    """The events as a Dask DataFrame with an ``event_id`` column (and the rest as read)."""
    if isinstance(source, dd.DataFrame):
        return source
    if isinstance(source, pd.DataFrame):
        return dd.from_pandas(source, npartitions=max(1, len(source) // 1_000_000 + 1))
    assert names is not None  # noqa: S101  (paths, by _names)
    formats = {source_format(name) for name in names}
    if len(formats) > 1:
        raise InvalidValueError("events", names, "must all be of one format")
    (fmt,) = formats
    try:
        if fmt == "parquet":
            return dd.read_parquet(names)
        if fmt == "csv":
            return dd.read_csv(names, dtype=str, keep_default_na=False)
        lines = _lines(names)
        rows = lines.map(_line_row).filter(lambda row: row is not None)
        return rows.to_dataframe(meta={"event_id": "object", "line": "object"})
    except (OSError, ValueError) as error:
        raise LoadError(", ".join(names), [("events", str(error))]) from None


def _lines(names: list[str]) -> dask.bag.Bag:
    """The lines of the files, in blocks (a gzip file, or an empty one, is a block of its own)."""
    if not any(name.lower().endswith(".gz") for name in names):
        try:
            return dask.bag.read_text(names, blocksize=_BLOCK)
        except (OSError, ValueError):
            pass  # dask finds no block in an empty file: read it whole
    return dask.bag.read_text(names, blocksize=None)


def _line_row(line: str) -> dict[str, Any] | None:
    """A JSON line as its ``event_id`` and the line (parsed again, strictly, after the shuffle)."""
    if not line.strip():
        return None
    data = json.loads(line)  # a ValueError here: cube() names the file and line
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return {"event_id": event_id if isinstance(event_id, str) else "", "line": line}


# --- one partition ------------------------------------------------------------------------------


def _partial_cube(
    part: pd.DataFrame,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    outside: Outside,
) -> UsageCube:
    """The cube of one partition (it holds every event of its ids), by the pure engine."""
    builder = CubeBuilder(org, period, prices, outside=outside)
    records = functools.partial(_records, part)
    for record in records():
        builder.add_record(record)
    if builder.pending:  # a conflict: the second pass, over this partition again
        builder.resolve_records(records())
    return builder.cube()


def _records(part: pd.DataFrame) -> Iterator[dict[str, Any]]:
    if "line" in part.columns:
        for line in part["line"]:
            yield json.loads(line)
        return
    for row in part.to_dict("records"):
        yield record_of_row(row)
