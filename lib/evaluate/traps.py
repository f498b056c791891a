"""The three evaluation traps, run live on a trained model so learners see real numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.evaluate import metrics


def generator_order(
    model: Any, gen: Any, x_test: np.ndarray, y_test: np.ndarray, batch_size: int = 32, seed: int = 0
) -> dict[str, float]:
    """Accuracy of predictions from a shuffling iterator compared with labels in dataset
    order (the mistake), next to model.evaluate and the shuffle=False fix."""
    x = x_test.astype(np.float32)
    shuffled = gen.flow(x, batch_size=batch_size, shuffle=True, seed=seed)
    pred_shuffled = model.predict(shuffled, verbose=0).argmax(1)
    ordered = gen.flow(x, batch_size=batch_size, shuffle=False)
    pred_ordered = model.predict(ordered, verbose=0).argmax(1)
    from lib.augment.settings import standardize_batch

    _, evaluate_acc = model.evaluate(standardize_batch(gen, x_test), y_test, batch_size=batch_size, verbose=0)
    return {
        "shuffle=True vs labels in order (wrong)": float((pred_shuffled == y_test).mean()),
        "model.evaluate": float(evaluate_acc),
        "shuffle=False (fixed)": float((pred_ordered == y_test).mean()),
    }


def one_hot_error(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[str, float]:
    """scikit-learn's real error for one-hot y_true with thresholded probabilities, and the
    accuracy after the argmax fix."""
    from sklearn.metrics import accuracy_score, confusion_matrix

    k = y_prob.shape[1]
    one_hot = np.eye(k, dtype=int)[y_true]
    try:
        confusion_matrix(one_hot, (y_prob > 0.5).astype(int))
        message = "(no error raised)"
    except ValueError as exc:
        message = str(exc)
    fixed = accuracy_score(one_hot.argmax(axis=1), y_prob.argmax(axis=1))
    return message, float(fixed)


def imbalance(y_true: np.ndarray, y_prob: np.ndarray, majority_class: int | None) -> dict[str, float]:
    cm = metrics.confusion(y_true, y_prob, y_prob.shape[1])
    return metrics.summary(cm, majority_class)
