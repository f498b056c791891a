"""The Ray executor: trainings as Ray tasks on a cluster (`EXPLORER_RAY_ADDRESS`, `make run RAY=...`).

What Ray does for us instead of hand-written code: scheduling on the nodes that have room
(`num_cpus`, `num_gpus` per training), worker processes that keep TensorFlow imported and are
replaced after `max_calls` trainings, arrays through its object store, progress streamed from
the running task (a streaming generator), and cancellation as the backstop of Stop.

- The data set goes into the object store once per fingerprint (`ray.put`), shared by every
  job that uses it and let go when the last one ends; no node reads a path of the server.
- A task trains into a temporary run store on its node, then yields the finished run folder
  (model, arrays, TensorBoard logs) as one tar: the server stores it atomically
  (`RunStore.adopt`), so no shared file system is needed. The run's notes name the node.
- Stop stays cooperative within one batch: a small actor (`StopBoard`) holds the stop requests;
  each task waits on it in a thread and sets its should-stop flag. `ray.cancel` ends a task that
  has not stopped `STOP_BACKSTOP_S` after its Stop.
- A node that dies mid-training ends that job with a one-line message (no retry: a training
  is minutes of a class's time, and the session can press Train again); the other jobs and the
  server go on, and nothing of it is stored.
- GPUs: a task asks for `EXPLORER_GPUS_PER_TRAINING` (fractions share one; Ray sets its
  CUDA_VISIBLE_DEVICES) and gets a fresh worker process (TensorFlow keeps a GPU it has seen).
  A request the cluster cannot meet ends at once with one line (Ray would let it wait forever);
  the run's notes say what Ray gave the task and whether TensorFlow saw a GPU.
- A wrong address: the head's port is asked first (ray.init alone retries for minutes).
- Ray's token authentication stays as the cluster has it (on by default in Ray 2.60): the
  server needs the cluster's token (`RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib.data.dataset import Dataset
from lib.errors import ExplorerError, SettingsError, StoreError, one_line, os_reason, portable_line
from lib.i18n import N_, Deferred
from lib.runs.config import RunConfig, baseline_of
from lib.runs.executor import BATCH_EVERY_S, Finished, JobEvents, JobSpec, TrainingWorkerError
from lib.runs.local_pool import raise_named
from lib.runs.store import TB_PREFIX, RunStore
from lib.runs.train_or_load import Outcome

STOP_BACKSTOP_S = 30.0  # a task still running this long after its Stop is cancelled by Ray
LOOPBACK = ("local", "localhost", "127.0.0.1")
LIB_DIR = Path(__file__).resolve().parents[1]  # the `lib` package, shipped to the nodes (py_modules)
PROBE_TIMEOUT_S = 5.0  # how long the head's port may take to answer before we say it is not there


def _float_env(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise SettingsError(
            N_("{name} must be a number of at least 0 (fractions allowed), not '{text}'"), name=name, text=text
        )
    return value


def is_loopback(address: str) -> bool:
    return address == "local" or address.rsplit(":", 1)[0] in LOOPBACK


def probe(address: str) -> None:
    """Ask the head's port before ray.init: for an address where no head answers, ray.init
    retries for minutes and writes its C++ warnings to the terminal."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit():
        raise SettingsError(
            N_("the Ray address must be host:port of the cluster's head or 'local', not '{address}'"), address=address
        )
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise TrainingWorkerError(
            N_("cannot reach the Ray cluster at {address}: no Ray head answers there ({reason})"),
            address=address,
            reason=os_reason(exc),
        ) from None


def connect(address: str) -> Any:
    """ray.init against `address` ("local": a Ray of this machine only; "host:port": a cluster).
    On this machine only (local, 127.0.0.1), every Ray process of ours stays on the loopback
    address: Ray would otherwise replace 127.0.0.1 by the machine's network address."""
    if is_loopback(address):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read by Ray at import
    import ray

    if ray.is_initialized():
        return ray
    if address != "local":
        probe(address)
    runtime_env = {
        "py_modules": [str(LIB_DIR)],  # the nodes run this checkout's code, not whatever they have
        "excludes": ["__pycache__"],
        # On a GPU, TensorFlow would give each worker all of the GPU's memory: grow it as needed.
        "env_vars": {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_CPP_MIN_LOG_LEVEL": "2"},
    }
    options: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False, "configure_logging": False}
    if is_loopback(address):
        options["_node_ip_address"] = "127.0.0.1"
    try:
        if address == "local":
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # ConnectionError, a refused token, a version mismatch: one line
        reason = one_line(exc, with_type=True)
        raise TrainingWorkerError(
            N_("cannot reach the Ray cluster at {address}: {reason}"), address=address, reason=reason
        ) from None
    return ray


