"""The limit report: a sequence of member rows that renders like every other result."""

import csv
import io
from decimal import Decimal

from builders import member, organization
from usagebill import (
    CHAT,
    Money,
    PoolLimit,
    Spend,
    SpendLimits,
)
from usagebill.accounts.limit_report import LimitReport, LimitReportRow

ORG = organization(
    member("ada"),
    member("=bob"),  # a user id a spreadsheet would take for a formula
    limits=SpendLimits(
        seat_types={CHAT: PoolLimit(member_default=Money("50"))}, members={"ada": Money("500")}
    ),
)
SPEND = Spend().record("ada", CHAT, Money("120.255")).hold("ada", CHAT, Money("30"))


def test_a_sequence_of_rows_by_user_id():
    limits = ORG.limit_report(SPEND)
    assert isinstance(limits, LimitReport)
    assert len(limits) == 3
    assert [row.user_id for row in limits] == ["=bob", "ada", "olga"]
    assert isinstance(limits[1], LimitReportRow)
    assert limits[1].remaining == Money("349.745")  # 500 - 120.255 - 30
    assert [row.user_id for row in limits[1:]] == ["ada", "olga"]
    assert limits.currency == "USD"


def test_people_see_rounded_amounts_programs_get_them_exact():
    limits = ORG.limit_report(SPEND)
    (members,) = limits.to_report().sections
    text = limits.to_text()
    ada = next(line for line in text.splitlines() if line.startswith("ada"))
    assert ada.split() == ["ada", "chat", "500.00", "individual", "120.26", "30.00", "349.74"]
    olga = next(line for line in text.splitlines() if line.startswith("olga"))
    assert olga.split()[-1] == "unlimited"
    assert members.rows[2][2] is None  # olga: no cap at all
    records = limits.to_records()
    assert records[1] == {
        "user_id": "ada",
        "seat_type": "chat",
        "cap": Decimal(500),
        "source": "individual",
        "spent": Decimal("120.255"),
        "held": Decimal(30),
        "remaining": Decimal("349.745"),
        "currency": "USD",
    }
    rows = list(csv.DictReader(io.StringIO(limits.to_csv())))
    assert rows[0]["user_id"] == "'=bob"  # a formula start stays text
    assert rows[2]["cap"] == rows[2]["remaining"] == ""
    assert "| \\=bob |" not in limits.to_markdown()  # "=" needs no escape inside a cell
    assert "| =bob | chat | 50.00 | seat_type_default |" in limits.to_markdown()
    assert "usagebill-limits" in limits._repr_html_()
