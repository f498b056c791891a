"""Timing helpers shared by the benchmarks: medians of repeated runs in one process."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, value: float, unit: str, goal: str = "") -> None:
    print(f"{name}: {value:.3g} {unit}" + (f" ({goal})" if goal else ""), flush=True)


def machine() -> None:
    import numpy
    import streamlit

    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, streamlit {streamlit.__version__}",
        flush=True,
    )


CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000


def cifar_sized_npz(folder: str | Path, n_train: int = CIFAR_TRAIN, n_test: int = CIFAR_TEST) -> Path:
    """A synthetic CIFAR-size .npz (32x32x3 uint8, 10 classes) written into `folder`: each class
    has its own mean colour under noise (a model can learn it), and 20 test images are exact
    copies of training images, so the leakage check has rows to show."""
    import numpy as np

    rng = np.random.default_rng(0)
    k = 10
    colours = rng.integers(40, 216, (k, 1, 1, 3))

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, k, n)
        x = np.empty((n, 32, 32, 3), np.uint8)
        for s in range(0, n, 5000):  # in chunks: 60,000 float images at once would be 1.5 GB
            noise = rng.normal(0, 40, (len(y[s : s + 5000]), 32, 32, 3))
            x[s : s + 5000] = np.clip(colours[y[s : s + 5000]] + noise, 0, 255)
        return x, y

    x_train, y_train = images(n_train)
    x_test, y_test = images(n_test)
    x_test[:20], y_test[:20] = x_train[:20], y_train[:20]
    path = Path(folder) / f"cifar_sized_{n_train}.npz"
    names = np.array(["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    np.savez(path, X_train=x_train, y_train=y_train, X_test=x_test, y_test=y_test, class_names=names)
    return path