def _node_name(ray: Any) -> str:
    ctx = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()} {ctx.get_node_id()[:8]}"


def _given_note(ray: Any) -> str:
    """What Ray reserved for this task, and what TensorFlow made of it (for the run's notes)."""
    import tensorflow as tf

    given = ray.get_runtime_context().get_assigned_resources()
    cpus, gpus = given.get("CPU", 0.0), given.get("GPU", 0.0)
    if not gpus:
        return f"Ray gave this training {cpus:g} CPU and no GPU."
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    seen = len(tf.config.list_physical_devices("GPU"))
    if not seen:
        return (
            f"Ray gave this training {cpus:g} CPU and {gpus:g} GPU (CUDA_VISIBLE_DEVICES={visible}), "
            "but TensorFlow sees no GPU there, so it trained on the CPU."
        )
    return (
        f"Ray gave this training {cpus:g} CPU and {gpus:g} GPU (CUDA_VISIBLE_DEVICES={visible}); "
        f"TensorFlow sees {seen} GPU and grows its memory as needed."
    )


def check_gpus(wanted: float, cluster_has: float, address: str) -> None:
    """A task asking for more GPU than the cluster has would wait for one forever: say so instead."""
    if wanted and cluster_has < wanted:
        raise SettingsError(
            N_(
                "each training asks for {wanted} GPU (EXPLORER_GPUS_PER_TRAINING), but the Ray cluster at "
                "{address} has {has} GPU now: add a node with a GPU, or set EXPLORER_GPUS_PER_TRAINING=0"
            ),
            wanted=f"{wanted:g}",
            address=address,
            has=f"{cluster_has:g}",
        )


# --- What runs on a node ---------------------------------------------------------------------------


def _stop_watch(board: Any, key: str, stop: threading.Event) -> None:
    import ray

    try:
        if ray.get(board.wait.remote(key)):
            stop.set()
    except Exception:  # the board is gone (the server left): stop, nobody can see this training
        stop.set()


def train_on_node(job: dict, ds: Dataset, backbone: bytes | None, board: Any) -> Iterator[tuple]:
    """The Ray task (a streaming generator): ("running", node), ("batch", ...), ("epoch", row, cm),
    then ("done", packed run, result without its model, status, message) or ("error", class, text)."""
    import ray

    from lib.tf_import import import_keras
    from lib.train.training import train

    import_keras()
    node = _node_name(ray)
    given = _given_note(ray)
    yield ("running", node)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=_stop_watch, args=(board, job["key"], stop), daemon=True).start()
    last = [0.0]

    def on_batch(epoch: int, batch: int, steps: int) -> None:
        now = time.monotonic()
        if now - last[0] >= BATCH_EVERY_S or batch == steps:
            last[0] = now
            events.put(("batch", (epoch, batch, steps)))

    def on_epoch(row: dict, cm: Any, epoch: int, total: int) -> None:
        events.put(("epoch", row, cm))

    def work() -> None:
        try:
            t0 = time.perf_counter()
            settings = job["settings"]
            with tempfile.TemporaryDirectory(prefix="explorer-ray-run-") as folder:
                store = RunStore(folder)
                if backbone is not None:  # a backbone from one of the server's runs travels with the job
                    store.adopt(settings.backbone.name, backbone)
                cache = Path(tempfile.gettempdir()) / "explorer-ray-cache" / "features"  # kept on the node
                with tempfile.TemporaryDirectory(prefix=f"{TB_PREFIX}{os.getpid()}-") as tb:
                    result = train(
                        ds,
                        settings,
                        on_epoch=on_epoch,
                        on_batch=on_batch,
                        should_stop=stop.is_set,
                        tb_dir=tb,
                        store=store,
                        cache_dir=cache,
                        devices=job["devices"],
                    )
                    result.notes += [f"trained on the Ray node {node}", given]
                    config = RunConfig.for_training(ds, settings, job["label"], job["source"])
                    run_id = store.save(
                        config, result, ds.class_names, baseline_of(ds), tb_source=Path(tb), name=job["run_name"]
                    )
                packed = store.pack(run_id)
            result.model, result.interrupt = None, None
            message = f"{result.message}; {time.perf_counter() - t0:.1f} s on the node"
            events.put(("done", packed, result, result.status, message))
        except ExplorerError as exc:
            events.put(("error", type(exc).__name__, portable_line(exc)))
        except BaseException as exc:
            events.put(("error", "TrainingWorkerError", one_line(exc, with_type=True)))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while True:
            message = events.get()
            yield message
            if message[0] in ("done", "error"):
                return
    finally:  # also when Ray cancels this task: the training thread stops within one batch
        stop.set()
        worker.join(60)


