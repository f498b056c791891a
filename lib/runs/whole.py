"""The whole model of any stored run: what a user downloads, exports or reports on.

Runs trained since whole models store one (lib.train.whole_model). Runs stored before hold
the bare classifier, which expects the run's standardized images (x / 255 and more); such a
model is made whole on the way out, from the run's own settings: the same steps, fitted (for
featurewise statistics) on the same training subset, as built-in layers around it. When that
needs training-set statistics and the run's data set is not at hand, the file goes out as
stored and says so in one sentence.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lib.data.dataset import Dataset
from lib.errors import StoreError, one_line
from lib.evaluate import try_image
from lib.i18n import N_, _
from lib.runs.store import StoredRun
from lib.train import whole_model


def stored_file_is_whole(path: Path) -> bool:
    """Whether a model.keras holds a whole model, read from its config.json (no Keras)."""
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    names = {layer.get("config", {}).get("name") for layer in layers if isinstance(layer, dict)}
    first = layers[0].get("config", {}) if layers and isinstance(layers[0], dict) else {}
    return whole_model.CORE in names and first.get("dtype") == "uint8"


def standardization_of(run: StoredRun, ds: Dataset | None) -> whole_model.Standardization:
    """The run's deterministic steps: an uploaded model's input scale, or the trained run's
    generator settings (featurewise statistics need the run's own data set)."""
    upload = run.record.config.uploaded
    if upload is not None:
        scale, offset = try_image.UPLOADED_SCALES.get(upload.input_scale, try_image.UPLOADED_SCALES["0..1"])
        return whole_model.Standardization(rescale=scale if (scale, offset) != (1.0, 0.0) else None, offset=offset)
    if ds is not None and ds.fingerprint != run.record.dataset.fingerprint:
        ds = None  # another data set's statistics would be wrong
    return whole_model.Standardization.of_generator(try_image.evaluation_generator(run, ds))


def needs_making_whole(run: StoredRun) -> bool:
    return run.path is not None and not stored_file_is_whole(run.model_path)


def whole_model_of(run: StoredRun, ds: Dataset | None = None) -> Any:
    """The run's whole Keras model (uint8 images in). StoreError when the model file is
    missing or damaged, or when an older run needs its data set's statistics and `ds` is not it."""
    stored = run.load_stored_model()
    if whole_model.is_whole(stored):
        return stored
    return whole_model.make_whole(stored, _steps(run, ds), name=f"whole_{run.run_id}")


def _steps(run: StoredRun, ds: Dataset | None) -> whole_model.Standardization:
    try:
        return standardization_of(run, ds)
    except Exception as exc:  # featurewise statistics without the run's data set
        raise StoreError(
            N_("run {run_id} was stored before whole models: {reason}"), run_id=run.run_id, reason=one_line(exc, 160)
        ) from None


def old_run_sentence(run: StoredRun) -> str:
    """What an older run's stored file expects, for when it cannot be made whole here."""
    steps = "; ".join(try_image.preprocessing_notes(run))
    return _(
        "This run was stored before whole models: its model.keras expects the images already preprocessed "
        "as in training ({steps}), for example x / 255."
    ).format(steps=steps)


def whole_model_bytes(run: StoredRun, ds: Dataset | None = None) -> tuple[bytes, str]:
    """(the .keras file a user downloads, a sentence on what it expects). A whole stored file
    goes out as it is; an older one is made whole when it can be, else as stored, said so."""
    if run.path is None or not run.model_path.is_file():
        raise StoreError(N_("run {run_id}: model.keras is missing"), run_id=run.run_id)
    if not needs_making_whole(run):
        return run.model_path.read_bytes(), whole_model.expects(run.record.dataset.image_shape, run.class_names)
    stored = run.load_stored_model()  # a damaged file: StoreError, one line
    try:
        model = whole_model.make_whole(stored, _steps(run, ds), name=f"whole_{run.run_id}")
    except StoreError:
        return run.model_path.read_bytes(), old_run_sentence(run)
    fd, tmp = tempfile.mkstemp(suffix=".keras", prefix="explorer-whole-")
    os.close(fd)
    try:
        model.save(tmp)
        data = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return data, whole_model.expects(shape, run.class_names) + " " + _("It was made whole on the way out.")


def download_sentence(run: StoredRun, ds: Dataset | None = None) -> str:
    """What the downloaded model.keras takes and gives, without building it."""
    shape = run.record.dataset.image_shape
    if not needs_making_whole(run):
        return whole_model.expects(shape, run.class_names)
    try:
        _steps(run, ds)
    except StoreError:
        return old_run_sentence(run)
    return whole_model.expects(shape, run.class_names) + " " + _("It was made whole on the way out.")


def reader(run: StoredRun, ds: Dataset | None = None) -> Callable[[], bytes]:
    """For a download button: the whole model's bytes, built when the user clicks."""
    return lambda: whole_model_bytes(run, ds)[0]
