"""Month-end forecasts: where spend is heading, and when each cap would be reached.

Halfway through a month an owner wants to know two things: what the usage
bill will come to, and which caps will stop people before the month ends. A
:class:`Forecast` answers both from the period's events up to ``as_of``.

The method, and its limits, stated plainly:

* **Spend so far** is the exact price of every request in ``[start, as_of)``
  (each event id once), attributed like the invoice: to the member, and to the
  seat type they held when they made it. It is usage only — seat fees are
  known in advance and capped by nothing. It is rounded once, where an invoice
  sums its rounded lines, so the two may differ by a few cents.
* **Run rate.** The projection assumes the rest of the period spends at the
  mean rate observed so far: ``projected = spent * period / elapsed``, in real
  seconds (a day with a daylight-saving change has 23 or 25 hours). This is
  the mean daily spend over the elapsed local days, scaled to the remaining
  time. It knows nothing of weekdays, holidays, growth, or members who join
  later; a month with a quiet start is underestimated, one with a busy start
  overestimated.
* **Uncertainty band.** The spread comes from the day-to-day variation of the
  complete local days observed so far (days in the organization's time zone):
  ``sd`` is their sample standard deviation, and the band is
  ``projected +/- 1.28 * sd * sqrt(remaining days)`` — about 80 % if days were
  independent draws from a normal distribution, which they are not quite
  (weekly cycles, bursts). The uncertainty of the mean itself is left out, so
  the band is, if anything, too narrow early in a month. The low end is
  clipped at the spend so far (spend never goes down). With fewer than two
  complete days there is no spread to measure: ``low`` and ``high`` are
  ``None``.
* **Caps.** For each member's effective limit (from the seat they hold at
  ``as_of``), each seat type's pool cap and the organization's pool cap: if
  spend has reached it (``spent >= cap``), the instant it did; else, at the
  scope's own run rate, the instant it would, if that falls inside the period.
  A real gateway denies requests at the cap, so "reached" means "from then on,
  that scope's members are refused".
* **A finished period** (``as_of`` at or after its end) gives its actual
  figures: projected equals spent, the band has zero width, and only caps that
  were actually reached have a date.

Statistics need square roots, which no decimal holds exactly: they are
computed with 34 significant digits and every shown figure is rounded once,
by :meth:`~usagebill.money.Money.rounded`. No float is involved.

The examples below forecast November on the 11th, for a member who spent
1.50 and 0.90 on alternate days (100,000 and 60,000 output tokens of Claude
Sonnet 4.6) under a 25.00 limit: 12.00 in ten days, 36.00 at that rate by the
month's end.

>>> from datetime import datetime, UTC
>>> from usagebill import Member, Product, SeatCatalog, SpendLimits, TokenUsage
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat_claude_code"), Member("ada", "member", "chat")],
...     at=datetime(2026, 9, 1, tzinfo=UTC), limits=SpendLimits(members={"ada": Money("25")}))
>>> events = [UsageEvent(f"evt-{day}", "ada", "claude-sonnet-4-6", Product.CHAT,
...                      TokenUsage(output_tokens=100_000 if day % 2 else 60_000),
...                      datetime(2026, 11, day, 15, tzinfo=UTC)) for day in range(1, 11)]
>>> november = BillingPeriod.of("2026-11")
>>> ahead = forecast(org, events, november, as_of=datetime(2026, 11, 11, tzinfo=UTC))
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Final

import attrs
from dateutil import tz

from usagebill import reports
from usagebill._checks import check_aware
from usagebill.accounts.limits import Level, LimitSource
from usagebill.accounts.organization import Organization
from usagebill.accounts.seats import SeatTimeline
from usagebill.errors import InvalidValueError, UsageBillError
from usagebill.events import UsageEvent, deduplicated_between
from usagebill.money import EXACT, Money, unchecked_money
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import PriceTable
from usagebill.reports import Column, Field, Kind, Report, Table, counted, shown_amount

__all__ = ["CapForecast", "CapStatus", "DailySpend", "Forecast", "Projection", "forecast"]

Z_80: Final = Decimal("1.28")
"""The normal quantile of a two-sided ~80 % band (P(|Z| < 1.28) ≈ 0.80)."""
_STATS: Final = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
_DAY: Final = 86_400
_ZERO: Final = Decimal(0)


class CapStatus(enum.StrEnum):
    """Where a cap stands at ``as_of``.

    Looked at once November is over, the cap was never reached:

    >>> ahead.caps[0].status
    <CapStatus.PROJECTED: 'projected'>
    >>> forecast(org, events, november, as_of=datetime(2026, 12, 1, tzinfo=UTC)).caps[0].status
    <CapStatus.NOT_REACHED: 'not_reached'>
    """

    REACHED = "reached"
    PROJECTED = "projected"
    NOT_REACHED = "not_reached"


@attrs.frozen
class Projection:
    """Spend of one user, seat type or the organization: so far, and at the period's end.

    ``low`` and ``high`` bound the ~80 % band (``None`` before two complete days);
    ``daily_mean`` is the run rate per 24 hours, ``daily_sd`` the spread of the
    complete days.

    >>> ada = ahead.members[0]
    >>> print(ada.key, ada.spent, ada.projected, ada.low, ada.high)
    ada 12.00 USD 36.00 USD 34.19 USD 37.81 USD
    """

    key: str
    spent: Money
    projected: Money
    low: Money | None
    high: Money | None
    daily_mean: Money
    daily_sd: Money | None


@attrs.frozen
class CapForecast:
    """One cap: the spend against it, and when it was or would be reached (local time).

    >>> [cap] = ahead.caps  # 13.00 left at 1.20 a day: 10.8 days after the 11th
    >>> print(cap.subject, cap.cap, cap.describe())
    ada 25.00 USD projected 2026-11-21
    """

    level: Level
    subject: str
    cap: Money
    source: LimitSource | None
    spent: Money
    projected: Money
    status: CapStatus
    at: datetime | None

    @property
    def day(self) -> date | None:
        """The local date the cap was or would be reached."""
        return None if self.at is None else self.at.date()

    def describe(self) -> str:
        """One phrase for people."""
        if self.status is CapStatus.REACHED:
            return f"reached {self.at:%Y-%m-%d %H:%M}"
        if self.status is CapStatus.PROJECTED:
            return f"projected {self.at:%Y-%m-%d}"
        return "not reached this period"


@attrs.frozen
class DailySpend:
    """The organization's spend on one local day; ``complete`` unless ``as_of`` cuts it.

    >>> [(str(day.day), str(day.amount), day.complete) for day in ahead.days[:2]]
    [('2026-11-01', '1.50 USD', True), ('2026-11-02', '0.90 USD', True)]
    """

    day: date
    amount: Money
    complete: bool


@attrs.frozen
class Forecast:
    """Projected month-end spend per user, seat type and organization, and each cap's date.

    The method is in the module's documentation. ``elapsed_seconds`` and
    ``remaining_seconds`` split the period at ``as_of``; ``complete_days``
    counts the whole local days the band is measured on.

    The two answers, the month's usage bill and the caps that will stop someone:

    >>> str(ahead.total.projected), [cap.describe() for cap in ahead.caps]
    ('36.00 USD', ['projected 2026-11-21'])
    """

    organization: str
    period: BillingPeriod
    as_of: datetime
    currency: str
    price_table: str
    elapsed_seconds: int
    remaining_seconds: int
    complete_days: int
    finished: bool
    events: int
    members: tuple[Projection, ...]
    seat_types: tuple[Projection, ...]
    total: Projection
    caps: tuple[CapForecast, ...]
    days: tuple[DailySpend, ...]

    def to_report(self) -> Report:
        """The forecast as a report: the method, projections, caps; its data one row each."""
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per projection and per cap, ready for ``pandas.DataFrame``.

        ``kind`` is ``organization``, ``seat_type``, ``user`` or ``cap``;
        amounts are Decimals rounded to the minor unit (a cap as it is set);
        cap rows fill ``level``, ``source``, ``cap``, ``status`` and ``at``.
        """
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """A plain-text forecast: the method in the header, projections, then caps."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The forecast as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per projection and per cap."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


# --- computing ------------------------------------------------------------------------------


class _Scope:
    """One scope's spend: its total and its spend per local day."""

    def __init__(self) -> None:
        self.total = _ZERO
        self.daily: dict[int, Decimal] = {}

    def add(self, day: int, amount: Decimal) -> None:
        self.total = EXACT.add(self.total, amount)
        self.daily[day] = EXACT.add(self.daily.get(day, _ZERO), amount)