def _warm() -> bool:
    from lib.tf_import import import_keras

    import_keras()
    return True


def _stop_board_class(ray: Any) -> Any:
    @ray.remote(num_cpus=0)
    class StopBoard:
        """Stop requests by job key; a task's watcher waits on its key until Stop or the job's end."""

        def __init__(self) -> None:
            import asyncio

            self._asyncio = asyncio
            self._events: dict[str, Any] = {}
            self._stopped: set[str] = set()

        def _event(self, key: str) -> Any:
            return self._events.setdefault(key, self._asyncio.Event())

        async def wait(self, key: str) -> bool:
            await self._event(key).wait()
            return key in self._stopped

        async def stop(self, key: str) -> None:
            self._stopped.add(key)
            self._event(key).set()

        async def release(self, key: str) -> None:
            self._event(key).set()
            self._events.pop(key, None)
            self._stopped.discard(key)

    return StopBoard


_BOARDS: dict[str, Any] = {}  # Ray job id -> its stop board: one per connection (an actor is a process)
_BOARDS_LOCK = threading.Lock()


def _stop_board(ray: Any) -> Any:
    """The stop board of this process's Ray connection, shared by its executors (job keys carry
    each executor's session)."""
    job = ray.get_runtime_context().get_job_id()
    with _BOARDS_LOCK:
        if job not in _BOARDS:
            head = {"node:__internal_head__": 0.001}  # the board lives as long as the cluster
            try:
                _BOARDS[job] = _stop_board_class(ray).options(resources=head).remote()
            except Exception:  # a cluster without the head resource label: anywhere
                _BOARDS[job] = _stop_board_class(ray).remote()
        return _BOARDS[job]


# --- The server's side -----------------------------------------------------------------------------


class RayLane:
    """One training at a time on the cluster (Ray picks the node)."""

    worker_pid = None

    def __init__(self, executor: RayExecutor, number: int) -> None:
        self.executor, self.number = executor, number
        self._job: tuple[int, str] | None = None  # (job id, board key) of the running job
        self._stream: Any = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return False  # the task itself says when it runs (a warm Ray worker does at once)

    def start(self) -> None:
        ex = self.executor
        ray = ex.ray
        if ex.jobs_per_worker == 1:
            return  # a worker warmed now would end after warming
        # A Ray worker imports TensorFlow now, not on the first Train press (only a head start:
        # a real job reports any problem itself).
        with contextlib.suppress(Exception):
            ray.get(ray.remote(_warm).options(**ex.resources).remote(), timeout=300)

    def close(self) -> None:
        pass

    def stop(self, job_id: int) -> None:
        with self._lock:
            if self._job is None or self._job[0] != job_id:
                return
            key, stream = self._job[1], self._stream
        ray = self.executor.ray
        self.executor.board.stop.remote(key)

        def backstop() -> None:
            with self._lock:
                still = self._job is not None and self._job[0] == job_id
            if still and stream is not None:
                ray.cancel(stream)

        timer = threading.Timer(STOP_BACKSTOP_S, backstop)
        timer.daemon = True
        timer.start()

    def run(self, job: JobSpec, events: JobEvents) -> Finished:
        ex, ray = self.executor, self.executor.ray
        store = RunStore(job.root)
        config = RunConfig.for_training(job.ds, job.settings, job.dataset_label)
        found = store.find_complete(config)
        if found:
            return Finished(Outcome(found, True, None), "complete", "loaded from the store")
        backbone = job.settings.backbone
        packed_backbone = None
        if backbone is not None and backbone.is_run:
            if store.status_of(backbone.name) != "complete":
                raise StoreError(
                    N_("run {run_id} cannot be a backbone: it is not a complete run in the store"), run_id=backbone.name
                )
            packed_backbone = ray.put(store.pack(backbone.name))
        # a GPU node may have left since the pool was made
        check_gpus(ex.resources["num_gpus"], ray.cluster_resources().get("GPU", 0.0), ex.address)
        key = f"{ex.session}-{job.id}"
        message = {
            "key": key,
            "settings": job.settings,
            "label": job.dataset_label,
            "run_name": job.run_name,
            "devices": job.devices,
            "source": job.source,
        }
        stream = ex.task.remote(message, ex.data_ref(job.ds), packed_backbone, ex.board)
        with self._lock:
            self._job, self._stream = (job.id, key), stream
        if job.stop.is_set():  # left before it started
            self.stop(job.id)
        try:
            for ref in stream:
                report = ray.get(ref)
                kind = report[0]
                if kind == "running":
                    events.running(report[1])
                elif kind == "batch":
                    events.batch(report[1])
                elif kind == "epoch":
                    events.epoch(report[1], report[2])
                elif kind == "done":
                    _, packed, result, status, text = report
                    return Finished(self._store(store, config.run_id, packed, result), status, text)
                elif kind == "error":
                    raise_named(report[1], report[2])
            raise TrainingWorkerError(Deferred(N_("the Ray task ended without a result")))
        except ExplorerError:
            raise
        except ray.exceptions.TaskCancelledError:
            raise TrainingWorkerError(
                N_("the training did not stop within {seconds} s of Stop and was cancelled; nothing stored"),
                seconds=f"{STOP_BACKSTOP_S:.0f}",
            ) from None
        except ray.exceptions.RayError as exc:
            raise TrainingWorkerError(
                N_(
                    "the Ray worker or node training it ended unexpectedly ({error}); "
                    "nothing of it was stored. Press Train to train it again"
                ),
                error=type(exc).__name__,
            ) from None
        finally:
            with self._lock:
                self._job, self._stream = None, None
            ex.board.release.remote(key)

    @staticmethod
    def _store(store: RunStore, run_id: str, packed: bytes, result: Any) -> Outcome:
        try:
            return Outcome(store.adopt(run_id, packed), False, None)
        except StoreError as exc:  # the server's store is unwritable: the session still sees the results
            return Outcome(None, False, result, one_line(exc))


