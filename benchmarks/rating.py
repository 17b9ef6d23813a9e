"""Rating throughput: usagebill against LiteLLM and tokencost, on the same usages.

What it measures: the time to price one request (an "event") from its token
counts, for a million seeded-random but realistic Claude usages (current models
that LiteLLM also knows, input 100-50k tokens, output 50-8k, frequent cache
reads, some 5-minute and 1-hour cache writes, instants in October 2026 UTC):

* usagebill ``PriceTable.cost()``: the public API, an exact ``Money``;
* usagebill ``PriceTable.amount()``: the hot path, a bare exact ``Decimal``;
* LiteLLM ``cost_per_token()``: one call per event, a pair of floats;
* tokencost ``calculate_cost_by_tokens()``: three calls per event (input,
  output, cached), each a ``Decimal`` made from a float rate.

Each figure is the best of ``--repeats`` timed passes after a warm-up, with the
garbage collector off during a pass (as ``timeit`` does). The competitors are
slow, so they run on a sample (the first ``--sample`` events) and their
per-event figures are extrapolated; the ratios compare per-event times. It then
checks usagebill's exact costs against LiteLLM's floats on that sample.

Run (from the repository root)::

    python benchmarks/rating.py              # 1,000,000 events, competitors on 20,000
    python benchmarks/rating.py --quick      # 100,000 events: a smoke run
    python benchmarks/rating.py --sample 50000 --repeats 5
    python benchmarks/rating.py --profile    # cProfile of cost() on 100,000 events

Only usagebill is needed; LiteLLM and tokencost (``benchmarks/requirements.txt``)
are skipped when they are not installed. Nothing here uses the network.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import NamedTuple

from usagebill import Modifiers, PriceTable, TokenUsage

# Models current in October 2026 that LiteLLM's bundled price map also lists,
# with their share of traffic. Every library is called with these same names.
MODELS = {
    "claude-sonnet-4-6": 45,
    "claude-haiku-4-5": 25,
    "claude-opus-4-6": 20,
    "claude-opus-4-5": 10,
}
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_SECONDS = 31 * 24 * 3600

DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
DEFAULT_SAMPLE = 20_000
QUICK_SAMPLE = 5_000
WARMUP_EVENTS = 2_000


class Event(NamedTuple):
    model: str
    usage: TokenUsage
    at: datetime


class Timing(NamedTuple):
    name: str
    events: int
    seconds: float  # best pass
    sampled: bool

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.events * 1e6

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


# --- the usages ----------------------------------------------------------------------------


def make_usage(rng: random.Random) -> TokenUsage:
    """One request's usage: log-uniform sizes, cache reads on most requests."""
    input_tokens = round(100 * 500 ** rng.random())  # 100 .. 50,000
    output_tokens = round(50 * 160 ** rng.random())  # 50 .. 8,000
    cache_read = round(2_000 * 60 ** rng.random()) if rng.random() < 0.7 else 0  # 2k .. 120k
    write_5m = write_1h = 0
    if rng.random() < 0.25:
        written = round(500 * 40 ** rng.random())  # 500 .. 20,000
        if rng.random() < 0.2:
            write_1h = written
        else:
            write_5m = written
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        cache_read_tokens=cache_read,
    )


def make_events(count: int, seed: int) -> list[Event]:
    """``count`` events, the same for the same seed."""
    rng = random.Random(seed)
    models = rng.choices(list(MODELS), weights=list(MODELS.values()), k=count)
    return [
        Event(
            model,
            make_usage(rng),
            MONTH_START + timedelta(seconds=rng.randrange(MONTH_SECONDS)),
        )
        for model in models
    ]


# --- timing --------------------------------------------------------------------------------


