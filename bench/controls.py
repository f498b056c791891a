"""control_latency_ms: in Chromium, from the input event to the redrawn element, median of 10.

The Augmentation page's rotation (a fragment: its code, preview and the trap depend on it), the
confusion-matrix normalization on Train & Evaluate (a fragment: only the matrix reruns) and the
per-class metric (a fragment: the per-class view), on digits (`python -m bench controls`) and on a
CIFAR-size set (`python -m bench controls:run_50k`, which also times the Dataset page's sample
seed, a whole-page rerun).

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


def _train_run(store: str, data: str, model: str, epochs: int) -> None:
    cmd = [sys.executable, "-m", "lib.cli", "train", data, "--model", model, "--epochs", str(epochs), "--store", store]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, timeout=900)


def run(size: str = "") -> None:
    """Digits (a cnn run), or with size="50k" a synthetic CIFAR-size set of 50,000 + 10,000 images
    (an mlp run): `python -m bench controls:run_50k`."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_server, stop_server

    store = tempfile.mkdtemp(prefix="bench-controls-")
    query = ""
    if size:
        from bench.common import CIFAR_TEST, CIFAR_TRAIN, cifar_sized_npz

        n_train = int(os.environ.get("BENCH_PAGES_TRAIN", CIFAR_TRAIN))
        path = cifar_sized_npz(store, n_train, min(CIFAR_TEST, max(100, n_train // 5)))
        _train_run(store, str(path), "mlp", 1)
        query = f"?dataset=npz&path={path}"
    else:
        _train_run(store, "digits", "cnn", 2)
    proc, url, _ = start_server({"EXPLORER_RUNS": store})
    times: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(url.rstrip("/") + "/data" + query)
            page.get_by_role("heading", name="1 · Dataset").wait_for()
            page.get_by_text("Majority-class baseline").wait_for()
            _idle(page)
            if size:  # the Dataset page's sample controls rerun the whole page (its statistics come from the cache)
                import numpy as np

                from lib.data.stats import sample_indices

                with np.load(path) as npz:
                    y_train, first_name = npz["y_train"], str(npz["class_names"][0])
                times["dataset sample seed"] = []
                for value in range(1, 6):  # the first class's first sample under this seed is a caption only it shows
                    first = sample_indices(y_train, 6, None, seed=value)[0][0]
                    field = page.get_by_role("spinbutton", name="Seed")
                    field.fill(str(value))
                    caption = f"{first_name} #{first}"
                    times["dataset sample seed"].append(
                        _timed(
                            page, "keydown", "[data-testid='stImageCaption']", caption, lambda f=field: f.press("Enter")
                        )
                    )
                    _idle(page)
            page.get_by_test_id("stSidebarNav").get_by_text("2 · Augmentation").click()
            page.get_by_role("heading", name="2 · Augmentation").wait_for()
            # The page's first run goes on after its heading (it imports TensorFlow for the generator,
            # ~2 s, and the status widget may not show it): time the controls once its code is drawn.
            page.locator("code", has_text="rotation_range=").first.wait_for()
            _idle(page)
            times["augment rotation"] = []
            for value in range(11, 31, 2):  # 10 values: the code text shows each one
                field = page.get_by_role("spinbutton", name="rotation range")
                field.fill(str(value))
                times["augment rotation"].append(
                    _timed(page, "keydown", "code", f"rotation_range={value},", lambda f=field: f.press("Enter"))
                )
                _idle(page)
            page.get_by_test_id("stSidebarNav").get_by_text("3 · Train & Evaluate").click()
            page.get_by_text("Test set (").first.wait_for()
            _idle(page)
            svg_text = "[data-testid='stVegaLiteChart'] svg text"
            times["confusion normalization"] = []
            for label in ["by true class (recall)", "counts"] * 5:
                option = page.get_by_text(label, exact=True).first
                option.wait_for()  # Playwright's checks before a click happen before the timer starts
                times["confusion normalization"].append(
                    _timed(page, "pointerdown", svg_text, f"images), {label}", option.click)
                )
                _idle(page)
            page.get_by_role("tab", name="Per class over epochs").click()
            page.get_by_text("recall per class").first.wait_for()
            _idle(page)
            times["per-class metric"] = []
            for metric in ["precision", "f1", "recall"] * 3 + ["precision"]:
                option = page.get_by_test_id("stRadio").filter(has_text="Metric").get_by_text(metric, exact=True)
                option.wait_for()
                times["per-class metric"].append(
                    _timed(page, "pointerdown", svg_text, f"{metric} per class", option.click)
                )
                _idle(page)
            browser.close()
    finally:
        stop_server(proc)
    for name, values in times.items():
        report(
            f"control_latency_ms[{name}{', ' + size if size else ''}]",
            statistics.median(values),
            f"ms (min {min(values):.0f}, max {max(values):.0f}, {len(values)} changes; load {os.getloadavg()[0]:.1f})",
            "goal <= 250 ms median, <= 400 ms max",
        )


def run_50k() -> None:
    run("50k")


if __name__ == "__main__":
    os.chdir(ROOT)
    run()
