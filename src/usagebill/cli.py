"""The ``usagebill`` command: monthly invoices and the price table, from the shell.

    usagebill invoice --org ORG.toml --events USAGE.jsonl --period 2026-10 [--format text]
    usagebill invoice --org ORG.toml --events 'usage/*.parquet' --period 2026-10 --engine duckdb
    usagebill invoice --org ORG.toml --ledger sqlite:///ledger.db --period 2026-10
    usagebill prices [--at 2026-10-15] [--model claude-opus-4-6] [--format text|json]
    usagebill cost --model claude-sonnet-4-6 --input 2000 --output 500 [--at ...] [--batch]
    usagebill whatif --org ORG.toml --scenario SCENARIO.toml --events USAGE.jsonl --period 2026-10
    usagebill forecast --org ORG.toml --events USAGE.jsonl --period 2026-10 --as-of 2026-10-15

Errors in the input stop the command with exit status 2 and a message naming
the file, the line and the rule (``--skip-invalid`` skips bad event lines and
counts them instead). This module and the ledgers are the only places that
read files or clocks.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import attrs

from usagebill._checks import MAX_COUNT, TOO_MANY, check_non_negative_int, local_instant
from usagebill._version import __version__
from usagebill.accounts.organization import Organization
from usagebill.analysis.forecast import forecast
from usagebill.analysis.whatif import Scenario, whatif, whatif_cube
from usagebill.billing.cube import UsageCube
from usagebill.billing.engines.python import CubeBuilder, Outside
from usagebill.billing.focus import DailyUsage, to_focus_csv
from usagebill.billing.invoice import Invoice, price_cube
from usagebill.errors import (
    ConflictError,
    LoadError,
    UnknownModelError,
    UsageBillError,
    short_repr,
)
from usagebill.events import UsageEvent
from usagebill.io.event_files import STDIN, expand, read_events
from usagebill.periods import BillingPeriod, zone
from usagebill.pricing.prices import (
    BATCH_MULTIPLIER,
    Figure,
    ModelListing,
    PriceTable,
    Provenance,
)
from usagebill.serde import to_json, unstructure
from usagebill.usage import Modifiers, TokenUsage

if TYPE_CHECKING:
    from usagebill.ledger import Ledger

__all__ = ["main", "run"]

_PROGRESS_EVERY: Final = 100_000
_COUNT_DIGITS: Final = len(str(MAX_COUNT))
_STRICT_HELP: Final = "stop (exit 2) if the events files hold no event at all"
_EVENTS_HELP: Final = (
    "usage events: a file or a glob (.jsonl, .jsonl.gz, .parquet, .csv; '-': stdin)"
)


class _InputError(Exception):
    """A bad line of an input file: where it is and what is wrong."""


def _prices(path: str | None) -> PriceTable:
    return PriceTable.builtin() if path is None else PriceTable.from_file(path)


def _each_record(
    args: argparse.Namespace,
    files: Sequence[str],
    add: Callable[[dict[str, Any]], object],
    err: IO[str],
) -> int:
    """Pass every event record of ``files`` to ``add``; return how many bad lines were skipped.

    A bad line stops the command naming its ``file:line`` (or, with ``--skip-invalid``,
    is named on stderr and counted). On a terminal, progress goes to stderr. No event
    at all is a warning (an error with ``--strict``).
    """
    skipped = 0
    progress = err.isatty()
    number = 0
    for number, line in enumerate(read_events(files), start=1):
        try:
            if line.error is not None:
                raise line.error
            add(line.record)  # type: ignore[arg-type]  # no error: a record
        except UsageBillError as error:
            reason = f"{line.where}: {_message(error, args.prices)}"
            if not args.skip_invalid:
                raise _InputError(reason) from None
            skipped += 1
            print(f"skipped {reason}", file=err)
        if progress and number % _PROGRESS_EVERY == 0:
            print(f"\r{number:,} lines read", end="", file=err, flush=True)
    if progress and number >= _PROGRESS_EVERY:
        print(f"\r{number:,} lines read", file=err)
    if number == 0:
        _no_events(args, files, err)
    return skipped


def _no_events(args: argparse.Namespace, files: Sequence[str], err: IO[str]) -> None:
    """An empty events file is most likely the wrong file: say so (``--strict``: stop)."""
    names = ", ".join(files[:3]) + (f" and {len(files) - 3:,} more" if len(files) > 3 else "")
    message = f"no usage events in {names}"
    if args.strict:
        raise _InputError(f"{message} (--strict)")
    print(f"usagebill: warning: {message}: usage counts as zero", file=err)


def _read_events(args: argparse.Namespace, builder: CubeBuilder, err: IO[str]) -> int:
    """Feed every event of the events files to ``builder``; return how many were skipped."""
    files = expand(args.events)
    skipped = _each_record(args, files, builder.add_record, err)
    if builder.pending:  # conflicts: a second pass takes their counted versions back out
        if STDIN in files:
            raise _InputError("conflicting event ids in standard input: read them from a file")
        builder.resolve_records(
            line.record
            for line in read_events(files)
            if line.record is not None and line.record.get("event_id") in builder.pending
        )
    return skipped


def _cube(
    args: argparse.Namespace,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    err: IO[str],
) -> tuple[UsageCube, int]:
    """The usage cube of the events, by the engine asked for; and how many lines were skipped."""
    if (args.events is None) == (args.ledger is None):
        raise _InputError("give the usage as --events or --ledger (one of them)")
    if args.ledger is not None:
        with contextlib.closing(_open_ledger(args.ledger, org, prices)) as ledger:
            return ledger.cube(period), 0
    if args.engine == "python":
        builder = CubeBuilder(org, period, prices, outside=_outside(args))
        skipped = _read_events(args, builder, err)
        return builder.cube(), skipped
    return _table_engine_cube(args, org, period, prices, err), 0


def _outside(args: argparse.Namespace) -> Outside:
    return "reject" if args.reject_outside else "exclude"


def _table_engine_cube(
    args: argparse.Namespace,
    org: Organization,
    period: BillingPeriod,
    prices: PriceTable,
    err: IO[str],
) -> UsageCube:
    """The usage cube of the events files by DuckDB or Dask (``--engine``)."""
    outside = _outside(args)
    try:
        engine = importlib.import_module(f"usagebill.billing.engines.{args.engine}")
    except ModuleNotFoundError as missing:
        raise _InputError(
            f"--engine {args.engine} needs {missing.name}: pip install 'usagebill[{args.engine}]'"
        ) from None
    options = {"memory_limit": args.memory_limit} if args.engine == "duckdb" else {}
    if args.engine == "dask":
        options = {"scheduler": args.scheduler}
    files = expand(args.events)
    if STDIN in files:
        raise _InputError(f"--engine {args.engine} reads files, not standard input")
    if err.isatty():
        print(f"summing {len(files):,} files with {args.engine}…", end="", file=err, flush=True)
    started = time.monotonic()
    try:
        cube: UsageCube = engine.cube(files, org, period, prices, outside=outside, **options)
    except LoadError:
        raise  # it names the file, and the line if there is one
    except UsageBillError:
        # A table engine refuses an event as the pure engine does, but cannot say on which
        # line; the pure engine, reading line by line, can: its error names file:line.
        _read_events(args, CubeBuilder(org, period, prices, outside=outside), err)
        raise
    if err.isatty():
        print(f" {cube.events:,} events billed in {time.monotonic() - started:.1f} s", file=err)
    if not (cube.events or cube.duplicates or cube.excluded or cube.conflicting):
        _no_events(args, files, err)
    return cube


def _open_ledger(url: str, org: Organization, prices: PriceTable) -> Ledger:
    """The ledger at ``sqlite:///PATH`` (an existing file) or ``postgresql://…``."""
    from usagebill.ledger import SqliteLedger  # noqa: PLC0415  (only this source needs it)

    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not Path(path).is_file():
            raise _InputError(f"--ledger {url}: no such SQLite file")
        return SqliteLedger(path, org, prices)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from usagebill.ledger.postgres import PostgresLedger  # noqa: PLC0415
        except ImportError:
            raise _InputError("--ledger postgresql://… needs usagebill[postgres]") from None
        return PostgresLedger(url, org, prices)
    raise _InputError(f"--ledger {url}: must be sqlite:///PATH or postgresql://…")


