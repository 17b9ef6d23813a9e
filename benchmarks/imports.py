"""What importing usagebill costs, against importing its three dependencies alone.

Each statement runs in a fresh interpreter under ``python -X importtime``, several
times; a statement's cost is the summed cumulative time of the modules it imported
(the interpreter's own start-up modules, measured by ``pass``, are taken off). All of
them are measured in one run, so the ratios hold on a noisy machine.

    python benchmarks/imports.py [--repeats N]

The last line is ``import usagebill: X.XXx attrs + cattrs + dateutil``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

BASELINE = "import attrs, cattrs, dateutil.tz, dateutil.relativedelta"
STATEMENTS = {
    "import usagebill": "import usagebill",
    "a gateway (authorize, Money, PriceTable, Organization)": (
        "from usagebill import authorize, Money, PriceTable, Organization"
    ),
    "an invoice (build_invoice, Organization.from_file)": (
        "from usagebill import build_invoice, Organization; import usagebill.serde"
    ),
    "everything (analysis layer and stores too)": (
        "import usagebill.analysis.whatif, usagebill.analysis.forecast, "
        "usagebill.analysis.reconcile, usagebill.ledger, usagebill.cli"
    ),
}


def cost_ms(statement: str) -> float:
    """Milliseconds of imports ``statement`` adds to a fresh interpreter (top-level modules)."""
    report = subprocess.run(  # noqa: S603  (our own interpreter, our own statement)
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    total = 0
    for line in report.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if name.startswith(" ") and not name.startswith("  "):  # a top-level import
            total += int(cumulative)
    return total / 1000


def median_ms(statement: str, repeats: int) -> float:
    return statistics.median(cost_ms(statement) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    repeats = parser.parse_args().repeats
    start = median_ms("pass", repeats)
    base = median_ms(BASELINE, repeats) - start
    print(f"{'attrs + cattrs + dateutil alone':<58}{base:8.1f} ms   1.00x")
    ratios = {}
    for label, statement in STATEMENTS.items():
        cost = median_ms(statement, repeats) - start
        ratios[label] = cost / base
        print(f"{label:<58}{cost:8.1f} ms {ratios[label]:6.2f}x")
    print(f"import usagebill: {ratios['import usagebill']:.2f}x attrs + cattrs + dateutil")


if __name__ == "__main__":
    main()
