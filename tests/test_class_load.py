"""A class on one server (Chromium, loopback): four tabs and one worker, a training two watch, one
waiting, one leaving the queue. The class of eight is tests/test_headless_class.py (no browsers)."""

from __future__ import annotations

import re
import time

import pytest

from tests.classroom import Classroom, trainings_logged
from tests.test_browser import TRAINING_200


def epoch_shown(page) -> int:
    """The last finished epoch the page's progress bar names (0 before the first)."""
    texts = page.get_by_text(re.compile(r"epoch \d+/\d+ ·")).all_inner_texts()
    return max((int(re.search(r"epoch (\d+)/", t).group(1)) for t in texts), default=0)


pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_queue_place_cancel_and_stop_with_two_sessions_watching(chromium_path, tmp_path):
    """One worker: a training two sessions watch, a waiting one, and one that leaves the queue."""
    import json

    from playwright.sync_api import expect

    from tests.classroom import set_number, wait_idle

    runs = tmp_path / "runs"
    room = Classroom(chromium_path, runs, sessions=4, workers=1)
    try:
        room.open_train_pages()
        watcher_a, watcher_b, waiting, leaving = room.pages
        for page, seed in zip(room.pages, (0, 0, 5, 6), strict=True):
            set_number(page, "Epochs", 200)
            page.get_by_test_id("stSelectbox").filter(has_text="Batch size").click()
            page.get_by_role("option", name="16", exact=True).click()  # slower epochs: still training when stopped
            wait_idle(page)
            room.set_seed(page, seed)
            wait_idle(page)
        train = {page: page.get_by_role("button", name="Train", exact=True) for page in room.pages}
        train[watcher_a].click()
        expect(watcher_a.get_by_text(TRAINING_200).first).to_be_visible()  # any live epoch: one takes ~0.2 s
        train[watcher_b].click()
        expect(watcher_b.get_by_text("1 other session watching it too")).to_be_visible()
        train[waiting].click()
        expect(waiting.get_by_text("1 training ahead of yours")).to_be_visible()
        train[leaving].click()
        expect(leaving.get_by_text("2 trainings ahead of yours")).to_be_visible()
        leaving.locator(".st-key-stop_training button").first.click()  # leaves the queue
        expect(leaving.get_by_text("ahead of yours")).to_have_count(0)
        expect(waiting.get_by_text("1 training ahead of yours")).to_be_visible()

        watcher_a.locator(".st-key-stop_training button").first.click()  # b still watches: the training goes on
        expect(watcher_a.get_by_text("ahead of yours")).to_have_count(0)
        now = epoch_shown(watcher_b)
        deadline = time.monotonic() + 120
        while epoch_shown(watcher_b) < now + 2:  # epochs go by faster than a locator can wait for one
            assert time.monotonic() < deadline, f"the training stopped at epoch {now}"
            time.sleep(0.2)
        assert room.run_folders() == []
        watcher_b.locator(
            ".st-key-stop_training button"
        ).first.click()  # the last one watching: it stops, kept as stopped
        expect(watcher_b.get_by_text("status stopped")).to_be_visible()
        expect(waiting.get_by_text("Training in a worker process")).to_be_visible()  # its turn now
        waiting.locator(".st-key-stop_training button").first.click()
        expect(waiting.get_by_text("status stopped")).to_be_visible()
        for page in room.pages:
            wait_idle(page)
            assert page.locator("[data-testid='stException']").count() == 0
        statuses = {
            json.loads(c.read_text())["settings"]["seed"]: json.loads(c.read_text())["status"]
            for c in runs.glob("*/config.json")
        }
        assert statuses == {0: "stopped", 5: "stopped"}  # none for the session that left the queue
    finally:
        output = room.close()
        print(output[-4000:])  # shown when the test fails
    assert trainings_logged(output) == 2, output[-3000:]