class RayExecutor:
    """Trainings as tasks on the Ray cluster at `address`."""

    kind = "ray"

    def __init__(self, address: str, workers: int | None = None, jobs_per_worker: int = 20) -> None:
        from lib.runs.workers import workers_from_env

        self.address = address
        self.ray = ray = connect(address)
        self.session = uuid.uuid4().hex[:12]  # several servers may share one cluster
        cluster = ray.cluster_resources()
        cpus = _float_env("EXPLORER_CPUS_PER_TRAINING", 1.0)
        gpus = _float_env("EXPLORER_GPUS_PER_TRAINING", 1.0 if cluster.get("GPU", 0) else 0.0)
        self.resources = {"num_cpus": cpus, "num_gpus": gpus}
        check_gpus(gpus, cluster.get("GPU", 0.0), address)  # Ray would keep such a task waiting forever
        if workers is None:
            workers = workers_from_env()
        if workers is None:  # as many as the cluster has room for now
            fits = [cluster.get("CPU", 1) / cpus] if cpus else []
            if gpus:
                fits.append(cluster.get("GPU", 0) / gpus)
            workers = int(min(fits)) if fits else 1
        self.lanes = max(1, int(workers))
        self.workers_started = 0
        self.puts = 0  # data sets put into the object store (once per fingerprint while in use)
        # A worker whose TensorFlow has seen a GPU keeps that GPU (and its memory) until it ends,
        # while Ray may give its next task another one: on GPUs one training per worker process.
        self.jobs_per_worker = 1 if gpus else max(1, int(jobs_per_worker))
        self.task = ray.remote(
            num_returns="streaming", max_retries=0, max_calls=self.jobs_per_worker, **self.resources
        )(train_on_node)
        self.board = _stop_board(ray)
        self._lock = threading.Lock()
        self._data: dict[str, tuple[Any, int]] = {}  # fingerprint -> (object ref, jobs using it)

    def lane(self, number: int) -> RayLane:
        return RayLane(self, number)

    def acquire(self, ds: Dataset) -> None:
        with self._lock:
            ref, users = self._data.get(ds.fingerprint, (None, 0))
            if ref is None:
                ref = self.ray.put(ds)
                self.puts += 1
            self._data[ds.fingerprint] = (ref, users + 1)

    def data_ref(self, ds: Dataset) -> Any:
        with self._lock:
            return self._data[ds.fingerprint][0]

    def release(self, ds: Dataset) -> None:
        with self._lock:
            ref, users = self._data.get(ds.fingerprint, (None, 0))
            if users > 1:
                self._data[ds.fingerprint] = (ref, users - 1)
            else:
                self._data.pop(ds.fingerprint, None)  # the last reference: Ray frees the object

    def close(self) -> None:
        with self._lock:
            self._data.clear()
