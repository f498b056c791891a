"""Export a stored run for phones and small boards: LiteRT (`.tflite`), four quantizations.

The exported graph is the run's whole model (lib.runs.whole): it takes the same raw uint8
images as model.keras. Each file is run back through the LiteRT interpreter on the whole
test split, one image at a time (batch 1, as a phone runs it), so the explorer can show,
beside the Keras model, what quantization did: size, accuracy, per-class recall and
precision, agreement and milliseconds per image on this machine.

Full-integer int8 calibrates its activation ranges on representative images from the run's
TRAINING images (the subset training used; never the test split, which stays held out).

Files: `<folder>/model_<kind>.tflite`, `model_<kind>.npz` (the test probabilities) and
`model_<kind>.json` (sizes, timings), the kind being what the file holds (float32, float16,
dynamic, int8; FILE_KINDS); exports written before float32 had its name (`model_none.*`) are
still read, and replaced by the next float32 export. Written as temporary files and renamed into
place, the JSON last: an interrupted export leaves nothing that is listed as complete. The
default folder is `<store>/.exports/<run_id>/`, outside the run folder: the run is untouched.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.data.dataset import Dataset
from lib.errors import ExportError, StoreError, one_line
from lib.evaluate import metrics
from lib.i18n import N_, Deferred, _
from lib.runs.store import StoredRun, pid_alive

QUANTIZATIONS = {  # shown through _() (the page's selectbox); the codes are the CLI's --quantize values
    "none": N_("float32 (no quantization)"),
    "float16": N_("float16 weights"),
    "dynamic": N_("dynamic range (int8 weights, float activations)"),
    "int8": N_("full integer int8 (weights and activations)"),
}
TITLES = {
    "none": "LiteRT float32",
    "float16": "LiteRT float16",
    "dynamic": "LiteRT dynamic range",
    "int8": "LiteRT int8",
}
# The files' names say what they hold: --quantize none is a float32 file, never "model_none".
FILE_KINDS = {"none": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8"}
OLD_FILE_KINDS = {"none": "none"}  # names of exports written before; read, replaced on the next export
REPRESENTATIVE_IMAGES = 200  # TensorFlow's guide: "around 100-500 samples" calibrate int8
KERAS_TIMED_IMAGES = 200
EXPORTS = ".exports"


def default_folder(store_root: Path, run_id: str) -> Path:
    return Path(store_root) / EXPORTS / run_id


def runtime() -> tuple[Any, str]:
    """(the Interpreter class, its name): the maintained LiteRT runtime when installed,
    else TensorFlow's own interpreter."""
    try:
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, f"LiteRT interpreter (ai-edge-litert {version('ai-edge-litert')})"
    except ImportError:
        from lib.tf_import import import_keras

        import_keras()
        import tensorflow as tf

        return tf.lite.Interpreter, f"TensorFlow's tf.lite.Interpreter (TensorFlow {tf.__version__})"


@dataclass(frozen=True)
class Export:
    quantize: str
    tflite: Path
    bytes: int
    ms_per_image: float
    keras_ms_per_image: float
    keras_bytes: int
    representative: int  # training images used to calibrate (int8), 0 otherwise
    runtime: str
    y_prob: np.ndarray

    @property
    def title(self) -> str:
        return TITLES[self.quantize]


def representative_images(run: StoredRun, ds: Dataset, n: int = REPRESENTATIVE_IMAGES) -> np.ndarray:
    """Up to n images, evenly spread, from the training images the run trained on (its
    training split minus the validation part; an uploaded model: the training split)."""
    if run.record.config.is_uploaded:
        pool = np.arange(len(ds.x_train))
    else:
        from lib.train.training import split_validation

        pool, _val = split_validation(ds, run.settings.validation_split, run.settings.seed)
    pool = np.sort(pool)
    if len(pool) > n:
        pool = pool[np.linspace(0, len(pool) - 1, n).round().astype(int)]
    return np.asarray(ds.x_train[pool], np.uint8)


def describe_failure(text: str) -> str:
    """'layer X: why' from a converter error: the layer is read from the failing operation's
    location (`fused["Op:", "model/layer/Op@..."]`), the reason from the operation it names."""
    where = re.search(r'fused\["[^"]*", "([^"@]+)@', text)
    layer = ""
    if where:
        parts = where.group(1).split("/")
        layer = parts[-2] if len(parts) > 2 else parts[-1]
    ops = re.findall(r"\btf\.(\w+)\(", text)
    if ops:
        reason = f"its operation {ops[0]} has no LiteRT built-in kernel"
    else:
        line = next(
            (ln for ln in text.splitlines() if "error:" in ln), text.strip().splitlines()[0] if text.strip() else ""
        )
        reason = line.split("error:", 1)[-1].strip()[:200] or "the converter refused it"
    return f"layer {layer}: {reason}" if layer else reason


