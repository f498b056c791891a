"""In front of a class: every page and every tab at projector sizes, sidebar open, Present on
and off, read as the room reads it.

It fails on text that is cut or broken mid-word, on a headline number (st.metric) smaller than
its label, on chart text under 14 px while presenting, on a chart legend outside its chart, and
on a legend entry that no drawn mark carries (read from the Vega view's SVG: every mark's
aria-label names the values it draws). One server, two stored runs and one browser serve every
case. Screenshots of every page and tab go to tests/screenshots/ (ignored by git):
`<page>[_<tab>]_<size>[_present].png` is what the room sees.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import CHROMIUM_ARGS, start_server, stop_server
from tests.helpers import ROOT

expect.set_options(timeout=120_000)  # a cold first run imports TensorFlow
SHOTS = Path(__file__).resolve().parent / "screenshots"
SIZES = [(1024, 768), (1280, 720)]
PAGES = {
    "data": "1 · Dataset",
    "augment": "2 · Augmentation",
    "train": "3 · Train & Evaluate",
    "runs": "4 · Compare runs",
    "inside": "5 · Look inside",
}
TABS = {
    "train": ["Test evaluation", "Training curves", "Per class over epochs", "Evaluation traps", "Show code"],
    "inside": ["Try it", "Where it looks", "Curves per class", "Map of what it learned", "Report"],
}
MIN_CHART_PX = 14  # chart text while presenting

CHECK_JS = """
(presenting) => {
  const visible = el => el.getClientRects().length > 0 && el.closest('[hidden]') === null
    && !el.closest('[data-testid="stExpanderDetails"]')?.closest('details:not([open])');
  const bad = [];
  // 1. Text that must fit: widget labels, buttons, metrics, tabs, options, captions, image captions.
  const sel = ['[data-testid="stWidgetLabel"] p', 'button p', '[data-testid="stMetricValue"] div',
               '[data-testid="stMetricLabel"] p', '[role="tab"] p', '[data-testid="stSidebarNav"] span',
               '[data-testid="stCheckbox"] p', '[data-testid="stRadio"] p', '[data-testid="stCaptionContainer"] p',
               '[data-testid="stImageCaption"]', '[data-testid="stHeading"] h1', '[data-testid="stHeading"] h3',
               '[data-testid="stSelectbox"] [data-baseweb="select"] div[value]'];
  for (const el of document.querySelectorAll(sel.join(','))) {
    if (!visible(el) || el.getBoundingClientRect().width === 0) continue;
    const text = el.textContent.trim();
    if (!text) continue;
    let clipped = false;  // cut: the text, or a box around it that clips it, is narrower than its content
    for (let box = el, up = 0; box && up < 4; box = box.parentElement, up++) {
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible') clipped = true;
    }
    // or a scrolling/clipping box around it hides part of it sideways (a tab behind the tab bar's arrow)
    const r = el.getBoundingClientRect();
    for (let box = el.parentElement; box && box !== document.body && !clipped; box = box.parentElement) {
      if (getComputedStyle(box).overflowX === 'visible') continue;
      const c = box.getBoundingClientRect();
      if (r.right > c.right + 1 || r.left < c.left - 1) clipped = true;
    }
    if (clipped) { bad.push('cut: ' + text.slice(0, 60)); continue; }
    // broken mid-word: one word's glyphs on two lines
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      let at = 0;
      for (const word of node.textContent.split(/(\\s+|-)/)) {  // a line may break at a space or a hyphen
        if (word.trim().length > 1) {
          const range = document.createRange();
          range.setStart(node, at); range.setEnd(node, at + word.length);
          const tops = new Set([...range.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top)));
          if (tops.size > 1) bad.push('broken word: ' + word + ' in ' + text.slice(0, 60));
        }
        at += word.length;
      }
    }
  }
  // 2. A headline number is larger than its label.
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    if (!visible(m)) continue;
    const v = m.querySelector('[data-testid="stMetricValue"]'), l = m.querySelector('[data-testid="stMetricLabel"] p');
    if (!v || !l) continue;
    // the size the glyphs are drawn at: of the elements that hold the text itself
    const px = root => Math.min(...[root, ...root.querySelectorAll('*')]
      .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
      .map(e => parseFloat(getComputedStyle(e).fontSize)));
    const vs = px(v), ls = px(l);
    if (vs <= ls) bad.push(`metric ${l.textContent.trim()}: value ${vs}px not larger than its label ${ls}px`);
  }
  // 3-5. Charts: text size, legends inside, every legend entry drawn.
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    const svg = chart.querySelector('svg');
    if (!svg || !visible(svg)) continue;
    const title = (svg.querySelector('.role-title-text') || {}).textContent || 'chart';
    const box = svg.getBoundingClientRect();
    if (presenting) {
      for (const t of svg.querySelectorAll('text')) {
        const px = parseFloat(getComputedStyle(t).fontSize);
        if (t.textContent.trim() && px < %(min)s) {
          bad.push(`${title}: text "${t.textContent.slice(0, 20)}" is ${px}px`); break;
        }
      }
    }
    const drawn = [...svg.querySelectorAll('[role="graphics-symbol"][aria-label]')]
      .filter(m => !m.closest('.role-legend, .role-axis')).map(m => '; ' + m.getAttribute('aria-label') + ';');
    for (const legend of svg.querySelectorAll('g.role-legend')) {
      const b = legend.getBoundingClientRect();
      if (b.width && (b.right > box.right + 1 || b.bottom > box.bottom + 1 || b.left < box.left - 1))
        bad.push(`${title}: legend outside its chart`);
      if (!legend.querySelector('.role-legend-symbol')) continue;  // a colour gradient: no entries
      for (const label of legend.querySelectorAll('.role-legend-label text')) {
        const name = label.textContent.trim();
        if (name && !drawn.some(d => d.includes(': ' + name + ';')))
          bad.push(`${title}: legend entry "${name}" has no drawn mark`);
      }
    }
  }
  return bad;
}
""".replace("%(min)s", str(MIN_CHART_PX))


def _train(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "train", "digits", *args, "--store", str(store)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def served_with_runs(tmp_path_factory):
    """Two stored runs (Compare shows them side by side), trained at once, and one server."""
    store = tmp_path_factory.mktemp("projector-runs")
    jobs = [_train(store, "--model", "cnn", "--epochs", "2"), _train(store, "--model", "mlp", "--epochs", "1")]
    for job in jobs:
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err[-1000:]
    proc, url, _ = start_server({"EXPLORER_RUNS": str(store)})
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser(chromium_path):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


CHARTS_DRAWN_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
  .filter(c => c.getClientRects().length && c.closest('[hidden]') === null)
  .every(c => c.querySelector('svg [role="graphics-symbol"], svg .role-mark'))"""


