"""Headless sessions over Streamlit's client protocol (tests/headless.py) on one server: what the
class figure in bench/classroom.py relies on, and the class of eight. Sessions with the same settings
share one training; each sees its own complete run. No browser: eight sessions cost the server what
eight tabs cost it, without eight Chromiums on the same two cores (the browser's own class test, in
tests/test_class_load.py, is the queue watched by four tabs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.classroom import trainings_logged
from tests.conftest import start_server, stop_server
from tests.headless import class_rounds

pytestmark = pytest.mark.slow


def runs_in(root: Path) -> int:
    return len([p for p in root.iterdir() if not p.name.startswith(".")]) if root.exists() else 0


def test_three_headless_sessions_share_one_training_on_one_server(tmp_path):
    proc, url, _ = start_server({"EXPLORER_RUNS": str(tmp_path / "runs"), "EXPLORER_TRAIN_WORKERS": "1"})
    try:
        sessions = class_rounds(url, [[7, 7, 7]])
    finally:
        stop_server(proc)
    assert all(s.shows("status **complete**", "· seed 7 ·") and not s.exceptions for s in sessions)
    assert trainings_logged(Path(proc.log_path).read_text()) == 1
    assert runs_in(tmp_path / "runs") == 1


def test_eight_sessions_same_settings_then_distinct_seeds(tmp_path):
    """Eight sessions, two workers: the same settings pressed at once train once; then eight seeds,
    eight trainings, each session shown its own complete run and no "Cannot train"."""
    runs = tmp_path / "runs"
    proc, url, _ = start_server({"EXPLORER_RUNS": str(runs), "EXPLORER_TRAIN_WORKERS": "2"})

    def after(i: int) -> None:
        assert runs_in(runs) == (1, 9)[i]

    try:
        sessions = class_rounds(url, [[0] * 8, list(range(1, 9))], after)
    finally:
        stop_server(proc)
    output = Path(proc.log_path).read_text()
    assert all(not s.exceptions and not s.shows("Cannot train") for s in sessions)
    assert [s for s in sessions if s.shows("status **complete**")] == sessions
    assert trainings_logged(output) == 9, output[-3000:]  # 1 shared training, then 8
    assert "Cannot train" not in output