def convert(model: Any, quantize: str, representative: np.ndarray | None = None) -> bytes:
    """The whole Keras model as a .tflite flatbuffer (through a SavedModel). ExportError with
    one line naming the layer and the reason when the converter refuses it."""
    if quantize not in QUANTIZATIONS:
        raise ExportError(
            N_("unknown quantization '{quantize}': choose {choices}"),
            quantize=quantize,
            choices=", ".join(QUANTIZATIONS),
        )
    from lib.tf_import import import_keras

    import_keras()
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="explorer-export-") as d:
        try:
            model.export(d, format="tf_saved_model", verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(d)
            if quantize != "none":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if quantize == "int8":
                if representative is None or len(representative) == 0:
                    raise ExportError(
                        Deferred(N_("int8 needs representative training images: the run's training split is empty"))
                    )

                def images():
                    for i in range(len(representative)):
                        yield [representative[i : i + 1]]

                converter.representative_dataset = images
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            return converter.convert()
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(
                N_("cannot convert to LiteRT ({quantize}): {reason}"),
                quantize=quantize,
                reason=describe_failure(str(exc)),
            ) from None


def run_tflite(content: bytes, x: np.ndarray) -> tuple[np.ndarray, float]:
    """(probabilities for every image of x, milliseconds per image): one image per invoke."""
    interpreter_class, _name = runtime()
    interpreter = interpreter_class(model_content=content)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if inp["dtype"] != np.uint8:
        raise ExportError(N_("the exported model takes {dtype}, not uint8 images"), dtype=np.dtype(inp["dtype"]).name)
    results = np.zeros((len(x), int(out["shape"][-1])), np.float32)
    start = time.perf_counter()
    for i in range(len(x)):
        interpreter.set_tensor(inp["index"], x[i : i + 1])
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if out["dtype"] != np.float32:  # a quantized output: back to probabilities
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results[i] = y[0]
    ms = (time.perf_counter() - start) * 1000 / max(len(x), 1)
    return results, ms


def keras_ms_per_image(model: Any, x: np.ndarray) -> float:
    """Keras predict, batch 1, on the same kind of images (after one warm-up call)."""
    model.predict(x[:1], batch_size=1, verbose=0)
    start = time.perf_counter()
    model.predict(x, batch_size=1, verbose=0)
    return (time.perf_counter() - start) * 1000 / max(len(x), 1)


def _names(quantize: str, file_kind: str | None = None) -> dict[str, str]:
    file_kind = file_kind or FILE_KINDS[quantize]
    return {kind: f"model_{file_kind}.{kind}" for kind in ("tflite", "npz", "json")}


def tflite_name(quantize: str) -> str:
    """The .tflite file's name for a quantization: model_float32.tflite for "none"."""
    return _names(quantize)["tflite"]


def _stored_names(folder: Path, quantize: str) -> dict[str, str] | None:
    """The names of the stored export of `quantize` in `folder` (its JSON exists): today's, else an
    older export's; None when there is none."""
    for file_kind in (FILE_KINDS[quantize], OLD_FILE_KINDS.get(quantize)):
        if file_kind is not None and (folder / _names(quantize, file_kind)["json"]).is_file():
            return _names(quantize, file_kind)
    return None


def export_run(run: StoredRun, ds: Dataset, quantize: str = "none", folder: Path | None = None) -> Export:
    """Convert, run back on the whole test split, and write the files atomically."""
    from lib.runs import whole

    if ds.fingerprint != run.record.dataset.fingerprint:
        raise ExportError(
            N_("the data set is not the one run {run_id} was trained on: its test split is needed"), run_id=run.run_id
        )
    if quantize not in QUANTIZATIONS:
        raise ExportError(
            N_("unknown quantization '{quantize}': choose {choices}"),
            quantize=quantize,
            choices=", ".join(QUANTIZATIONS),
        )
    if run.path is None:
        raise ExportError(Deferred(N_("this run could not be stored: there is no model file to export")))
    folder = Path(folder) if folder is not None else default_folder(run.path.parent, run.run_id)
    _check_writable(folder)
    model = whole.whole_model_of(run, ds)
    representative = representative_images(run, ds) if quantize == "int8" else None
    content = convert(model, quantize, representative)
    y_prob, ms = run_tflite(content, np.asarray(ds.x_test, np.uint8))
    timed = np.asarray(ds.x_test[:KERAS_TIMED_IMAGES], np.uint8)
    keras_ms = keras_ms_per_image(model, timed) if len(timed) else float("nan")
    _cls, name = runtime()
    meta = {
        "run_id": run.run_id,
        "quantize": quantize,
        "bytes": len(content),
        "ms_per_image": ms,
        "keras_ms_per_image": keras_ms,
        "keras_bytes": run.model_path.stat().st_size,
        "representative": 0 if representative is None else len(representative),
        "runtime": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _write(folder, quantize, content, y_prob, meta)
    return load_export(folder, quantize)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(
            N_("cannot write the export to {folder}: {reason}"), folder=folder, reason=exc.strerror or exc
        ) from None


def _clean_stale_parts(folder: Path) -> None:
    """Temporary files an export killed half-way left (`.tmp-<pid>-...`), removed once that
    process is gone (never those of an export still running, in this or another process)."""
    for entry in folder.glob(".tmp-*"):
        pid = entry.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)) and entry.is_file():
            entry.unlink(missing_ok=True)


