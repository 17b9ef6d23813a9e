"""Forecasts: run-rate projections, the band from the daily spread, each cap's date, the CLI.

The worked example: October 2026 in UTC (31 days), as of Oct 11 00:00 (10 days elapsed,
21 to go, 10 complete days). Caps: ada $10 (individual), the Chat pool $3, the
organization's pool $20.

* ada (Chat + Claude Code): 1M input tokens of Sonnet 4.6 ($3.00) at noon on Oct 1, 3, 5
  and 7: 12.00 spent; the 4th request takes her to 12 >= 10: her cap was reached on
  Oct 7 at 12:00.
* bob (Chat): 100k input tokens of Haiku 4.5 ($0.10) at noon every day, Oct 1 to 10: 1.00.
* The organization: 13.00 in 10 days, 1.30 a day; projected 13 x 31/10 = 40.30.
  Its days: 3.10 on Oct 1, 3, 5, 7 and 0.10 on the six others; mean 1.30, squared
  deviations 4 x 1.8² + 6 x 1.2² = 21.60, sample variance 21.60/9 = 2.4, sd 1.5492;
  half-band 1.28 x 1.5492 x √21 = 9.0871: 31.21 to 49.39.
* The organization's cap: 7.00 left at 1.30 a day = 465,230.77 s → Oct 16 09:13:51.
* The Chat pool: 2.00 left at 0.10 a day = 20 days → Oct 31 00:00, inside the period.
"""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from builders import HAIKU, SONNET, event, member, october, organization
from usagebill import (
    BillingPeriod,
    ConflictError,
    InvalidValueError,
    Money,
    Organization,
    PoolLimit,
    SpendLimits,
    TokenUsage,
    UnknownModelError,
)
from usagebill.accounts.limits import LimitSource
from usagebill.analysis.forecast import CapStatus, Forecast, forecast
from usagebill.caps.decision import Level
from usagebill.cli import main

OCTOBER = BillingPeriod.of("2026-10")
AS_OF = datetime(2026, 10, 11, tzinfo=UTC)
LIMITS = SpendLimits(
    organization=PoolLimit(pool_cap=Money("20")),
    seat_types={"chat": PoolLimit(pool_cap=Money("3"))},
    members={"ada": Money("10")},
)
EXAMPLES = Path(__file__).parents[2] / "examples"


def _org(limits: SpendLimits = LIMITS, timezone_name: str = "UTC") -> Organization:
    """olga and ada on Chat + Claude Code, bob on Chat: seat fees 40 + 40 + 20 a month."""
    return organization(
        member("ada", "chat_claude_code"), member("bob"), limits=limits, timezone=timezone_name
    )


EVENTS = [
    *(
        event(f"a{day}", "ada", SONNET, at=october(day), input_tokens=1_000_000)
        for day in (1, 3, 5, 7)
    ),
    *(
        event(f"b{day}", "bob", HAIKU, at=october(day), input_tokens=100_000)
        for day in range(1, 11)
    ),
]


@pytest.fixture(scope="module")
def ahead() -> Forecast:
    return forecast(_org(), EVENTS, OCTOBER, AS_OF)


def test_the_split_of_the_period(ahead):
    """10 days elapsed, 21 to go, 10 complete local days, 14 requests."""
    assert (ahead.elapsed_seconds, ahead.remaining_seconds) == (10 * 86_400, 21 * 86_400)
    assert (ahead.complete_days, ahead.events, ahead.finished) == (10, 14, False)


def test_the_run_rate_projection(ahead):
    """The organization: 13.00 spent, 1.30 a day, 40.30 at the month's end."""
    total = ahead.total
    assert (total.key, total.spent, total.projected, total.daily_mean) == (
        "acme",
        Money("13"),
        Money("40.30"),
        Money("1.30"),
    )


def test_the_band_from_the_daily_spread(ahead):
    """sd 1.55 over ten days; 40.30 ± 9.09: 31.21 to 49.39."""
    total = ahead.total
    assert total.daily_sd == Money("1.55")
    assert (total.low, total.high) == (Money("31.21"), Money("49.39"))


