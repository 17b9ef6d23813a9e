"""Shared fixtures and the hypothesis profiles: "ci" (the default) and "fast".

Pick one with ``HYPOTHESIS_PROFILE=fast pytest``.
"""

import os
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from usagebill import PriceTable

settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("fast", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def table() -> PriceTable:
    """The built-in Claude price table."""
    return PriceTable.builtin()


@pytest.fixture
def at() -> datetime:
    """An instant at which every built-in model has a price (after every dated change)."""
    return datetime(2026, 10, 15, 12, tzinfo=UTC)
