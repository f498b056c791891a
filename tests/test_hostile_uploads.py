"""Issue 12, resource budgets: one upload of at most 2 MB must not take the server down.

Each adversarial file is built here (never shipped), is at most 2 MB, and is loaded in a fresh
subprocess that reports how much it raised the process's peak memory (VmHWM): the budget
is ~500 MB. Refusals come from headers and zip directories, before anything large is read."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from lib.data.dataset import Dataset, DatasetError
from lib.data.sources import DatasetSpec, load_dataset, load_npz
from lib.data.stats import pixel_stats
from lib.errors import ModelFileError
from tests.helpers import ROOT, save_npz, tiny_arrays

pytestmark = pytest.mark.slow

PEAK_BUDGET_MB = 500
MAX_FILE_BYTES = 2_000_000

# VmHWM (the peak resident set of this process's memory since exec), not ru_maxrss: Linux
# carries ru_maxrss over from the parent across fork + exec (here pytest with TensorFlow).
_PROBE = r"""
import json, sys
def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
kind, path = sys.argv[1], sys.argv[2]
from lib.data.sources import load_npz
if kind == "keras":
    from lib.tf_import import import_keras
    import_keras()  # imported before the baseline: what we measure is the file, not TensorFlow
    from lib.runs.uploaded import load_user_model
before = peak_mb()
result = {}
try:
    if kind == "npz":
        ds = load_npz(path)
        result = {"ok": True, "shape": list(ds.image_shape), "notes": list(ds.notes)}
    else:
        data = open(path, "rb").read()
        load_user_model(data, "bomb.keras")
        result = {"ok": True}
except Exception as exc:
    result = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
