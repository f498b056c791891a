"""Curves per class from stored test predictions: one-vs-rest ROC and precision-recall,
precision/recall at a threshold, and a reliability diagram with expected calibration error.

ROC and PR come from scikit-learn (roc_curve, auc, precision_recall_curve,
average_precision_score), one class against the rest. A class absent from the test set has
no ROC curve (no positives): it is listed with NaN and left out of the charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10


def _one_vs_rest(y_true: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(y_true)[:, None] == np.arange(k)[None, :]


def roc_curves(y_true: np.ndarray, y_prob: np.ndarray, class_names) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long table class, fpr, tpr, threshold; per class AUC table class, auc, positives)."""
    from sklearn.metrics import auc, roc_curve

    k = len(class_names)
    truth = _one_vs_rest(y_true, k)
    rows, summary = [], []
    for i, name in enumerate(class_names):
        positives = int(truth[:, i].sum())
        if positives == 0 or positives == len(truth):
            summary.append({"class": name, "auc": np.nan, "positives": positives})
            continue
        fpr, tpr, thr = roc_curve(truth[:, i], y_prob[:, i])
        rows.append(pd.DataFrame({"class": name, "fpr": fpr, "tpr": tpr, "threshold": np.minimum(thr, 1.0)}))
        summary.append({"class": name, "auc": float(auc(fpr, tpr)), "positives": positives})
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["class", "fpr", "tpr", "threshold"])
    return table, pd.DataFrame(summary, columns=["class", "auc", "positives"])


def pr_curves(y_true: np.ndarray, y_prob: np.ndarray, class_names) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long table class, recall, precision, threshold; per class average precision table)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    k = len(class_names)
    truth = _one_vs_rest(y_true, k)
    rows, summary = [], []
    for i, name in enumerate(class_names):
        positives = int(truth[:, i].sum())
        if positives == 0:
            summary.append({"class": name, "average precision": np.nan, "positives": 0, "prevalence": 0.0})
            continue
        precision, recall, thr = precision_recall_curve(truth[:, i], y_prob[:, i])
        # precision_recall_curve ends on (recall 0, precision 1) with no threshold: repeat the last one
        thresholds = np.append(thr, thr[-1] if len(thr) else 1.0)
        rows.append(pd.DataFrame({"class": name, "recall": recall, "precision": precision, "threshold": thresholds}))
        summary.append(
            {
                "class": name,
                "average precision": float(average_precision_score(truth[:, i], y_prob[:, i])),
                "positives": positives,
                "prevalence": positives / len(truth),
            }
        )
    table = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["class", "recall", "precision", "threshold"])
    )
    return table, pd.DataFrame(summary, columns=["class", "average precision", "positives", "prevalence"])


def at_threshold(y_true: np.ndarray, y_prob: np.ndarray, class_names, threshold: float) -> pd.DataFrame:
    """Each class one against the rest, predicted positive when p_class >= threshold:
    precision, recall, predicted positives, true positives. Precision is NaN (undefined, shown
    as n/a) when nothing is predicted: 0 would read as 'every prediction wrong'."""
    k = len(class_names)
    truth = _one_vs_rest(y_true, k)
    predicted = np.asarray(y_prob) >= threshold
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    n_pred = predicted.sum(axis=0).astype(np.float64)
    n_pos = truth.sum(axis=0).astype(np.float64)
    return pd.DataFrame(
        {
            "class": list(class_names),
            "precision": np.divide(tp, n_pred, out=np.full(k, np.nan), where=n_pred > 0),
            "recall": np.divide(tp, n_pos, out=np.zeros(k), where=n_pos > 0),
            "predicted positive": n_pred.astype(np.int64),
            "true positive": tp.astype(np.int64),
            "positives": n_pos.astype(np.int64),
        }
    )


def reliability(y_true: np.ndarray, y_prob: np.ndarray, bins: int = BINS) -> tuple[pd.DataFrame, float]:
    """Top-label calibration: confidence = max probability, correct = argmax == y_true, in
    `bins` equal-width bins over [0, 1] (a confidence of exactly 1 goes in the last bin).
    Returns (per bin: low, high, count, confidence, accuracy, gap) and
    ECE = sum over bins |accuracy - confidence| * count / N."""
    y_prob = np.asarray(y_prob, np.float64)
    conf = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    acc_sum = np.bincount(which, weights=correct, minlength=bins)
    mean_conf = np.divide(conf_sum, count, out=np.full(bins, np.nan), where=count > 0)
    mean_acc = np.divide(acc_sum, count, out=np.full(bins, np.nan), where=count > 0)
    edges = np.linspace(0, 1, bins + 1)
    table = pd.DataFrame(
        {
            "low": edges[:-1],
            "high": edges[1:],
            "count": count,
            "confidence": mean_conf,
            "accuracy": mean_acc,
            "gap": mean_acc - mean_conf,
        }
    )
    n = len(conf)
    ece = float(np.nansum(np.abs(mean_acc - mean_conf) * count) / n) if n else 0.0
    return table, ece
