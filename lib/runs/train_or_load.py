"""Train-or-load: the one path from settings to a stored run (used by the page and the CLI)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from lib.errors import ExplorerError
from lib.data.dataset import Dataset
from lib.runs.store import RunStore, StoreError
from lib.train.training import TrainResult, TrainSettings, run_config, train


@dataclass
class Outcome:
    run_id: str | None  # None when the store could not be written
    loaded: bool  # True: an identical complete run was in the store, nothing trained
    result: TrainResult | None  # the fresh training result (None when loaded)
    store_error: str = ""


def train_or_load(ds: Dataset, settings: TrainSettings, dataset_label: str, store: RunStore, **hooks) -> Outcome:
    config = run_config(ds, settings, dataset_label)
    found = store.find_complete(config)
    if found:
        return Outcome(found, True, None)
    with tempfile.TemporaryDirectory(prefix="explorer-tb-") as tb:
        result = train(ds, settings, tb_dir=tb, store=store, **hooks)
        try:
            run_id = store.save(config, result, ds.class_names, tb_source=Path(tb))
        except StoreError as exc:
            return Outcome(None, False, result, str(exc))
    return Outcome(run_id, False, result)


def run_study(ds: Dataset, steps: list[tuple[str, TrainSettings]], dataset_label: str, store: RunStore,
              on_step=None, **hooks) -> list[tuple[str, Outcome | str]]:
    """Train (or load) each step of a study in turn; a step that cannot train gives its
    one-line reason and the others still run. on_step(index, total, name) reports progress."""
    results: list[tuple[str, Outcome | str]] = []
    for i, (name, settings) in enumerate(steps):
        if on_step:
            on_step(i, len(steps), name)
        try:
            results.append((name, train_or_load(ds, settings.check(), dataset_label, store, **hooks)))
        except ExplorerError as exc:
            results.append((name, str(exc)))
    return results