def test_steady_spend_has_a_zero_width_band(ahead):
    """Bob spends 0.10 every day: sd 0, projected 3.10 with no band around it."""
    bob = {p.key: p for p in ahead.members}["bob"]
    assert (bob.spent, bob.projected, bob.low, bob.high, bob.daily_sd) == (
        Money("1"),
        Money("3.10"),
        Money("3.10"),
        Money("3.10"),
        Money("0"),
    )


def test_projections_per_user_and_seat_type(ahead):
    """Every member (olga with nothing) and every seat type of the catalog."""
    users = {p.key: p.projected for p in ahead.members}
    assert users == {"ada": Money("37.20"), "bob": Money("3.10"), "olga": Money("0")}
    seats = {p.key: p.projected for p in ahead.seat_types}
    assert seats == {"chat": Money("3.10"), "chat_claude_code": Money("37.20")}


def test_a_cap_already_reached_gives_the_instant(ahead):
    """Ada's 10.00 was reached by her 4th request, Oct 7 at noon."""
    cap = ahead.caps[0]
    assert (cap.level, cap.subject, cap.source) == (Level.MEMBER, "ada", LimitSource.INDIVIDUAL)
    assert (cap.status, cap.at, cap.spent) == (CapStatus.REACHED, october(7), Money("12"))
    assert cap.describe() == "reached 2026-10-07 12:00"


def test_caps_projected_at_their_run_rate(ahead):
    """The Chat pool on Oct 31 00:00; the organization on Oct 16 09:13:51."""
    chat, organization = ahead.caps[1], ahead.caps[2]
    assert (chat.level, chat.status, chat.at) == (
        Level.SEAT_TYPE,
        CapStatus.PROJECTED,
        datetime(2026, 10, 31, tzinfo=UTC),
    )
    assert (organization.level, organization.status, organization.at) == (
        Level.ORGANIZATION,
        CapStatus.PROJECTED,
        datetime(2026, 10, 16, 9, 13, 51, tzinfo=UTC),
    )
    assert organization.day.isoformat() == "2026-10-16"
    assert organization.describe() == "projected 2026-10-16"


def test_a_cap_beyond_the_period_is_not_reached():
    """At 1.30 a day, 100.00 takes 67 more days: not this period."""
    limits = SpendLimits(organization=PoolLimit(pool_cap=Money("100")))
    (cap,) = forecast(_org(limits), EVENTS, OCTOBER, AS_OF).caps
    assert (cap.status, cap.at, cap.day) == (CapStatus.NOT_REACHED, None, None)
    assert cap.describe() == "not reached this period"


def test_a_zero_cap_is_reached_at_the_start():
    """Zero means zero: reached when the period begins."""
    limits = SpendLimits(members={"olga": Money("0")})
    (cap,) = forecast(_org(limits), [], OCTOBER, AS_OF).caps
    assert (cap.status, cap.at) == (CapStatus.REACHED, OCTOBER.start)


def test_a_scope_with_no_spend_never_reaches_its_cap():
    """Olga spends nothing: her 5.00 is not reached, whatever the time left."""
    limits = SpendLimits(members={"olga": Money("5")})
    (cap,) = forecast(_org(limits), EVENTS, OCTOBER, AS_OF).caps
    assert cap.status is CapStatus.NOT_REACHED


def test_member_limits_follow_the_seat_held_at_as_of():
    """Bob, on Chat + Claude Code from Oct 5, gets that seat's default, not Chat's."""
    limits = SpendLimits(
        seat_types={
            "chat": PoolLimit(member_default=Money("1")),
            "chat_claude_code": PoolLimit(member_default=Money("50")),
        }
    )
    org, _ = _org(limits).assign_seat(
        "olga", datetime(2026, 10, 5, tzinfo=UTC), "bob", "chat_claude_code"
    )
    org, _ = org.add_member("olga", datetime(2026, 10, 20, tzinfo=UTC), member("cy"))
    caps = {cap.subject: cap for cap in forecast(org, EVENTS, OCTOBER, AS_OF).caps}
    assert caps["bob"].cap == Money("50")
    assert caps["cy"].cap == Money("1")  # not seated yet at as_of: the seat to come


