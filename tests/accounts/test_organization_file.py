"""The organization file (TOML): the example loads; every mistake is a LoadError with its path."""

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from usagebill import BillingPeriod, LoadError, Money, Organization, Role, build_invoice
from usagebill.accounts.limits import LimitSource

EXAMPLE = Path(__file__).parents[2] / "examples" / "org.toml"

SMALL = """\
name = "Small"
timezone = "Europe/Paris"
billing_anchor_day = 1
thresholds = ["0.5", "1"]

[seat_types.chat]
display_name = "Chat"
monthly_fee = "20.00"
includes = ["chat", "file_creation", "code_execution"]
add_ons.hipaa = { monthly_fee = "5.00", display_name = "HIPAA-compliant" }

[seat_types.chat_claude_code]
monthly_fee = "40.00"
includes = ["chat", "file_creation", "code_execution", "claude_code"]

[[members]]
user_id = "olga"
role = "primary_owner"
seats = [{ from = 2026-01-01T00:00:00Z, seat_type = "chat_claude_code" }]

[[members]]
user_id = "ada"
role = "member"
seats = [
  { from = 2026-01-01T00:00:00Z, seat_type = "chat", add_ons = ["hipaa"] },
  { from = 2026-10-16T00:00:00+02:00, seat_type = "chat_claude_code" },
]
left = 2026-10-21T00:00:00+02:00
"""


def load(text: str, tmp_path: Path) -> object:
    path = tmp_path / "org.toml"
    path.write_text(text, encoding="utf-8")
    return Organization.from_file(path)


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(LoadError) as error:
        Organization.from_dict(tomllib.loads(text))
    return list(error.value.problems)


# --- the example ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    return Organization.from_file(EXAMPLE)


def test_the_example_loads(example):
    """examples/org.toml: 50 members, one primary owner, HIPAA add-ons, New York time."""
    assert example.name == "Acme Health"
    assert example.timezone == "America/New_York"
    assert example.billing_anchor_day == 1
    assert len(example.members) == 50
    roles = [member.role for member in example.members.values()]
    assert roles.count(Role.PRIMARY_OWNER) == 1
    assert example.members["u-001"].role is Role.PRIMARY_OWNER
    hipaa = [m.user_id for m in example.members.values() if "hipaa" in m.add_ons]
    assert hipaa
    assert all(example.members[user].seat_type == "chat" for user in hipaa)
    assert example.catalog.get("chat").add_ons["hipaa"].monthly_fee == Money("5.00")
    assert example.catalog.get("chat_claude_code").monthly_fee == Money("40.00")


def test_the_example_has_caps_at_three_levels(example):
    """Organization pool and default, seat-type pools and default, individual caps."""
    limits = example.limits
    assert limits.organization.pool_cap == Money("15000")
    assert limits.organization.member_default == Money("400")
    assert limits.seat_types["chat"].pool_cap == Money("2500")
    assert limits.seat_types["chat"].member_default == Money("150")
    assert limits.seat_types["chat_claude_code"].pool_cap == Money("11000")
    assert limits.members["u-012"] == Money("60")
    assert example.effective_limit("u-012").source is LimitSource.INDIVIDUAL
    assert example.effective_limit("u-050").cap == Money("150")  # a Chat seat's default


def test_the_example_has_a_seat_change_and_a_joiner(example):
    """u-007 moves to Chat + Claude Code on Oct 14; u-050 joins on Oct 20."""
    u007 = [c for c in example.seat_history if c.user_id == "u-007"]
    assert [(c.seat_type, c.at) for c in u007] == [
        ("chat", datetime(2026, 3, 2, 14, tzinfo=UTC)),
        ("chat_claude_code", datetime(2026, 10, 14, 19, 30, tzinfo=UTC)),
    ]
    assert example.members["u-007"].seat_type == "chat_claude_code"
    u050 = [c for c in example.seat_history if c.user_id == "u-050"]
    assert [c.at for c in u050] == [datetime(2026, 10, 20, 13, tzinfo=UTC)]
    assert [c.at for c in example.seat_history] == sorted(c.at for c in example.seat_history)


# --- a small file -----------------------------------------------------------------------------


