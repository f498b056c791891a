"""The three evaluation traps, run live on a trained model so learners see real numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.evaluate import metrics
from lib.i18n import N_, _

# Row names of generator_order's table: English keys (tests and the CLI read them), marked for the
# catalogue so a page can show them translated.
SHUFFLED = N_("shuffle=True vs labels in order (wrong)")
RESET = N_("shuffle=True after it.reset() (still wrong)")
REALIGNED = N_("shuffle=True, labels realigned with y[it.index_array] (still wrong)")
EVALUATE = "model.evaluate"
ORDERED = N_("shuffle=False (fixed)")
LABELS_KEPT = N_("shuffle=True, labels kept with each batch (fixed)")
RAW = N_("raw test images (the mistake)")
STANDARDIZED = N_("after datagen.standardize (the fix)")

# Shown on the page as the fixes; tests run it as it is.
ORDER_FIX_CODE = """\
# Fix 1: keep the order
it = datagen.flow(x_test, batch_size=32, shuffle=False)
y_pred = model.predict(it).argmax(axis=1)  # aligned with y_test

# Fix 2: keep the labels with each batch
it = datagen.flow(x_test, y_test, batch_size=32, shuffle=True)
y_true, y_pred2 = [], []
for i in range(len(it)):
    xb, yb = it[i]
    y_true.append(yb)
    y_pred2.append(model.predict_on_batch(xb).argmax(axis=1))
y_true, y_pred2 = np.concatenate(y_true), np.concatenate(y_pred2)
"""


def generator_order(
    model: Any, gen: Any, x_test: np.ndarray, y_test: np.ndarray, batch_size: int = 32, seed: int = 0
) -> dict[str, float]:
    """Accuracy of predictions from a shuffling iterator compared with labels in dataset
    order (the mistake), what does not repair it (`it.reset()`; realigning with the iterator's
    `index_array` after predict), and what does: shuffle=False, or labels kept with each batch.

    `reset()` only rewinds the batch counter: the order stays shuffled. Realigning fails in
    Keras 3 because `predict` calls the iterator's `on_epoch_end()` after its pass, which draws
    a new shuffled `index_array`: afterwards it no longer describes the predictions."""
    x = x_test.astype(np.float32)
    shuffled = gen.flow(x, batch_size=batch_size, shuffle=True, seed=seed)
    pred_shuffled = model.predict(shuffled, verbose=0).argmax(1)
    reset = gen.flow(x, batch_size=batch_size, shuffle=True, seed=seed)
    reset.reset()
    pred_reset = model.predict(reset, verbose=0).argmax(1)
    realigned = gen.flow(x, batch_size=batch_size, shuffle=True, seed=seed)
    pred_realigned = model.predict(realigned, verbose=0).argmax(1)
    y_realigned = y_test[realigned.index_array]  # the tutorial's classes[index_array], after predict
    ordered = gen.flow(x, batch_size=batch_size, shuffle=False)
    pred_ordered = model.predict(ordered, verbose=0).argmax(1)
    with_labels = gen.flow(x, y_test, batch_size=batch_size, shuffle=True, seed=seed)
    hits = 0
    for i in range(len(with_labels)):
        xb, yb = with_labels[i]
        hits += int((np.asarray(model.predict_on_batch(xb)).argmax(1) == yb).sum())
    from lib.augment.settings import standardize_batch

    _, evaluate_acc = model.evaluate(standardize_batch(gen, x_test), y_test, batch_size=batch_size, verbose=0)
    return {
        SHUFFLED: float((pred_shuffled == y_test).mean()),
        RESET: float((pred_reset == y_test).mean()),
        REALIGNED: float((pred_realigned == y_realigned).mean()),
        EVALUATE: float(evaluate_acc),
        ORDERED: float((pred_ordered == y_test).mean()),
        LABELS_KEPT: hits / max(1, len(y_test)),
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
        RAW: {"accuracy": float(raw_acc), "loss": float(raw_loss)},
        STANDARDIZED: {"accuracy": float(fixed_acc), "loss": float(fixed_loss)},
    }


def unstandardized_sentence(result: dict) -> str:
    """What unstandardized()'s two rows show, said from its numbers: the accuracy can hide the
    mistake (the argmax may survive the shift) while the loss never does."""
    raw, fixed = result[RAW], result[STANDARDIZED]
    values = {
        "raw_acc": f"{raw['accuracy']:.1%}",
        "fixed_acc": f"{fixed['accuracy']:.1%}",
        "raw_loss": f"{raw['loss']:.3f}",
        "fixed_loss": f"{fixed['loss']:.3f}",
    }
    if raw["accuracy"] < fixed["accuracy"] - 0.01:
        return _(
            "Without the step the accuracy falls from {fixed_acc} to {raw_acc} and the loss rises from "
            "{fixed_loss} to {raw_loss}."
        ).format(**values)
    return _(
        "Here the accuracy hides the mistake ({raw_acc} without the step, {fixed_acc} with it): the highest "
        "probability still lands on the right class often enough. The loss shows it: {raw_loss} against "
        "{fixed_loss}, the mean of -log(probability of the true class), so the raw images get far lower "
        "probabilities for their true class."
    ).format(**values)
