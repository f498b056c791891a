"""The training pool: real trainings on digits in spawned worker processes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lib import i18n
from lib.data.dataset import Dataset
from lib.data.sources import load_digits
from lib.errors import SettingsError, one_line
from lib.runs.store import RunStore
from lib.runs.workers import CANCELLED, DONE, QUEUED, TrainingPool, TrainingWorkerError, default_workers
from lib.train.settings import TrainSettings

pytestmark = pytest.mark.slow

QUICK = TrainSettings(model="mlp", epochs=1)
LONG = TrainSettings(model="mlp", epochs=200, batch_size=16)  # runs until stopped


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture(scope="module")
def pool2():
    pool = TrainingPool(2)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def pool1():
    pool = TrainingPool(1)
    yield pool
    pool.close()


def until(predicate, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def finish(handle, timeout=180.0):
    assert handle.wait(timeout), "the job did not end"
    return handle.outcome()


def folders(root) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_default_workers_fit_cores_and_memory(monkeypatch):
    monkeypatch.delenv("EXPLORER_TRAIN_WORKERS", raising=False)
    assert default_workers(cores=2, available_mb=20_000) == 2
    assert default_workers(cores=16, available_mb=4_000) == 2  # memory limits: 1,500 MB per training
    assert default_workers(cores=8, available_mb=500) == 1
    monkeypatch.setenv("EXPLORER_TRAIN_WORKERS", "3")
    assert default_workers(cores=1, available_mb=100) == 3
    monkeypatch.setenv("EXPLORER_TRAIN_WORKERS", "zero")
    with pytest.raises(SettingsError, match="EXPLORER_TRAIN_WORKERS"):
        default_workers()


def test_two_different_settings_at_once_both_complete(pool2, digits, tmp_path):
    before = pool2.trainings
    handles = [
        pool2.submit(digits, TrainSettings(model="mlp", epochs=1, seed=s), "digits", tmp_path, source="digits")
        for s in (0, 1)
    ]
    until(lambda: all(h.progress().state != QUEUED for h in handles))  # two workers: neither waits
    outcomes = [finish(h) for h in handles]
    # a run trained in the app records where its data loads from again (report/predict elsewhere)
    assert [RunStore(tmp_path).load(o.run_id).record.dataset.source for o in outcomes] == ["digits", "digits"]
    assert all(o.run_id and not o.loaded for o in outcomes)
    assert len({o.run_id for o in outcomes}) == 2
    assert folders(tmp_path) == sorted(o.run_id for o in outcomes)
    assert [RunStore(tmp_path).load(o.run_id).status for o in outcomes] == ["complete", "complete"]
    assert pool2.trainings - before == 2


def test_the_same_settings_twice_share_one_training(pool2, digits, tmp_path):
    before = pool2.trainings
    settings = TrainSettings(model="mlp", epochs=2, seed=7)
    first = pool2.submit(digits, settings, "digits", tmp_path)
    second = pool2.submit(digits, settings, "digits (other label)", tmp_path)
    assert first.progress().watchers == 2
    seen = []
    while not second.wait(0.05):  # the second session sees the live epochs of the one training
        seen.append(len(second.progress().rows))
    a, b = finish(first), finish(second)
    assert a.run_id == b.run_id == first.run_id and a is b
    assert max(seen) >= 1 and second.progress().rows and len(second.progress().rows) == 2
    assert pool2.trainings - before == 1
    assert folders(tmp_path) == [a.run_id]
    run = RunStore(tmp_path).load(a.run_id)
    assert run.status == "complete" and len(run.history) == 2
    # The live rows are the stored history's rows (the exact per-epoch metrics).
    assert second.progress().rows[-1]["val_accuracy"] == pytest.approx(run.history["val_accuracy"].iloc[-1])


def test_queue_position_and_cancelling_a_queued_job(pool1, digits, tmp_path):
    running = pool1.submit(digits, LONG, "digits", tmp_path)
    until(lambda: running.progress().state != QUEUED)
    waiting = pool1.submit(digits, QUICK, "digits", tmp_path)
    last = pool1.submit(digits, TrainSettings(model="mlp", epochs=1, seed=3), "digits", tmp_path)
    assert waiting.progress().state == QUEUED and waiting.progress().ahead == 1
    assert last.progress().ahead == 2  # "2 trainings ahead of yours"
    assert waiting.detach() is True  # cancelled: nothing trains for it
    assert waiting.wait(5) and waiting.progress().state == CANCELLED
    with pytest.raises(TrainingWorkerError, match="cancelled"):
        waiting.outcome()
    assert last.progress().ahead == 1
    running.detach()
    assert finish(running).run_id == running.run_id
    assert finish(last).run_id == last.run_id
    assert set(folders(tmp_path)) == {running.run_id, last.run_id}  # never one for the cancelled job
    assert RunStore(tmp_path).status_of(running.run_id) == "stopped"


def test_stop_with_two_sessions_attached(pool2, digits, tmp_path):
    a = pool2.submit(digits, LONG, "digits", tmp_path)
    b = pool2.submit(digits, LONG, "digits", tmp_path)
    until(lambda: len(a.progress().rows) >= 1)
    assert a.detach() is False  # b still watches: the training goes on
    epochs = len(b.progress().rows)
    until(lambda: len(b.progress().rows) >= epochs + 2)
    assert not b.wait(0) and b.progress().watchers == 1
    assert b.detach() is True  # the last one: the training stops after its current batch
    outcome = finish(b, 60)
    run = RunStore(tmp_path).load(outcome.run_id)
    assert run.status == "stopped" and "Stop was pressed" in run.record.message
    assert 3 <= len(run.history) < LONG.epochs


def test_errors_cross_the_process_boundary_with_their_class(pool1, tmp_path):
    import numpy as np

    one_each = Dataset(
        "tiny",
        np.zeros((2, 8, 8, 1), np.uint8),
        np.array([0, 1]),
        np.zeros((2, 8, 8, 1), np.uint8),
        np.array([0, 1]),
        ("a", "b"),
    )
    handle = pool1.submit(one_each, QUICK, "tiny", tmp_path)
    with pytest.raises(SettingsError, match="validation split is empty") as info:
        finish(handle)
    # raised in the worker (English, no session), shown in a Korean reader's language
    with i18n.using("ko"):
        assert one_line(info.value).startswith("검증 데이터가 비어 있습니다"), one_line(info.value)


def test_workers_are_reused_replaced_after_their_quota_and_when_killed(digits, tmp_path):
    pool = TrainingPool(1, jobs_per_worker=2)
    try:
        pids = []
        for seed in range(3):
            handle = pool.submit(digits, TrainSettings(model="mlp", epochs=1, seed=seed), "digits", tmp_path)
            assert finish(handle).run_id
            pids.append(handle._job.worker_pid)
        assert pids[0] == pids[1] != pids[2]  # reused once, then replaced
        handle = pool.submit(digits, LONG, "digits", tmp_path)
        until(lambda: handle.progress().batch is not None)
        os.kill(handle._job.worker_pid, signal.SIGKILL)  # e.g. the kernel's out-of-memory killer
        with pytest.raises(TrainingWorkerError, match="ended unexpectedly"):
            finish(handle, 30)
        after = pool.submit(digits, TrainSettings(model="mlp", epochs=1, seed=9), "digits", tmp_path)
        assert finish(after).run_id and after._job.worker_pid not in pids
        assert pool.trainings == 4 and pool.workers_started == 3
    finally:
        pool.close()


def test_many_sessions_at_once_one_training(pool2, digits, tmp_path):
    """Eight threads (sessions of one server) ask for the same run at the same moment."""
    settings = TrainSettings(model="mlp", epochs=1, seed=11)
    before = pool2.trainings
    start = threading.Barrier(8)
    results: list = []

    def session() -> None:
        start.wait()
        results.append(finish(pool2.submit(digits, settings, "digits", tmp_path)))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert len(results) == 8 and len({r.run_id for r in results}) == 1
    assert pool2.trainings - before == 1 and folders(tmp_path) == [results[0].run_id]
    again = pool2.submit(digits, settings, "digits", tmp_path)  # after the end: loaded, not trained again
    assert finish(again).loaded and again._job.state == DONE and pool2.trainings - before == 1


def test_progress_lines_say_the_place_in_the_queue():
    from lib.runs.workers import RUNNING, Progress

    waiting = Progress(QUEUED, 2, [], None, None, 3, 1)
    assert waiting.describe(2) == (
        "Waiting for a free training worker: 2 trainings ahead of yours (this server trains 2 at once). "
        "Stop leaves the queue."
    )
    assert "1 training ahead of yours" in Progress(QUEUED, 1, [], None, None, 3, 1).describe(1)
    assert Progress(RUNNING, 0, [], None, None, 3, 1).describe(2) == "Training in a worker process."
    assert "2 other sessions watching it too" in Progress(RUNNING, 0, [], None, None, 3, 3).describe(2)


def test_make_run_devices_all_reaches_the_workers(digits, tmp_path, monkeypatch):
    """`make run DEVICES=all` sets EXPLORER_DEVICES: the spawned workers train mirrored (here
    over two logical CPUs, as a machine without GPUs can try it)."""
    monkeypatch.setenv("EXPLORER_DEVICES", "all")
    monkeypatch.setenv("EXPLORER_LOGICAL_CPUS", "2")
    pool = TrainingPool(1)
    try:
        outcome = finish(pool.submit(digits, TrainSettings(model="mlp", epochs=1, batch_size=32), "digits", tmp_path))
    finally:
        pool.close()
    record = RunStore(tmp_path).load(outcome.run_id).record
    assert record.status == "complete"
    assert any("trained on 2 logical CPU devices with MirroredStrategy" in note for note in record.notes)


def test_workers_end_when_the_server_process_dies(tmp_path):
    """A server killed outright (no clean shutdown) leaves no worker behind: idle ones notice
    within a second or two, a training one stops at its next batch."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = """
