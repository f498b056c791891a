"""The embedded executor: trainings in local worker processes (the default; nothing to install).

Each lane owns one worker process started with "spawn" (forking a process that has TensorFlow
loaded is unsafe). A worker keeps TensorFlow imported between trainings and is replaced after
`jobs_per_worker` of them (Keras leaks a little per model) or when it dies.

A data set reaches the workers once per fingerprint: its arrays are written as .npy files into
a private folder while jobs use it (and for the next press: the two most recent idle sets are
kept, older ones and everything at the pool's end removed), and a worker maps them
read-only (`np.load(mmap_mode="r")`, no pickle) and keeps the last one it read, so a warm
worker given the same data set again reads nothing. Progress comes back over a queue: per
batch (a few times a second at most) and per epoch (the history row and the epoch's
validation confusion matrix, the exact metrics of `lib.train.training`).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from lib import errors
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, one_line, portable_line
from lib.i18n import N_
from lib.runs.executor import BATCH_EVERY_S, Finished, JobEvents, JobSpec, TrainingWorkerError, strip_result
from lib.worker_start import without_main

ORPHAN_CHECK_S = 1.0  # an idle worker checks this often whether the server is still there
WORKER_NAME = without_main("explorer-train-worker-")  # lib.worker_start: no page script in a worker
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
KEEP_IDLE_SETS = 2  # data sets no job uses now whose files are kept for the next press


def write_dataset(ds: Dataset, folder: Path) -> None:
    """The arrays as .npy files (written under a temporary name, then renamed: a reader never sees half)."""
    part = folder.with_name(folder.name + ".part")
    part.mkdir()
    for name in ARRAYS:
        np.save(part / f"{name}.npy", getattr(ds, name))
    np.save(part / "class_names.npy", np.array(ds.class_names, dtype=str))
    os.replace(part, folder)


def read_dataset(folder: str, name: str, notes: tuple[str, ...], fingerprint: str) -> Dataset:
    arrays = {a: np.load(Path(folder) / f"{a}.npy", mmap_mode="r", allow_pickle=False) for a in ARRAYS}
    names = tuple(str(n) for n in np.load(Path(folder) / "class_names.npy", allow_pickle=False))
    return Dataset(
        name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], names, notes, fingerprint
    )


def _worker_main(inbox: Any, outbox: Any, stop: Any) -> None:
    """A worker process: import Keras once, then train the jobs it is sent until it gets None.
    It also ends when the server process is gone (killed, or shut down without closing the
    pool): an orphaned worker would keep its ~700 MB, and its training, for nothing."""
    parent = os.getppid()

    def orphaned() -> bool:  # the server died: this process was handed to another parent
        return os.getppid() != parent

    # On a GPU, TensorFlow would give each process all of the GPU's memory: grow it as needed.
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    from lib.runs.store import RunStore
    from lib.runs.train_or_load import train_or_load
    from lib.tf_import import import_keras

    import_keras()
    outbox.put(("ready", None, None))
    last_data: tuple[str, Dataset] | None = None  # (fingerprint, data set): a warm worker reads a set once
    while True:
        try:
            job = inbox.get(timeout=ORPHAN_CHECK_S)
        except queue.Empty:
            if orphaned():
                return
            continue
        if job is None:
            return
        job_id = job["id"]
        last = [0.0]

        def on_batch(epoch: int, batch: int, steps: int, job_id: int = job_id, last: list = last) -> None:
            now = time.monotonic()
            if now - last[0] >= BATCH_EVERY_S or batch == steps:
                last[0] = now
                outbox.put(("batch", job_id, (epoch, batch, steps)))

        def on_epoch(row: dict, cm: np.ndarray, epoch: int, total: int, job_id: int = job_id) -> None:
            outbox.put(("epoch", job_id, (row, cm)))

        try:
            t0 = time.perf_counter()
            if last_data is None or last_data[0] != job["fingerprint"]:
                last_data = None  # let the previous set's mapping go first
                last_data = (
                    job["fingerprint"],
                    read_dataset(job["data"], job["name"], job["notes"], job["fingerprint"]),
                )
            outcome = train_or_load(
                last_data[1],
                job["settings"],
                job["label"],
                RunStore(job["root"]),
                name=job["run_name"],
                on_epoch=on_epoch,
                on_batch=on_batch,
                should_stop=lambda: stop.is_set() or orphaned(),
                devices=job["devices"],
                source=job["source"],
            )
            if outcome.result is not None:
                r = outcome.result
                status, message = r.status, f"{r.message}; {time.perf_counter() - t0:.1f} s in the worker"
            else:
                status, message = "complete", "loaded from the store"
            outbox.put(("done", job_id, (strip_result(outcome), status, message)))
        except ExplorerError as exc:
            outbox.put(("error", job_id, (type(exc).__name__, portable_line(exc))))
        except Exception as exc:
            outbox.put(("error", job_id, ("TrainingWorkerError", one_line(exc, with_type=True))))


def raise_named(name: str, text: str) -> None:
    """Raise the ExplorerError a worker reported by class name (TrainingWorkerError if unknown)."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ExplorerError)):
        cls = TrainingWorkerError
    raise cls(text)


