"""control_latency_ms: in Chromium, from the input event to the redrawn element, median of 10.

Two controls: the Augmentation page's rotation (a whole-page rerun: the code, the preview and
the trap all depend on it) and the confusion-matrix normalization on Train & Evaluate (a
fragment: only the matrix reruns). `python -m bench controls`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, report


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=120_000)


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
                t0 = time.perf_counter()
                field.press("Enter")
                page.get_by_text(f"rotation_range={value},").first.wait_for()
                rotation.append(time.perf_counter() - t0)
                _idle(page)
            page.get_by_test_id("stSidebarNav").get_by_text("3 · Train & Evaluate").click()
            page.get_by_text("Test set (").first.wait_for()
            _idle(page)
            toggle = []
            labels = ["by true class (recall)", "counts"] * 5
            for label in labels:
                t0 = time.perf_counter()
                page.get_by_text(label, exact=True).first.click()
                page.locator("[data-testid='stVegaLiteChart'] svg text", has_text=f"images), {label}").first.wait_for()
                toggle.append(time.perf_counter() - t0)
                _idle(page)
            browser.close()
    finally:
        stop_server(proc)
    report("control_latency_ms[augment rotation]", statistics.median(rotation) * 1000, "ms", "goal <= 250 ms")
    report("control_latency_ms[confusion normalization]", statistics.median(toggle) * 1000, "ms", "goal <= 250 ms")


if __name__ == "__main__":
    os.chdir(ROOT)
    run()
