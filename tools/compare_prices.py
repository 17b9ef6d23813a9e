"""Compare the built-in price table with the public datasets: genai-prices and LiteLLM.

Both ship their price data inside their packages, so nothing here uses the
network. Install them (never dependencies of usagebill) beside usagebill in a
separate virtual environment, then run from the repository root:

    python3 -m venv .venv-compare
    .venv-compare/bin/pip install -e . -r tools/requirements.txt
    .venv-compare/bin/python tools/compare_prices.py            # every disagreement
    .venv-compare/bin/python tools/compare_prices.py --summary  # the counts only

For every Claude model both sides know, it walks the date ranges between the
price changes of either side and compares each figure: per mode (standard,
batch, fast, US-only), per context tier, per token category, and the web-search
rate. It prints each disagreement as model x category x date range, with ours,
theirs and the reason, then counts per dataset and per reason. A reason is one
of the rows of the "where we differ, and why" table of docs/prices.md; a
disagreement that matches none is UNEXPLAINED, and the exit status is then 1.

genai-prices (pydantic) is read through its own model lookup, at each instant,
with the request contexts it knows ({"processing": "batch"}, {"speed": "fast"}).
LiteLLM's bundled JSON (model_prices_and_context_window_backup.json) has no
dates: its one price stands for every instant, which is how LiteLLM uses it.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from usagebill.pricing.prices import BATCH_MULTIPLIER, PriceTable

CATEGORIES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
UNEXPLAINED = "UNEXPLAINED"


@dataclass(frozen=True)
class Key:
    """One figure: a mode (standard, batch, fast, us-only), a tier (None: base), a category."""

    mode: str
    tier: int | None
    category: str

    def order(self) -> tuple[str, int, str]:
        """Sort by mode, then base rates before tiers, then category."""
        return (self.mode, self.tier or 0, self.category)

    def __str__(self) -> str:
        tier = "" if self.tier is None else f" >{self.tier:,}"
        return f"{self.mode}{tier} {self.category}"


Figures = dict[Key, Decimal]


@dataclass(frozen=True)
class Disagreement:
    """One figure of one model that differs over a date range (None: open-ended)."""

    dataset: str
    model: str
    theirs_id: str
    key: Key | None  # None: the whole model is missing on one side
    start: datetime | None
    end: datetime | None
    ours: Decimal | None
    theirs: Decimal | None
    reason: str = UNEXPLAINED


class Dataset(Protocol):
    """A public price dataset, seen as figures per model and instant."""

    name: str

    def model_ids(self) -> list[str]:
        """Every Claude model id the dataset prices."""
        ...

    def match(self, names: Sequence[str]) -> list[str]:
        """The dataset's ids for one of our models, known by ``names`` (id first, then aliases)."""
        ...

    def changes(self, model_id: str) -> list[datetime]:
        """The instants at which the dataset's prices of ``model_id`` change."""
        ...

    def figures(self, model_id: str, at: datetime) -> Figures:
        """Every figure the dataset has for ``model_id`` at ``at``, per million tokens."""
        ...


# --- usagebill's own table ------------------------------------------------------------------------


def our_figures(table: PriceTable, model_id: str, at: datetime) -> Figures:
    """Every figure the built-in table bills for ``model_id`` at ``at``."""
    price = table.price(model_id, at)
    figures: Figures = {}
    parts = [("standard", price.rates, price.long_context)]
    if price.fast is not None:
        parts.append(("fast", price.fast, price.fast_long_context))
    for mode, rates, tier in parts:
        for category in CATEGORIES:
            figures[Key(mode, None, category)] = getattr(rates, category)
            if tier is not None:
                key = Key(mode, tier.above_prompt_tokens, category)
                figures[key] = getattr(tier.rates, category)
    for key, value in list(figures.items()):
        if key.mode == "standard":  # the Batch API halves every token rate, tiers included
            figures[Key("batch", key.tier, key.category)] = value * BATCH_MULTIPLIER
    if price.us_only_multiplier is not None:
        figures[Key("us-only", None, "multiplier")] = price.us_only_multiplier
    if price.web_search_per_1k is not None:
        figures[Key("standard", None, "web_search_per_1k")] = price.web_search_per_1k
    return figures


# --- genai-prices ---------------------------------------------------------------------------------

_GENAI_FIELDS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "cache_read_mtok": "cache_read",
}
_GENAI_MODES = {"batch": {"processing": "batch"}, "fast": {"speed": "fast"}}


