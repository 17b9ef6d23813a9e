"""Live enforcement around model calls: a guard for the official ``anthropic`` SDK.

:class:`GuardedAnthropic` and :class:`GuardedAsyncAnthropic` need
``usagebill[anthropic]`` and are imported on first use; the rest
(:class:`RequestDeniedError`, :class:`GuardedCall`, :func:`request_bound`)
imports without the SDK.
"""

from typing import TYPE_CHECKING

from usagebill.gateway.guard import (
    DEFAULT_WEB_SEARCHES,
    GuardedCall,
    GuardLedger,
    RequestBound,
    RequestDeniedError,
    request_bound,
)

if TYPE_CHECKING:
    from usagebill.gateway.anthropic_sdk import (
        AsyncMemberClient,
        GuardedAnthropic,
        GuardedAsyncAnthropic,
        MemberClient,
    )

__all__ = [
    "DEFAULT_WEB_SEARCHES",
    "AsyncMemberClient",
    "GuardLedger",
    "GuardedAnthropic",
    "GuardedAsyncAnthropic",
    "GuardedCall",
    "MemberClient",
    "RequestBound",
    "RequestDeniedError",
    "request_bound",
]

_SDK_NAMES = frozenset(
    {"AsyncMemberClient", "GuardedAnthropic", "GuardedAsyncAnthropic", "MemberClient"}
)


def __getattr__(name: str) -> object:
    """Import the SDK guard on first use, so that the anthropic SDK stays optional."""
    if name in _SDK_NAMES:
        from usagebill.gateway import anthropic_sdk  # noqa: PLC0415  (needs usagebill[anthropic])

        return getattr(anthropic_sdk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
