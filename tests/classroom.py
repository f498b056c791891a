"""A class on one server, driven in Chromium: N sessions (browser contexts) on Train & Evaluate
press Train at about the same moment. Used by tests/test_class_load.py and bench/classroom.py."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import CHROMIUM_ARGS, start_server

READY = "Training runs only when you press the button."
MLP = "MLP: dense baseline (ignores where pixels are)"
expect.set_options(timeout=120_000)  # eight sessions on two cores: every step waits its turn

TRAINED_LINE = "explorer: trained run "  # the pool's log line on the server's stderr, one per training


@dataclass
class Round:
    complete: int  # sessions that show the complete run
    errors: list[str]  # "Cannot train" messages and Streamlit exceptions seen
    seconds: float  # from the first Train press to the last session showing its run


class Classroom:
    """One `streamlit run` server (EXPLORER_TRAIN_WORKERS workers) and `sessions` browser contexts."""

    def __init__(self, chromium: str, runs: Path, sessions: int = 8, workers: int = 2) -> None:
        self.runs, self.sessions, self.workers = runs, sessions, workers
        self.proc, self.url, _ = start_server({"EXPLORER_RUNS": str(runs), "EXPLORER_TRAIN_WORKERS": str(workers)})
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        self.pages = []
        for _ in range(sessions):
            page = self.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(180_000)
            self.pages.append(page)

    def open_train_pages(self) -> None:
        for page in self.pages:
            page.goto(self.url)
            page.get_by_test_id("stSidebarNav").get_by_text("3 · Train & Evaluate").click()
            expect(page.get_by_text(READY).first).to_be_visible(timeout=180_000)
            wait_idle(page)
            page.get_by_test_id("stSelectbox").filter(has_text="Model").click()
            page.get_by_role("option", name=MLP).click()
            wait_idle(page)
            set_number(page, "Epochs", 1)

    def set_seed(self, page, seed: int) -> None:
        set_number(page, "Seed", seed)
        expect(page.get_by_role("button", name="Train", exact=True)).to_be_visible()

    def train_all(self, pages=None, timeout_s: float = 300) -> Round:
        """Press Train in each page (one after the other, a few ms apart), then wait for every page
        to show the complete run of its own seed (the header's caption names it) or an error."""
        pages = self.pages if pages is None else pages
        seeds = [page.get_by_role("spinbutton", name="Seed").input_value() for page in pages]
        for page in pages:
            wait_idle(page)
        t0 = time.perf_counter()
        for page in pages:
            page.get_by_role("button", name="Train", exact=True).click(no_wait_after=True)
        done: dict[int, str] = {}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(pages) and time.monotonic() < deadline:
            for i, page in enumerate(pages):
                if i in done:
                    continue
                if page.get_by_text("status complete").count() and page.get_by_text(f"· seed {seeds[i]} ·").count():
                    done[i] = "complete"
                elif page.get_by_text("Cannot train").count():
                    done[i] = page.get_by_text("Cannot train").first.inner_text()[:300]
                elif page.locator("[data-testid='stException']").count():
                    done[i] = page.locator("[data-testid='stException']").first.inner_text()[:300]
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        errors = [v for v in done.values() if v != "complete"]
        for page in pages:
            wait_idle(page)
            exc = page.locator("[data-testid='stException']")
            if exc.count():
                errors.append(exc.first.inner_text()[:300])
        return Round(sum(v == "complete" for v in done.values()), errors, seconds)

    def run_folders(self) -> list[str]:
        if not self.runs.is_dir():
            return []
        return sorted(p.name for p in self.runs.iterdir() if p.is_dir() and not p.name.startswith("."))

    def server_pid(self) -> int:
        return self.proc.pid

    def close(self) -> str:
        """Close the browser and the server; return what the server wrote (stdout and stderr)."""
        try:
            self.browser.close()
        finally:
            self._pw.stop()
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        """What the server wrote so far (start_server sends it to a file)."""
        return Path(self.proc.log_path).read_text(errors="replace")


def trainings_logged(server_output: str) -> int:
    return server_output.count(TRAINED_LINE)


def worker_seconds(server_output: str) -> list[float]:
    """Seconds each logged training took inside its worker (reading the data, training, storing)."""
    return [float(m) for m in re.findall(re.escape(TRAINED_LINE) + r".*; ([0-9.]+) s in the worker", server_output)]


def wait_idle(page) -> None:
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=180_000)


def set_number(page, name: str, value: int) -> None:
    field = page.get_by_role("spinbutton", name=name)
    field.fill(str(value))
    field.press("Enter")