def _day_starts(period: BillingPeriod) -> list[datetime]:
    """Local midnight of every day of the period, and the period's end, in UTC."""
    where = zone(period.timezone)
    first = period.start.astimezone(where).date()
    last = period.end.astimezone(where).date()
    starts = [
        tz.resolve_imaginary(datetime(day.year, day.month, day.day, tzinfo=where)).astimezone(UTC)
        for day in (first + timedelta(days=n) for n in range((last - first).days))
    ]
    starts[0] = period.start.astimezone(UTC)
    return [*starts, period.end.astimezone(UTC)]


@attrs.frozen
class _Shape:
    """Where ``as_of`` splits the period: what every scope's statistics share."""

    complete: int
    elapsed: int
    remaining: int
    finished: bool


def _stats(
    scope: _Scope, shape: _Shape
) -> tuple[Decimal, Decimal | None, Decimal | None, Decimal | None, Decimal]:
    """Projected, low, high, daily sd and the daily mean of one scope (see the module docs)."""
    spent, complete, elapsed, remaining = (
        scope.total,
        shape.complete,
        shape.elapsed,
        shape.remaining,
    )
    mean = _STATS.divide(_STATS.multiply(spent, _DAY), elapsed)
    sd: Decimal | None = None
    if complete >= 2:
        days = [scope.daily.get(day, _ZERO) for day in range(complete)]
        average = _STATS.divide(sum(days, _ZERO), complete)
        squares = sum((_STATS.power(_STATS.subtract(x, average), 2) for x in days), _ZERO)
        sd = _STATS.sqrt(_STATS.divide(squares, complete - 1))
    if shape.finished:
        return spent, spent, spent, sd, mean
    projected = EXACT.add(spent, _STATS.divide(_STATS.multiply(spent, remaining), elapsed))
    if sd is None:
        return projected, None, None, None, mean
    half = _STATS.multiply(
        _STATS.multiply(Z_80, sd), _STATS.sqrt(_STATS.divide(Decimal(remaining), _DAY))
    )
    low = max(_STATS.subtract(projected, half), spent)
    return projected, low, _STATS.add(projected, half), sd, mean


