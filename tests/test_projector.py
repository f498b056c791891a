"""In front of a class: every page at projector sizes, sidebar open, nothing cut or broken.

Screenshots of every page at every size go to tests/screenshots/ (ignored by git) so a
person can look at them after `make test`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import CHROMIUM_ARGS, start_server, stop_server
from tests.helpers import ROOT

expect.set_options(timeout=120_000)  # a cold first run imports TensorFlow
SHOTS = Path(__file__).resolve().parent / "screenshots"
SIZES = [(1024, 768), (1280, 720), (1920, 1080)]
PAGES = {
    "data": "1 · Dataset",
    "augment": "2 · Augmentation",
    "train": "3 · Train & Evaluate",
    "runs": "4 · Compare runs",
    "inside": "5 · Look inside",
}

# Text boxes whose content must fit: widget labels, buttons, metric values and labels, tab names.
OVERFLOW_JS = """
() => {
  const sel = ['[data-testid="stWidgetLabel"] p', 'button p', '[data-testid="stMetricValue"] div',
               '[data-testid="stMetricLabel"] p', '[data-baseweb="tab"] p', '[data-testid="stSidebarNav"] span',
               '[data-testid="stCheckbox"] p', '[data-testid="stRadio"] p',
               '[data-testid="stSelectbox"] [data-baseweb="select"] div[value]'];
  const bad = [];
  for (const el of document.querySelectorAll(sel.join(','))) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || el.closest('[data-testid="stExpanderDetails"]')?.offsetParent === null) continue;
    const text = el.textContent.trim();
    if (!text) continue;
    // cut: the text, or a box around it that clips it, is narrower than its content (an ellipsis)
    let clipped = false;
    for (let box = el, up = 0; box && up < 4; box = box.parentElement, up++) {
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible') clipped = true;
    }
    if (clipped) { bad.push('cut: ' + text); continue; }
    // broken mid-word: one word's glyphs lie on two lines
    const node = [...el.childNodes].find(n => n.nodeType === 3);
    if (!node) continue;
    let at = 0;
    for (const word of node.textContent.split(/(\\s+)/)) {
      if (word.trim().length > 1) {
        const range = document.createRange();
        range.setStart(node, at); range.setEnd(node, at + word.length);
        const tops = new Set([...range.getClientRects()].map(q => Math.round(q.top)));
        if (tops.size > 1) bad.push('broken word: ' + word + ' in ' + text);
      }
      at += word.length;
    }
  }
  // chart legends inside their chart
  for (const svg of document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')) {
    const box = svg.getBoundingClientRect();
    for (const legend of svg.querySelectorAll('g.role-legend')) {
      const b = legend.getBoundingClientRect();
      if (b.width && (b.right > box.right + 1 || b.bottom > box.bottom + 1 || b.left < box.left - 1))
        bad.push('legend outside its chart: ' + legend.textContent.slice(0, 40));
    }
  }
  return bad;
}
"""


@pytest.fixture(scope="module")
def served_with_a_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("projector-runs")
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "digits", "--model", "cnn", "--epochs", "2", "--store", str(store)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-1000:]
    proc, url, _ = start_server({"EXPLORER_RUNS": str(store)})
    try:
        yield url
    finally:
        stop_server(proc)


def _idle(page) -> None:
    page.wait_for_timeout(400)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
    page.wait_for_timeout(600)  # charts draw after the run ends


@pytest.mark.parametrize("width,height", SIZES)
def test_every_page_reads_on_a_projector(chromium_path, served_with_a_run, width, height):
    SHOTS.mkdir(exist_ok=True)
    problems = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(120_000)
        page.goto(served_with_a_run)
        expect(page.get_by_role("heading", name=PAGES["data"])).to_be_visible()
        for path, title in PAGES.items():
            page.get_by_test_id("stSidebarNav").get_by_text(title).click()
            expect(page.get_by_role("heading", name=title)).to_be_visible()
            _idle(page)
            expect(page.get_by_test_id("stSidebar")).to_be_visible()  # the sidebar stays open
            page.screenshot(path=str(SHOTS / f"{path}_{width}x{height}.png"))  # what the room sees
            tall = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
            page.set_viewport_size({"width": width, "height": min(int(tall), 8000)})
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / f"{path}_{width}x{height}_full.png"))  # the whole page
            page.set_viewport_size({"width": width, "height": height})
            assert page.locator("[data-testid='stException']").count() == 0
            found = page.evaluate(OVERFLOW_JS)
            if path == "train":  # every tab of the evaluation, each checked and photographed
                for tab in ("Training curves", "Per class over epochs", "Evaluation traps"):
                    page.get_by_role("tab", name=tab).click()
                    page.wait_for_timeout(1500)
                    found += [f"{tab}: {p}" for p in page.evaluate(OVERFLOW_JS)]
                    slug = tab.lower().replace(" ", "_")
                    page.screenshot(path=str(SHOTS / f"{path}_{slug}_{width}x{height}.png"))
            if found:
                problems[path] = found
        browser.close()
    assert not problems, problems
