"""Every lesson's figure as the page draws it: the chart spec Streamlit sends to the browser (its
inline data and encodings), read back and compared with the run's own stored numbers, not only
that a DataFrame somewhere holds them. One stored digits run serves every page."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib import charts
from lib.augment import settings as augment
from lib.data.sources import load_digits
from lib.evaluate import metrics
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.settings import TrainSettings
from lib.ui import state
from tests.helpers import app_on_page

pytestmark = pytest.mark.slow


def drawn_specs(at) -> list[dict]:
    """The Vega-Lite specs of every chart on the page as sent to the browser, each with the rows of
    its named data sets (Streamlit sends them beside the spec, as Arrow) under "_rows"."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    specs = []
    for el in at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        rows: list[dict] = []
        for named in el.proto.datasets:
            rows.extend(convert_arrow_bytes_to_pandas_df(named.data.data).to_dict("records"))
        if el.proto.data.data:
            rows.extend(convert_arrow_bytes_to_pandas_df(el.proto.data.data).to_dict("records"))
        specs.append({**spec, "_rows": rows})
    return specs


def rows_of(spec: dict) -> list[dict]:
    """Every data row the chart (and its layers) draws from."""
    return spec["_rows"]


def _title(node: dict) -> str:
    t = node.get("title")
    return str((t.get("text") if isinstance(t, dict) else t) or "")


def titled(specs: list[dict], text: str) -> dict:
    found = [s for s in specs if text in _title(s) or any(text in _title(layer) for layer in s.get("layer", []))]
    assert found, f"no chart titled {text!r} among {[_title(s) for s in specs]}"
    return found[0]


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory) -> str:
    """One stored digits run (mlp, 2 epochs) for every test of this module: trained once."""
    root = str(tmp_path_factory.mktemp("lesson-runs"))
    train_or_load(load_digits(), TrainSettings("mlp", epochs=2, batch_size=32), "digits", RunStore(root))
    return root


@pytest.fixture
def stored_run(trained_store, monkeypatch):
    monkeypatch.setenv("EXPLORER_RUNS", trained_store)
    store = RunStore(trained_store)
    (record,), _ = store.list_runs()
    return store.load(record.run_id)


@pytest.fixture
def train_page(stored_run):
    return app_on_page("pages/train_evaluate.py")


def test_batch_averaged_lesson_draws_dashed_lines_from_the_runs_history(stored_run, train_page):
    """Lesson 1: 'Per class over epochs' draws exact (solid) and batch-averaged (dashed) lines."""
    at = train_page
    at.radio(key="per_class_metric").set_value("precision").run()
    assert not at.exception, at.exception
    spec = titled(drawn_specs(at), "precision per class")
    rows = rows_of(spec)
    history = stored_run.history
    dashed = [r for r in rows if r.get("how") == charts.BATCH_AVERAGED]
    solid = [r for r in rows if r.get("how") == charts.EXACT]
    assert dashed and solid, "both line kinds must be drawn"
    names = list(stored_run.class_names)
    for r in dashed:  # every dashed point is the history's batch-averaged value of that class and epoch
        c = names.index(r["class"])
        row = history[history["epoch"] == r["epoch"]].iloc[0]
        assert r["precision"] == pytest.approx(row[f"val_batch_precision_{c}"], abs=1e-9)
    for r in solid:
        c = names.index(r["class"])
        row = history[history["epoch"] == r["epoch"]].iloc[0]
        assert r["precision"] == pytest.approx(row[f"val_precision_{c}"], abs=1e-9)
    assert len(dashed) == len(history) * len(names)
    # The dash legend names exactly what is drawn, and draws the batch-averaged rows dashed.
    line = spec["layer"][0]
    dash = line["encoding"]["strokeDash"]
    assert dash["scale"]["domain"] == [charts.EXACT, charts.BATCH_AVERAGED]
    assert dash["scale"]["range"][1] != [1, 0]
    # The caption and the "Largest difference" box describe lines that exist.
    assert any("Dashed lines" in c.value for c in at.caption)
    box = next(i.value for i in at.info if "Largest difference" in i.value)
    assert "precision" in box and "recall" not in box, box
    # The box follows the metric: recall numbers are explained as recall, never as precision.
    at.radio(key="per_class_metric").set_value("recall").run()
    box = next(i.value for i in at.info if "Largest difference" in i.value)
    assert "recall" in box and "precision" not in box, box
    c, epoch, exact, batch = metrics.largest_batch_gap(history, len(names), "recall")
    assert f"exact {exact:.3f}, batch-averaged {batch:.3f}" in box
    assert any("recall_score" in code.value for code in at.code)  # the fix computes the metric shown
    # Presenting, the fix's code block is folded like every other code block.
    at.session_state[state.PRESENT] = True
    at.run()
    fixes = [code.value for code in at.code if "# the fix" in code.value]
    folded = [code.value for e in at.expander for code in e.code if "# the fix" in code.value]
    assert fixes and fixes == folded, "the fix's code is not folded while presenting"
    at.session_state[state.PRESENT] = False
    at.run()
    # F1 has no batch-averaged column: no dashed legend entry, no caption about dashed lines.
    at.radio(key="per_class_metric").set_value("f1").run()
    spec = titled(drawn_specs(at), "f1 per class")
    assert spec["layer"][0]["encoding"]["strokeDash"]["scale"]["domain"] == [charts.EXACT]
    assert not any("Dashed lines" in c.value for c in at.caption)