def _invoice(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    org = Organization.from_file(args.org)
    period = BillingPeriod.of(args.period, anchor_day=org.billing_anchor_day, timezone=org.timezone)
    prices = _prices(args.prices)
    cube, skipped = _cube(args, org, period, prices, err)
    # Conflicting ids are bad input too: --skip-invalid bills the rest and lists them.
    try:
        invoice = price_cube(
            cube,
            org,
            prices,
            conflicts="set_aside" if args.skip_invalid else "raise",
            issued_on=None if args.issued_on is None else _date(args.issued_on, "--issued-on"),
            purchase_order=args.purchase_order,
        )
    except ConflictError as error:
        raise _conflict(error, [] if args.events is None else expand(args.events)) from None
    if args.format == "focus":  # the daily rows: a second, pure pass over the same events
        days = DailyUsage(org, period, prices, skip=cube.conflicts)
        if args.ledger is not None:
            with contextlib.closing(_open_ledger(args.ledger, org, prices)) as ledger:
                days.add_all(ledger.events(period))
        for line in read_events(expand(args.events)) if args.events is not None else ():
            with contextlib.suppress(UsageBillError, TypeError):  # skipped by the first pass
                days.add_record(line.record)  # type: ignore[arg-type]  # None: refused above
        out.write(to_focus_csv(invoice, days.cubes()))
    else:
        out.write(_render(invoice, args.format))
    if skipped:
        print(f"{skipped:,} invalid lines skipped", file=err)
    if cube.conflicts:
        shown = sorted(cube.conflicts)[:20]
        files = [] if args.events is None else expand(args.events)
        places = _conflicting_lines(files, shown)
        ids = ", ".join(
            short_repr(id_) + (f" ({', '.join(places[id_])})" if id_ in places else "")
            for id_ in shown
        )
        more = f" and {len(cube.conflicts) - 20:,} more" if len(cube.conflicts) > 20 else ""
        print(
            f"{len(cube.conflicts):,} conflicting event ids ({cube.conflicting:,} events) not "
            f"billed: {ids}{more}",
            file=err,
        )
    return 0


def _conflicting_lines(files: Sequence[str], ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Where each of ``ids`` was first read, and where it was read with other content."""
    if STDIN in files:  # read once, gone
        return {}
    wanted, first, found = set(ids), {}, {}
    for line in read_events(files):
        event_id = None if line.record is None else line.record.get("event_id")
        if event_id not in wanted or event_id in found:
            continue
        try:
            event = UsageEvent.from_dict(line.record)
        except UsageBillError:
            continue
        if event_id not in first:
            first[event_id] = (line.where, event)
        elif first[event_id][1] != event:
            found[event_id] = (first[event_id][0], line.where)
    return found


def _conflict(error: ConflictError, files: Sequence[str]) -> _InputError | ConflictError:
    """A conflict named by the lines of its first id: where it was read, and read otherwise."""
    value = error.value  # one id (deduplication), or the sorted ids of a cube
    ids = sorted(map(str, value)) if isinstance(value, (list, tuple, frozenset)) else [str(value)]
    places = _conflicting_lines(files, ids[:1])
    if not ids or ids[0] not in places:
        return error
    first, other = places[ids[0]]
    more = f" ({len(ids) - 1:,} more such ids)" if len(ids) > 1 else ""
    return _InputError(
        f"{other}: event_id {short_repr(ids[0])} was read at {first} with other content: "
        f"neither is billed until the source is corrected (--skip-invalid bills the rest){more}"
    )


def _render(invoice: Invoice, fmt: str) -> str:
    if fmt == "json":
        return to_json(invoice, indent=1) + "\n"
    if fmt == "csv":
        return invoice.to_csv()
    if fmt == "md":
        return invoice.to_markdown()
    if fmt in ("html", "html-letter"):
        return invoice.to_html(paper="Letter" if fmt == "html-letter" else "A4")
    return invoice.to_text()


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _InputError(
            f"{option} must be a date written YYYY-MM-DD (got {short_repr(text)})"
        ) from None


def _instant(text: str | None) -> datetime:
    """``--at``: now by default; a date or a datetime without offset is UTC."""
    return datetime.now(UTC) if text is None else local_instant(text, "--at", UTC)


def _list_prices(args: argparse.Namespace, out: IO[str], _err: IO[str]) -> int:
    table = _prices(args.prices)
    at = _instant(args.at)
    if args.model is not None:
        out.write(_provenance(table, table.provenance(args.model, at), at, args.format))
        return 0
    if args.format == "json":
        out.write(json.dumps(table.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return 0
    out.write(
        f"Price table {table.version} ({table.currency} per million tokens), at {at:%Y-%m-%d}\n"
    )
    out.write(f"Source: {table.source}\n")
    out.write("Each row's own source and figures: usagebill prices --model ID [--at DATE]\n\n")
    header = (
        f"{'model':<28}{'input':>8}{'output':>8}{'write5m':>9}{'write1h':>9}{'read':>7}"
        f"  {'as of':<10}  notes"
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    for model_id, listing in table.models.items():
        try:
            position = listing.version_at(at)
        except UsageBillError:
            continue
        price = listing.prices[position]
        rates = price.rates
        notes = _notes(listing, position)
        line = (
            f"{model_id:<28}{rates.input:>8}{rates.output:>8}{rates.cache_write_5m:>9}"
            f"{rates.cache_write_1h:>9}{rates.cache_read:>7}  {price.as_of:<10}  {'; '.join(notes)}"
        )
        out.write(line.rstrip() + "\n")
    return 0


def _notes(listing: ModelListing, position: int) -> list[str]:
    """What the one-line listing of a model's price says besides its base rates."""
    price = listing.prices[position]
    notes = []
    if len(listing.prices) > 1:
        until = listing.effective_until(position)
        notes.append(
            f"version {position + 1} of {len(listing.prices)}"
            + ("" if until is None else f" until {until:%Y-%m-%d}")
        )
    if listing.retired is not None:
        notes.append(f"retired {listing.retired}")
    if price.long_context is not None:
        notes.append(f"tier > {price.long_context.above_prompt_tokens:,}")
    if price.fast is not None:
        tier = price.fast_long_context
        notes.append(
            "fast mode" + ("" if tier is None else f" (tier > {tier.above_prompt_tokens:,})")
        )
    if price.derived:
        notes.append(f"{len(price.derived)} derived")
    if not price.confidence.startswith("high"):
        notes.append(f"confidence: {price.confidence.split(':')[0]}")
    return notes


def _provenance(table: PriceTable, where: Provenance, at: datetime, fmt: str) -> str:
    """One model's price at ``at``: the version, where it comes from, every figure."""
    if fmt == "json":
        data = unstructure(where)
        del data["price"]  # its figures are listed, each with how it was obtained
        for figure, shown in zip(where.figures, data["figures"], strict=True):
            shown["listed"] = figure.listed
        return json.dumps({"at": at.isoformat(), "table": table.version, **data}, indent=1) + "\n"
    start = "the model's release" if where.effective_from is None else f"{where.effective_from}"
    end = "now (still in force)" if where.effective_until is None else f"{where.effective_until}"
    lines = [
        f"{where.model} ({where.display_name}) at {at}, table {table.version}",
        f"Price version {where.version} of {where.versions}: from {start} until {end}",
        f"Source: {where.source}",
        f"As of: {where.as_of}",
        f"Confidence: {where.confidence}",
    ]
    if where.notes:
        lines.append(f"Notes: {where.notes}")
    lines += ["", f"{table.currency} per million tokens; * derived, not printed by the price list"]
    lines.append(
        f"{'mode':<10}{'prompt tokens':<16}{'input':>9}{'output':>9}{'write5m':>9}"
        f"{'write1h':>9}{'read':>9}"
    )
    rows: dict[tuple[str, int | None], list[Figure]] = {}
    for figure in where.figures:
        rows.setdefault((figure.mode, figure.above_prompt_tokens), []).append(figure)
    for (mode, above), figures in rows.items():
        tier = _tier_span(mode, above, rows)
        cells = "".join(f"{f'{f.rate}' + ('' if f.listed else '*'):>9}" for f in figures)
        lines.append(f"{mode:<10}{tier:<16}{cells}")
    derived = [f for f in where.figures if f.derivation is not None]
    if derived:
        lines += ["", "Derived figures:"]
        lines += [f"  {f.name} = {f.derivation.describe()}" for f in derived if f.derivation]
    price = where.price
    extras = [f"batch x{BATCH_MULTIPLIER} on every token rate"]
    if price.us_only_multiplier is not None:
        extras.append(f"US-only inference x{price.us_only_multiplier}")
    if price.web_search_per_1k is not None:
        extras.append(f"web search {price.web_search_per_1k} per 1,000 searches")
    lines += ["", "Modifiers: " + "; ".join(extras)]
    return "\n".join(lines) + "\n"


def _tier_span(mode: str, above: int | None, rows: Mapping[tuple[str, int | None], object]) -> str:
    """'over N' for a tier; for base rates 'up to N' if the mode has a tier, else 'any'."""
    if above is not None:
        return f"over {above:,}"
    tiers = [threshold for (kind, threshold) in rows if kind == mode and threshold is not None]
    return f"up to {tiers[0]:,}" if tiers else "any"


def _count(text: str, option: str) -> int:
    """A count option: digits 0-9 only (int() also reads other scripts' digits, ' 5', '1_000')."""
    if not (text.isascii() and text.removeprefix("-").isdigit()):
        raise _InputError(f"{option} must be a count in digits 0-9 (got {short_repr(text)})")
    if len(text) > _COUNT_DIGITS:  # before int(): Python refuses to read 4,300 digits and more
        raise _InputError(f"{option} {TOO_MANY} (got {len(text):,} digits)")
    return check_non_negative_int(int(text), option)


def _cost(args: argparse.Namespace, out: IO[str], _err: IO[str]) -> int:
    table = _prices(args.prices)
    usage = TokenUsage(
        input_tokens=_count(args.input, "--input"),
        output_tokens=_count(args.output, "--output"),
        cache_write_5m_tokens=_count(args.cache_write_5m, "--cache-write-5m"),
        cache_write_1h_tokens=_count(args.cache_write_1h, "--cache-write-1h"),
        cache_read_tokens=_count(args.cache_read, "--cache-read"),
        web_search_requests=_count(args.web_searches, "--web-searches"),
    )
    modifiers = Modifiers(batch=args.batch, us_only=args.us_only, fast=args.fast)
    at = _instant(args.at)
    quote = table.quote(args.model, usage, at, modifiers)
    rates = attrs.asdict(quote.rates)
    listing = table.models[quote.model]
    notes = []
    if len(listing.prices) > 1:  # which dated price applied, as invoice lines name it
        version = f"price version {listing.version_at(at) + 1} of {len(listing.prices)}"
        start = quote.price.effective_from
        notes.append(version if start is None else f"{version}, from {start:%Y-%m-%d}")
    if quote.in_tier:
        notes.append("long-context tier")
    shown = f" ({', '.join(notes)})" if notes else ""
    out.write(f"{quote.model} at {table.version}{shown}\n")
    out.write("rates per million tokens: " + ", ".join(f"{k} {v}" for k, v in rates.items()) + "\n")
    out.write(f"cost: {quote.amount} (shown: {quote.amount.rounded()})\n")
    return 0


def _usage_events(args: argparse.Namespace, err: IO[str]) -> list[UsageEvent]:
    """Every event of the events files (bad lines stop the command, or are skipped)."""
    events: list[UsageEvent] = []
    _each_record(
        args, expand(args.events), lambda record: events.append(UsageEvent.from_dict(record)), err
    )
    return events


def _progress(err: IO[str], message: str) -> None:
    """Say on a terminal what a long step is doing (never into a file or a pipe)."""
    if err.isatty():
        print(message, file=err, flush=True)


def _message(error: UsageBillError, prices: str | None = None) -> str:
    """The error as the shell user reads it: hints that name a Python API name the command."""
    if isinstance(error, UnknownModelError) and not error.suggestions:
        listing = "usagebill prices" + ("" if prices is None else f" --prices {prices}")
        return f"unknown model {short_repr(error.name)}; see {listing}"
    return str(error)


def _located(
    error: UsageBillError,
    args: argparse.Namespace,
    checks: tuple[Organization, BillingPeriod, PriceTable],
    scenario: str | None = None,
) -> _InputError | UsageBillError:
    """An error found in one event of many (a replay, a forecast), with the event's ``file:line``.

    Only on this path are the events read again: to find the event the error
    names; else through the invoice's checks (member, model, modifiers, price),
    which stop at the first bad line; else, for a model the ``scenario``'s prices
    lack, to find the first event of that model. Reading them the first time
    keeps no line number per event.
    """
    message = _message(error, args.prices)
    if scenario is not None and isinstance(error, UnknownModelError):
        message = f"model {short_repr(error.name)} is not in the price table of scenario {scenario}"
    files = expand(args.events)
    if STDIN in files:
        if error.event_id is None:
            return error
        return _InputError(f"event {short_repr(error.event_id)}: {message}")
    if error.event_id is not None:
        where = _first_line(files, lambda record: record.get("event_id") == error.event_id)
        if where is not None:
            return _InputError(f"{where}: {message}")
    refused = _first_refused(files, CubeBuilder(*checks))
    if refused is not None:  # an event the organization or the prices refuse: as invoice says it
        return _InputError(f"{refused[0]}: {_message(refused[1], args.prices)}")
    if scenario is not None and isinstance(error, UnknownModelError):
        where = _first_line(files, lambda record: _model_of(record, checks[2]) == error.name)
        if where is not None:
            return _InputError(f"{where}: {message}")
    # Every event passed the invoice's checks: what failed is what the scenario changed.
    return _InputError(message if scenario is None else f"{scenario}: {message}")


def _first_refused(files: Sequence[str], builder: CubeBuilder) -> tuple[str, UsageBillError] | None:
    """The first event that reads as an event but that the invoice's checks refuse, and why."""
    for line in read_events(files):
        if line.record is None:
            continue
        try:
            UsageEvent.from_dict(line.record)
        except UsageBillError:
            continue  # refused (or skipped) when first read: not what failed later
        try:
            builder.add_record(line.record)
        except UsageBillError as refused:
            return line.where, refused
    return None


def _model_of(record: Mapping[str, Any], prices: PriceTable) -> str | None:
    """The canonical id of a record's model, or None."""
    model = record.get("model")
    try:
        return prices.resolve(model) if isinstance(model, str) else None
    except UsageBillError:
        return None


def _first_line(files: Sequence[str], wanted: Callable[[dict[str, Any]], bool]) -> str | None:
    """Where the first event record of ``files`` that is ``wanted`` was read."""
    return next(
        (
            line.where
            for line in read_events(files)
            if line.record is not None and wanted(line.record)
        ),
        None,
    )


def _whatif(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    org = Organization.from_file(args.org)
    period = BillingPeriod.of(args.period, anchor_day=org.billing_anchor_day, timezone=org.timezone)
    scenario = Scenario.from_file(args.scenario, currency=org.currency)
    prices = _prices(args.prices)
    try:  # a member or seat type the organization lacks: named with the scenario file
        scenario.apply(org, prices)
    except UsageBillError as error:
        raise _InputError(f"{args.scenario}: {_message(error)}") from None
    # A scenario that only re-prices or moves seats re-prices the month's usage cube (issue 12):
    # the events are read once, into the cube, and read again only if it cannot answer exactly.
    result, again = None, err
    try:
        if not scenario.needs_events and STDIN not in expand(args.events):
            builder = CubeBuilder(org, period, prices)
            _read_events(args, builder, err)
            result = whatif_cube(org, builder.cube(), scenario, prices)
            again = io.StringIO()  # a second read says nothing more about lines it skips
        if result is None:
            events = _usage_events(args, again)
            _progress(err, f"re-billing {len(events):,} events under the scenario…")
            result = whatif(org, events, period, scenario, prices)
    except ConflictError as error:  # two lines, not one event: both named
        raise _conflict(error, expand(args.events)) from None
    except UsageBillError as error:
        raise _located(error, args, (org, period, prices), args.scenario) from None
    out.write(result.to_markdown() if args.format == "md" else result.to_text())
    return 0


def _forecast(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    org = Organization.from_file(args.org)
    period = BillingPeriod.of(args.period, anchor_day=org.billing_anchor_day, timezone=org.timezone)
    # A date or a datetime without offset is the organization's local time.
    as_of = local_instant(args.as_of, "--as-of", zone(org.timezone))
    prices = _prices(args.prices)
    events = _usage_events(args, err)
    _progress(err, f"forecasting from {len(events):,} events…")
    try:
        result = forecast(org, events, period, as_of, prices)
    except ConflictError as error:  # two lines, not one event: both named
        raise _conflict(error, expand(args.events)) from None
    except UsageBillError as error:
        raise _located(error, args, (org, period, prices)) from None
    out.write(result.to_text())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usagebill",
        description="Exact usage-based billing for seat-based AI products.",
        epilog="Bad input stops a command with exit status 2 and a message naming the file, "
        "the line and the rule (see docs/errors.md).",
    )
    parser.add_argument("--version", action="version", version=f"usagebill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )

    invoice = command("invoice", "the monthly invoice of an organization")
    invoice.add_argument("--org", required=True, help="the organization file (TOML)")
    invoice.add_argument("--events", help=_EVENTS_HELP)
    invoice.add_argument(
        "--ledger",
        help="bill what a ledger recorded instead of --events: sqlite:///PATH or postgresql://…",
    )
    invoice.add_argument("--period", required=True, help="the month the period starts in, YYYY-MM")
    invoice.add_argument(
        "--format",
        choices=("text", "md", "json", "csv", "html", "html-letter", "focus"),
        default="text",
        help="html: a print-ready page (A4; html-letter: US Letter); focus: FOCUS 1.2 CSV",
    )
    invoice.add_argument(
        "--issued-on", help="the issue date, YYYY-MM-DD (default: the day the period ends)"
    )
    invoice.add_argument("--purchase-order", help="the customer's PO (default: the org file's)")
    invoice.add_argument(
        "--prices", help="a price table file (JSON or TOML) instead of the built-in"
    )
    invoice.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip and count bad event lines; bill the rest of conflicting ids",
    )
    invoice.add_argument(
        "--engine",
        choices=("python", "duckdb", "dask"),
        default="python",
        help="what sums the events: pure Python, DuckDB (usagebill[duckdb]) or Dask",
    )
    invoice.add_argument("--scheduler", help="a Dask scheduler's address (--engine dask)")
    invoice.add_argument("--memory-limit", help="DuckDB's memory limit, e.g. 1GB; it spills past")
    invoice.add_argument(
        "--reject-outside", action="store_true", help="stop at an event outside the period"
    )
    invoice.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    invoice.set_defaults(run=_invoice)

    prices = command("prices", "list the price table in force, with its source")
    prices.add_argument("--prices", help="a price table file instead of the built-in")
    prices.add_argument("--at", help="the date to show prices for (default: now)")
    prices.add_argument(
        "--model", help="one model's price in full: its version, source and every figure"
    )
    prices.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or JSON"
    )
    prices.set_defaults(run=_list_prices)

    cost = command("cost", "the exact cost of one request")
    cost.add_argument(
        "--model", required=True, help="the model id or alias (see: usagebill prices)"
    )
    for name in ("input", "output", "cache-write-5m", "cache-write-1h", "cache-read"):
        cost.add_argument(f"--{name}", default="0", help=f"{name} tokens")
    cost.add_argument("--web-searches", default="0", help="web search requests")
    cost.add_argument("--batch", action="store_true", help="a Message Batches request (half price)")
    cost.add_argument("--us-only", action="store_true", help="US-only inference")
    cost.add_argument("--fast", action="store_true", help="fast mode, where the model offers it")
    cost.add_argument("--at", help="when the request ran (default: now)")
    cost.add_argument("--prices", help="a price table file instead of the built-in")
    cost.set_defaults(run=_cost)

    what = command("whatif", "re-bill a period under a scenario; print the diff")
    ahead = command("forecast", "project a period's spend and its caps' dates")
    for each in (what, ahead):
        each.add_argument("--org", required=True, help="the organization file (TOML)")
        each.add_argument("--events", required=True, help=_EVENTS_HELP)
        each.add_argument("--period", required=True, help="the period's month, YYYY-MM")
        each.add_argument("--prices", help="a price table file instead of the built-in")
        each.add_argument("--skip-invalid", action="store_true", help="skip bad event lines")
        each.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    what.add_argument("--scenario", required=True, help="the scenario file (TOML)")
    what.add_argument(
        "--format", choices=("text", "md"), default="text", help="text (default) or Markdown"
    )
    what.set_defaults(run=_whatif)
    ahead.add_argument(
        "--as-of", required=True, help="forecast from this date (local midnight) or datetime"
    )
    ahead.set_defaults(run=_forecast)
    return parser


def main(
    argv: Sequence[str] | None = None, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args, out, err))
    except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing more to say
        return 0
    except UsageBillError as error:
        print(f"usagebill: error: {_message(error, getattr(args, 'prices', None))}", file=err)
        return 2
    except (_InputError, OSError) as error:
        print(f"usagebill: error: {error}", file=err)
        return 2


def run() -> None:  # pragma: no cover  (the console script: exits with main's status)
    """Entry point of the ``usagebill`` console script."""
    sys.exit(main())
