"""Run every benchmark: `make bench` or `python -m bench [name ...]`."""

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
    "classroom",
]


def main(names: list[str]) -> None:
    machine()
    for name in names or BENCHMARKS:
        module, _, func = name.partition(":")
        getattr(importlib.import_module(f"bench.{module}"), func or "run")()


if __name__ == "__main__":
    main(sys.argv[1:])
