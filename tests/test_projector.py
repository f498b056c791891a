"""In front of a class: every page and every tab at projector sizes, sidebar open, Present on
and off, read as the room reads it.

It fails on text that is cut or broken mid-word (a canvas table's headers and values too), on a
headline number (st.metric) smaller than its label, on chart text under 14 px while presenting, on
a chart legend outside its chart, and on a legend entry that no drawn mark carries (read from the
Vega view's SVG: every mark's aria-label names the values it draws). One server, two stored runs
and one browser serve every case. Screenshots of every page and tab go to tests/screenshots/ (ignored by git):
`<page>[_<tab>]_<size>[_present].png` is what the room sees.
"""

from __future__ import annotations

import json
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
MIN_TABLE_PX = 18  # table text while presenting (Streamlit's own is about 13-14 px)
LEGENDS = {"train vs validation": ["train", "validation"]}  # charts (by title) and the legend entries they show

CHECK_JS = (
    """
(presenting) => {
  const visible = el => el.getClientRects().length > 0 && el.closest('[hidden]') === null
    && !el.closest('[data-testid="stExpanderDetails"]')?.closest('details:not([open])');
  const bad = [];
  // 1. Text that must fit: widget labels, buttons, metrics, tabs, options, captions, image captions.
  const sel = ['[data-testid="stWidgetLabel"] p', 'button p', '[data-testid="stMetricValue"] div',
               '[data-testid="stMetricLabel"] p', '[role="tab"] p', '[data-testid="stSidebarNav"] span',
               '[data-testid="stCheckbox"] p', '[data-testid="stRadio"] p', '[data-testid="stCaptionContainer"] p',
               '[data-testid="stImageCaption"]', '[data-testid="stHeading"] h1', '[data-testid="stHeading"] h3',
               // a table's column headers (not those naming runs, which may break anywhere on purpose)
               '[data-testid="stTable"] thead th:not([class*="st-key-runs_by_setting"] *)',
               // and Compare's headline figures and statuses (its names may break anywhere)
               '[class*="st-key-runs_key_columns"] [data-testid="stTable"] td:not(.col0)'];
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
  // A chosen option (Streamlit 1.67's selectbox is a react-aria combobox <input>): cut when its value is
  // wider than the box.
  for (const input of document.querySelectorAll('[data-testid="stSelectbox"] input[role="combobox"]')) {
    if (visible(input) && input.value && input.scrollWidth > input.clientWidth + 1)
      bad.push('cut: ' + input.value.slice(0, 60));
  }
  // Pictures side by side in one row of columns have one size (a wrapped picture grew to a row's width).
  for (const row of document.querySelectorAll('[data-testid="stHorizontalBlock"]')) {
    const cols = [...row.children].filter(c => c.getAttribute('data-testid') === 'stColumn');
    const imgs = cols.map(c => c.querySelector('[data-testid="stImage"] img'));
    if (cols.length < 2 || imgs.some(i => !i || !visible(i))) continue;
    const widths = imgs.map(i => Math.round(i.getBoundingClientRect().width));
    if (Math.max(...widths) - Math.min(...widths) > 2)
      bad.push('pictures of one row in unequal sizes: ' + widths.join(', '));
  }
  // Tables: while presenting, text at the room's size. A canvas-drawn dataframe keeps ~13 px whatever
  // the CSS: presenting, tables are HTML (lib.ui.present.dataframe).
  if (presenting) {
    for (const grid of document.querySelectorAll('[data-testid="stDataFrame"]')) {
      if (visible(grid)) bad.push('a canvas table (its text stays ~13 px): ' + (grid.innerText || '').slice(0, 40));
    }
    for (const table of document.querySelectorAll('[data-testid="stTable"]')) {  // wider than its place: it scrolls
      const boxes = [table, ...table.querySelectorAll('div')];
      if (visible(table) && boxes.some(b => b.scrollWidth > b.clientWidth + 1))
        bad.push('table cut sideways: ' + (table.querySelector('th') || table).textContent.trim().slice(0, 40));
    }
    // Code never runs off the page.
    for (const pre of document.querySelectorAll('[data-testid="stCode"] pre')) {
      if (visible(pre) && pre.scrollWidth > pre.clientWidth + 1)
        bad.push('code cut sideways: ' + pre.textContent.trim().slice(0, 40));
    }
    for (const cell of document.querySelectorAll('[data-testid="stTable"] th, [data-testid="stTable"] td')) {
      const px = parseFloat(getComputedStyle(cell).fontSize);
      if (visible(cell) && cell.textContent.trim() && px < %(table)s) {
        bad.push(`table text "${cell.textContent.trim().slice(0, 20)}" is ${px}px`); break;
      }
    }
  }
  // Canvas tables (st.dataframe: glide-data-grid), not presenting: every column inside the grid's width and
  // every header and value narrower than its column. The canvas holds no text to measure, so the columns
  // as the grid lays them out (title, width) and its cells' shown text are read from the grid's React props,
  // and the text is measured with a 2D context in the grid's own fonts, as the grid sizes its columns.
  if (!presenting) {
    const ctx = document.createElement('canvas').getContext('2d');
    const textWidth = (font, text) => { ctx.font = font; return ctx.measureText(text).width; };
    for (const frame of document.querySelectorAll('[data-testid="stDataFrame"]')) {
      const canvas = frame.querySelector('canvas');
      if (!visible(frame) || !canvas) continue;
      const fiber = Object.keys(canvas).find(k => k.startsWith('__reactFiber'));
      let grid = null;
      for (let f = fiber && canvas[fiber], up = 0; f && up < 30 && !grid; f = f.return, up++) {
        const p = f.memoizedProps;
        if (p && Array.isArray(p.columns) && p.theme && typeof p.getCellContent === 'function') grid = p;
      }
      if (!grid) { bad.push('a canvas table whose columns cannot be read: ' + frame.innerText.slice(0, 40)); continue; }
      const heads = grid.columns.map(col => col.title), name = heads.join(' | ').slice(0, 50);
      const pad = grid.theme.cellHorizontalPadding, scroller = frame.querySelector('.dvn-scroller');
      const shown = scroller ? scroller.clientWidth : canvas.clientWidth;
      let right = 0;
      grid.columns.forEach((col, c) => {
        right += col.width;
        const head = textWidth(grid.theme.headerFontFull, col.title) + 2 * pad
          + (col.icon ? grid.theme.headerIconSize + pad : 0);
        if (head > col.width + 0.5)
          bad.push(`table ${name}: header "${col.title}" cut (needs ${Math.ceil(head)} px, has ${col.width})`);
        else if (right > shown + 1)
          bad.push(`table ${name}: header "${col.title}" cut by the table's edge (ends at ${right} px of ${shown})`);
        for (let r = 0; r < Math.min(grid.rows, 50); r++) {
          const cell = grid.getCellContent([c, r]);
          const text = String(cell.displayData ?? cell.data ?? '');
          const need = textWidth(grid.theme.baseFontFull, text) + 2 * pad;
          if (need > col.width + 0.5) {
            bad.push(`table ${name}: "${text.slice(0, 30)}" cut in "${col.title}" (needs ${Math.ceil(need)} px)`);
            break;
          }
        }
      });
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
    const titleText = svg.querySelector('.role-title-text');
    const title = titleText ? ([...titleText.querySelectorAll('tspan')].map(t => t.textContent).join(' ')
      || titleText.textContent) : 'chart';
    const box = svg.getBoundingClientRect();
    if (presenting) {
      for (const t of svg.querySelectorAll('text')) {
        const px = parseFloat(getComputedStyle(t).fontSize);
        if (t.textContent.trim() && px < %(min)s) {
          bad.push(`${title}: text "${t.textContent.slice(0, 20)}" is ${px}px`); break;
        }
      }
    }
    // what shows of the chart: its own element and every ancestor that clips (Streamlit's frame)
    let frame = chart.getBoundingClientRect();
    frame = {left: Math.max(box.left, frame.left), right: Math.min(box.right, frame.right),
             top: Math.max(box.top, frame.top), bottom: Math.min(box.bottom, frame.bottom)};
    for (let up = chart.parentElement; up && up !== document.body; up = up.parentElement) {
      const cs = getComputedStyle(up);
      if (cs.overflowY === 'visible' && cs.overflowX === 'visible') continue;
      // the page itself scrolls: not a frame
      if (up.matches('[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]')) break;
      const c = up.getBoundingClientRect();
      frame = {left: Math.max(frame.left, c.left), right: Math.min(frame.right, c.right),
               top: Math.max(frame.top, c.top), bottom: Math.min(frame.bottom, c.bottom)};
    }
    // Vega cuts a title, label or legend entry longer than its limit and ends it with an ellipsis.
    for (const t of svg.querySelectorAll('text')) {
      const text = t.textContent.trim();
      if (text.endsWith('…')) bad.push(`${title}: text cut by the chart: "${text.slice(0, 60)}"`);
    }
    // An epoch axis counts whole epochs ("1", "2"; it once read "1.000000").
    for (const axis of svg.querySelectorAll('g.role-axis')) {
      const name = (axis.querySelector('.role-axis-title text') || {}).textContent || '';
      if (!/^(epoch|에포크)$/.test(name.trim())) continue;
      for (const t of axis.querySelectorAll('.role-axis-label text'))
        if (!/^[0-9]+$/.test(t.textContent.trim())) {
          bad.push(`${title}: epoch axis label "${t.textContent}"`); break;
        }
    }
    // A heatmap's printed numbers (text marks over rect cells) never run into each other.
    if (svg.querySelector('g.mark-rect.role-mark')) {
      const boxes = [...svg.querySelectorAll('g.mark-text.role-mark text')].filter(t => t.textContent.trim())
        .map(t => t.getBoundingClientRect());
      const hit = boxes.some((a, i) => boxes.slice(i + 1).some(b => a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5));
      if (hit) bad.push(`${title}: printed numbers overlap`);
    }
    const drawn = [...svg.querySelectorAll('[role="graphics-symbol"][aria-label]')]
      .filter(m => !m.closest('.role-legend, .role-axis')).map(m => '; ' + m.getAttribute('aria-label') + ';');
    for (const legend of svg.querySelectorAll('g.role-legend')) {
      const b = legend.getBoundingClientRect();
      if (b.width && (b.right > frame.right + 1 || b.bottom > frame.bottom + 1 || b.left < frame.left - 1
                      || b.top < frame.top - 1))
        bad.push(`${title}: legend outside its chart`);
      if (!legend.querySelector('.role-legend-symbol')) continue;  // a colour gradient: no entries
      for (const label of legend.querySelectorAll('.role-legend-label text')) {
        const name = label.textContent.trim();
        if (name && !drawn.some(d => d.includes(': ' + name + ';')))
          bad.push(`${title}: legend entry "${name}" has no drawn mark`);
      }
    }
    // A chart that promises a legend shows it, with these entries.
    for (const [part, entries] of Object.entries(%(legends)s)) {
      if (!title.includes(part)) continue;
      const labels = [...svg.querySelectorAll('.role-legend-label text')].map(t => t.textContent.trim());
      for (const entry of entries) if (!labels.includes(entry)) bad.push(`${title}: no legend entry "${entry}"`);
    }
  }
  return bad;
}
""".replace("%(min)s", str(MIN_CHART_PX))
    .replace("%(table)s", str(MIN_TABLE_PX))
    .replace("%(legends)s", json.dumps(LEGENDS))
)


