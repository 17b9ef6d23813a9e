"""Leases and direct charges bill the same month, byte for byte.

A leased front decides locally and records at flush; with no cap in the way it
admits exactly what the ledger admits directly, and the ledger's invoice of
either is the same document.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import HAIKU, OCTOBER, SONNET, event, october, organization
from usagebill.ledger import LeasedLedger, MemoryLedger

EVENTS = st.lists(
    st.builds(
        lambda user, model, hour, tokens: (user, model, hour, tokens),
        st.sampled_from(["olga", "ada", "bob"]),
        st.sampled_from([SONNET, HAIKU]),
        st.integers(0, 23),
        st.integers(0, 2_000_000),
    ),
    max_size=40,
)


@settings(deadline=None)
@given(EVENTS)
def test_a_leased_month_is_invoiced_as_the_direct_one(specs):
    org = organization()
    events = [
        event(
            f"e{n}",
            user,
            model,
            at=october(3, hour),
            input_tokens=tokens,
            output_tokens=tokens // 10,
        )
        for n, (user, model, hour, tokens) in enumerate(specs)
    ]
    direct = MemoryLedger(org, clock=lambda: october(3, 23))
    central = MemoryLedger(org, clock=lambda: october(3, 23))
    leased = LeasedLedger(central)
    for one in events:
        assert direct.charge(one).recorded
        assert leased.charge(one).recorded
    leased.close()
    assert central.invoice(OCTOBER).to_json() == direct.invoice(OCTOBER).to_json()
