"""Every public type shows itself at work: its docstring has a ``>>>`` example.

Sybil runs every example in ``src/`` (see ``conftest.py``); this test makes sure there is one
to run. A public type is a class that a module lists in ``__all__`` and defines itself (a value,
an enum, a result row), exceptions and protocols apart: an exception's docstring says when it is
raised, a protocol's what it asks for.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from usagebill import errors, money
from usagebill.accounts import limits

SRC = Path(__file__).parents[1] / "src"

PENDING: set[str] = {
    # Being rewritten on their branches (architecture issue, item 7): each entry goes when its
    # rewrite lands with an example per type; test_a_pending_entry_is_still_pending says when.
}
"""Module prefixes whose public types may still lack an example (a prefix covers submodules)."""


def _name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_name(path) for path in (SRC / "usagebill").rglob("*.py"))


def _pending(module: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in PENDING)


def public_types(module: ModuleType) -> list[type]:
    """The classes ``module`` lists in ``__all__`` and defines, exceptions and protocols apart."""
    found = []
    for name in getattr(module, "__all__", ()):
        value = getattr(module, name)
        if (
            inspect.isclass(value)
            and value.__module__ == module.__name__
            and not issubclass(value, BaseException)
            and not getattr(value, "_is_protocol", False)
        ):
            found.append(value)
    return found


def without_example(module: str) -> list[str]:
    """The public types of ``module`` whose own docstring has no ``>>>`` example."""
    return [
        cls.__qualname__
        for cls in public_types(importlib.import_module(module))
        if ">>>" not in (vars(cls).get("__doc__") or "")  # its own: never a base class's
    ]


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(m, marks=pytest.mark.skip(reason="pending: see PENDING")) if _pending(m) else m
        for m in MODULES
    ],
)
def test_every_public_type_has_an_example(module: str) -> None:
    missing = without_example(module)
    assert not missing, f"{module}: add a >>> example to the docstring of {', '.join(missing)}"


@pytest.mark.parametrize("prefix", sorted(PENDING))
def test_a_pending_entry_is_still_pending(prefix: str) -> None:
    """An entry whose public types all have an example must leave PENDING (a new one may wait)."""
    covered = [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]
    has_types = any(public_types(importlib.import_module(m)) for m in covered)
    if has_types and not any(without_example(m) for m in covered):
        pytest.fail(f"every public type under {prefix} has an example: remove it from PENDING")


def test_public_types_are_the_values_not_errors_nor_protocols() -> None:
    """The filter above, on types known to be in or out."""
    assert public_types(money) == [money.Money]
    assert public_types(errors) == []
    assert limits.SpendLike not in public_types(limits)
    assert limits.Level in public_types(limits)
    assert without_example("usagebill.money") == []
