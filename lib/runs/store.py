"""The run store: one folder per run, written atomically.

    runs/<run_id>/config.json          dataset spec + fingerprint, settings, versions, class names, status
    runs/<run_id>/model.keras
    runs/<run_id>/history.csv          epoch, loss, accuracy, val_loss, val_accuracy, val_{precision,recall,f1}_<i>
    runs/<run_id>/val_confusion.npy    int (epochs, K, K), rows true, columns predicted
    runs/<run_id>/test_predictions.npz y_true int, y_prob float (N, K), class_names
    runs/<run_id>/tb/                  TensorBoard logs (tensorboard --logdir runs)

A run is written into a hidden temporary folder and renamed into place when complete, so
a killed process never leaves a folder that looks finished. The run id hashes the dataset
fingerprint and every setting: the same request loads instead of training again.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.data.paths import printable
from lib.errors import StoreError, one_line, os_reason
from lib.i18n import N_
from lib.runs.config import RecordedBaseline, RunConfig, RunRecord, clean_name
from lib.train.settings import TrainSettings

FILES = ("config.json", "model.keras", "history.csv", "val_confusion.npy", "test_predictions.npz")


def default_root() -> Path:
    """runs/ beside where the app runs, or $EXPLORER_RUNS (read at call time)."""
    return Path(os.environ.get("EXPLORER_RUNS", "runs"))


def run_id_for(config: RunConfig) -> str:
    """Stable id from the dataset fingerprint and the full settings."""
    return config.run_id


@dataclass
class StoredRun:
    run_id: str
    path: Path | None  # None: kept in memory because the store could not be written
    record: RunRecord
    history: pd.DataFrame
    val_confusions: np.ndarray
    y_true: np.ndarray
    y_prob: np.ndarray
    class_names: tuple[str, ...]

    @cached_property
    def test_confusion(self) -> np.ndarray:
        """K x K counts of the test predictions (rows true, columns predicted)."""
        from lib.evaluate.metrics import confusion

        return confusion(self.y_true, self.y_prob, len(self.class_names))

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def settings(self) -> TrainSettings:
        return self.record.settings

    @property
    def dataset_label(self) -> str:
        return self.record.dataset.label

    @property
    def baseline_accuracy(self) -> float:
        """The recorded majority baseline (NaN for runs stored before baselines were recorded)."""
        b = self.record.baseline
        return b.accuracy if b is not None else float("nan")

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    def load_stored_model(self) -> Any:
        """model.keras as stored: whole (uint8 images in) for runs trained since whole models,
        the bare classifier for runs stored before (lib.runs.whole gives those whole too)."""
        from lib.tf_import import import_keras

        if self.path is None or not self.model_path.is_file():
            raise StoreError(N_("run {run_id}: model.keras is missing"), run_id=self.run_id)
        try:
            return import_keras().saving.load_model(self.model_path, safe_mode=True)
        except Exception as exc:
            raise StoreError(
                N_("run {run_id}: model.keras cannot be loaded ({reason})"),
                run_id=self.run_id,
                reason=one_line(exc, 120),
            ) from None

    def load_model(self) -> Any:
        """The classifier that takes this run's standardized images (what Try it, the traps and
        a run backbone feed it): the core of a whole model, or an older run's model itself."""
        from lib.train.whole_model import core_of

        return core_of(self.load_stored_model())


def record_of(
    config: RunConfig, result: Any, class_names: tuple[str, ...], baseline: RecordedBaseline | None, name: str = ""
) -> RunRecord:
    """The record config.json will hold for a training (or upload) result."""
    return RunRecord(
        run_id=config.run_id,
        config=config,
        status=result.status,
        message=result.message,
        class_names=tuple(class_names),
        seconds=float(result.seconds),
        epochs_done=int(len(result.history)),
        notes=tuple(result.notes),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        baseline=baseline,
        versions=versions(),
        name=clean_name(name),
    )


