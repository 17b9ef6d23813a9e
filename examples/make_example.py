"""Write the example organization and a month of its usage, deterministically.

    python examples/make_example.py [--events-per-day 1.0] [--out examples]

Writes ``org.toml`` (50 members of "Acme Health": both seat types, HIPAA Chat
seats, one primary owner, caps at all three levels, a seat change and a member
joining mid-month) and ``usage-2026-10.jsonl`` (October 2026 across several
Claude models, with a few retried duplicates and a few events of the months
around it). The same arguments always give the same bytes.

The seat fees are examples, not Anthropic's prices.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20261001
MONTH_START = datetime(2026, 10, 1, 4, tzinfo=UTC)  # midnight in New York (EDT)
MONTH_END = datetime(2026, 11, 1, 4, tzinfo=UTC)
SEAT_CHANGE = ("u-007", datetime(2026, 10, 14, 19, 30, tzinfo=UTC))
JOINER = ("u-050", datetime(2026, 10, 20, 13, 0, tzinfo=UTC))

ORG_HEAD = """\
# Acme Health: the example organization of usagebill (format: docs/invoices.md).
# Seat fees are EXAMPLES set by a contract, not Anthropic's prices.
name = "Acme Health"
timezone = "America/New_York"
billing_anchor_day = 1

[seat_types.chat]
display_name = "Chat"
monthly_fee = "20.00"
includes = ["chat", "file_creation", "code_execution"]
add_ons.hipaa = { monthly_fee = "5.00", display_name = "HIPAA-compliant" }

[seat_types.chat_claude_code]
display_name = "Chat + Claude Code"
monthly_fee = "40.00"
includes = ["chat", "file_creation", "code_execution", "claude_code"]

[limits.organization]
pool_cap = "15000"
member_default = "400"

[limits.seat_types.chat]
pool_cap = "2500"
member_default = "150"

[limits.seat_types.chat_claude_code]
pool_cap = "11000"

[limits.members]
"u-003" = "900"
"u-012" = "60"
"u-021" = "650"

# What the invoices say besides the amounts (every party, address and tax id is an EXAMPLE).
[invoicing]
rounding = "half_even"             # or "half_up", "largest_remainder"
net_days = 30                      # payment terms: due 30 days after the issue date
purchase_order = "PO-2026-0042"
numbering = { prefix = "AH", first_period = "2026-01", first_sequence = 1 }

[invoicing.seller]
legal_name = "Northwind AI Services, Inc."
address = ["100 Example Street, Suite 400", "San Francisco, CA 94105", "United States"]
tax_id = "EIN 00-0000000"

[invoicing.bill_to]
legal_name = "Acme Health, Inc."
address = ["Attn: Accounts Payable", "1 Example Plaza", "Boston, MA 02110", "United States"]
tax_id = "EIN 00-0000001"
"""

CODE_MODELS = [("claude-opus-5-5", 5), ("claude-sonnet-5-5", 4), ("claude-sonnet-4-6", 2)]
CHAT_MODELS = [
    ("claude-sonnet-5-5", 4),
    ("claude-haiku-5-5", 3),
    ("claude-sonnet-4-6", 2),
    ("claude-opus-4-6", 1),
    ("claude-haiku-4-5", 1),
]


def members() -> list[dict[str, object]]:
    """Fifty members: roles, seats, HIPAA add-ons; one seat change, one joiner."""
    result = []
    for number in range(1, 51):
        user_id = f"u-{number:03d}"
        role = (
            "primary_owner"
            if number == 1
            else "owner"
            if number in (2, 3)
            else "admin"
            if number in (4, 5, 6)
            else "member"
        )
        seat = "chat_claude_code" if number <= 20 and user_id != SEAT_CHANGE[0] else "chat"
        hipaa = seat == "chat" and number % 3 == 0
        since = JOINER[1] if user_id == JOINER[0] else datetime(2026, 3, 2, 14, tzinfo=UTC)
        seats = [{"from": since, "seat_type": seat, "add_ons": ["hipaa"] if hipaa else []}]
        if user_id == SEAT_CHANGE[0]:
            seats.append({"from": SEAT_CHANGE[1], "seat_type": "chat_claude_code", "add_ons": []})
        result.append({"user_id": user_id, "role": role, "seats": seats})
    return result


def org_toml(people: list[dict[str, object]]) -> str:
    """The organization file."""
    lines = [ORG_HEAD]
    for member in people:
        lines.append("[[members]]")
        lines.append(f'user_id = "{member["user_id"]}"')
        lines.append(f'role = "{member["role"]}"')
        seats = []
        for seat in member["seats"]:  # type: ignore[attr-defined]
            add_ons = ", ".join(f'"{name}"' for name in seat["add_ons"])
            stamp = seat["from"].strftime("%Y-%m-%dT%H:%M:%SZ")
            seats.append(
                f'{{ from = {stamp}, seat_type = "{seat["seat_type"]}", add_ons = [{add_ons}] }}'
            )
        lines.append("seats = [\n  " + ",\n  ".join(seats) + ",\n]\n")
    return "\n".join(lines)


def seat_at(member: dict[str, object], at: datetime) -> str | None:
    """The member's seat type at ``at`` (None before they joined)."""
    current = None
    for seat in member["seats"]:  # type: ignore[attr-defined]
        if seat["from"] <= at:
            current = seat["seat_type"]
    return current


