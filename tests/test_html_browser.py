"""The HTML report opened in a real browser (headless Chromium through Playwright).

Skipped, with the reason in the test summary, when Debian's ``chromium`` or
the ``playwright`` package is missing (``scripts/setup.sh`` installs both
when run as root). Playwright drives the system's Chromium
(``executable_path``); it never downloads a browser of its own.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from sweep_support import TINY
from unlearnkit.cli.main import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags a sandboxed machine without a network needs (see scripts/setup.sh).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; scripts/setup.sh as root)"
    ),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed (pip install playwright)"),
]

# Two seeds and a population metric: the report has a table, a population table and every kind of plot.
CONFIG = TINY.replace('metrics = ["retain_acc"', 'population_metrics = ["klom"]\nmetrics = ["retain_acc"')


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    config, store, page = folder / "tiny.toml", folder / "store.sqlite", folder / "report.html"
    config.write_text(CONFIG + CONFIG.replace('name = "tiny"', 'name = "tiny_again"'))
    assert main(["run", str(config), "--store", str(store), "--quiet"]) == 0
    assert main(["report", "--store", str(store), "--format", "html", "--output", str(page)]) == 0
    return page


def test_the_report_is_one_self_contained_file(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<link" not in html and "<script" not in html and "url(" not in html


def test_the_report_renders_in_chromium_with_every_image_and_table(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
            sections = page.evaluate(
                """Array.from(document.querySelectorAll('h2, h3')).map(heading => {
                    let tables = 0;
                    for (let node = heading.nextElementSibling; node && !/^H[23]$/.test(node.tagName); node = node.nextElementSibling) {
                        tables += node.tagName === 'TABLE' ? 1 : node.querySelectorAll('table').length;
                    }
                    return [heading.tagName, heading.textContent, tables];
                })"""
            )
            rows = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => t.rows.length)")
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert problems == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []  # nothing fetched from anywhere
    # per experiment: utility vs forgetting, wall time, per-class accuracy and a loss histogram per non-retrain method
    assert len(images) == 2 * 5
    assert all(complete and width > 100 and height > 100 for _, complete, width, height in images), images
    experiments = [s for s in sections if s[0] == "H2"]
    assert [title for _, title, _ in experiments] == ["tiny (goal: untraining)", "tiny_again (goal: untraining)"]
    assert all(tables >= 1 for _, _, tables in experiments)
    population = [s for s in sections if s[1] == "Population metrics"]
    assert len(population) == 2 and all(tables == 1 for _, _, tables in population)
    assert all(count >= 3 for count in rows)  # header rows and one row per method
    assert screenshot.stat().st_size > 20_000
