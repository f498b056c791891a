"""folder_load_peak_ratio: peak memory while loading a generated folder of 5,000 images,
divided by their uint8 size (tracemalloc sees numpy's allocations)."""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import report
from lib.data.folders import load_image_folder


def make_folder(root: Path, n: int = 5000, size: int = 32) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = root / f"class_{i % 5}"
        cls.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(cls / f"{i}.png", compress_level=1)


def run(n: int = 5000, name: str = "folder_load_peak_ratio") -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        make_folder(root, n)
        tracemalloc.start()
        ds = load_image_folder(root)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = ds.x_train.nbytes + ds.x_test.nbytes
    report(name, peak / size, f"x uint8 size ({peak / 2**20:.1f} MiB peak for {size / 2**20:.1f} MiB)", "goal <= 1.5")


def run_large() -> None:
    """The 50,000-image folder of the robustness issue (about a minute; not in `make bench`)."""
    run(50_000, "folder_load_peak_ratio[50k]")
