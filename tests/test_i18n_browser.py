"""The language switch in Chromium: a Korean browser gets Korean without asking, `?lang=en` keeps
English for it, and the Korean sidebar and navigation as the room sees them (screenshots in
tests/screenshots/lang_*.png at 1024x768 and 1280x720, Present on and off)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import CHROMIUM_ARGS
from tests.english_text import english_runs
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


# The four translated page bodies and the Korean heading each one draws when its run is done.
KOREAN_BODIES = (
    ("data", "1 · 데이터셋"),
    ("augment", "2 · 데이터 증강"),
    ("runs", "4 · 학습 결과 비교"),
    ("inside", "5 · 모델 들여다보기"),
)
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


PARAGRAPHS_KEEP_WORDS = """() => {
  const texts = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stMarkdownContainer] p')];
  return texts.length > 0 && texts.every((p) => getComputedStyle(p).wordBreak === 'keep-all');
}"""


def test_four_korean_page_bodies_on_the_projector_show_no_english_sentence(chromium_path, served_app):
    """Dataset, Augmentation, Compare runs and Look inside in Korean at 1024x768 with Present on:
    no run of three lowercase English words in the main area (tests/english_text.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _browser(p, chromium_path)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.set_default_timeout(60_000)
        for path, heading in KOREAN_BODIES:
            page.goto(f"{served_app}/{path}?present=1&lang=ko")
            expect(page.get_by_test_id("stMain").get_by_role("heading", name=heading)).to_be_visible()
            wait_idle(page)
            # widgets whose code is still loading are drawn as skeletons: their labels are not there yet
            expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
            assert_no_exception(page)
            # Korean words stay whole at a line's end, in the page's own paragraphs too (Streamlit
            # gives them word-break: break-word); waited for: the style arrives with the sidebar.
            page.wait_for_function(PARAGRAPHS_KEEP_WORDS, timeout=30_000)
            text = page.evaluate(MAIN_TEXT)
            assert heading in text
            english = english_runs(text, keep=("digits",))
            assert not english, (path, english[:10])
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / f"lang_ko_body_{path}_1024x768_present.png"))
        browser.close()


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
