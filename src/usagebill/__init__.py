"""usagebill: exact, fast usage-based billing for seat-based AI products.

What users build or call is importable from here and listed in ``__all__``;
result rows (an invoice's lines, a forecast's projections, …) stay in the
modules of their results. The data flows through the subpackages in this
order: :mod:`~usagebill.pricing` (usage → exact money), :mod:`~usagebill.accounts`
(seats, members, caps), :mod:`~usagebill.caps` (the decision), :mod:`~usagebill.ledger`
(live enforcement), :mod:`~usagebill.billing` (the invoice), :mod:`~usagebill.analysis`
(what-if, diffs, forecasts, reconciliation); ``docs/design.md`` is the map.

Every name loads on first use (:pep:`562`): ``import usagebill`` costs little, a
gateway that only decides never loads the analysis layer, and the optional
stores and engines load only when asked for.

>>> import usagebill
>>> usagebill.Money("0.10") + usagebill.Money("0.20")
Money('0.3', 'USD')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from usagebill._version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from usagebill.accounts.limits import PoolLimit, Spend, SpendLimits
    from usagebill.accounts.organization import Organization
    from usagebill.accounts.seats import (
        CHAT,
        CHAT_AND_CLAUDE_CODE,
        HIPAA,
        AddOn,
        Member,
        Role,
        SeatCatalog,
        SeatChange,
        SeatType,
    )
    from usagebill.analysis.diff import diff
    from usagebill.analysis.forecast import forecast
    from usagebill.analysis.reconcile import Tolerance, reconcile
    from usagebill.analysis.whatif import (
        ChangeCaps,
        ChangeModelPrice,
        ChangePrices,
        FlatPlan,
        MoveSeats,
        Scenario,
        whatif,
        whatif_cube,
    )
    from usagebill.billing.invoice import Invoice, InvoiceBuilder, build_invoice
    from usagebill.caps.alerts import notifications, path_notifications
    from usagebill.caps.decision import UsedOnPath, authorize, authorize_usage, decide
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
    from usagebill.events import UsageEvent
    from usagebill.money import Money, minor_unit
    from usagebill.periods import BillingPeriod
    from usagebill.pricing.prices import (
        ContextTier,
        Derivation,
        ModelListing,
        ModelPrice,
        PriceTable,
        Rates,
    )
    from usagebill.usage import FailurePolicy, Modifiers, Product, TokenUsage

_HOMES: Final = {
    "usagebill.errors": (
        "ConflictError",
        "CurrencyMismatchError",
        "InvalidValueError",
        "LoadError",
        "MoneyTypeError",
        "PermissionDeniedError",
        "UnknownModelError",
        "UnknownNameError",
        "UnsupportedModifierError",
        "UsageBillError",
    ),
    "usagebill.money": ("Money", "minor_unit"),
    "usagebill.usage": ("FailurePolicy", "Modifiers", "Product", "TokenUsage"),
    "usagebill.events": ("UsageEvent",),
    "usagebill.periods": ("BillingPeriod",),
    "usagebill.pricing.prices": (
        "ContextTier",
        "Derivation",
        "ModelListing",
        "ModelPrice",
        "PriceTable",
        "Rates",
    ),
    "usagebill.accounts.seats": (
        "CHAT",
        "CHAT_AND_CLAUDE_CODE",
        "HIPAA",
        "AddOn",
        "Member",
        "Role",
        "SeatCatalog",
        "SeatChange",
        "SeatType",
    ),
    "usagebill.accounts.limits": ("PoolLimit", "Spend", "SpendLimits"),
    "usagebill.accounts.organization": ("Organization",),
    "usagebill.caps.decision": ("UsedOnPath", "authorize", "authorize_usage", "decide"),
    "usagebill.caps.alerts": ("notifications", "path_notifications"),
    "usagebill.billing.invoice": ("Invoice", "InvoiceBuilder", "build_invoice"),
    "usagebill.analysis.whatif": (
        "ChangeCaps",
        "ChangeModelPrice",
        "ChangePrices",
        "FlatPlan",
        "MoveSeats",
        "Scenario",
        "whatif",
        "whatif_cube",
    ),
    "usagebill.analysis.diff": ("diff",),
    "usagebill.analysis.forecast": ("forecast",),
    "usagebill.analysis.reconcile": ("Tolerance", "reconcile"),
}
"""Each public name, by the module it lives in."""

_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "CHAT",
    "CHAT_AND_CLAUDE_CODE",
    "HIPAA",
    "AddOn",
    "BillingPeriod",
    "ChangeCaps",
    "ChangeModelPrice",
    "ChangePrices",
    "ConflictError",
    "ContextTier",
    "CurrencyMismatchError",
    "Derivation",
    "FailurePolicy",
    "FlatPlan",
    "InvalidValueError",
    "Invoice",
    "InvoiceBuilder",
    "LoadError",
    "Member",
    "ModelListing",
    "ModelPrice",
    "Modifiers",
    "Money",
    "MoneyTypeError",
    "MoveSeats",
    "Organization",
    "PermissionDeniedError",
    "PoolLimit",
    "PriceTable",
    "Product",
    "Rates",
    "Role",
    "Scenario",
    "SeatCatalog",
    "SeatChange",
    "SeatType",
    "Spend",
    "SpendLimits",
    "TokenUsage",
    "Tolerance",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedModifierError",
    "UsageBillError",
    "UsageEvent",
    "UsedOnPath",
    "__version__",
    "authorize",
    "authorize_usage",
    "build_invoice",
    "decide",
    "diff",
    "forecast",
    "minor_unit",
    "notifications",
    "path_notifications",
    "reconcile",
    "whatif",
    "whatif_cube",
]


def __getattr__(name: str) -> object:
    """Import the module a public name lives in, the first time the name is used."""
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'usagebill' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next use is a plain look-up
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
