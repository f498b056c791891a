"""Train a model with exact per-class validation metrics at every epoch.

Per-class precision/recall written as Keras metric functions are averaged over batches,
which is not the epoch's precision. Here the validation split is predicted once per epoch
and every number comes from that epoch's whole confusion matrix. That prediction replaces
Keras' own validation pass (no `validation_data` is given to fit), so the exact metrics
cost about what plain `fit(validation_data=...)` costs.
"""

from __future__ import annotations

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
from lib.i18n import N_, Deferred
from lib.tf_import import import_keras
from lib.train import accelerators
from lib.train.models import build_model, compile_model
from lib.train.settings import TrainSettings
from lib.train.transfer import MODES, RunBackbones, build_transfer_model
from lib.train.whole_model import Standardization, make_whole, predict_uint8

# Streamlit ends a training script the same way for a Stop click, a reload, a closed tab or leaving
# the page mid-training (fast reruns stop the running script): the stored message names them all.

EpochHook = Callable[[dict, np.ndarray, int, int], None]  # (history row, val confusion, epoch, epochs)
BatchHook = Callable[[int, int, int], None]  # (epoch, batch, steps per epoch)

__all__ = ["TrainResult", "TrainSettings", "history_columns", "split_validation", "train"]


@dataclass
class TrainResult:
    model: Any  # the whole model (uint8 images in; lib.train.whole_model.core_of gives the classifier)
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
    # The same validation predictions, averaged over batches the way a Keras metric function
    # is: shown beside the exact values to teach why batch averages are wrong.
    for i in range(num_classes):
        cols += [f"val_batch_precision_{i}", f"val_batch_recall_{i}"]
    return cols


