"""Regenerate src/usagebill/pricing/data/claude_prices.json from the team's price research.

Run by hand when the research in ../shared/prices/ or the history in
tools/price_history.toml changes:

    python tools/build_price_data.py ../shared/prices tools/price_history.toml \
        > src/usagebill/pricing/data/claude_prices.json

Each research row becomes one price version, its figures copied as listed. A
model that the history file lists gets the versions listed there instead, each
the row's price with the history's fields laid over it: that is where dated
price changes and corrections live, as data. Fast-mode cache rates are the
listed fast input rate times the model's own cache multipliers (the list says
caching multipliers apply on top of fast mode); they are marked as derived.
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

CATEGORIES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_FAST_RULE = "caching multipliers apply on top of fast-mode pricing, as on this model's base rates"


def _rates(row: dict[str, Any], prefix: str = "") -> dict[str, str]:
    return {name: row[f"{prefix}{name}_per_mtok"] for name in CATEGORIES}


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _fast(row: dict[str, Any]) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """Fast mode's rates (the list gives input and output) and how its cache rates were derived."""
    if row["fast_mode_input_per_mtok"] is None:
        return None, {}
    fast_in = Decimal(row["fast_mode_input_per_mtok"])
    base_in = Decimal(row["input_per_mtok"])
    rates = {"input": row["fast_mode_input_per_mtok"], "output": row["fast_mode_output_per_mtok"]}
    derived = {}
    for name in CATEGORIES[2:]:
        ratio = Decimal(row[f"{name}_per_mtok"]) / base_in
        rates[name] = _text(fast_in * ratio)
        derived[f"fast.{name}"] = {"of": "fast.input", "times": _text(ratio), "rule": _FAST_RULE}
    return {name: rates[name] for name in CATEGORIES}, derived


def _price(row: dict[str, Any]) -> dict[str, Any]:
    tier = None
    if row["long_context_threshold_tokens"] is not None:
        tier = {
            "above_prompt_tokens": row["long_context_threshold_tokens"],
            "rates": _rates(row, "long_context_"),
        }
    fast, derived = _fast(row)
    notes = " ".join(part for part in (row["notes"], row["long_context_rule"] or "") if part)
    return {
        "rates": _rates(row),
        "long_context": tier,
        "fast": fast,
        "fast_long_context": None,
        "web_search_per_1k": "10",
        "us_only_multiplier": row["inference_geo_us_multiplier"],
        "effective_from": None,
        "source": row["source"],
        "as_of": row["as_of"],
        "confidence": row["confidence"],
        "notes": notes,
        "derived": derived,
    }


def _laid_over(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: tables merge key by key, other values replace."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _laid_over(result[key], value)
        elif isinstance(value, datetime):
            result[key] = value.isoformat()
        else:
            result[key] = value
    return result


def _alias(text: str) -> str:
    return text.split(" ", 1)[0]


def _retired(text: str | None) -> str | None:
    return text[:10] if text and text[:4].isdigit() and "not" not in text else None


def build(research: Path, history_file: Path) -> dict[str, Any]:
    """The package's price table, from the research rows and the price history."""
    rows = json.loads((research / "claude_prices.json").read_text("utf-8"))
    history = tomllib.loads(history_file.read_text("utf-8"))
    versions = history.get("models", {})
    unknown = set(versions) - {row["model_id"] for row in rows}
    if unknown:
        message = f"{history_file}: no research row for {sorted(unknown)}"
        raise SystemExit(message)
    models = {}
    for row in rows:
        price = _price(row)
        changes = versions.get(row["model_id"], {}).get("prices", [{}])
        models[row["model_id"]] = {
            "prices": [_laid_over(price, change) for change in changes],
            "display_name": row["display_name"],
            "aliases": [_alias(alias) for alias in row["aliases"]],
            "status": row["status"],
            "retired": _retired(row["retires_or_retired"]),
        }
    return {
        "version": history["version"],
        "models": models,
        "currency": "USD",
        "source": history["source"],
    }


def main(argv: list[str]) -> None:
    """Print the table built from the research folder and the history file named in ``argv``."""
    table = build(Path(argv[0]), Path(argv[1]))
    json.dump(table, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
