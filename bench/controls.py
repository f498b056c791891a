"""control_latency_ms: in Chromium, from the input event to the redrawn element, median of 10.

Two controls: the Augmentation page's rotation (a fragment: its code, preview and the trap
depend on it) and the confusion-matrix normalization on Train & Evaluate (a fragment: only
the matrix reruns). `python -m bench controls`.

Both ends are timed inside the page with `performance.now()`: a capturing listener takes the
input event's time, a MutationObserver sees the new text arrive and the next animation frame
(when the browser paints it) is the end. Playwright's own waiting polls the page at growing
intervals (up to 500 ms apart), so timing its `wait_for` from Python would measure its polling."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from bench.common import ROOT, report


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=120_000)


# Arms a one-shot timer in the page: t0 at the first `event` (capture phase, before Streamlit's
# handlers), t1 at the animation frame after `selector`'s text first contains `text`.
ARM = """([event, selector, text]) => {
  const lat = (window.__latency = {t0: null, t1: null});
  document.addEventListener(event, () => { if (lat.t0 === null) lat.t0 = performance.now(); }, {capture: true});
  const shown = () => [...document.querySelectorAll(selector)].some((el) => el.textContent.includes(text));
  new MutationObserver((_, observer) => {
    if (lat.t0 !== null && shown()) {
      observer.disconnect();
      requestAnimationFrame(() => { lat.t1 = performance.now(); });
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _timed(page, event: str, selector: str, text: str, act) -> float:
    """Milliseconds from the input event to the painted frame that shows `text`."""
    page.evaluate(ARM, [event, selector, text])
    act()
    page.wait_for_function("() => window.__latency && window.__latency.t1 !== null", timeout=120_000)
    return page.evaluate("() => window.__latency.t1 - window.__latency.t0")


def run() -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_server, stop_server

    store = tempfile.mkdtemp(prefix="bench-controls-")
    subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "digits", "--model", "cnn", "--epochs", "2", "--store", store],
        cwd=ROOT, capture_output=True, check=True, timeout=600,
    )  # fmt: skip
    proc, url, _ = start_server({"EXPLORER_RUNS": store})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.get_by_role("heading", name="1 · Dataset").wait_for()
            page.get_by_test_id("stSidebarNav").get_by_text("2 · Augmentation").click()
            page.get_by_role("heading", name="2 · Augmentation").wait_for()
            _idle(page)
            rotation = []
            for value in range(11, 31, 2):  # 10 values: the code text shows each one
                field = page.get_by_role("spinbutton", name="rotation range")
                field.fill(str(value))
                rotation.append(
                    _timed(page, "keydown", "code", f"rotation_range={value},", lambda f=field: f.press("Enter"))
                )
                _idle(page)
            page.get_by_test_id("stSidebarNav").get_by_text("3 · Train & Evaluate").click()
            page.get_by_text("Test set (").first.wait_for()
            _idle(page)
            toggle = []
            labels = ["by true class (recall)", "counts"] * 5
            for label in labels:
                option = page.get_by_text(label, exact=True).first
                option.wait_for()  # Playwright's checks before a click happen before the timer starts
                svg_text = "[data-testid='stVegaLiteChart'] svg text"
                toggle.append(_timed(page, "pointerdown", svg_text, f"images), {label}", option.click))
                _idle(page)
            browser.close()
    finally:
        stop_server(proc)
    for name, times in (("augment rotation", rotation), ("confusion normalization", toggle)):
        report(
            f"control_latency_ms[{name}]",
            statistics.median(times),
            f"ms (min {min(times):.0f}, max {max(times):.0f}, {len(times)} changes)",
            "goal <= 250 ms",
        )


if __name__ == "__main__":
    os.chdir(ROOT)
    run()