def _train(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "train", "digits", *args, "--store", str(store)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _saved_set(data_root: Path) -> str:
    """A saved set of your own pictures (two classes of tiny PNGs), for the sidebar's "Saved set" box."""
    import io
    import os

    import numpy as np
    from PIL import Image

    from lib.data import picture_sets

    def png(value: int) -> bytes:
        out = io.BytesIO()
        Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(out, "PNG")
        return out.getvalue()

    classes = {
        "cats": [(f"{i}.png", png(20 * i)) for i in range(1, 5)],
        "dogs": [(f"{i}.png", png(250 - 20 * i)) for i in range(1, 5)],
    }
    before = os.environ.get("EXPLORER_DATA_ROOT")
    os.environ["EXPLORER_DATA_ROOT"] = str(data_root)
    try:
        return picture_sets.ingest_classes(classes, "Classroom pets").saved.name
    finally:
        if before is None:
            del os.environ["EXPLORER_DATA_ROOT"]
        else:
            os.environ["EXPLORER_DATA_ROOT"] = before


@pytest.fixture(scope="module")
def served_with_runs(tmp_path_factory):
    """Two stored runs (Compare shows them side by side), trained at once, a LiteRT export of the
    run Train & Evaluate shows first (its tables), a saved set of pictures, and one server."""
    from lib.runs.store import RunStore

    store = tmp_path_factory.mktemp("projector-runs")
    data_root = tmp_path_factory.mktemp("projector-data")
    jobs = [_train(store, "--model", "cnn", "--epochs", "2"), _train(store, "--model", "mlp", "--epochs", "1")]
    saved = _saved_set(data_root)
    for job in jobs:
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err[-1000:]
    shown_first = RunStore(store).list_runs()[0][0].run_id
    export = subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "export", shown_first, "--store", str(store)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    proc, url, _ = start_server({"EXPLORER_RUNS": str(store), "EXPLORER_DATA_ROOT": str(data_root)})
    try:
        yield {"url": url, "export": export, "saved_set": saved, "store": store}
    finally:
        stop_server(proc)
        export.kill()


def _export_done(served: dict) -> None:
    """The export runs while the first pages are checked; Train & Evaluate waits for it."""
    _, err = served["export"].communicate(timeout=300)
    assert served["export"].returncode == 0, err[-1000:]


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
    page.wait_for_timeout(200)


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_page_and_tab_reads_on_a_projector(browser, served_with_runs, width, height, presenting):
    SHOTS.mkdir(exist_ok=True)
    url = served_with_runs["url"]
    suffix = f"{width}x{height}" + ("_present" if presenting else "")
    problems: dict[str, list[str]] = {}
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(120_000)
    elsewhere: list[str] = []  # a classroom may be offline: the page asks nothing of another host
    page.on("request", lambda r: None if r.url.startswith(url) else elsewhere.append(r.url))
    page.goto(f"{url}/data" + ("?present=1" if presenting else ""))
    expect(page.get_by_role("heading", name=PAGES["data"])).to_be_visible()
    for path, title in PAGES.items():
        if path == "train":
            _export_done(served_with_runs)
        page.get_by_test_id("stSidebarNav").get_by_text(title).click()  # as a teacher moves on
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        _idle(page)
        expect(page.get_by_test_id("stSidebar")).to_be_visible()  # the sidebar stays open
        if presenting:  # the switch survives the sidebar link
            assert re.search(r"[?&]present=1", page.url), page.url
        assert page.locator("[data-testid='stException']").count() == 0, path
        if path == "augment":  # the main figure first: the preview starts on the first screen
            top = page.locator("[data-testid='stImage'] img").first.bounding_box()["y"]
            assert top < height, f"Augmentation's preview starts at y={top}, below the fold"
        for tab in TABS.get(path, [None]):
            name = path
            if tab is not None:
                page.get_by_role("tab", name=tab, exact=True).click()
                page.wait_for_timeout(250)
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
                found = page.evaluate(CHECK_JS, presenting)  # the trap's own table and code
                if found:
                    problems[f"{name}_run"] = found
        if path == "train":  # the LiteRT export's tables, below the tabs
            page.get_by_text("Per class, for", exact=True).scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"train_export_{suffix}.png"))
    if width == SIZES[0][0]:  # the sidebar with a saved set of your own pictures chosen
        page.goto(
            f"{url}/data?dataset=images&path={served_with_runs['saved_set']}" + ("&present=1" if presenting else "")
        )
        expect(page.get_by_text("Classroom pets").first).to_be_visible()
        _idle(page)
        page.screenshot(path=str(SHOTS / f"data_your_images_{suffix}.png"))
        found = page.evaluate(CHECK_JS, presenting)
        if found:
            problems["data_your_images"] = found
    page.close()
    assert not [u for u in elsewhere if not u.startswith(("data:", "blob:"))], elsewhere
    assert not problems, problems


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
def test_pressing_train_shows_progress_without_scrolling(browser, served_with_runs, presenting):
    """At 1024x768 the first thing that changes when Train is pressed is on the first screen, and the
    "No run for this dataset yet" of the page before the press does not stay under the progress."""
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.set_default_timeout(120_000)
    # An imbalance of its own per case: a data set no stored run has, so the button trains.
    page.goto(f"{served_with_runs['url']}/train?imbalance=3:" + ("0.25&present=1" if presenting else "0.5"))
    expect(page.get_by_role("heading", name=PAGES["train"])).to_be_visible()
    _idle(page)
    no_run = page.get_by_text("No run for this dataset yet", exact=False)
    expect(no_run).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("[data-testid='stMain']").evaluate("el => el.scrollTo(0, 0)")
    button = page.get_by_role("button", name="Train", exact=True)
    assert button.bounding_box()["y"] + button.bounding_box()["height"] <= 768, "the Train button is below the fold"
    button.click()
    bar = page.get_by_test_id("stProgress").first
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box is not None and 0 <= box["y"] < 768, f"progress at y={box}: below the fold"
    expect(no_run).to_have_count(0)  # while the run is in progress
    # While batches run, the epoch bar counts the epochs done: no "Starting…" above a moving batch bar.
    running = page.get_by_text(": batch ", exact=False).or_(page.get_by_text("trained 3 epochs", exact=False))
    expect(running.first).to_be_visible()
    # (the epoch bar's text changes before the batch bar's first one, so it is checked at once, not waited for)
    assert page.get_by_text("Starting…", exact=True).count() == 0, "'Starting…' shown while batches run"
    # It trains: an epoch in progress, or (on a fast machine, where 3 epochs of digits take a few
    # seconds) the finished run, whichever the page shows first.
    trains = page.get_by_text("epoch 1/", exact=False).or_(page.get_by_text("trained 3 epochs", exact=False))
    expect(trains.first).to_be_visible()
    page.close()  # nobody watches it any more: the training stops within one batch (no need to wait for it)


