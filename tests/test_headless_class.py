"""Headless sessions over Streamlit's client protocol (tests/headless.py) on one server: what the
class figure in bench/classroom.py relies on, and the class of eight. Sessions with the same settings
share one training; each sees its own complete run. No browser: eight sessions cost the server what
eight tabs cost it, without eight Chromiums on the same two cores (the browser's own class test, in
tests/test_class_load.py, is the queue watched by four tabs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.classroom import trainings_logged
from tests.conftest import start_server, stop_server
from tests.headless import HeadlessSession

pytestmark = pytest.mark.slow


def test_three_headless_sessions_share_one_training_on_one_server(tmp_path):
    proc, url, _ = start_server({"EXPLORER_RUNS": str(tmp_path / "runs"), "EXPLORER_TRAIN_WORKERS": "1"})

    async def class_of_three() -> list[HeadlessSession]:
        sessions = [HeadlessSession(url, page="train") for _ in range(3)]
        for s in sessions:
            await s.connect()
            assert s.exceptions == [] and "Train" in s.widgets
            s.set("Model", next(o for o in s.widgets["Model"].proto.options if o.startswith("MLP")))
            s.set("Epochs", 1)
            s.set("Seed", 7)
        await asyncio.gather(*(s.rerun() for s in sessions))
        for s in sessions:
            s.press("Train")
        await asyncio.gather(*(s.rerun("status **complete**", "· seed 7 ·", timeout_s=240) for s in sessions))
        for s in sessions:
            await s.close()
        return sessions

    try:
        sessions = asyncio.run(class_of_three())
    finally:
        stop_server(proc)
    assert all(s.shows("status **complete**", "· seed 7 ·") and not s.exceptions for s in sessions)
    assert trainings_logged(Path(proc.log_path).read_text()) == 1
    assert len([p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]) == 1


def test_eight_sessions_same_settings_then_distinct_seeds(tmp_path):
    """Eight sessions, two workers: the same settings pressed at once train once; then eight seeds,
    eight trainings, each session shown its own complete run and no "Cannot train"."""
    runs = tmp_path / "runs"
    proc, url, _ = start_server({"EXPLORER_RUNS": str(runs), "EXPLORER_TRAIN_WORKERS": "2"})

    async def press_all(sessions: list[HeadlessSession], seeds: list[int]) -> None:
        for s, seed in zip(sessions, seeds, strict=True):
            s.set("Seed", seed)
        await asyncio.gather(*(s.rerun() for s in sessions))
        for s in sessions:
            s.press("Train")
        await asyncio.gather(
            *(
                s.rerun("status **complete**", f"· seed {seed} ·", timeout_s=300)
                for s, seed in zip(sessions, seeds, strict=True)
            )
        )

    async def class_of_eight() -> list[HeadlessSession]:
        sessions = [HeadlessSession(url, page="train") for _ in range(8)]
        for s in sessions:
            await s.connect()
            assert s.exceptions == [] and "Train" in s.widgets
            s.set("Model", next(o for o in s.widgets["Model"].proto.options if o.startswith("MLP")))
            s.set("Epochs", 1)
        await press_all(sessions, [0] * 8)
        assert len([p for p in runs.iterdir() if not p.name.startswith(".")]) == 1
        await press_all(sessions, list(range(1, 9)))
        for s in sessions:
            await s.close()
        return sessions

    try:
        sessions = asyncio.run(class_of_eight())
    finally:
        stop_server(proc)
    output = Path(proc.log_path).read_text()
    assert all(not s.exceptions and not s.shows("Cannot train") for s in sessions)
    assert [s for s in sessions if s.shows("status **complete**")] == sessions
    assert trainings_logged(output) == 9, output[-3000:]  # 1 shared training, then 8
    assert len([p for p in runs.iterdir() if not p.name.startswith(".")]) == 9
    assert "Cannot train" not in output
