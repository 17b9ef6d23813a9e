"""Regenerate src/usagebill/pricing/data/claude_prices.json from the team's price research.

Run once by hand when the research in ../shared/prices/ changes:

    python tools/build_price_data.py ../shared/prices \
        > src/usagebill/pricing/data/claude_prices.json

Every figure is copied as listed. Where the research itself derived a figure
(fast-mode cache rates, Sonnet 4.5 long-context cache rates, Fable 5.2 batch),
the row's ``notes`` say so and its ``confidence`` is lowered accordingly.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

CATEGORIES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


def _rates(row: dict, prefix: str = "") -> dict[str, str]:
    return {name: row[f"{prefix}{name}_per_mtok"] for name in CATEGORIES}


def _fast(row: dict) -> dict[str, str] | None:
    """Fast mode lists input and output; caching multipliers apply on top (per the list)."""
    if row["fast_mode_input_per_mtok"] is None:
        return None
    fast_in = Decimal(row["fast_mode_input_per_mtok"])
    base_in = Decimal(row["input_per_mtok"])
    ratio = {
        "cache_write_5m": Decimal(row["cache_write_5m_per_mtok"]) / base_in,
        "cache_write_1h": Decimal(row["cache_write_1h_per_mtok"]) / base_in,
        "cache_read": Decimal(row["cache_read_per_mtok"]) / base_in,
    }
    return {
        "input": row["fast_mode_input_per_mtok"],
        "output": row["fast_mode_output_per_mtok"],
        **{name: f"{(fast_in * factor).normalize():f}" for name, factor in ratio.items()},
    }


def _price(row: dict, **overrides: object) -> dict[str, object]:
    tier = None
    if row["long_context_threshold_tokens"] is not None:
        tier = {
            "above_prompt_tokens": row["long_context_threshold_tokens"],
            "rates": _rates(row, "long_context_"),
        }
    notes = " ".join(
        part
        for part in (
            row["notes"],
            row["long_context_rule"] or "",
            "Fast-mode cache rates are the listed fast input rate times this model's "
            "cache multipliers (the list says caching multipliers apply on top of fast mode)."
            if row["fast_mode_input_per_mtok"]
            else "",
        )
        if part
    )
    price: dict[str, object] = {
        "rates": _rates(row),
        "long_context": tier,
        "fast": _fast(row),
        "web_search_per_1k": "10",
        "us_only_multiplier": row["inference_geo_us_multiplier"],
        "effective_from": None,
        "source": row["source"],
        "as_of": row["as_of"],
        "confidence": row["confidence"],
        "notes": notes,
    }
    price.update(overrides)
    return price


def _alias(text: str) -> str:
    return text.split(" ", 1)[0]


def main(folder: Path) -> None:
    """Print the package's price table built from the research in ``folder``."""
    rows = json.loads((folder / "claude_prices.json").read_text("utf-8"))
    models = {}
    for row in rows:
        prices = [_price(row)]
        if row["model_id"] == "claude-sonnet-5-5":
            # Cache reads were cut from $0.20 to $0.10 per MTok on 2026-10-07.
            before = _price(row)
            before["rates"] = {**before["rates"], "cache_read": "0.20"}
            before["notes"] = "Cache read $0.20 (0.1x) from launch until 2026-10-06."
            prices = [before, _price(row, effective_from="2026-10-07T00:00:00+00:00")]
        retired = row["retires_or_retired"]
        models[row["model_id"]] = {
            "prices": prices,
            "display_name": row["display_name"],
            "aliases": [_alias(alias) for alias in row["aliases"]],
            "status": row["status"],
            "retired": retired[:10]
            if retired and retired[:4].isdigit() and "not" not in retired
            else None,
        }
    table = {
        "version": "claude-2026-11-25",
        "models": models,
        "currency": "USD",
        "source": "https://platform.claude.com/docs/en/about-claude/pricing "
        "(compiled 2026-11-25 from stored copies; see each price's source, as_of and confidence)",
    }
    json.dump(table, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
