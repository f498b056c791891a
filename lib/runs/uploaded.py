"""Evaluate a classifier trained elsewhere (.keras or legacy .h5) on the current dataset.

Loaded with safe_mode=True: a Lambda layer carrying code is refused, never run. The model is
checked against the dataset (input shape, number of outputs), its test predictions are made
in dataset order, and it is stored as a run like any other, so every evaluation view works.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.data.dataset import Dataset
from lib.data.paths import printable
from lib.errors import ModelFileError, StoreError, one_line
from lib.evaluate.try_image import UPLOADED_SCALES
from lib.i18n import N_, Deferred, Joined
from lib.runs.config import RunConfig, UploadedModel, baseline_of
from lib.runs.store import RunStore
from lib.tf_import import import_keras
from lib.train.model_budget import check_keras_archive, check_model_file
from lib.train.training import TrainResult, history_columns

# What an uploaded model expects: uint8 pixels times scale plus offset (one table, in try_image).
INPUT_SCALES = UPLOADED_SCALES


def load_user_model(data: bytes, filename: str) -> Any:
    suffix = Path(filename).suffix.lower()
    if suffix not in (".keras", ".h5"):
        raise ModelFileError(N_("{file}: expected a .keras (or legacy .h5) model file"), file=filename)
    if suffix == ".keras":
        check_keras_archive(data, filename)  # before Keras decompresses anything
    check_model_file(data, filename)  # declared weights and architecture, before Keras builds it
    keras = import_keras()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"model{suffix}"
        path.write_bytes(data)
        try:
            return keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:
            text = str(exc)
            if "Lambda" in text or "safe_mode" in text or "unsafe" in text.lower():
                raise ModelFileError(
                    N_(
                        "{file} was refused: it holds a Lambda layer with code, and loading it "
                        "would run that code (safe_mode)"
                    ),
                    file=filename,
                ) from None
            raise ModelFileError(
                N_("{file} cannot be loaded: {reason}"), file=filename, reason=one_line(exc, 160)
            ) from None


def _classes(n: int) -> str:
    return Deferred(N_("{n} class"), n=n) if n == 1 else Deferred(N_("{n} classes"), n=n)


def _output_activation(model: Any) -> str | None:
    """The activation of the layer that makes the model's output (None when it has none)."""
    layer = model.layers[-1] if getattr(model, "layers", None) else None
    while layer is not None and hasattr(layer, "layers") and layer.layers:  # a nested model's last layer
        layer = layer.layers[-1]
    if layer is None:
        return None
    config = layer.get_config()
    activation = config.get("activation")
    return activation if isinstance(activation, str) else None


def fit_problems(model: Any, ds: Dataset) -> list[str]:
    """What does not fit between the model and the dataset (empty: it fits). Another image
    size, a 3-channel model on gray images and one sigmoid unit for 2 classes fit: the model
    is adapted (see `adapted_classifier`)."""
    problems = []
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        return [Deferred(N_("the model has {n} inputs; an image classifier has one"), n=len(inputs))]
    expected = tuple(inputs[0].shape[1:])
    got = ds.image_shape
    if len(expected) != 3:
        problems.append(
            Deferred(
                N_("the model takes inputs of shape {shape}, not images (height, width, channels)"), shape=expected
            )
        )
    elif expected[-1] is not None and expected[-1] != got[-1] and (expected[-1], got[-1]) != (3, 1):
        problems.append(
            Deferred(
                N_("the model takes images with {c} channel(s), the dataset has {got}"), c=expected[-1], got=got[-1]
            )
        )
    outputs = model.outputs
    k = ds.num_classes
    if len(outputs) != 1:
        problems.append(
            Deferred(N_("the model has {n} outputs; a classifier here has one, of shape (None, K)"), n=len(outputs))
        )
    elif len(outputs[0].shape) != 2:
        problems.append(
            Deferred(
                N_(
                    "the model's output has shape {shape}; a classifier gives one row of "
                    "{k} class scores per image, shape (None, {k})"
                ),
                shape=tuple(outputs[0].shape),
                k=k,
            )
        )
    elif outputs[0].shape[-1] == 1 and k == 2:
        pass  # one sigmoid unit for two classes: read as [1 - p, p]
    elif outputs[0].shape[-1] != k:
        problems.append(
            Deferred(
                N_("the model predicts {predicted}, the dataset has {classes}"),
                predicted=_classes(outputs[0].shape[-1]),
                classes=_classes(k),
            )
        )
    elif k > 1 and _output_activation(model) == "sigmoid":
        problems.append(
            Deferred(
                N_(
                    "the model ends in {k} sigmoid units: a multi-label model (each class judged on its own, "
                    "several can be true at once); a classifier here picks one class per image (softmax)"
                ),
                k=k,
            )
        )
    return problems


def checked_probabilities(out: np.ndarray, n: int, k: int) -> tuple[np.ndarray, list[str]]:
    """The predictions as an (n, k) array of probability rows, with notes; ModelFileError when
    they have another shape or hold NaN/infinite values (never stored with a made-up accuracy)."""
    notes: list[str] = []
    if out.shape != (n, k):
        raise ModelFileError(
            N_("the model's predictions have shape {shape}; expected ({n}, {k})"), shape=out.shape, n=n, k=k
        )
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).any(axis=1).sum())
        raise ModelFileError(
            N_("the model predicts NaN or infinite values for {bad} of {n} test images: not stored"), bad=bad, n=n
        )
    if out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
        notes.append("the outputs were not probabilities: softmax applied")
    return out, notes