def test_unstandardized_lesson_draws_one_panel_per_image_set_from_the_pages_images():
    """Lesson 2: the Augmentation page's trap chart: raw test images on 0..255, the fixed ones near 0."""
    at = app_on_page()
    at.session_state[state.AUGMENT] = augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise")
    at.switch_page("pages/augmentation.py").run()
    assert not at.exception, at.exception
    spec = titled(drawn_specs(at), "Pixel values the model sees")
    rows = rows_of(spec)
    sets = {r["images"] for r in rows}
    assert sets == {
        "training images (after the generator)",
        "raw test images (the mistake)",
        "test images after datagen.standardize (the fix)",
    }
    assert spec["facet"]["row"]["field"] == "images" and spec["resolve"]["scale"]["x"] == "independent"
    raw = [r for r in rows if r["images"] == "raw test images (the mistake)"]
    fixed = [r for r in rows if r["images"] == "test images after datagen.standardize (the fix)"]
    x_test = load_digits().x_test[:200].astype(float)
    assert max(r["value_end"] for r in raw) == pytest.approx(x_test.max(), rel=0.05)  # the raw pixels themselves
    assert max(abs(r["value_start"]) for r in fixed) < 20  # standardized: near 0, not 0..255
    for name in sets:  # each panel's shares are a histogram: they add to 1
        assert sum(r["share"] for r in rows if r["images"] == name) == pytest.approx(1.0, abs=0.01)


def test_confusion_matrix_and_curves_are_drawn_from_the_runs_own_numbers(stored_run, train_page):
    """Lessons 3-4: the test confusion matrix the trap tab reasons about, drawn from the run's
    predictions; and the training curves, drawn from its history."""
    at = train_page
    spec = titled(drawn_specs(at), "Test set (450 images)")
    cells = [r for r in rows_of(spec) if "count" in r]
    names = list(stored_run.class_names)
    drawn = np.zeros((len(names), len(names)), int)
    for r in cells:
        drawn[names.index(r["true"]), names.index(r["predicted"])] = r["count"]
    np.testing.assert_array_equal(drawn, stored_run.test_confusion)
    assert any(layer["mark"]["type"] == "text" for layer in spec["layer"])  # the numbers are printed
    spec = titled(drawn_specs(at), "accuracy: train vs validation")
    rows = rows_of(spec)
    val = sorted((r["epoch"], r["accuracy"]) for r in rows if r["split"] == "validation")
    expected = list(zip(stored_run.history["epoch"], stored_run.history["val_accuracy"], strict=True))
    np.testing.assert_allclose(np.array(val, float), np.array(expected, float))


def test_study_table_marks_a_row_below_the_majority_baseline():
    """Lesson 5 (the study): the table the page shows says when a row scores below the majority
    baseline, and keeps to the columns that differ (no horizontal scrolling on a projector)."""
    import pandas as pd

    from lib.runs import study

    table = pd.DataFrame(
        {
            "step": ["own CNN", "fine-tuning"],
            "run": ["a1", "b2"],
            "model": ["cnn", "vgg16 · fine-tuning"],
            "accuracy": [0.076, 0.9],
            "balanced accuracy": [0.1, 0.88],
            "macro F1": [0.02, 0.87],
            "majority baseline": [0.102, 0.102],
            "training s": [1.0, 2.0],
            "epochs": [5, 5],
            "seed": [0, 0],
            "validation split": [0.2, 0.2],
            "test images": [450, 450],
        }
    )
    assert study.below_baseline(table) == ["own CNN"]
    shown, shared = study.study_display(table)
    assert list(shown["vs majority baseline"]) == ["BELOW by 2.6%", "+79.8%"]
    assert shared == {"epochs": 5, "seed": 0, "validation split": 0.2, "test images": 450}
    assert "run" not in shown.columns and "seed" not in shown.columns
