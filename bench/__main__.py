"""Run every benchmark: `make bench` or `python -m bench [name ...]`.

Not in the default list: `gpu_workload` (VGG16 at 224x224 on a GPU machine, bench/gpu_workload.py)
and `classroom:browsers` (the class rounds in 8 Chromium tabs)."""

from __future__ import annotations

import importlib
import sys

from bench.common import machine

BENCHMARKS = [
    "training",
    "app",
    "aug_preview",
    "aug_preview:run_page",
    "evaluation",
    "memory",
    "zip_ingest",
    "train_memory",
    "workload",
    "inspect",
    "controls",
    "controls:run_50k",
    "classroom",
    "lang",
    "export",
    "first_epoch",
    "ray_bench",
]


def main(names: list[str]) -> None:
    machine()
    for name in names or BENCHMARKS:
        module, _, func = name.partition(":")
        getattr(importlib.import_module(f"bench.{module}"), func or "run")()


if __name__ == "__main__":
    main(sys.argv[1:])