def test_a_finished_period_gives_its_actual_figures():
    """As of Nov 5: projected is spent, the band has no width, no cap is projected."""
    late = event("late", "bob", HAIKU, at=datetime(2026, 10, 30, tzinfo=UTC), input_tokens=100_000)
    result = forecast(_org(), [*EVENTS, late], OCTOBER, datetime(2026, 11, 5, tzinfo=UTC))
    assert result.finished
    assert (result.elapsed_seconds, result.remaining_seconds) == (31 * 86_400, 0)
    total = result.total
    assert total.spent == total.projected == total.low == total.high == Money("13.10")
    chat = next(cap for cap in result.caps if cap.level is Level.SEAT_TYPE)
    assert (chat.status, chat.at) == (CapStatus.NOT_REACHED, None)
    assert len(result.days) == 31
    assert all(day.complete for day in result.days)
    assert "actual figures of a finished period" in result.to_text()


def test_events_at_or_after_as_of_are_left_out(ahead):
    """A later event (and one of another month) does not change the forecast."""
    later = event("later", "ada", SONNET, at=AS_OF, input_tokens=9_000_000)
    before = event("sept", "ada", SONNET, at=AS_OF - timedelta(days=30), input_tokens=9_000_000)
    assert forecast(_org(), [*EVENTS, later, before], OCTOBER, AS_OF) == ahead


def test_duplicates_count_once_and_conflicts_are_refused(ahead):
    """The same event twice counts once; the same id with other content is refused."""
    assert forecast(_org(), [*EVENTS, EVENTS[0]], OCTOBER, AS_OF) == ahead
    other = attrs.evolve(EVENTS[0], usage=TokenUsage(input_tokens=1))
    with pytest.raises(ConflictError):
        forecast(_org(), [*EVENTS, other], OCTOBER, AS_OF)


def test_before_two_complete_days_there_is_no_band():
    """As of Oct 2 06:00: one complete day, no spread to measure."""
    result = forecast(_org(), EVENTS, OCTOBER, datetime(2026, 10, 2, 6, tzinfo=UTC))
    assert result.complete_days == 1
    assert (result.total.low, result.total.high, result.total.daily_sd) == (None, None, None)
    # 3.10 in 30 hours, 714 hours in all: 3.10 x 744/30 = 76.88
    assert result.total.projected == Money("76.88")
    assert [day.complete for day in result.days] == [True, False]
    assert "n/a" in result.to_text()


def test_as_of_must_be_aware_and_after_the_start():
    """A naive instant, or one at the period's start, is refused."""
    with pytest.raises(InvalidValueError, match="as_of"):
        forecast(_org(), [], OCTOBER, datetime(2026, 10, 11))
    with pytest.raises(InvalidValueError, match="after the period's start"):
        forecast(_org(), [], OCTOBER, OCTOBER.start)


def test_an_event_that_cannot_be_priced_is_named():
    """An unknown model raises with the event's id in a note."""
    bad = event("x", "ada", "gpt-x", at=october(2), input_tokens=1)
    with pytest.raises(UnknownModelError) as error:
        forecast(_org(), [bad], OCTOBER, AS_OF)
    assert "in usage event 'x'" in error.value.__notes__


def test_local_days_in_the_organizations_time_zone():
    """New York, November 2026: the first local day has 25 hours (the clocks go back)."""
    org = _org(SpendLimits(), "America/New_York")
    november = BillingPeriod.of("2026-11", timezone="America/New_York")
    as_of = datetime(2026, 11, 3, tzinfo=timezone(timedelta(hours=-5)))
    spend = event("n1", "bob", HAIKU, at=datetime(2026, 11, 1, 4, 30, tzinfo=UTC), input_tokens=10)
    result = forecast(org, [spend], november, as_of)
    assert result.elapsed_seconds == 2 * 86_400 + 3_600
    assert result.complete_days == 2
    assert [day.day.isoformat() for day in result.days] == ["2026-11-01", "2026-11-02"]
    assert result.days[0].amount == Money("0")  # 10 tokens: 0.00001, rounded
    assert result.as_of.utcoffset() == timedelta(hours=-5)