def _projection(key: str, scope: _Scope, currency: str, shape: _Shape) -> Projection:
    projected, low, high, sd, mean = _stats(scope, shape)

    def money(amount: Decimal | None) -> Money | None:
        return None if amount is None else unchecked_money(amount, currency).rounded()

    return Projection(
        key=key,
        spent=unchecked_money(scope.total, currency).rounded(),
        projected=unchecked_money(projected, currency).rounded(),
        low=money(low),
        high=money(high),
        daily_mean=unchecked_money(mean, currency).rounded(),
        daily_sd=money(sd),
    )


@attrs.frozen
class _Cap:
    level: Level
    subject: str
    cap: Money
    source: LimitSource | None


def _caps(org: Organization, as_of: datetime) -> list[_Cap]:
    """Every cap in force at ``as_of``: members' effective limits, pool caps."""
    timeline = SeatTimeline(org.seat_history)
    caps = []
    for user_id, member in sorted(org.members.items()):
        try:
            seat_type = timeline.seat_at(user_id, as_of)
        except UsageBillError:
            seat_type = member.seat_type  # not seated yet at as_of: their seat to come
        cap, source = org.limits.effective_cap(user_id, seat_type)
        if cap is not None:
            caps.append(_Cap(Level.MEMBER, user_id, cap, source))
    for seat_type, limit in sorted(org.limits.seat_types.items()):
        if limit.pool_cap is not None:
            caps.append(_Cap(Level.SEAT_TYPE, seat_type, limit.pool_cap, None))
    if org.limits.organization.pool_cap is not None:
        caps.append(_Cap(Level.ORGANIZATION, org.name, org.limits.organization.pool_cap, None))
    return caps