# The "Per class over epochs" chart as drawn: its plot's height, each legend entry's symbol (stroke,
# dash, width) and the dash of every line the plot draws.
PER_CLASS_JS = """() => {
  const chart = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .find(c => c.getClientRects().length && c.closest('[hidden]') === null
               && (c.querySelector('svg .role-title-text') || {}).textContent?.includes('per class'));
  if (!chart) return null;
  const svg = chart.querySelector('svg');
  const view = svg.querySelector('g.role-frame.root > g > path.background');
  const entries = [...svg.querySelectorAll('g.role-legend-symbol')].map(symbol => {
    const path = symbol.querySelector('path'), label = symbol.parentElement.querySelector('.role-legend-label text');
    const box = path.getBoundingClientRect();
    return {label: label ? label.textContent.trim() : '', stroke: path.getAttribute('stroke'),
            dash: path.getAttribute('stroke-dasharray'), width: box.width};
  });
  const lines = [...svg.querySelectorAll('g.mark-line.role-mark path')].map(p => p.getAttribute('stroke-dasharray'));
  return {plot: view ? view.getBoundingClientRect().height : 0, entries, lines};
}"""

# Element toolbars (fullscreen, download, ...) that show, and the tab buttons each one covers.
TOOLBAR_JS = """() => {
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter(t => t.getClientRects().length);
  const bars = [...document.querySelectorAll('[data-testid="stElementToolbar"]')]
    .filter(b => b.getClientRects().length && parseFloat(getComputedStyle(b).opacity) > 0.05);
  return {shown: bars.length, covered: bars.flatMap(b => tabs.filter(t => overlap(b.getBoundingClientRect(),
    t.getBoundingClientRect())).map(t => t.textContent.trim()))};
}"""

