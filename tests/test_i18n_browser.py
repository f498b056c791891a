"""The language switch in Chromium: a Korean browser gets Korean without asking, `?lang=en` keeps
English for it, and the Korean sidebar and navigation as the room sees them (screenshots in
tests/screenshots/lang_*.png at 1024x768 and 1280x720, Present on and off)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from lib import i18n
from tests.conftest import CHROMIUM_ARGS, start_server, stop_server
from tests.english_text import english_runs
from tests.helpers import ROOT
from tests.test_browser import assert_no_exception, wait_idle

SHOTS = Path(__file__).resolve().parent / "screenshots"
KOREAN_NAV = ("1 · 데이터셋", "2 · 데이터 증강", "3 · 학습과 평가", "4 · 학습 결과 비교", "5 · 모델 들여다보기")


def _browser(p, chromium_path):
    return p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)


def test_a_korean_browser_gets_korean_and_the_url_can_say_otherwise(chromium_path, served_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _browser(p, chromium_path)
        korean = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 720})
        page = korean.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{served_app}/data")
        nav = page.get_by_test_id("stSidebarNav")
        for title in KOREAN_NAV:
            expect(nav.get_by_text(title)).to_be_visible()
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("발표 모드 (프로젝터)")).to_be_visible()
        expect(sidebar.get_by_text("사용 중:")).to_be_visible()
        wait_idle(page)
        assert "lang=ko" in page.url  # a shared link keeps Korean for any browser
        assert_no_exception(page)
        word_break = "getComputedStyle(document.querySelector('[data-testid=stSidebar]')).wordBreak"
        # Hangul words are not split at a line's end (the style arrives with the sidebar: wait for it)
        page.wait_for_function(f"{word_break} === 'keep-all'", timeout=30_000)
        # The switch keeps the page and its choices; the URL follows.
        page.get_by_test_id("stSidebarNav").get_by_text("2 · 데이터 증강").click()
        wait_idle(page)
        assert "/augment" in page.url and "lang=ko" in page.url
        page.goto(f"{served_app}/data?lang=en")
        expect(page.get_by_test_id("stSidebarNav").get_by_text("1 · Dataset")).to_be_visible()
        expect(page.get_by_test_id("stSidebar").get_by_text("Present (projector)")).to_be_visible()
        wait_idle(page)
        assert "lang=en" in page.url  # this browser would otherwise get Korean
        korean.close()
        english = browser.new_context(locale="en-US")
        page = english.new_page()
        page.goto(f"{served_app}/data")
        expect(page.get_by_test_id("stSidebarNav").get_by_text("1 · Dataset")).to_be_visible()
        wait_idle(page)
        assert "lang=" not in page.url
        assert page.evaluate(word_break) != "keep-all"
        browser.close()


def test_korean_sidebar_as_the_room_sees_it(chromium_path, served_app):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = _browser(p, chromium_path)
        for width, height in ((1024, 768), (1280, 720)):
            for present in (False, True):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.set_default_timeout(60_000)
                # the Dataset page at every size; the Augmentation page (long labels) at the smallest, presenting
                for path in ("data", "augment") if (width, present) == (1024, True) else ("data",):
                    page.goto(f"{served_app}/{path}?lang=ko" + ("&present=1" if present else ""))
                    expect(page.get_by_test_id("stSidebarNav").get_by_text(KOREAN_NAV[0])).to_be_visible()
                    wait_idle(page)
                    assert_no_exception(page)
                    for title in KOREAN_NAV:  # every title on one line, none cut
                        link = page.get_by_test_id("stSidebarNav").get_by_text(title)
                        box = link.bounding_box()
                        assert box is not None and box["height"] < 40, (title, box)
                    name = f"lang_ko_{path}_{width}x{height}{'_present' if present else ''}.png"
                    page.screenshot(path=str(SHOTS / name))
                page.close()
        browser.close()


# Every page and the Korean heading it draws, and the tabs each one shows a stored run in (their
# English names: the test clicks them by their Korean ones).
KOREAN_BODIES = (
    ("data", "1 · 데이터셋"),
    ("augment", "2 · 데이터 증강"),
    ("train", "3 · 학습과 평가"),
    ("runs", "4 · 학습 결과 비교"),
    ("inside", "5 · 모델 들여다보기"),
)
TABS = {
    "train": ("Test evaluation", "Training curves", "Per class over epochs", "Evaluation traps", "Show code"),
    "inside": ("Try it", "Where it looks", "Curves per class", "Map of what it learned", "Report"),
}
# The main area's text as the room reads it, without code blocks (code stays code) and charts
# (lib/charts draws its own titles; translated with that module).
MAIN_TEXT = """() => {
  const main = document.querySelector('[data-testid=stMain]').cloneNode(true);
  main.querySelectorAll('[data-testid=stCode], pre, [data-testid=stVegaLiteChart], [data-testid=stDataFrame]')
    .forEach((e) => e.remove());
  document.body.appendChild(main);  // innerText needs layout; hidden (collapsed) parts stay out
  const text = main.innerText;
  main.remove();
  return text;
}"""


# Table headers and cells as drawn (presenting, tables are HTML): a one-word English header ("positives")
# or value ("train") is no sentence, but it is English all the same.
TABLE_TEXTS = """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stTable] :is(th, td)')]
  .filter((c) => c.getClientRects().length).map((c) => c.innerText.trim())"""


# The titles a chart draws (its own, its axes', its legends'), of the charts shown.
CHART_TITLES = """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stVegaLiteChart] svg')]
  .filter((svg) => svg.getClientRects().length)
  .flatMap((svg) => [...svg.querySelectorAll('.role-title-text, .role-axis-title text, .role-legend-title text')])
  .map((t) => t.textContent.trim())"""


PARAGRAPHS_KEEP_WORDS = """() => {
  const texts = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stMarkdownContainer] p')];
  return texts.length > 0 && texts.every((p) => getComputedStyle(p).wordBreak === 'keep-all');
}"""
# The paragraphs that would break a Korean word (for the failure's message).
PARAGRAPHS_BREAKING_WORDS = """() =>
  [...document.querySelectorAll('[data-testid=stMain] [data-testid=stMarkdownContainer] p')]
  .filter((p) => getComputedStyle(p).wordBreak !== 'keep-all')
  .map((p) => getComputedStyle(p).wordBreak + ': ' + p.innerText.slice(0, 60))"""


@pytest.fixture(scope="module")
def served_with_a_run(tmp_path_factory) -> Iterator[dict]:
    """A server whose store holds one trained run (a small CNN on digits, 2 epochs: curves per epoch,
    Where it looks' maps) with a LiteRT export (the export box's tables): every evaluation tab has
    something to say."""
    from lib.runs.store import RunStore

    store = tmp_path_factory.mktemp("ko-runs")
    for args in (["train", "digits", "--model", "cnn", "--epochs", "2"], None):
        if args is None:  # then export the run just trained
            args = ["export", RunStore(store).list_runs()[0][0].run_id]
        done = subprocess.run(
            [sys.executable, "-m", "lib.cli", *args, "--store", str(store)],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-1000:]
    (run,) = RunStore(store).list_runs()[0]
    proc, url, _ = start_server({"EXPLORER_RUNS": str(store)})
    try:
        yield {"url": url, "run_name": run.display_name}
    finally:
        stop_server(proc)


def _english_in_main(page, where: str, keep: tuple[str, ...]) -> list[str]:
    """The English word runs of the main area as drawn now, and a screenshot of it."""
    wait_idle(page)
    # widgets whose code is still loading are drawn as skeletons: their labels are not there yet
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    assert_no_exception(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"lang_ko_body_{where}_1024x768_present.png"))
    words = re.compile(r"[a-z]+(?: [a-z]+)*")  # lowercase English words only: no name, number or code
    cells = [c for c in page.evaluate(TABLE_TEXTS) if words.fullmatch(c) and c not in keep]
    titles = [t for t in page.evaluate(CHART_TITLES) if words.fullmatch(t) and t not in keep]
    english = english_runs(page.evaluate(MAIN_TEXT), keep=keep)
    return english + [f"table: {c}" for c in cells] + [f"chart title: {t}" for t in titles]


def test_korean_page_bodies_and_tabs_on_the_projector_show_no_english_sentence(chromium_path, served_with_a_run):
    """All five pages in Korean at 1024x768 with Present on, a stored run shown: in the main area of
    each page, of every tab of Train & Evaluate (with a trap run and the LiteRT export box) and of Look
    inside, no run of three lowercase English words (tests/english_text.py) and no table header or
    cell, chart title, axis title or legend title in lowercase English words."""
    from playwright.sync_api import sync_playwright

    korean = i18n.translations("ko").gettext
    keep = ("digits", served_with_a_run["run_name"])
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = _browser(p, chromium_path)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.set_default_timeout(120_000)
        for path, heading in KOREAN_BODIES:
            page.goto(f"{served_with_a_run['url']}/{path}?present=1&lang=ko")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_role("heading", name=heading)).to_be_visible(timeout=180_000)
            wait_idle(page)
            # Korean words stay whole at a line's end, in the page's own paragraphs too (Streamlit
            # gives them word-break: break-word); waited for: the style arrives with the sidebar.
            try:
                page.wait_for_function(PARAGRAPHS_KEEP_WORDS, timeout=30_000)
            except PlaywrightTimeout:
                raise AssertionError(f"{path}: {page.evaluate(PARAGRAPHS_BREAKING_WORDS)}") from None
            for tab in TABS.get(path, (None,)):
                where = path
                if tab is not None:
                    main.get_by_role("tab", name=korean(tab), exact=True).click()
                    page.wait_for_timeout(300)
                    where = f"{path}_{tab.lower().replace(' ', '_')}"
                if tab == "Evaluation traps":  # the first trap run on the model: its table and lesson
                    main.get_by_role("button", name=korean("Run it on this model")).click()
                    expect(main.get_by_test_id("stCode").filter(has_text="# Fix 1")).to_be_visible()
                english = _english_in_main(page, where, keep)
                assert heading in page.evaluate(MAIN_TEXT)
                if english:
                    found[where] = english[:10]
            if path == "train":  # the export box below the tabs: its tables of the stored export
                expect(main.get_by_text(korean("Per class, for"), exact=True)).to_be_visible()
        browser.close()
    assert not found, found


def _checked_split(page) -> list[str]:
    """The Dataset page's Split radio: the labels of its checked options, as the browser draws them."""
    radio = page.get_by_test_id("stRadio").filter(has=page.locator("input[type=radio]")).first
    return radio.evaluate(
        "(el) => [...el.querySelectorAll('input[type=radio]')]"
        ".filter((i) => i.checked).map((i) => i.closest('label').innerText.trim())"
    )


