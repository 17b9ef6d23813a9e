"""Generated months of usage for the engine agreement tests, and writers for every source format.

A month has what makes billing hard: retried events, conflicting versions of an id, seat
changes in the middle of a day, a price change mid-month (Sonnet 5.5 on Oct 7), prompts at and
over a context tier's threshold (Sonnet 4.5, 200,000 tokens), events just outside the period,
and organizations in several time zones.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, timedelta, timezone
from pathlib import Path

import attrs
from hypothesis import strategies as st

from builders import event, member, organization
from usagebill import (
    BillingPeriod,
    FailurePolicy,
    Modifiers,
    Organization,
    Product,
    TokenUsage,
    UsageEvent,
)
from usagebill.billing.dimensions import MODIFIER_COLUMNS, TOKEN_COLUMNS

ZONES = ("UTC", "America/New_York", "Asia/Tokyo", "Pacific/Auckland")
MODELS = (
    "claude-sonnet-4-6",
    "claude-sonnet-5-5",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-6",
)
MONTHS = ("2026-10", "2026-02")
"""October: Sonnet 5.5's price changes on the 7th. February: the 4.6 models still have their
200K tiers, Opus 4.6 fast mode one of its own."""
OFFSETS = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30)))
FORMATS = ("jsonl", "jsonl.gz", "parquet", "csv", "pandas", "polars", "arrow")


def changing_month(
    zone: str, month: str = "2026-10", failure_policy: FailurePolicy = FailurePolicy.REPORTED
) -> tuple[Organization, BillingPeriod, dict[str, list[tuple]]]:
    """Three members: olga all month, ada joins mid-day, bob changes seat mid-day then leaves.

    Returns the organization, its period of ``month``, and each member's seated spans (UTC).
    """
    period = BillingPeriod.of(month, timezone=zone)
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    org = organization(
        member("bob"),
        at=start - timedelta(days=40),
        timezone=zone,
        failure_policy=failure_policy,
    )
    joins = start + timedelta(days=9, hours=13, minutes=17, seconds=5)
    moves = start + timedelta(days=15, hours=11, minutes=42)
    leaves = start + timedelta(days=25, hours=16, seconds=30)
    org, _ = org.add_member("olga", joins, member("ada", add_ons=["hipaa"]))
    org, _ = org.assign_seat("olga", moves, "bob", "chat_claude_code")
    org, _ = org.remove_member("olga", leaves, "bob")
    seated = {"olga": [(start, end)], "ada": [(joins, end)], "bob": [(start, leaves)]}
    return org, period, seated


usages = st.builds(
    TokenUsage,
    # 150,000 + 50,000 cache reads is exactly Sonnet 4.5's threshold: at it, not over.
    input_tokens=st.sampled_from([0, 1, 999, 150_000, 150_001, 250_000]),
    output_tokens=st.integers(0, 5_000),
    cache_write_5m_tokens=st.sampled_from([0, 0, 7_000]),
    cache_write_1h_tokens=st.sampled_from([0, 0, 10_000]),
    cache_read_tokens=st.sampled_from([0, 50_000, 60_000]),
    web_search_requests=st.sampled_from([0, 0, 0, 2]),
)


@st.composite
def months(draw: st.DrawFn) -> tuple[Organization, BillingPeriod, list[UsageEvent]]:
    """An organization, a period of it, and a shuffled stream of its usage events."""
    zone = draw(st.sampled_from(ZONES))
    policy = draw(st.sampled_from(list(FailurePolicy)))  # what a failed request is billed
    org, period, seated = changing_month(zone, draw(st.sampled_from(MONTHS)), policy)
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    events = []
    for index in range(draw(st.integers(0, 14))):
        user = draw(st.sampled_from(sorted(seated)))
        if draw(st.integers(0, 7)) == 0:  # now and then an event of the months around
            when = draw(
                st.sampled_from([start - timedelta(microseconds=1), end, end + timedelta(days=3)])
            )
        else:
            low, high = seated[user][0]
            seconds = int((high - low).total_seconds())
            when = low + timedelta(seconds=draw(st.integers(0, seconds - 1)))
        model = draw(st.sampled_from(MODELS))
        fast = model == "claude-opus-4-6" and draw(st.booleans())  # fast mode: Opus 4.6 only
        events.append(
            event(
                f"evt-{index}",
                user,
                model,
                draw(st.sampled_from(list(Product))),
                usage=draw(usages),
                at=when.astimezone(draw(st.sampled_from(OFFSETS))),
                modifiers=Modifiers(batch=not fast and draw(st.booleans()), fast=fast),
                failed=draw(st.integers(0, 5)) == 0,
            )
        )
    if events:
        events += draw(st.lists(st.sampled_from(events), max_size=4))  # retries
        for one in draw(st.lists(st.sampled_from(events), max_size=2)):  # conflicts
            events.append(attrs.evolve(one, usage=one.usage + TokenUsage(output_tokens=1)))
    return org, period, draw(st.permutations(events))


def rows(events: list[UsageEvent]) -> list[dict[str, object]]:
    """The events as flat rows (the table form of the engines)."""
    return [
        {
            "event_id": event.event_id,
            "user_id": event.user_id,
            "model": event.model,
            "product": event.product.value,
            "at": event.at,
            **dict(zip(TOKEN_COLUMNS, attrs.astuple(event.usage), strict=True)),
            **{name: getattr(event.modifiers, name) for name in MODIFIER_COLUMNS},
            "failed": event.failed,
        }
        for event in events
    ]


def write(events: list[UsageEvent], directory: Path, fmt: str) -> object:
    """The events in ``fmt``: the path of a file written in ``directory``, or a table."""
    if fmt in ("jsonl", "jsonl.gz"):
        path = directory / f"events.{fmt}"
        text = "".join(json.dumps(event.to_dict()) + "\n" for event in events)
        if fmt == "jsonl":
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(gzip.compress(text.encode()))
        return path
    if fmt == "csv":
        path = directory / "events.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows([_ANY])[0]))
            writer.writeheader()
            for row in rows(events):
                writer.writerow({**row, "at": row["at"].isoformat()})  # type: ignore[union-attr]
        return path
    import pyarrow as pa  # noqa: PLC0415  (only the table formats need it)

    table = pa.Table.from_pylist(
        [{**row, "at": row["at"].astimezone(UTC)} for row in rows(events)],  # type: ignore[union-attr]
        schema=_schema(pa),
    )
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        path = directory / "events.parquet"
        pq.write_table(table, path)
        return path
    if fmt == "pandas":
        return table.to_pandas()
    if fmt == "polars":
        import polars as pl  # noqa: PLC0415

        return pl.from_arrow(table)
    return table


def _schema(pa):
    return pa.schema(
        [
            ("event_id", pa.string()),
            ("user_id", pa.string()),
            ("model", pa.string()),
            ("product", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")),
            *((name, pa.int64()) for name in TOKEN_COLUMNS),
            *((name, pa.bool_()) for name in MODIFIER_COLUMNS),
            ("failed", pa.bool_()),
        ]
    )


_ANY = event("x", "olga")
