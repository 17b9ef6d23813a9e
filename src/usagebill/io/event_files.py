"""Files of usage events for the pure engine: JSON Lines (plain or gzip), CSV, Parquet; globs.

The format comes from the file name's ending (see
:data:`~usagebill.billing.dimensions.SOURCE_FORMATS`). JSON Lines hold the
event form of :mod:`usagebill.events`; CSV and Parquet one event per row
(:func:`~usagebill.billing.dimensions.record_of_row`). Parquet needs pyarrow
(``pip install usagebill[tables]``). Each event comes with where it was read,
``file:line`` (or ``file:row``), so that errors can name it.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import json.scanner
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Final, NamedTuple

from usagebill._documents import json_line
from usagebill.billing.dimensions import record_of_row, source_format
from usagebill.errors import InvalidValueError, LoadError, UsageBillError, short_repr

__all__ = ["STDIN", "EventLine", "expand", "read_events"]

STDIN: Final = "-"
"""The name of standard input among the files."""


class EventLine(NamedTuple):
    """One event as read: where (``file:line``), its dict form, or why it is not one.

    >>> EventLine("usage.jsonl:3", {"event_id": "e1"}).where
    'usage.jsonl:3'
    """

    where: str
    record: dict[str, Any] | None
    error: Exception | None = None


def expand(sources: str | Path | Sequence[str | Path]) -> list[str]:
    """The files a path, a glob or a list of them names, sorted per pattern; ``-`` is stdin."""
    patterns = [sources] if isinstance(sources, (str, Path)) else list(sources)
    files: list[str] = []
    for pattern in map(str, patterns):
        if pattern == STDIN or not glob.has_magic(pattern):
            files.append(pattern)
            continue
        found = sorted(glob.glob(pattern))  # noqa: PTH207  (a pattern may be absolute)
        if not found:
            raise FileNotFoundError(f"no file matches {short_repr(pattern)}")
        files += found
    for name in files:
        if name != STDIN:
            if not Path(name).is_file():
                raise FileNotFoundError(f"no such file: {name}")
            source_format(name)  # a clear error before anything is read
    return files


def read_events(files: Sequence[str]) -> Iterator[EventLine]:
    """Every event of ``files`` in order, with where it was read."""
    for name in files:
        fmt = "json" if name == STDIN else source_format(name)
        if fmt == "json":
            yield from _json_lines(name)
        elif fmt == "csv":
            yield from _csv_rows(name)
        else:
            yield from _parquet_rows(name)


def _json_lines(name: str) -> Iterator[EventLine]:
    """Each line decoded on its own: a bad byte, bad JSON or a huge value is that line's error."""
    number = 0
    try:
        with _open(name) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                record = _plain_line(line)
                if record is not None:
                    yield EventLine(f"{name}:{number}", record)
                    continue
                try:
                    yield EventLine(f"{name}:{number}", json_line(line))
                except UsageBillError as error:
                    yield EventLine(f"{name}:{number}", None, error)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:  # a gzip file cut short or corrupt
        raise LoadError(name, [(f"line {number + 1}", f"is not readable gzip: {error}")]) from None


def _no_constant(name: str) -> object:
    raise ValueError(name)  # NaN or Infinity: json_line says what is wrong


_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = json.scanner.make_scanner(
    json.JSONDecoder(parse_constant=_no_constant)  # type: ignore[arg-type]  # typeshed: a class
)
"""The scanner ``json.loads`` calls, called directly: a third of its cost is its wrapper."""
_LINE_ENDS: Final = ("\n", "\r\n", "")


def _plain_line(line: bytes | str) -> dict[str, Any] | None:
    """The JSON object of a plain line (UTF-8, one object, then its newline), else ``None``.

    The fast path of reading: anything else — a byte-order mark, spaces around
    the object, a value that is not an object, bad bytes or bad JSON — is left
    to :func:`~usagebill._documents.json_line`, which reads it or says what is wrong.
    """
    try:
        text = line.decode() if isinstance(line, bytes) else line
        record, end = _SCAN(text, 0)
    except (ValueError, StopIteration, RecursionError, AttributeError):
        return None
    if type(record) is not dict or text[end:] not in _LINE_ENDS:
        return None
    return record


def _open(name: str) -> AbstractContextManager[Iterable[bytes | str]]:
    if name == STDIN:
        # Read, never closed; as bytes when it has them, so that each line is decoded on its own.
        return nullcontext(getattr(sys.stdin, "buffer", sys.stdin))
    if name.lower().endswith(".gz"):
        return gzip.open(name, "rb")
    return Path(name).open("rb")


def _csv_rows(name: str) -> Iterator[EventLine]:
    """Each row with its line; a row that is not UTF-8 or not as wide as the header is an error.

    A UTF-8 byte-order mark is skipped. CSV that the reader cannot parse at all (a
    field past its size limit) stops the file: a LoadError naming the line.
    """
    with Path(name).open(newline="", encoding="utf-8-sig", errors="surrogateescape") as file:
        rows = csv.DictReader(file)
        try:
            for row in rows:
                where = f"{name}:{rows.line_num}"
                problem = _row_problem(row, rows.fieldnames or ())
                yield _row(where, row) if problem is None else EventLine(where, None, problem)
        except csv.Error as error:
            raise LoadError(
                name, [(f"after line {rows.line_num}", f"is not CSV: {error}")]
            ) from None


def _row_problem(row: dict[str | Any, Any], header: Sequence[str]) -> InvalidValueError | None:
    """What makes a CSV row no event before its cells are read: bytes, or too few or many cells."""
    if None in row or None in row.values():  # DictReader's marks of a row longer or shorter
        cells = sum(key is not None and cell is not None for key, cell in row.items())
        cells += len(row.get(None) or ())
        rule = f"must have as many cells as the header ({len(header)})"
        return InvalidValueError("row", f"{cells} cells", rule)
    bad = next((str(cell) for cell in row.values() if _NOT_UTF8.search(str(cell))), "")
    if bad:
        byte = ord(_NOT_UTF8.findall(bad)[0]) - 0xDC00
        return InvalidValueError("row", bad, f"is not UTF-8 text: byte 0x{byte:02x}")
    return None


# What surrogateescape decodes a byte that is not UTF-8 to: U+DC80 to U+DCFF.
_NOT_UTF8: Final = re.compile("[\udc80-\udcff]")


def _row(where: str, row: dict[str, Any]) -> EventLine:
    try:
        return EventLine(where, record_of_row(row))
    except UsageBillError as error:
        return EventLine(where, None, error)


def _parquet_rows(name: str) -> Iterator[EventLine]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415  (optional: usagebill[tables])
    except ImportError:
        raise InvalidValueError(
            "events", name, "is Parquet: install pyarrow (usagebill[tables]) or use --engine duckdb"
        ) from None
    import pyarrow as pa  # noqa: PLC0415  (installed with pyarrow.parquet)

    number = 0
    try:
        for batch in pq.ParquetFile(name).iter_batches():
            for row in batch.to_pylist():
                number += 1
                yield _row(f"{name}:{number}", row)
    except (pa.ArrowException, OSError) as error:  # not Parquet, cut short, a column it cannot read
        raise LoadError(
            name, [(f"row {number + 1}", f"is not readable Parquet: {error}")]
        ) from None