def test_a_small_file_loads(tmp_path):
    """Every documented key is read: zone, anchor, thresholds, display names, add-ons."""
    org = load(SMALL, tmp_path)
    assert org.timezone == "Europe/Paris"
    assert org.thresholds == (Decimal("0.5"), Decimal(1))
    assert org.catalog.get("chat").display_name == "Chat"
    assert org.catalog.get("chat").add_ons["hipaa"].display_name == "HIPAA-compliant"
    assert org.currency == "USD"
    assert org.limits.organization.pool_cap is None


def test_a_member_who_left_is_removed_but_billed_up_to_then(tmp_path):
    """ada leaves Oct 21 00:00 Paris time: no longer a member, billed Oct 1 to Oct 21."""
    org = load(SMALL, tmp_path)
    assert set(org.members) == {"olga"}
    ada = [change for change in org.seat_history if change.user_id == "ada"]
    assert ada[-1].seat_type is None
    period = BillingPeriod.of("2026-10", timezone="Europe/Paris")
    lines = [line for line in build_invoice(org, [], period).seat_lines if line.user_id == "ada"]
    assert [(line.seat_type, line.add_on, line.start.day, line.end.day) for line in lines] == [
        ("chat", None, 1, 16),
        ("chat", "hipaa", 1, 16),
        ("chat_claude_code", None, 16, 21),
    ]
    # October in Paris has 31 days + 1 hour = 2,682,000 s (clocks go back on Oct 25).
    # Chat, Oct 1 → Oct 16 (no DST change between): 15 days = 1,296,000 s;
    # $20 × 1,296,000 / 2,682,000 = $9.6644… → $9.66; HIPAA $5 × … = $2.4161… → $2.42.
    # Chat + Claude Code, Oct 16 → Oct 21: 5 days = 432,000 s → $40 × 432,000 / 2,682,000
    # = $6.4429… → $6.44.
    assert [line.seconds for line in lines] == [1_296_000, 1_296_000, 432_000]
    assert [line.amount for line in lines] == [Money("9.66"), Money("2.42"), Money("6.44")]


def test_a_member_cannot_leave_before_their_last_seat(tmp_path):
    """'left' before a seat's 'from' would leave a seat without a member: refused."""
    text = SMALL.replace("left = 2026-10-21T00:00:00+02:00", "left = 2026-10-01T00:00:00Z")
    assert problems(text) == [("$.members[1].left", "must come after every seat's 'from'")]


def test_limits_and_other_currency(tmp_path):
    """Limits are read at every level, in the file's currency."""
    text = SMALL.replace('name = "Small"', 'name = "Small"\ncurrency = "EUR"') + (
        '\n[limits.organization]\npool_cap = "100"\n'
        '[limits.seat_types.chat]\nmember_default = "10"\n'
        '[limits.members]\nolga = "0"\n'
    )
    org = load(text, tmp_path)
    assert org.currency == "EUR"
    assert org.limits.organization.pool_cap == Money("100", "EUR")
    assert org.limits.seat_types["chat"].member_default == Money("10", "EUR")
    assert org.limits.members["olga"] == Money("0", "EUR")  # zero is zero, not "no cap"


# --- strictness -------------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_refused():
    """A misspelt key is an error, not silently ignored."""
    text = SMALL.replace('name = "Small"', 'name = "Small"\ntime_zone = "UTC"')
    ((path, message),) = problems(text)
    assert path == "$"
    assert "time_zone" in message


def test_an_unknown_member_key_is_refused():
    """An unknown key in a member names the member."""
    text = SMALL.replace('role = "member"', 'role = "member"\nemail = "a@b.c"')
    ((path, message),) = problems(text)
    assert path == "$.members[1]"
    assert "email" in message


