"""Train a model with exact per-class validation metrics at every epoch.

Per-class precision/recall written as Keras metric functions are averaged over batches,
which is not the epoch's precision. Here the validation split is predicted once per epoch
and every number comes from that epoch's whole confusion matrix. That prediction replaces
Keras' own validation pass (no `validation_data` is given to fit), so the exact metrics
cost about what plain `fit(validation_data=...)` costs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.augment import settings as augment
from lib.data.dataset import Dataset, stratified_split
from lib.errors import SettingsError, one_line
from lib.evaluate import metrics
from lib.tf_import import import_keras
from lib.train.models import build_model, compile_model
from lib.train.transfer import MODES, build_transfer_model, is_transfer

EpochHook = Callable[[dict, np.ndarray, int, int], None]  # (history row, val confusion, epoch, epochs)
BatchHook = Callable[[int, int, int], None]  # (epoch, batch, steps per epoch)


@dataclass(frozen=True)
class TrainSettings:
    model: str = "cnn"
    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    validation_split: float = 0.2
    seed: int = 0
    augment: dict | None = None  # ImageDataGenerator settings (lib.augment), None = off
    # Transfer learning (model = vgg16 | mobilenetv2 | run:<run_id>; ignored by our own models)
    transfer: str = "feature_extraction"  # or "fine_tune"
    unfreeze: int = 0  # fine_tune: how many of the backbone's last weighted layers train
    weights: str = "imagenet"  # imagenet | none (random, not pretrained) | a weights file path

    def check(self) -> TrainSettings:
        if self.epochs < 1 or self.batch_size < 1:
            raise SettingsError("epochs and batch size must be at least 1")
        if not 0 < self.validation_split < 0.9:
            raise SettingsError("validation split must be between 0 and 0.9")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise SettingsError("learning rate must be a positive number")
        if self.augment is not None:
            augment.check(self.augment)
        if is_transfer(self.model):
            if self.transfer not in MODES:
                raise SettingsError(f"unknown transfer mode '{self.transfer}': choose {', '.join(MODES)}")
            if self.unfreeze < 0:
                raise SettingsError("unfreeze must be 0 or more layers")
            if self.augment is not None and any(
                k != "rescale" for k in augment.non_defaults(self.augment) if k in augment.NORMALIZATION
            ):
                raise SettingsError(
                    "a pretrained backbone expects pixels in 0..1 and applies its own preprocess_input: "
                    "turn off centring/normalization in the augmentation settings"
                )
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not is_transfer(self.model):  # own models: transfer fields do not change the run
            for key in ("transfer", "unfreeze", "weights"):
                d.pop(key)
        return d


@dataclass
class TrainResult:
    model: Any
    history: pd.DataFrame  # one row per finished epoch (see history_columns)
    val_confusions: np.ndarray  # (epochs, K, K) int
    y_test: np.ndarray
    test_prob: np.ndarray  # (N, K) float, rows sum to 1, aligned with y_test
    status: str  # complete | stopped | failed
    message: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    interrupt: BaseException | None = None  # e.g. Streamlit's rerun: re-raise it after saving


def history_columns(num_classes: int) -> list[str]:
    cols = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    for i in range(num_classes):
        cols += [f"val_precision_{i}", f"val_recall_{i}", f"val_f1_{i}"]
    return cols


def split_validation(ds: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation indices come from the training split; the test set stays held out."""
    return stratified_split(ds.y_train, fraction, seed)


def epoch_row(
    epoch: int, loss: float, accuracy: float, y_val: np.ndarray, prob: np.ndarray, k: int
) -> tuple[dict, np.ndarray]:
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
    return row, cm


_CALLBACK: type | None = None


