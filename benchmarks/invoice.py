"""File to finished invoice: a month of 1,000,000 usage events (1,000 users, 5 models).

    python benchmarks/invoice.py [--events 1000000] [--small 100000] [--dir /tmp/ub-bench]

Writes the JSONL files once (deterministic), then, each in a fresh process so that
peak memory is its own:

* ``parse``: ``json.loads`` of every line and nothing else — the floor;
* ``invoice``: every line through ``InvoiceBuilder.add_record`` to ``finish()``;
* ``invoice, dedupe off``: the same without the memory of event ids, for
  sources that already guarantee each event once.

Prints µs per event, events/s, the ratio to parsing alone, and the peak resident
memory of each, for the small and the large file (memory flat as events grow?).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    BillingPeriod,
    InvoiceBuilder,
    Member,
    Money,
    Organization,
    SeatCatalog,
)

USERS = 1_000
MODELS = (
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-sonnet-4-6",
    "claude-haiku-5-5",
    "claude-haiku-4-5",
)
START = datetime(2026, 10, 1, tzinfo=UTC)


def organization() -> Organization:
    """1,000 members, half on each seat type."""
    members = [Member("u0000", "primary_owner", CHAT_AND_CLAUDE_CODE)]
    members += [
        Member(f"u{i:04d}", "member", (CHAT, CHAT_AND_CLAUDE_CODE)[i % 2]) for i in range(1, USERS)
    ]
    return Organization.create(
        "bench",
        SeatCatalog.enterprise(chat_fee=Money(20), chat_and_claude_code_fee=Money(40)),
        members,
        at=START - timedelta(days=30),
    )


def write_events(path: Path, count: int) -> None:
    """``count`` events spread over October 2026, deterministically."""
    rng = random.Random(count)
    seconds = 31 * 86_400
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            user = rng.randrange(USERS)
            code = user % 2 == 0 and rng.random() < 0.7
            usage = {
                "input_tokens": rng.randint(100, 20_000),
                "output_tokens": rng.randint(50, 4_000),
            }
            if rng.random() < 0.6:
                usage["cache_read_tokens"] = rng.randint(1_000, 120_000)
            if rng.random() < 0.2:
                usage["cache_write_5m_tokens"] = rng.randint(500, 20_000)
            record = {
                "event_id": f"e{number:08d}",
                "user_id": f"u{user:04d}",
                "model": MODELS[rng.randrange(len(MODELS))],
                "product": "claude_code" if code else "chat",
                "at": (START + timedelta(seconds=rng.randrange(seconds))).isoformat(),
                "usage": usage,
            }
            if rng.random() < 0.05:
                record["modifiers"] = {"batch": True}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def measure(mode: str, path: Path) -> None:
    """Run one mode over ``path`` in this process; print seconds, events and peak RSS."""
    start = time.perf_counter()
    count = 0
    if mode == "parse":
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                json.loads(line)
                count += 1
    else:
        builder = InvoiceBuilder(
            organization(), BillingPeriod.of("2026-10"), dedupe=mode == "invoice"
        )
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                builder.add_record(json.loads(line))
                count += 1
        added = time.perf_counter()
        invoice = builder.finish()
        if invoice.events != count:
            raise SystemExit(f"billed {invoice.events} of {count} events")
    elapsed = time.perf_counter() - start
    finish = elapsed - (added - start) if mode != "parse" else 0.0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"seconds": elapsed, "finish": finish, "events": count, "peak_mib": peak_kib / 1024}
        )
    )


def run(mode: str, path: Path) -> dict[str, float]:
    """:func:`measure` in a fresh process."""
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, __file__, "--measure", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "usagebill-bench")
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], Path(args.measure[1]))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    for count in (args.small, args.events):
        path = args.dir / f"events-{count}.jsonl"
        if not path.exists():
            write_events(path, count)
        parse = run("parse", path)
        print(
            f"\n{count:,} events ({path.stat().st_size / 2**20:.0f} MiB), {USERS:,} users, "
            f"{len(MODELS)} models"
        )
        for mode, label in (
            ("parse", "json.loads only"),
            ("invoice", "file to invoice"),
            ("invoice-nodedupe", "file to invoice, dedupe off"),
        ):
            result = parse if mode == "parse" else run(mode, path)
            per_event = result["seconds"] / result["events"]
            ratio = result["seconds"] / parse["seconds"]
            print(
                f"  {label:30} {per_event * 1e6:6.2f} µs/event  {1 / per_event:>10,.0f} events/s"
                f"  {ratio:4.2f}x parse  finish() {result.get('finish', 0.0):5.2f} s"
                f"  peak {result['peak_mib']:7.1f} MiB"
            )


if __name__ == "__main__":
    main()
