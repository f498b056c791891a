"""Worker processes for the picture gate on a large upload (lib.data.picture_sets).

A small picture is checked and decoded mostly while Python holds the GIL (Pillow reads a JPEG's
header in Python), so threads only take turns: on 2 cores, two threads gating 5,000 small
JPEGs took 1.6 s where this process alone took 1.0 s. Processes run side by side.

They are forked from multiprocessing's fork server, a clean interpreter started once (the first
time a large upload comes) that has imported the gate's modules: a worker is never forked from
the server itself (it has threads, and perhaps TensorFlow), starting a pool costs milliseconds,
and the workers share the imported modules' memory. A pool lives for one upload.

Each worker has a pipe of its own. concurrent.futures' ProcessPoolExecutor shares one result
pipe among its workers: a worker killed (out of memory) while writing its answer leaves half a
message there, and the executor waits for the rest forever. Here a dead worker's pipe closes,
and reading its answer raises WorkerStopped.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

from lib.data.folders import decode_workers
from lib.worker_start import without_main

START_METHOD = "forkserver"  # POSIX only; elsewhere the gate runs in the calling process
PRELOAD = ["lib.data.picture_sets"]  # what a worker needs: imported once, in the fork server
NAME = without_main("explorer-picture-gate-")  # lib.worker_start: no page script in a worker
_numbers = itertools.count(1)


class WorkerStopped(Exception):
    """A worker process ended before it answered (killed, out of memory, crashed)."""


class _GateProcess(ForkServerProcess):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("name", f"{NAME}{next(_numbers)}")
        super().__init__(*args, **kwargs)


class _GateContext(ForkServerContext):
    """The fork server's context, its processes named for lib.worker_start."""

    Process = _GateProcess


def available() -> bool:
    return START_METHOD in mp.get_all_start_methods()


def workers() -> int:
    """One worker a core, as many as the folder loader's decoding threads."""
    return decode_workers()


class Pool:
    """`count` workers. Tasks go to them in turn, and `receive` gives the answers in the order
    the tasks were sent. Tasks are sent by a thread of their own, so a big task waiting for a
    busy worker never keeps the caller from reading another worker's answer."""

    def __init__(self, count: int) -> None:
        ctx = _GateContext()
        ctx.set_forkserver_preload(PRELOAD)
        self._workers: list[tuple[Any, Connection]] = []
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sent = self._received = 0
        self._feeder: threading.Thread | None = None
        try:
            for _ in range(count):
                here, there = ctx.Pipe()
                process = ctx.Process(target=_serve, args=(there,), daemon=True)
                process.start()
                there.close()  # only the worker holds its end: when it dies, `here` reads EOF
                self._workers.append((process, here))
        except BaseException:
            self.close()
            raise
        self._feeder = threading.Thread(target=self._feed, name="picture-gate-feeder", daemon=True)
        self._feeder.start()

    def send(self, fn: Callable[..., Any], *args: Any) -> None:
        conn = self._workers[self._sent % len(self._workers)][1]
        self._outbox.put((conn, (fn, args)))
        self._sent += 1

    def receive(self) -> Any:
        """The answer to the oldest task not yet received (what it raised is raised here)."""
        process, conn = self._workers[self._received % len(self._workers)]
        self._received += 1
        try:
            ok, value = conn.recv()
        except (EOFError, OSError):
            process.join(1)
            raise WorkerStopped(f"{process.name} ended, exit code {process.exitcode}") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Stop every worker (an answer not read is not needed: the caller is done or failing)."""
        for process, _ in self._workers:
            if process.is_alive():
                process.terminate()
        self._outbox.put(None)
        if self._feeder is not None:
            self._feeder.join()
        for process, conn in self._workers:
            process.join()
            conn.close()

    def _feed(self) -> None:
        while (item := self._outbox.get()) is not None:
            conn, task = item
            with contextlib.suppress(OSError):  # a worker gone: `receive` says so
                conn.send(task)


def _serve(conn: Connection) -> None:
    """A worker: run the tasks it is sent until its pipe closes."""
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # sent back: the caller raises it
            answer = (False, exc)
        try:
            conn.send(answer)
        except (OSError, EOFError):
            return
        except Exception as exc:  # an answer that cannot be pickled
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
