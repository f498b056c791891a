"""Confusion matrices and classification reports, from integer labels.

Computed from one confusion matrix with numpy (fast for 10,000s of predictions) and tested
equal to scikit-learn's `confusion_matrix` / `classification_report`. Inputs are always
1-D integer labels: `as_labels` turns probabilities or one-hot rows into them first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.i18n import N_, _

# Shown translated (their English text is also the radio's stable value on Train & Evaluate).
NORMALIZATIONS = {
    None: N_("counts"),
    "true": N_("by true class (recall)"),
    "pred": N_("by predicted class (precision)"),
}


def as_labels(y: np.ndarray) -> np.ndarray:
    """Integer labels from ints, one-hot rows or probability rows (argmax)."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.argmax(axis=1).astype(np.int64)
    return y.astype(np.int64)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """K x K counts, rows = true class, columns = predicted class (scikit-learn's layout)."""
    t, p = as_labels(y_true), as_labels(y_pred)
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def normalize(cm: np.ndarray, how: str | None) -> np.ndarray:
    """Row-normalized (true), column-normalized (pred) or raw; empty rows/columns give 0."""
    cm = cm.astype(np.float64)
    if how is None:
        return cm
    axis = {"true": 1, "pred": 0}[how]
    sums = cm.sum(axis=axis, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)


def per_class(cm: np.ndarray) -> pd.DataFrame:
    """precision, recall, f1, support per class (0 where undefined, as scikit-learn's zero_division)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1-score": f1, "support": support.astype(np.int64)})


def batch_averaged_per_class(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall the way a Keras metric function reports them: computed
    on each batch (in order, `batch_size` images) and averaged over batches, every batch
    counting once. Written like the per-class-metrics tutorial's `single_class_precision`
    (a batch with no prediction of the class scores 0, not "undefined"). This is NOT the
    epoch's precision, which comes from the whole split's confusion matrix (`per_class`)."""
    t, p = as_labels(y_true), as_labels(y_pred)
    starts = range(0, len(t), max(1, batch_size))
    precision = np.zeros((len(starts), num_classes))
    recall = np.zeros((len(starts), num_classes))
    for b, s in enumerate(starts):
        bt, bp = t[s : s + batch_size], p[s : s + batch_size]
        for c in range(num_classes):
            hit = np.sum((bp == c) & (bt == c))
            precision[b, c] = hit / max(int(np.sum(bp == c)), 1)
            recall[b, c] = hit / max(int(np.sum(bt == c)), 1)
    if not len(starts):
        return np.zeros(num_classes), np.zeros(num_classes)
    return precision.mean(axis=0), recall.mean(axis=0)


