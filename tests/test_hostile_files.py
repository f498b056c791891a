"""Issue 12, odd files: nothing a user made is lost or silently wrong, and no raw traceback.

Uploaded models whose predictions are unusable, .npz files with odd arrays and dtypes,
damaged run folders, an unwritable CLI store, temporary folders a killed process left,
and augmentation JSON that parses but cannot be used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lib import cli
from lib.augment.settings import from_json
from lib.data.dataset import DatasetError
from lib.data.sources import load_digits, load_npz
from lib.errors import ModelFileError, SettingsError
from lib.runs.store import FILES, RunStore, clean_stale_temporaries
from tests.helpers import app_on_page, save_npz, tiny_arrays

pytestmark = pytest.mark.slow


# --- uploaded models: predictions checked before anything is stored ---------------------------


def _keras():
    from lib.tf_import import import_keras

    return import_keras()


def _save(model, tmp_path, name="m.keras") -> bytes:
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def test_model_that_outputs_nan_is_not_stored(tmp_path):
    from lib.runs.uploaded import evaluate_upload, load_user_model

    keras = _keras()
    inp = keras.Input((8, 8, 1))
    dense = keras.layers.Dense(10)
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    dense.set_weights([np.full((64, 10), np.nan, np.float32), np.zeros(10, np.float32)])
    data = _save(model, tmp_path)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ModelFileError, match="NaN or infinite values for 450 of 450"):
        evaluate_upload(load_user_model(data, "m.keras"), data, "m.keras", load_digits(), "digits", store)
    assert store.list_runs() == ([], [])


def test_model_whose_predict_fails_is_one_line(tmp_path):
    from lib.runs.uploaded import evaluate_upload, load_user_model

    keras = _keras()
    inp = keras.Input((None, None, 1))  # any size fits the checks; a 16x16 kernel does not fit 8x8 images
    x = keras.layers.Conv2D(4, 16)(inp)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    data = _save(model, tmp_path)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ModelFileError, match="cannot predict on this dataset's images") as err:
        evaluate_upload(load_user_model(data, "m.keras"), data, "m.keras", load_digits(), "digits", store)
    assert "\n" not in str(err.value)
    assert store.list_runs() == ([], [])


def test_output_shape_and_two_outputs_are_named_plainly():
    from lib.runs.uploaded import fit_problems

    keras = _keras()
    ds = load_digits()
    inp = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inp)
    three_d = keras.Model(inp, keras.layers.Reshape((2, 10))(keras.layers.Dense(20)(flat)))
    assert "shape (None, 2, 10)" in fit_problems(three_d, ds)[0]
    two = keras.Model(inp, [keras.layers.Dense(10)(flat), keras.layers.Dense(10)(flat)])
    assert fit_problems(two, ds) == ["the model has 2 outputs; a classifier here has one, of shape (None, K)"]


def test_checked_probabilities():
    from lib.runs.uploaded import checked_probabilities

    probs, notes = checked_probabilities(np.array([[2.0, 0.0], [0.0, 1.0]]), 2, 2)
    np.testing.assert_allclose(probs.sum(1), 1)
    assert notes == ["the outputs were not probabilities: softmax applied"]
    with pytest.raises(ModelFileError, match=r"shape \(2, 2, 3\)"):
        checked_probabilities(np.zeros((2, 2, 3)), 2, 3)
    with pytest.raises(ModelFileError, match="NaN"):
        checked_probabilities(np.array([[np.inf, 0.0], [0.5, 0.5]]), 2, 2)


# --- .npz arrays and dtypes ------------------------------------------------------------------------


def test_npz_with_an_empty_test_split_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["X_test"] = arrays["X_test"][:0]
    arrays["y_test"] = arrays["y_test"][:0]
    with pytest.raises(DatasetError, match="X_test has no images"):
        load_npz(save_npz(tmp_path / "d.npz", **arrays))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"y_train": np.array(3)}, "0-d array"),
        ({"X_train": np.array(7, np.uint8)}, "0-d array"),
        ({"X_train": np.zeros((12, 0, 8), np.uint8)}, "height or width 0"),
        ({"X_test": np.zeros((6, 8, 0), np.uint8)}, "height or width 0"),
        ({"y_train": np.full(12, 2**63 + 5, np.uint64)}, "labels out of range"),
        ({"y_train": np.full(12, 1e20)}, "labels out of range"),
        ({"X_train": np.zeros((12, 8, 8), np.complex64)}, "real pixel values"),
        ({"X_train": np.zeros((12, 8, 8), "datetime64[s]")}, "real pixel values"),
    ],
)
def test_odd_npz_arrays_are_refused_with_a_reason(tmp_path, change, reason):
    arrays = {**tiny_arrays(), **change}
    with pytest.raises(DatasetError, match=reason):
        load_npz(save_npz(tmp_path / "d.npz", **arrays))


def test_boolean_images_become_0_and_255_with_a_note(tmp_path):
    arrays = tiny_arrays()
    arrays["X_train"] = arrays["X_train"] > 127
    arrays["X_test"] = arrays["X_test"] > 127
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert set(np.unique(ds.x_train)) == {0, 255}
    assert any("boolean" in n for n in ds.notes)


def test_bytes_class_names_and_labels_are_decoded(tmp_path):
    arrays = tiny_arrays(k=2)
    arrays["class_names"] = np.array([b"cat", "café".encode()])
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.class_names == ("cat", "café")
    arrays = tiny_arrays(k=2)
    arrays["y_train"] = np.array([b"cat", b"dog"] * 6)
    arrays["y_test"] = np.array([b"cat", b"dog"] * 3)
    ds = load_npz(save_npz(tmp_path / "e.npz", **arrays))
    assert ds.class_names == ("cat", "dog")


def test_column_labels_in_one_split_only_load(tmp_path):
    arrays = tiny_arrays()
    arrays["y_train"] = arrays["y_train"][:, None]  # (N, 1), y_test stays 1-D
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.y_train.tolist() == tiny_arrays()["y_train"].tolist()


# --- damaged run folders: listed and ignored everywhere -------------------------------------------


def _damaged_store(root) -> list[str]:
    contents = {"empty-object": "{}", "json-list": "[1, 2]", "no-status": None, "deep": "[" * 100_000 + "]" * 100_000}
    for name, text in contents.items():
        folder = root / name
        folder.mkdir(parents=True)
        for f in FILES:
            (folder / f).write_bytes(b"")
        if text is None:
            record = {"run_id": name, "dataset": {"label": "d", "fingerprint": "f"}, "settings": {"model": "mlp"}}
            text = json.dumps(record)
        (folder / "config.json").write_text(text)
    return list(contents)


def test_damaged_config_json_is_listed_and_ignored(tmp_path):
    names = _damaged_store(tmp_path / "runs")
    runs, broken = RunStore(tmp_path / "runs").list_runs()
    assert runs == []
    assert len(broken) == len(names)
    assert any("missing 'status'" in b for b in broken)


def test_cli_report_of_a_damaged_run_is_one_line(tmp_path, capsys):
    _damaged_store(tmp_path / "runs")
    for name in ("empty-object", "json-list", "no-status", "deep"):
        assert cli.main(["report", name, "--store", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_pages_with_damaged_run_folders_show_no_traceback(run_store):
    from pathlib import Path

    _damaged_store(Path(run_store))
    for page in ("pages/train_evaluate.py", "pages/compare.py"):
        at = app_on_page(page)
        captions = [c.value for c in at.caption]
        assert sum("Ignored a damaged run folder" in c for c in captions) == 4, captions


# --- the CLI keeps a finished training's results when the store cannot be written ------------


def test_cli_train_with_a_file_as_store_prints_results_then_the_problem(tmp_path, capsys):
    blocker = tmp_path / "store-is-a-file"
    blocker.write_text("x")
    code = cli.main(["train", "digits", "--model", "mlp", "--epochs", "1", "--store", str(blocker)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "confusion matrix (rows true, columns predicted):" in out and "macro avg" in out
    assert err.count("\n") == 1 and "the results above were not saved" in err
    assert "is a file, not a folder" in err and "File exists" not in err


# --- temporary folders of killed processes ---------------------------------------------------------


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    dead = done.pid
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        root, temp = tmp_path / "runs", tmp_path / "tmp"
        stale = [root / f".tmp-abc123def456-{dead}-1a2b3c4d", root / f".old-abc123def456-{dead}-5e6f7a8b"]
        stale.append(temp / f"explorer-tb-{dead}-k2j3h4g5")
        kept = [root / f".tmp-abc123def456-{live.pid}-1a2b3c4d", temp / f"explorer-tb-{live.pid}-q1w2e3r4"]
        kept += [root / f".tmp-abc123def456-{os.getpid()}-9a9a9a9a", root / "abc123def456"]
        kept.append(temp / "explorer-tb-recent01")  # an older name without a pid, but recent
        old_unnamed = root / ".tmp-fedcba987654-0a0b0c0d"  # an older name without a pid, a day old
        for folder in stale + kept + [old_unnamed]:
            folder.mkdir(parents=True)
            (folder / "model.keras").write_bytes(b"x" * 100)
        day_ago = time.time() - 86_400
        os.utime(old_unnamed, (day_ago, day_ago))
        removed = clean_stale_temporaries(root, temp)
        assert sorted(removed) == sorted(stale + [old_unnamed])
        assert all(f.exists() for f in kept)
    finally:
        live.kill()
        live.wait()


def test_opening_the_store_cleans_once(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    leftover = tmp_path / "runs" / f".tmp-abc123def456-{done.pid}-1a2b3c4d"
    leftover.mkdir(parents=True)
    RunStore(tmp_path / "runs")
    assert not leftover.exists()


# --- augmentation JSON that parses but cannot be used ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"brightness_range": [NaN, 1.2]}', "NaN"),
        ('{"brightness_range": [0.5, Infinity]}', "Infinity"),
        ('{"brightness_range": [1e308, 1e308]}', "turn almost every pixel white"),
        ('{"brightness_range": [true, true]}', "two numbers"),
        ('{"rotation_range": 10, "rotation_range": 40}', "'rotation_range' appears twice"),
        ('{"image_data_generator": {"zoom_range": 0.1}, "image_data_generator": {}}', "appears twice"),
        ('{"rescale": 1e30}', "scales pixels down"),
    ],
)
def test_augmentation_json_is_refused_with_a_reason(text, reason):
    with pytest.raises(SettingsError, match=reason):
        from_json(text)


def test_cli_train_with_bad_augmentation_json_is_one_line(tmp_path, capsys):
    path = tmp_path / "aug.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert cli.main(["train", "digits", "--augment", str(path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nested too deeply" in err


# --- folders: TensorFlow's tutorial layouts and phone photos ---------------------------------------


def test_train_and_validation_folders_are_splits_not_classes(tmp_path):
    from lib.data.folders import load_image_folder
    from tests.helpers import make_folder

    root = tmp_path / "flowers"
    make_folder(root / "train", {"daisy": 4, "rose": 4})
    make_folder(root / "validation", {"daisy": 2, "rose": 2})
    ds = load_image_folder(root)
    assert ds.class_names == ("daisy", "rose")
    assert (len(ds.x_train), len(ds.x_test)) == (8, 4)
    assert any("validation/ is used as the test split" in n for n in ds.notes)
    from lib.data.snippets import loading_code
    from lib.data.sources import DatasetSpec

    assert '+ "/validation"' in loading_code(DatasetSpec("folder", str(root)))

    make_folder(root / "test", {"daisy": 1, "rose": 1})
    ds = load_image_folder(root)
    assert (len(ds.x_train), len(ds.x_test)) == (12, 2)  # validation/ is not dropped
    assert any("validation/ images joined the training split" in n for n in ds.notes)


def test_exif_rotated_photos_are_upright_not_squashed(tmp_path):
    from PIL import Image

    from lib.data.folders import load_image_folder

    for cls in ("a", "b"):
        for i in range(3):
            raw = np.zeros((20, 40, 3), np.uint8)  # stored landscape, 40 wide
            raw[:, :20] = 255  # left half white
            exif = Image.Exif()
            exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": a portrait phone photo
            path = tmp_path / "photos" / cls / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(raw).save(path, exif=exif.tobytes(), quality=95)
    ds = load_image_folder(tmp_path / "photos")
    assert ds.image_shape == (40, 20, 3)  # portrait, as the phone showed it
    img = ds.x_train[0].astype(float)
    assert img[:18].mean() > 200 and img[22:].mean() < 50  # the white half is now on top, not squeezed
