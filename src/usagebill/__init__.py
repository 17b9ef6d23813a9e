"""usagebill: exact, fast usage-based billing for seat-based AI products.

Everything public is importable from here, and listed in ``__all__``.
"""

from usagebill._frozendict import FrozenDict
from usagebill.alerts import Notification, notifications
from usagebill.decision import Binding, Decision, Level, authorize, authorize_usage
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
from usagebill.invoice import (
    Invoice,
    InvoiceBuilder,
    SeatFeeLine,
    Subtotal,
    UsageLine,
    build_invoice,
)
from usagebill.limits import EffectiveLimit, LimitSource, PoolLimit, Spend, SpendLimits
from usagebill.money import ROUNDING, Money, minor_unit
from usagebill.org import (
    DEFAULT_THRESHOLDS,
    AuditRecord,
    IncreaseRequest,
    LimitReportRow,
    Organisation,
    RequestStatus,
)
from usagebill.orgfile import load_organisation, organisation_from_dict
from usagebill.periods import BillingPeriod
from usagebill.prices import (
    BATCH_MULTIPLIER,
    ContextTier,
    ModelListing,
    ModelPrice,
    PriceTable,
    Quote,
    Rates,
)
from usagebill.seats import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    HIPAA,
    AddOn,
    Member,
    Role,
    SeatCatalogue,
    SeatChange,
    SeatType,
)
from usagebill.usage import Modifiers, Product, TokenUsage

__all__ = [
    "BATCH_MULTIPLIER",
    "CHAT",
    "CHAT_AND_CLAUDE_CODE",
    "DEFAULT_THRESHOLDS",
    "HIPAA",
    "ROUNDING",
    "AddOn",
    "AuditRecord",
    "BillingPeriod",
    "Binding",
    "ConflictError",
    "ContextTier",
    "CurrencyMismatchError",
    "Decision",
    "EffectiveLimit",
    "FrozenDict",
    "IncreaseRequest",
    "InvalidValueError",
    "Invoice",
    "InvoiceBuilder",
    "Level",
    "LimitReportRow",
    "LimitSource",
    "LoadError",
    "Member",
    "ModelListing",
    "ModelPrice",
    "Modifiers",
    "Money",
    "MoneyTypeError",
    "Notification",
    "Organisation",
    "PermissionDeniedError",
    "PoolLimit",
    "PriceTable",
    "Product",
    "Quote",
    "Rates",
    "RequestStatus",
    "Role",
    "SeatCatalogue",
    "SeatChange",
    "SeatFeeLine",
    "SeatType",
    "Spend",
    "SpendLimits",
    "Subtotal",
    "TokenUsage",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedModifierError",
    "UsageBillError",
    "UsageEvent",
    "UsageLine",
    "authorize",
    "authorize_usage",
    "build_invoice",
    "load_organisation",
    "minor_unit",
    "notifications",
    "organisation_from_dict",
]
