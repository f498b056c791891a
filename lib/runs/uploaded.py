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
from lib.errors import ModelFileError, StoreError, one_line
from lib.runs.config import RunConfig, UploadedModel, baseline_of
from lib.runs.store import RunStore
from lib.tf_import import import_keras
from lib.train.training import TrainResult, history_columns

INPUT_SCALES = {"0..1": 1 / 255, "0..255": 1.0}


def load_user_model(data: bytes, filename: str) -> Any:
    suffix = Path(filename).suffix.lower()
    if suffix not in (".keras", ".h5"):
        raise ModelFileError(f"{filename}: expected a .keras (or legacy .h5) model file")
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
    if len(outputs) != 1 or outputs[0].shape[-1] != ds.num_classes:
        width = outputs[0].shape[-1] if len(outputs) == 1 else f"{len(outputs)} outputs"
        problems.append(f"the model predicts {width} classes, the dataset has {ds.num_classes}")
    return problems


def evaluate_upload(
    model: Any, data: bytes, filename: str, ds: Dataset, dataset_label: str, store: RunStore, input_scale: str = "0..1"
) -> tuple[str | None, list[str], str]:
    """Store the uploaded model's test predictions as a run: (run_id, notes, store error)."""
    problems = fit_problems(model, ds)
    if problems:
        raise ModelFileError("; ".join(problems))
    start = time.perf_counter()
    x = ds.x_test.astype(np.float32) * INPUT_SCALES[input_scale]
    out = np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float64)
    notes = [f"uploaded {filename}; test images scaled to {input_scale}"]
    if out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
        notes.append("the outputs were not probabilities: softmax applied")
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
