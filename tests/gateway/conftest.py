"""What the gateway tests share: an organization, ledgers of every kind, the fake Messages API.

Prices (built-in table, October 2026): Sonnet 4.6 $3 / $15 per million input / output
tokens, x1.1 for US-only inference. The fake API answers 1,000 input and 200 output
tokens by default: $0.003 + $0.003 = $0.006 a request. With ``count_tokens`` answering
1,000 and ``max_tokens=1_000``, a request's bound is $0.003 + $0.015 = $0.018.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from builders import member, organization
from ledger_support import DSN_VARIABLE, store_params
from usagebill import (
    CHAT_AND_CLAUDE_CODE,
    FailurePolicy,
    Money,
    Organization,
    SpendLimits,
)
from usagebill.gateway import GuardedAnthropic, GuardedAsyncAnthropic
from usagebill.gateway.testing import FakeMessagesAPI
from usagebill.ledger import Ledger, MemoryLedger, SqliteLedger

AT = datetime(2026, 10, 20, 9, tzinfo=UTC)
SONNET = "claude-sonnet-4-6"
HELLO = [{"role": "user", "content": "Hello"}]
CALL = {"model": SONNET, "max_tokens": 1_000, "messages": HELLO}
"""A request whose bound is $0.018 (1,000 tokens counted) and whose cost is $0.006."""
STORES = store_params()


def make_org(
    ada_cap: str | None = "1", policy: FailurePolicy = FailurePolicy.REPORTED
) -> Organization:
    """olga (primary owner) and cy on Chat + Claude Code, ada on Chat with a cap of ``ada_cap``."""
    return organization(
        member("ada"),
        member("cy", CHAT_AND_CLAUDE_CODE),
        at=datetime(2026, 10, 1, tzinfo=UTC),
        limits=SpendLimits(members={} if ada_cap is None else {"ada": Money(ada_cap)}),
        failure_policy=policy,
    )


def make_ledger(kind: str, org: Organization, path: Path) -> Ledger:
    """A ledger of ``kind`` (memory, sqlite, postgres) over the built-in prices, clock at AT."""
    if kind == "memory":
        return MemoryLedger(org, clock=lambda: AT)
    if kind == "sqlite":
        return SqliteLedger(path / "ledger.db", org, clock=lambda: AT)
    import os  # noqa: PLC0415

    from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415

    ledger = PostgresLedger(os.environ[DSN_VARIABLE], org, clock=lambda: AT)
    ledger.store.reset()  # type: ignore[attr-defined]
    return ledger


def spent(ledger: Ledger, user_id: str = "ada") -> tuple[Money, Money]:
    """What ``user_id`` has committed and still holds this month."""
    spend = ledger.month_to_date(AT)
    return spend.member(user_id), Money(spend.held_members.get(user_id, 0))


@pytest.fixture
def api() -> FakeMessagesAPI:
    return FakeMessagesAPI()


@pytest.fixture
def ledger() -> Ledger:
    return MemoryLedger(make_org(), clock=lambda: AT)


@pytest.fixture
def guarded(api: FakeMessagesAPI, ledger: Ledger) -> GuardedAnthropic:
    return GuardedAnthropic(api.client(), ledger)


@pytest.fixture
def aguarded(api: FakeMessagesAPI, ledger: Ledger) -> GuardedAsyncAnthropic:
    return GuardedAsyncAnthropic(api.async_client(), ledger)