class GenaiPrices:
    """pydantic's genai-prices: Decimal prices with start dates, tiers and request variants."""

    def __init__(self) -> None:
        from genai_prices import data_snapshot  # noqa: PLC0415  (an optional tool dependency)

        self.snapshot = data_snapshot.get_snapshot()
        self.provider = next(p for p in self.snapshot.providers if p.id == "anthropic")
        self.models = {model.id: model for model in self.provider.models}
        self.name = f"genai-prices {metadata.version('genai-prices')}"

    def model_ids(self) -> list[str]:
        """The anthropic provider's model ids."""
        return list(self.models)

    def match(self, names: Sequence[str]) -> list[str]:
        """The model genai-prices' own lookup finds for the first name it knows."""
        for name in names:
            try:
                _, model = self.snapshot.find_provider_model(name, None, "anthropic", None)
            except LookupError:
                continue
            return [model.id]
        return []

    def changes(self, model_id: str) -> list[datetime]:
        """The start dates of its prices and request variants, at 00:00 UTC as it applies them."""
        model = self.models[model_id]
        constraints = (
            [price.constraint for price in model.prices] if isinstance(model.prices, list) else []
        )
        constraints += [variant.constraint for variant in model.price_variants or ()]
        return [
            datetime(c.start_date.year, c.start_date.month, c.start_date.day, tzinfo=UTC)
            for c in constraints
            if c is not None and hasattr(c, "start_date")
        ]

    def figures(self, model_id: str, at: datetime) -> Figures:
        """Standard figures, and batch and fast ones where a request variant is active at ``at``."""
        model = self.models[model_id]
        figures = self._mode_figures("standard", model.get_prices(at))
        web_search = model.get_prices(at).web_searches_kcount
        if web_search is not None:
            figures[Key("standard", None, "web_search_per_1k")] = web_search
        for mode, context in _GENAI_MODES.items():
            active = [
                variant
                for variant in model.price_variants or ()
                if variant.when == context
                and (variant.constraint is None or variant.constraint.active(at))
            ]
            if active:  # without a variant the dataset bills the mode at standard rates
                figures |= self._mode_figures(mode, model.get_prices(at, context))
        return figures

    @staticmethod
    def _mode_figures(mode: str, prices: object) -> Figures:
        figures: Figures = {}
        for name, category in _GENAI_FIELDS.items():
            value = getattr(prices, name)
            if value is None:
                continue
            if isinstance(value, Decimal):
                figures[Key(mode, None, category)] = value
                continue
            figures[Key(mode, None, category)] = value.base
            for tier in value.tiers:
                figures[Key(mode, tier.start, category)] = tier.price
        return figures


# --- LiteLLM --------------------------------------------------------------------------------------

_LITELLM_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "cache_read_input_token_cost": "cache_read",
}
_LITELLM_FIELD = re.compile(r"^(?P<base>.+?)(?:_above_(?P<k>\d+)k_tokens)?(?P<batch>_batches)?$")


def _per_million(value: float) -> Decimal:
    """A per-token float as the decimal it was written as, per million tokens."""
    return Decimal(repr(value)).scaleb(6).normalize()


class LiteLLM:
    """LiteLLM's bundled model_prices_and_context_window_backup.json: floats, no dates."""

    FILE = "model_prices_and_context_window_backup.json"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or litellm_data_file()
        if self.path is None:
            message = "litellm is not installed (pip install -r tools/requirements.txt)"
            raise LookupError(message)
        data = json.loads(self.path.read_text("utf-8"))
        self.entries = {
            key: entry
            for key, entry in data.items()
            if isinstance(entry, dict) and entry.get("litellm_provider") == "anthropic"
        }
        self.name = f"LiteLLM {metadata.version('litellm')}"

    def model_ids(self) -> list[str]:
        """The keys whose litellm_provider is anthropic."""
        return list(self.entries)

    def match(self, names: Sequence[str]) -> list[str]:
        """Every key that is one of the names (an id and its dated or short aliases)."""
        return [name for name in names if name in self.entries]

    def changes(self, model_id: str) -> list[datetime]:  # noqa: ARG002  (the same for every model)
        """None: the JSON has no dates."""
        return []

    def figures(self, model_id: str, at: datetime) -> Figures:  # noqa: ARG002  (no dates either)
        """The entry's per-token floats as decimals per million; fast and US-only as multipliers."""
        entry = self.entries[model_id]
        figures: Figures = {}
        for name, value in entry.items():
            match = _LITELLM_FIELD.match(name)
            if match is None or match["base"] not in _LITELLM_FIELDS:
                continue
            tier = None if match["k"] is None else int(match["k"]) * 1_000
            mode = "batch" if match["batch"] else "standard"
            figures[Key(mode, tier, _LITELLM_FIELDS[match["base"]])] = _per_million(value)
        specific = entry.get("provider_specific_entry") or {}
        if "fast" in specific:
            fast = Decimal(repr(specific["fast"]))
            for key, value in list(figures.items()):
                if key.mode == "standard":
                    figures[Key("fast", key.tier, key.category)] = (value * fast).normalize()
        if "us" in specific:
            figures[Key("us-only", None, "multiplier")] = Decimal(repr(specific["us"]))
        search = entry.get("search_context_cost_per_query")
        if search:
            per_query = Decimal(repr(search["search_context_size_medium"]))
            figures[Key("standard", None, "web_search_per_1k")] = (per_query * 1000).normalize()
        return figures


