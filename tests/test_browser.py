"""End to end in Debian's Chromium: the app as a learner sees it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

# A cold first run (no .pyc yet, TensorFlow's first import) can take well over the default 5 s.
expect.set_options(timeout=60_000)

# Live progress of a 200-epoch training, whichever epoch the page shows first (an epoch takes
# ~0.2 s here: a fixed epoch number can be passed between two redraws).
TRAINING_200 = re.compile(r"epoch (?!200/)\d{1,3}/200 ·")  # still training: not 200/200


def assert_no_exception(page):
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()[:2000]


def wait_idle(page):
    # Streamlit shows a running indicator while a script run is in progress.
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def open_step(page, title, ready):
    """Go to a step and wait until its script run has reached `ready` (text near the end of
    the page): input sent while a cold first run is still importing TensorFlow can be lost."""
    page.get_by_test_id("stSidebarNav").get_by_text(title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.get_by_text(ready).first).to_be_visible(timeout=180_000)
    wait_idle(page)


def set_number(page, name, value):
    field = page.get_by_role("spinbutton", name=name)
    field.fill(str(value))
    field.press("Enter")


def test_dataset_page_renders_without_exceptions(page):
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    expect(page.get_by_text("Majority-class baseline")).to_be_visible()
    expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
    wait_idle(page)
    assert_no_exception(page)


def test_switching_to_shapes_in_the_sidebar(page):
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="shapes (shipped, 32x32 colour)").click()
    expect(page.get_by_text("Classes are unbalanced")).to_be_visible()
    expect(sidebar.get_by_test_id("stMarkdown").filter(has_text="In use:")).to_contain_text("shapes")
    wait_idle(page)
    assert_no_exception(page)


def test_augmentation_page_redraws_on_a_control(page):
    open_step(page, "2 · Augmentation", "Download settings (.json)")
    set_number(page, "rotation range", 45)
    expect(page.get_by_text("rotation_range=45").first).to_be_attached()
    wait_idle(page)
    expect(page.get_by_text("rot ", exact=False).first).to_be_visible()
    assert_no_exception(page)


def test_train_one_epoch_and_read_the_evaluation(page):
    open_step(page, "3 · Train & Evaluate", "Training runs only when you press the button.")
    set_number(page, "Epochs", 1)
    wait_idle(page)
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("status complete")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("balanced accuracy").first).to_be_visible()
    expect(page.get_by_text("Test set (450 images), counts")).to_be_attached()
    wait_idle(page)
    assert_no_exception(page)


def test_closing_the_tab_mid_training_ends_the_training(chromium_path, tmp_path):
    """A session whose tab closes is shut down after the disconnected-session TTL (2 s here,
    120 s by default); its training stops at the next progress update and is kept as stopped."""
    import json
    import time

    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_server

    runs = tmp_path / "runs"
    proc, url, _ = start_server({"EXPLORER_RUNS": str(runs)}, ("--server.disconnectedSessionTTL", "2"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            open_step(page, "3 · Train & Evaluate", "Training runs only when you press the button.")
            set_number(page, "Epochs", 200)
            wait_idle(page)
            page.get_by_role("button", name="Train").click()
            expect(page.get_by_text(TRAINING_200).first).to_be_visible(timeout=120_000)
            browser.close()  # the learner closes the tab
        deadline = time.monotonic() + 90
        statuses: list[str] = []
        while time.monotonic() < deadline and not statuses:
            statuses = [json.loads(c.read_text())["status"] for c in runs.glob("*/config.json")]
            time.sleep(0.5)
        assert statuses == ["stopped"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_look_inside_renders_every_tab(chromium_path, tmp_path):
    """A stored run, then step 5 in Chromium: every tab renders, none shows an exception."""
    from playwright.sync_api import sync_playwright

    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.training import TrainSettings
    from tests.conftest import CHROMIUM_ARGS, start_server

    runs = tmp_path / "runs"
    train_or_load(load_digits(), TrainSettings("cnn", epochs=1), "digits", RunStore(runs))
    proc, url, _ = start_server({"EXPLORER_RUNS": str(runs)})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(url)  # a cold server's first deep link shows "Page not found": arrive by the sidebar
            expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=180_000)
            open_step(page, "5 · Look inside", "Every step the model's input goes through")
            checks = {
                "Try it": "Class probabilities",
                "Where it looks": "A most-confident mistake from the test set",
                "Curves per class": "Expected calibration error",
                "Map of what it learned": "Drag a box to see its images below",
                "Report": "Build the HTML report",
            }
            for tab, text in checks.items():
                page.get_by_role("tab", name=tab).click()
                expect(page.get_by_text(text).first).to_be_visible()
                wait_idle(page)
                assert_no_exception(page)
            page.get_by_role("button", name="Build the HTML report").click()
            expect(page.get_by_role("button", name="Download report (.html)")).to_be_visible(timeout=120_000)
            assert_no_exception(page)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_page_url_is_a_deep_link_every_time(chromium_path, served_app):
    """/data used to show "Page not found" on every visit (the default page lives at the root only).

    Still left: the very first script run of a fresh server runs in Streamlit's legacy pages/
    mode (a folder named pages/ beside the script), so a deep link that is the server's very
    first request still gets the notice once. The session-scoped server has run before here."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS

    steps = {"data": "1 · Dataset", "augment": "2 · Augmentation", "train": "3 · Train & Evaluate",
             "runs": "4 · Compare runs"}  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        first = browser.new_page()
        first.goto(served_app)  # the server's first script run (see above), if no test ran before
        expect(first.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=180_000)
        first.close()
        for visit, path in enumerate([*steps, "data"]):  # /data twice: every visit, not only the first
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(60_000)
            page.goto(f"{served_app}/{path}")
            expect(page.get_by_role("heading", name=steps[path])).to_be_visible(timeout=180_000)
            wait_idle(page)
            assert page.get_by_text("Page not found").count() == 0, (visit, path)
            assert page.url.split("?")[0].rstrip("/").endswith(f"/{path}"), page.url
            assert_no_exception(page)
            page.close()
        page = browser.new_page()
        page.goto(served_app)  # the root opens step 1 at its own URL
        expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=180_000)
        wait_idle(page)
        assert page.url.split("?")[0].rstrip("/").endswith("/data") and page.get_by_text("Page not found").count() == 0
        browser.close()


