"""Comparing stored runs, and the standard transfer-learning study ladder."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.evaluate import metrics
from lib.augment.settings import preset
from lib.runs.store import StoredRun
from lib.train.training import TrainSettings


def describe(run: StoredRun) -> dict:
    s = run.config["settings"]
    model = s["model"]
    if model.startswith("uploaded:"):
        mode = "uploaded model"
    elif model in ("mlp", "cnn", "deep_cnn"):
        mode = "own model"
    else:
        mode = s.get("transfer", "").replace("_", " ") + (f" (last {s['unfreeze']})" if s.get("transfer") == "fine_tune" else "")
        if s.get("weights") == "none":
            mode += ", NOT pretrained"
    return {"run": run.run_id, "model": model, "mode": mode, "augmentation": "on" if s.get("augment") else "off",
            "epochs": f"{run.config.get('epochs_done', 0)}/{s.get('epochs', 0)}", "status": run.status,
            "seconds": run.config.get("seconds", 0.0)}


def runs_table(runs: list[StoredRun]) -> pd.DataFrame:
    """One row per run: what it was, and accuracy, balanced accuracy, macro F1 and per-class F1 on test."""
    rows = []
    for run in runs:
        cm = run.test_confusion
        row = describe(run)
        total = cm.sum()
        row["accuracy"] = float(np.trace(cm) / total) if total else 0.0
        row["balanced accuracy"] = metrics.balanced_accuracy(cm)
        f1 = metrics.per_class(cm)["f1-score"]
        row["macro F1"] = float(f1.mean())
        for name, value in zip(run.class_names, f1):
            row[f"F1 {name}"] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def difference(run_a: StoredRun, run_b: StoredRun, how: str | None = "true") -> np.ndarray:
    """B minus A, each normalized the same way (rows by default): where B gains or loses."""
    return metrics.normalize(run_b.test_confusion, how) - metrics.normalize(run_a.test_confusion, how)


def f1_deltas(run_a: StoredRun, run_b: StoredRun) -> pd.DataFrame:
    fa = metrics.per_class(run_a.test_confusion)["f1-score"]
    fb = metrics.per_class(run_b.test_confusion)["f1-score"]
    return pd.DataFrame({"class": list(run_a.class_names), "delta": (fb - fa).to_numpy()})


def validation_curves(runs: list[StoredRun], metric: str = "val_accuracy") -> pd.DataFrame:
    frames = [pd.DataFrame({"run": f"{r.run_id} ({r.config['settings']['model']})", "epoch": r.history["epoch"],
                            metric: r.history[metric]}) for r in runs if not r.history.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "epoch", metric])


LADDER = ("own CNN", "feature extraction", "fine-tuning", "fine-tuning + augmentation")


def ladder(backbone: str, weights: str = "imagenet", epochs: int = 5, seed: int = 0, unfreeze: int = 4,
           batch_size: int = 32, learning_rate: float = 1e-3) -> list[tuple[str, TrainSettings]]:
    """The study every course ends with, on one split and seed."""
    common = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "learning_rate": learning_rate}
    transfer = {"model": backbone, "weights": weights, **common}
    return [
        (LADDER[0], TrainSettings(model="cnn", **common)),
        (LADDER[1], TrainSettings(transfer="feature_extraction", **transfer)),
        (LADDER[2], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, **transfer)),
        (LADDER[3], TrainSettings(transfer="fine_tune", unfreeze=unfreeze, augment=preset("mild"), **transfer)),
    ]