def _callback_class() -> type:
    """Defined once, after the lazy Keras import (never inside a page script)."""
    global _CALLBACK
    if _CALLBACK is None:
        keras = import_keras()

        class EpochMetrics(keras.callbacks.Callback):
            def __init__(self, x_val, y_val, k, epochs, steps, batch_size, on_epoch, on_batch, should_stop, tb_dir):
                super().__init__()
                self.x_val, self.y_val, self.k, self.epochs, self.steps = x_val, y_val, k, epochs, steps
                self.batch_size = batch_size
                self.on_epoch, self.on_batch, self.should_stop = on_epoch, on_batch, should_stop
                self.rows: list[dict] = []
                self.confusions: list[np.ndarray] = []
                self.status, self.message = "complete", ""
                self.epoch = 0
                self.tb_problem = ""
                self.writer = _tensorboard_writer(tb_dir)

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is not None and not math.isfinite(float(loss)):
                    self._stop(
                        "failed",
                        f"loss became NaN at epoch {self.epoch + 1}, batch {batch + 1}: try a smaller learning rate",
                    )
                    return
                if self.on_batch:
                    self.on_batch(self.epoch, batch + 1, self.steps)
                if self.should_stop and self.should_stop():
                    self._stop("stopped", f"stopped by the user during epoch {self.epoch + 1}")

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                if self.status == "failed":
                    return
                prob = self.model.predict(self.x_val, batch_size=max(256, self.batch_size), verbose=0)
                row, cm = epoch_row(
                    epoch + 1,
                    float(logs.get("loss", np.nan)),
                    float(logs.get("accuracy", np.nan)),
                    self.y_val,
                    prob,
                    self.k,
                )
                if not math.isfinite(row["loss"]) or not np.isfinite(prob).all():
                    self._stop("failed", f"loss became NaN in epoch {epoch + 1}: try a smaller learning rate")
                    return
                self.rows.append(row)
                self.confusions.append(cm)
                if self.writer is not None:
                    try:
                        _write_tensorboard(self.writer, row, cm, self.k)
                    except Exception as exc:  # logs are a bonus: never lose a training run over them
                        self.writer = None
                        self.tb_problem = f"TensorBoard logs stopped: {type(exc).__name__}"
                if self.on_epoch:
                    self.on_epoch(row, cm, epoch + 1, self.epochs)

            def _stop(self, status, message):
                if self.status == "complete":
                    self.status, self.message = status, message
                self.model.stop_training = True

        _CALLBACK = EpochMetrics
    return _CALLBACK


def _tensorboard_writer(tb_dir: str | Path | None) -> Any:
    if tb_dir is None:
        return None
    import tensorflow as tf

    return tf.summary.create_file_writer(str(tb_dir))