class LocalLane:
    """One worker process and the messages between it and the job layer's lane thread."""

    def __init__(self, executor: LocalExecutor, number: int) -> None:
        self.executor, self.number = executor, number
        self.process: Any = None
        self.worker_pid: int | None = None
        self.jobs_done = 0
        self._ready = False  # the worker has imported TensorFlow and said so
        self._job_id: int | None = None
        self._stop = executor._ctx.Event()

    @property
    def ready(self) -> bool:
        p = self.process
        return self._ready and p is not None and p.is_alive() and self.jobs_done < self.executor.jobs_per_worker

    def start(self) -> None:
        self._start_process()  # TensorFlow's import happens now, not on the first Train press

    def _start_process(self) -> None:
        ctx = self.executor._ctx
        self.inbox, self.outbox = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(
            target=_worker_main,
            args=(self.inbox, self.outbox, self._stop),
            name=f"{WORKER_NAME}{self.number}",
            daemon=True,
        )
        self.process.start()
        self.worker_pid = self.process.pid
        self.jobs_done, self._ready = 0, False
        self.executor.workers_started += 1

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.inbox.put(None)
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
        for q in (self.inbox, self.outbox):
            q.close()
            q.cancel_join_thread()
        self.process, self._ready = None, False

    def stop(self, job_id: int) -> None:
        if self._job_id == job_id:
            self._stop.set()

    def run(self, job: JobSpec, events: JobEvents) -> Finished:
        if self.process is not None and (
            not self.process.is_alive() or self.jobs_done >= self.executor.jobs_per_worker
        ):
            self.close()  # used up (or dead): a fresh process bounds the memory a lesson leaves
        if self.process is None:
            self._start_process()
        self._stop.clear()
        self._job_id = job.id
        if job.stop.is_set():  # left before it started
            self._stop.set()
        if self._ready:
            events.running()
        ds = job.ds
        self.inbox.put(
            {
                "id": job.id,
                "data": str(self.executor.data_folder(ds)),
                "name": ds.name,
                "notes": tuple(ds.notes),
                "fingerprint": ds.fingerprint,
                "settings": job.settings,
                "label": job.dataset_label,
                "root": job.root,
                "run_name": job.run_name,
                "devices": job.devices,
                "source": job.source,
            }
        )
        self.jobs_done += 1
        try:
            return self._follow(job, events)
        finally:
            self._job_id = None

    def _follow(self, job: JobSpec, events: JobEvents) -> Finished:
        while True:
            try:
                kind, job_id, payload = self.outbox.get(timeout=0.5)
            except queue.Empty:
                if not self.process.is_alive():
                    code = self.process.exitcode
                    self.close()
                    raise TrainingWorkerError(
                        N_("the training worker ended unexpectedly (exit code {code})"), code=code
                    ) from None
                continue
            if kind == "ready":
                self._ready = True
                events.running()
            elif job_id != job.id:
                continue  # a late report of an earlier job
            elif kind == "batch":
                events.batch(payload)
            elif kind == "epoch":
                events.epoch(*payload)
            elif kind == "done":
                return Finished(*payload)
            elif kind == "error":
                raise_named(*payload)


class LocalExecutor:
    """`workers` worker processes on this machine."""

    kind = "local"

    def __init__(self, workers: int, jobs_per_worker: int) -> None:
        self.lanes = workers
        self.jobs_per_worker = max(1, int(jobs_per_worker))
        self.workers_started = 0
        self._ctx = mp.get_context("spawn")
        self._tmp = Path(tempfile.mkdtemp(prefix="explorer-jobs-"))  # private (0700): the data sets in use
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}  # fingerprint -> jobs using its files
        self._idle: list[str] = []  # fingerprints no job uses now, oldest first (their files kept)
        self.datasets_written = 0

    def lane(self, number: int) -> LocalLane:
        return LocalLane(self, number)

    def data_folder(self, ds: Dataset) -> Path:
        return self._tmp / ds.fingerprint

    def acquire(self, ds: Dataset) -> None:
        with self._lock:
            self._users[ds.fingerprint] = self._users.get(ds.fingerprint, 0) + 1
            if ds.fingerprint in self._idle:
                self._idle.remove(ds.fingerprint)
            if self.data_folder(ds).is_dir():
                return
            # Written under the lock: a second job of the same set waits for the one write.
            write_dataset(ds, self.data_folder(ds))
            self.datasets_written += 1

    def release(self, ds: Dataset) -> None:
        """The last job of a set ended: its files stay for the next press (a lesson trains the same
        set again and again) among the KEEP_IDLE_SETS most recent idle sets; older ones are removed."""
        with self._lock:
            left = self._users.get(ds.fingerprint, 0) - 1
            if left > 0:
                self._users[ds.fingerprint] = left
                return
            self._users.pop(ds.fingerprint, None)
            self._idle.append(ds.fingerprint)
            while len(self._idle) > KEEP_IDLE_SETS:
                shutil.rmtree(self._tmp / self._idle.pop(0), ignore_errors=True)  # a worker's mapping stays valid

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
