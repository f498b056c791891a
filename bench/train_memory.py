"""train_peak_ratio: peak memory added while training on a 50,000x32x32x3 uint8 data set
(40,000 training + 10,000 test images, mlp, 1 epoch), divided by its uint8 size.

Measured in a child process from Linux's peak resident size (VmHWM, reset through
/proc/self/clear_refs after a small warm-up run has started TensorFlow's runtime), so it
counts TensorFlow's own buffers too, not only numpy's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, report

N_TRAIN, N_TEST, SIZE = 40_000, 10_000, 32


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _dataset(n_train: int, n_test: int):
    import numpy as np

    from lib.data.dataset import Dataset

    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    # A little structure (class-dependent brightness) so the loss moves; uint8 throughout.
    x_train = rng.integers(0, 200, (n_train, SIZE, SIZE, 3), dtype=np.uint8)
    x_train += (y_train * 5).astype(np.uint8)[:, None, None, None]
    x_test = rng.integers(0, 200, (n_test, SIZE, SIZE, 3), dtype=np.uint8)
    x_test += (y_test * 5).astype(np.uint8)[:, None, None, None]
    return Dataset("synthetic", x_train, y_train, x_test, y_test, tuple(str(i) for i in range(10)))


def child() -> None:
    from lib.train.training import TrainSettings, train

    settings = TrainSettings(model="mlp", epochs=1, batch_size=64)
    train(_dataset(2_000, 500), settings)  # warm-up: TensorFlow's runtime, thread pools, traced graphs
    ds = _dataset(N_TRAIN, N_TEST)
    size = ds.x_train.nbytes + ds.x_test.nbytes
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    before = _status_kib("VmRSS")
    result = train(ds, settings)
    peak = _status_kib("VmHWM")
    print(json.dumps({"added": (peak - before) * 1024, "size": size, "status": result.status}))


def measure(root: Path = ROOT) -> dict:
    """Run the child with `root` first on sys.path (another checkout measures the old code)."""
    code = f"import sys; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(ROOT)!r}); " + (
        "from bench.train_memory import child; child()"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(name: str, m: dict, goal: str) -> None:
    report(
        name,
        m["added"] / m["size"],
        f"x uint8 size ({m['added'] / 2**20:.0f} MiB added for {m['size'] / 2**20:.0f} MiB of images, "
        f"{N_TRAIN:,}+{N_TEST:,} images 32x32x3, mlp, 1 epoch)",
        goal,
    )


def run() -> None:
    """BENCH_BEFORE=<folder of an older checkout> also measures that code (e.g. `git archive` of main)."""
    _report("train_peak_ratio", measure(), "goal <= 1.5")
    before = os.environ.get("BENCH_BEFORE")
    if before:
        _report("train_peak_ratio[before]", measure(Path(before)), f"code in {before}")


if __name__ == "__main__":
    run()
