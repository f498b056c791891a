"""Your own pictures in Chromium: a folder and a ZIP uploaded in the browser, pictures taken
class by class with Chromium's fake camera, a reload, and a second session.

Screenshots of the sidebar and the dialog go to tests/screenshots/your_images_*.png."""

from __future__ import annotations

import itertools
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from lib.data import gate_processes
from tests.conftest import CHROMIUM_ARGS, start_server, stop_server

expect.set_options(timeout=60_000)
SHOTS = Path(__file__).resolve().parent / "screenshots"
# A camera the page can use without a person: Chromium's moving test pattern, permission granted.
PRESSES = itertools.count()  # presses of Take Photo in this module
CAMERA_ARGS = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def make_photos(root: Path, per_class: int = 20) -> Path:
    """60 small JPEG 'photos' in 3 classes, each class its own colour with noise."""
    rng = np.random.default_rng(0)
    for k, (cls, colour) in enumerate((("apple", (200, 30, 30)), ("leaf", (30, 160, 40)), ("sky", (40, 80, 220)))):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            arr = np.clip(np.array(colour) + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / cls / f"{k}_{i:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("data-root")
    photos = make_photos(root / "incoming" / "photos")
    archive = root / "incoming" / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(photos.rglob("*.jpg")):
            zf.write(p, p.relative_to(photos.parent).as_posix())
        zf.writestr("__MACOSX/photos/._apple", b"junk")
    env = {"EXPLORER_DATA_ROOT": str(root), "EXPLORER_RUNS": str(tmp_path_factory.mktemp("runs"))}
    proc, url, _ = start_server(env)
    try:
        yield url, photos, archive, root, proc
    finally:
        stop_server(proc)


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CAMERA_ARGS)
        yield b
        b.close()


def new_page(browser, url: str, path: str = "", viewport=(1280, 900)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.grant_permissions(["camera"], origin=url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + path)
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=180_000)
    wait_idle(page)
    return page


def wait_idle(page):
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)


def assert_no_exception(page):
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()[:2000]


def choose_your_images(page):
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Your images…").click()
    wait_idle(page)
    return sidebar


def in_use(page):
    return page.get_by_test_id("stSidebar").get_by_test_id("stMarkdown").filter(has_text="In use:")


def open_adding(sidebar):
    expander = sidebar.get_by_test_id("stExpander").filter(has_text="Add your pictures")
    expect(expander).to_be_visible()
    if expander.locator("details").get_attribute("open") is None:
        expander.locator("summary").click()
    expect(expander.get_by_label("Name of the new set")).to_be_visible()
    return expander


def add_pictures(sidebar, way: str, name: str, files) -> None:
    expander = open_adding(sidebar)
    field = expander.get_by_label("Name of the new set")
    field.fill(name)
    field.press("Enter")
    wait_idle(sidebar.page)
    expander.get_by_text(way, exact=True).click()
    wait_idle(sidebar.page)
    chooser = "input[webkitdirectory]" if way == "a folder" else "input[type=file][accept*='.zip']"
    expander.locator(chooser).set_input_files(files)


def train_and_see_the_confusion_matrix(page, button: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text("3 · Train & Evaluate").click()
    ready = re.compile("Training runs only when you press the button|were trained before: loading them")
    expect(page.get_by_text(ready).first).to_be_visible(timeout=180_000)
    wait_idle(page)
    field = page.get_by_role("spinbutton", name="Epochs")
    field.fill("1")
    field.press("Enter")
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("CNN: 2-3 conv blocks")  # the default: a cnn
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_text("status complete")).to_be_visible(timeout=180_000)
    expect(page.get_by_text(re.compile(r"Test set \(12 images\), counts"))).to_be_attached()
    wait_idle(page)
    assert_no_exception(page)


def test_a_folder_and_a_zip_become_data_sets_that_train_and_a_reload_restores(served, browser):
    url, photos, archive, root, _ = served
    page = new_page(browser, url)
    sidebar = choose_your_images(page)
    expect(sidebar.get_by_text("No saved sets yet. Add your pictures below.")).to_be_visible()
    add_pictures(sidebar, "a folder", "class photos", str(photos))  # the whole folder, as a browser sends it
    expect(in_use(page)).to_contain_text("class photos-", timeout=120_000)
    expect(in_use(page)).to_contain_text("3 classes · 48 train · 12 test")
    wait_idle(page)
    assert_no_exception(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "your_images_folder_1280x900.png"))
    train_and_see_the_confusion_matrix(page, "Train")

    # The same pictures as a ZIP, under another name: another set, the same fingerprint, so the
    # stored run is reused ("Load from store").
    add_pictures(sidebar, "a ZIP file", "zip photos", str(archive))
    expect(in_use(page)).to_contain_text("zip photos-", timeout=120_000)
    wait_idle(page)
    train_and_see_the_confusion_matrix(page, "Load from store")
    sets = sorted(p.name for p in (root / "your-images").iterdir())
    assert len(sets) == 2 and sets[0].startswith("class photos-") and sets[1].startswith("zip photos-")

    # The URL names the set: a reload and a link in a fresh tab restore it.
    assert "dataset=images" in page.url and "zip+photos-" in page.url.replace("%20", "+")
    page.reload()
    expect(page.get_by_role("heading", name="3 · Train & Evaluate")).to_be_visible(timeout=180_000)
    expect(in_use(page)).to_contain_text("zip photos-")
    link = page.url
    other = new_page(browser, link.split("/train")[0], "/data?" + link.split("?", 1)[1])
    expect(in_use(other)).to_contain_text("zip photos-")
    assert_no_exception(other)


