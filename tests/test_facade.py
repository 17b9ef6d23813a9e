"""The façade: ``usagebill`` names what users build or call, loads each on first use."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import usagebill

INIT = Path(usagebill.__file__)


def test_every_public_name_resolves_to_its_home() -> None:
    """Each name of __all__ is the object its home module defines."""
    for name in usagebill.__all__:
        if name == "__version__":
            continue
        home = usagebill._HOME_OF[name]
        assert getattr(usagebill, name) is getattr(importlib.import_module(home), name)


def test_all_is_the_lazy_names_and_the_version() -> None:
    assert set(usagebill.__all__) == {*usagebill._HOME_OF, "__version__"}
    assert usagebill.__all__ == sorted(usagebill.__all__, key=lambda n: (not n.isupper(), n))


def test_type_checkers_see_the_same_names_as_the_lazy_loader() -> None:
    """The TYPE_CHECKING imports and the name → module table must not drift apart."""
    tree = ast.parse(INIT.read_text("utf-8"))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module is not None
                seen.update(dict.fromkeys((a.name for a in statement.names), statement.module))
    assert seen == usagebill._HOME_OF


def test_the_version_is_the_packages() -> None:
    from importlib.metadata import version  # noqa: PLC0415

    assert usagebill.__version__ == version("usagebill")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = usagebill.Nope  # type: ignore[attr-defined]


def test_dir_lists_the_public_names() -> None:
    assert set(usagebill.__all__) <= set(dir(usagebill))


def test_importing_usagebill_loads_no_layer() -> None:
    """`import usagebill` alone loads none of the subpackages, nor attrs or cattrs."""
    code = (
        "import sys, usagebill; "
        "print(sorted(m for m in sys.modules if m.startswith(('usagebill.', 'attr', 'cattrs'))))"
    )
    out = subprocess.run(  # noqa: S603  (our interpreter, our code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['usagebill._version']"


def test_a_gateway_does_not_load_the_analysis_layer_or_cattrs() -> None:
    """Deciding needs money, prices and caps: not what-if, forecasts, cattrs or the stores."""
    code = (
        "import sys; from usagebill import authorize, Money, PriceTable, Organization; "
        "print(sorted({m.split('.')[0] if not m.startswith('usagebill') else m "
        "for m in sys.modules}))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("usagebill.analysis", "usagebill.ledger", "usagebill.serde", "'cattrs'"):
        assert heavy not in out
