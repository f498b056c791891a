"""LiteRT export: every quantization converts, runs back through the LiteRT interpreter on
the whole test split, takes raw uint8 images, and the page draws the comparison and the
lesson (which class quantization costs most) from those predictions. Bad input is one line
and leaves nothing half-written; the run itself is untouched."""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pandas as pd
import pytest

from lib import cli
from lib.data.sources import load_digits
from lib.errors import StoreError
from lib.evaluate import metrics
from lib.runs import export
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.settings import TrainSettings
from lib.train.training import split_validation
from lib.ui import state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def stored(tmp_path_factory, digits):
    store = RunStore(tmp_path_factory.mktemp("export-runs"))
    outcome = train_or_load(digits, TrainSettings(model="cnn", epochs=2), "digits", store)
    return store, store.load(outcome.run_id)


def _run_files(run) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("quantize", list(export.QUANTIZATIONS))
def test_each_quantization_is_run_back_on_the_whole_test_split(stored, digits, quantize, tmp_path):
    _, run = stored
    before = _run_files(run)
    done = export.export_run(run, digits, quantize, tmp_path)
    assert _run_files(run) == before  # the run is untouched
    assert done.y_prob.shape == run.y_prob.shape and done.bytes == done.tflite.stat().st_size
    # The file takes raw uint8 images, as the whole model.keras does.
    interpreter_class, name = export.runtime()
    assert name.startswith("LiteRT interpreter (ai-edge-litert")
    interpreter = interpreter_class(model_path=str(done.tflite))
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    agreement = float((done.y_prob.argmax(1) == run.y_prob.argmax(1)).mean())
    if quantize == "none":
        np.testing.assert_allclose(done.y_prob, run.y_prob, atol=1e-4)
    assert agreement >= 0.95
    table = export.comparison_table(run, [done])
    assert list(table["model"]) == ["Keras model.keras", done.title]
    cm = metrics.confusion(run.y_true, done.y_prob, 10)
    assert table.loc[1, "accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert table.loc[1, "balanced accuracy"] == pytest.approx(metrics.balanced_accuracy(cm))
    assert table.loc[1, "agreement"] == pytest.approx(agreement)
    assert table.loc[1, "ms per image"] > 0 and table.loc[0, "ms per image"] > 0
    if quantize != "none":
        assert done.bytes < 0.6 * table.loc[0, "file size (KB)"] * 1024


def test_int8_is_calibrated_on_the_runs_training_images_only(stored, digits):
    _, run = stored
    images = export.representative_images(run, digits)
    train_idx, val_idx = split_validation(digits, run.settings.validation_split, run.settings.seed)
    allowed = {digits.x_train[i].tobytes() for i in train_idx}
    assert len(images) == export.REPRESENTATIVE_IMAGES
    assert all(image.tobytes() in allowed for image in images)
    test_images = {x.tobytes() for x in digits.x_test}
    assert not any(image.tobytes() in test_images for image in images if image.tobytes() not in allowed)


def test_per_class_table_and_lesson_name_the_class_that_loses_most(stored, digits, tmp_path):
    _, run = stored
    done = export.export_run(run, digits, "int8", tmp_path)
    table = export.per_class_table(run, done)
    before = metrics.per_class(metrics.confusion(run.y_true, run.y_prob, 10))
    after = metrics.per_class(metrics.confusion(run.y_true, done.y_prob, 10))
    np.testing.assert_allclose(table["recall change"], after["recall"] - before["recall"])
    np.testing.assert_allclose(table["precision change"], after["precision"] - before["precision"])
    name, change, metric = export.costliest_class(table)
    column = table[f"{metric} change"]
    assert change == pytest.approx(min(table["recall change"].min(), table["precision change"].min()))
    assert name == table["class"][int(column.to_numpy().argmin())]
    sentence = export.lesson(table, done)
    assert (f"class '{name}'" in sentence) if change < 0 else ("costs no class anything" in sentence)
    # A drop of 0.022 in a rate is written as 2.2 percentage points, never as "2.2%"; the rates
    # themselves in percent, as the page's tables show them.
    worse = table.copy()  # one class loses 0.022 of its recall, nothing else changes
    worse[["recall change", "precision change"]] = 0.0
    worse.loc[3, "recall (LiteRT)"] = worse.loc[3, "recall (Keras)"] - 0.022
    worse.loc[3, "recall change"] = -0.022
    sentence = export.lesson(worse, done)
    assert f"class '{worse['class'][3]}'" in sentence and "-2.2 percentage points" in sentence, sentence
    assert "2.2%" not in sentence
    assert f"from {worse.loc[3, 'recall (Keras)']:.1%} in the Keras model to {worse.loc[3, 'recall (LiteRT)']:.1%}" in (
        sentence
    )


def test_cli_export_and_report_print_the_table(stored, capsys):
    store, run = stored
    assert (
        cli.main(["export", run.run_id, "--format", "tflite", "--quantize", "dynamic", "--store", str(store.root)]) == 0
    )
    out = capsys.readouterr().out
    assert "LiteRT dynamic range" in out and "Keras model.keras" in out and "ms per image" in out
    assert "costs" in out and "recall change (pp)" in out
    # the page's units: shares in percent, changes in percentage points
    keras = next(line for line in out.splitlines() if line.strip().startswith("Keras model.keras"))
    assert re.search(r"\d\.\d% +\d+\.\d% +100\.0%", keras), keras
    first = next(line for line in out.splitlines() if line.split()[:1] == ["0"])
    assert re.fullmatch(r"0( +\d+\.\d%){2} +[+-]\d+\.\d( +\d+\.\d%){2} +[+-]\d+\.\d", first.strip()), first
    assert cli.main(["report", run.run_id, "--store", str(store.root)]) == 0
    report = capsys.readouterr().out
    assert "exports (LiteRT, run back on the test split):" in report and "LiteRT dynamic range" in report


def test_the_float32_export_is_named_float32_and_an_export_stored_as_model_none_still_reads(stored, capsys, tmp_path):
    """`--quantize none` writes model_float32.*, not model_none.* (the option's value is not what
    the file holds); an export written under the old name is listed, downloads under the new name,
    and the next float32 export replaces it."""
    store, run = stored
    assert cli.main(["export", run.run_id, "--store", str(store.root), "--out", str(tmp_path)]) == 0
    assert f"written {tmp_path / 'model_float32.tflite'} (" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model_float32.{k}" for k in ("json", "npz", "tflite")]
    assert export.tflite_name("none") == "model_float32.tflite"
    for path in list(tmp_path.iterdir()):  # as an export written before the rename stored it
        path.rename(tmp_path / path.name.replace("float32", "none"))
    (old,) = export.list_exports(run, tmp_path)
    assert old.quantize == "none" and old.title == "LiteRT float32" and old.tflite.name == "model_none.tflite"
    assert old.y_prob.shape == run.y_prob.shape
    again = export.export_run(run, load_digits(), "none", tmp_path)
    assert again.tflite.name == "model_float32.tflite"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model_float32.{k}" for k in ("json", "npz", "tflite")]
    assert [e.tflite.name for e in export.list_exports(run, tmp_path)] == ["model_float32.tflite"]


def test_an_unwritable_export_folder_is_one_line_and_the_run_is_untouched(stored, digits, tmp_path, capsys):
    store, run = stored
    before = _run_files(run)
    blocker = tmp_path / "a file"  # a file where the export folder's parent should be (root ignores chmod)
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot write the export to"):
        export.export_run(run, digits, "none", blocker / "out")
    code = cli.main(["export", run.run_id, "--store", str(store.root), "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot write the export to") and err.count("\n") == 1
    assert _run_files(run) == before


def test_an_export_that_fails_half_way_leaves_nothing_listed_as_complete(stored, digits, tmp_path):
    _, run = stored
    (tmp_path / "model_float32.npz").mkdir()  # the predictions cannot be renamed into place
    with pytest.raises(StoreError, match="cannot write the export"):
        export.export_run(run, digits, "none", tmp_path)
    assert export.list_exports(run, tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]  # no temporary file left


def test_an_export_killed_half_way_leaves_files_the_next_export_removes(stored, digits, tmp_path):
    """A killed export's temporary files (its pid gone) are removed by the next export into that
    folder; a live process's are left alone (it may be exporting now)."""
    import subprocess
    import sys

    _, run = stored
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".tmp-{int(gone.stdout)}-0badc0de-model_int8.tflite"
    alive = tmp_path / f".tmp-{os.getppid()}-0badc0de-model_int8.tflite"
    for path in (dead, alive):
        path.write_bytes(b"half a file")
    export.export_run(run, digits, "none", tmp_path)
    assert not dead.exists() and alive.exists()
    assert [e.quantize for e in export.list_exports(run, tmp_path)] == ["none"]


def test_a_missing_or_damaged_model_file_is_one_line(stored, digits, tmp_path):
    import shutil

    _, run = stored
    copy_store = RunStore(tmp_path / "runs")
    shutil.copytree(run.path, copy_store.path(run.run_id))
    copy = copy_store.load(run.run_id)
    copy.model_path.write_bytes(b"damaged")
    with pytest.raises(StoreError, match="model.keras cannot be loaded"):
        export.export_run(copy, digits, "none")
    copy.model_path.unlink()
    with pytest.raises(StoreError, match="model.keras is missing"):
        export.export_run(copy, digits, "none")
    assert not (copy_store.root / export.EXPORTS / run.run_id / "model_float32.json").exists()


def _cells(element) -> pd.DataFrame | None:
    """A formatted table's cells as the browser gets them: its Styler's display values (text)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    shown = element.proto.arrow_data.styler.display_values
    return convert_arrow_bytes_to_pandas_df(shown) if shown else None


def test_the_page_draws_the_export_table_and_the_lesson(digits):
    from tests.helpers import app_on_page

    store = RunStore()
    run_id = train_or_load(digits, TrainSettings(model="mlp", epochs=1), "digits", store).run_id
    at = app_on_page("pages/train_evaluate.py")
    at.selectbox(key="export_quantize").select("int8").run()
    at.button(key="export_button").click().run()
    assert not at.exception, at.exception
    run = store.load(run_id)
    (done,) = export.list_exports(run)
    drawn = next(d.value for d in at.dataframe if "agreement" in d.value.columns)
    expected = export.comparison_table(run, [done])
    assert list(drawn["model"]) == list(expected["model"])
    np.testing.assert_allclose(drawn["accuracy"], expected["accuracy"])
    np.testing.assert_allclose(drawn["agreement"], expected["agreement"])
    classes = next(d.value for d in at.dataframe if "recall change" in d.value.columns)
    np.testing.assert_allclose(classes["recall change"], export.per_class_table(run, done)["recall change"])
    lesson = export.lesson(export.per_class_table(run, done), done)
    assert any(lesson in m.value for m in at.markdown)
    # As drawn (the cells' text Streamlit sends), plain and presenting: every share in percent, every
    # change of a share in percentage points, the file named by what it holds.
    for presenting in (False, True):
        at.session_state[state.PRESENT] = presenting
        at.run()
        assert not at.exception, at.exception
        tables = [t for t in map(_cells, at.table if presenting else at.dataframe) if t is not None]
        models = next(t for t in tables if "agreement" in t.columns)
        classes = next(t for t in tables if {"recall change", "Δ recall"} & set(t.columns))
        shares = [c for c in models.columns if c not in ("model", "file size (KB)", "ms per image", "KB", "ms/image")]
        shares += [c for c in classes.columns if c != "class" and "Δ" not in c and "change" not in c]
        changes = [c for c in classes.columns if "Δ" in c or "change" in c]
        assert len(shares) == 3 + 4 and len(changes) == 2, (list(models.columns), list(classes.columns))
        for table in (models, classes):
            for column in table.columns:
                for text in table[column]:
                    if column in shares:
                        assert re.fullmatch(r"\d{1,3}\.\d%", text), (presenting, column, text)
                    elif column in changes:
                        assert re.fullmatch(r"[+-]\d{1,3}\.\d", text), (presenting, column, text)
        assert any("in percentage points" in c.value for c in at.caption)  # the changes' unit
    assert any(b.label == "Download model_int8.tflite" for b in at.get("download_button"))
    # A second export: its per-class table, lesson and download are the ones shown next.
    at.session_state[state.PRESENT] = False
    at.selectbox(key="export_quantize").select("float16").run()
    at.button(key="export_button").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="export_per_class").value == "float16"
    assert any(b.label == "Download model_float16.tflite" for b in at.get("download_button"))


def test_the_html_report_holds_the_export_table_when_exports_exist(stored, digits):
    from lib.runs.report_html import build_report

    _, run = stored
    done = export.export_run(run, digits, "float16")  # the default folder, which the report reads
    html = build_report(run)
    assert "<h2>Exports (LiteRT, run back on the test split)</h2>" in html
    assert done.title in html and "Keras model.keras" in html
    lesson = export.lesson(export.per_class_table(run, done), done)
    assert lesson.replace("'", "&#x27;") in html
    table = export.comparison_table(run, export.list_exports(run))
    for accuracy in table["accuracy"]:  # shares in percent, as on the page
        assert f"<td>{accuracy:.1%}</td>" in html
    per_class = export.per_class_table(run, done)
    assert "<th>recall change (pp)</th>" in html
    assert f"<td>{per_class['recall (LiteRT)'][0]:.1%}</td><td>{per_class['recall change'][0] * 100:+.1f}</td>" in html


def test_a_model_the_converter_refuses_is_one_line_naming_the_layer_and_why():
    from lib.errors import ExportError
    from lib.tf_import import import_keras

    keras = import_keras()
    image = keras.Input((4, 4, 1), dtype="uint8")
    x = keras.layers.Reshape((4, 4), name="square")(keras.layers.Rescaling(1 / 255)(image))
    x = keras.ops.linalg.inv(x + keras.ops.eye(4))  # MatrixInverse: TensorFlow has it, LiteRT's built-ins do not
    model = keras.Model(image, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    with pytest.raises(ExportError) as caught:
        export.convert(model, "none")
    message = str(caught.value)
    assert message == (
        "cannot convert to LiteRT (none): layer MatrixInverse: "
        "its operation MatrixInverse has no LiteRT built-in kernel"
    )
