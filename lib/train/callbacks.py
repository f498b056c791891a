"""Keras callbacks of a training run, one job each (imported only once Keras is needed).

They share one `RunStatus`: the first callback that ends the run (NaN loss, a Stop request)
records why, and the others leave it alone.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import one_line
from lib.evaluate import metrics
from lib.evaluate.figures import confusion_image
from lib.evaluate.fonts import missing_names_note
from lib.tf_import import import_keras

keras = import_keras()

# Why a run the page started ends early: the session cannot tell these apart.
INTERRUPTED = "Stop was pressed, or the page was reloaded, closed or left before training ended"

EpochHook = Callable[[dict, np.ndarray, int, int], None]  # (history row, val confusion, epoch, epochs)
BatchHook = Callable[[int, int, int], None]  # (epoch, batch, steps per epoch)


@dataclass
class RunStatus:
    """How the run ends: complete unless a callback (or train()) says otherwise."""

    status: str = "complete"  # complete | stopped | failed
    message: str = ""
    epoch: int = 0  # the epoch in progress (0-based)
    notes: list[str] = field(default_factory=list)

    def end(self, model: Any, status: str, message: str) -> None:
        if self.status == "complete":
            self.status, self.message = status, message
        if model is not None:
            model.stop_training = True


def epoch_row(
    epoch: int, loss: float, accuracy: float, y_val: np.ndarray, prob: np.ndarray, k: int, batch_size: int = 32
) -> tuple[dict, np.ndarray]:
    """One history row from the epoch's whole validation prediction, and its confusion matrix."""
    cm = metrics.confusion(y_val, prob, k)
    per = metrics.per_class(cm)
    picked = np.clip(prob[np.arange(len(y_val)), y_val], 1e-7, 1.0)  # Keras clips the same way
    row = {
        "epoch": epoch,
        "loss": loss,
        "accuracy": accuracy,
        "val_loss": float(-np.log(picked).mean()) if len(y_val) else float("nan"),
        "val_accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
    }
    for i in range(k):
        row[f"val_precision_{i}"] = float(per["precision"][i])
        row[f"val_recall_{i}"] = float(per["recall"][i])
        row[f"val_f1_{i}"] = float(per["f1-score"][i])
    batch_p, batch_r = metrics.batch_averaged_per_class(y_val, prob, k, batch_size)
    for i in range(k):
        row[f"val_batch_precision_{i}"] = float(batch_p[i])
        row[f"val_batch_recall_{i}"] = float(batch_r[i])
    return row, cm


# BATCH_HOOKS_RUN_ASYNC: the per-batch callbacks say `async_safe`, so Keras runs them in its
# thread pool and the next batch starts without waiting for this one's loss to reach Python
# (a callback that reads batch logs synchronously costs ~10% of a small model's training time).
# Keras waits for all of them at the end of each epoch, before the epoch's metrics.
class NanGuard(keras.callbacks.Callback):
    """A NaN or infinite batch loss ends the run, labelled failed."""

    async_safe = True  # see BATCH_HOOKS_RUN_ASYNC

    def __init__(self, status: RunStatus) -> None:
        super().__init__()
        self.status = status

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.status.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.status.end(
                self.model,
                "failed",
                f"loss became NaN at epoch {self.status.epoch + 1}, batch {batch + 1}: try a smaller learning rate",
            )


