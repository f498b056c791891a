"""page_rerun_ms (AppTest rerun of Train & Evaluate showing a stored run), page_rerun_ms[<page>, 50k]
(every page's rerun on a synthetic CIFAR-size set: 50,000 + 10,000 images of 32x32x3, with a
stored run on it) and cold_start_s (from `streamlit run` to the Dataset page showing content in
Chromium). `python -m bench app:page_rerun_50k`; BENCH_PAGES_TRAIN sets a smaller training split."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


PAGES = {
    "dataset": "pages/dataset.py",
    "augmentation": "pages/augmentation.py",
    "train_evaluate": "pages/train_evaluate.py",
    "compare": "pages/compare.py",
    "inspect": "pages/inspect.py",
}


def _server_script_cache() -> None:
    """Keep compiled page scripts between AppTest runs, as a server does: AppTest makes a new
    ScriptCache for every run and so parses and compiles the router and the page each time
    (about 60 ms for Train & Evaluate's 375 lines on an idle core), which no server rerun pays."""
    import streamlit.testing.v1.app_test as app_test
    import streamlit.testing.v1.local_script_runner as local_script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    shared = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared


def page_rerun_50k() -> None:
    """A rerun of each page once it has been visited (what a teacher waits for after a control
    that reruns the whole page), on CIFAR-size data with two stored mlp runs to show."""
    from streamlit.testing.v1 import AppTest

    from bench.common import CIFAR_TEST, CIFAR_TRAIN, cifar_sized_npz
    from lib.data.sources import DatasetSpec, load_dataset
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.training import TrainSettings

    n_train = int(os.environ.get("BENCH_PAGES_TRAIN", CIFAR_TRAIN))
    n_test = min(CIFAR_TEST, max(100, n_train // 5))
    size = f"{n_train // 1000}k" if n_train >= 1000 else str(n_train)
    with tempfile.TemporaryDirectory() as root:
        os.environ["EXPLORER_RUNS"] = str(Path(root) / "runs")
        path = cifar_sized_npz(root, n_train, n_test)
        spec = DatasetSpec("npz", str(path))
        ds = load_dataset(spec)
        store = RunStore(os.environ["EXPLORER_RUNS"])
        for seed in (0, 1):  # two runs: Compare draws them side by side
            train_or_load(ds, TrainSettings(model="mlp", epochs=1, seed=seed), spec.label, store)
        del ds
        _server_script_cache()
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.query_params["dataset"] = "npz"
        at.query_params["path"] = str(path)
        at.run()
        assert not at.exception, at.exception
        for name, page in PAGES.items():
            at.switch_page(page).run()
            assert not at.exception, f"{name}: {at.exception}"
            at.run()  # warm-up
            wall, cpu = [], []
            for _ in range(5):
                t0, c0 = time.perf_counter(), time.process_time()
                at.run()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            assert not at.exception, f"{name}: {at.exception}"
            # CPU time beside wall time: on a shared machine the wall time grows with the others' load.
            report(
                f"page_rerun_ms[{name}, {size}]",
                statistics.median(wall) * 1000,
                f"ms (cpu {statistics.median(cpu) * 1000:.0f} ms; {n_train:,} + {n_test:,} images of 32x32x3, "
                f"median of 5 reruns; load {os.getloadavg()[0]:.1f})",
                "goal <= 250 ms",
            )
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
    page_rerun_50k()
    cold_start()
