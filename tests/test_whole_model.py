"""A stored model is whole: `keras.saving.load_model(path).predict(raw_uint8)` in a fresh
process that imports only Keras gives the stored test probabilities, for every kind of run.

One module fixture trains every kind (1 epoch, a small digits subset; mirrored training in a
CLI subprocess with two logical CPUs, as the README says), then ONE fresh Python process loads
every model.keras and predicts the raw uint8 test images; each kind is then its own test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lib.data.dataset import Dataset
from lib.data.sources import load_digits
from lib.errors import StoreError
from lib.runs import whole
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.settings import TrainSettings
from lib.train.whole_model import core_of
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5
STANDARDIZE = {"rescale": 1 / 255, "samplewise_center": True, "samplewise_std_normalization": True}
FEATUREWISE = {"rescale": 1 / 255, "featurewise_center": True, "featurewise_std_normalization": True}
KINDS = {
    "mlp": TrainSettings(model="mlp", epochs=1),
    "cnn": TrainSettings(model="cnn", epochs=1),
    "deep_cnn": TrainSettings(model="deep_cnn", epochs=1),
    "tutorial_cnn": TrainSettings(model="tutorial_cnn", epochs=1),
    "cnn samplewise centre + std": TrainSettings(model="cnn", epochs=1, augment=STANDARDIZE),
    "mlp samplewise centre only": TrainSettings(model="mlp", epochs=1, augment={"samplewise_center": True}),
    "cnn featurewise mean + std": TrainSettings(model="cnn", epochs=1, augment=FEATUREWISE),
    "cnn mixed precision": TrainSettings(model="cnn", epochs=1, mixed_precision=True),
    # Keras backbone, frozen: trained on cached features (lib.train.feature_cache).
    "mobilenetv2 cached features": TrainSettings(model="mobilenetv2", epochs=1, weights="none"),
    # A run backbone: cached feature extraction, and fine-tuning with random augmentation (plain path).
    "run backbone cached": "run:feature_extraction",
    "run backbone fine-tune": "run:fine_tune",
}
FRESH = """
import json, sys
import numpy as np
import keras
jobs = json.loads(sys.argv[1])
out = {}
for name, job in jobs.items():
    model = keras.saving.load_model(job["model"])
    with np.load(job["x"]) as f:
        x = f["x"]
    with np.load(job["stored"]) as f:
        stored = f["y_prob"]
    prob = model.predict(x, verbose=0)
    out[name] = {"diff": float(np.abs(prob - stored).max()), "dtype": str(model.inputs[0].dtype),
                 "n": int(len(x)), "layers": [layer.name for layer in model.layers]}
