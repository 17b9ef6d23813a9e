"""One strict cattrs converter for every value type: JSON-ready dicts and back.

* Decimals travel as strings (``"0.30"``), never floats, and come back equal.
* Datetimes are ISO 8601 strings and must carry a UTC offset.
* Strict: unknown keys, a string where a number belongs, ``true`` where a
  count belongs are all refused. Every problem of a document is gathered and
  raised together as one :class:`~usagebill.errors.LoadError`, each with its
  path, e.g. ``$.models['claude-x'].prices[0].rates.output``.

>>> from usagebill import Money
>>> to_dict(Money("12.30"))
{'amount': '12.30', 'currency': 'USD'}
>>> from_dict({"amount": "12.30", "currency": "USD"}, Money)
Money('12.3', 'USD')
"""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, mapping_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn

from usagebill._checks import instant
from usagebill._documents import json_document, toml_document
from usagebill._frozendict import FrozenDict
from usagebill.errors import InvalidValueError, LoadError, UsageBillError, short_repr
from usagebill.money import EXACT, exact_decimal
from usagebill.periods import BillingPeriod

__all__ = ["converter", "from_dict", "from_json", "structure", "to_dict", "to_json", "unstructure"]

T = TypeVar("T")


def _strict(kind: type, name: str) -> Callable[[object, type], Any]:
    def structure(value: object, _type: type) -> Any:
        if type(value) is not kind:
            raise InvalidValueError("value", value, f"must be {name}")
        return value

    return structure


def _enum(value: object, type_: type[enum.Enum]) -> enum.Enum:
    """A member of a StrEnum or IntEnum, from its exact value (not True for 1)."""
    members = [member.value for member in type_]
    kind = str if issubclass(type_, str) else int
    if type(value) is kind and value in members:
        return type_(value)
    raise InvalidValueError("value", value, f"must be one of {members}")


# A document's amounts and rates: at most 20 decimal places, less than 10**30. Sums, products
# and prorations of such figures (and counts under 2**63) stay within exact money's 60 digits; a
# fee of 20.000…001 with 55 zeros would make the invoice's sums inexact (decimal.Inexact).
_PLACES: Final = 20
_DIGITS: Final = 30
_DOCUMENT_DECIMAL: Final = (
    f"must have at most {_PLACES} decimal places and be less than 10**{_DIGITS} in size"
)


