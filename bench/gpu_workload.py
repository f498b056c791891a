"""The three-animals tutorial's workload on a GPU: VGG16 at 224x224, 1,200 images (960 train +
240 test), feature extraction and fine-tuning (block5_conv3 trainable, as the tutorial), each
plain, with cached backbone features, and with mixed precision. `python -m bench gpu_workload`;
made to finish in under 10 minutes on one data-centre GPU.

    gpu_fe_cached_speedup   feature extraction: plain fit / cached path (first run: features inside its time)
    gpu_ft_cached_speedup   fine-tuning block5_conv3: plain / cached
    gpu_mixed_speedup       plain feature extraction: float32 / mixed precision (mixed_float16 on a GPU)
    gpu_ft_mixed_speedup    plain fine-tuning: float32 / mixed precision

Then, on a machine with a GPU, the same script again with the GPU hidden (CUDA_VISIBLE_DEVICES=-1),
at BENCH_GPU_CPU_IMAGES images (default 120: VGG16 at 224 on CPU cores is slow), printed beside
it as `cpu_*` lines with the same names.

Sizes: BENCH_GPU_IMAGES (default 1200), BENCH_GPU_EPOCHS (default 5), BENCH_GPU_BATCH (default 32).
Without a GPU the script runs on the CPU at whatever size it is given, e.g. the check that it works:
`BENCH_GPU_IMAGES=12 BENCH_GPU_EPOCHS=1 BENCH_GPU_BATCH=4 BENCH_GPU_MODEL=mobilenetv2 python -m bench gpu_workload`
(VGG16 at 224 on 2 busy CPU cores takes over 20 minutes even at 24 images). ImageNet weights cannot be
downloaded on these machines: the backbone has random weights, which changes no timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np

from bench.common import ROOT, report
from bench.workload import CLASSES, _image

SIZE = 224  # VGG16's own input size, as the tutorial's animal.npz


def tutorial_sized(n_images: int, seed: int = 0):
    """n_images generated 224x224x3 images of three classes, split 80/20 like the tutorial's 960/240."""
    from lib.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    y = np.arange(n_images) % len(CLASSES)
    x = np.stack([np.asarray(_image(int(c), SIZE, rng)) for c in y])
    n_test = max(len(CLASSES), n_images // 5)
    return Dataset("gpu workload", x[n_test:], y[n_test:], x[:n_test], y[:n_test], CLASSES)


def _seconds(ds, settings, **kw) -> float:
    from lib.train.training import train

    t0 = time.perf_counter()
    train(ds, settings, **kw)
    return time.perf_counter() - t0


def measure(prefix: str = "gpu") -> None:
    import tempfile

    from lib.train.accelerators import local_devices
    from lib.train.settings import TrainSettings

    n_images = int(os.environ.get("BENCH_GPU_IMAGES", 1200))
    epochs = int(os.environ.get("BENCH_GPU_EPOCHS", 5))
    batch = int(os.environ.get("BENCH_GPU_BATCH", 32))
    model = os.environ.get("BENCH_GPU_MODEL", "vgg16")  # mobilenetv2: a quick check of the script on a CPU
    gpus, _ = local_devices()
    where = f"{len(gpus)} GPU(s): {', '.join(gpus)}" if gpus else "CPU only"
    ds = tutorial_sized(n_images)
    what = f"{model} random weights, {n_images} images {SIZE}x{SIZE}x3, {epochs} epochs, batch {batch}, {where}"
    fe = TrainSettings(model=model, weights="none", epochs=epochs, batch_size=batch, seed=0)
    # The tutorial's fine-tuning: only block5_conv3 trains (the last weighted layer of VGG16's backbone).
    ft = replace(fe, transfer="fine_tune", unfreeze=1)
    _seconds(ds.with_changes(x_train=ds.x_train[:batch], y_train=ds.y_train[:batch]), replace(fe, epochs=1))  # warm-up
    times: dict[str, float] = {}
    for name, settings in (("fe", fe), ("ft", ft)):
        times[f"{name} plain"] = _seconds(ds, settings, cache_features=False)
        with tempfile.TemporaryDirectory() as cache:
            times[f"{name} cached"] = _seconds(ds, settings, cache_dir=cache)
        times[f"{name} mixed"] = _seconds(ds, replace(settings, mixed_precision=True), cache_features=False)
    load = f"load {os.getloadavg()[0]:.1f}"
    report(
        f"{prefix}_fe_cached_speedup",
        times["fe plain"] / times["fe cached"],
        f"x ({times['fe plain']:.1f} s plain vs {times['fe cached']:.1f} s cached, first run; {what}; {load})",
        "goal >= 3",
    )
    report(
        f"{prefix}_ft_cached_speedup",
        times["ft plain"] / times["ft cached"],
        f"x ({times['ft plain']:.1f} s plain vs {times['ft cached']:.1f} s cached, last weighted layer trainable)",
        "for reference",
    )
    report(
        f"{prefix}_mixed_speedup",
        times["fe plain"] / times["fe mixed"],
        f"x ({times['fe plain']:.1f} s float32 vs {times['fe mixed']:.1f} s mixed precision, plain feature extraction)",
        "goal >= 1.5 on a GPU with tensor cores",
    )
    report(
        f"{prefix}_ft_mixed_speedup",
        times["ft plain"] / times["ft mixed"],
        f"x ({times['ft plain']:.1f} s float32 vs {times['ft mixed']:.1f} s mixed precision, plain fine-tuning)",
        "for reference",
    )


def run() -> None:
    from lib.train.accelerators import local_devices

    gpus, _ = local_devices()
    measure("gpu" if gpus else "cpu")
    if gpus:  # the same script on the CPU cores of this machine, beside it
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "-1",
            "BENCH_GPU_IMAGES": os.environ.get("BENCH_GPU_CPU_IMAGES", "120"),
        }
        subprocess.run([sys.executable, "-m", "bench", "gpu_workload"], cwd=ROOT, env=env, check=False, timeout=900)


if __name__ == "__main__":
    run()
