"""Fixtures for browser tests: a real `streamlit run` server and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.tf_import import import_keras
from tests.helpers import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Iterator[Path]:
    """No downloads, an empty Keras cache: keras.datasets and ImageNet weights fail the way they
    do on a machine without internet, whatever this machine's network or ~/.keras hold.

    Subprocesses inherit it through the environment (KERAS_HOME, a proxy on a closed port);
    in this process Keras has read KERAS_HOME already, so its cache folder and its download
    function are patched too."""
    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # the discard port: connection refused at once
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    import_keras()
    from keras.src.backend import config
    from keras.src.utils import file_utils

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(f"downloads are disabled in tests ({url})")

    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    yield home


@pytest.fixture(autouse=True)
def run_store(tmp_path_factory, monkeypatch) -> Iterator[str]:
    """Every test gets its own run store: tests never write into the project's runs/."""
    root = str(tmp_path_factory.mktemp("runs"))
    monkeypatch.setenv("EXPLORER_RUNS", root)
    yield root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, float]:
    """Start the app (`python -m lib.ui.serve`, as `make run` does) on a free localhost port; return
    (process, url, seconds to health)."""
    port = _free_port()
    t0 = time.perf_counter()
    # The server's output goes to a file, not a pipe: a pipe nobody reads fills up (64 KB) and then
    # blocks the server's next log line, and with it whatever thread wrote it (a training's end).
    log = tempfile.NamedTemporaryFile(prefix=f"explorer-server-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lib.ui.serve",  # `streamlit run streamlit_app.py`, with the legacy pages/ mode off from the start
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            *args,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    log.close()  # the server holds its own handle
    proc.log_path = log.name  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started by start_server: politely, then for good after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if os.path.exists(CHROMIUM) or shutil.which("chromium"):
        return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")  # type: ignore[return-value]
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail("REQUIRE_BROWSER=1 but Debian's chromium is not installed (apt-get install -y chromium)")
    pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")


@pytest.fixture(scope="session")
def served_app(tmp_path_factory) -> Iterator[str]:
    proc, url, _ = start_server({"EXPLORER_RUNS": str(tmp_path_factory.mktemp("served-runs"))})
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def page(chromium_path, served_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(served_app)
        yield page
        browser.close()


def pytest_collection_modifyitems(items) -> None:
    """Every test that drives Chromium is a browser test (and slow): `-m "not browser"` skips them."""
    for item in items:
        if "chromium_path" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
