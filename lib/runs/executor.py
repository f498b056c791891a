"""What the job layer (lib.runs.workers) asks of whatever runs its trainings.

Two executors implement it: the embedded local pool of worker processes (lib.runs.local_pool,
the default, nothing to install) and a Ray cluster (lib.runs.ray_pool). An executor has a fixed
number of lanes; a lane runs one training at a time. Queue places, shared jobs, Stop and
"nobody watches -> stop" stay in the job layer: an executor only trains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lib.data.dataset import Dataset
from lib.errors import ExplorerError
from lib.i18n import N_
from lib.runs.train_or_load import Outcome
from lib.train.settings import TrainSettings

BATCH_EVERY_S = 0.1  # a training reports batch progress at most this often (and after each epoch's last batch)


class TrainingWorkerError(ExplorerError):
    """A training worker ended without a result (killed, out of memory, its node gone) or failed unexpectedly."""


@dataclass(frozen=True)
class JobSpec:
    """One training to run: the data set, the settings and where its run is stored."""

    id: int
    ds: Dataset
    settings: TrainSettings
    dataset_label: str
    root: str
    run_name: str
    devices: str  # "one" | "all" (EXPLORER_DEVICES, `make run DEVICES=all`)
    source: str = ""  # where the data loads from again (recorded in the run, not part of its id)
    stop: threading.Event = field(default_factory=threading.Event, compare=False)  # set: stop within one batch


@dataclass
class Finished:
    """A training's end: the outcome, its status (complete | stopped | failed) and a line for the log."""

    outcome: Outcome
    status: str
    message: str


class JobEvents(Protocol):
    """What a lane reports while it trains."""

    def running(self, where: str = "") -> None: ...  # the training started (where: e.g. the Ray node)
    def batch(self, progress: tuple[int, int, int]) -> None: ...  # (epoch 0-based, batch 1-based, steps)
    def epoch(self, row: dict, confusion: np.ndarray) -> None: ...


class Lane(Protocol):
    """One training at a time. `run` blocks until the training ends and raises the
    ExplorerError the training raised (TrainingWorkerError when its worker died)."""

    number: int
    worker_pid: int | None

    @property
    def ready(self) -> bool: ...  # a warm worker waits: a job starts at once, nothing is started for it

    def start(self) -> None: ...  # warm up (called in the lane's own thread)
    def run(self, job: JobSpec, events: JobEvents) -> Finished: ...
    def stop(self, job_id: int) -> None: ...  # ask that job, if it is this lane's, to stop within one batch
    def close(self) -> None: ...


class Executor(Protocol):
    kind: str  # "local" | "ray"
    lanes: int  # trainings at once
    workers_started: int

    def lane(self, number: int) -> Lane: ...
    def acquire(self, ds: Dataset) -> None: ...  # a job will use ds: send it once per fingerprint
    def release(self, ds: Dataset) -> None: ...  # that job ended: the last one lets the data go
    def close(self) -> None: ...


def describe_where(kind: str) -> dict[str, str]:
    """The words a session sees for each state, by executor (English, marked for the catalogue:
    `Progress.describe` shows them translated)."""
    if kind == "ray":
        return {
            "queued": N_("Waiting for a free place on the Ray cluster"),
            "starting": N_("Starting the training on the Ray cluster (a fresh Ray worker imports TensorFlow)…"),
            "running": N_("Training on the Ray cluster"),
        }
    return {
        "queued": N_("Waiting for a free training worker"),
        "starting": N_("Starting a training worker (the first training of a worker imports TensorFlow)…"),
        "running": N_("Training in a worker process"),
    }


def strip_result(outcome: Outcome) -> Any:
    """The outcome a session needs: no model (the stored run has it) and no interrupt."""
    if outcome.result is not None:
        outcome.result.model = None
        outcome.result.interrupt = None
        if outcome.run_id is not None:  # stored: the session loads the run from the store
            outcome.result = None
    return outcome