def _idle(page) -> None:
    """The script run has ended (no running indicator, twice in a row: a loaded machine starts the
    run late) and every visible chart has drawn its marks."""
    for _ in range(2):
        page.wait_for_timeout(400)
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
    page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)  # charts draw after the run ends
    page.wait_for_timeout(300)


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_page_and_tab_reads_on_a_projector(browser, served_with_runs, width, height, presenting):
    SHOTS.mkdir(exist_ok=True)
    suffix = f"{width}x{height}" + ("_present" if presenting else "")
    problems: dict[str, list[str]] = {}
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(120_000)
    elsewhere: list[str] = []  # a classroom may be offline: the page asks nothing of another host
    page.on("request", lambda r: None if r.url.startswith(served_with_runs) else elsewhere.append(r.url))
    page.goto(f"{served_with_runs}/data" + ("?present=1" if presenting else ""))
    expect(page.get_by_role("heading", name=PAGES["data"])).to_be_visible()
    for path, title in PAGES.items():
        page.get_by_test_id("stSidebarNav").get_by_text(title).click()  # as a teacher moves on
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        _idle(page)
        expect(page.get_by_test_id("stSidebar")).to_be_visible()  # the sidebar stays open
        if presenting:  # the switch survives the sidebar link
            assert re.search(r"[?&]present=1", page.url), page.url
        assert page.locator("[data-testid='stException']").count() == 0, path
        for tab in TABS.get(path, [None]):
            name = path
            if tab is not None:
                page.get_by_role("tab", name=tab, exact=True).click()
                page.wait_for_timeout(400)
                page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
                name = f"{path}_{tab.lower().replace(' ', '_')}"
            page.screenshot(path=str(SHOTS / f"{name}_{suffix}.png"))  # what the room sees
            found = page.evaluate(CHECK_JS, presenting)
            if found:
                problems[name] = found
            if tab == "Evaluation traps" and not presenting and width == SIZES[0][0]:
                page.get_by_role("button", name="Run it on this model").click()  # it once jumped to tab 1
                expect(page.get_by_text("Not fixes:", exact=False)).to_be_visible()
                _idle(page)
                expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
    page.close()
    assert not [u for u in elsewhere if not u.startswith(("data:", "blob:"))], elsewhere
    assert not problems, problems


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
def test_pressing_train_shows_progress_without_scrolling(browser, served_with_runs, presenting):
    """At 1024x768 the first thing that changes when Train is pressed is on the first screen."""
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.set_default_timeout(120_000)
    page.goto(f"{served_with_runs}/train" + ("?present=1" if presenting else ""))
    expect(page.get_by_role("heading", name=PAGES["train"])).to_be_visible()
    _idle(page)
    if presenting:
        page.get_by_text("Training settings").click()  # folded away while presenting
    seed = page.get_by_role("spinbutton", name="Seed")
    seed.fill("21" if presenting else "20")  # settings no stored run has: the button trains
    seed.press("Enter")
    _idle(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("[data-testid='stMain']").evaluate("el => el.scrollTo(0, 0)")
    button = page.get_by_role("button", name="Train", exact=True)
    assert button.bounding_box()["y"] + button.bounding_box()["height"] <= 768, "the Train button is below the fold"
    button.click()
    bar = page.get_by_test_id("stProgress").first
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box is not None and 0 <= box["y"] < 768, f"progress at y={box}: below the fold"
    expect(page.get_by_text("status complete").first).to_be_visible()
    page.close()