def _exact(value: object, _type: type) -> Decimal:
    """Any exact decimal: a figure usagebill computed (an invoice's prorated exact amounts)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise InvalidValueError("value", value, "must be a decimal number written as a string")
    return exact_decimal(value, "value")


def _decimal(value: object, _type: type) -> Decimal:
    """A figure a person wrote: bounded so that sums of such figures stay exact."""
    number = _exact(value, _type)
    if number:
        exponent = number.normalize(EXACT).as_tuple().exponent
        if number.adjusted() >= _DIGITS or (isinstance(exponent, int) and exponent < -_PLACES):
            raise InvalidValueError("value", value, _DOCUMENT_DECIMAL)
    return number


def _datetime(value: object, _type: type) -> datetime:
    return instant(value, "value")


def _date(value: object, _type: type) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidValueError("value", value, "must be an ISO 8601 date (YYYY-MM-DD)")


def _is_frozendict(type_: Any) -> bool:
    return typing.get_origin(type_) is FrozenDict or type_ is FrozenDict


def _frozendict_structure(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    key, value = typing.get_args(type_) or (Any, Any)
    as_dict = conv.get_structure_hook(dict[key, value])  # type: ignore[valid-type]

    def structure(data: object, _type: Any) -> FrozenDict[Any, Any]:
        if not isinstance(data, Mapping):
            raise InvalidValueError("value", data, "must be a mapping")
        return FrozenDict(as_dict(data, dict[key, value]))  # type: ignore[valid-type]

    return structure


def _is_dict(type_: Any) -> bool:
    return type_ is dict or typing.get_origin(type_) in (dict, Mapping)


def _dict_structure(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    """Dicts come from JSON objects only (cattrs would fail on a list with AttributeError)."""
    items = mapping_structure_factory(type_, conv)

    def structure(data: object, _type: Any) -> dict[Any, Any]:
        if not isinstance(data, Mapping):
            raise InvalidValueError("value", data, "must be a mapping")
        return items(data, _type)  # type: ignore[no-any-return]

    return structure


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_tuple(type_: Any) -> bool:
    return type_ is tuple or typing.get_origin(type_) is tuple


def _tuple_structure(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    """Tuples come from JSON lists only: a string is not a tuple of characters."""
    items = homogenous_tuple_structure_factory(type_, conv)

    def structure(data: object, _type: Any) -> tuple[Any, ...]:
        if not isinstance(data, (list, tuple)):
            raise InvalidValueError("value", data, "must be a list")
        return items(data, _type)  # type: ignore[no-any-return]

    return structure


def _attrs_structure(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    """Value types come from JSON objects only (cattrs would fail on a list with AttributeError)."""
    from_mapping = make_dict_structure_fn(type_, conv)

    def structure(data: object, _type: Any) -> Any:
        if not isinstance(data, Mapping):
            raise InvalidValueError("value", data, "must be a mapping (a JSON object)")
        return from_mapping(data, _type)

    return structure


def _is_literal(type_: Any) -> bool:
    return typing.get_origin(type_) is typing.Literal


def _literal(value: object, type_: Any) -> object:
    """One of a Literal's values, exactly (cattrs' own message names typing.Literal)."""
    allowed = typing.get_args(type_)
    if any(type(value) is type(option) and value == option for option in allowed):
        return value
    raise InvalidValueError("value", value, f"must be one of {list(allowed)}")


def make_converter(*, computed: bool = False) -> cattrs.Converter:
    """Build the strict converter (exposed so tests and users can extend a copy).

    Decimals are figures people write (at most 20 decimal places, below 10**30), or
    with ``computed`` any exact decimal, as usagebill's own results hold them.
    """
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(bool, _strict(bool, "true or false"))
    # The str and int hooks would also catch StrEnum and IntEnum fields, unchecked.
    conv.register_structure_hook(enum.StrEnum, _enum)
    conv.register_structure_hook(enum.IntEnum, _enum)
    conv.register_structure_hook(Decimal, _exact if computed else _decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(datetime, _datetime)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(date, _date)
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook_factory(_is_dict, _dict_structure)
    conv.register_structure_hook_factory(_is_frozendict, _frozendict_structure)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_structure)
    conv.register_structure_hook_factory(attrs.has, _attrs_structure)
    conv.register_structure_hook_func(_is_literal, _literal)
    conv.register_unstructure_hook_func(
        _is_frozendict,
        lambda mapping: {conv.unstructure(k): conv.unstructure(v) for k, v in mapping.items()},
    )
    conv.register_unstructure_hook_func(
        _is_tuple,
        lambda items: [conv.unstructure(item) for item in items],
    )
    conv.register_unstructure_hook(BillingPeriod, _period_dict)
    conv.register_structure_hook(BillingPeriod, lambda data, _type: _period(conv, data))
    return conv


def _period_dict(period: BillingPeriod) -> dict[str, Any]:
    return {
        "label": period.label,
        "anchor_day": period.anchor_day,
        "timezone": period.timezone,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


def _period(conv: cattrs.Converter, data: object) -> BillingPeriod:
    """A period from its label, anchor and zone; start and end must agree with them."""
    if not isinstance(data, Mapping) or set(data) != {
        "label",
        "anchor_day",
        "timezone",
        "start",
        "end",
    }:
        raise InvalidValueError(
            "period", data, "must have exactly label, anchor_day, timezone, start and end"
        )
    period = BillingPeriod.of(
        conv.structure(data["label"], str),
        anchor_day=conv.structure(data["anchor_day"], int),
        timezone=conv.structure(data["timezone"], str),
    )
    if _period_dict(period) != dict(data):
        raise InvalidValueError("period", data, "has a start or end that its label does not give")
    return period


converter = make_converter()
_computed = make_converter(computed=True)


def unstructure(value: object) -> Any:
    """The JSON-ready form of ``value`` (dicts, lists, strings, ints, bools, None)."""
    return converter.unstructure(value)


to_dict = unstructure


def structure(data: object, cls: type[T], source: str = "data", *, computed: bool = False) -> T:
    """Build a ``cls`` from its dict form, strictly; :class:`LoadError` lists every problem.

    ``computed``: the document is a result usagebill wrote (an invoice), whose exact
    figures may have any number of decimals; otherwise figures are bounded as people write them.
    """
    try:
        return (_computed if computed else converter).structure(data, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as error:
        raise LoadError(source, _problems(error)) from None
    except (UsageBillError, ValueError, TypeError, KeyError) as error:
        raise LoadError(source, _problems(error)) from None


def from_dict(data: object, cls: type[T], source: str = "data") -> T:
    """Alias of :func:`structure`, named like :func:`to_dict`."""
    return structure(data, cls, source)


def to_json(value: object, *, indent: int | None = None) -> str:
    """Deterministic JSON: the same value always gives the same text."""
    return json.dumps(
        unstructure(value), indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False
    )


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file at ``path``; a :class:`LoadError` naming the file if it is bad."""
    return toml_document(path)


def from_json(
    text: str | bytes, cls: type[T], source: str = "JSON", *, computed: bool = False
) -> T:
    """Parse JSON text and structure it as ``cls`` (see :func:`structure`)."""
    return structure(json_document(text, source), cls, source, computed=computed)


def _message(error: BaseException) -> str:
    if isinstance(error, ForbiddenExtraKeysError):
        unknown = short_repr(sorted(error.extra_fields, key=repr))
        fields = attrs.fields(error.cl) if attrs.has(error.cl) else ()
        known = ", ".join(field.name for field in fields if field.init)
        return f"unknown keys {unknown}: this format has no such field" + (
            f" (known: {known})" if known else ""
        )
    if isinstance(error, InvalidValueError):
        return error.detail
    if isinstance(error, KeyError):
        return f"required field {short_repr(error.args[0])} is missing"
    return str(error)


def _problems(
    error: BaseException, path: str = "$", *, own_check: bool = False
) -> list[tuple[str, str]]:
    """Flatten cattrs' exception tree into (path, message) pairs."""
    if isinstance(error, (ClassValidationError, IterableValidationError)):
        with_notes, others = error.group_exceptions()
        problems = [
            problem
            for child, note in with_notes
            for problem in _problems(
                child,
                f"{path}.{note.name}"
                if isinstance(note, AttributeValidationNote)
                else f"{path}[{short_repr(note.index)}]",
            )
        ]
        # Errors without a note were raised by the class itself (its validators and
        # converters, after every field's hook succeeded), not by a field's hook.
        return problems + [
            problem for child in others for problem in _problems(child, path, own_check=True)
        ]
    if own_check and isinstance(error, InvalidValueError):
        # A value type's own check names the field (e.g. "output", "prices[1].effective_from").
        field = error.field
        path = f"{path}{field}" if field.startswith("[") else f"{path}.{field}"
    return [(path, _message(error))]