def usage(rng: random.Random, product: str, model: str) -> dict[str, int]:
    """Realistic token counts: Claude Code reads large cached contexts."""
    if product == "claude_code":
        counts = {
            "input_tokens": rng.randint(500, 12_000),
            "output_tokens": rng.randint(300, 6_000),
            "cache_read_tokens": rng.randint(20_000, 140_000),
        }
        if rng.random() < 0.3:
            counts["cache_write_5m_tokens"] = rng.randint(2_000, 30_000)
        if rng.random() < 0.05:
            counts["cache_write_1h_tokens"] = rng.randint(10_000, 60_000)
    else:
        counts = {"input_tokens": rng.randint(200, 6_000), "output_tokens": rng.randint(100, 2_500)}
        if rng.random() < 0.4:
            counts["cache_read_tokens"] = rng.randint(1_000, 30_000)
        if model == "claude-haiku-5-5" and rng.random() < 0.1:
            counts["input_tokens"] = rng.randint(90_000, 160_000)  # some cross the 100K tier
        if rng.random() < 0.05:
            counts["web_search_requests"] = rng.randint(1, 5)
    return counts


def events(people: list[dict[str, object]], per_day: float, rng: random.Random) -> list[str]:
    """A month of usage events as JSON lines, in time order."""
    result: list[tuple[datetime, str]] = []
    day = MONTH_START - timedelta(days=1)
    counter = 0
    while day < MONTH_END + timedelta(days=1):
        weekday = day.weekday() < 5
        for member in people:
            busy = 60 if seat_at(member, day) == "chat_claude_code" else 12
            for _ in range(rng.randint(0, int(busy * per_day)) if weekday else rng.randint(0, 2)):
                at = day + timedelta(seconds=rng.randint(0, 86_399))
                seat = seat_at(member, at)
                if seat is None:
                    continue
                code = seat == "chat_claude_code" and rng.random() < 0.75
                product = (
                    "claude_code"
                    if code
                    else rng.choice(["chat", "chat", "chat", "file_creation", "code_execution"])
                )
                models = CODE_MODELS if code else CHAT_MODELS
                model = rng.choices([m for m, _ in models], [w for _, w in models])[0]
                modifiers = {}
                if not code and rng.random() < 0.08:
                    modifiers["batch"] = True
                if model == "claude-opus-5-5" and rng.random() < 0.1:
                    modifiers["fast"] = True
                if member["user_id"] in ("u-009", "u-015") and model != "claude-haiku-4-5":
                    modifiers["us_only"] = True
                counter += 1
                record = {
                    "event_id": f"evt-{counter:07d}",
                    "user_id": member["user_id"],
                    "model": model,
                    "product": product,
                    "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "usage": usage(rng, product, model),
                }
                if modifiers:
                    record["modifiers"] = modifiers
                line = json.dumps(record, separators=(",", ":"))
                result.append((at, line))
                if rng.random() < 0.002:  # a client retried: the same event again
                    result.append((at + timedelta(seconds=rng.randint(1, 90)), line))
        day += timedelta(days=1)
    result.sort()
    return [line for _, line in result]


def main() -> None:
    """Write both files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events-per-day", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    rng = random.Random(SEED)
    people = members()
    (args.out / "org.toml").write_text(org_toml(people), "utf-8")
    lines = events(people, args.events_per_day, rng)
    (args.out / "usage-2026-10.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {args.out / 'org.toml'} and {len(lines):,} events")


if __name__ == "__main__":
    main()