# A table's header and its cells' text, for the drawn HTML tables (presenting) whose header holds `column`.
TABLE_JS = """(column) => [...document.querySelectorAll('[data-testid="stTable"] table')]
  .filter(t => [...t.querySelectorAll('thead th')].some(th => th.textContent.trim() === column))
  .map(t => ({head: [...t.querySelectorAll('thead th')].map(th => th.textContent.trim()),
              rows: [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('th, td')]
                .map(c => c.textContent.trim()))}))"""


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
def test_train_page_legend_strokes_plot_height_export_units_and_toolbars(browser, served_with_runs, presenting):
    """At 1024x768, as drawn: the "Per class over epochs" legend shows solid and dashed strokes (the
    dashes its lines have) and its plot is readable from the back of a room; after a click on a chart
    its toolbar covers no tab label; the export tables show every share in percent."""
    from lib import charts

    _export_done(served_with_runs)
    suffix = "1024x768" + ("_present" if presenting else "")
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.set_default_timeout(120_000)
    page.goto(f"{served_with_runs['url']}/train" + ("?present=1" if presenting else ""))
    expect(page.get_by_role("heading", name=PAGES["train"])).to_be_visible()
    _idle(page)
    page.get_by_role("tab", name="Per class over epochs", exact=True).click()
    page.wait_for_timeout(250)
    page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
    try:  # the tab's fragment may draw its chart a moment after the others
        page.wait_for_function(PER_CLASS_JS, timeout=60_000)
    except Exception:
        page.screenshot(path=str(SHOTS / f"train_per_class_missing_{'present' if presenting else 'plain'}.png"))
        raise
    drawn = page.evaluate(PER_CLASS_JS)
    assert drawn is not None, "no per-class chart drawn"
    page.locator("[data-testid='stVegaLiteChart']:visible").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"train_per_class_legend_{suffix}.png"))
    assert drawn["plot"] >= 220, f"the plot is {drawn['plot']} px tall"
    entries = {e["label"]: e for e in drawn["entries"]}
    for name in (charts.EXACT, charts.BATCH_AVERAGED):  # the stored runs record batch-averaged metrics
        entry = entries.get(name)
        assert entry, f"no legend entry {name!r} among {list(entries)}"
        assert entry["stroke"] not in (None, "none", "transparent"), f"{name}: no stroke drawn ({entry})"
        assert entry["dash"] in drawn["lines"], f"{name}: its dash {entry['dash']} is no line's {set(drawn['lines'])}"
        assert entry["width"] >= 20, f"{name}: a {entry['width']} px sample"
    assert entries[charts.EXACT]["dash"] != entries[charts.BATCH_AVERAGED]["dash"]
    for tab in ("Training curves", "Per class over epochs"):
        page.get_by_role("tab", name=tab, exact=True).click()
        page.wait_for_timeout(250)
        page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
        page.locator("[data-testid='stMain']").evaluate("el => el.scrollTo(0, 0)")
        shown = page.locator("[data-testid='stVegaLiteChart']:visible")
        for i in range(shown.count()):
            shown.nth(i).click()  # its toolbar shows, as after a teacher's click
            page.wait_for_timeout(400)
            bars = page.evaluate(TOOLBAR_JS)
            name = f"train_toolbar_{tab.lower().replace(' ', '_')}_{i}_{suffix}.png"
            page.screenshot(path=str(SHOTS / name))
            assert bars["shown"], f"{tab}: no toolbar shown after a click on chart {i}"
            assert not bars["covered"], f"{tab}: chart {i}'s toolbar covers the tabs {bars['covered']}"
    if presenting:  # HTML tables (a canvas table's text is not in the page; AppTest reads its cells)
        (models,) = page.evaluate(TABLE_JS, "agreement")
        (classes,) = page.evaluate(TABLE_JS, "Δ recall")
        page.get_by_text("Per class, for", exact=True).scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"train_export_units_{suffix}.png"))
        for table, shares in ((models, {"accuracy", "balanced", "agreement"}), (classes, None)):
            for row in table["rows"]:
                for head, text in zip(table["head"], row, strict=True):
                    if head in (shares or {h for h in table["head"] if h != "class" and not h.startswith("Δ")}):
                        assert re.fullmatch(r"\d{1,3}\.\d%", text), (head, text)
                    elif head.startswith("Δ"):
                        assert re.fullmatch(r"[+-]\d{1,3}\.\d", text), (head, text)
    # The stored cnn's settings (2 epochs): the main button says "Load from store", whole, on one line.
    page.locator("[data-testid='stMain']").evaluate("el => el.scrollTo(0, 0)")
    epochs = page.get_by_role("spinbutton", name="Epochs")
    if presenting:  # the settings are folded while presenting
        page.get_by_test_id("stExpander").filter(has_text="Training settings").locator("summary").click()
    epochs.fill("2")
    epochs.press("Enter")
    _idle(page)
    load = page.get_by_role("button", name="Load from store", exact=True)
    expect(load).to_be_visible()
    page.screenshot(path=str(SHOTS / f"train_load_from_store_{suffix}.png"))
    problems = [p for p in page.evaluate(CHECK_JS, presenting) if "Load from" in p]
    assert not problems, problems
    lines = load.evaluate(LINES_JS)
    assert lines == 1, f"'Load from store' takes {lines} lines"
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()


