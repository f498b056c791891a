"""Three sessions run the study at once against one server (Chromium, loopback): every step
trains in the server's training pool, as the Train button's trainings do, and identical steps
are trained once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.classroom import Classroom, set_number, trainings_logged, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STUDY = "Run the study: own CNN vs feature extraction vs fine-tuning vs fine-tuning + augmentation"


def test_three_sessions_run_a_one_epoch_study_at_once_through_the_pool(chromium_path, tmp_path):
    from lib.data.sources import load_digits
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.train.settings import TrainSettings

    # A small CNN of this data set is the study's default backbone (light enough for CI, unlike
    # MobileNetV2 at 96x96 on two cores); another seed, so the study's own CNN is a new run.
    runs = tmp_path / "runs"
    backbone = train_or_load(load_digits(), TrainSettings(model="cnn", epochs=1, seed=7), "digits", RunStore(runs))
    room = Classroom(chromium_path, runs, sessions=3, workers=2)
    try:
        for page in room.pages:
            page.goto(room.url + "/runs")
            expect(page.get_by_text(STUDY)).to_be_visible()
            wait_idle(page)
            page.get_by_text(STUDY).click()
            wait_idle(page)
            # the box names the run as people say it (#21), not by its id
            name = RunStore(runs).load(backbone.run_id).record.display_name
            expect(page.get_by_role("combobox", name="Backbone")).to_have_value(f"run {name}")  # "run cnn · 1 ep …"
            set_number(page, "Epochs each", 1)
            wait_idle(page)
        for page in room.pages:
            page.get_by_role("button", name="Run the study").click(no_wait_after=True)
        for page in room.pages:
            expect(page.get_by_text("The study's result")).to_be_visible(timeout=600_000)
            wait_idle(page)
            assert page.locator("[data-testid='stException']").count() == 0
            assert page.locator("[data-testid='stAlertContentError']").count() == 0
        assert len(room.run_folders()) == 5  # the backbone + four steps, each trained once for the three sessions
    finally:
        output = room.close()
        print(output[-4000:])  # shown when the test fails
    assert trainings_logged(output) == 4, output[-3000:]  # every step logged by the pool, none trained in a session