def forecast(
    org: Organization,
    events: Iterable[UsageEvent],
    period: BillingPeriod,
    as_of: datetime,
    prices: PriceTable | None = None,
) -> Forecast:
    """Project ``period``'s usage spend from its ``events`` before ``as_of`` (module docs).

    Events at or after ``as_of`` are ignored, so a full month's file forecasts
    any day of it. ``as_of`` must be timezone-aware and after the period's start.

    >>> from datetime import datetime, UTC
    >>> from usagebill import (Member, Money, PoolLimit, Product, SeatCatalog,
    ...                        SpendLimits, TokenUsage)
    >>> org = Organization.create(
    ...     "acme",
    ...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
    ...     [Member("olga", "primary_owner", "chat")],
    ...     at=datetime(2026, 9, 1, tzinfo=UTC),
    ...     limits=SpendLimits(members={"olga": Money("5")}))
    >>> events = [UsageEvent(f"e{day}", "olga", "claude-sonnet-4-6", Product.CHAT,
    ...                      TokenUsage(output_tokens=10_000), datetime(2026, 11, day, tzinfo=UTC))
    ...           for day in range(1, 11)]                  # 0.15 a day for ten days
    >>> org, _ = org.set_member_cap("olga", datetime(2026, 9, 1, tzinfo=UTC), "olga", Money("3"))
    >>> ahead = forecast(org, events, BillingPeriod.of("2026-11"),
    ...                  as_of=datetime(2026, 11, 11, tzinfo=UTC))
    >>> print(ahead.total.spent, ahead.total.projected, ahead.total.low, ahead.total.high)
    1.50 USD 4.50 USD 4.50 USD 4.50 USD
    >>> cap = ahead.caps[0]
    >>> print(cap.status, cap.day)         # (3 - 1.50) / 0.15 a day: 10 days after the 11th
    projected 2026-11-21
    """
    prices = prices if prices is not None else PriceTable.builtin()
    check_aware(as_of, "as_of")
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    if as_of <= start:
        raise InvalidValueError(
            "as_of", as_of.isoformat(), f"must come after the period's start {start.isoformat()}"
        )
    try:
        cut = min(as_of.astimezone(UTC), end)
    except OverflowError:  # 9999-12-31T23:00-14:00 is in the year 10000 in UTC
        raise InvalidValueError(
            "as_of", as_of.isoformat(), "must be before the year 10000 in UTC"
        ) from None
    finished = cut == end
    elapsed = int((cut - start).total_seconds())
    remaining = int((end - cut).total_seconds())
    boundaries = _day_starts(period)
    complete = sum(1 for boundary in boundaries[1:] if boundary <= cut)
    caps = _caps(org, cut)
    reached: dict[tuple[Level, str], datetime] = {
        (cap.level, cap.subject): period.start for cap in caps if cap.cap.is_zero()
    }
    timeline = SeatTimeline(org.seat_history)
    members: dict[str, _Scope] = {user_id: _Scope() for user_id in org.members}
    seat_types: dict[str, _Scope] = {name: _Scope() for name in org.catalog.seat_types}
    total = _Scope()
    by_scope = {(cap.level, cap.subject): cap.cap.amount for cap in caps}
    counted = deduplicated_between(events, start, cut)
    day = 0
    for event in counted:
        at = event.at.astimezone(UTC)
        try:
            seat_type = timeline.seat_at(event.user_id, at)
            usage = event.billed_usage(org.failure_policy)
            amount = prices.amount(event.model, usage, event.at, event.modifiers)
        except UsageBillError as error:
            error.in_event(event.event_id)
            raise
        while boundaries[day + 1] <= at:
            day += 1
        scopes = (
            (Level.MEMBER, event.user_id, members.setdefault(event.user_id, _Scope())),
            (Level.SEAT_TYPE, seat_type, seat_types.setdefault(seat_type, _Scope())),
            (Level.ORGANIZATION, org.name, total),
        )
        for level, subject, scope in scopes:
            scope.add(day, amount)
            cap = by_scope.get((level, subject))
            if cap is not None and scope.total >= cap:
                reached.setdefault((level, subject), event.at)
    shape = _Shape(complete, elapsed, remaining, finished)
    currency = org.currency
    local = zone(period.timezone)
    scopes_of = {Level.MEMBER: members, Level.SEAT_TYPE: seat_types}
    return Forecast(
        organization=org.name,
        period=period,
        as_of=as_of.astimezone(local),
        currency=currency,
        price_table=prices.version,
        elapsed_seconds=elapsed,
        remaining_seconds=remaining,
        complete_days=complete,
        finished=finished,
        events=len(counted),
        members=tuple(
            _projection(key, scope, currency, shape) for key, scope in sorted(members.items())
        ),
        seat_types=tuple(
            _projection(key, scope, currency, shape) for key, scope in sorted(seat_types.items())
        ),
        total=_projection(org.name, total, currency, shape),
        caps=tuple(
            _cap_forecast(
                cap,
                total if cap.level is Level.ORGANIZATION else scopes_of[cap.level][cap.subject],
                reached.get((cap.level, cap.subject)),
                currency,
                cut=cut,
                end=end,
                local=local,
                shape=shape,
            )
            for cap in caps
        ),
        days=tuple(
            DailySpend(
                boundaries[n].astimezone(local).date(),
                unchecked_money(total.daily.get(n, _ZERO), currency).rounded(),
                n < complete,
            )
            for n in range(len(boundaries) - 1)
            if boundaries[n] < cut
        ),
    )


