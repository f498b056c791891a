"""A class on one server (digits, MLP, 1 epoch per training).

`python -m bench classroom` (the class figure): 8 headless sessions over Streamlit's own client
protocol (tests/headless.py: the websocket and protobuf messages a browser tab uses), so the cores
serve the server and its workers, not 8 browsers:

class8_same_complete       8 sessions press Train with the same settings: sessions showing the complete run
class8_distinct_complete   8 sessions with distinct seeds: sessions showing their complete run
class8_distinct_wall_ratio the distinct round's wall time / ((8 / workers) x one training alone), both timed
                           from the Train press to the run drawn, with warm workers

`python -m bench classroom:browsers`: the same rounds in 8 Chromium tabs, and the memory drift:

class8_same_complete       8 sessions press Train with the same settings: sessions showing the complete run
class8_distinct_complete   8 sessions with distinct seeds: sessions showing their complete run
class8_distinct_wall_ratio the distinct round's wall time / ((8 / workers) x one training alone), both timed
                           from the Train press to the run shown in the browser, with warm workers
server_rss_drift_mb        the server's RSS after 50 sequential trainings minus after the first
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT

SESSIONS = 8
SEQUENTIAL = 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run() -> None:
    """The class figure with headless sessions on one server."""
    import asyncio

    from lib.runs.workers import default_workers
    from tests.classroom import trainings_logged, worker_seconds
    from tests.conftest import start_server, stop_server
    from tests.headless import HeadlessSession

    workers = default_workers()
    with tempfile.TemporaryDirectory() as d:
        proc, url, _ = start_server({"EXPLORER_RUNS": str(Path(d) / "runs"), "EXPLORER_TRAIN_WORKERS": str(workers)})
        log = Path(proc.log_path)

        async def train(sessions: list, seeds: list[int]) -> tuple[int, float, list[str]]:
            for s, seed in zip(sessions, seeds, strict=True):
                s.set("Seed", seed)
            await asyncio.gather(*(s.rerun() for s in sessions))
            for s in sessions:
                s.press("Train")
            t0 = time.perf_counter()
            await asyncio.gather(
                *(s.rerun("status **complete**", f"· seed {seed} ·") for s, seed in zip(sessions, seeds, strict=True))
            )
            seconds = time.perf_counter() - t0
            errors = [e for s in sessions for e in s.exceptions] + [
                t for s in sessions for t in s.texts if t.startswith("Cannot train")
            ]
            complete = sum(
                s.shows("status **complete**", f"· seed {seed} ·") for s, seed in zip(sessions, seeds, strict=True)
            )
            return complete, seconds, errors

        async def rounds() -> None:
            sessions = [HeadlessSession(url, page="train") for _ in range(SESSIONS)]
            for s in sessions:  # one after the other, as a class opens the page
                await s.connect()
                s.set("Model", next(o for o in s.widgets["Model"].proto.options if o.startswith("MLP")))
                s.set("Epochs", 1)
            try:
                await train(sessions[:workers], [1000 + i for i in range(workers)])  # warm-up: each worker once
                n_before_one = len(worker_seconds(log.read_text()))
                complete, one, _ = await train(sessions[:1], [1002 + workers])
                assert complete == 1, "the single training did not complete"
                before = trainings_logged(log.read_text())
                same, _, same_errors = await train(sessions, [0] * SESSIONS)
                trained_same = trainings_logged(log.read_text()) - before
                logged = len(worker_seconds(log.read_text()))
                distinct, seconds, errors = await train(sessions, list(range(1, SESSIONS + 1)))
                in_workers = worker_seconds(log.read_text())[logged:]
            finally:
                for s in sessions:
                    await s.close()
            ideal = SESSIONS / workers * one
            load = os.getloadavg()[0]
            print(f"class8_same_complete: {same} (goal {SESSIONS})", flush=True)
            print(f"  {trained_same} training(s) happened for the {SESSIONS} same requests", flush=True)
            print(f"class8_distinct_complete: {distinct} (goal {SESSIONS})", flush=True)
            print(f"class8_distinct_wall_ratio: {seconds / ideal:.2f} (goal <= 1.3)", flush=True)
            print(
                f"  {seconds:.1f} s for {SESSIONS} distinct vs {one:.1f} s for one alone, {workers} workers, "
                f"headless sessions; load {load:.1f}",
                flush=True,
            )
            alone = worker_seconds(log.read_text())[n_before_one]
            print(
                f"  the {SESSIONS} trainings took {sum(in_workers):.1f} s inside the workers "
                f"({sum(in_workers) / workers:.1f} s per worker); one alone took {alone:.1f} s in its worker",
                flush=True,
            )
            for problem in same_errors + errors:
                print(f"  error seen: {problem[:200]}", flush=True)

        try:
            asyncio.run(rounds())
        finally:
            stop_server(proc)


def browsers(sequential: int = SEQUENTIAL) -> None:
    sys.path.insert(0, str(ROOT))
    from lib.runs.workers import default_workers
    from tests.classroom import Classroom, trainings_logged, worker_seconds

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        print("classroom: skipped (needs Debian's chromium at /usr/bin/chromium)", flush=True)
        return
    workers = default_workers()
    with tempfile.TemporaryDirectory() as d:
        room = Classroom(chromium, Path(d) / "runs", sessions=SESSIONS, workers=workers)
        try:
            room.open_train_pages()
            first, second = room.pages[:2]
            # Warm-up: one training on each worker (its first training initialises TensorFlow's runtime).
            room.set_seed(first, 1000)
            room.set_seed(second, 1001)
            room.train_all(room.pages[:workers])
            room.set_seed(first, 1002)
            n_before_one = len(worker_seconds(room.output()))
            one = room.train_all([first])
            assert one.complete == 1, one.errors
            before = trainings_logged(room.output())
            for page in room.pages:
                room.set_seed(page, 0)
            same = room.train_all()
            folders_same = len(room.run_folders())
            trained_same = trainings_logged(room.output()) - before
            for seed, page in enumerate(room.pages, start=1):
                room.set_seed(page, seed)
            logged = len(worker_seconds(room.output()))
            distinct = room.train_all()
            in_workers = worker_seconds(room.output())[logged:]
            ideal = SESSIONS / workers * one.seconds
            print(f"class8_same_complete: {same.complete} (goal {SESSIONS})", flush=True)
            print(f"  {trained_same} training(s) happened, {folders_same} run folder(s)", flush=True)
            print(f"class8_distinct_complete: {distinct.complete} (goal {SESSIONS})", flush=True)
            print(f"class8_distinct_wall_ratio: {distinct.seconds / ideal:.2f} (goal <= 1.3)", flush=True)
            print(
                f"  {distinct.seconds:.1f} s for {SESSIONS} distinct vs {one.seconds:.1f} s for one alone, "
                f"{workers} workers, {len(room.run_folders())} run folders",
                flush=True,
            )
            print(
                f"  the 8 trainings took {sum(in_workers):.1f} s inside the workers ({sum(in_workers) / workers:.1f} s "
                f"per worker); one alone took {worker_seconds(room.output())[n_before_one]:.1f} s in its worker",
                flush=True,
            )
            for problem in same.errors + distinct.errors:
                print(f"  error seen: {problem[:200]}", flush=True)
            # Memory: sequential trainings from one session, the server's RSS after the 1st and the last.
            rss = []
            for i in range(sequential):
                room.set_seed(first, 2000 + i)
                r = room.train_all([first])
                assert r.complete == 1, r.errors
                if i in (0, sequential - 1):
                    rss.append(rss_mb(room.server_pid()))
            print(f"server_rss_drift_mb: {rss[1] - rss[0]:.0f} (goal <= 100)", flush=True)
            print(f"  {rss[0]:.0f} MB after the 1st training, {rss[1]:.0f} MB after the {sequential}th", flush=True)
        finally:
            room.close()


def quick() -> None:
    """The browser rounds with 3 sequential trainings (a check of the benchmark itself)."""
    browsers(sequential=3)