def best_time(
    run: Callable[[Sequence[Event]], object], events: Sequence[Event], repeats: int
) -> float:
    """Warm ``run`` up on a few events, then return its best time over ``repeats`` passes."""
    run(events[:WARMUP_EVENTS])
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            run(events)
            best = min(best, time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def usagebill_cost(table: PriceTable) -> Callable[[Sequence[Event]], object]:
    def run(events: Sequence[Event]) -> None:
        cost = table.cost
        for model, usage, at in events:
            cost(model, usage, at)

    return run


def usagebill_amount(table: PriceTable) -> Callable[[Sequence[Event]], object]:
    def run(events: Sequence[Event]) -> None:
        amount = table.amount
        modifiers = Modifiers()
        for model, usage, at in events:
            amount(model, usage, at, modifiers)

    return run


# --- LiteLLM -------------------------------------------------------------------------------


def load_litellm() -> ModuleType | None:
    # Use the price map bundled with the package: no fetch over the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm  # noqa: PLC0415
    except ImportError:
        return None
    return litellm


def litellm_cost(litellm: ModuleType, model: str, usage: TokenUsage) -> float:
    """LiteLLM's cost of one event, as the sum of its (prompt, completion) floats.

    LiteLLM's ``prompt_tokens`` follows OpenAI: it *includes* cached tokens.
    Its Anthropic adapter (``litellm/llms/anthropic/chat/transformation.py``,
    1.110.2) adds ``cache_creation_input_tokens`` and ``cache_read_input_tokens``
    to Anthropic's ``input_tokens`` to make ``prompt_tokens``, and the cost code
    prices ``prompt_tokens - cache reads - cache writes`` at the input rate. So
    we pass ``usage.prompt_tokens`` (uncached input + writes + reads); passing
    ``input_tokens`` alone would undercharge. These keyword arguments have no
    way to say a write had a 1-hour lifetime: LiteLLM prices every write at the
    5-minute rate here.
    """
    prompt, completion = litellm.cost_per_token(
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_tokens,
        cache_creation_input_tokens=usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
    )
    return prompt + completion


def litellm_run(litellm: ModuleType) -> Callable[[Sequence[Event]], object]:
    def run(events: Sequence[Event]) -> None:
        for model, usage, _at in events:
            litellm_cost(litellm, model, usage)

    return run


# --- tokencost -----------------------------------------------------------------------------


def load_tokencost(table: PriceTable, at: datetime) -> ModuleType | None:
    """Import tokencost and give it the benchmark's models if its price list lacks them.

    tokencost 0.1.26 reads the price list it ships, frozen before these models
    came out, and only fetches a newer one when ``refresh_prices()`` is called
    (never here: there is no network). We add the missing models under the keys
    that list uses, at usagebill's listed rates; the rates do not change the
    timing, and a model missing would only make it raise.
    """
    try:
        import tokencost  # noqa: PLC0415
    except ImportError:
        return None
    for model in MODELS:
        if model not in tokencost.TOKEN_COSTS:
            rates = table.price(model, at).rates
            tokencost.TOKEN_COSTS[model] = {
                "input_cost_per_token": float(rates.input / 1_000_000),
                "output_cost_per_token": float(rates.output / 1_000_000),
                "cache_read_input_token_cost": float(rates.cache_read / 1_000_000),
                "litellm_provider": "anthropic",
                "mode": "chat",
            }
    return tokencost


def tokencost_run(tokencost: ModuleType) -> Callable[[Sequence[Event]], object]:
    """Three calls per event: input, output and cache reads (tokencost has no cache writes)."""

    def run(events: Sequence[Event]) -> None:
        by_tokens = tokencost.calculate_cost_by_tokens
        for model, usage, _at in events:
            by_tokens(usage.input_tokens, model, "input")
            by_tokens(usage.output_tokens, model, "output")
            by_tokens(usage.cache_read_tokens, model, "cached")

    return run


# --- correctness ---------------------------------------------------------------------------


class Comparison(NamedTuple):
    events: int
    max_diff: Decimal
    exact_total: Decimal
    litellm_total: Decimal


def compare(litellm: ModuleType, table: PriceTable, events: Sequence[Event]) -> Comparison:
    """usagebill's exact cost against the exact value of LiteLLM's float, event by event."""
    max_diff = exact_total = litellm_total = Decimal(0)
    for model, usage, at in events:
        exact = table.cost(model, usage, at).amount
        approx = Decimal(litellm_cost(litellm, model, usage))  # the float's exact value
        max_diff = max(max_diff, abs(approx - exact))
        exact_total += exact
        litellm_total += approx
    return Comparison(len(events), max_diff, exact_total, litellm_total)


def check_litellm(litellm: ModuleType, table: PriceTable, events: Sequence[Event]) -> None:
    """Print how far LiteLLM's costs are from usagebill's exact ones on ``events``."""
    plain = [event for event in events if not event.usage.cache_write_1h_tokens]
    one_hour = [event for event in events if event.usage.cache_write_1h_tokens]
    print(f"\nCorrectness against LiteLLM, on the {len(events):,} events of the sample:")
    for label, group in (
        ("without 1-hour cache writes", plain),
        ("with 1-hour cache writes (LiteLLM prices them at the 5-minute rate)", one_hour),
    ):
        if not group:
            continue
        result = compare(litellm, table, group)
        print(
            f"  {result.events:,} events {label}:\n"
            f"    max |LiteLLM - exact| per event {result.max_diff:.3g} USD; "
            f"total exact {result.exact_total:.6f}, LiteLLM {result.litellm_total:.6f} "
            f"(LiteLLM - exact = {result.litellm_total - result.exact_total:+.3g} USD)"
        )


# --- report --------------------------------------------------------------------------------


def show(timings: list[Timing]) -> None:
    """Print each timing and, for a competitor, how many times faster usagebill is."""
    cost, amount = timings[0], timings[1]
    print(f"\n{'':32}{'µs/event':>10}{'events/s':>13}{'vs cost()':>12}{'vs amount()':>13}")
    for timing in timings:
        line = f"{timing.name:32}{timing.us_per_event:>10.2f}{timing.events_per_second:>13,.0f}"
        if timing.sampled:
            line += (
                f"{timing.us_per_event / cost.us_per_event:>11.1f}x"
                f"{timing.us_per_event / amount.us_per_event:>12.1f}x"
            )
        print(line)
    sampled = [timing for timing in timings if timing.sampled]
    if sampled:
        print(
            f"Competitors ran on a sample of {sampled[0].events:,} events; "
            "their per-event figures are extrapolated.\n"
            "vs: how many times faster usagebill is (competitor µs / usagebill µs; "
            "below 1x, usagebill is slower)."
        )


def profile(table: PriceTable, events: Sequence[Event]) -> None:
    """Print where ``cost()`` spends its time (cProfile inflates every call alike)."""
    run = usagebill_cost(table)
    run(events[:WARMUP_EVENTS])
    profiler = cProfile.Profile()
    profiler.runcall(run, events)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=None, help="usages to rate (1,000,000)")
    parser.add_argument(
        "--sample", type=int, default=None, help="events for each competitor (20,000)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 events, sample 5,000")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; best counts")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the usages")
    parser.add_argument("--profile", action="store_true", help="profile cost() instead")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.sample is None:
        args.sample = QUICK_SAMPLE if args.quick else DEFAULT_SAMPLE
    args.sample = min(args.sample, args.events)
    return args