def _cap_forecast(
    cap: _Cap,
    scope: _Scope,
    reached: datetime | None,
    currency: str,
    *,
    cut: datetime,
    end: datetime,
    local: tzinfo,
    shape: _Shape,
) -> CapForecast:
    projected = _stats(scope, shape)[0]
    status, at = CapStatus.NOT_REACHED, None
    if reached is not None:
        status, at = CapStatus.REACHED, reached
    elif not shape.finished and scope.total:
        # Time to the cap at the scope's run rate: (cap - spent) / (spent / elapsed).
        gap = EXACT.subtract(cap.cap.amount, scope.total)
        seconds = _STATS.divide(_STATS.multiply(gap, shape.elapsed), scope.total)
        whole = int(seconds.to_integral_value(decimal.ROUND_CEILING))
        # Compared before it is added: years away (a first tiny spend) is past any datetime.
        if whole <= (end - cut) // timedelta(seconds=1):
            when = cut + timedelta(seconds=whole)
            if when < end:
                status, at = CapStatus.PROJECTED, when
    return CapForecast(
        level=cap.level,
        subject=cap.subject,
        cap=cap.cap,
        source=cap.source,
        spent=unchecked_money(scope.total, currency).rounded(),
        projected=unchecked_money(projected, currency).rounded(),
        status=status,
        at=None if at is None else at.astimezone(local),
    )


# --- the forecast as a report --------------------------------------------------------------


def _days(seconds: int) -> str:
    return f"{_STATS.divide(Decimal(seconds), _DAY).quantize(Decimal('0.01'))}"


