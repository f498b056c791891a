"""zip_ingest_ratio and zip_ingest_peak_ratio: a ZIP of 5,000 JPEGs uploaded as "Your images".

- zip_ingest_ratio: time from the ZIP's bytes to a Dataset (directory checks, every member
  through the picture gate, written as a saved set, read back by the folder loader) / Keras'
  `image_dataset_from_directory` reading the same pictures, already unpacked, into arrays.
  Medians of interleaved runs in one process; each of ours saves into a fresh data root, so
  none is the "same upload twice" shortcut. The first upload a server reads also starts the
  fork server of the gate's worker processes (lib.data.gate_processes): printed beside.
  On ext4, creating files in the minutes after many were deleted is several times slower (the
  inode allocator checks recently deleted inodes whose blocks are cached): our side writes
  5,000 files and Keras' does not, so run this on a disk without a mass delete just before
  (a previous run of this benchmark deletes 40,000 files when it ends).
- zip_ingest_peak_ratio: peak memory added while ingesting (tracemalloc) / the Dataset's
  uint8 size.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import report

N = 5000
SIDE = 64
CLASSES = 5


def make_zip(folder: Path, n: int = N) -> bytes:
    """n JPEGs in CLASSES class folders under `folder`, and the same folder as ZIP bytes."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            cls = folder / f"class_{i % CLASSES}"
            cls.mkdir(parents=True, exist_ok=True)
            base = rng.integers(0, 256, 3)
            arr = np.clip(base + rng.normal(0, 30, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
            path = cls / f"{i:05d}.jpg"
            Image.fromarray(arr).save(path, quality=90)
            zf.write(path, f"photos/{cls.name}/{path.name}")
    return buf.getvalue()


def ours(data: bytes, scratch: Path, k: int):
    from lib.data.picture_sets import ingest_zip

    os.environ["EXPLORER_DATA_ROOT"] = str(scratch / f"root{k}")
    (scratch / f"root{k}").mkdir()
    return ingest_zip(data, "bench").dataset


def keras_way(folder: Path) -> int:
    from lib.tf_import import import_keras

    keras = import_keras()
    ds = keras.utils.image_dataset_from_directory(
        folder, image_size=(SIDE, SIDE), batch_size=256, shuffle=False, verbose=False
    )
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert len(x) == len(y)
    return len(x)


def run(n: int = N, repeat: int = 5) -> None:
    before = os.environ.get("EXPLORER_DATA_ROOT")
    try:
        with tempfile.TemporaryDirectory() as d:
            scratch = Path(d)
            folder = scratch / "unpacked"
            data = make_zip(folder, n)
            keras_way(folder)  # warm-up: TensorFlow's import and first trace are not the reading
            t0 = time.perf_counter()
            ours(data, scratch, 0)
            first = time.perf_counter() - t0
            t_ours, t_keras = [], []
            for k in range(1, repeat + 1):
                t0 = time.perf_counter()
                ds = ours(data, scratch, k)
                t_ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                assert keras_way(folder) == len(ds.x_train) + len(ds.x_test) == n
                t_keras.append(time.perf_counter() - t0)
            a, b = statistics.median(t_ours), statistics.median(t_keras)
            report(
                "zip_ingest_ratio",
                a / b,
                f"x ({a:.2f} s to a Dataset vs {b:.2f} s for Keras, {n:,} JPEGs; "
                f"a server's first upload {first:.2f} s)",
                "goal <= 1.2",
            )
            tracemalloc.start()
            ds = ours(data, scratch, repeat + 1)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = ds.x_train.nbytes + ds.x_test.nbytes
            report(
                "zip_ingest_peak_ratio",
                peak / size,
                f"x uint8 size ({peak / 2**20:.1f} MiB peak for {size / 2**20:.1f} MiB, "
                f"ZIP of {len(data) / 2**20:.1f} MiB)",
                "goal <= 2",
            )
    finally:
        if before is None:
            os.environ.pop("EXPLORER_DATA_ROOT", None)
        else:
            os.environ["EXPLORER_DATA_ROOT"] = before
