"""Bounded reading of outside text: JSON and TOML documents, JSON Lines records.

Every reader of outside data decodes through here, so that what a careless or
hostile file can do is decided once. The standard parsers raise foreign
exceptions on some input: a document nested a few hundred levels deep
(``RecursionError``), an integer of more than 4,300 digits (a bare ``ValueError``,
Python's ``sys.int_max_str_digits``), bytes that are not UTF-8
(``UnicodeDecodeError``), a ``NaN`` that JSON does not have. Here each becomes a
:class:`~usagebill.errors.LoadError` naming the document (or, for one line of a
JSON Lines file, an :class:`~usagebill.errors.InvalidValueError` naming the
column), and a document nested deeper than :data:`MAX_DEPTH` is refused even
when the parser managed it.

>>> json_document('{"a": [1, 2]}', "doc.json")
{'a': [1, 2]}
>>> json_document("[" * 100_000 + "]" * 100_000, "doc.json")
Traceback (most recent call last):
...
usagebill.errors.LoadError: doc.json does not load (1 problem):
  $: is nested too deeply (more than 64 levels)
>>> json_line('[1,')
Traceback (most recent call last):
...
usagebill.errors.InvalidValueError: line is not JSON: Expecting value at column 4 (got '[1,')
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Final

from usagebill.errors import InvalidValueError, LoadError, short_repr

__all__ = ["MAX_DEPTH", "json_document", "json_line", "read_bytes", "toml_document"]

MAX_DEPTH: Final = 64
"""How deeply a document may nest (objects and arrays, or tables and arrays): ours need 8."""

_DEEP: Final = f"is nested too deeply (more than {MAX_DEPTH} levels)"
_BOM: Final = "\ufeff"


def _no_constant(name: str) -> object:
    """``parse_constant``: JSON has no NaN nor Infinity (Python's json reads them)."""
    raise ValueError(f"{name} is not a JSON number")


# One decoder, made once: json.loads with any keyword builds a new JSONDecoder per call, which
# costs more than decoding a line of an events file.
_DECODER: Final = json.JSONDecoder(parse_constant=_no_constant)


def _too_deep(value: object) -> bool:
    """Whether ``value`` nests deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    level: list[object] = [value]
    for _depth in range(MAX_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


def _not_json(error: ValueError | RecursionError) -> tuple[int, int, str]:
    """Line, column and what is wrong of a JSON text the parser refused."""
    if isinstance(error, json.JSONDecodeError):
        return error.lineno, error.colno, error.msg
    if isinstance(error, RecursionError):
        return 1, 1, _DEEP
    # A number of more digits than Python reads (sys.int_max_str_digits), or a NaN.
    return 1, 1, str(error).split(";")[0]


def json_document(text: str | bytes, source: str) -> Any:  # noqa: ANN401  (any JSON value)
    """The value of a JSON document (UTF-8 bytes, or text), or a LoadError naming ``source``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = _DECODER.decode(text.removeprefix(_BOM))
    except UnicodeDecodeError as error:
        raise LoadError(source, [_not_utf8_at(error)]) from None
    except (ValueError, RecursionError) as error:
        line, column, message = _not_json(error)
        if isinstance(error, json.JSONDecodeError):
            raise LoadError(source, [(f"line {line}", f"{message} at column {column}")]) from None
        raise LoadError(source, [("$", message)]) from None
    if _too_deep(value):
        raise LoadError(source, [("$", _DEEP)])
    return value


def json_line(line: bytes | str) -> Any:  # noqa: ANN401  (any JSON value)
    """The value of one line of a JSON Lines file; InvalidValueError says what and which column.

    The line's own number is the caller's to give (``file:line``): the message
    names only the column. A UTF-8 byte-order mark at its start is skipped. Its
    depth is not walked (the hot path of reading files): the parser's own limit
    holds, and the events parser refuses any nesting an event has no place for.
    """
    if isinstance(line, bytes):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidValueError("line", line.rstrip(b"\r\n"), _not_utf8(error)) from None
    else:
        text = line
    try:
        return _DECODER.decode(text.removeprefix(_BOM))
    except (ValueError, RecursionError) as error:
        _line, column, message = _not_json(error)
        if isinstance(error, json.JSONDecodeError):
            # A line cut short ends at its newline: "line 2 column 1" of the line is its end.
            column = error.colno if error.lineno == 1 else len(text.rstrip("\r\n")) + 1
            message = f"{message} at column {column}"
        raise InvalidValueError("line", text.rstrip("\r\n"), f"is not JSON: {message}") from None


def _not_utf8_at(error: UnicodeDecodeError) -> tuple[str, str]:
    """Where in a document (its line) and what: the first byte that is not UTF-8, and its column."""
    data = error.object
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    bad = data[error.start : error.start + 1].hex()
    return f"line {line}", f"is not UTF-8 text: byte 0x{bad} at column {column}"


def _not_utf8(error: UnicodeDecodeError) -> str:
    bad = error.object[error.start : error.start + 1]
    return f"is not UTF-8 text: byte 0x{bad.hex()} at column {error.start + 1}"


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``; OSError as ``open`` raises it, LoadError for an impossible name."""
    try:
        return path.read_bytes()
    except ValueError:  # a NUL character: no file system has such a name
        raise LoadError(
            short_repr(str(path)), [("$", "a file name cannot contain a NUL character")]
        ) from None


def toml_document(path: Path) -> dict[str, Any]:
    """The tables of a TOML file, or a LoadError naming it (OSError as ``open`` raises it)."""
    data = read_bytes(path)
    source = str(path)
    try:
        text = data.decode("utf-8").removeprefix(_BOM)
        value = tomllib.loads(text)
    except UnicodeDecodeError as error:
        raise LoadError(source, [_not_utf8_at(error)]) from None
    except tomllib.TOMLDecodeError as error:
        raise LoadError(source, [("$", str(error))]) from None
    except RecursionError:
        raise LoadError(source, [("$", _DEEP)]) from None
    except ValueError as error:  # an integer of more digits than Python reads
        raise LoadError(source, [("$", str(error).split(";")[0])]) from None
    if _too_deep(value):
        raise LoadError(source, [("$", _DEEP)])
    return value