def _write_tensorboard(writer: Any, row: dict, cm: np.ndarray, k: int) -> None:
    import tensorflow as tf

    step = int(row["epoch"])
    with writer.as_default(step=step):
        for key, value in row.items():
            if key != "epoch":
                tf.summary.scalar(
                    key.replace("val_precision_", "val_precision/")
                    .replace("val_recall_", "val_recall/")
                    .replace("val_f1_", "val_f1/"),
                    value,
                )
        # Confusion matrix normalized by true class, as a small grayscale image (bright = many).
        img = metrics.normalize(cm, "true")
        scale = max(1, 64 // k)
        img = np.kron(img, np.ones((scale, scale)))[None, :, :, None].astype(np.float32)
        tf.summary.image("val_confusion_by_true_class", img)
    writer.flush()


def train(
    ds: Dataset,
    settings: TrainSettings,
    *,
    on_epoch: EpochHook | None = None,
    on_batch: BatchHook | None = None,
    should_stop: Callable[[], bool] | None = None,
    tb_dir: str | Path | None = None,
    store: Any = None,
) -> TrainResult:
    settings.check()
    keras = import_keras()
    keras.backend.clear_session()  # a fresh graph for every model: no leak across runs
    start = time.perf_counter()
    k = ds.num_classes
    train_idx, val_idx = split_validation(ds, settings.validation_split, settings.seed)
    if len(val_idx) == 0:
        raise SettingsError("the validation split is empty: use more images or a larger validation split")
    x_tr, y_tr = ds.x_train[train_idx], ds.y_train[train_idx]
    config, notes = augment.training_config(settings.augment)
    gen = augment.make_generator(config, x_tr)
    x_val = augment.standardize_batch(gen, ds.x_train[val_idx])
    y_val = ds.y_train[val_idx]

    if is_transfer(settings.model):
        model, info = build_transfer_model(
            settings.model,
            ds.image_shape,
            k,
            mode=settings.transfer,
            unfreeze=settings.unfreeze,
            weights=settings.weights,
            seed=settings.seed,
            store=store,
        )
        notes.append(
            f"backbone {info.name}: "
            f"{'pretrained, ' + info.source if info.pretrained else 'random weights, NOT pretrained'}"
            f" · {MODES[settings.transfer]}"
            + (f", last {settings.unfreeze} layers" if settings.transfer == "fine_tune" else "")
        )
    else:
        model = build_model(settings.model, ds.image_shape, k, seed=settings.seed)
    model = compile_model(model, settings.optimizer, settings.learning_rate)
    steps = math.ceil(len(x_tr) / settings.batch_size)
    cb = _callback_class()(
        x_val, y_val, k, settings.epochs, steps, settings.batch_size, on_epoch, on_batch, should_stop, tb_dir
    )
    if augment.has_random_transforms(config):
        data = gen.flow(x_tr.astype(np.float32), y_tr, batch_size=settings.batch_size, shuffle=True, seed=settings.seed)
        fit_args: dict = {}
    else:
        data = augment.standardize_batch(gen, x_tr)
        fit_args = {"y": y_tr, "batch_size": settings.batch_size, "shuffle": True}
    interrupt = None
    try:
        model.fit(data, epochs=settings.epochs, callbacks=[cb], verbose=0, **fit_args)
    except Exception as exc:  # e.g. out of memory: report, keep what finished
        cb.status, cb.message = "failed", f"training failed: {type(exc).__name__}: {one_line(exc)}"
    except BaseException as exc:  # Streamlit's stop/rerun or Ctrl-C: keep the partial run, re-raise later
        cb.status, cb.message = "stopped", f"stopped during epoch {cb.epoch + 1}"
        interrupt = exc
    if cb.status == "complete" and len(cb.rows) < settings.epochs:
        cb.status, cb.message = "stopped", f"stopped after {len(cb.rows)} of {settings.epochs} epochs"

    # The test set: deterministic preprocessing only, predicted in dataset order.
    x_test = augment.standardize_batch(gen, ds.x_test)
    test_prob = (
        model.predict(x_test, batch_size=max(256, settings.batch_size), verbose=0) if len(x_test) else np.zeros((0, k))
    )
    history = pd.DataFrame(cb.rows, columns=history_columns(k))
    confusions = np.stack(cb.confusions) if cb.confusions else np.zeros((0, k, k), dtype=np.int64)
    message = cb.message or f"trained {len(cb.rows)} epochs"
    if cb.tb_problem:
        notes.append(cb.tb_problem)
    return TrainResult(
        model,
        history,
        confusions,
        ds.y_test.copy(),
        test_prob.astype(np.float32),
        cb.status,
        message,
        time.perf_counter() - start,
        notes,
        interrupt,
    )


def run_config(ds: Dataset, settings: TrainSettings, dataset_label: str) -> dict:
    """What identifies a run: the data (fingerprint) and every setting."""
    return {"dataset": dataset_config(ds, dataset_label), "settings": json.loads(json.dumps(settings.to_dict()))}


def dataset_config(ds: Dataset, dataset_label: str) -> dict:
    """The dataset part of a run's config.json (the fingerprint is what run ids key on)."""
    return {
        "label": dataset_label,
        "name": ds.name,
        "fingerprint": ds.fingerprint,
        "image_shape": list(ds.image_shape),
        "num_classes": ds.num_classes,
    }
