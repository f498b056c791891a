"""The study every course ends with: own CNN -> feature extraction -> fine-tuning ->
fine-tuning + augmentation, on one split and seed, trained (or loaded) step by step."""

from __future__ import annotations

from lib.augment.settings import preset
from lib.data.dataset import Dataset
from lib.errors import ExplorerError, one_line
from lib.runs.store import RunStore
from lib.runs.train_or_load import Outcome, train_or_load
from lib.train.settings import TrainSettings

LADDER = ("own CNN", "feature extraction", "fine-tuning", "fine-tuning + augmentation")


def ladder(
    backbone: str,
    weights: str = "imagenet",
    epochs: int = 5,
    seed: int = 0,
    unfreeze: int = 4,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
) -> list[tuple[str, TrainSettings]]:
    """The study every course ends with, on one split and seed."""
    common = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "learning_rate": learning_rate}
    transfer = {"model": backbone, "weights": weights, **common}
    return [
        (LADDER[0], TrainSettings(model="cnn", **common)),
        (LADDER[1], TrainSettings(transfer="feature_extraction", **transfer)),
        (LADDER[2], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, **transfer)),
        (LADDER[3], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, augment=preset("mild"), **transfer)),
    ]


def run_study(
    ds: Dataset, steps: list[tuple[str, TrainSettings]], dataset_label: str, store: RunStore, on_step=None, **hooks
) -> list[tuple[str, Outcome | str]]:
    """Train (or load) each step of a study in turn; a step that cannot train gives its
    one-line reason and the others still run. on_step(index, total, name) reports progress."""
    results: list[tuple[str, Outcome | str]] = []
    for i, (name, settings) in enumerate(steps):
        if on_step:
            on_step(i, len(steps), name)
        try:
            results.append((name, train_or_load(ds, settings.check(), dataset_label, store, **hooks)))
        except ExplorerError as exc:
            results.append((name, one_line(exc)))
    return results
