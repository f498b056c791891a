"""End to end in Debian's Chromium: the app as a learner sees it."""

from __future__ import annotations

from playwright.sync_api import expect


def wait_idle(page):
    # Streamlit shows a running indicator while a script run is in progress.
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def test_dataset_page_renders_without_exceptions(page):
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    expect(page.get_by_text("Majority-class baseline")).to_be_visible()
    expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0


def test_switching_to_shapes_in_the_sidebar(page):
    expect(page.get_by_role("heading", name="1 · Dataset")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="shapes (shipped, 32x32 colour)").click()
    expect(page.get_by_text("Classes are unbalanced")).to_be_visible()
    expect(sidebar.get_by_test_id("stMarkdown").filter(has_text="In use:")).to_contain_text("shapes")
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