ours = sorted(m for m in sys.modules if m == "lib" or m.startswith("lib."))
print(json.dumps({"results": out, "our_modules": ours}))
"""


def small_digits() -> Dataset:
    full = load_digits()
    return Dataset(
        "digits", full.x_train[:300], full.y_train[:300], full.x_test[:90], full.y_test[:90], full.class_names
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict:
    """{kind: result of the fresh process} for every kind, plus the mirrored CLI run and an
    old run (bare classifier, as stored before whole models) made whole on the way out."""
    tmp = tmp_path_factory.mktemp("whole")
    store = RunStore(tmp / "runs")
    ds = small_digits()
    np.savez(tmp / "x_small.npz", x=ds.x_test)
    run_ids: dict[str, str] = {}
    base = train_or_load(ds, TrainSettings(model="cnn", epochs=1, seed=3), "small digits", store).run_id
    for name, settings in KINDS.items():
        if isinstance(settings, str):
            mode = settings.split(":")[1]
            aug = {"rotation_range": 10} if mode == "fine_tune" else None
            settings = TrainSettings(model=f"run:{base}", epochs=1, transfer=mode, unfreeze=1, augment=aug)
        outcome = train_or_load(ds, settings, "small digits", store)
        assert outcome.run_id, outcome.store_error
        run_ids[name] = outcome.run_id
    jobs = {
        name: {
            "model": str(store.path(i) / "model.keras"),
            "x": str(tmp / "x_small.npz"),
            "stored": str(store.path(i) / "test_predictions.npz"),
        }
        for name, i in run_ids.items()
    }
    # Mirrored over two logical CPUs, trained by the CLI on the same images (as an .npz).
    mirrored_store = tmp / "mirrored"
    np.savez(tmp / "small.npz", X_train=ds.x_train, y_train=ds.y_train, X_test=ds.x_test, y_test=ds.y_test)
    cli = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", str(tmp / "small.npz"), "--model", "cnn", "--epochs", "1"]
        + ["--devices", "all", "--store", str(mirrored_store)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EXPLORER_LOGICAL_CPUS": "2"},
    )
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
    (mirrored_id,) = [p.name for p in mirrored_store.iterdir() if not p.name.startswith(".")]
    jobs["cnn mirrored"] = {
        "model": str(mirrored_store / mirrored_id / "model.keras"),
        "x": str(tmp / "x_small.npz"),
        "stored": str(mirrored_store / mirrored_id / "test_predictions.npz"),
    }
    # A run stored before whole models: its model.keras is the bare classifier.
    import shutil

    old_store = RunStore(tmp / "old_runs")
    source = run_ids["cnn featurewise mean + std"]
    shutil.copytree(store.path(source), old_store.path(source))
    old = old_store.load(source)
    core_of(old.load_stored_model()).save(old.model_path)
    data, sentence = whole.whole_model_bytes(old_store.load(old.run_id), ds)
    (tmp / "old_made_whole.keras").write_bytes(data)
    jobs["old run made whole"] = {
        "model": str(tmp / "old_made_whole.keras"),
        "x": str(tmp / "x_small.npz"),
        "stored": str(old.path / "test_predictions.npz"),
    }

    fresh = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FRESH), json.dumps(jobs)],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    answer = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert answer["our_modules"] == []  # the fresh process knows nothing of this project
    return {"results": answer["results"], "store": old_store, "ds": ds, "old": old.run_id, "sentence": sentence}


@pytest.mark.parametrize("kind", [*KINDS, "cnn mirrored"])
def test_load_model_predict_raw_uint8_gives_the_stored_probabilities(checked, kind):
    result = checked["results"][kind]
    assert result["dtype"] == "uint8" and result["n"] > 0
    assert result["diff"] <= TOLERANCE, result
    assert "classifier" in result["layers"]


def test_the_deterministic_steps_are_layers_of_the_file(checked):
    layers = {kind: checked["results"][kind]["layers"] for kind in checked["results"]}
    assert layers["cnn"] == ["image_uint8", "rescale", "classifier"]
    assert "samplewise_standardization" in layers["cnn samplewise centre + std"]
    assert "samplewise_center" in layers["mlp samplewise centre only"]
    assert "to_float32" in layers["mlp samplewise centre only"]  # no rescale: pixels stay 0..255
    assert "featurewise_normalization" in layers["cnn featurewise mean + std"]


def test_an_old_run_still_loads_and_its_download_is_made_whole(checked):
    store, ds = checked["store"], checked["ds"]
    old = store.load(checked["old"])
    assert whole.needs_making_whole(old)
    from lib.evaluate import try_image

    model = old.load_model()  # the bare classifier, as every view feeds it
    prob = try_image.predict_image(model, try_image.evaluation_preprocessor(old, ds), ds.x_test[0])
    np.testing.assert_allclose(prob, old.y_prob[0], atol=TOLERANCE)
    assert checked["results"]["old run made whole"]["diff"] <= TOLERANCE
    assert checked["sentence"].endswith("It was made whole on the way out.")
    assert "uint8" in checked["sentence"] and "0, 1, 2" in checked["sentence"]


def test_an_old_run_that_needs_its_data_set_says_what_its_file_expects(checked):
    """Featurewise statistics come from the run's own training images: without them the file
    goes out as stored, with a sentence saying what it expects."""
    old = checked["store"].load(checked["old"])
    data, sentence = whole.whole_model_bytes(old, None)
    assert data == old.model_path.read_bytes()
    assert sentence.startswith("This run was stored before whole models") and "x / 255" in sentence


def test_a_missing_or_damaged_model_file_is_one_line(checked, tmp_path):
    store = checked["store"]
    run = store.load(checked["old"])
    broken = RunStore(tmp_path)
    import shutil

    shutil.copytree(run.path, tmp_path / run.run_id)
    copy = broken.load(run.run_id)
    copy.model_path.write_bytes(b"not a zip")
    with pytest.raises(StoreError, match="cannot be loaded"):
        whole.whole_model_bytes(copy, checked["ds"])
    copy.model_path.unlink()
    with pytest.raises(StoreError, match="model.keras is missing"):
        whole.whole_model_bytes(copy, checked["ds"])
