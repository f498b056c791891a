"""The job layer of a served app: trainings queued, shared by run id, watched and stopped.

Streamlit sessions are threads of one process and Keras' global state (layer-name counters,
`clear_session()`) is shared between them: two trainings in one process break each other, so
trainings run elsewhere, through an executor (lib.runs.executor): the embedded pool of local
worker processes (lib.runs.local_pool, the default) or a Ray cluster (lib.runs.ray_pool,
`EXPLORER_RAY_ADDRESS`). A `TrainingPool` runs at most `executor.lanes` trainings at once.

What is the app's own stays here, the same for both executors: a request whose run id (data
set fingerprint + every setting) is already queued or training attaches to that job instead of
training again: every attached session gets a `JobHandle` that shows the same live progress
(queue place, per batch and per epoch) and, at the end, the same stored run. `detach()` leaves
the job; when the last handle leaves, a queued job is cancelled and a running one stops after
its next batch (kept in the store as stopped, as an in-process training is).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib import errors
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, SettingsError, one_line, portable_line
from lib.i18n import N_, Deferred, _
from lib.runs.config import RunConfig
from lib.runs.executor import Executor, JobSpec, Lane, TrainingWorkerError, describe_where
from lib.runs.train_or_load import Outcome
from lib.train.settings import TrainSettings

__all__ = ["TrainingPool", "JobHandle", "Progress", "TrainingWorkerError", "default_workers", "make_executor"]

log = logging.getLogger("explorer.train")

PER_TRAINING_MB = 1500  # what one worker with TensorFlow and a small model may take
JOBS_PER_WORKER = 20  # a worker is replaced after this many trainings (Keras leaks a little per model)

QUEUED, STARTING, RUNNING, DONE, CANCELLED = "queued", "starting", "running", "done", "cancelled"


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


def workers_from_env() -> int | None:
    """$EXPLORER_TRAIN_WORKERS (None when unset)."""
    text = os.environ.get("EXPLORER_TRAIN_WORKERS", "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise SettingsError(N_("EXPLORER_TRAIN_WORKERS must be a whole number of at least 1, not '{text}'"), text=text)
    return n


def default_workers(cores: int | None = None, available_mb: float | None = None) -> int:
    """$EXPLORER_TRAIN_WORKERS, else max(1, min(cores, available memory / PER_TRAINING_MB))."""
    n = workers_from_env()
    if n is not None:
        return n
    cores = _cores() if cores is None else cores
    available_mb = _available_mb() if available_mb is None else available_mb
    return max(1, min(cores, int(available_mb // PER_TRAINING_MB)))


def make_executor(
    workers: int | None = None, jobs_per_worker: int = JOBS_PER_WORKER, ray_address: str | None = None
) -> Executor:
    """Ray when an address is given (or $EXPLORER_RAY_ADDRESS is set), else the local worker processes."""
    address = ray_address if ray_address is not None else os.environ.get("EXPLORER_RAY_ADDRESS", "").strip()
    if address:
        from lib.runs.ray_pool import RayExecutor

        return RayExecutor(address, workers=workers, jobs_per_worker=jobs_per_worker)
    from lib.runs.local_pool import LocalExecutor

    return LocalExecutor(default_workers() if workers is None else max(1, int(workers)), jobs_per_worker)


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
    executor: str = "local"  # local | ray
    where: str = ""  # where it trains (a Ray node), when known

    def describe(self, workers: int) -> str:
        """One line for the session: its place in the queue, or what its training is doing."""
        words = {state: _(text) for state, text in describe_where(self.executor).items()}
        if self.state == QUEUED:
            return (
                _("{waiting}: 1 training ahead of yours (this server trains {workers} at once). Stop leaves the queue.")
                if self.ahead == 1
                else _(
                    "{waiting}: {n} trainings ahead of yours (this server trains {workers} at once). "
                    "Stop leaves the queue."
                )
            ).format(waiting=words["queued"], n=self.ahead, workers=workers)
        if self.state == STARTING:
            return words["starting"]
        if self.state == RUNNING:
            others = self.watchers - 1
            doing = (
                _("{doing} (node {node})").format(doing=words["running"], node=self.where)
                if self.where
                else words["running"]
            )
            if others == 1:
                return _("{doing} · 1 other session watching it too.").format(doing=doing)
            if others > 1:
                return _("{doing} · {n} other sessions watching it too.").format(doing=doing, n=others)
            return f"{doing}."  # the same full stop in both languages
        return _("Training ended.")


@dataclass
class _Job:
    id: int
    key: tuple[str, str]  # (store root, run id)
    spec: JobSpec
    epochs: int
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
    where: str = ""
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
            raise TrainingWorkerError(Deferred(N_("the training was cancelled before it started")))
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


class _Events:
    """A lane's reports about one job, written into the job under the pool's lock."""

    def __init__(self, pool: TrainingPool, job: _Job) -> None:
        self.pool, self.job = pool, job

    def running(self, where: str = "") -> None:
        self.pool._update(self.job, state=RUNNING, **({"where": where} if where else {}))

    def batch(self, progress: tuple[int, int, int]) -> None:
        self.pool._update(self.job, state=RUNNING, batch=tuple(progress))

    def epoch(self, row: dict, confusion: np.ndarray) -> None:
        with self.pool._lock:
            self.job.state = RUNNING
            self.job.rows.append(row)
            self.job.confusion = confusion


class _Slot:
    """A thread of this process that feeds one executor lane its jobs."""

    def __init__(self, pool: TrainingPool, lane: Lane) -> None:
        self.pool, self.lane, self.number = pool, lane, lane.number
        self.thread = threading.Thread(target=self._loop, name=f"explorer-train-slot-{lane.number}", daemon=True)

    @property
    def process(self) -> Any:  # the local lane's worker process (tests look at its pid)
        return getattr(self.lane, "process", None)

    def _loop(self) -> None:
        try:
            if self.pool.warm:
                self.lane.start()
            while True:
                job = self.pool._next_job(self)
                if job is None:
                    return
                try:
                    finished = self.lane.run(job.spec, _Events(self.pool, job))
                except ExplorerError as exc:
                    self.pool._finish(job, error=(type(exc).__name__, portable_line(exc)))
                except Exception as exc:  # never lose a job silently: end it with the reason
                    self.pool._finish(job, error=("TrainingWorkerError", one_line(exc, with_type=True)))
                    self.lane.close()
                else:
                    self.pool._finish(job, outcome=finished.outcome, status=finished.status, message=finished.message)
        finally:
            self.lane.close()


class TrainingPool:
    """At most `executor.lanes` trainings at once; identical requests (same store, same run id)
    share one job. Thread-safe: every session thread may call it."""

    def __init__(
        self,
        workers: int | None = None,
        jobs_per_worker: int = JOBS_PER_WORKER,
        warm: bool = True,
        executor: Executor | None = None,
    ) -> None:
        """`warm`: start the workers now (they import TensorFlow in the background).
        `executor`: where trainings run (default: local worker processes, or Ray when
        $EXPLORER_RAY_ADDRESS is set; see make_executor)."""
        self.executor = executor if executor is not None else make_executor(workers, jobs_per_worker)
        self.workers = self.executor.lanes
        self.warm = warm
        self._lock = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._active: dict[tuple[str, str], _Job] = {}  # queued or training, by (root, run id)
        self._ids = 0
        self._closed = False
        self.trainings = 0  # jobs that trained (not only loaded from the store)
        self.jobs = 0  # jobs started (attachments not counted)
        self._slots = [_Slot(self, self.executor.lane(i + 1)) for i in range(self.workers)]
        for slot in self._slots:
            slot.thread.start()

    @property
    def workers_started(self) -> int:
        return self.executor.workers_started

    # -- what sessions call --
    def submit(
        self,
        ds: Dataset,
        settings: TrainSettings,
        dataset_label: str,
        root: str | Path,
        run_name: str = "",
        source: str = "",
    ) -> JobHandle:
        """A handle on the job training `settings` on `ds` into the store at `root`: a new job, or
        the one already queued or training with the same run id (`run_name`: the first request's;
        `source`: where the data loads from again, lib.data.sources.DatasetSpec.source)."""
        settings.check()
        run_id = RunConfig.for_training(ds, settings, dataset_label).run_id
        key = (str(Path(root).resolve()), run_id)
        with self._lock:
            if self._closed:
                raise TrainingWorkerError(Deferred(N_("the training pool is shut down")))
            job = self._active.get(key)
            if job is not None and not job.stop_requested:  # a stopping job is not joined: a new one starts
                job.handles += 1
                return JobHandle(self, job)
        self.executor.acquire(ds)  # outside the lock: the first send of a large data set takes a moment
        with self._lock:
            job = self._active.get(key)
            if job is not None and not job.stop_requested:  # someone submitted the same run meanwhile
                job.handles += 1
                joined = job
            else:
                joined = None
                self._ids += 1
                devices = os.environ.get("EXPLORER_DEVICES", "one")  # `make run DEVICES=all`: every GPU, mirrored
                spec = JobSpec(self._ids, ds, settings, dataset_label, str(root), run_name, devices, source)
                job = _Job(self._ids, key, spec, settings.epochs, handles=1)
                self._active[key] = job
                self._pending.append(job)
                self.jobs += 1
                self._lock.notify_all()
        if joined is not None:
            self.executor.release(ds)
        return JobHandle(self, job)

    def status(self) -> tuple[int, int]:
        """(trainings running, trainings waiting)."""
        with self._lock:
            return len(self._active) - len(self._pending), len(self._pending)

    def close(self) -> None:
        """Cancel waiting jobs, stop running ones, end the workers."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
            self._pending.clear()
            running = [job for job in self._active.values() if job not in pending]
            for job in running:
                job.stop_requested = True
                job.spec.stop.set()
            self._lock.notify_all()
        for job in running:
            if job.slot is not None:
                job.slot.lane.stop(job.id)
        for job in pending:
            self._finish(job, cancelled=True)
        for slot in self._slots:
            slot.thread.join(60)
        self.executor.close()

    # -- internals --
    def _next_job(self, slot: _Slot) -> _Job | None:
        with self._lock:
            while not self._pending and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            job = self._pending.popleft()
            # "Starting" only while a worker really starts; a warm one takes the job at once.
            job.state, job.slot = (RUNNING if slot.lane.ready else STARTING), slot
            job.worker_pid = slot.lane.worker_pid
            return job

    def _progress(self, job: _Job) -> Progress:
        with self._lock:
            ahead = 0
            if job.state == QUEUED:
                running = len(self._active) - len(self._pending)
                ahead = running + next((i for i, j in enumerate(self._pending) if j is job), 0)
            return Progress(
                job.state,
                ahead,
                list(job.rows),
                job.confusion,
                job.batch,
                job.epochs,
                max(job.handles, 0),
                self.executor.kind,
                job.where,
            )

    def _update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            if job.slot is not None:
                job.worker_pid = job.slot.lane.worker_pid

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
                job.spec.stop.set()
            slot = job.slot
        if cancel:
            self._finish(job, cancelled=True)
        elif slot is not None:
            slot.lane.stop(job.id)
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
            if job.finished.is_set():
                return
            if self._active.get(job.key) is job:
                del self._active[job.key]
            job.state = CANCELLED if cancelled else DONE
            job.outcome, job.status, job.error = outcome, status, error
            job.trained = outcome is not None and not outcome.loaded
            if job.trained:
                self.trainings += 1
        self.executor.release(job.spec.ds)
        if job.trained:
            assert outcome is not None
            number = job.slot.number if job.slot else "?"
            where = f" on node {job.where}" if job.where else ""
            log.info(
                "trained run %s in worker %s%s: %s (%s)", outcome.run_id or job.key[1], number, where, status, message
            )
        elif error is not None:
            log.info("run %s did not train: %s", job.key[1], error[1])
        job.finished.set()
