"""The layers of lib/: who may import Streamlit, typed run records, one error style, one baseline."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import lib
from lib.data import stats
from lib.data.dataset import subsample_class
from lib.data.sources import load_digits
from lib.errors import DatasetError, ExplorerError, SettingsError, StoreError, one_line
from lib.runs.compare import runs_table
from lib.runs.config import RunRecord, can_be_backbone
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.settings import TrainSettings
from lib.train.transfer import BackboneRef
from tests.helpers import ROOT


def _modules(prefix_filter) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(lib.__path__, "lib.") if prefix_filter(m.name)]


def test_only_lib_ui_imports_streamlit():
    headless = _modules(lambda name: not name.startswith("lib.ui"))
    assert "lib.train.training" in headless and "lib.runs.store" in headless and "lib.cli" in headless
    code = (
        "import importlib, sys\n"
        f"for name in {headless!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_package_says_what_it_owns():
    for name in ("lib.data", "lib.augment", "lib.train", "lib.evaluate", "lib.runs", "lib.ui"):
        module = __import__(name, fromlist=["_"])
        assert module.__doc__ and len(module.__doc__.split()) >= 8, name


@pytest.mark.parametrize(
    "exc, expected",
    [
        (MemoryError(), "MemoryError"),
        (ValueError(""), "ValueError"),
        (ValueError("\n\n  second line only\n"), "second line only"),
        (OSError("first\nsecond"), "first"),
    ],
)
def test_one_line_never_raises(exc, expected):
    assert one_line(exc) == expected


def test_one_line_with_type_and_limit():
    assert one_line(MemoryError(), with_type=True) == "MemoryError"
    assert one_line(OSError("disk full"), with_type=True) == "OSError: disk full"
    assert len(one_line(ValueError("x" * 500), limit=50)) == 50

    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no text")

    assert one_line(Broken()) == "Broken"


def test_every_library_error_is_an_explorer_error():
    for cls in (SettingsError, DatasetError, StoreError):
        assert issubclass(cls, ExplorerError)
    with pytest.raises(SettingsError, match="epochs must be a whole number from 1 to 10,000"):
        TrainSettings(epochs=0).check()
    with pytest.raises(SettingsError, match="unknown model 'resnet'"):
        TrainSettings(model="resnet").check()


@pytest.mark.slow
def test_an_exception_with_an_empty_message_inside_train_keeps_the_run_as_failed(tmp_path):
    ds = load_digits()

    def out_of_memory(*_):
        raise MemoryError()  # an empty message: str(exc).splitlines()[0] used to raise IndexError here

    outcome = train_or_load(
        ds, TrainSettings(model="mlp", epochs=2), "digits", RunStore(tmp_path), on_epoch=out_of_memory
    )
    assert outcome.result.status == "failed"
    assert outcome.result.message == "training failed: MemoryError"
    stored = RunStore(tmp_path).load(outcome.run_id)
    assert stored.status == "failed" and stored.record.message == "training failed: MemoryError"


def test_backbone_references_parse_once():
    assert BackboneRef.parse("vgg16") == BackboneRef("keras", "vgg16")
    assert BackboneRef.parse("run:abc123") == BackboneRef.of_run("abc123")
    assert str(BackboneRef.of_run("abc123")) == "run:abc123"
    assert BackboneRef.parse("cnn") is None and BackboneRef.parse("run:") is None
    assert TrainSettings(model="run:abc").backbone.is_run and TrainSettings(model="cnn").backbone is None


def _old_format_config() -> dict:
    """config.json as runs stored before the typed records were written it (run id included)."""
    return {
        "dataset": {"label": "digits", "name": "digits", "fingerprint": "f" * 32, "image_shape": [8, 8, 1],
                    "num_classes": 10},
        "settings": {"model": "cnn", "epochs": 3, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.001,
                     "validation_split": 0.2, "seed": 0, "augment": None},
        "run_id": "c0ffee0000000000",
        "status": "complete",
        "message": "trained 3 epochs",
        "class_names": [str(i) for i in range(10)],
        "seconds": 1.5,
        "epochs_done": 3,
        "notes": [],
        "created": "2026-11-01T10:00:00",
        "versions": {"python": "3.11.7"},
    }  # fmt: skip


def test_run_config_keeps_config_json_format_and_run_ids():
    import hashlib

    old = _old_format_config()
    record = RunRecord.from_dict(old)
    assert record.config.to_dict() == {"dataset": old["dataset"], "settings": old["settings"]}
    canonical = json.dumps(
        {"fingerprint": "f" * 32, "settings": old["settings"]}, sort_keys=True, separators=(",", ":")
    )
    assert record.config.run_id == hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
    assert record.baseline is None  # stored before baselines were recorded: said so, not guessed
    again = record.to_dict()
    assert {k: again[k] for k in old} == old
    uploaded = {**old, "settings": {"model": "uploaded:m.keras", "sha256": "ab", "input_scale": "0..1", "epochs": 0,
                                    "seed": 0, "validation_split": 0.0, "augment": None}}  # fmt: skip
    up = RunRecord.from_dict(uploaded)
    assert up.config.is_uploaded and up.config.to_dict()["settings"] == uploaded["settings"]
    assert up.config.mode_text() == "uploaded model"


@pytest.mark.parametrize("bad", [{}, [], {"status": "complete"}, {"dataset": {}, "settings": {}, "status": "x"}])
def test_a_config_json_that_is_not_a_run_record_is_one_store_error(bad):
    with pytest.raises(StoreError, match="config.json is not a run record"):
        RunRecord.from_dict(bad, "folder")


def test_one_rule_for_which_runs_can_be_a_backbone():
    old = _old_format_config()

    def rec(**changes) -> RunRecord:
        d = json.loads(json.dumps(old))
        status = changes.pop("status", "complete")
        d["settings"].update(changes)
        d["status"] = status
        return RunRecord.from_dict(d)

    assert can_be_backbone(rec(model="cnn")) and can_be_backbone(rec(model="mlp"))
    assert can_be_backbone(rec(model="deep_cnn"))
    assert not can_be_backbone(rec(model="cnn", status="stopped"))
    assert not can_be_backbone(rec(model="run:abc"))  # a transfer model is not lent on
    assert not can_be_backbone(rec(model="vgg16"))
    assert not can_be_backbone(rec(model="uploaded:m.keras"))


@pytest.mark.slow
def test_one_majority_baseline_for_app_cli_and_comparison(tmp_path):
    """After the imbalance control, the training split's majority class differs from the test
    split's: the run records the training split's, and every view shows that number."""
    ds = load_digits()
    for c in (1, 3, 5):  # the test split's largest classes shrink in training only: class 6 leads there
        ds = subsample_class(ds, c, 0.5)
    train_majority = int(np.bincount(ds.y_train, minlength=10).argmax())
    test_majority = int(np.bincount(ds.y_test, minlength=10).argmax())
    assert train_majority != test_majority  # the two definitions give different numbers here
    expected = stats.majority_baseline(ds)
    store = RunStore(tmp_path)
    outcome = train_or_load(ds, TrainSettings(model="mlp", epochs=1), "digits", store)
    run = store.load(outcome.run_id)
    assert run.record.baseline.class_index == expected.class_index
    assert run.record.baseline.accuracy == pytest.approx(expected.accuracy)
    assert runs_table([run])["majority baseline"].iloc[0] == pytest.approx(expected.accuracy)
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", "report", outcome.run_id, "--store", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"majority baseline: {expected.accuracy:.3f}" in out.stdout


def test_cli_maps_library_errors_to_exit_2_with_their_own_message(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lib.cli", "report", "nosuchrun", "--store", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: no run nosuchrun in {tmp_path}"


def test_sessions_importing_keras_at_once_all_get_a_whole_module():
    """Served to a class, session threads ask for Keras together: none may get the
    half-imported module (it has no `utils` yet while the first import runs)."""
    code = (
        "import threading\n"
        "from lib.tf_import import import_keras\n"
        "ok, errors = [], []\n"
        "def use():\n"
        "    try:\n"
        "        ok.append(import_keras().utils.set_random_seed is not None)\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=use) for _ in range(6)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(len(ok), errors)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "6 []"
