"""Issue 12, display: every user-supplied string is shown as text, never as Markdown.

An .npz whose class name is a Markdown image pointing at a closed local port is loaded
through the sidebar; every page (the Train page with a stored run, so galleries and the
baseline caption show) must show the name escaped, and Chromium must send no request to
that URL."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from lib.data.sources import DatasetSpec, load_dataset
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.settings import TrainSettings
from lib.ui.text import md
from tests.helpers import app_on_page, save_npz, tiny_arrays

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


PORT = _closed_port()
BEACON = f"http://127.0.0.1:{PORT}/beacon.png"
NAMES = [f"![x]({BEACON})", "**bold** :red[r] $x$", "<img src=x>"]


def hostile_npz(path):
    arrays = tiny_arrays(n_train=30, n_test=15, k=3)
    return save_npz(path, **arrays, class_names=np.array(NAMES))


def test_md_escapes_markdown_and_keeps_the_text():
    assert md(NAMES[0]) == r"\!\[x\](http://127.0.0.1:" + str(PORT) + "/beacon.png)"
    assert md("a\nb") == "a b"
    # Escapes and bidi overrides are shown as text, never acted on (lib.data.paths.printable, as the CLI).
    shown = md("run\x1b[31mred\u202eevil\x07")
    assert not any(c in shown for c in "\x1b\u202e\x07") and r"\\x1b" in shown and r"\\u202e" in shown
    assert md("plain words 12, 'quoted' X_train 0.5") == "plain words 12, 'quoted' X_train 0.5"
    assert md("_it_ **b** ~s~ `c` $x$ :red[r] <a>") == r"\_it\_ \*\*b\*\* \~s\~ \`c\` \$x\$ :red\[r\] \<a>"
    assert md(":smile: :material/home: run:3f2a: ok") == r"\:smile: \:material/home: run:3f2a: ok"
    assert md("1. one") == r"1\. one" and md("# h") == r"\# h" and md("- i") == r"\- i"
    assert md(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\ufffd"


def _train_a_run(npz_path) -> None:
    ds = load_dataset(DatasetSpec("npz", str(npz_path)))
    outcome = train_or_load(ds, TrainSettings("mlp", epochs=1), npz_path.name, RunStore())
    assert outcome.run_id


def _texts(at) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown."""
    texts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader", "header"):
        texts += [e.value for e in getattr(at, kind)]
    texts += [e.label for e in at.expander]
    for images in at.get("imgs"):
        texts += [img.caption for img in images.proto.imgs]
    return texts


def _load_in_sidebar(at, path) -> None:
    at.selectbox(key="source_choice").select("npz").run()
    at.text_input(key="npz_path").input(str(path)).run()
    at.button(key="load_npz").click().run()
    assert not at.exception, at.exception


def test_class_names_are_escaped_on_every_page(tmp_path):
    path = hostile_npz(tmp_path / "hostile.npz")
    _train_a_run(path)
    at = app_on_page()
    _load_in_sidebar(at, path)
    seen_escaped = False
    for page in (None, "pages/augmentation.py", "pages/train_evaluate.py", "pages/compare.py"):
        if page:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        for text in _texts(at):
            assert "![" not in text.replace("\\![", ""), text
            assert "**bold**" not in text, text
            seen_escaped |= md(NAMES[0]) in text
    assert seen_escaped  # the names are shown, escaped, not dropped


@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "present"])
def test_html_tables_show_class_names_as_text(tmp_path, presenting):
    """st.table renders its headers and cells as Markdown: Compare's tables (HTML in both modes) and,
    while presenting, every table show "F1 <class name>" escaped."""
    from lib.ui import state

    path = hostile_npz(tmp_path / "hostile.npz")
    _train_a_run(path)
    at = app_on_page()
    at.session_state[state.PRESENT] = presenting
    _load_in_sidebar(at, path)
    texts: list[str] = []
    for page in ("pages/train_evaluate.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        for table in at.table:
            frame = table.value
            texts += [str(v) for v in (*frame.columns, *frame.index, *frame.to_numpy().ravel())]
    assert texts, "no HTML table"
    for text in texts:
        assert "![" not in text.replace("\\![", ""), text
        assert "**bold**" not in text, text
    assert any(md(f"F1 {NAMES[0]}") in text for text in texts)  # shown, escaped, not dropped


def test_no_request_leaves_for_a_markdown_image_in_a_class_name(tmp_path, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_server, stop_server
    from tests.test_browser import assert_no_exception, open_step, wait_idle

    path = hostile_npz(tmp_path / "hostile.npz")
    _train_a_run(path)
    store = RunStore().root
    proc, url, _ = start_server({"EXPLORER_RUNS": str(store)})
    requests: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(120_000)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=120_000)
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_test_id("stSelectbox").first.click()
            page.get_by_role("option", name=".npz file…").click()
            field = sidebar.get_by_label("…or a local .npz path")
            field.fill(str(path))
            field.press("Enter")
            wait_idle(page)
            sidebar.get_by_role("button", name="Load .npz").click()
            expect(sidebar.get_by_text("Loaded hostile").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text(NAMES[0]).first).to_be_attached(timeout=60_000)  # shown as text
            wait_idle(page)
            assert_no_exception(page)
            for title, ready in (
                ("2 · Augmentation", "Download settings (.json)"),
                ("3 · Train & Evaluate", "Most confident mistakes"),
                ("4 · Compare runs", "Store a second run"),
            ):
                open_step(page, title, ready)
                page.wait_for_timeout(1000)  # images and their captions load after the script run
                assert_no_exception(page)
            browser.close()
    finally:
        stop_server(proc)
    assert requests, "the page made no requests at all: the recorder is not working"
    assert not [r for r in requests if f":{PORT}" in r], [r for r in requests if f":{PORT}" in r]
