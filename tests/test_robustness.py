"""Issue 6: the bad-input corpus, killed and concurrent runs, an unwritable store, and the
data root that confines typed paths when the app is served to others."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from lib.data.dataset import DatasetError
from lib.data.folders import load_image_folder
from lib.data.sources import DatasetSpec, load_dataset
from lib.evaluate import metrics
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings
from tests.helpers import ROOT, make_folder, save_npz, tiny_arrays, write_image

pytestmark = pytest.mark.slow


def cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "lib.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


# --- bad input corpus -------------------------------------------------------------------------


def test_huge_image_is_refused_without_exhausting_memory(tmp_path):
    make_folder(tmp_path, {"a": 3, "b": 3})
    Image.new("L", (10_000, 10_000)).save(tmp_path / "a" / "huge.png")
    ds = load_image_folder(tmp_path)
    assert ds.image_shape == (16, 16, 3)
    assert any("huge.png" in n for n in ds.notes)


def test_one_pixel_image_is_resized_with_the_rest(tmp_path):
    make_folder(tmp_path, {"a": 3, "b": 3})
    write_image(tmp_path / "b" / "dot.png", (1, 1))
    ds = load_image_folder(tmp_path)
    assert len(ds.x_train) + len(ds.x_test) == 7 and ds.image_shape == (16, 16, 3)


def test_class_folders_with_spaces_and_korean_names(tmp_path):
    make_folder(tmp_path, {"고양이 사진": 4, "big dog": 4})
    ds = load_dataset(DatasetSpec("folder", str(tmp_path)))
    assert set(ds.class_names) == {"고양이 사진", "big dog"}


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no class folders"):
        load_image_folder(tmp_path)


def test_class_with_no_test_samples_still_evaluates(tmp_path):
    arrays = tiny_arrays()
    arrays["y_test"] = np.array([0, 1, 0, 1, 0, 1])
    ds = load_dataset(DatasetSpec("npz", str(save_npz(tmp_path / "d.npz", **arrays))))
    assert ds.num_classes == 3 and np.bincount(ds.y_test, minlength=3)[2] == 0
    prob = np.eye(3)[[0, 1, 2, 1, 0, 1]]
    rep = metrics.report(metrics.confusion(ds.y_test, prob, 3), ds.class_names)
    assert rep.loc["2", "support"] == 0 and rep.loc["2", "recall"] == 0


def test_dataset_with_one_class_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["y_train"], arrays["y_test"] = np.zeros(12, int), np.zeros(6, int)
    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_dataset(DatasetSpec("npz", str(save_npz(tmp_path / "d.npz", **arrays))))


# --- data root ----------------------------------------------------------------------------------


def test_data_root_confines_typed_paths(tmp_path, monkeypatch):
    root = tmp_path / "served"
    make_folder(root / "pets", {"a": 3, "b": 3})
    make_folder(tmp_path / "private", {"a": 3, "b": 3})
    (root / "escape").symlink_to(tmp_path / "private")
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(root))
    assert load_dataset(DatasetSpec("folder", str(root / "pets"))).num_classes == 2
    assert load_dataset(DatasetSpec("folder", "pets")).num_classes == 2  # relative to the root
    for outside in (str(tmp_path / "private"), str(root / ".." / "private"), str(root / "escape")):
        with pytest.raises(DatasetError, match="outside the data folder"):
            load_dataset(DatasetSpec("folder", outside))
    with pytest.raises(DatasetError, match="outside the data folder"):
        load_dataset(DatasetSpec("npz", "/etc/passwd.npz"))


def test_symlinked_file_leading_out_of_the_root_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "served"
    make_folder(root / "pets", {"a": 3, "b": 3})
    secret = write_image(tmp_path / "secret.png")
    (root / "pets" / "a" / "link.png").symlink_to(secret)
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(root))
    ds = load_dataset(DatasetSpec("folder", str(root / "pets")))
    assert len(ds.x_train) + len(ds.x_test) == 6
    assert any("leads outside" in n for n in ds.notes)


# --- store faults -------------------------------------------------------------------------------


def test_unwritable_store_keeps_the_results(tmp_path):
    from lib.data.sources import load_digits

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    outcome = train_or_load(load_digits(), TrainSettings(model="mlp", epochs=1), "digits", RunStore(blocker))
    assert outcome.run_id is None and "cannot write the run" in outcome.store_error
    assert outcome.result.status == "complete" and len(outcome.result.test_prob) == 450


def test_crash_while_saving_leaves_nothing_half_written(tmp_path):
    from lib.data.sources import load_digits
    from lib.runs.config import RunConfig
    from lib.train.training import train

    ds = load_digits()
    settings = TrainSettings(model="mlp", epochs=1)
    result = train(ds, settings)
    store = RunStore(tmp_path)
    result.val_confusions = None  # makes the save fail after model.keras and history.csv were written
    with pytest.raises(AttributeError):
        store.save(RunConfig.for_training(ds, settings, "digits"), result, ds.class_names)
    assert list(tmp_path.iterdir()) == []  # no run folder, no temporary folder


def _wait_for(proc, text, timeout=120):
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if text in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}: {seen[-500:]}")


def test_sigkill_mid_training_leaves_no_complete_run_and_the_retry_trains(tmp_path):
    store = str(tmp_path / "runs")
    args = ("train", "digits", "--model", "mlp", "--epochs", "30", "--store", store)
    proc = cli(*args)
    _wait_for(proc, "epoch 2/30")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    runs, broken = RunStore(store).list_runs()
    assert runs == [] and broken == []
    retry = subprocess.run(
        [sys.executable, "-m", "lib.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert retry.returncode == 0, retry.stderr[-1000:]
    assert "epoch 30/30" in retry.stdout
    runs, _ = RunStore(store).list_runs()
    assert [r.status for r in runs] == ["complete"]


def test_two_processes_training_the_same_settings_leave_one_run(tmp_path):
    store = tmp_path / "runs"
    args = ("train", "digits", "--model", "mlp", "--epochs", "2", "--store", str(store))
    procs = [cli(*args) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    ids = {o[0].split("run id: ")[1].split()[0] for o in outs}
    assert len(ids) == 1
    assert [p.name for p in store.iterdir()] == list(ids)  # one folder, no temporary leftovers
    RunStore(store).load(ids.pop()).load_model()