# How many lines a button's text takes (its height over its line height).
LINES_JS = """b => { const p = b.querySelector('p');
  return Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)); }"""

DRAWN_MARKS_JS = """() => [...document.querySelectorAll(
    '[data-testid="stVegaLiteChart"] svg [role="graphics-symbol"][aria-label]')]
  .filter(m => !m.closest('.role-legend, .role-axis')).map(m => '; ' + m.getAttribute('aria-label') + ';')"""


def _but_translated_legends(page, found: list[str]) -> list[str]:
    """`found` without the legend entries that lib.charts shows translated (`_shown_labels`: the
    legend says 학습, the data and so the marks keep "train"): such an entry is drawn when a mark
    carries its English value."""
    from lib import charts, i18n

    english = {i18n.translations("ko").gettext(v): v for v in charts.LEGEND_VALUES}
    drawn = page.evaluate(DRAWN_MARKS_JS)
    kept = []
    for problem in found:
        entry = re.search(r'legend entry "(.+)" has no drawn mark', problem)
        value = english.get(entry.group(1)) if entry else None
        if value is None or not any(f": {value};" in mark for mark in drawn):
            kept.append(problem)
    return kept


KEEPS_WORDS_JS = """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stMarkdownContainer] p')]
  .every((p) => getComputedStyle(p).wordBreak === 'keep-all')"""


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_korean_page_and_tab_reads_on_a_projector(browser, served_with_runs, width, height):
    """Every page and tab in Korean, presenting, sidebar open, the stored runs shown: Hangul labels,
    captions, metrics, tabs, options and tables are neither cut nor broken inside a word (the same
    checks as every English page; Present off is left to the English pass: Korean adds only its words)."""
    from lib import i18n

    korean = i18n.translations("ko").gettext
    SHOTS.mkdir(exist_ok=True)
    url = served_with_runs["url"]
    suffix = f"{width}x{height}_present"
    problems: dict[str, list[str]] = {}
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(120_000)
    page.goto(f"{url}/data?lang=ko&present=1")
    expect(page.get_by_role("heading", name=korean(PAGES["data"]))).to_be_visible()
    _idle(page)
    page.wait_for_function(KEEPS_WORDS_JS, timeout=60_000)  # the Korean style arrives with the sidebar
    for path, title in PAGES.items():
        if path == "train":
            _export_done(served_with_runs)
        page.get_by_test_id("stSidebarNav").get_by_text(korean(title)).click()  # as a teacher moves on
        expect(page.get_by_role("heading", name=korean(title))).to_be_visible()
        _idle(page)
        assert re.search(r"[?&]lang=ko", page.url) and re.search(r"[?&]present=1", page.url), page.url
        assert page.locator("[data-testid='stException']").count() == 0, path
        for tab in TABS.get(path, [None]):
            name = path
            if tab is not None:
                page.get_by_role("tab", name=korean(tab), exact=True).click()
                page.wait_for_timeout(250)
                page.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
                name = f"{path}_{tab.lower().replace(' ', '_')}"
                page.get_by_role("tablist").first.evaluate("el => el.scrollIntoView()")  # the tab's own content
            page.screenshot(path=str(SHOTS / f"{name}_ko_{suffix}.png"))  # what the room sees
            found = _but_translated_legends(page, page.evaluate(CHECK_JS, True))
            if found:
                problems[name] = found
        if path == "train":  # the LiteRT export's tables, below the tabs
            page.get_by_text(korean("Per class, for"), exact=True).scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"train_export_ko_{suffix}.png"))
    page.close()
    assert not problems, problems


