"""eval_10k_ms: confusion matrix + report + top confusions for 10,000 predictions of 10
classes, side by side with scikit-learn's confusion_matrix + classification_report."""

from __future__ import annotations

import numpy as np

from bench.common import median_seconds, report
from lib.evaluate import metrics


def run() -> None:
    rng = np.random.default_rng(0)
    n, k = 10_000, 10
    y_true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 3 * np.eye(k)[y_true]
    y_prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = [str(i) for i in range(k)]

    def ours() -> None:
        cm = metrics.confusion(y_true, y_prob, k)
        metrics.report(cm, names)
        metrics.summary(cm, 0)
        metrics.top_confusions(cm, names)
        metrics.confusion_table(cm, names, "true")

    def sklearn() -> None:
        from sklearn.metrics import balanced_accuracy_score, classification_report, confusion_matrix

        y_pred = y_prob.argmax(1)
        confusion_matrix(y_true, y_pred, labels=range(k))
        classification_report(y_true, y_pred, labels=range(k), output_dict=True, zero_division=0)
        balanced_accuracy_score(y_true, y_pred)

    a, b = median_seconds(ours, repeat=15), median_seconds(sklearn, repeat=15)
    report("eval_10k_ms", a * 1000, "ms", "goal <= 200 ms")
    report("eval_10k_vs_sklearn", a / b, "x scikit-learn's confusion_matrix + classification_report", "for reference")