def report(cm: np.ndarray, class_names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """scikit-learn's classification_report as a DataFrame: one row per class, then
    accuracy, macro avg, weighted avg (same numbers as output_dict=True)."""
    rows = per_class(cm)
    rows.index = list(class_names)
    total = cm.sum()
    support = rows["support"].to_numpy(dtype=np.float64)
    metrics = rows[["precision", "recall", "f1-score"]]
    macro = metrics.mean()
    weighted = (metrics.mul(support, axis=0).sum() / total) if total else metrics.sum() * 0
    accuracy = np.trace(cm) / total if total else 0.0
    extra = pd.DataFrame(
        {
            "precision": [accuracy, macro["precision"], weighted["precision"]],
            "recall": [accuracy, macro["recall"], weighted["recall"]],
            "f1-score": [accuracy, macro["f1-score"], weighted["f1-score"]],
            "support": [int(total)] * 3,
        },
        index=["accuracy", "macro avg", "weighted avg"],
    )
    return pd.concat([rows, extra])


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes present in y_true (scikit-learn's definition)."""
    support = cm.sum(axis=1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean()) if present.any() else 0.0


def summary(cm: np.ndarray, majority_class: int | None) -> dict[str, float]:
    """The numbers to read together: accuracy, balanced accuracy, macro F1, and the majority
    baseline (test accuracy of always predicting `majority_class`, the training split's most
    frequent class; NaN when unknown, e.g. a run stored before baselines were recorded)."""
    total = cm.sum()
    if majority_class is None:
        baseline = float("nan")
    else:
        baseline = float(cm[majority_class].sum() / total) if total else 0.0
    return {
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "balanced accuracy": balanced_accuracy(cm),
        "macro F1": float(per_class(cm)["f1-score"].mean()),
        "majority baseline": baseline,
    }


def confusion_table(cm: np.ndarray, class_names: tuple[str, ...] | list[str], how: str | None = None) -> pd.DataFrame:
    """Long table for a heatmap: one row per cell with count, the normalized value that is
    both coloured and printed, and the row/column percentages for tooltips."""
    k = len(class_names)
    value = normalize(cm, how)
    by_true = normalize(cm, "true")
    by_pred = normalize(cm, "pred")
    t, p = np.divmod(np.arange(k * k), k)
    return pd.DataFrame(
        {
            "true": [class_names[i] for i in t],
            "predicted": [class_names[j] for j in p],
            "true_index": t,
            "pred_index": p,
            "count": cm.ravel(),
            "value": value.ravel(),
            "label": [f"{v:.0f}" if how is None else f"{v:.0%}" for v in value.ravel()],
            "share_of_true": by_true.ravel(),
            "share_of_pred": by_pred.ravel(),
        }
    )


def top_confusions(cm: np.ndarray, class_names: tuple[str, ...] | list[str], n: int = 5) -> pd.DataFrame:
    """The largest off-diagonal cells: which true class is most often taken for which."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    support = cm.sum(axis=1)
    order = np.argsort(off.ravel(), kind="stable")[::-1][:n]
    rows = []
    for flat in order:
        t, p = divmod(int(flat), cm.shape[0])
        if off[t, p] == 0:
            break
        rows.append(
            {
                "true": class_names[t],
                "predicted": class_names[p],
                "count": int(off[t, p]),
                "share of true class": off[t, p] / support[t] if support[t] else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share of true class"])


def cell_examples(y_true: np.ndarray, y_prob: np.ndarray, true_class: int, pred_class: int) -> np.ndarray:
    """Indices of images with this true and predicted class, most confident first."""
    pred = y_prob.argmax(axis=1)
    idx = np.flatnonzero((y_true == true_class) & (pred == pred_class))
    return idx[np.argsort(-y_prob[idx, pred_class], kind="stable")]


def confident_mistakes(y_true: np.ndarray, y_prob: np.ndarray, n: int = 12) -> np.ndarray:
    """Indices of wrong predictions, most confident first."""
    pred = y_prob.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    return wrong[np.argsort(-y_prob[wrong, pred[wrong]], kind="stable")][:n]


def largest_batch_gap(history: pd.DataFrame, num_classes: int, metric: str) -> tuple[int, int, float, float] | None:
    """(class, epoch, exact, batch-averaged) where the batch average of `metric` (precision or
    recall) is furthest from the exact epoch value; None when the history has no batch averages."""
    best: tuple[int, int, float, float] | None = None
    for c in range(num_classes):
        exact_col, batch_col = f"val_{metric}_{c}", f"val_batch_{metric}_{c}"
        if batch_col not in history or history.empty:
            return None
        gaps = (history[batch_col] - history[exact_col]).abs()
        row = int(gaps.to_numpy().argmax())
        if best is None or gaps.iloc[row] > abs(best[3] - best[2]):
            best = (c, int(history["epoch"].iloc[row]), float(history[exact_col].iloc[row]),
                    float(history[batch_col].iloc[row]))  # fmt: skip
    return best


# The per-class-metrics tutorial's own digits CNN, class 2 (its metric functions' output).
TUTORIAL_BATCH_PRECISION = {"class": 2, "exact": 0.960, "batch-averaged": 0.852}


def batch_gap_sentences(class_name: str, metric: str, epoch: int, exact: float, batch: float) -> list[str]:
    """What the "Largest difference" box says about largest_batch_gap's result: every sentence
    names the metric the numbers are of (precision or recall), never the other one."""
    if metric not in ("precision", "recall"):
        raise ValueError(f"batch-averaged values exist for precision and recall, not {metric!r}")
    # One whole sentence per metric (a translation names the metric in its own words); `_()` at call
    # time: the page's session language, the CLI's --lang, else English.
    numbers = {"name": class_name, "epoch": epoch, "exact": f"{exact:.3f}", "batch": f"{batch:.3f}"}
    if exact == batch:  # the largest gap is none: no class at any epoch differs (e.g. one validation batch)
        first = (
            _("No difference in this run: at every epoch, each class's batch-averaged precision equals its exact one.")
            if metric == "precision"
            else _(
                "No difference in this run: at every epoch, each class's batch-averaged recall equals its exact one."
            )
        )
    elif metric == "precision":
        first = _(
            "Largest difference: class '{name}' precision at epoch {epoch}: exact {exact}, batch-averaged {batch}."
        ).format(**numbers)
    else:
        first = _(
            "Largest difference: class '{name}' recall at epoch {epoch}: exact {exact}, batch-averaged {batch}."
        ).format(**numbers)
    if metric == "precision":
        t = TUTORIAL_BATCH_PRECISION
        return [
            first,
            _(
                "A batch average of precision is not the epoch's precision: it is computed on each batch, and "
                "every batch counts once, however many images of the class it holds."
            ),
            _(
                "This is the per-class-metrics tutorial's mistake: its own digits CNN had class {cls} "
                "precision exact {exact} and batch-averaged {batch}."
            ).format(cls=t["class"], exact=f"{t['exact']:.3f}", batch=f"{t['batch-averaged']:.3f}"),
        ]
    return [
        first,
        _(
            "A batch average of recall is not the epoch's recall: it is computed on each batch, and every "
            "batch counts once, however many images of the class it holds."
        ),
        _("The per-class-metrics tutorial makes this mistake: its metric functions are averaged over batches."),
    ]
