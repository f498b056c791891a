"""page_rerun_ms (AppTest rerun of Train & Evaluate showing a stored run) and cold_start_s
(from `streamlit run` to the Dataset page showing content in Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, median_seconds, report


def page_rerun() -> None:
    from streamlit.testing.v1 import AppTest

    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.training import TrainSettings

    with tempfile.TemporaryDirectory() as root:
        os.environ["EXPLORER_RUNS"] = root
        train_or_load(load_digits(), TrainSettings(model="cnn", epochs=3), "digits", RunStore(root))
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
        at.switch_page("pages/train_evaluate.py").run()
        assert not at.exception and at.metric, "the stored run is not shown"
        t = median_seconds(lambda: at.run(), repeat=7)
        # The same page with nothing cached is what a first visit costs.
        report("page_rerun_ms", t * 1000, "ms (confusion matrix, report, galleries, curves)", "goal <= 500 ms")
        del os.environ["EXPLORER_RUNS"]


def landing_imports_tensorflow() -> bool:
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'streamlit_app.py')!r}, default_timeout=60).run()\n"
        "assert not at.exception\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    return out.stdout.strip().endswith("True")


def cold_start() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import CHROMIUM_ARGS, start_server

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc, url, _ = start_server({"EXPLORER_RUNS": tempfile.mkdtemp()})
        try:
            if os.path.exists(chromium):
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                    page = browser.new_page()
                    page.goto(url)
                    page.get_by_text("Majority-class baseline").wait_for(timeout=60_000)
                    times.append(time.perf_counter() - t0)
                    browser.close()
            else:
                times.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(10)
    how = "browser shows the Dataset page" if os.path.exists(chromium) else "HTTP health only (no chromium)"
    report("cold_start_s", sorted(times)[1], f"s ({how}, median of 3)", "goal <= 6 s")
    report("landing_imports_tensorflow", float(landing_imports_tensorflow()), "(0 = no)", "goal 0")


def run() -> None:
    page_rerun()
    cold_start()
