"""Worker processes for the picture gate on a large upload (lib.data.picture_sets).

A small picture is checked and decoded mostly while Python holds the GIL (Pillow reads a JPEG's
header in Python), so threads only take turns: on 2 cores, two threads gating 5,000 small
JPEGs took 1.6 s where this process alone took 1.0 s. Processes run side by side.

They are forked from multiprocessing's fork server, a clean interpreter started once (the first
time a large upload comes) that has imported the gate's modules: a worker is never forked from
the server itself (it has threads, and perhaps TensorFlow), starting a pool costs milliseconds,
and the workers share the imported modules' memory. A pool lives for one upload.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import ForkServerContext, ForkServerProcess

from lib.data.folders import decode_workers
from lib.worker_start import without_main

START_METHOD = "forkserver"  # POSIX only; elsewhere the gate runs in the calling process
PRELOAD = ["lib.data.picture_sets"]  # what a worker needs: imported once, in the fork server
NAME = without_main("explorer-picture-gate-")  # lib.worker_start: no page script in a worker
_numbers = itertools.count(1)


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


def start(count: int) -> ProcessPoolExecutor:
    ctx = _GateContext()
    ctx.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(max_workers=count, mp_context=ctx)