result["peak_increase_mb"] = peak_mb() - before
print(json.dumps(result))
"""


def _probe(kind: str, path) -> dict:
    assert path.stat().st_size <= MAX_FILE_BYTES, path.stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, kind, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_npy_member(zf: zipfile.ZipFile, key: str, shape: tuple, fill_bytes: int | None = None, dtype="|u1"):
    """An .npy member whose header declares `shape`, followed by `fill_bytes` zero bytes
    (default: as many as the shape needs), written in chunks: the test never holds it in memory."""
    with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
        left = int(np.prod(shape)) * np.dtype(dtype).itemsize if fill_bytes is None else fill_bytes
        chunk = bytes(16 << 20)
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def _labels(zf: zipfile.ZipFile, n_train: int, n_test: int) -> None:
    for key, n in (("y_train", n_train), ("y_test", n_test)):
        with zf.open(f"{key}.npy", "w") as fh:
            np.lib.format.write_array(fh, np.arange(n) % 2)


def test_npz_decompression_bomb_is_refused_from_its_headers(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_npy_member(zf, "X_train", (600, 1000, 1000))  # 600 MB of zeros, ~0.6 MB compressed
        _write_npy_member(zf, "X_test", (2, 8, 8))
        _labels(zf, 600, 2)
    result = _probe("npz", path)
    assert result["error"] == "DatasetError", result
    assert "decompression bomb" in result["message"]
    assert result["peak_increase_mb"] < PEAK_BUDGET_MB, result


def test_npz_bomb_split_over_several_members_is_refused(tmp_path):
    path = tmp_path / "split_bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in ("X_train", "X_test", "class_names"):  # 100 MB each, under the free allowance alone
            _write_npy_member(zf, key, (100, 1000, 1000))
        _labels(zf, 100, 100)
    with pytest.raises(DatasetError, match="together expand over 100:1"):
        load_npz(path)


def test_npz_header_claiming_a_terabyte_is_refused(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        _write_npy_member(zf, "X_train", (1_000_000, 1000, 1000), fill_bytes=0)  # header only
        _write_npy_member(zf, "X_test", (2, 8, 8))
        _labels(zf, 4, 2)
    with pytest.raises(DatasetError, match="1,000.0 GB|decompression bomb"):
        load_npz(path)


def test_npz_within_the_ratio_but_over_the_budget_is_refused(tmp_path, monkeypatch):
    import lib.data.sources as sources

    monkeypatch.setattr(sources, "NPZ_BUDGET_BYTES", 1000)
    path = save_npz(tmp_path / "d.npz", **tiny_arrays(n_train=30, n_test=10, shape=(8, 8)))
    with pytest.raises(DatasetError, match="this app loads at most 1.0 KB"):
        load_npz(path)


def test_large_npz_images_are_resized_and_models_stay_small(tmp_path):
    path = tmp_path / "huge_pixels.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_npy_member(zf, "X_train", (10, 2048, 2048))
        _write_npy_member(zf, "X_test", (4, 2048, 2048))
        _labels(zf, 10, 4)
    result = _probe("npz", path)
    assert result["ok"], result
    assert result["shape"] == [224, 224, 1]
    assert any("2048x2048 were resized to 224x224" in n for n in result["notes"])
    assert result["peak_increase_mb"] < PEAK_BUDGET_MB, result

    from lib.train.models import build_model

    model = build_model("cnn", tuple(result["shape"]), 2)
    assert model.count_params() < 10_000_000  # 537 M at 2048 px


def test_npz_resize_keeps_the_picture(tmp_path):
    arrays = tiny_arrays(n_train=4, n_test=2, k=2, shape=(448, 300))
    arrays["X_train"][0] = 0
    arrays["X_train"][0, :224] = 255  # top half white
    ds = load_npz(save_npz(tmp_path / "tall.npz", **arrays))
    assert ds.image_shape == (224, 150, 1)
    top, bottom = ds.x_train[0, :100].mean(), ds.x_train[0, 124:].mean()
    assert top > 250 and bottom < 5


def _keras_bomb(path, config_bytes: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        with zf.open("config.json", "w", force_zip64=True) as fh:
            fh.write(b'{"class_name": "Sequential", "config": {"name": "')
            chunk = b" " * (16 << 20)
            left = config_bytes
            while left > 0:
                fh.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
            fh.write(b'"}}')
        zf.writestr("model.weights.h5", b"")


def test_keras_config_bomb_is_refused_before_keras_opens_it(tmp_path):
    path = tmp_path / "bomb.keras"
    _keras_bomb(path, 600 << 20)
    result = _probe("keras", path)
    assert result["error"] == "ModelFileError", result
    assert "config.json declares" in result["message"]
    assert result["peak_increase_mb"] < PEAK_BUDGET_MB, result


def test_keras_archive_check_names_a_bomb_member(tmp_path):
    from lib.train.model_budget import check_keras_archive

    path = tmp_path / "w.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        with zf.open("model.weights.h5", "w", force_zip64=True) as fh:
            for _ in range(8):
                fh.write(bytes(16 << 20))  # 128 MB of zeros
    with pytest.raises(ModelFileError, match="model.weights.h5 expands .* likely decompression bomb"):
        check_keras_archive(path.read_bytes(), "w.keras")
    with pytest.raises(ModelFileError, match="not a .keras"):
        check_keras_archive(b"plain text", "x.keras")


def test_pixel_stats_in_bounded_memory():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2000, 64, 64, 3), dtype=np.uint8)  # 24.6 MB
    y = np.arange(2000) % 2
    ds = Dataset("big", x, y, x[:10], y[:10], ("a", "b"))
    tracemalloc.start()
    table = pixel_stats(ds)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.5 * x.nbytes, f"pixel_stats peaked at {peak / 1e6:.1f} MB for {x.nbytes / 1e6:.1f} MB of images"
    red = table[(table["split"] == "train") & (table["channel"] == "R")].iloc[0]
    assert red["mean"] == pytest.approx(x[..., 0].mean(), abs=1e-3)
    assert red["std"] == pytest.approx(x[..., 0].std(), abs=1e-3)
    assert (red["min"], red["max"]) == (int(x[..., 0].min()), int(x[..., 0].max()))


def test_uploaded_npz_bomb_via_the_sidebar_source_is_one_line(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_npy_member(zf, "X_train", (300, 1000, 1000))
        _write_npy_member(zf, "X_test", (2, 8, 8))
        _labels(zf, 300, 2)
    data = path.read_bytes()
    with pytest.raises(DatasetError, match="decompression bomb"):
        load_dataset(DatasetSpec("npz", "bomb.npz", "digest"), data=data)