def litellm_data_file() -> Path | None:
    """The JSON bundled in the installed litellm package (found without importing litellm)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / LiteLLM.FILE
    return path if path.exists() else None


# --- the comparison -------------------------------------------------------------------------------


def _instant(start: datetime | None, end: datetime | None) -> datetime:
    """An instant inside [start, end): its start, or just before its end."""
    if start is not None:
        return start
    if end is not None:
        return end - timedelta(microseconds=1)
    return datetime(2026, 12, 1, tzinfo=UTC)  # no change on either side: any instant will do


def _ranges(changes: Iterable[datetime]) -> list[tuple[datetime | None, datetime | None]]:
    points: list[datetime | None] = [None, *sorted(set(changes)), None]
    return list(itertools.pairwise(points))


def compare_model(
    table: PriceTable, dataset: Dataset, model_id: str, theirs_ids: Sequence[str]
) -> tuple[list[Disagreement], int]:
    """Each figure of one model that differs per date range, and how many pairs were checked.

    Adjacent date ranges where the two values stay the same are merged into one.
    """
    listing = table.models[model_id]
    ours_changes = [price.effective_from for price in listing.prices if price.effective_from]
    found: list[Disagreement] = []
    checked = 0
    theirs_changes = [at for theirs in theirs_ids for at in dataset.changes(theirs)]
    for start, end in _ranges([*ours_changes, *theirs_changes]):
        at = _instant(start, end)
        ours = our_figures(table, model_id, at)
        theirs = dataset.figures(theirs_ids[0], at)
        keys = sorted(ours.keys() | theirs.keys(), key=Key.order)
        checked += len(keys)
        for key in keys:
            mine, other = ours.get(key), theirs.get(key)
            if mine is not None and other is not None and mine == other:
                continue
            found.append(
                Disagreement(
                    dataset.name, model_id, ", ".join(theirs_ids), key, start, end, mine, other
                )
            )
    return _merged(found), checked


def _merged(found: list[Disagreement]) -> list[Disagreement]:
    """Adjacent date ranges of the same figure with the same two values become one."""
    result: list[Disagreement] = []

    def order(item: Disagreement) -> tuple[Any, ...]:
        start = item.start or datetime.min.replace(tzinfo=UTC)
        return (item.key.order() if item.key else (), start)

    for item in sorted(found, key=order):
        last = result[-1] if result else None
        if (
            last is not None
            and (last.key, last.ours, last.theirs) == (item.key, item.ours, item.theirs)
            and last.end == item.start
        ):
            result[-1] = replace(last, end=item.end)
        else:
            result.append(item)
    return result


def compare(table: PriceTable, dataset: Dataset) -> tuple[list[Disagreement], int]:
    """Every disagreement with ``table``, each with its reason; and the figures x ranges checked."""
    found: list[Disagreement] = []
    matched: set[str] = set()
    compared = 0
    for model_id, listing in table.models.items():
        theirs_ids = dataset.match([model_id, *listing.aliases])
        if not theirs_ids:
            found.append(Disagreement(dataset.name, model_id, "", None, None, None, None, None))
            continue
        matched.update(theirs_ids)
        for group in _same_figures(dataset, theirs_ids):
            differ, checked = compare_model(table, dataset, model_id, group)
            found += differ
            compared += checked
    for theirs_id in dataset.model_ids():
        if theirs_id not in matched:
            found.append(Disagreement(dataset.name, "", theirs_id, None, None, None, None, None))
    return [explain(d, table, dataset) for d in found], compared


def _same_figures(dataset: Dataset, theirs_ids: Sequence[str]) -> list[list[str]]:
    """The dataset's ids for one model, grouped where their figures are the same."""
    groups: list[list[str]] = []
    at = _instant(None, None)
    for theirs_id in theirs_ids:
        for group in groups:
            if dataset.figures(group[0], at) == dataset.figures(theirs_id, at) and (
                dataset.changes(group[0]) == dataset.changes(theirs_id)
            ):
                group.append(theirs_id)
                break
        else:
            groups.append([theirs_id])
    return groups