class StopRequest(keras.callbacks.Callback):
    """Asked before every batch: when `should_stop()` says so (the Stop button), that batch is
    the last one. Before a batch nothing waits for the previous one to finish, unlike a check
    after it (see BATCH_HOOKS_RUN_ASYNC), so the question costs nothing."""

    def __init__(self, status: RunStatus, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.status, self.should_stop = status, should_stop

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.status.status == "complete" and self.should_stop():
            self.status.end(self.model, "stopped", f"stopped during epoch {self.status.epoch + 1}: {INTERRUPTED}")


class BatchProgress(keras.callbacks.Callback):
    """Reports (epoch, batch, steps) after batches, never going backwards within an epoch."""

    async_safe = True  # see BATCH_HOOKS_RUN_ASYNC

    def __init__(self, status: RunStatus, on_batch: BatchHook, steps: int) -> None:
        super().__init__()
        self.status, self.on_batch, self.steps = status, on_batch, steps
        self.lock = threading.Lock()
        self.last = (-1, 0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        with self.lock:
            self.last = (epoch, 0)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        with self.lock:  # async hooks of one epoch may finish out of order: report only progress
            done = (self.status.epoch, batch + 1)
            if self.status.status == "failed" or done <= self.last:
                return
            self.last = done
            self.on_batch(done[0], done[1], self.steps)


class ValidationMetrics(keras.callbacks.Callback):
    """Predicts the whole validation split once per epoch: every number of the epoch's
    history row comes from that epoch's confusion matrix (not an average over batches)."""

    def __init__(
        self,
        status: RunStatus,
        x_val: np.ndarray,
        y_val: np.ndarray,
        num_classes: int,
        batch_size: int,
        epochs: int,
        on_epoch: EpochHook | None = None,
    ) -> None:
        super().__init__()
        self.status, self.x_val, self.y_val, self.k = status, x_val, y_val, num_classes
        self.batch_size, self.epochs, self.on_epoch = batch_size, epochs, on_epoch
        self.rows: list[dict] = []
        self.confusions: list[np.ndarray] = []
        self._infer: Any = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.status.status == "failed":
            return
        prob = self._predict()
        loss, accuracy = float(logs.get("loss", np.nan)), float(logs.get("accuracy", np.nan))
        row, cm = epoch_row(epoch + 1, loss, accuracy, self.y_val, prob, self.k, self.batch_size)
        if not math.isfinite(row["loss"]) or not np.isfinite(prob).all():
            self.status.end(self.model, "failed", f"loss became NaN in epoch {epoch + 1}: try a smaller learning rate")
            return
        self.rows.append(row)
        self.confusions.append(cm)
        if self.on_epoch:
            self.on_epoch(row, cm, epoch + 1, self.epochs)

    def _predict(self) -> np.ndarray:
        """The whole validation split's probabilities, in order. x_val: an array, or tf.data
        batches (streamed from uint8). For batches, one traced inference function is kept and
        called batch by batch: `model.predict` sets up an iterator, callbacks and a progress
        bar on every call, which cost more than the prediction itself for a small split. Under
        MirroredStrategy the call runs once, not per device, on the whole split."""
        if isinstance(self.x_val, np.ndarray):
            return self.model.predict(self.x_val, verbose=0, batch_size=max(256, self.batch_size))
        if self._infer is None:
            import tensorflow as tf

            model = self.model  # one trace for every batch size: the last batch is smaller
            spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
            self._infer = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        parts = [np.asarray(self._infer(b[0] if isinstance(b, tuple) else b), np.float32) for b in self.x_val]
        return np.concatenate(parts) if parts else np.zeros((0, self.k), np.float32)

    def confusion_stack(self) -> np.ndarray:
        if not self.confusions:
            return np.zeros((0, self.k, self.k), dtype=np.int64)
        return np.stack(self.confusions)


# Above this many classes the per-epoch confusion picture is skipped (a note says so).
TB_PICTURE_MAX_CLASSES = 100


class TensorBoardLog(keras.callbacks.Callback):
    """Per-epoch scalars (per class too) and the validation confusion matrix as a labelled
    heatmap image. Logs are a bonus: a failure stops the logging, never the run, and leaves a note.

    An epoch's record is one Summary protocol buffer (every scalar and the PNG heatmap, whose
    fixed parts are drawn once: lib.evaluate.figures) written by TensorFlow's C++ event writer in
    one op: writing scalar by scalar cost ~15 ms an epoch, and TensorBoard's pure-Python writer
    checksums records byte by byte in Python. Drawing in a background thread measured slower: it
    competes with the training loop for the GIL. `close()` flushes the file: train() calls it
    however fit ended."""

    def __init__(
        self, status: RunStatus, metrics_cb: ValidationMetrics, tb_dir: str | Path, class_names: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        import tensorflow as tf

        self.status, self.metrics_cb, self.class_names = status, metrics_cb, class_names
        self.writer: Any = tf.summary.create_file_writer(str(tb_dir))
        self.failed = False
        k = len(class_names) or metrics_cb.k
        # The picture grows with the square of the classes (>= 22 px a class: 1,000 classes
        # are a 22,000 px square); beyond the limit only the numbers are logged, with a note.
        self.picture = k <= TB_PICTURE_MAX_CLASSES
        if not self.picture:
            status.notes.append(
                f"TensorBoard gets no confusion-matrix picture: {k:,} classes "
                f"(it is drawn for at most {TB_PICTURE_MAX_CLASSES}); the numbers are all logged"
            )
        if self.picture and (note := missing_names_note(tuple(class_names))):  # once per run
            status.notes.append(note)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.failed or len(self.metrics_cb.rows) != epoch + 1:
            return  # logging stopped, or no row for this epoch (failed run)
        cm = self.metrics_cb.confusions[-1]
        names = self.class_names or tuple(str(i) for i in range(len(cm)))
        try:
            import tensorflow as tf

            row = self.metrics_cb.rows[-1]
            with self.writer.as_default():
                tf.summary.experimental.write_raw_pb(
                    tensorboard_summary(row, cm, names, picture=self.picture).SerializeToString(), row["epoch"]
                )
        except Exception as exc:
            self.failed = True
            self.status.notes.append(f"TensorBoard logs stopped: {one_line(exc, 120, with_type=True)}")

    def close(self) -> None:
        try:
            self.writer.flush()
            self.writer.close()
        except Exception as exc:
            if not self.failed:
                self.status.notes.append(f"TensorBoard logs not closed: {one_line(exc, 120, with_type=True)}")


def tensorboard_name(key: str) -> str:
    """History column -> TensorBoard tag: per-class values grouped by metric (val_precision/3)."""
    for metric in ("val_batch_precision_", "val_batch_recall_", "val_precision_", "val_recall_", "val_f1_"):
        if key.startswith(metric):
            return f"{metric[:-1]}/{key[len(metric) :]}"
    return key


def tensorboard_summary(row: dict, cm: np.ndarray, class_names: tuple[str, ...], *, picture: bool = True) -> Any:
    """The epoch's TensorBoard record: every history value as a scalar, and (with `picture`)
    the labelled confusion heatmap as a PNG image."""
    import io

    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary

    values = [Summary.Value(tag=tensorboard_name(k), simple_value=float(v)) for k, v in row.items() if k != "epoch"]
    if not picture:
        return Summary(value=values)
    image = confusion_image(cm, class_names)
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG", compress_level=1)
    picture = Summary.Image(
        height=image.shape[0], width=image.shape[1], colorspace=3, encoded_image_string=png.getvalue()
    )
    values.append(Summary.Value(tag="val_confusion_by_true_class", image=picture))
    return Summary(value=values)
