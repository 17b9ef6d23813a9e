"""Run every example: Markdown code blocks in docs/ and the README, doctests in docstrings."""

from doctest import ELLIPSIS, NORMALIZE_WHITESPACE

from sybil import Sybil
from sybil.parsers import myst, rest

_OPTIONS = ELLIPSIS | NORMALIZE_WHITESPACE

markdown = Sybil(
    parsers=[
        myst.DocTestDirectiveParser(optionflags=_OPTIONS),
        myst.PythonCodeBlockParser(doctest_optionflags=_OPTIONS),
        myst.SkipParser(),
    ],
    patterns=["*.md"],
    excludes=["CHANGELOG.md"],
)
docstrings = Sybil(
    parsers=[rest.DocTestParser(optionflags=_OPTIONS)],
    patterns=["*.py"],
    excludes=["conftest.py", "conf.py"],
)
pytest_collect_file = (markdown + docstrings).pytest()
