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


TUTORIAL_UNSTANDARDIZED = {"loss": 53.22, "accuracy": 0.3857}  # the augmentation tutorial's run B, raw test images


def unstandardized(model: Any, gen: Any, x_test: np.ndarray, y_test: np.ndarray, batch_size: int = 256) -> dict:
    """Loss and accuracy of the stored model on test images with the training's deterministic
    step (`datagen.standardize`: rescale, centring, normalization) and without it (the mistake)."""
    from lib.augment.settings import standardize_batch

    fixed_loss, fixed_acc = model.evaluate(standardize_batch(gen, x_test), y_test, batch_size=batch_size, verbose=0)
    raw_loss, raw_acc = model.evaluate(x_test.astype(np.float32), y_test, batch_size=batch_size, verbose=0)
    return {
        "raw test images (the mistake)": {"accuracy": float(raw_acc), "loss": float(raw_loss)},
        "after datagen.standardize (the fix)": {"accuracy": float(fixed_acc), "loss": float(fixed_loss)},
    }