def _installed(package: str) -> str:
    """A package's installed version, read without importing it (streamlit is UI-only)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    import sklearn

    from lib.tf_import import import_keras

    keras = import_keras()
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "streamlit": _installed("streamlit"),
    }


# Temporary folders carry the pid of the process that made them: `.tmp-<run_id>-<pid>-<hex>`
# (a run being written), `.old-<run_id>-<pid>-<hex>` (a replaced run being deleted), and
# `explorer-tb-<pid>-*` in the system temp folder (TensorBoard logs during training). A kill
# leaves them behind; the next process to open the store removes those of dead processes.
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
TB_PREFIX = "explorer-tb-"
# Folders from before pids were recorded: removed once they are this old.
STALE_WITHOUT_PID_S = 6 * 3600
_cleaned: set[str] = set()


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with that pid is alive (a temporary's owner)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _owner_pid(name: str) -> int | None:
    """The pid recorded in a temporary folder's name (`...-<pid>-<random>`), or None for an
    older name without one."""
    parts = name.rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit() and len(parts[1]) <= 7:  # pids stay below 2**22
        return int(parts[1])
    return None


def _stale(path: Path, pid: int | None, now: float) -> bool:
    if pid is not None:
        return pid != os.getpid() and not pid_alive(pid)
    try:
        return now - path.stat().st_mtime > STALE_WITHOUT_PID_S
    except OSError:
        return False


def clean_stale_temporaries(root: Path, temp_dir: Path | None = None) -> list[Path]:
    """Remove temporary run folders in `root` and TensorBoard folders in the temp folder that
    a killed process left behind (never those of a live process); returns what was removed."""
    import tempfile

    now = time.time()
    removed: list[Path] = []
    candidates: list[Path] = []
    for folder, prefixes in ((root, (TMP_PREFIX, OLD_PREFIX)), (Path(temp_dir or tempfile.gettempdir()), (TB_PREFIX,))):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            for prefix in prefixes:
                if entry.name.startswith(prefix):
                    candidates.append(entry)
    for entry in candidates:
        if entry.is_dir() and not entry.is_symlink() and _stale(entry, _owner_pid(entry.name), now):
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
    return removed


class RunStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        key = str(self.root.resolve()) if self.root.exists() else str(self.root)
        if key not in _cleaned:  # once per process and store: on start, not on every rerun
            _cleaned.add(key)
            clean_stale_temporaries(self.root)

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def save(
        self,
        config: RunConfig,
        result: Any,
        class_names: tuple[str, ...],
        baseline: RecordedBaseline | None = None,
        tb_source: Path | None = None,
        name: str = "",
    ) -> str:
        """Write a finished/stopped/failed run atomically; returns the run id.

        A complete run replaces an earlier stopped/failed one with the same id; an earlier
        complete run is never replaced by a stopped or failed one."""
        run_id = config.run_id
        tmp = self._temporary_folder(run_id)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            full = record_of(config, result, class_names, baseline, name).to_dict()
            result.model.save(tmp / "model.keras")
            result.history.to_csv(tmp / "history.csv", index=False)
            np.save(tmp / "val_confusion.npy", result.val_confusions.astype(np.int64))
            np.savez(
                tmp / "test_predictions.npz",
                y_true=result.y_test.astype(np.int64),
                y_prob=result.test_prob.astype(np.float32),
                class_names=np.array(class_names, dtype=str),
            )
            if tb_source is not None and Path(tb_source).is_dir():
                shutil.copytree(tb_source, tmp / "tb")
            # config.json last: its presence marks the folder's files as complete.
            (tmp / "config.json.part").write_text(json.dumps(full, indent=2))
            os.replace(tmp / "config.json.part", tmp / "config.json")
            self._move_into_place(tmp, run_id)
        except OSError as exc:
            raise StoreError(
                N_("cannot write the run to {root}: {reason}"), root=printable(self.root), reason=os_reason(exc)
            ) from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return run_id

    def _temporary_folder(self, run_id: str) -> Path:
        """A hidden folder name of this process, where a run is written before it is renamed into place."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(N_("cannot write the run: the store {root} is a file, not a folder"), root=self.root)
        return self.root / f"{TMP_PREFIX}{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def pack(self, run_id: str) -> bytes:
        """The run's folder as one uncompressed tar (a run trained on another machine comes back so)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(self.path(run_id), arcname=".")
        return buffer.getvalue()

    def adopt(self, run_id: str, packed: bytes) -> str:
        """Store a run packed by `pack` elsewhere, atomically: unpacked into a hidden temporary
        folder (plain files and folders only, nothing outside it), then renamed into place."""
        tmp = self._temporary_folder(run_id)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            with tarfile.open(fileobj=io.BytesIO(packed), mode="r:") as tar:
                members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                tar.extractall(tmp, members=members, filter="data")
            if not (tmp / "config.json").is_file():
                raise StoreError(N_("the run {run_id} that came back has no config.json: not stored"), run_id=run_id)
            self._move_into_place(tmp, run_id)
        except (OSError, tarfile.TarError) as exc:
            raise StoreError(
                N_("cannot write the run to {root}: {reason}"),
                root=self.root,
                reason=getattr(exc, "strerror", None) or exc,
            ) from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return run_id

    def _move_into_place(self, tmp: Path, run_id: str) -> None:
        dest = self.path(run_id)
        if self._readable_complete(run_id):
            return  # someone else finished the same run first: keep theirs
        if dest.exists():  # an older stopped/failed (or unreadable) run: replace it
            old = self.root / f"{OLD_PREFIX}{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(dest, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not self._readable_complete(run_id):
                raise

    def status_of(self, run_id: str) -> str | None:
        try:
            data = json.loads((self.path(run_id) / "config.json").read_text())
        except (OSError, ValueError):
            return None
        return data.get("status") if isinstance(data, dict) else None

    def _readable_complete(self, run_id: str) -> bool:
        """A complete run whose config.json is a whole run record and whose files are all there."""
        try:
            record = RunRecord.from_dict(json.loads((self.path(run_id) / "config.json").read_text()), run_id)
        except (StoreError, OSError, ValueError, RecursionError):
            return False
        return record.status == "complete" and not self.problems(run_id)

    def find_complete(self, config: RunConfig) -> str | None:
        run_id = config.run_id
        return run_id if self._readable_complete(run_id) else None

    def problems(self, run_id: str) -> list[str]:
        folder = self.path(run_id)
        missing = [f for f in FILES if not (folder / f).is_file()]
        return [f"missing {', '.join(missing)}"] if missing else []

    def load(self, run_id: str) -> StoredRun:
        folder = self.path(run_id)
        if not folder.is_dir():
            raise StoreError(N_("no run {run_id} in {root}"), run_id=run_id, root=self.root)
        problems = self.problems(run_id)
        if problems:
            raise StoreError(N_("run {run_id} is incomplete: {problems}"), run_id=run_id, problems="; ".join(problems))
        try:
            record = RunRecord.from_dict(json.loads((folder / "config.json").read_text()), run_id)
            history = pd.read_csv(folder / "history.csv")
            confusions = np.load(folder / "val_confusion.npy", allow_pickle=False)
            with np.load(folder / "test_predictions.npz", allow_pickle=False) as preds:
                y_true, y_prob = preds["y_true"], preds["y_prob"]
                names = tuple(str(n) for n in preds["class_names"])
        except StoreError:
            raise
        except Exception as exc:  # truncated or edited files
            raise StoreError(
                N_("run {run_id} cannot be read ({reason})"), run_id=run_id, reason=one_line(exc, 120, with_type=True)
            ) from None
        if y_prob.shape != (len(y_true), len(names)):
            raise StoreError(N_("run {run_id}: test predictions do not match the class names"), run_id=run_id)
        return StoredRun(run_id, folder, record, history, confusions, y_true, y_prob, names)

    def list_runs(self) -> tuple[list[RunRecord], list[str]]:
        """(records of readable runs, newest first; one line per unreadable folder)."""
        runs, broken = [], []
        if not self.root.is_dir():
            return runs, broken
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            problems = self.problems(folder.name)  # missing files first: the plainest reason
            if problems:
                broken.append(f"{printable(folder.name)}: {'; '.join(problems)}")
                continue
            try:
                record = RunRecord.from_dict(json.loads((folder / "config.json").read_text()), folder.name)
            except StoreError as exc:  # valid JSON, but not a run record
                broken.append(printable(one_line(exc)))
                continue
            except (OSError, ValueError, RecursionError):
                broken.append(f"{printable(folder.name)}: config.json unreadable")
                continue
            runs.append(record)
        runs.sort(key=lambda r: r.created, reverse=True)
        return runs, broken
