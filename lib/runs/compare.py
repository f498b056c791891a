"""Comparing stored runs, and the standard transfer-learning study ladder."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.evaluate import metrics
from lib.i18n import _
from lib.runs.store import StoredRun


def describe(run: StoredRun) -> dict:
    r = run.record
    s = r.settings
    return {
        "name": r.display_name,
        "run": run.run_id,
        "model": r.model,
        "mode": r.config.mode_text(),
        "augmentation": "on" if s.augment else "off",
        "epochs": f"{r.epochs_done}/{s.epochs}",
        "status": run.status,
        "seconds": r.seconds,
    }


KEY_COLUMNS = ("name", "accuracy", "balanced accuracy", "macro F1", "majority baseline", "mode", "status")


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
        row["majority baseline"] = run.baseline_accuracy
        for name, value in zip(run.class_names, f1, strict=False):
            row[f"F1 {name}"] = float(value)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # The key columns first, so a projector-width table shows them without scrolling sideways.
    first = [c for c in KEY_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def by_setting(table: pd.DataFrame, fmt: dict[str, str] | None = None, *, per_table: int = 3) -> list[pd.DataFrame]:
    """The runs table on its side, for a narrow page: one row per column (a setting or a figure),
    one column per run headed by its name, `per_table` runs to a table. Its 20-odd columns side by
    side scrolled sideways at 1024 px; three runs' values side by side fit. Cells are text,
    formatted by `fmt` ({column: format}); when two runs share a name the start of the id tells
    their columns apart."""
    if table.empty:
        return []
    names = [str(n) for n in table["name"]]
    if len(set(names)) < len(names):
        names = [f"{n} · {str(r)[:6]}" for n, r in zip(names, table["run"], strict=True)]
    fmt = fmt or {}

    def cell(column: str, value: object) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return _("n/a")
        return fmt[column].format(value) if column in fmt else str(value)

    side = pd.DataFrame(
        {
            name: [cell(c, row[c]) for c in table.columns if c != "name"]
            for name, (_, row) in zip(names, table.iterrows(), strict=True)
        },
        index=[c for c in table.columns if c != "name"],
    )
    return [side.iloc[:, i : i + per_table] for i in range(0, side.shape[1], per_table)]


def difference(run_a: StoredRun, run_b: StoredRun, how: str | None = "true") -> np.ndarray:
    """B minus A, each normalized the same way (rows by default): where B gains or loses."""
    return metrics.normalize(run_b.test_confusion, how) - metrics.normalize(run_a.test_confusion, how)


def f1_deltas(run_a: StoredRun, run_b: StoredRun) -> pd.DataFrame:
    fa = metrics.per_class(run_a.test_confusion)["f1-score"]
    fb = metrics.per_class(run_b.test_confusion)["f1-score"]
    return pd.DataFrame({"class": list(run_a.class_names), "delta": (fb - fa).to_numpy()})


def validation_curves(runs: list[StoredRun], metric: str = "val_accuracy") -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "run": r.record.display_name,
                "epoch": r.history["epoch"],
                metric: r.history[metric],
            }
        )
        for r in runs
        if not r.history.empty
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "epoch", metric])