def _write(folder: Path, quantize: str, content: bytes, y_prob: np.ndarray, meta: dict) -> None:
    """Temporary files first, renamed into place, the JSON (the 'complete' mark) last."""
    _clean_stale_parts(folder)
    names = _names(quantize)
    old = _names(quantize, OLD_FILE_KINDS[quantize]) if quantize in OLD_FILE_KINDS else {}
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-"
    tmp = {kind: folder / f"{tag}{name}" for kind, name in names.items()}
    try:
        for json_name in (names["json"], old.get("json")):  # an older export stops counting as complete now
            if json_name:
                (folder / json_name).unlink(missing_ok=True)
        tmp["tflite"].write_bytes(content)
        np.savez(tmp["npz"], y_prob=y_prob.astype(np.float32))
        tmp["json"].write_text(json.dumps(meta, indent=2))
        for kind in ("tflite", "npz", "json"):
            os.replace(tmp[kind], folder / names[kind])
        for name in old.values():  # an export under the older name is replaced by this one
            (folder / name).unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(
            N_("cannot write the export to {folder}: {reason}"), folder=folder, reason=exc.strerror or exc
        ) from None
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


def load_export(folder: Path, quantize: str) -> Export:
    names = _stored_names(folder, quantize) or _names(quantize)
    try:
        meta = json.loads((folder / names["json"]).read_text())
        with np.load(folder / names["npz"], allow_pickle=False) as f:
            y_prob = f["y_prob"]
        size = (folder / names["tflite"]).stat().st_size
    except (OSError, ValueError, KeyError) as exc:
        raise StoreError(
            N_("the {quantize} export in {folder} cannot be read ({reason})"),
            quantize=quantize,
            folder=folder,
            reason=one_line(exc, 100),
        ) from None
    if size != int(meta.get("bytes", -1)):
        raise StoreError(N_("the {quantize} export in {folder} is incomplete"), quantize=quantize, folder=folder)
    return Export(
        quantize,
        folder / names["tflite"],
        size,
        float(meta["ms_per_image"]),
        float(meta["keras_ms_per_image"]),
        int(meta["keras_bytes"]),
        int(meta.get("representative", 0)),
        str(meta.get("runtime", "")),
        y_prob,
    )


def list_exports(run: StoredRun, folder: Path | None = None) -> list[Export]:
    """The complete exports of a run, in QUANTIZATIONS order (damaged or partial ones left out)."""
    if run.path is None:
        return []
    folder = Path(folder) if folder is not None else default_folder(run.path.parent, run.run_id)
    found = []
    for quantize in QUANTIZATIONS:
        if _stored_names(folder, quantize) is not None:
            try:
                export = load_export(folder, quantize)
            except StoreError:
                continue
            if export.y_prob.shape == run.y_prob.shape:
                found.append(export)
    return found


