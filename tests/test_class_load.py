"""A class on one server (Chromium, loopback): eight sessions press Train at about the same moment."""

from __future__ import annotations

import pytest

from tests.classroom import Classroom, trainings_logged

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_eight_sessions_same_settings_then_distinct_seeds(chromium_path, tmp_path):
    room = Classroom(chromium_path, tmp_path / "runs", sessions=8, workers=2)
    try:
        room.open_train_pages()
        same = room.train_all()
        assert same.errors == [] and same.complete == 8
        assert len(room.run_folders()) == 1
        for seed, page in enumerate(room.pages, start=1):
            room.set_seed(page, seed)
        distinct = room.train_all()
        assert distinct.errors == [] and distinct.complete == 8
        assert len(room.run_folders()) == 9
    finally:
        output = room.close()
    assert trainings_logged(output) == 9, output[-3000:]  # 1 shared training, then 8
    assert "Cannot train" not in output
