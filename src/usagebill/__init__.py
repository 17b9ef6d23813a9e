"""usagebill: exact, fast usage-based billing for seat-based AI products.

Everything public is importable from here; see ``__all__``.
"""

from usagebill._frozendict import FrozenDict
from usagebill.errors import (
    ConflictError,
    CurrencyMismatchError,
    InvalidValueError,
    LoadError,
    MoneyTypeError,
    PermissionDeniedError,
    UnknownModelError,
    UnknownNameError,
    UnsupportedModifierError,
    UsageBillError,
)
from usagebill.money import ROUNDING, Money, minor_unit
from usagebill.prices import (
    BATCH_MULTIPLIER,
    ContextTier,
    ModelListing,
    ModelPrice,
    PriceTable,
    Quote,
    Rates,
)
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = [
    "BATCH_MULTIPLIER",
    "ROUNDING",
    "ConflictError",
    "ContextTier",
    "CurrencyMismatchError",
    "FrozenDict",
    "InvalidValueError",
    "LoadError",
    "ModelListing",
    "ModelPrice",
    "Modifiers",
    "Money",
    "MoneyTypeError",
    "PermissionDeniedError",
    "PriceTable",
    "Product",
    "Quote",
    "Rates",
    "TokenUsage",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedModifierError",
    "UsageBillError",
    "minor_unit",
]