def adapted_classifier(model: Any, ds: Dataset) -> tuple[Any, list[str]]:
    """The uploaded model behind the layers that make it fit the dataset: gray -> RGB for a
    3-channel model, a bilinear resize to the size it takes (as Try it resizes a photo). Its
    input is the dataset's image, scaled as the model expects."""
    keras = import_keras()
    layers = keras.layers
    h, w, c = ds.image_shape
    shape = tuple(model.inputs[0].shape[1:])
    notes: list[str] = []
    image = keras.Input(shape=ds.image_shape, name="image")
    x = image
    if shape[-1] == 3 and c == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        notes.append("gray images repeated into 3 channels, as the model takes RGB")
    mh, mw = shape[0] or h, shape[1] or w
    if (mh, mw) != (h, w):
        x = layers.Resizing(mh, mw, interpolation="bilinear", name=f"resize_to_{mh}x{mw}")(x)
        notes.append(f"images resized from {w}x{h} to {mw}x{mh} (bilinear, as Try it resizes), inside the model")
    return keras.Model(image, model(x), name="uploaded_adapted"), notes


def _as_probabilities(adapted: Any, out: np.ndarray, k: int) -> tuple[Any, list[str]]:
    """The adapted model with layers that turn its outputs into probability rows: one sigmoid
    unit -> [1 - p, p] (a sigmoid applied first when the unit gives logits), K logits -> softmax."""
    keras = import_keras()
    layers = keras.layers
    y = adapted.outputs[0]
    notes: list[str] = []
    if out.shape[-1] == 1 and k == 2:
        if out.min() < 0 or out.max() > 1:
            y = layers.Activation("sigmoid", name="sigmoid_of_logit", dtype="float32")(y)
            notes.append("the single output unit gave logits: sigmoid applied")
        one_minus = layers.Rescaling(-1.0, offset=1.0, name="one_minus_p", dtype="float32")(y)
        y = layers.Concatenate(name="two_class_probabilities", dtype="float32")([one_minus, y])
        notes.append("one sigmoid unit for 2 classes: read as [1 - p, p] (p is the second class)")
    elif out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        y = layers.Softmax(name="softmax_of_logits", dtype="float32")(y)
        notes.append("the outputs were not probabilities: softmax applied")
    return keras.Model(adapted.inputs, y, name="uploaded_classifier"), notes


def evaluate_upload(
    model: Any, data: bytes, filename: str, ds: Dataset, dataset_label: str, store: RunStore, input_scale: str = "0..1"
) -> tuple[str | None, list[str], str]:
    """Store the uploaded model's test predictions as a run: (run_id, notes, store error).

    The stored model is whole (lib.train.whole_model): uint8 images, scaled to `input_scale`,
    the adaptation layers, the uploaded model, and what turns its outputs into probabilities;
    the stored predictions are that model's."""
    from lib.train.whole_model import Standardization, make_whole, predict_uint8

    problems = fit_problems(model, ds)
    if problems:
        raise ModelFileError(Joined("; ", problems))
    if input_scale not in INPUT_SCALES:
        raise ModelFileError(
            N_("unknown input scale '{scale}': choose {choices}"), scale=input_scale, choices=", ".join(INPUT_SCALES)
        )
    start = time.perf_counter()
    scale, offset = INPUT_SCALES[input_scale]
    steps = Standardization(rescale=scale if (scale, offset) != (1.0, 0.0) else None, offset=offset)
    k = ds.num_classes
    try:
        adapted, notes = adapted_classifier(model, ds)
        raw = predict_uint8(make_whole(adapted, steps), ds.x_test).astype(np.float64)
        if raw.ndim != 2 or raw.shape[-1] not in (1, k) or not np.isfinite(raw).all():
            checked_probabilities(raw, len(ds.x_test), k)  # the one-line reason
        classifier, prob_notes = _as_probabilities(adapted, raw, k)
        whole = make_whole(classifier, steps, name="whole_uploaded")
        out = predict_uint8(whole, ds.x_test).astype(np.float64)
    except ModelFileError:
        raise
    except Exception as exc:  # e.g. a kernel larger than the image: Keras/TensorFlow raise many types
        raise ModelFileError(
            N_("the model cannot predict on this dataset's images: {reason}"), reason=one_line(exc, 160)
        ) from None
    out, _ = checked_probabilities(out, len(ds.x_test), k)
    notes = [f"uploaded {printable(filename)}; test images scaled to {input_scale}", *notes, *prob_notes]
    digest = hashlib.sha256(data).hexdigest()[:16]
    config = RunConfig.for_upload(ds, dataset_label, UploadedModel(filename, digest, input_scale))
    result = TrainResult(
        whole,
        pd.DataFrame(columns=history_columns(k)),
        np.zeros((0, k, k), np.int64),
        ds.y_test.copy(),
        out.astype(np.float32),
        "complete",
        "evaluated an uploaded model",
        time.perf_counter() - start,
        notes,
    )
    try:
        return store.save(config, result, ds.class_names, baseline_of(ds)), notes, ""
    except StoreError as exc:
        return None, notes, one_line(exc)