def test_a_reload_keeps_the_data_set_and_a_link_restores_it(page, served_app):
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="shapes (shipped, 32x32 colour)").click()
    expect(sidebar.get_by_test_id("stMarkdown").filter(has_text="In use:")).to_contain_text("shapes")
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]dataset=shapes"))
    page.reload()  # F5
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stMarkdown").filter(has_text="In use:")).to_contain_text(
        "shapes"
    )
    wait_idle(page)
    # A shared link to another step, with settings, in a fresh tab.
    other = page.context.browser.new_page()
    other.goto(f"{served_app}/augment?dataset=shapes&augment=%7B%22rotation_range%22%3A25%7D")
    expect(other.get_by_role("heading", name="2 · Augmentation")).to_be_visible(timeout=180_000)
    expect(other.get_by_test_id("stSidebar").get_by_test_id("stMarkdown").filter(has_text="In use:")).to_contain_text(
        "shapes"
    )
    expect(other.get_by_text("rotation_range=25").first).to_be_attached()
    wait_idle(other)
    assert_no_exception(other)


def test_after_stop_the_page_shows_the_run_just_stopped(page):
    open_step(page, "3 · Train & Evaluate", "Training runs only when you press the button.")
    set_number(page, "Epochs", 1)
    set_number(page, "Seed", 11)  # settings no other test of this shared server trained: "Train", not "Load"
    wait_idle(page)
    page.get_by_role("button", name="Train").click()  # a first, finished run
    expect(page.get_by_text("status complete")).to_be_visible(timeout=120_000)
    wait_idle(page)
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("button", name="Stop")).to_have_count(0)  # gone once training ended
    set_number(page, "Epochs", 200)
    wait_idle(page)
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text(TRAINING_200).first).to_be_visible(timeout=120_000)
    main.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("status stopped")).to_be_visible(timeout=120_000)
    wait_idle(page)
    expect(page.get_by_text("/200 epochs · status stopped", exact=False)).to_be_visible()
    expect(page.get_by_text("Stop was pressed, or the page was reloaded", exact=False)).to_be_visible()
    expect(main.get_by_role("button", name="Stop")).to_have_count(0)  # no Stop button once training ended
    assert_no_exception(page)


def test_a_deep_link_as_a_fresh_servers_very_first_request(chromium_path, tmp_path):
    """The first script run of a fresh server used to run in Streamlit's legacy pages/ mode and
    answer "Page not found"; `python -m lib.ui.serve` (make run) switches that mode off first."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_server, stop_server

    proc, url, _ = start_server({"EXPLORER_RUNS": str(tmp_path / "runs")})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{url}/augment")  # nothing else has reached this server yet
            expect(page.get_by_role("heading", name="2 · Augmentation")).to_be_visible(timeout=180_000)
            wait_idle(page)
            assert page.get_by_text("Page not found").count() == 0
            assert page.url.split("?")[0].rstrip("/").endswith("/augment")
            assert_no_exception(page)
            browser.close()
    finally:
        stop_server(proc)


def test_every_page_keeps_the_urls_choices_through_the_sidebar_and_a_reload(page):
    """Shapes chosen on Dataset, a class made rare, Present on; then every step through the sidebar
    and F5 on each: the data set, the imbalance and Present are still there (the sidebar links drop
    the query string; each page's first run writes the choices back)."""
    steps = ["2 · Augmentation", "3 · Train & Evaluate", "4 · Compare runs", "5 · Look inside", "1 · Dataset"]
    page.goto(page.url.split("?")[0].rsplit("/", 1)[0] + "/data?dataset=shapes&imbalance=1:0.5&present=1")
    sidebar = page.get_by_test_id("stSidebar")
    in_use = sidebar.get_by_test_id("stMarkdown").filter(has_text="In use:")
    expect(in_use).to_contain_text("shapes")
    wait_idle(page)
    for title in steps:
        sidebar.get_by_test_id("stSidebarNav").get_by_text(title).click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        wait_idle(page)
        for key in ("dataset=shapes", "imbalance=1%3A0.5|imbalance=1:0.5", "present=1"):
            expect(page).to_have_url(re.compile(rf"[?&]({key})"))
        page.reload()  # F5 on this step
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(in_use).to_contain_text("shapes")
        expect(sidebar.get_by_role("switch", name="Present (projector)")).to_be_checked()
        wait_idle(page)
        assert_no_exception(page)