# --- why: each known kind of disagreement, as a rule --------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One row of the "where we differ, and why" table: an id, what differs, and a rule."""

    id: str
    what: str
    applies: Callable[[Disagreement, PriceTable, Dataset], bool] = field(repr=False)


def explain(item: Disagreement, table: PriceTable, dataset: Dataset) -> Disagreement:
    """``item`` with the id of the first reason that explains it (or UNEXPLAINED)."""
    for reason in REASONS:
        if reason.applies(item, table, dataset):
            return replace(item, reason=reason.id)
    return item


BATCH_FROM = datetime(2026, 10, 14, tzinfo=UTC)  # genai-prices' batch rows start here
OLDER_THAN_OUR_TABLE = {"claude-2", "claude-v1", "claude-3-sonnet"}  # retired before 2025


def _latest(table: PriceTable, model_id: str) -> Figures:
    last = table.models[model_id].prices[-1]
    return our_figures(table, model_id, last.effective_from or _instant(None, None))


def _retired(table: PriceTable, model_id: str) -> bool:
    return bool(model_id) and table.models[model_id].retired is not None


def _theirs(item: Disagreement, dataset: Dataset) -> Figures:
    """Everything the dataset has for the row's model over the row's date range."""
    theirs_id = item.theirs_id.split(", ")[0]
    return dataset.figures(theirs_id, _instant(item.start, item.end)) if theirs_id else {}


def _genai(dataset: Dataset) -> bool:
    return dataset.name.startswith("genai-prices")


def _litellm(dataset: Dataset) -> bool:
    return dataset.name.startswith("LiteLLM")


REASONS = [
    Reason(
        "mythos-limited",
        "Mythos models (limited availability) are on one side only",
        lambda d, _t, _s: d.key is None and "mythos" in (d.model or d.theirs_id),
    ),
    Reason(
        "older-than-our-table",
        "models retired before our table begins (Claude 2, Claude 1, Claude 3 Sonnet)",
        lambda d, _t, _s: d.key is None and not d.model and d.theirs_id in OLDER_THAN_OUR_TABLE,
    ),
    Reason(
        "retired-dropped",
        "theirs dropped a retired model that we keep, so old months can still be billed",
        lambda d, t, _s: d.key is None and not d.theirs_id and _retired(t, d.model),
    ),
    Reason(
        "newer-than-theirs",
        "a model released after the dataset (Claude Fable 5.2, 2026-11-09)",
        lambda d, _t, s: d.key is None and _litellm(s) and d.model == "claude-fable-5-2",
    ),
    Reason(
        "batch-not-modelled",
        "genai-prices has batch rows only for active models and only from 2026-10-14",
        lambda d, t, s: (
            _genai(s)
            and d.key is not None
            and d.key.mode == "batch"
            and d.theirs is None
            and ((d.end is not None and d.end <= BATCH_FROM) or _retired(t, d.model))
        ),
    ),
    Reason(
        "no-batch-1h-field",
        "LiteLLM has no batch price for 1-hour cache writes",
        lambda d, _t, s: (
            _litellm(s)
            and d.key is not None
            and (d.key.mode, d.key.category) == ("batch", "cache_write_1h")
            and d.theirs is None
        ),
    ),
    Reason(
        "us-only-not-modelled",
        "genai-prices has no US-only inference (x1.1) variant",
        lambda d, _t, s: _genai(s) and d.key is not None and d.key.mode == "us-only",
    ),
    Reason(
        "opus-4-6-fast-missing",
        "no fast-mode price for Claude Opus 4.6 in theirs",
        lambda d, _t, s: (
            d.model == "claude-opus-4-6"
            and d.key is not None
            and d.key.mode == "fast"
            and d.theirs is None
            and not any(key.mode == "fast" for key in _theirs(d, s))
        ),
    ),
    Reason(
        "fast-single-source",
        "a fast-mode price only theirs lists (Fable 5.2), not corroborated by our research",
        lambda d, _t, _s: (
            d.model == "claude-fable-5-2"
            and d.key is not None
            and d.key.mode == "fast"
            and d.ours is None
        ),
    ),
    Reason(
        "no-history",
        "theirs has no price history: it bills the past at the price in force today",
        lambda d, t, _s: (
            d.key is not None and d.end is not None and d.theirs == _latest(t, d.model).get(d.key)
        ),
    ),
    Reason(
        "long-context-tier-missing",
        "theirs has no >200K tier for Sonnet 4 / 4.5 (billed only with the 1M beta)",
        lambda d, _t, _s: (
            d.key is not None
            and d.key.tier == 200_000
            and d.theirs is None
            and d.model in {"claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929"}
        ),
    ),
    Reason(
        "web-search-missing",
        "theirs has no web-search price for the model; ours is the list's $10 per 1,000",
        lambda d, _t, _s: (
            d.key is not None
            and d.key.category == "web_search_per_1k"
            and d.theirs is None
            and d.ours == 10
        ),
    ),
    Reason(
        "sonnet-5-rise-withdrawn",
        "a Sonnet 5 rise scheduled for 2026-09-01 that Anthropic withdrew",
        lambda d, _t, _s: (
            d.model == "claude-sonnet-5"
            and d.start is not None
            and d.start >= datetime(2026, 9, 1, tzinfo=UTC)
            and d.ours is not None
            and d.theirs is not None
            and d.theirs > d.ours
        ),
    ),
]


