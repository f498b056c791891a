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