def _digits_fingerprint() -> str:
    from lib.data.sources import load_digits

    return load_digits().fingerprint


@pytest.fixture(scope="module")
def long_named_run(served_with_runs, tmp_path_factory):
    """A third run whose name (made from its settings) is as long as the tutorial ladder's: a stored
    run's backbone, fine-tuned with the tutorial's augmentation, "run:<id> fine-tune 1 · 1 ep · aug
    tutorial: rotate 30, shift 0.2, zoom 0.2, flip · seed 0". Compare's canvas table cut it (a canvas
    column stops at 500 px). A transfer run cannot lend a backbone: the study's default stays one of
    the other two. Removed again after this module's last test; returns the name."""
    import shutil

    from lib.augment.settings import preset, to_json
    from lib.runs.store import RunStore
    from lib.runs.study import TUTORIAL_AUGMENT

    store = served_with_runs["store"]
    augment = tmp_path_factory.mktemp("augment") / "tutorial.json"
    augment.write_text(to_json(preset(TUTORIAL_AUGMENT)), encoding="utf-8")
    # the module's own complete cnn on plain digits (other tests stop cnn runs on digits made imbalanced)
    backbone = next(
        r
        for r in RunStore(store).list_runs()[0]
        if r.model == "cnn" and r.status == "complete" and r.dataset.fingerprint == _digits_fingerprint()
    ).run_id
    args = ["--model", f"run:{backbone}", "--transfer", "fine_tune", "--unfreeze", "1", "--augment", str(augment)]
    job = _train(store, *args, "--epochs", "1")
    _, err = job.communicate(timeout=300)
    assert job.returncode == 0, err[-1000:]
    run = next(r for r in RunStore(store).list_runs()[0] if r.model.startswith("run:"))
    assert len(run.display_name) > 90, run.display_name
    yield run.display_name
    shutil.rmtree(store / run.run_id, ignore_errors=True)