def test_an_unknown_seat_key_names_the_seat():
    """An unknown key in a seat of the history names that seat."""
    text = SMALL.replace(
        'seat_type = "chat_claude_code" },', 'seat_type = "chat_claude_code", x = 1 },'
    )
    ((path, message),) = problems(text)
    assert path == "$.members[1].seats[1]"
    assert "'x'" in message


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('monthly_fee = "20.00"', "monthly_fee = 20.0", "$.seat_types['chat'].monthly_fee"),
        ('monthly_fee = "20.00"', "monthly_fee = 20.5", "$.seat_types['chat'].monthly_fee"),
        ('monthly_fee = "20.00"', "monthly_fee = true", "$.seat_types['chat'].monthly_fee"),
        ('monthly_fee = "20.00"', 'monthly_fee = "twenty"', "$.seat_types['chat'].monthly_fee"),
        ('name = "Small"', "name = 5", "$.name"),
        ("billing_anchor_day = 1", 'billing_anchor_day = "1"', "$.billing_anchor_day"),
        ('thresholds = ["0.5", "1"]', "thresholds = [0.5, 1]", "$.thresholds[0]"),
        ('includes = ["chat", "file_creation", "code_execution"]', 'includes = "chat"',
         "$.seat_types['chat'].includes"),
        ('role = "member"', 'role = "boss"', "$.members[1].role"),
        ("seats = [\n", "seats = 5\nx = [\n", "$.members[1]"),
    ],
)  # fmt: skip
def test_wrong_types_name_the_path(old, new, path):
    """A float amount, a number as a string, a string as a list: each names its path."""
    found = problems(SMALL.replace(old, new, 1))
    assert path in [p for p, _ in found], found


def test_a_float_amount_is_refused_with_a_reason():
    """Money is never a float: the message says to write it as a string."""
    ((_, message),) = problems(SMALL.replace('monthly_fee = "5.00"', "monthly_fee = 5.0"))
    assert "string" in message


def test_a_seat_without_from_or_with_a_local_time_is_refused():
    """Each seat needs 'from', and a 'from' needs a UTC offset."""
    no_from = SMALL.replace(
        '{ from = 2026-01-01T00:00:00Z, seat_type = "chat_claude_code" }',
        '{ seat_type = "chat_claude_code" }',
    )
    assert problems(no_from) == [("$.members[0].seats[0]", "each seat needs 'from'")]
    local = SMALL.replace("from = 2026-10-16T00:00:00+02:00", "from = 2026-10-16T00:00:00")
    ((path, message),) = problems(local)
    assert path == "$.members[1].seats[1].from"
    assert "UTC offset" in message


def test_a_member_needs_a_seat():
    """An empty seat history is refused."""
    text = SMALL.replace(
        'seats = [{ from = 2026-01-01T00:00:00Z, seat_type = "chat_claude_code" }]', "seats = []"
    )
    assert problems(text) == [("$.members[0].seats", "must list a seat")]


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('seat_type = "chat_claude_code" }]', 'seat_type = "chat_pro" }]', "unknown seat type"),
        ('add_ons = ["hipaa"]', 'add_ons = ["sox"]', "not offered"),
        ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"', "IANA"),
        ('role = "primary_owner"', 'role = "owner"', "exactly one primary owner"),
        ("billing_anchor_day = 1", "billing_anchor_day = 32", "1 to 31"),
    ],
)
def test_rule_breaks_are_load_errors(old, new, words):
    """Unknown seat types, add-ons, zones, no primary owner: LoadError, never a bare error."""
    found = problems(SMALL.replace(old, new, 1))
    assert any(words in message for _, message in found), found


@pytest.mark.parametrize(
    "extra",
    [
        '[limits.members]\nzed = "5"\n',
        '[limits.seat_types.chat_pro]\npool_cap = "5"\n',
    ],
)
def test_limits_must_name_known_members_and_seat_types(extra):
    """A cap for a non-member or an unknown seat type is a LoadError (not a bare LookupError)."""
    found = problems(SMALL + "\n" + extra)
    assert found[0][0] == "$"
    assert "unknown" in found[0][1]


def test_bad_toml_is_a_load_error(tmp_path):
    """A file that is not TOML is a LoadError naming the file."""
    path = tmp_path / "broken.toml"
    path.write_text('name = "unclosed\n', encoding="utf-8")
    with pytest.raises(LoadError, match=r"broken\.toml") as error:
        Organization.from_file(path)
    assert error.value.source == str(path)


def test_the_source_names_the_file(tmp_path):
    """Problems of a file are reported under the file's path."""
    path = tmp_path / "org.toml"
    path.write_text(SMALL.replace('name = "Small"', "name = 1"), encoding="utf-8")
    with pytest.raises(LoadError) as error:
        Organization.from_file(path)
    assert error.value.source == str(path)
    assert "$.name" in str(error.value)


def test_a_missing_file_is_an_os_error(tmp_path):
    """A missing file raises FileNotFoundError (the CLI turns it into a message)."""
    with pytest.raises(FileNotFoundError):
        Organization.from_file(tmp_path / "nope.toml")
