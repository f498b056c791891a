"""Train-or-load: the one path from settings to a stored run (used by the page and the CLI)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lib.data.dataset import Dataset
from lib.errors import one_line
from lib.runs.config import RunConfig, baseline_of
from lib.runs.store import TB_PREFIX, RunStore, StoreError
from lib.train.settings import TrainSettings
from lib.train.training import TrainResult, train


@dataclass
class Outcome:
    run_id: str | None  # None when the store could not be written
    loaded: bool  # True: an identical complete run was in the store, nothing trained
    result: TrainResult | None  # the fresh training result (None when loaded)
    store_error: str = ""


def feature_cache_dir(store: RunStore) -> Path:
    """Where transfer runs keep their frozen backbones' outputs (lib.train.feature_cache)."""
    return store.root / ".cache" / "features"


def train_or_load(
    ds: Dataset,
    settings: TrainSettings,
    dataset_label: str,
    store: RunStore,
    *,
    name: str = "",
    source: str = "",
    **hooks,
) -> Outcome:
    """Load the identical complete run, or train and store one (`name`: the user's name for it;
    `source`: where the data loads from again, lib.data.sources.DatasetSpec.source)."""
    config = RunConfig.for_training(ds, settings, dataset_label, source)
    found = store.find_complete(config)
    if found:
        return Outcome(found, True, None)
    # The pid in the name lets a later process tell a killed run's leftovers from a live one's.
    with tempfile.TemporaryDirectory(prefix=f"{TB_PREFIX}{os.getpid()}-") as tb:
        result = train(ds, settings, tb_dir=tb, store=store, cache_dir=feature_cache_dir(store), **hooks)
        try:
            run_id = store.save(config, result, ds.class_names, baseline_of(ds), tb_source=Path(tb), name=name)
        except StoreError as exc:
            return Outcome(None, False, result, one_line(exc))
    return Outcome(run_id, False, result)
