"""Print the example invoice in Debian's Chromium and save its first page as a PNG for the docs.

    .venv/bin/python tools/invoice_screenshot.py [--out docs/invoice-first-page.png]

Needs Debian's chromium and poppler-utils (pdftoppm); playwright drives the browser (it never
downloads one). The PDF is the one the print tests check; the PNG is its first page at 80 dpi.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from usagebill import BillingPeriod, Organization, UsageEvent, build_invoice

ROOT = Path(__file__).parents[1]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    """Write the PNG of the example invoice's first page."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "invoice-first-page.png")
    args = parser.parse_args()
    org = Organization.from_file(ROOT / "examples" / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    with (ROOT / "examples" / "usage-2026-10.jsonl").open() as lines:
        events = (UsageEvent.from_dict(json.loads(line)) for line in lines)
        invoice = build_invoice(org, events, period)
    with tempfile.TemporaryDirectory() as work, sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            Path(work) / "profile", executable_path="/usr/bin/chromium", headless=True, args=FLAGS
        )
        page = browser.new_page()
        page.set_content(invoice.to_html())
        pdf = Path(work) / "invoice.pdf"
        pdf.write_bytes(page.pdf(prefer_css_page_size=True, print_background=True))
        browser.close()
        stem = Path(work) / "page"
        subprocess.run(  # noqa: S603  (a fixed command on our own file)
            [
                "/usr/bin/pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                pdf,
                stem,
            ],
            check=True,
        )
        args.out.write_bytes(stem.with_suffix(".png").read_bytes())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