# --- printing -------------------------------------------------------------------------------------


def _when(instant: datetime | None, default: str) -> str:
    if instant is None:
        return default
    if instant.time() == datetime.min.time() and instant.utcoffset() == timedelta(0):
        return f"{instant:%Y-%m-%d}"
    return instant.isoformat()


def _value(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def report(dataset: Dataset, found: Sequence[Disagreement], compared: int, *, summary: bool) -> str:
    """The disagreements of one dataset as a table, then the counts per reason."""
    pairs = f"{compared} figure x date range pairs compared"
    lines = [f"== {dataset.name}: {len(found)} disagreements ({pairs})"]
    if not summary:
        lines.append(
            f"{'model':<28}{'theirs':<44}{'figure':<34}{'from':<12}{'until':<12}"
            f"{'ours':>9}{'theirs':>9}  reason"
        )
        for item in found:
            figure = "whole model" if item.key is None else str(item.key)
            lines.append(
                f"{item.model or '-':<28}{item.theirs_id or '-':<44}{figure:<34}"
                f"{_when(item.start, 'release'):<12}{_when(item.end, 'now'):<12}"
                f"{_value(item.ours):>9}{_value(item.theirs):>9}  {item.reason}"
            )
    for reason, count in sorted(Counter(item.reason for item in found).items()):
        lines.append(f"  {reason:<28}{count:>5}")
    return "\n".join(lines) + "\n"


def load_datasets(names: Sequence[str]) -> list[Dataset]:
    """The named datasets that are installed (a missing one is reported on stderr)."""
    makers: Mapping[str, Callable[[], Dataset]] = {"genai-prices": GenaiPrices, "litellm": LiteLLM}
    datasets = []
    for name in names:
        try:
            datasets.append(makers[name]())
        except (ImportError, LookupError) as error:
            print(f"{name}: not available ({error})", file=sys.stderr)
    return datasets


def main(argv: Sequence[str] | None = None) -> int:
    """Compare, print, and return 1 if any disagreement is unexplained (2 if nothing ran)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", action="append", choices=("genai-prices", "litellm"), help="default: both"
    )
    parser.add_argument("--summary", action="store_true", help="the counts only")
    args = parser.parse_args(argv)
    datasets = load_datasets(args.dataset or ["genai-prices", "litellm"])
    if not datasets:
        return 2
    table = PriceTable.builtin()
    print(f"usagebill {table.version} against {', '.join(d.name for d in datasets)}\n")
    unexplained = 0
    for dataset in datasets:
        found, compared = compare(table, dataset)
        unexplained += sum(item.reason == UNEXPLAINED for item in found)
        print(report(dataset, found, compared, summary=args.summary))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
