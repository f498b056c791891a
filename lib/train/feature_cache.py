"""Cached backbone features: the frozen part of a transfer model runs once, not every epoch.

Feature extraction (backbone frozen) and fine-tuning (only the last N layers train) spend
almost all of each epoch pushing every image through layers whose weights never change.
Without random augmentation their output is the same every epoch, so it is computed once
per (data set fingerprint, backbone, weights, input adaptation, split point) and kept as
`<cache_dir>/<key>.npz` (train_or_load uses `<store root>/.cache/features`). Only the
trainable top is fitted, on those cached tensors: a small keras.Model built from the SAME
layer objects as the whole model, so its trained weights are the whole model's, and the
stored model.keras is still the whole model (input adaptation + backbone + head).

Random augmentation changes every image each epoch: nothing can be cached, training goes
the plain way and the run's notes say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import one_line
from lib.tf_import import import_keras
from lib.train.settings import TrainSettings
from lib.train.streaming import standardized_batches

NOT_CACHED_RANDOM = "features not cached: random augmentation changes every image each epoch"
NOT_CACHED_SPLIT = "features not cached: no single tensor separates the frozen layers from the trainable ones"
NOT_CACHED_ALL_TRAIN = "features not cached: every backbone layer trains, nothing is frozen"
PREDICT_BATCH = 64


@dataclass
class Split:
    """The whole model as frozen part -> trainable top, cut at one tensor."""

    frozen: Any  # keras.Model: images (model input) -> the cut tensor
    top: Any  # keras.Model: the cut tensor -> probabilities; shares its layers with the whole model
    cut: str  # where: "backbone output" or "before <layer name>"


@dataclass
class Cached:
    """What training uses instead of images: the top model and batches of cached tensors."""

    top: Any
    fit_data: Any
    val_data: Any
    test_data: Any
    note: str


def _backbone_index(model: Any) -> int:
    keras = import_keras()
    found = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.Model)]
    if len(found) != 1:
        raise ValueError("expected exactly one nested backbone model")
    return found[0]


def _runs_each_epoch(layer: Any) -> bool:
    """A layer that must stay above the cut: it trains, or it is random while training
    (Dropout: fit runs a frozen backbone's Dropout too, so caching its output would change
    the maths)."""
    keras = import_keras()
    random = tuple(
        getattr(keras.layers, name)
        for name in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise")
        + ("GaussianDropout", "AlphaDropout")
        if hasattr(keras.layers, name)
    )
    return bool(layer.weights and layer.trainable) or isinstance(layer, random)


def _upper_part(backbone: Any, first: int) -> tuple[Any, Any, str] | None:
    """(lower, upper, name): the backbone cut just below layer `first`, or as far below it as
    a clean cut exists (a skip connection around the cut makes it impossible there: the cut
    tensor must be the only one flowing past). None: no cut."""
    keras = import_keras()
    layers = backbone.layers
    for j in range(first, 0, -1):
        tensor = layers[j].input
        if not hasattr(tensor, "shape") or isinstance(tensor, list | tuple):
            continue  # a layer with several inputs (Add, Concatenate): not a cut
        try:
            upper = keras.Model(tensor, backbone.output, name=f"{backbone.name}_top")
            lower = keras.Model(backbone.inputs, tensor, name=f"{backbone.name}_frozen")
        except ValueError:  # "not connected to inputs": a skip connection passes this point
            continue
        return lower, upper, layers[j].name
    return None


def split_model(model: Any, settings: TrainSettings) -> Split | str:
    """The model split at the top of its frozen part, or the reason it cannot be."""
    keras = import_keras()
    i = _backbone_index(model)
    backbone = model.layers[i]
    # The adapted images the backbone is called on: the output of the layer before it (a nested
    # model's own `.input` is its inner Input, not the tensor it was called on).
    feeding = model.layers[i - 1].output
    head = model.layers[i + 1 :]
    adapt = keras.Model(model.inputs, feeding, name="input_adaptation")

    above = [j for j, layer in enumerate(backbone.layers) if _runs_each_epoch(layer)]
    if above:
        weighted = [layer for layer in backbone.layers if layer.weights]
        if weighted and all(layer.trainable for layer in weighted):
            return NOT_CACHED_ALL_TRAIN
        parts = _upper_part(backbone, above[0])
        if parts is None:
            return NOT_CACHED_SPLIT
        lower, upper, cut = parts
        images = keras.Input(shape=model.inputs[0].shape[1:], name="image")
        frozen = keras.Model(images, lower(adapt(images), training=False), name="frozen_part")
        x = inputs = keras.Input(shape=lower.output.shape[1:], name="cached")
        x = upper(x, training=False)  # as the whole model calls its backbone
        where = f"before {cut}"
    else:
        images = keras.Input(shape=model.inputs[0].shape[1:], name="image")
        frozen = keras.Model(images, backbone(adapt(images), training=False), name="frozen_part")
        x = inputs = keras.Input(shape=frozen.output.shape[1:], name="cached")
        where = "backbone output"
    for layer in head:
        x = layer(x)
    return Split(frozen, keras.Model(inputs, x, name="trainable_top"), where)


def cache_key(ds: Any, settings: TrainSettings, split: Split, standardization: dict) -> str:
    """Everything the cached tensors depend on: the images, the backbone and its weights,
    how pixels reach it (standardization, input adaptation), and where the model is cut."""
    keras = import_keras()
    weights = settings.weights
    if weights not in ("none", "", "imagenet") and Path(weights).expanduser().is_file():
        st = Path(weights).expanduser().stat()
        weights = f"{Path(weights).expanduser().resolve()}:{st.st_size}:{st.st_mtime_ns}"
    spec = {
        "fingerprint": ds.fingerprint,
        "backbone": settings.model,  # "run:<id>" names the stored run
        "weights": weights,
        "image_shape": list(ds.image_shape),
        "standardization": {k: standardization[k] for k in sorted(standardization)},
        "layers": [layer.name for layer in split.frozen.layers],
        "cut": split.cut,
        "output": list(split.frozen.output.shape[1:]),
        "keras": keras.__version__,
    }
    policy = keras.config.dtype_policy().name  # mixed precision computes other features
    if policy != "float32":  # (left out at float32, so caches made before still match)
        spec["dtype_policy"] = policy
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["train"], f["test"]
    except Exception:  # missing, or a damaged file: compute again
        return None


def _save(path: Path, train: np.ndarray, test: np.ndarray) -> str:
    """Atomic: written to a temporary file, then renamed, so concurrent writers never leave
    a half-written cache file (the last complete one wins; all are equal)."""
    tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, train=train, test=test)
        os.replace(tmp, path)
        return ""
    except OSError as exc:
        return f"; not kept on disk ({one_line(exc, 80)})"
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)


def features(
    ds: Any, settings: TrainSettings, split: Split, gen: Any, cache_dir: Path | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """(train features for every training image, test features, a note): from the cache
    file when there is one, else computed once with the frozen part and kept."""
    key = cache_key(ds, settings, split, _config_of(gen))
    path = Path(cache_dir) / f"{key}.npz" if cache_dir is not None else None
    if path is not None and (found := _load(path)) is not None:
        return found[0], found[1], f"frozen part's output ({split.cut}) read from the cache {key[:12]}"
    t0 = time.perf_counter()
    run, shape = inference(split.frozen), tuple(split.frozen.output.shape[1:])
    train = compute(run, gen, ds.x_train, shape)
    test = compute(run, gen, ds.x_test, shape)
    seconds = time.perf_counter() - t0
    kept = _save(path, train, test) if path is not None else "; not kept on disk (no run store)"
    return (
        train,
        test,
        (
            f"frozen part's output ({split.cut}) computed once for {len(train) + len(test):,} images "
            f"in {seconds:.1f} s{f' ({run.note})' if run.note else ''}{kept or f', cached as {key[:12]}'}"
        ),
    )


@dataclass
class Inference:
    """The frozen part run over a tf.data set of float32 batches: `over(batches, n)` gives the n
    images' features as one float32 array; `note`: said in the run's notes ("" when all is as usual)."""

    over: Callable[[Any, int], np.ndarray]
    note: str = ""


def inference(frozen: Any) -> Inference:
    """The frozen part as one graph holding its weights as constants. The weights never change
    while features are computed, and with constants TensorFlow's graph optimizer folds each
    BatchNormalization into the convolution before it (bench `frozen_pass_speedup[constants]`:
    MobileNetV2's frozen part on 2 CPU cores), and Keras' predict() is not traced for it.
    Mirrored over several devices, predict() runs it, splitting each batch between them."""
    import_keras()
    import tensorflow as tf

    def predicted(batches: Any, n: int) -> np.ndarray:
        return np.asarray(frozen.predict(batches, verbose=0), np.float32)

    if tf.distribute.has_strategy():
        return Inference(predicted)
    if len(frozen.inputs) != 1 or len(frozen.outputs) != 1:  # split_model makes one of each
        return Inference(predicted, "run by predict(): several inputs or outputs")
    function = tf.function(lambda images: frozen(images, training=False))
    spec = tf.TensorSpec((None, *frozen.inputs[0].shape[1:]), tf.float32)
    try:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        graph = convert_variables_to_constants_v2(function.get_concrete_function(spec))
    except Exception as exc:  # e.g. weights over the 2 GB one graph may hold
        return Inference(predicted, f"its weights stayed variables: {one_line(exc, 80, with_type=True)}")

    def over(batches: Any, n: int) -> np.ndarray:
        out: np.ndarray | None = None  # filled batch by batch: the features once, plus one batch
        start = 0
        for batch in batches:
            features = graph(batch)[0].numpy()
            if out is None:
                out = np.empty((n, *features.shape[1:]), np.float32)
            out[start : start + len(features)] = features
            start += len(features)
        assert out is not None and start == n, (start, n)
        return out

    return Inference(over)


def compute(run: Inference, gen: Any, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The frozen part's output (`run`, from inference(); each image's is `shape`) for images x
    (uint8), standardized per batch like training."""
    if len(x) == 0:
        return np.zeros((0, *shape), np.float32)
    return run.over(standardized_batches(gen, x, batch_size=PREDICT_BATCH), len(x))


def _config_of(gen: Any) -> dict:
    """The generator's deterministic standardization settings, as part of the key (a transfer
    run refuses featurewise statistics, see TrainSettings.check)."""
    return {
        "rescale": gen.rescale,
        "samplewise_center": bool(gen.samplewise_center),
        "samplewise_std_normalization": bool(gen.samplewise_std_normalization),
    }


def prepare(
    model: Any,
    ds: Any,
    settings: TrainSettings,
    gen: Any,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    random_transforms: bool,
    cache_dir: Path | None,
) -> Cached | str:
    """Cached tensors and the top model to fit on them, or the reason training goes the plain way."""
    if random_transforms:
        return NOT_CACHED_RANDOM
    split = split_model(model, settings)
    if isinstance(split, str):
        return split
    train, test, note = features(ds, settings, split, gen, cache_dir)
    batch = max(256, settings.batch_size)
    return Cached(
        split.top,
        standardized_batches(None, train, train_idx, batch_size=settings.batch_size, y=ds.y_train, seed=settings.seed),
        standardized_batches(None, train, val_idx, batch_size=batch),
        standardized_batches(None, test, batch_size=batch),
        note + "; only the layers above it train each epoch",
    )