def _header(result: Forecast) -> tuple[Field, ...]:
    method = (
        "actual figures of a finished period (zero-width band)"
        if result.finished
        else (
            "run rate (spent * period / elapsed); ~80 % band: projected +/- 1.28 * daily sd"
            " * sqrt(remaining days), low end clipped at the spend so far"
        )
    )
    statuses = [cap.status for cap in result.caps]
    return (
        Field("Organization", result.organization),
        Field("Period", f"{result.period.label} ({result.period.timezone})"),
        Field("As of", f"{result.as_of:%Y-%m-%d %H:%M %Z}"),
        Field(
            "Elapsed",
            f"{_days(result.elapsed_seconds)} days, {_days(result.remaining_seconds)} to go; "
            f"{result.complete_days} complete local days, {result.events:,} requests",
        ),
        Field("Method", method),
        Field("Price table", result.price_table),
        Field(
            "Caps",
            f"{counted(len(statuses), 'cap')}: {statuses.count(CapStatus.REACHED):,} reached, "
            f"{statuses.count(CapStatus.PROJECTED):,} projected to be reached this period",
        ),
    )


def _projection_cells(projection: Projection) -> tuple[Money | None, ...]:
    return (
        projection.spent,
        projection.projected,
        projection.low,
        projection.high,
        projection.daily_mean,
    )


_PROJECTION_COLUMNS: Final = (
    Column("spent", "spent", Kind.AMOUNT),
    Column("projected", "projected", Kind.AMOUNT),
    Column("low", "low ~80%", Kind.AMOUNT, missing="n/a"),
    Column("high", "high ~80%", Kind.AMOUNT, missing="n/a"),
    Column("daily_mean", "per day", Kind.AMOUNT),
)


def _report(result: Forecast) -> Report:
    currency = result.currency
    total = result.total
    band = (
        ""
        if total.low is None or total.high is None or result.finished
        else f" (~80 % band {shown_amount(total.low)} to {shown_amount(total.high)})"
    )
    projections = [
        (scope, projection.key, *_projection_cells(projection))
        for scope, projections in (
            ("Organization", (total,)),
            ("By seat type", result.seat_types),
            ("By user", result.members),
        )
        for projection in projections
    ]
    return Report(
        "forecast",
        "Forecast",
        result.organization,
        header=_header(result),
        sections=(
            Table(
                f"Usage spend ({currency})",
                (Column("scope", "Scope", group=True), Column("key", "Name"), *_PROJECTION_COLUMNS),
                projections,
            ),
            Table(
                "Caps",
                (
                    Column("level", "Level", group=True),
                    Column("subject", "Subject"),
                    Column("cap", "cap", Kind.AMOUNT),
                    Column("spent", "spent", Kind.AMOUNT),
                    Column("projected", "projected", Kind.AMOUNT),
                    Column("when", "when"),
                ),
                [
                    (
                        cap.level.value,
                        cap.subject,
                        cap.cap,
                        cap.spent,
                        cap.projected,
                        cap.describe(),
                    )
                    for cap in result.caps
                ],
                empty="no caps are set",
            ),
        ),
        bottom_line=Field(
            f"Projected usage spend ({currency})", f"{shown_amount(total.projected)}{band}"
        ),
        data=Table(
            "Projections and caps",
            (
                Column("kind"),
                Column("key"),
                *_PROJECTION_COLUMNS,
                Column("daily_sd", kind=Kind.AMOUNT),
                Column("level"),
                Column("source"),
                Column("cap", kind=Kind.EXACT),
                Column("status"),
                Column("at"),
                Column("currency"),
            ),
            [
                (kind, p.key, *_projection_cells(p), p.daily_sd, *(None,) * 5, currency)
                for kind, group in (
                    ("organization", (total,)),
                    ("seat_type", result.seat_types),
                    ("user", result.members),
                )
                for p in group
            ]
            + [
                (
                    "cap",
                    cap.subject,
                    cap.spent,
                    cap.projected,
                    *(None,) * 4,
                    cap.level.value,
                    None if cap.source is None else cap.source.value,
                    cap.cap,
                    cap.status.value,
                    None if cap.at is None else cap.at.isoformat(),
                    currency,
                )
                for cap in result.caps
            ],
        ),
    )
