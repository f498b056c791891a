"""Trainings of a served app, each in a worker process, at most N at once, shared by run id.

Streamlit sessions are threads of one process and Keras' global state (layer-name counters,
`clear_session()`) is shared between them: two trainings in one process break each other.
Here each training runs in a worker process started with "spawn" (forking a process that has
TensorFlow loaded is unsafe). A `TrainingPool` keeps at most `workers` of them, reuses each
for `jobs_per_worker` trainings (TensorFlow stays imported) and then replaces it, which bounds
the memory a long lesson leaves behind.

A request whose run id (dataset fingerprint + every setting) is already queued or training
attaches to that job instead of training again: every attached session gets a `JobHandle`
that shows the same live progress and, at the end, the same stored run. `detach()` leaves the
job; when the last handle leaves, a queued job is cancelled and a running one stops after its
next batch (kept in the store as stopped, as an in-process training is).

The dataset travels to the worker as a temporary .npz (`np.savez`, read back without pickle)
in a private folder that is removed when the job ends. Progress comes back over a queue:
per batch (a few times a second at most) and per epoch (the history row and the epoch's
validation confusion matrix, the exact metrics of `lib.train.training`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import spawn
from pathlib import Path
from typing import Any

import numpy as np

from lib import errors
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, SettingsError, one_line
from lib.runs.config import RunConfig
from lib.runs.train_or_load import Outcome
from lib.train.settings import TrainSettings

log = logging.getLogger("explorer.train")

PER_TRAINING_MB = 1500  # what one worker with TensorFlow and a small model may take
JOBS_PER_WORKER = 20  # a worker is replaced after this many trainings (Keras leaks a little per model)
ORPHAN_CHECK_S = 1.0  # an idle worker checks this often whether the server is still there
BATCH_EVERY_S = 0.1  # the worker sends batch progress at most this often (and after each epoch's last batch)

WORKER_NAME = "explorer-train-worker-"
QUEUED, STARTING, RUNNING, DONE, CANCELLED = "queued", "starting", "running", "done", "cancelled"


class TrainingWorkerError(ExplorerError):
    """A training worker ended without a result (killed, out of memory) or failed unexpectedly."""


def _available_mb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float(PER_TRAINING_MB)  # unknown: room for one


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(cores: int | None = None, available_mb: float | None = None) -> int:
    """$EXPLORER_TRAIN_WORKERS, else max(1, min(cores, available memory / PER_TRAINING_MB))."""
    text = os.environ.get("EXPLORER_TRAIN_WORKERS", "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise SettingsError(f"EXPLORER_TRAIN_WORKERS must be a whole number of at least 1, not '{text}'")
        return n
    cores = _cores() if cores is None else cores
    available_mb = _available_mb() if available_mb is None else available_mb
    return max(1, min(cores, int(available_mb // PER_TRAINING_MB)))


# --- The worker process ----------------------------------------------------------------------------


def _preparation_data(name: str, _original: Any = spawn.get_preparation_data) -> dict[str, Any]:
    """multiprocessing's spawn re-runs the parent's __main__ in the child. In a Streamlit server
    __main__ is, while any session's script runs, that page script: a worker would run the page.
    Our workers need nothing from __main__ (their target is this module's `_worker_main`)."""
    data = _original(name)
    if name.startswith(WORKER_NAME):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data


def _write_dataset(ds: Dataset, folder: Path) -> Path:
    path = folder / f"{ds.fingerprint}-{time.monotonic_ns()}.npz"
    np.savez(
        path,
        x_train=ds.x_train,
        y_train=ds.y_train,
        x_test=ds.x_test,
        y_test=ds.y_test,
        class_names=np.array(ds.class_names, dtype=str),
    )
    return path


def _read_dataset(path: str, name: str, notes: tuple[str, ...], fingerprint: str) -> Dataset:
    with np.load(path, allow_pickle=False) as f:
        return Dataset(
            name,
            f["x_train"],
            f["y_train"],
            f["x_test"],
            f["y_test"],
            tuple(str(n) for n in f["class_names"]),
            notes,
            fingerprint,
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
    outbox.put(("ready", None))
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
            outbox.put(("epoch", job_id, (row, cm, epoch, total)))

        try:
            t0 = time.perf_counter()
            ds = _read_dataset(job["data"], job["name"], job["notes"], job["fingerprint"])
            outcome = train_or_load(
                ds,
                job["settings"],
                job["label"],
                RunStore(job["root"]),
                name=job.get("run_name", ""),
                on_epoch=on_epoch,
                on_batch=on_batch,
                should_stop=lambda: stop.is_set() or orphaned(),
                devices=os.environ.get("EXPLORER_DEVICES", "one"),  # `make run DEVICES=all`: mirrored on every GPU
            )
            if outcome.result is not None:
                r = outcome.result
                r.model = None  # stays here: the stored run has it (or, unsaved, the page needs no model)
                r.interrupt = None
                status, message = r.status, f"{r.message}; {time.perf_counter() - t0:.1f} s in the worker"
                if outcome.run_id is not None:  # stored: the session loads the run from the store
                    outcome.result = None
            else:
                status, message = "complete", "loaded from the store"
            outbox.put(("done", job_id, (outcome, status, message)))
        except ExplorerError as exc:
            outbox.put(("error", job_id, (type(exc).__name__, one_line(exc))))
        except Exception as exc:
            outbox.put(("error", job_id, ("TrainingWorkerError", one_line(exc, with_type=True))))


# --- Jobs and the handles sessions hold ------------------------------------------------------------


@dataclass
class Progress:
    """What a session shows while its job is queued or training."""

    state: str  # queued | starting | running | done | cancelled
    ahead: int  # queued: trainings that start before this one (running ones included)
    rows: list[dict]  # one history row per finished epoch
    confusion: np.ndarray | None  # the last epoch's validation confusion matrix
    batch: tuple[int, int, int] | None  # (epoch 0-based, batch 1-based, steps per epoch)
    epochs: int
    watchers: int  # sessions attached

    def describe(self, workers: int) -> str:
        """One line for the session: its place in the queue, or what its training is doing."""
        if self.state == QUEUED:
            ahead = f"{self.ahead} training{'s' if self.ahead != 1 else ''} ahead of yours"
            return (
                f"Waiting for a free training worker: {ahead} (this server trains {workers} at once). "
                "Stop leaves the queue."
            )
        if self.state == STARTING:
            return "Starting a training worker (the first training of a worker imports TensorFlow)…"
        if self.state == RUNNING:
            others = self.watchers - 1
            shared = f" · {others} other session{'s' if others != 1 else ''} watching it too" if others > 0 else ""
            return f"Training in a worker process{shared}."
        return "Training ended."


@dataclass
class _Job:
    id: int
    key: tuple[str, str]  # (store root, run id)
    message: dict[str, Any]
    epochs: int
    data_path: Path
    state: str = QUEUED
    handles: int = 0
    stop_requested: bool = False
    rows: list[dict] = field(default_factory=list)
    confusion: np.ndarray | None = None
    batch: tuple[int, int, int] | None = None
    outcome: Outcome | None = None
    status: str = ""
    error: tuple[str, str] | None = None
    trained: bool = False  # a training ran (not only a load from the store)
    worker_pid: int | None = None
    slot: _Slot | None = None
    finished: threading.Event = field(default_factory=threading.Event)


class JobHandle:
    """One session's view of a job; several sessions may hold handles on the same job."""

    def __init__(self, pool: TrainingPool, job: _Job) -> None:
        self._pool, self._job, self._attached = pool, job, True

    @property
    def run_id(self) -> str:
        return self._job.key[1]

    @property
    def attached(self) -> bool:
        return self._attached

    def progress(self) -> Progress:
        return self._pool._progress(self._job)

    def wait(self, timeout: float | None = None) -> bool:
        """True when the job has ended (done or cancelled) within `timeout` seconds."""
        return self._job.finished.wait(timeout)

    def detach(self) -> bool:
        """Leave the job (idempotent). True when this was the last session: a queued job is then
        cancelled, a running one stops within one batch and is stored as stopped."""
        with self._pool._lock:  # two script runs of one session may both call it
            if not self._attached:
                return False
            self._attached = False
        return self._pool._detach(self._job)

    def outcome(self) -> Outcome:
        """The ended job's outcome. Raises the ExplorerError the training raised (e.g. settings the
        data cannot support), TrainingWorkerError when the worker died, and nothing else."""
        job = self._job
        if job.state == CANCELLED:
            raise TrainingWorkerError("the training was cancelled before it started")
        if job.state != DONE:
            raise RuntimeError("the job has not ended yet: wait() first")
        if job.error is not None:
            name, text = job.error
            cls = getattr(errors, name, None)
            if not (isinstance(cls, type) and issubclass(cls, ExplorerError)):
                cls = TrainingWorkerError
            raise cls(text)
        assert job.outcome is not None
        return job.outcome


# --- The pool --------------------------------------------------------------------------------------


class _Slot:
    """One worker process and the thread in this process that feeds it jobs and reads its reports."""

    def __init__(self, pool: TrainingPool, number: int) -> None:
        self.pool, self.number = pool, number
        self.process: Any = None
        self.jobs_done = 0
        self.stop = pool._ctx.Event()
        self.thread = threading.Thread(target=self._loop, name=f"explorer-train-slot-{number}", daemon=True)

    def _start_process(self) -> None:
        ctx = self.pool._ctx
        self.inbox, self.outbox = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(
            target=_worker_main,
            args=(self.inbox, self.outbox, self.stop),
            name=f"{WORKER_NAME}{self.number}",
            daemon=True,
        )
        self.process.start()
        self.jobs_done = 0
        self.pool.workers_started += 1

    def _end_process(self) -> None:
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
        self.process = None

    def _loop(self) -> None:
        try:
            if self.pool.warm:
                self._start_process()  # TensorFlow's import happens now, not on the first Train press
            while True:
                job = self.pool._next_job(self)
                if job is None:
                    return
                try:
                    self._run(job)
                except Exception as exc:  # never lose a job silently: end it with the reason
                    self.pool._finish(job, error=("TrainingWorkerError", one_line(exc, with_type=True)))
                    self._end_process()
        finally:
            self._end_process()

    def _run(self, job: _Job) -> None:
        if self.process is not None and (not self.process.is_alive() or self.jobs_done >= self.pool.jobs_per_worker):
            self._end_process()  # used up (or dead): a fresh process bounds the memory a lesson leaves
        if self.process is None:
            self._start_process()
        job.worker_pid = self.process.pid
        self.stop.clear()
        if job.stop_requested:
            self.stop.set()
        self.inbox.put(job.message)
        self.jobs_done += 1
        while True:
            try:
                kind, job_id, payload = self._get()
            except queue.Empty:
                if not self.process.is_alive():
                    code = self.process.exitcode
                    self._end_process()
                    self.pool._finish(
                        job,
                        error=("TrainingWorkerError", f"the training worker ended unexpectedly (exit code {code})"),
                    )
                    return
                continue
            if kind == "ready":
                self.pool._update(job, state=RUNNING)
            elif job_id != job.id:
                continue  # a late report of an earlier job
            elif kind == "batch":
                self.pool._update(job, state=RUNNING, batch=payload)
            elif kind == "epoch":
                row, cm, _, _ = payload
                self.pool._epoch(job, row, cm)
            elif kind == "done":
                outcome, status, message = payload
                self.pool._finish(job, outcome=outcome, status=status, message=message)
                return
            elif kind == "error":
                self.pool._finish(job, error=tuple(payload))
                return

    def _get(self) -> tuple[str, int | None, Any]:
        msg = self.outbox.get(timeout=0.5)
        if msg[0] == "ready":
            return "ready", None, None
        return msg


class TrainingPool:
    """At most `workers` trainings at once, each in its own worker process; identical requests
    (same store, same run id) share one job. Thread-safe: every session thread may call it."""

    def __init__(self, workers: int | None = None, jobs_per_worker: int = JOBS_PER_WORKER, warm: bool = True) -> None:
        """`warm`: start the worker processes now (they import TensorFlow in the background)."""
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.warm = warm
        self.jobs_per_worker = max(1, int(jobs_per_worker))
        self._ctx = mp.get_context("spawn")
        self._lock = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._active: dict[tuple[str, str], _Job] = {}  # queued or training, by (root, run id)
        self._ids = 0
        self._closed = False
        self._tmp = Path(tempfile.mkdtemp(prefix="explorer-jobs-"))  # private (0700): the datasets in transit
        self.trainings = 0  # jobs that trained (not only loaded from the store)
        self.jobs = 0  # jobs started (attachments not counted)
        self.workers_started = 0
        self._slots = [_Slot(self, i + 1) for i in range(self.workers)]
        for slot in self._slots:
            slot.thread.start()

    # -- what sessions call --
    def submit(
        self, ds: Dataset, settings: TrainSettings, dataset_label: str, root: str | Path, run_name: str = ""
    ) -> JobHandle:
        """A handle on the job training `settings` on `ds` into the store at `root`: a new job, or
        the one already queued or training with the same run id (`run_name`: the first request's)."""
        settings.check()
        run_id = RunConfig.for_training(ds, settings, dataset_label).run_id
        key = (str(Path(root).resolve()), run_id)
        with self._lock:
            if self._closed:
                raise TrainingWorkerError("the training pool is shut down")
            job = self._active.get(key)
            if job is not None and not job.stop_requested:  # a stopping job is not joined: a new one starts
                job.handles += 1
                return JobHandle(self, job)
        data = _write_dataset(ds, self._tmp)  # outside the lock: large datasets take a moment
        with self._lock:
            job = self._active.get(key)
            if job is not None and not job.stop_requested:  # someone submitted the same run meanwhile
                data.unlink(missing_ok=True)
                job.handles += 1
                return JobHandle(self, job)
            self._ids += 1
            message = {
                "id": self._ids,
                "data": str(data),
                "name": ds.name,
                "notes": tuple(ds.notes),
                "fingerprint": ds.fingerprint,
                "settings": settings,
                "label": dataset_label,
                "root": str(root),
                "run_name": run_name,
            }
            job = _Job(self._ids, key, message, settings.epochs, data, handles=1)
            self._active[key] = job
            self._pending.append(job)
            self.jobs += 1
            self._lock.notify_all()
        return JobHandle(self, job)

    def status(self) -> tuple[int, int]:
        """(trainings running, trainings waiting)."""
        with self._lock:
            return len(self._active) - len(self._pending), len(self._pending)

    def close(self) -> None:
        """Cancel waiting jobs, stop running ones, end the worker processes."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
            self._pending.clear()
            for job in self._active.values():
                job.stop_requested = True
                if job.slot is not None:
                    job.slot.stop.set()
            self._lock.notify_all()
        for job in pending:
            self._finish(job, cancelled=True)
        for slot in self._slots:
            slot.thread.join(60)
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- internals --
    def _next_job(self, slot: _Slot) -> _Job | None:
        with self._lock:
            while not self._pending and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            job = self._pending.popleft()
            job.state, job.slot = STARTING, slot
            return job

    def _progress(self, job: _Job) -> Progress:
        with self._lock:
            ahead = 0
            if job.state == QUEUED:
                running = len(self._active) - len(self._pending)
                ahead = running + next((i for i, j in enumerate(self._pending) if j is job), 0)
            return Progress(job.state, ahead, list(job.rows), job.confusion, job.batch, job.epochs, max(job.handles, 0))

    def _update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)

    def _epoch(self, job: _Job, row: dict, cm: np.ndarray) -> None:
        with self._lock:
            job.rows.append(row)
            job.confusion = cm

    def _detach(self, job: _Job) -> bool:
        cancel = False
        with self._lock:
            job.handles -= 1
            if job.handles > 0 or job.state in (DONE, CANCELLED):
                return False
            if job.state == QUEUED:
                self._pending.remove(job)
                cancel = True
            else:  # starting or running: stop within one batch, keep the run as stopped
                job.stop_requested = True
                if job.slot is not None:
                    job.slot.stop.set()
        if cancel:
            self._finish(job, cancelled=True)
        return True

    def _finish(
        self,
        job: _Job,
        *,
        outcome: Outcome | None = None,
        status: str = "",
        message: str = "",
        error: tuple[str, str] | None = None,
        cancelled: bool = False,
    ) -> None:
        with self._lock:
            if self._active.get(job.key) is job:
                del self._active[job.key]
            job.state = CANCELLED if cancelled else DONE
            job.outcome, job.status, job.error = outcome, status, error
            job.trained = outcome is not None and not outcome.loaded
            if job.trained:
                self.trainings += 1
        job.data_path.unlink(missing_ok=True)
        if job.trained:
            assert outcome is not None
            number = job.slot.number if job.slot else "?"
            log.info("trained run %s in worker %s: %s (%s)", outcome.run_id or job.key[1], number, status, message)
        elif error is not None:
            log.info("run %s did not train: %s", job.key[1], error[1])
        job.finished.set()
