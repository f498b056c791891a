"""The CLI as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import numpy as np

from tests.helpers import ROOT, make_folder, save_npz, tiny_arrays


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "lib.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_inspect_shapes():
    r = cli("inspect", "shapes")
    assert r.returncode == 0, r.stderr
    assert "image shape: 32x32x3" in r.stdout
    assert "Always predicting 'circle' scores 58% accuracy" in r.stdout
    assert "warning: classes are unbalanced" in r.stdout


def test_inspect_folder_and_npz(tmp_path):
    make_folder(tmp_path / "imgs", {"a": 5, "b": 5})
    r = cli("inspect", str(tmp_path / "imgs"))
    assert r.returncode == 0 and "train images: 8" in r.stdout
    r = cli("inspect", str(save_npz(tmp_path / "d.npz", **tiny_arrays())))
    assert r.returncode == 0 and "classes: 3" in r.stdout


def _one_line_error(r):
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    assert "unknown dataset" in _one_line_error(cli("inspect", "imagenet"))
    (tmp_path / "x.npz").write_text("not a zip")
    assert "not a readable .npz" in _one_line_error(cli("inspect", str(tmp_path / "x.npz")))
    make_folder(tmp_path / "one", {"only": 3})
    assert "at least 2" in _one_line_error(cli("inspect", str(tmp_path / "one")))
    _one_line_error(cli("nonsense"))


def _idx(data: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in data.shape)
    return gzip.compress(header + data.astype(np.uint8).tobytes())


def test_keras_dataset_from_a_temporary_keras_cache(tmp_path):
    """fashion_mnist through keras.datasets' real loader, from files placed in the Keras cache."""
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        (cache / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10, 2049))
        (cache / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28)), 2051))
    r = cli("inspect", "fashion_mnist", env={"KERAS_HOME": str(tmp_path / "keras")})
    assert r.returncode == 0, r.stderr
    assert "train images: 20" in r.stdout and "image shape: 28x28x1" in r.stdout
    assert "Ankle boot" in r.stdout


def test_keras_dataset_offline_is_a_clear_error(offline):
    r = cli("inspect", "mnist")
    assert "not in the Keras cache and could not be downloaded" in _one_line_error(r)


def test_train_then_load_then_report(tmp_path):
    store = str(tmp_path / "runs")
    r = cli("train", "digits", "--model", "mlp", "--epochs", "1", "--store", store)
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.split("run id: ")[1].split()[0]
    assert "epoch 1/1" in r.stdout and "macro avg" in r.stdout and "confusion matrix" in r.stdout
    again = cli("train", "digits", "--model", "mlp", "--epochs", "1", "--store", store)
    assert "loaded from the store, not trained again" in again.stdout and "epoch 1/1" not in again.stdout
    report = cli("report", run_id, "--store", store)
    assert report.returncode == 0 and "balanced accuracy" in report.stdout
    assert report.stdout.split("macro avg")[1].split()[:3] == r.stdout.split("macro avg")[1].split()[:3]


def test_train_with_augment_file_and_bad_inputs(tmp_path):
    store = str(tmp_path / "runs")
    good = tmp_path / "aug.json"
    good.write_text('{"image_data_generator": {"rotation_range": 10}}')
    r = cli("train", "shapes", "--model", "mlp", "--epochs", "1", "--augment", str(good), "--store", store)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"brightness_range": [2, 1]}')
    assert "greater than max" in _one_line_error(cli("train", "digits", "--augment", str(bad), "--store", store))
    assert "no run nope" in _one_line_error(cli("report", "nope", "--store", store))
    # the option and its allowed range, checked at the CLI boundary (#22 item 7)
    lr = _one_line_error(cli("train", "digits", "--learning-rate", "-1", "--store", store))
    assert "--learning-rate" in lr and "above 0 and at most 10" in lr


def test_bad_input_corpus_exits_2_with_one_line_each(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notzip.npz").write_bytes(b"\x00" * 10)
    arrays = tiny_arrays()
    cases = {
        str(tmp_path / "empty"): "no class folders",
        str(tmp_path / "notzip.npz"): "not a readable .npz",
        str(
            save_npz(tmp_path / "obj.npz", **{**arrays, "X_train": np.array([None] * 12, dtype=object)})
        ): "object array",
        str(save_npz(tmp_path / "nan.npz", **{**arrays, "X_test": np.full((6, 8, 8), np.inf)})): "NaN or infinite",
        str(save_npz(tmp_path / "range.npz", **{**arrays, "class_names": np.array(["a", "b"])})): "labels out of range",
    }
    for path, text in cases.items():
        assert text in _one_line_error(cli("inspect", path)), path
