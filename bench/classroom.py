"""A class on one server, in Chromium on loopback (digits, MLP, 1 epoch per training):

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
from pathlib import Path

from bench.common import ROOT

SESSIONS = 8
SEQUENTIAL = 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(sequential: int = SEQUENTIAL) -> None:
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
    """The same rounds with 3 sequential trainings (a check of the benchmark itself)."""
    run(sequential=3)