def _switch_language(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Language · 언어").click()
    page.get_by_role("option", name=name, exact=True).click()
    wait_idle(page)


def test_switching_the_language_keeps_the_split_radio_checked(chromium_path, served_app):
    """Radio and select values travel as their shown labels: after a switch the browser must be told
    the value in the new language, or the Split radio shows no option checked (and a select a stale label)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _browser(p, chromium_path)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(f"{served_app}/data?lang=en")
        expect(page.get_by_test_id("stMain").get_by_role("heading", name="1 · Dataset")).to_be_visible()
        wait_idle(page)
        assert _checked_split(page) == ["train"]
        page.get_by_test_id("stRadio").get_by_text("test", exact=True).click()
        wait_idle(page)
        assert _checked_split(page) == ["test"]
        _switch_language(page, "한국어")
        expect(page.get_by_test_id("stMain").get_by_role("heading", name="1 · 데이터셋")).to_be_visible()
        wait_idle(page)
        assert_no_exception(page)
        assert _checked_split(page) == ["테스트"]
        # a select whose option is translated shows it in the new language too
        class_box = page.get_by_test_id("stMain").get_by_role("combobox", name="클래스").last
        expect(class_box).to_have_value("모든 클래스")
        _switch_language(page, "English")
        expect(page.get_by_test_id("stMain").get_by_role("heading", name="1 · Dataset")).to_be_visible()
        wait_idle(page)
        assert _checked_split(page) == ["test"]
        expect(page.get_by_test_id("stMain").get_by_role("combobox", name="Class").last).to_have_value("all classes")
        browser.close()