def comparison_table(run: StoredRun, exports: list[Export]) -> pd.DataFrame:
    """One row per model: the Keras model, then each export. Size, accuracy, balanced
    accuracy, agreement with the Keras model's predicted class, and ms per image."""
    k = len(run.class_names)
    keras_pred = run.y_prob.argmax(1)
    rows = []
    keras_ms = exports[0].keras_ms_per_image if exports else float("nan")
    keras_bytes = exports[0].keras_bytes if exports else (run.model_path.stat().st_size if run.path else 0)
    for title, y_prob, size, ms in [("Keras model.keras", run.y_prob, keras_bytes, keras_ms)] + [
        (e.title, e.y_prob, e.bytes, e.ms_per_image) for e in exports
    ]:
        cm = metrics.confusion(run.y_true, y_prob, k)
        rows.append(
            {
                "model": title,
                "file size (KB)": size / 1024,
                "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
                "balanced accuracy": metrics.balanced_accuracy(cm),
                "agreement": float((y_prob.argmax(1) == keras_pred).mean()) if len(keras_pred) else float("nan"),
                "ms per image": ms,
            }
        )
    return pd.DataFrame(rows)


def per_class_table(run: StoredRun, export: Export) -> pd.DataFrame:
    """Per class: recall and precision of the Keras model and of the export, and the change."""
    k = len(run.class_names)
    before = metrics.per_class(metrics.confusion(run.y_true, run.y_prob, k))
    after = metrics.per_class(metrics.confusion(run.y_true, export.y_prob, k))
    return pd.DataFrame(
        {
            "class": list(run.class_names),
            "recall (Keras)": before["recall"].to_numpy(),
            "recall (LiteRT)": after["recall"].to_numpy(),
            "recall change": after["recall"].to_numpy() - before["recall"].to_numpy(),
            "precision (Keras)": before["precision"].to_numpy(),
            "precision (LiteRT)": after["precision"].to_numpy(),
            "precision change": after["precision"].to_numpy() - before["precision"].to_numpy(),
        }
    )


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison_table or per_class_table as the page writes it, for printing: every share in
    percent, a change of a share in percentage points (its column named "... (pp)"), n/a where a
    value is missing (an empty split)."""

    def spec(column: str) -> str | None:
        if column.endswith("change"):
            return "+.1f"  # of the change times 100
        if column in ("accuracy", "balanced accuracy", "agreement") or column.startswith(("recall", "precision")):
            return ".1%"
        return {"file size (KB)": ",.1f", "ms per image": ".2f"}.get(column)

    shown = table.copy()
    for column in shown.columns:
        fmt = spec(column)
        if fmt is not None:
            scale = 100 if column.endswith("change") else 1
            shown[column] = [format(v * scale, fmt) if np.isfinite(v) else _("n/a") for v in shown[column]]
    return shown.rename(columns={c: f"{c} (pp)" for c in shown.columns if c.endswith("change")})


def costliest_class(table: pd.DataFrame) -> tuple[str, float, str]:
    """(class, change, which metric) where quantization costs most: the largest drop in
    recall or precision (recall first on ties)."""
    recall = table["recall change"].fillna(0).to_numpy()
    precision = table["precision change"].fillna(0).to_numpy()
    i, j = int(recall.argmin()), int(precision.argmin())
    if precision[j] < recall[i]:
        return str(table["class"].iloc[j]), float(precision[j]), "precision"
    return str(table["class"].iloc[i]), float(recall[i]), "recall"


def lesson(table: pd.DataFrame, export: Export) -> str:
    """The sentence the page draws from the per-class table, in the caller's language (`_()` at call
    time: the page's session, the CLI's --lang, else English)."""
    name, change, metric = costliest_class(table)
    if change >= 0:
        return _("{title} costs no class anything on this test set: no recall or precision went down.").format(
            title=export.title
        )
    row = table[table["class"] == name].iloc[0]
    # A change of a rate is in percentage points, not per cent: 95.0% -> 92.8% is -2.2 points.
    sentence = (
        _(
            "{title} costs class '{name}' the most: its recall goes from {keras} in the Keras model to {litert} "
            "in the exported file, {change} percentage points."
        )
        if metric == "recall"
        else _(
            "{title} costs class '{name}' the most: its precision goes from {keras} in the Keras model to "
            "{litert} in the exported file, {change} percentage points."
        )
    )
    return sentence.format(
        title=export.title,
        name=name,
        keras=f"{row[f'{metric} (Keras)']:.1%}",  # a rate in percent, as the page's tables show it
        litert=f"{row[f'{metric} (LiteRT)']:.1%}",
        change=f"{change * 100:+.1f}",
    )