def time_usagebill(table: PriceTable, events: Sequence[Event], repeats: int) -> list[Timing]:
    """Time the public API, ``cost()``, and the hot path, ``amount()``, on every event."""
    runs = {
        "usagebill cost() -> Money": usagebill_cost(table),
        "usagebill amount() -> Decimal": usagebill_amount(table),
    }
    return [
        Timing(name, len(events), best_time(run, events, repeats), sampled=False)
        for name, run in runs.items()
    ]


def time_competitors(
    table: PriceTable, sample: Sequence[Event], repeats: int
) -> tuple[list[Timing], ModuleType | None]:
    """Time LiteLLM and tokencost on ``sample``, skipping any that is not installed."""
    timings = []
    litellm = load_litellm()
    if litellm is None:
        print("LiteLLM: not installed, skipped (pip install -r benchmarks/requirements.txt)")
    else:
        seconds = best_time(litellm_run(litellm), sample, repeats)
        timings.append(Timing("LiteLLM cost_per_token()", len(sample), seconds, sampled=True))
    tokencost = load_tokencost(table, MONTH_START)
    if tokencost is None:
        print("tokencost: not installed, skipped (pip install -r benchmarks/requirements.txt)")
    else:
        seconds = best_time(tokencost_run(tokencost), sample, repeats)
        timings.append(Timing("tokencost, 3 calls", len(sample), seconds, sampled=True))
    return timings, litellm


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    table = PriceTable.builtin()
    start = time.perf_counter()
    events = make_events(args.events, args.seed)
    print(
        f"{args.events:,} usages (seed {args.seed}, made in {time.perf_counter() - start:.1f} s); "
        f"best of {args.repeats} passes; competitors on a sample: the first {args.sample:,}."
    )
    if args.profile:
        profile(table, events[:QUICK_EVENTS])
        return
    timings = time_usagebill(table, events, args.repeats)
    sample = events[: args.sample]
    competitors, litellm = time_competitors(table, sample, args.repeats)
    show(timings + competitors)
    if litellm is not None:
        check_litellm(litellm, table, sample)


if __name__ == "__main__":
    main()