def take_one(dialog, cls: str, count: int) -> None:
    """Press Take Photo once the fake camera streams (a press before that captures nothing)."""
    page = dialog.page
    for _ in range(3):
        button = dialog.get_by_role("button", name=re.compile("Take photo", re.I))
        expect(button).to_be_enabled(timeout=30_000)
        video = dialog.locator("video")
        expect(video).to_have_count(1, timeout=30_000)
        # Every fresh camera restarts the fake device's clock, so its test pattern shows the same
        # frame at the same age: press each time at a later age than before, or two pictures are
        # byte-identical and the second is (rightly) kept once.
        age = 0.3 + 0.15 * next(PRESSES)
        page.wait_for_function(
            "([v, age]) => v.readyState >= 2 && v.videoWidth > 0 && v.currentTime >= age",
            arg=[video.element_handle(), age],
            timeout=30_000,
        )
        button.click()
        try:
            expect(dialog.get_by_text(f"{count} picture(s) of '{cls}'")).to_be_visible(timeout=20_000)
            return
        except AssertionError:
            continue
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "your_images_camera_failed.png"))
    raise AssertionError(f"the camera did not add picture {count} of '{cls}': {dialog.inner_text()[:1500]}")


def take_pictures(dialog, n: int, cls: str) -> None:
    for i in range(n):
        take_one(dialog, cls, i + 1)


def test_class_by_class_with_the_camera_and_a_second_session_sees_only_finished_sets(served, browser):
    url, _, _, root, _ = served
    page = new_page(browser, url)
    sidebar = choose_your_images(page)
    expander = open_adding(sidebar)
    expander.get_by_text("class by class (camera)").click()
    wait_idle(page)
    expander.get_by_role("button", name="Take pictures class by class…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Type the first class name and press Add class.")).to_be_visible()
    for cls in ("thumbs up", "thumbs down"):
        dialog.get_by_label("Class name").fill(cls)
        dialog.get_by_role("button", name="Add class").click()
        expect(dialog.get_by_text(f"0 picture(s) of '{cls}'")).to_be_visible()
        take_pictures(dialog, 5, cls)
    expect(dialog.locator("[data-testid='stImage']")).to_have_count(5)  # this class's thumbnails
    dialog.get_by_role("button", name="Remove").first.click()
    expect(dialog.get_by_text("4 picture(s) of 'thumbs down'")).to_be_visible()
    take_one(dialog, "thumbs down", 5)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "your_images_camera_1280x900.png"))

    # A second session meanwhile: the unsaved pictures are nowhere to be seen.
    other = new_page(browser, url)
    other_sidebar = choose_your_images(other)
    options_before = saved_set_options(other, other_sidebar)
    assert not any("camera set" in o for o in options_before)
    place = root / "your-images"
    assert not place.exists() or not [p for p in place.iterdir() if "camera" in p.name]

    dialog.get_by_label("Name of the set").fill("camera set")
    dialog.get_by_role("button", name="Save as a data set").click()
    expect(in_use(page)).to_contain_text("camera set-", timeout=120_000)
    expect(in_use(page)).to_contain_text("2 classes")
    expect(in_use(page)).to_contain_text("8 train · 2 test")
    wait_idle(page)
    assert_no_exception(page)
    other.reload()
    expect(other.get_by_role("heading", name="1 · Dataset")).to_be_visible(timeout=180_000)
    wait_idle(other)
    other_sidebar = choose_your_images(other)
    assert any("camera set" in o for o in saved_set_options(other, other_sidebar))


def saved_set_options(page, sidebar) -> list[str]:
    boxes = sidebar.get_by_test_id("stSelectbox").filter(has_text="Saved set")
    if boxes.count() == 0:
        return []
    boxes.first.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def server_children(proc) -> list[str]:
    """The command lines of the server's child processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == proc.pid:
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except (OSError, IndexError, ValueError):
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.skipif(
    not (gate_processes.available() and gate_processes.workers() > 1), reason="worker processes need 2 cores"
)
def test_a_large_zip_is_read_by_worker_processes_that_never_run_the_page(served, browser):
    """240 photos: read, gated and written by worker processes forked from multiprocessing's
    fork server (a child of the server). A worker must not run the page script again (in a
    Streamlit server __main__ is the page): the server's log shows no page run outside a session."""
    url, _, _, root, proc = served
    photos = make_photos(root / "incoming" / "many" / "photos", per_class=80)
    archive = root / "incoming" / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(photos.rglob("*.jpg")):
            zf.write(p, p.relative_to(photos.parent).as_posix())
    page = new_page(browser, url)
    sidebar = choose_your_images(page)
    add_pictures(sidebar, "a ZIP file", "many photos", str(archive))
    expect(in_use(page)).to_contain_text("many photos-", timeout=120_000)
    expect(in_use(page)).to_contain_text("3 classes · 192 train · 48 test")
    wait_idle(page)
    assert_no_exception(page)
    assert any("forkserver" in c for c in server_children(proc)), server_children(proc)
    # Saved: the name and the uploader start empty, so a name typed for the next set saves nothing.
    sets = sorted(p.name for p in (root / "your-images").iterdir())
    expander = open_adding(sidebar)
    field = expander.get_by_label("Name of the new set")
    expect(field).to_have_value("")
    expect(expander.get_by_text("many.zip")).to_have_count(0)
    field.fill("the next set")
    field.press("Enter")
    wait_idle(page)
    assert sorted(p.name for p in (root / "your-images").iterdir()) == sets
    log = Path(proc.log_path).read_text(errors="replace")
    assert "ScriptRunContext" not in log and "Traceback" not in log, log[-3000:]
