"""Evaluate a classifier trained elsewhere (.keras or legacy .h5) on the current dataset.

Loaded with safe_mode=True: a Lambda layer carrying code is refused, never run. The model is
checked against the dataset (input shape, number of outputs), its test predictions are made
in dataset order, and it is stored as a run like any other, so every evaluation view works.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.data.dataset import Dataset
from lib.data.paths import printable
from lib.errors import ModelFileError, StoreError, one_line
from lib.runs.config import RunConfig, UploadedModel, baseline_of
from lib.runs.model_budget import check_model_file
from lib.runs.store import RunStore
from lib.tf_import import import_keras
from lib.train.training import TrainResult, history_columns

INPUT_SCALES = {"0..1": 1 / 255, "0..255": 1.0}


def load_user_model(data: bytes, filename: str) -> Any:
    suffix = Path(filename).suffix.lower()
    if suffix not in (".keras", ".h5"):
        raise ModelFileError(f"{filename}: expected a .keras (or legacy .h5) model file")
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
                    f"{filename} was refused: it holds a Lambda layer with code, and loading it "
                    "would run that code (safe_mode)"
                ) from None
            raise ModelFileError(f"{filename} cannot be loaded: {one_line(exc, 160)}") from None


# A .keras file is a zip: config.json and metadata.json are read whole into memory, the
# weights file is extracted. Sizes are read from the zip directory before Keras opens it.
KERAS_JSON_MAX_BYTES = 16 << 20  # a real config.json is kilobytes; 16 MB is generous
KERAS_TOTAL_MAX_BYTES = 2 << 30
KERAS_FREE_BYTES = 64 << 20  # members up to this size are never called a bomb
KERAS_MAX_RATIO = 100


def check_keras_archive(data: bytes, filename: str) -> None:
    """ModelFileError when the .keras zip declares members that would exhaust memory or disk
    (a 1 MB upload whose config.json inflates to 1 GB): checked from the zip directory alone."""
    shown = printable(filename)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{shown} cannot be loaded: not a .keras (zip) file ({one_line(exc, 120)})") from None
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        name = printable(info.filename)
        if info.filename.endswith(".json") and size > KERAS_JSON_MAX_BYTES:
            raise ModelFileError(
                f"{shown} was refused: its {name} declares {size / 1e6:,.0f} MB (a model's JSON is kilobytes)"
            )
        if size > KERAS_FREE_BYTES and size > KERAS_MAX_RATIO * max(info.compress_size, 1):
            raise ModelFileError(
                f"{shown} was refused: {name} expands from {info.compress_size / 1e6:,.1f} MB to "
                f"{size / 1e6:,.0f} MB (over {KERAS_MAX_RATIO}:1), a likely decompression bomb"
            )
    if total > KERAS_TOTAL_MAX_BYTES:
        raise ModelFileError(f"{shown} was refused: it declares {total / 1e9:,.1f} GB uncompressed")


def fit_problems(model: Any, ds: Dataset) -> list[str]:
    """What does not fit between the model and the dataset (empty: it fits)."""
    problems = []
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        return [f"the model has {len(inputs)} inputs; an image classifier has one"]
    expected = tuple(inputs[0].shape[1:])
    got = ds.image_shape
    if len(expected) != 3 or any(e is not None and e != g for e, g in zip(expected, got, strict=False)):
        problems.append(f"the model takes images of shape {expected}, the dataset has {got}")
    outputs = model.outputs
    if len(outputs) != 1:
        problems.append(f"the model has {len(outputs)} outputs; a classifier here has one, of shape (None, K)")
    elif len(outputs[0].shape) != 2:
        problems.append(
            f"the model's output has shape {tuple(outputs[0].shape)}; a classifier gives one row of "
            f"{ds.num_classes} class scores per image, shape (None, {ds.num_classes})"
        )
    elif outputs[0].shape[-1] != ds.num_classes:
        problems.append(f"the model predicts {outputs[0].shape[-1]} classes, the dataset has {ds.num_classes}")
    return problems


def checked_probabilities(out: np.ndarray, n: int, k: int) -> tuple[np.ndarray, list[str]]:
    """The predictions as an (n, k) array of probability rows, with notes; ModelFileError when
    they have another shape or hold NaN/infinite values (never stored with a made-up accuracy)."""
    notes: list[str] = []
    if out.shape != (n, k):
        raise ModelFileError(f"the model's predictions have shape {out.shape}; expected ({n}, {k})")
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).any(axis=1).sum())
        raise ModelFileError(f"the model predicts NaN or infinite values for {bad} of {n} test images: not stored")
    if out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
        notes.append("the outputs were not probabilities: softmax applied")
    return out, notes


def evaluate_upload(
    model: Any, data: bytes, filename: str, ds: Dataset, dataset_label: str, store: RunStore, input_scale: str = "0..1"
) -> tuple[str | None, list[str], str]:
    """Store the uploaded model's test predictions as a run: (run_id, notes, store error)."""
    problems = fit_problems(model, ds)
    if problems:
        raise ModelFileError("; ".join(problems))
    start = time.perf_counter()
    x = ds.x_test.astype(np.float32) * INPUT_SCALES[input_scale]
    try:
        out = np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float64)
    except Exception as exc:  # e.g. a kernel larger than the image: Keras/TensorFlow raise many types
        raise ModelFileError(f"the model cannot predict on this dataset's images: {one_line(exc, 160)}") from None
    out, prob_notes = checked_probabilities(out, len(ds.x_test), ds.num_classes)
    notes = [f"uploaded {printable(filename)}; test images scaled to {input_scale}", *prob_notes]
    digest = hashlib.sha256(data).hexdigest()[:16]
    config = RunConfig.for_upload(ds, dataset_label, UploadedModel(filename, digest, input_scale))
    k = ds.num_classes
    result = TrainResult(
        model,
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
