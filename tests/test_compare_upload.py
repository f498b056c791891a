"""Comparing runs, the study, and evaluating a model trained elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.sources import DatasetSpec, load_dataset, load_digits
from lib.evaluate import metrics
from lib.runs import compare, study
from lib.runs.store import RunStore
from lib.runs.study import run_study
from lib.runs.train_or_load import train_or_load
from lib.runs.uploaded import ModelFileError, evaluate_upload, fit_problems, load_user_model
from lib.tf_import import import_keras
from lib.train.training import TrainSettings
from tests.helpers import app_on_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    ds = load_digits()
    ids = [train_or_load(ds, TrainSettings(model=m, epochs=1), "digits", store).run_id for m in ("mlp", "cnn")]
    return store, [store.load(i) for i in ids]


def test_runs_table_matches_metrics(two_runs):
    _, runs = two_runs
    table = compare.runs_table(runs)
    assert list(table["model"]) == ["mlp", "cnn"] and list(table["mode"]) == ["own model"] * 2
    cm = metrics.confusion(runs[1].y_true, runs[1].y_prob, 10)
    assert table.loc[1, "balanced accuracy"] == pytest.approx(metrics.balanced_accuracy(cm))
    assert table.loc[1, "F1 3"] == pytest.approx(metrics.per_class(cm)["f1-score"][3])


def test_difference_and_f1_deltas(two_runs):
    _, (a, b) = two_runs
    diff = compare.difference(a, b, "true")
    assert diff.shape == (10, 10)
    np.testing.assert_allclose(diff.sum(axis=1), 0, atol=1e-9)  # rows of two row-normalized matrices
    deltas = compare.f1_deltas(a, b)
    assert deltas["delta"].tolist() == pytest.approx(
        (
            compare.runs_table([b]).filter(like="F1 ").iloc[0].to_numpy()
            - compare.runs_table([a]).filter(like="F1 ").iloc[0].to_numpy()
        ).tolist()
    )


def test_ladder_has_the_four_steps_on_one_seed():
    steps = study.ladder("mobilenetv2", "none", epochs=2, seed=3)
    assert [n for n, _ in steps] == list(study.LADDER)
    assert {s.seed for _, s in steps} == {3}
    assert [s.transfer for _, s in steps[1:]] == ["feature_extraction", "fine_tune", "fine_tune"]
    assert steps[3][1].augment is not None and steps[2][1].augment is None


def test_study_with_an_offline_backbone_from_a_stored_run(two_runs, offline):
    store, (_, cnn_run) = two_runs
    shapes = load_dataset(DatasetSpec("shapes"))
    results = run_study(shapes, study.ladder(f"run:{cnn_run.run_id}", epochs=1), "shapes", store)
    assert [name for name, _ in results] == list(study.LADDER)
    assert all(not isinstance(o, str) and o.run_id for _, o in results)
    failing = run_study(shapes, study.ladder("vgg16", "imagenet", epochs=1)[1:2], "shapes", store)
    assert "not in the Keras cache" in failing[0][1]


def _tiny_model(input_shape=(8, 8, 1), k=10, softmax=True):
    keras = import_keras()
    inp = keras.Input(input_shape)
    out = keras.layers.Dense(k, activation="softmax" if softmax else None)(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def _bytes(model, tmp_path, name="m.keras"):
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def test_uploaded_model_is_evaluated_and_stored(tmp_path):
    ds = load_digits()
    data = _bytes(_tiny_model(softmax=False), tmp_path)
    model = load_user_model(data, "m.keras")
    store = RunStore(tmp_path / "runs")
    run_id, notes, problem = evaluate_upload(model, data, "m.keras", ds, "digits", store)
    assert problem == "" and any("softmax applied" in n for n in notes)
    run = store.load(run_id)
    np.testing.assert_allclose(run.y_prob.sum(1), 1, atol=1e-5)
    assert run.record.model == "uploaded:m.keras" and run.record.config.is_uploaded and run.history.empty


def test_uploaded_model_checks(tmp_path):
    ds = load_digits()
    assert (
        fit_problems(_tiny_model((28, 28, 1)), ds) == []
    )  # another size: resized inside (tests/test_upload_tutorial_models.py)
    assert "2 channel(s), the dataset has 1" in fit_problems(_tiny_model((8, 8, 2)), ds)[0]
    assert "predicts 3 classes, the dataset has 10 classes" in fit_problems(_tiny_model(k=3), ds)[0]
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    lam = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inp))))
    for name in ("lam.keras", "lam.h5"):
        with pytest.raises(ModelFileError, match="Lambda layer with code"):
            load_user_model(_bytes(lam, tmp_path, name), name)
    with pytest.raises(ModelFileError, match="cannot be loaded"):
        load_user_model(b"not a model", "x.keras")
    with pytest.raises(ModelFileError, match="expected a .keras"):
        load_user_model(b"", "x.pt")


def test_compare_page_shows_table_and_side_by_side(two_runs, monkeypatch):
    store, runs = two_runs
    monkeypatch.setenv("EXPLORER_RUNS", str(store.root))
    at = app_on_page("pages/compare.py")
    assert any("2 stored run(s)" in s.value for s in at.subheader)
    # HTML tables in both modes: the headline columns by run, and every column by setting (3 runs a table)
    tables = [t.value for t in at.table]
    table = next(t for t in tables if "macro F1" in t.columns)
    assert set(table["name"]) == {r.record.display_name for r in runs}
    by_setting = next(t for t in tables if "run" in t.index)
    assert set(by_setting.loc["run"]) == {r.run_id for r in runs}
    assert not at.dataframe  # no canvas table: it cut a run name longer than its column
    assert len(at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")) >= 4
    at.selectbox(key="compare_a").select(runs[0].run_id).run()
    assert not at.exception


def test_runs_table_by_setting_has_one_row_per_column_and_a_few_runs_a_table(two_runs):
    store, runs = two_runs
    table = compare.runs_table(runs)
    assert [p.shape[1] for p in compare.by_setting(table)] == [2]
    assert list(compare.by_setting(table)[0].columns) == list(table["name"])
    table["name"] = "same name"  # two runs named alike
    pieces = compare.by_setting(table, {"accuracy": "{:.1%}"}, per_table=1)
    assert [p.shape[1] for p in pieces] == [1, 1]
    side = pd.concat(pieces, axis=1)
    assert list(side.index) == [c for c in table.columns if c != "name"]  # every column but the name
    assert list(side.columns) == [f"same name · {r[:6]}" for r in table["run"]]  # the start of the id
    assert list(side.loc["accuracy"]) == [f"{a:.1%}" for a in table["accuracy"]]
    assert list(side.loc["run"]) == list(table["run"])
    assert compare.by_setting(table.iloc[:0]) == []


def test_study_weights_box_says_why_it_is_disabled_and_that_is_what_training_does(two_runs, monkeypatch):
    """A backbone from a stored run: the Weights box is greyed out, and the caption under it says why.
    The sentence is true: the run's own layers come with the weights they learned, whatever Weights says."""
    from lib.train.transfer import build_transfer_model

    store, (_, cnn_run) = two_runs
    monkeypatch.setenv("EXPLORER_RUNS", str(store.root))
    at = app_on_page("pages/compare.py")
    reason = "a backbone from a stored run keeps the weights it learned in that run"
    assert at.selectbox(key="study_backbone").value.startswith("run:")  # the newest run of this data set
    assert at.selectbox(key="study_weights").disabled
    assert any(reason in c.value for c in at.caption)
    assert all(o.startswith(("run ", "VGG16", "MobileNetV2")) for o in at.selectbox(key="study_backbone").options)
    at.selectbox(key="study_backbone").set_value("mobilenetv2").run()
    assert not at.selectbox(key="study_weights").disabled and not any(reason in c.value for c in at.caption)
    trained = cnn_run.load_model()
    for weights in ("imagenet", "none"):
        model, _ = build_transfer_model(f"run:{cnn_run.run_id}", (8, 8, 1), 10, weights=weights, store=store)
        backbone = model.get_layer(f"run_{cnn_run.run_id}")
        for layer in trained.layers[:-1]:
            for mine, theirs in zip(backbone.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
                np.testing.assert_array_equal(mine, theirs)


def test_study_never_defaults_to_a_backbone_of_another_data_set(two_runs):
    store, (mlp_run, cnn_run) = two_runs
    records, _ = store.list_runs()
    shapes = load_dataset(DatasetSpec("shapes"))
    digits_only = [r for r in records if r.dataset.label == "digits"]
    assert study.default_backbone(digits_only, shapes) == "mobilenetv2"  # the digits runs are not the default
    digits_ids = {f"run:{mlp_run.run_id}", f"run:{cnn_run.run_id}"}
    assert study.default_backbone(digits_only, load_digits()) in digits_ids
    default = study.default_backbone(records, shapes)  # the store may hold shapes runs by now: one of those
    if default != "mobilenetv2":
        assert store.load(default.removeprefix("run:")).record.dataset.fingerprint == shapes.fingerprint


def test_a_backbone_from_another_data_set_is_flagged_naming_what_was_adapted(two_runs):
    store, (_, cnn_run) = two_runs
    shapes = load_dataset(DatasetSpec("shapes"))
    check = study.check_backbone(f"run:{cnn_run.run_id}", shapes, store, seed=0, validation_split=0.2)
    assert check.note is None
    assert f"run {cnn_run.run_id} was trained on another data set, digits (8x8 gray, 10 classes)" in check.warning
    assert "images are turned gray and shrunk from 32x32 to 8x8" in check.warning
    digits = load_digits()
    same = study.check_backbone(f"run:{cnn_run.run_id}", digits, store, seed=0, validation_split=0.2)
    assert same.warning is None and "was trained on these same training images" in same.note
    other_seed = study.check_backbone(f"run:{cnn_run.run_id}", digits, store, seed=1, validation_split=0.2)
    assert "some of this study's validation images were its training images" in other_seed.note
    assert study.check_backbone("mobilenetv2", shapes, store, seed=0, validation_split=0.2) == study.BackboneCheck()


def test_a_run_trained_on_standardized_images_is_refused_as_a_backbone(tmp_path):
    from lib.runs.config import can_be_backbone
    from lib.train.transfer import TransferError, build_transfer_model

    store = RunStore(tmp_path)
    ds = load_digits()
    centred = TrainSettings(model="mlp", epochs=1, augment={"samplewise_center": True})
    run_id = train_or_load(ds, centred, "digits", store).run_id
    record = store.load(run_id).record
    assert record.settings.input_standardization() == "samplewise_center"
    assert not can_be_backbone(record)
    with pytest.raises(TransferError, match="trained on standardized images \\(samplewise_center\\)"):
        build_transfer_model(f"run:{run_id}", (8, 8, 1), 10, store=store)
    assert TrainSettings(model="mlp", augment={"rotation_range": 10}).input_standardization() is None
    assert TrainSettings(model="mlp", augment={"rescale": 0.5}).input_standardization() == "rescale=0.5"
    assert TrainSettings(model="mlp").input_standardization() is None


def test_study_table_and_cli_show_the_studys_own_four_rows(two_runs, offline, capsys):
    """After test_study_with_an_offline_backbone_from_a_stored_run the four runs are in the store:
    the CLI loads them (it trains them when run alone)."""
    from lib.cli import main

    store, (_, cnn_run) = two_runs
    shapes = load_dataset(DatasetSpec("shapes"))
    results = run_study(shapes, study.ladder(f"run:{cnn_run.run_id}", epochs=1), "shapes", store)
    rows = [(name, store.load(o.run_id)) for name, o in results]
    table = study.study_table(rows)
    assert list(table.columns) == list(study.STUDY_COLUMNS)
    assert list(table["step"]) == ["own CNN", "feature extraction", "fine-tuning", "fine-tuning + augmentation"]
    assert table["majority baseline"].notna().all() and (table["seed"] == 0).all()
    assert (table["validation split"] == 0.2).all() and (table["test images"] == len(shapes.y_test)).all()
    assert (table["epochs"] == "1/1").all() and (table["training s"] > 0).all()
    assert table.loc[0, "accuracy"] == pytest.approx(compare.runs_table([rows[0][1]])["accuracy"][0])

    args = ["study", "shapes", "--backbone", f"run:{cnn_run.run_id}", "--epochs", "1", "--store", str(store.root)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "warning: The backbone run" in out and "turned gray and shrunk from 32x32 to 8x8" in out
    assert "validation split 20% of the training split, seed 0, 1 epochs each" in out
    for step in ("own CNN", "feature extraction", "fine-tuning + augmentation"):
        assert step in out
    assert "fine-tuning " in out.replace("fine-tuning +", "")  # both fine-tuning rows, full names
    header = next(line for line in out.splitlines() if line.lstrip().startswith("step"))
    for col in ("accuracy", "balanced accuracy", "macro F1", "majority baseline", "training s", "seed"):
        assert col in header


def test_compare_page_study_defaults_to_this_data_sets_run_and_shows_its_own_rows(two_runs, monkeypatch):
    store, (mlp_run, cnn_run) = two_runs
    monkeypatch.setenv("EXPLORER_RUNS", str(store.root))
    at = app_on_page("pages/compare.py")  # digits
    box = at.selectbox(key="study_backbone")
    assert box.value in {f"run:{mlp_run.run_id}", f"run:{cnn_run.run_id}"}
    labels = list(box.options)
    others = [i for i, o in enumerate(labels) if "ANOTHER data set" in o]
    if others:  # shapes runs stored by the tests above: listed after this data set's runs, and flagged
        assert min(others) > max(i for i, o in enumerate(labels) if o.startswith("run ") and i not in others)
    box.select(f"run:{cnn_run.run_id}")
    at.number_input(key="study_epochs").set_value(1)
    at.run()
    assert not any("another data set" in w.value for w in at.warning)
    at.button(key="study_button").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "The study's result" for s in at.subheader)
    table = next(d.value for d in at.dataframe if "step" in d.value.columns and "training s" in d.value.columns)
    assert list(table["step"]) == ["own CNN", "feature extraction", "fine-tuning", "fine-tuning + augmentation"]
    assert any("was trained on these same training images" in i.value for i in at.info)


def test_an_uploaded_models_header_says_it_was_evaluated_not_trained_here(tmp_path):
    from lib.ui.run_views import progress_text

    ds = load_digits()
    data = _bytes(_tiny_model(), tmp_path)
    store = RunStore(tmp_path / "runs")
    run_id, _, problem = evaluate_upload(load_user_model(data, "m.keras"), data, "m.keras", ds, "digits", store)
    assert problem == ""
    text = progress_text(store.load(run_id))
    assert text == "trained elsewhere, evaluated here on the test set" and "0/0" not in text


def test_a_missing_figure_reads_as_missing_in_the_pages_language(two_runs):
    """A figure a run lacks (NaN) is "n/a" in English and "없음" in Korean, in the by-setting table."""
    from lib import i18n

    _, runs = two_runs
    table = compare.runs_table(runs)
    table["accuracy"] = float("nan")
    assert set(pd.concat(compare.by_setting(table), axis=1).loc["accuracy"]) == {"n/a"}
    with i18n.using("ko"):
        assert set(pd.concat(compare.by_setting(table), axis=1).loc["accuracy"]) == {"없음"}