def split_validation(ds: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation indices come from the training split; the test set stays held out."""
    return stratified_split(ds.y_train, fraction, seed)


@dataclass
class _Prepared:
    """What fit needs: training batches (streamed from uint8, or a generator flow), the
    validation split and the test set as streamed batches, and the arrays behind them."""

    fit_data: Any
    fit_args: dict
    val_data: Any  # tf.data batches of standardized validation images, in order
    y_val: np.ndarray
    test_data: Any  # tf.data batches of standardized test images, in dataset order
    steps: int
    notes: list[str]
    gen: Any = None  # the generator whose deterministic standardization the batches use
    train_idx: np.ndarray | None = None
    val_idx: np.ndarray | None = None
    random_transforms: bool = False


def _prepare(ds: Dataset, settings: TrainSettings) -> _Prepared:
    """Validation from the training split; deterministic preprocessing for validation and
    test images, random transforms (if any) for training images only. Without random
    transforms every split streams from its uint8 images, standardized per batch."""
    from lib.train.streaming import standardized_batches

    train_idx, val_idx = split_validation(ds, settings.validation_split, settings.seed)
    if len(val_idx) == 0:
        # Every class with 2 or more training images gives validation at least one, whatever
        # the fraction: a larger split cannot help, only more images can.
        raise SettingsError(
            Deferred(
                N_(
                    "the validation split is empty: every class has only one training image; "
                    "add at least one more image per class"
                )
            )
        )
    config, notes = augment.training_config(settings.augment)
    random = augment.has_random_transforms(config)
    gen = augment.make_generator(config, ds.x_train[train_idx] if augment.needs_fit(config) else None)
    if random:
        fit_data = gen.flow(
            ds.x_train[train_idx].astype(np.float32),
            ds.y_train[train_idx],
            batch_size=settings.batch_size,
            shuffle=True,
            seed=settings.seed,
        )
    else:
        fit_data = standardized_batches(
            gen, ds.x_train, train_idx, batch_size=settings.batch_size, y=ds.y_train, seed=settings.seed
        )
    batch = max(256, settings.batch_size)
    return _Prepared(
        fit_data,
        {} if random else {"shuffle": False},  # the batches reshuffle themselves every epoch
        standardized_batches(gen, ds.x_train, val_idx, batch_size=batch),
        ds.y_train[val_idx],
        standardized_batches(gen, ds.x_test, batch_size=batch),
        math.ceil(len(train_idx) / settings.batch_size),
        notes,
        gen,
        train_idx,
        val_idx,
        random,
    )


def _build(ds: Dataset, settings: TrainSettings, store: RunBackbones | None) -> tuple[Any, list[str]]:
    """The compiled model, and a note naming the backbone (and whether it is pretrained)."""
    notes: list[str] = []
    if settings.backbone is not None:
        model, info = build_transfer_model(
            settings.backbone,
            ds.image_shape,
            ds.num_classes,
            mode=settings.transfer,
            unfreeze=settings.unfreeze,
            weights=settings.weights,
            seed=settings.seed,
            store=store,
            head=settings.head,
            backbone_input=settings.backbone_input,
        )
        source = f"pretrained, {info.source}" if info.pretrained else "random weights, NOT pretrained"
        unfrozen = ""
        if settings.transfer == "fine_tune":
            unfrozen = f", last {info.unfrozen} of its {info.trainable_layers} layers with weights train"
            if settings.unfreeze > info.trainable_layers:
                unfrozen += (
                    f" (asked for {settings.unfreeze}: the backbone has only {info.trainable_layers}, so all train)"
                )
        notes.append(f"backbone {info.name}: {source} · {MODES[settings.transfer]}{unfrozen}")
    else:
        model = build_model(settings.model, ds.image_shape, ds.num_classes, seed=settings.seed)
    return compile_model(model, settings.optimizer, settings.learning_rate), notes


def _use_feature_cache(
    model: Any, ds: Dataset, settings: TrainSettings, data: _Prepared, cache_dir: str | Path | None, notes: list[str]
) -> Any:
    """The model to fit: the trainable top on cached features (data's batches replaced), or
    the whole model when nothing can be cached (the reason goes into notes)."""
    from lib.train import feature_cache

    try:
        cached = feature_cache.prepare(
            model, ds, settings, data.gen, data.train_idx, data.val_idx, data.random_transforms, cache_dir
        )
    except Exception as exc:  # e.g. out of memory while computing features: train the plain way
        notes.append(f"features not cached: {one_line(exc, 120, with_type=True)}")
        return model
    if isinstance(cached, str):
        notes.append(cached)
        return model
    notes.append(cached.note)
    data.fit_data, data.val_data, data.test_data = cached.fit_data, cached.val_data, cached.test_data
    data.fit_args = {"shuffle": False}
    return compile_model(cached.top, settings.optimizer, settings.learning_rate)


CHECKED_SAMPLE = 16  # test images the whole model predicts itself when its top gave the rest
SAME_PROBABILITY = 1e-5  # what "the same" means: the bound a fresh load_model().predict() is held to


def _test_probabilities(whole: Any, top: Any | None, data: _Prepared, x_test: np.ndarray, k: int) -> np.ndarray:
    """The whole model's probabilities for the uint8 test images. When its top was fitted on
    cached features (`top`), the top's prediction on the cached test features is the whole
    model's (they are the frozen part's output for those images) without a second pass of the
    frozen part: a spread sample is predicted by the whole model from uint8 and must agree to
    SAME_PROBABILITY, else the whole model predicts every image."""
    if not len(x_test):
        return np.zeros((0, k), np.float32)
    if top is not None:
        prob = np.asarray(top.predict(data.test_data, verbose=0), np.float32)
        sample = np.unique(np.linspace(0, len(x_test) - 1, min(CHECKED_SAMPLE, len(x_test))).round().astype(int))
        # Called directly, not through predict(): a first predict() traces the model (about 1 s).
        own = np.asarray(whole(np.asarray(x_test[sample], np.uint8), training=False), np.float32)
        if prob.shape == (len(x_test), k) and np.abs(own - prob[sample]).max() <= SAME_PROBABILITY:
            return prob
    return predict_uint8(whole, x_test)


def train(
    ds: Dataset,
    settings: TrainSettings,
    *,
    on_epoch: EpochHook | None = None,
    on_batch: BatchHook | None = None,
    should_stop: Callable[[], bool] | None = None,
    tb_dir: str | Path | None = None,
    store: RunBackbones | None = None,
    cache_dir: str | Path | None = None,
    cache_features: bool = True,
    devices: str = "one",
) -> TrainResult:
    """Train, keeping whatever finished: a NaN loss, a Stop request, an error or an interrupt
    (Streamlit's rerun, Ctrl-C) all give a TrainResult labelled failed or stopped.

    A transfer run without random augmentation fits only the layers above its frozen part, on
    that part's output computed once (lib.train.feature_cache; kept in `cache_dir` when given).
    cache_features=False fits the whole model every epoch (to compare the two).
    `devices`: "one" (TensorFlow's default device) or "all" (every local device, mirrored;
    lib.train.accelerators); settings.mixed_precision picks the dtype policy."""
    settings.check()
    keras = import_keras()
    keras.backend.clear_session()  # a fresh graph for every model: no leak across runs
    where = accelerators.placement(devices)
    where.check_batch_size(settings.batch_size)
    with accelerators.precision(settings.mixed_precision) as policy, where.scope():
        return _train(
            ds, settings, where, policy, on_epoch, on_batch, should_stop, tb_dir, store, cache_dir, cache_features
        )


def _train(
    ds: Dataset,
    settings: TrainSettings,
    where: accelerators.Placement,
    policy: str,
    on_epoch: EpochHook | None,
    on_batch: BatchHook | None,
    should_stop: Callable[[], bool] | None,
    tb_dir: str | Path | None,
    store: RunBackbones | None,
    cache_dir: str | Path | None,
    cache_features: bool,
) -> TrainResult:
    from lib.train import callbacks as cbs  # defines Keras classes: import Keras only now

    start = time.perf_counter()
    k = ds.num_classes
    data = _prepare(ds, settings)
    model, build_notes = _build(ds, settings, store)
    build_notes += [note for note in (where.note, accelerators.precision_note(policy)) if note]
    fit_model = model  # the whole model, or its trainable top fitted on cached features
    if settings.is_transfer and cache_features:
        fit_model = _use_feature_cache(model, ds, settings, data, cache_dir, build_notes)
    status = cbs.RunStatus(notes=data.notes + build_notes)
    validation = cbs.ValidationMetrics(
        status, data.val_data, data.y_val, k, settings.batch_size, settings.epochs, on_epoch
    )
    callbacks: list[Any] = [cbs.NanGuard(status), validation]
    tensorboard = None
    if tb_dir is not None:
        tensorboard = cbs.TensorBoardLog(status, validation, tb_dir, ds.class_names)
        callbacks.append(tensorboard)
    if on_batch is not None:
        callbacks.append(cbs.BatchProgress(status, on_batch, data.steps))
    if should_stop is not None:
        callbacks.append(cbs.StopRequest(status, should_stop))

    interrupt = None
    try:
        fit_model.fit(data.fit_data, epochs=settings.epochs, callbacks=callbacks, verbose=0, **data.fit_args)
    except Exception as exc:  # e.g. out of memory: report, keep what finished
        status.status, status.message = "failed", f"training failed: {one_line(exc, with_type=True)}"
    except BaseException as exc:  # Streamlit's stop/rerun or Ctrl-C: keep the partial run, re-raise later
        status.status, status.message = (
            "stopped",
            (
                f"stopped during epoch {status.epoch + 1}: {cbs.INTERRUPTED}"
                if not isinstance(exc, KeyboardInterrupt)
                else f"stopped during epoch {status.epoch + 1}: interrupted (Ctrl-C)"
            ),
        )
        interrupt = exc
    finally:
        if tensorboard is not None:  # every epoch's record written before the logs are stored
            tensorboard.close()
    done = len(validation.rows)
    if status.status == "complete" and done < settings.epochs:
        status.status, status.message = "stopped", f"stopped after {done} of {settings.epochs} epochs"

    # The stored model is whole (uint8 images in, lib.train.whole_model), and the test
    # probabilities are that very model's, in dataset order: the model a user downloads is the
    # model evaluated here.
    whole = make_whole(model, Standardization.of_generator(data.gen))
    test_prob = _test_probabilities(whole, fit_model if fit_model is not model else None, data, ds.x_test, k)
    return TrainResult(
        whole,
        pd.DataFrame(validation.rows, columns=history_columns(k)),
        validation.confusion_stack(),
        ds.y_test.copy(),
        np.asarray(test_prob, dtype=np.float32),
        status.status,
        status.message or (f"trained {done} epochs" if done != 1 else "trained 1 epoch"),
        time.perf_counter() - start,
        status.notes,
        interrupt,
    )
