"""What-if on a large month: re-billing under a scenario against building the invoice once.

    python benchmarks/whatif.py [--events 200000] [--repeats 2] [--dir /tmp/usagebill-bench]

Uses the month of ``benchmarks/invoice.py`` (1,000 users, half on each seat type, five
models, its generator and organization), loaded once into ``UsageEvent`` values (not
timed), then times, best of ``--repeats``:

* ``invoice``: ``build_invoice()`` once — the floor;
* ``what-if, seats``: ``whatif()`` moving 100 Chat members to Chat + Claude Code (the
  generator gives Claude Code use to Chat members: upgrading them is the realistic
  question), the baseline invoice given; then the time ``diff()`` takes, which the
  what-if computes only when it is shown;
* ``cap replay``: the replay alone — every request, in time order, through
  ``authorize()`` over a growing month-to-date spend;
* ``what-if, caps``: ``whatif()`` with caps that bind (an organization pool at 90 % of
  the month's usage, a $5 per-member default on Chat), the baseline given;
* ``what-if, seats, cube``: the seats what-if from the month's usage cube
  (``whatif_cube()``, the cube and the baseline given): what ``usagebill whatif`` does for
  a scenario that only moves seats or re-prices, once the events are summed;
* ``what-if, seats, events once``: ``whatif()`` without a baseline: the events summed
  once, the cube priced twice (the invoice and the scenario).

The claim it checks: a what-if costs no more than building its invoice once, plus the
cap replay when caps change; from the cube, a small part of it. It prints each time and
the ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from invoice import organization, write_events  # benchmarks/invoice.py: same month, same org
from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    BillingPeriod,
    ChangeCaps,
    Money,
    MoveSeats,
    PoolLimit,
    PriceTable,
    Scenario,
    SpendLimits,
    UsageEvent,
    build_invoice,
    diff,
    whatif,
    whatif_cube,
)
from usagebill.analysis.whatif.replay import replay
from usagebill.billing.engines.python import CubeBuilder
from usagebill.events import deduplicated_between


def best(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    """The best wall time of ``repeats`` runs (collector off during each), and a result."""
    times = []
    result: object = None
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        gc.enable()
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "usagebill-bench")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"events-{args.events}.jsonl"
    if not path.exists():
        write_events(path, args.events)
    with path.open(encoding="utf-8") as lines:
        events = [UsageEvent.from_dict(json.loads(line)) for line in lines]
    org = organization()
    period = BillingPeriod.of("2026-10")
    prices = PriceTable.builtin()

    t_invoice, billed = best(args.repeats, lambda: build_invoice(org, events, period, prices))
    chat = sorted(m.user_id for m in org.members.values() if m.seat_type == CHAT)
    seats = Scenario((MoveSeats(chat[:100], CHAT_AND_CLAUDE_CODE),), name="100 upgraded")
    t_seats, moved = best(
        args.repeats, lambda: whatif(org, events, period, seats, prices, baseline=billed)
    )
    t_diff, _ = best(args.repeats, lambda: diff(billed, moved.invoice))
    usage = billed.usage_total.amount
    limits = SpendLimits(
        organization=PoolLimit(pool_cap=Money(usage * 9 / 10)),
        seat_types={CHAT: PoolLimit(member_default=Money(5))},
    )
    caps = Scenario((ChangeCaps(limits),), name="lower caps")
    setting = caps.apply(org, prices)
    t_replay, _ = best(
        args.repeats,
        lambda: replay(
            setting.org, setting.prices, deduplicated_between(events, period.start, period.end)
        ),
    )
    t_caps, capped = best(
        args.repeats, lambda: whatif(org, events, period, caps, prices, baseline=billed)
    )

    cube = CubeBuilder(org, period, prices).add_all(events).cube()
    t_cube, from_cube = best(
        args.repeats, lambda: whatif_cube(org, cube, seats, prices, baseline=billed)
    )
    assert from_cube == moved, "the cube must give the what-if of the events"  # noqa: S101
    t_once, _ = best(args.repeats, lambda: whatif(org, events, period, seats, prices))

    print(f"\n{len(events):,} events, {len(org.members):,} members, usage {billed.usage_total}")
    for label, seconds, note in (
        ("invoice (build_invoice)", t_invoice, ""),
        ("what-if, seats", t_seats, f"{len(moved.denied):,} denied"),
        ("its diff (when shown)", t_diff, f"{len(billed.usage_lines):,} usage lines"),
        ("cap replay alone", t_replay, ""),
        ("what-if, caps", t_caps, f"{len(capped.denied):,} denied"),
        ("what-if, seats, cube", t_cube, f"{len(cube.buckets):,} buckets"),
        ("what-if, seats, events once", t_once, "no baseline given"),
    ):
        per_event = seconds / len(events) * 1e6
        print(f"  {label:26} {seconds:7.2f} s  {per_event:6.2f} µs/event  {note}")
    print(f"  what-if, seats / invoice:                {t_seats / t_invoice:5.2f}x")
    print(f"  what-if, caps / (invoice + cap replay):  {t_caps / (t_invoice + t_replay):5.2f}x")
    print(f"  what-if, seats, events once / invoice:   {t_once / t_invoice:5.2f}x")
    print(f"  what-if, seats, cube / invoice:          {t_cube / t_invoice:5.2f}x")


if __name__ == "__main__":
    main()
