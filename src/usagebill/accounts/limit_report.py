"""The effective-limit report: each member's cap, the level it comes from, and their spend.

:meth:`~usagebill.accounts.organization.Organization.limit_report` answers
"who can still spend how much?" for a month-to-date
:class:`~usagebill.accounts.limits.Spend`. The result is a sequence of
:class:`LimitReportRow` (one per member, by user id) that also describes
itself as a report, for people and programs. The examples below read this one:

>>> from datetime import datetime, UTC
>>> from usagebill import Member, Organization, SeatCatalog, Spend, SpendLimits
>>> org = Organization.create(
...     "acme",
...     SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40")),
...     [Member("olga", "primary_owner", "chat"), Member("ada", "member", "chat")],
...     at=datetime(2026, 9, 1, tzinfo=UTC), limits=SpendLimits(members={"ada": Money("50")}))
>>> limits = org.limit_report(Spend().record("ada", "chat", Money("12.5")))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import attrs

from usagebill import reports
from usagebill.accounts.limits import EffectiveLimit
from usagebill.money import Money
from usagebill.reports import Column, Field, Kind, Report, Table, counted

__all__ = ["LimitReport", "LimitReportRow"]


@attrs.frozen
class LimitReportRow:
    """One member in the effective-limit report.

    >>> ada = limits[0]  # by user id
    >>> print(ada.limit.cap, ada.limit.source.value, ada.spent, ada.remaining)  # 50 - 12.50
    50.00 USD individual 12.50 USD 37.50 USD
    """

    user_id: str
    seat_type: str
    limit: EffectiveLimit
    spent: Money
    held: Money

    @property
    def remaining(self) -> Money | None:
        """Room left under the member's own limit (``None``: unlimited; never negative)."""
        if self.limit.cap is None:
            return None
        room = self.limit.cap - self.spent - self.held
        return room if room.amount > 0 else Money.zero(room.currency)


@attrs.frozen
class LimitReport(Sequence[LimitReportRow]):
    """Every member's effective limit and month-to-date spend: a sequence of rows, by user id.

    For the organization of the module's example:

    >>> [(row.user_id, row.remaining) for row in limits]
    [('ada', Money('37.5', 'USD')), ('olga', None)]
    >>> print(limits.to_text(width=72), end="")
    LIMITS: acme
    ========================================================================
    Organization: acme
    Members:      2 members, 1 with a cap
    <BLANKLINE>
    MEMBERS             Seat type    cap  from        spent  held  remaining
    ------------------------------------------------------------------------
    ada                 chat       50.00  individual  12.50  0.00      37.50
    olga                chat        none  none         0.00  0.00  unlimited
    """

    organization: str
    currency: str
    rows: tuple[LimitReportRow, ...]

    @overload
    def __getitem__(self, index: int) -> LimitReportRow: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[LimitReportRow, ...]: ...

    def __getitem__(self, index: int | slice) -> LimitReportRow | tuple[LimitReportRow, ...]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LimitReportRow]:
        return iter(self.rows)

    def to_report(self) -> Report:
        """The limits as a report: one row per member; its data the exact amounts."""
        return _report(self)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per member, amounts as exact Decimals, ready for ``pandas.DataFrame``."""
        return reports.to_records(self.to_report())

    def to_text(self, width: int = 100) -> str:
        """The limits as plain text."""
        return reports.to_text(self.to_report(), width)

    def to_markdown(self) -> str:
        """The limits as Markdown."""
        return reports.to_markdown(self.to_report())

    def to_csv(self) -> str:
        """One CSV row per member."""
        return reports.to_csv(self.to_report())

    def _repr_html_(self) -> str:
        return reports.to_html(self.to_report())


def _cells(row: LimitReportRow) -> tuple[Money | str | None, ...]:
    return (
        row.limit.cap,
        row.limit.source.value,
        row.spent,
        row.held,
        row.remaining,
    )


def _report(limits: LimitReport) -> Report:
    capped = sum(1 for row in limits.rows if row.limit.cap is not None)
    return Report(
        "limits",
        "Limits",
        limits.organization,
        header=(
            Field("Organization", limits.organization),
            Field("Members", f"{counted(len(limits.rows), 'member')}, {capped:,} with a cap"),
        ),
        sections=(
            Table(
                "Members",
                (
                    Column("user_id", "Member"),
                    Column("seat_type", "Seat type"),
                    Column("cap", "cap", Kind.AMOUNT, missing="none"),
                    Column("source", "from"),
                    Column("spent", "spent", Kind.AMOUNT),
                    Column("held", "held", Kind.AMOUNT),
                    Column("remaining", "remaining", Kind.AMOUNT, missing="unlimited"),
                ),
                [(row.user_id, row.seat_type, *_cells(row)) for row in limits.rows],
            ),
        ),
        data=Table(
            "Members",
            (
                Column("user_id"),
                Column("seat_type"),
                Column("cap", kind=Kind.EXACT),
                Column("source"),
                Column("spent", kind=Kind.EXACT),
                Column("held", kind=Kind.EXACT),
                Column("remaining", kind=Kind.EXACT),
                Column("currency"),
            ),
            [(row.user_id, row.seat_type, *_cells(row), limits.currency) for row in limits.rows],
        ),
    )