import os, sys, time
from lib.data.sources import load_digits
from lib.runs.workers import TrainingPool
from lib.train.settings import TrainSettings
pool = TrainingPool(2)
handle = pool.submit(load_digits(), TrainSettings(model="mlp", epochs=200, batch_size=16), "digits", sys.argv[1])
while not handle.progress().rows:
    time.sleep(0.05)
print(" ".join(str(s.process.pid) for s in pool._slots), flush=True)
os._exit(0)  # like a killed server: no atexit, no pool.close()
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2, out.stderr[-2000:]

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as f:  # a zombie has ended, it only waits to be reaped
            return f.read().split(") ")[1][0] != "Z"

    until(lambda: not any(alive(p) for p in pids), timeout=30)


def test_a_warm_worker_takes_the_next_job_at_once_and_the_data_set_is_written_once(digits, tmp_path):
    """Issue 25 item 3: the data set reaches the workers once per fingerprint (not a file per job),
    and "Starting a training worker" is shown only while a worker process really starts."""
    from lib.runs.workers import STARTING

    pool = TrainingPool(1)
    try:
        folder = pool.executor.data_folder(digits)
        states = []
        for seed in (31, 32, 33):
            handle = pool.submit(digits, TrainSettings(model="mlp", epochs=1, seed=seed), "digits", tmp_path)
            while not handle.wait(0.01):
                states.append((seed, handle.progress().state))
            assert finish(handle).run_id
            assert folder.is_dir()  # kept for the next press
        assert pool.executor.datasets_written == 1
        assert not [s for s in states if s[0] != 31 and s[1] == STARTING], states  # warm: no "Starting"
    finally:
        pool.close()
    assert not folder.exists()  # the pool's end removes the files


def test_the_local_pool_never_imports_ray(tmp_path):
    """`make run` without Ray: the default executor is the local pool and Ray stays out of the server."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = (
        "import sys; from lib.runs.workers import TrainingPool; pool = TrainingPool(1, warm=False); "
        "print(pool.executor.kind, 'ray' in sys.modules); pool.close()"
    )
    env = {k: v for k, v in os.environ.items() if k != "EXPLORER_RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["local", "False"], out.stderr[-2000:]