def test_records_text_and_html(ahead):
    """Projections then caps as records; the text and HTML carry the same figures."""
    records = ahead.to_records()
    kinds = [record["kind"] for record in records]
    assert kinds == ["organization", "seat_type", "seat_type", "user", "user", "user"] + ["cap"] * 3
    assert records[0]["projected"] == Decimal("40.30")
    assert records[-1]["status"] == "projected"
    assert records[-3]["source"] == "individual"
    assert records[-1]["source"] is None
    text = ahead.to_text()
    assert "FORECAST: acme" in text
    assert "40.30" in text
    assert "reached 2026-10-07 12:00" in text
    page = ahead._repr_html_()
    assert "usagebill-forecast" in page
    assert "3 caps" in page


def test_text_without_caps():
    """An organization without caps says so."""
    assert "no caps are set" in forecast(_org(SpendLimits()), EVENTS, OCTOBER, AS_OF).to_text()


# --- the example month and the command line -------------------------------------------------


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    base = [
        "forecast",
        "--org",
        str(EXAMPLES / "org.toml"),
        "--events",
        str(EXAMPLES / "usage-2026-10.jsonl"),
        "--period",
        "2026-10",
    ]
    return main([*base, *argv], out, err), out.getvalue(), err.getvalue()


def test_the_forecast_command():
    """`usagebill forecast --as-of 2026-10-15` forecasts from local midnight."""
    status, out, _ = _run("--as-of", "2026-10-15")
    assert status == 0
    assert "As of:        2026-10-15 00:00 EDT" in out
    assert "14 complete local days" in out


def test_the_forecast_command_takes_a_datetime_and_refuses_nonsense():
    """An instant with an offset is used as is; a bad one stops with status 2."""
    status, out, _ = _run("--as-of", "2026-10-15T12:00:00+00:00")
    assert status == 0
    assert "2026-10-15 08:00 EDT" in out
    status, _, err = _run("--as-of", "mid-October")
    assert status == 2
    # One message for every ISO 8601 instant (the CLI once said "--as-of '…' is not …").
    assert "--as-of must be an ISO 8601 date or datetime" in err
    assert "(got 'mid-October')" in err


# --- the forecast as a report ---------------------------------------------------------------


def test_report_sections_bottom_line_and_data(ahead):
    """Projections grouped by scope, caps by level, the projected total as the bottom line."""
    report = ahead.to_report()
    projections, caps = report.sections
    assert projections.title == "Usage spend (USD)"
    assert [row[:2] for row in projections.rows] == [
        ("Organization", "acme"),
        ("By seat type", "chat"),
        ("By seat type", "chat_claude_code"),
        ("By user", "ada"),
        ("By user", "bob"),
        ("By user", "olga"),
    ]
    assert [row[:2] + row[-1:] for row in caps.rows] == [
        ("member", "ada", "reached 2026-10-07 12:00"),
        ("seat_type", "chat", "projected 2026-10-31"),
        ("organization", "acme", "projected 2026-10-16"),
    ]
    assert report.header[-1].value == "3 caps: 1 reached, 2 projected to be reached this period"
    assert report.bottom_line is not None
    assert report.bottom_line.value == "40.30 (~80 % band 31.21 to 49.39)"
    assert report.data is not None
    assert len(report.data.rows) == 6 + 3
    assert ahead.to_markdown().count("\n| ") == (2 + 6) + (2 + 3)  # heads, rules and rows
    rows = list(csv.DictReader(io.StringIO(ahead.to_csv())))
    assert [row["kind"] for row in rows] == [record["kind"] for record in ahead.to_records()]
    assert rows[-1]["cap"] == "20"  # a cap as it is set, exactly


def test_a_band_not_yet_measurable_shows_as_n_a():
    result = forecast(_org(), EVENTS, OCTOBER, datetime(2026, 10, 2, 6, tzinfo=UTC))
    row = result.to_report().sections[0].rows[0]
    assert (row[4], row[5]) == (None, None)
    assert "n/a" in result.to_markdown()
    assert "~80 % band" not in result.to_report().bottom_line.value  # type: ignore[union-attr]
