"""Headless sessions over Streamlit's client protocol (tests/headless.py) on one server: what the
class figure in bench/classroom.py relies on. Sessions with the same settings share one training;
each sees its own complete run."""

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
