"""The print-ready HTML invoice, checked in a real headless Chromium (Debian's), printed to PDF.

Each test prints the page as Chromium does and reads the PDF back: the page count is what the
layout makes (the document and its summaries on the first page, then each member's lines on
pages of their own when the invoice is long), the total due is on the first page, and no text
overflows its cell (measured in the DOM, at the printed width). Without Chromium the tests skip,
loudly; with USAGEBILL_REQUIRE_BROWSER=1 (CI) they fail instead.
"""

import io
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builders import event, member, organization
from usagebill import (
    BillingPeriod,
    Modifiers,
    Organization,
    Product,
    UsageEvent,
    build_invoice,
)
from usagebill.accounts.invoicing import InvoiceSettings, Party

ROOT = Path(__file__).parents[2]
CHROMIUM = os.environ.get("USAGEBILL_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("USAGEBILL_REQUIRE_BROWSER") == "1"
# The flags Chromium needs on a closed machine: no sandbox (root), no network chatter.
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
# Every cell, heading and block whose content is wider than its box, at the printed width.
OVERFLOWS = """() => [...document.querySelectorAll('td, th, h3, h4, .usagebill-block p')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.textContent.slice(0, 80))"""


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(f"USAGEBILL_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"PRINT TESTS SKIPPED: {reason} (apt-get install chromium; pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium with a fresh profile, driven by playwright (never a downloaded one)."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        _missing("playwright is not installed")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM}")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        yield context
        context.close()


def _print(browser, html: str, paper: str):
    """The PDF's pages' text, and the overflowing cells, of ``html`` printed on ``paper``."""
    from pypdf import PdfReader  # noqa: PLC0415

    page = browser.new_page()
    try:
        page.set_content(html)
        page.emulate_media(media="print")
        # The printed width: the paper less the page's side margins (12 mm each).
        width_mm = {"A4": 210, "Letter": 215.9}[paper] - 24
        page.set_viewport_size({"width": int(width_mm / 25.4 * 96), "height": 1000})
        overflows = page.evaluate(OVERFLOWS)
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    finally:
        page.close()
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]
    return pages, overflows


def _org(members: int) -> Organization:
    people = [member(f"u-{n:02d}", "chat_claude_code") for n in range(1, members)]
    return organization(
        member("u-00", "chat_claude_code", role="primary_owner"),
        *people,
        name="Acme Health",
        invoicing=InvoiceSettings(
            seller=Party("Northwind AI Services, Inc.", ["100 Example Street"], "EIN 00-0000000"),
            bill_to=Party("Acme Health, Inc.", ["1 Example Plaza", "Boston, MA 02110"]),
        ),
    )


MODELS = ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-sonnet-5-5"]


def _events(members: int, per_member: int) -> list[UsageEvent]:
    """``per_member`` usage lines each: models × products × batch or not, a cent or more each."""
    products = list(Product)
    start = datetime(2026, 10, 2, tzinfo=UTC)
    events = []
    for number in range(members):
        for n in range(per_member):
            model, product = MODELS[n % 4], products[n // 4 % 4]
            events.append(
                event(
                    f"e-{number}-{n}",
                    f"u-{number:02d}",
                    model,
                    product,
                    start + timedelta(hours=n),
                    Modifiers(batch=n >= 16),
                    input_tokens=50_000 + n,
                    output_tokens=20_000,
                )
            )
    return events


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_a_short_invoice_flows_onto_a_second_page_with_its_total_on_the_first(browser, paper):
    """Two members, 10 lines: no forced break; the document, the summary and the caps fill the
    first page, the subtotals and the lines flow onto the second."""
    invoice = build_invoice(_org(2), _events(2, 3), BillingPeriod.of("2026-10"))
    pages, overflows = _print(browser, invoice.to_html(paper=paper), paper)
    assert overflows == []
    assert len(pages) == 2
    first = pages[0]
    assert f"Total due (USD): {invoice.total.amount:,f}" in first
    for shown in ("Northwind AI Services, Inc.", "Acme Health, Inc.", "Usage above caps"):
        assert shown in first
    assert "u-01 · Chat + Claude Code" in pages[1]


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_a_long_invoice_starts_each_member_on_a_page_of_its_own(browser, paper):
    """Three members of 20 lines (63 rows with seats > 40): two pages of document, summary and
    subtotals, then a page for each member's lines."""
    invoice = build_invoice(_org(3), _events(3, 20), BillingPeriod.of("2026-10"))
    assert invoice.line_count() == 63
    pages, overflows = _print(browser, invoice.to_html(paper=paper), paper)
    assert overflows == []
    assert len(pages) == 2 + 3
    assert f"Total due (USD): {invoice.total.amount:,f}" in pages[0]
    assert "Lines" not in pages[1]  # the lines start a page of their own
    for number, page in enumerate(pages[2:]):
        heading = f"u-{number:02d} · Chat + Claude Code"
        assert heading in page
        assert all(f"u-{other:02d} · " not in page for other in range(3) if other != number)


def test_the_example_invoice_prints_as_the_layout_says(browser):
    """The example month: the total on page 1, every member's lines starting a new page."""
    org = Organization.from_file(ROOT / "examples" / "org.toml")
    period = BillingPeriod.of("2026-10", timezone=org.timezone)
    with (ROOT / "examples" / "usage-2026-10.jsonl").open() as lines:
        invoice = build_invoice(
            org, (UsageEvent.from_dict(json.loads(line)) for line in lines), period
        )
    pages, overflows = _print(browser, invoice.to_html(), "A4")
    assert overflows == []
    first = pages[0]
    for shown in ("Invoice AH-2026-10-0010", "Total due (USD): 2,727.23", "Northwind AI Services"):
        assert shown in first
    starts = {}
    for number, page in enumerate(pages):
        for subtotal in invoice.by_member:
            if f"{subtotal.key} · " in page and subtotal.key not in starts:
                starts[subtotal.key] = number
    assert list(starts) == [subtotal.key for subtotal in invoice.by_member]
    # Each member's lines begin on a page of their own: no two members start on one page.
    assert len(set(starts.values())) == len(starts)
    assert len(pages) >= 1 + len(starts)