# Compare's tables: nothing wider than its place (it would scroll sideways), no cell's text cut.
TABLES_FIT_JS = """() => {
  const bad = [];
  for (const table of document.querySelectorAll('[data-testid="stTable"]')) {
    if (!table.getClientRects().length) continue;
    for (const box of [table, ...table.querySelectorAll('div, table, th, td')]) {
      if (box.scrollWidth > box.clientWidth + 1)
        bad.push(`${box.tagName} ${box.scrollWidth} > ${box.clientWidth}: ${box.textContent.trim().slice(0, 50)}`);
    }
    const r = table.getBoundingClientRect(), main = document.querySelector('[data-testid="stMainBlockContainer"]');
    if (r.right > main.getBoundingClientRect().right + 1) bad.push('table past the page: ' + r.right);
  }
  return bad;
}"""

# Where it looks: each picture's fullscreen button (shown on hover) and each picture overlap nothing else.
OVERLAPS_JS = """(img) => {
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  let up = img, button = null;
  while (up && !(button = up.querySelector('button[aria-label^="Fullscreen"]'))) up = up.parentElement;
  const mine = img.closest('[data-testid="stElementContainer"]') || img;
  const panel = img.closest('[role="tabpanel"]');
  const others = [...panel.querySelectorAll('[data-testid="stSelectbox"], [data-testid="stImage"], '
    + '[data-testid="stCaptionContainer"], [data-testid="stMarkdownContainer"], [data-testid="stRadio"]')]
    .filter(o => o.getClientRects().length && !mine.contains(o) && !o.contains(mine));
  const bad = [];
  const own = img.getBoundingClientRect();
  for (const [what, r] of [['picture', own], ['fullscreen button', button && button.getBoundingClientRect()]]) {
    if (!r || !r.width) { if (what !== 'picture') bad.push('no fullscreen button on hover'); continue; }
    for (const o of others) {
      const range = document.createRange();  // text: its lines, not its block (a short caption spans the row)
      range.selectNodeContents(o);
      const text = o.matches('[data-testid="stCaptionContainer"], [data-testid="stMarkdownContainer"]');
      if ((text ? [...range.getClientRects()] : [o.getBoundingClientRect()]).some(q => q.width && hit(r, q)))
        bad.push(`${what} over ${o.getAttribute('data-testid')}: ${o.textContent.trim().slice(0, 40)}`);
    }
  }
  return bad;
}"""


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_compare_and_where_it_looks_fit_without_cuts_or_overlaps(
    browser, served_with_runs, long_named_run, width, height, presenting
):
    """Compare: its runs' tables (the headline one, and Every column opened) never scroll sideways and
    show every run's name whole; the study's Backbone box shows its whole value, and the greyed-out
    Weights box says why. Look inside, Where it looks: no picture and no fullscreen button lies over the
    Mistake box, a caption or another picture."""
    SHOTS.mkdir(exist_ok=True)
    url, query = served_with_runs["url"], "?present=1" if presenting else ""
    suffix = f"{width}x{height}" + ("_present" if presenting else "")
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(120_000)
    page.goto(f"{url}/runs{query}")
    expect(page.get_by_role("heading", name=PAGES["runs"])).to_be_visible()
    _idle(page)
    problems: dict[str, list[str]] = {}
    every = page.get_by_test_id("stExpander").filter(has_text="Every column (run id, settings, F1 per class)")
    if every.count():
        every.get_by_text("Every column (run id, settings, F1 per class)").click()
        _idle(page)
        every.screenshot(path=str(SHOTS / f"runs_every_column_{suffix}.png"))
    if not page.get_by_test_id("stTable").filter(has_text=long_named_run).count():  # the whole name, as text
        problems["name"] = [f"not shown whole in a table: {long_named_run}"]
    problems["tables"] = page.evaluate(TABLES_FIT_JS)

    page.get_by_text("Run the study:", exact=False).click()
    _idle(page)
    study = page.get_by_test_id("stExpander").filter(has_text="Run the study:")
    backbone = study.get_by_test_id("stSelectbox").filter(has_text="Backbone").locator("input[role='combobox']")
    value = backbone.evaluate("i => [i.value, i.scrollWidth, i.clientWidth]")
    if value[1] > value[2] + 1:
        problems["backbone"] = [f"cut: {value}"]
    weights = study.get_by_test_id("stSelectbox").filter(has_text="Weights").locator("input[role='combobox']")
    expect(weights).to_be_disabled()  # the default backbone is a stored run's
    reason = study.get_by_text("a backbone from a stored run keeps the weights it learned", exact=False)
    if not reason.count() or not reason.first.is_visible():
        problems["weights"] = ["greyed out without a reason"]
    study.screenshot(path=str(SHOTS / f"runs_study_{suffix}.png"))

    page.goto(f"{url}/inside{query}")
    expect(page.get_by_role("heading", name=PAGES["inside"])).to_be_visible()
    _idle(page)
    page.get_by_role("tab", name="Where it looks", exact=True).click()
    _idle(page)
    panel = page.locator('[role="tabpanel"]:not([hidden])')
    expect(panel.get_by_test_id("stSelectbox").filter(has_text="Mistake")).to_be_visible()
    images = panel.get_by_test_id("stImage").locator("img")
    assert images.count() >= 6, images.count()  # the image from Try it and the mistake, each with maps
    found = []
    for i in range(images.count()):
        images.nth(i).hover()
        page.wait_for_timeout(300)
        found += images.nth(i).evaluate(OVERLAPS_JS)
        if i == images.count() - 1:
            page.screenshot(path=str(SHOTS / f"inside_where_hover_{suffix}.png"))
    problems["where it looks"] = found
    page.close()
    assert not any(problems.values()), problems
