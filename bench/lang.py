"""lang_ko_rerun_ratio: a page's rerun in Korean against the same page in English (AppTest, the
five pages showing a stored run of digits), measured as interleaved pairs in one process."""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from bench.common import ROOT, report
from lib import i18n

PAGES = ("pages/dataset.py", "pages/augmentation.py", "pages/train_evaluate.py", "pages/compare.py", "pages/inspect.py")


def _app(page: str, lang: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.query_params["lang"] = lang
    with i18n.using(lang):  # AppTest formats widget values in this thread: in the page's language
        at.run()
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _timed(at, lang: str) -> float:
    with i18n.using(lang):
        t0 = time.perf_counter()
        at.run()
        return time.perf_counter() - t0


def run(repeat: int = 5) -> None:
    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.training import TrainSettings

    with tempfile.TemporaryDirectory() as root:
        os.environ["EXPLORER_RUNS"] = root
        train_or_load(load_digits(), TrainSettings(model="cnn", epochs=1), "digits", RunStore(root))
        ratios, seconds = [], {"en": 0.0, "ko": 0.0}
        for page in PAGES:
            apps = {lang: _app(page, lang) for lang in ("en", "ko")}
            for lang, at in apps.items():  # warm: caches filled, first run's imports done
                _timed(at, lang)
            times: dict[str, list[float]] = {"en": [], "ko": []}
            for i in range(repeat):
                for lang in ("en", "ko") if i % 2 == 0 else ("ko", "en"):
                    times[lang].append(_timed(apps[lang], lang))
            med = {lang: statistics.median(t) for lang, t in times.items()}
            ratios.append(med["ko"] / med["en"])
            for lang in med:
                seconds[lang] += med[lang]
        del os.environ["EXPLORER_RUNS"]
    report(
        "lang_ko_rerun_ratio",
        statistics.median(ratios),
        f"x (median over the five pages; all five: {seconds['ko'] * 1000:.0f} ms Korean vs "
        f"{seconds['en'] * 1000:.0f} ms English)",
        "goal <= 1.1",
    )


if __name__ == "__main__":
    run()
