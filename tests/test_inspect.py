"""Look inside, library level: try-it preprocessing equals evaluation's, curves equal
scikit-learn's, ECE by hand, the feature map, the offline HTML report."""

from __future__ import annotations

import dataclasses
import io
import re

import altair as alt
import numpy as np
import pytest
from PIL import Image

from lib import charts
from lib.data.dataset import Dataset
from lib.data.sources import load_digits
from lib.errors import ImageError
from lib.evaluate import curves, embedding, explain, try_image
from lib.runs.report_html import build_report
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings

pytestmark = pytest.mark.slow

FEATUREWISE = {"featurewise_center": True, "featurewise_std_normalization": True}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture(scope="module")
def runs(digits, tmp_path_factory):
    """One epoch each: a CNN, an MLP, and an MLP whose inputs are standardized with the
    training subset's statistics (the case where 'the same preprocessing' is easy to get wrong)."""
    store = RunStore(tmp_path_factory.mktemp("inspect-runs"))
    out = {}
    for name, settings in {
        "cnn": TrainSettings("cnn", epochs=1),
        "mlp": TrainSettings("mlp", epochs=1),
        "featurewise": TrainSettings("mlp", epochs=1, augment=FEATUREWISE),
    }.items():
        outcome = train_or_load(digits, settings, "digits", store)
        out[name] = store.load(outcome.run_id)
    return out


def png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


# --- Try it ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cnn", "mlp", "featurewise"])
def test_a_test_image_gets_exactly_its_stored_prediction(runs, digits, kind):
    run = runs[kind]
    model = run.load_model()
    preprocess = try_image.evaluation_preprocessor(run, digits)
    for index in (0, 17, 449):
        steps = try_image.prepare(digits.x_test[index], digits, run, model=model, preprocess=preprocess)
        assert [s.name for s in steps] == ["dataset image", "model input"]
        x = try_image.model_input(steps)
        prob = try_image.predict_image(model, preprocess, digits.x_test[index])
        np.testing.assert_allclose(prob, model.predict(x, verbose=0)[0], atol=1e-6)
        np.testing.assert_allclose(prob, run.y_prob[index], atol=1e-5)


def test_featurewise_statistics_come_from_the_training_subset(runs, digits):
    """Fitted on all of x_train (validation included) the numbers differ: the subset matters."""
    from lib.augment.settings import make_generator, standardize_batch, training_config

    run = runs["featurewise"]
    x = try_image.evaluation_preprocessor(run, digits)(digits.x_test[:5])
    wrong = standardize_batch(make_generator(training_config(FEATUREWISE)[0], digits.x_train), digits.x_test[:5])
    assert not np.allclose(x, wrong)
    assert abs(float(x.mean())) < 1.0  # standardized, not 0..1
    assert any("training set's per-channel mean" in n for n in try_image.preprocessing_notes(run))


def test_an_uploaded_colour_image_goes_through_every_step(runs, digits):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (50, 40, 4), dtype=np.uint8)
    steps = try_image.prepare(png_bytes(rgba), digits, runs["cnn"])
    assert [s.name for s in steps] == [
        "your image",
        "transparency on white",
        "RGB -> gray",
        "resized to 8x8",
        "model input",
    ]
    assert steps[0].shape == (50, 40, 3) and steps[2].shape == (50, 40, 1)
    assert steps[3].shape == (8, 8, 1) and steps[3].image.dtype == np.uint8
    final = steps[-1]
    assert final.image.dtype == np.float32 and 0 <= final.low <= final.high <= 1
    np.testing.assert_allclose(final.image, steps[3].image / 255, atol=1e-6)
    assert "rescale" in final.note


def test_a_gray_image_for_a_colour_dataset_gets_three_channels():
    steps = try_image.to_dataset_image(png_bytes(np.full((20, 20), 90, np.uint8), "L"), (32, 32, 3))
    assert [s.name for s in steps] == ["your image", "gray -> RGB", "resized to 32x32"]
    assert steps[-1].shape == (32, 32, 3) and steps[-1].low == steps[-1].high == 90


@pytest.mark.parametrize("data", [b"", b"hello, not an image", png_bytes(np.zeros((4, 4), np.uint8))[:20]])
def test_bad_images_give_one_line_image_errors(data):
    with pytest.raises(ImageError) as info:
        try_image.decode(data)
    assert "\n" not in str(info.value)


def test_probabilities_are_sorted_for_the_chart():
    table = try_image.probabilities_table(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"])
    assert list(table["class"]) == ["b", "c", "a"] and list(table["rank"]) == [1, 2, 3]
    spec = charts.probability_bars(table).to_dict()
    assert spec["encoding"]["y"]["sort"] == ["b", "c", "a"]


def test_transfer_models_show_their_own_input_adaptation(offline):
    from lib.train.transfer import build_transfer_model

    model, _ = build_transfer_model("mobilenetv2", (8, 8, 1), 3, weights="none")
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype(np.float32)
    steps = try_image.in_model_steps(model, x)
    assert [s.name for s in steps] == [
        "in the model: gray_to_rgb",
        "in the model: resize_to_96x96",
        "in the model: mobilenetv2_preprocess_input",
    ]
    assert steps[0].shape == (8, 8, 3) and steps[1].shape == (96, 96, 3)
    assert steps[2].low >= -1 and steps[2].high <= 1
    np.testing.assert_allclose(steps[2].image, steps[1].image * 2 - 1, atol=1e-5)
    # Grad-CAM reaches the conv layers inside the nested backbone.
    layers = explain.conv_layers(model)
    assert layers and all(layer.backbone for layer in layers)
    e = explain.explain(model, x)
    assert e.method == "HiResCAM" and e.heatmap.shape == (8, 8) and e.layer == layers[-1].label
    first = explain.gradcam(model, x, 1, layers[0].name, method="gradcam")
    assert first.class_index == 1 and first.method == "Grad-CAM"


def test_mlp_is_explained_with_gradient_x_input(runs, digits):
    run = runs["mlp"]
    model = run.load_model()
    assert explain.conv_layers(model) == []
    x = try_image.evaluation_preprocessor(run, digits)(digits.x_test[:1])
    e = explain.explain(model, x, 3)
    assert e.method == "gradient x input" and e.class_index == 3 and e.heatmap.shape == (8, 8)
    assert e.heatmap[x[0, :, :, 0] == 0].max() == 0  # x = 0 contributes nothing
    over = explain.overlay(digits.x_test[0], e.heatmap)
    assert over.shape == (8, 8, 3) and over.dtype == np.uint8


# --- Curves per class ---------------------------------------------------------------------------


def test_roc_and_pr_equal_scikit_learn_on_stored_predictions(runs):
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    run = runs["cnn"]
    names = list(run.class_names)
    roc, aucs = curves.roc_curves(run.y_true, run.y_prob, names)
    pr, aps = curves.pr_curves(run.y_true, run.y_prob, names)
    for i, name in enumerate(names):
        truth = run.y_true == i
        assert aucs.loc[i, "auc"] == pytest.approx(roc_auc_score(truth, run.y_prob[:, i]), abs=1e-12)
        assert aps.loc[i, "average precision"] == pytest.approx(
            average_precision_score(truth, run.y_prob[:, i]), abs=1e-12
        )
        fpr, tpr, _ = roc_curve(truth, run.y_prob[:, i])
        mine = roc[roc["class"] == name]
        np.testing.assert_array_equal(mine["fpr"], fpr)
        np.testing.assert_array_equal(mine["tpr"], tpr)
        precision, recall, _ = precision_recall_curve(truth, run.y_prob[:, i])
        mine = pr[pr["class"] == name]
        np.testing.assert_array_equal(mine["precision"], precision)
        np.testing.assert_array_equal(mine["recall"], recall)
    spec = charts.roc_chart(roc, aucs).to_dict()
    data = next(rows for rows in spec["datasets"].values() if "class" in rows[0])
    assert all(row["auc"] == pytest.approx(aucs.loc[0, "auc"]) for row in data if row["class"] == names[0])


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.9])
def test_precision_recall_at_a_threshold_equal_scikit_learn(runs, threshold):
    from sklearn.metrics import precision_score, recall_score

    run = runs["mlp"]
    table = curves.at_threshold(run.y_true, run.y_prob, run.class_names, threshold)
    for i in range(len(run.class_names)):
        truth, predicted = run.y_true == i, run.y_prob[:, i] >= threshold
        expected = precision_score(truth, predicted, zero_division=np.nan)  # undefined without predictions
        assert table.loc[i, "precision"] == pytest.approx(expected, nan_ok=True)
        assert table.loc[i, "recall"] == pytest.approx(recall_score(truth, predicted, zero_division=0))
        assert table.loc[i, "predicted positive"] == predicted.sum()


def test_a_class_missing_from_the_test_set_has_no_roc():
    y_true = np.array([0, 0, 1, 1])
    y_prob = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.4, 0.3]])
    roc, aucs = curves.roc_curves(y_true, y_prob, ["a", "b", "c"])
    assert np.isnan(aucs.loc[2, "auc"]) and set(roc["class"]) == {"a", "b"}
    _, aps = curves.pr_curves(y_true, y_prob, ["a", "b", "c"])
    assert np.isnan(aps.loc[2, "average precision"])


def test_expected_calibration_error_by_hand():
    # Top-label confidences 0.95, 0.92, 0.65, 0.55, 0.45, 1.0; correct: yes, no, yes, no, yes, yes.
    y_prob = np.array(
        [
            [0.95, 0.05, 0.00],
            [0.08, 0.92, 0.00],
            [0.65, 0.35, 0.00],
            [0.45, 0.55, 0.00],
            [0.45, 0.30, 0.25],
            [1.00, 0.00, 0.00],
        ]
    )
    y_true = np.zeros(6, np.int64)
    table, ece = curves.reliability(y_true, y_prob)
    # Bins: [0.9, 1.0] holds 0.95 (right), 0.92 (wrong), 1.0 (right): conf 0.9567, acc 2/3
    #       [0.6, 0.7) holds 0.65 (right): conf 0.65, acc 1
    #       [0.5, 0.6) holds 0.55 (wrong): conf 0.55, acc 0
    #       [0.4, 0.5) holds 0.45 (right): conf 0.45, acc 1
    by_hand = (3 * abs(2 / 3 - (0.95 + 0.92 + 1.0) / 3) + abs(1 - 0.65) + abs(0 - 0.55) + abs(1 - 0.45)) / 6
    assert ece == pytest.approx(by_hand, abs=1e-12)
    assert list(table["count"]) == [0, 0, 0, 0, 1, 1, 1, 0, 0, 3]
    assert table.loc[9, "accuracy"] == pytest.approx(2 / 3)
    spec = charts.reliability_chart(table, ece).to_dict()
    assert f"{ece:.3f}" in str(spec)


def test_ece_of_stored_predictions_matches_a_plain_loop(runs):
    run = runs["cnn"]
    conf, right = run.y_prob.max(1), run.y_prob.argmax(1) == run.y_true
    total = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inside = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
        if inside.any():
            total += abs(right[inside].mean() - conf[inside].mean()) * inside.sum()
    assert curves.reliability(run.y_true, run.y_prob)[1] == pytest.approx(total / len(conf), abs=1e-6)


# --- Map of what it learned ---------------------------------------------------------------------


def test_penultimate_features_pca_and_selection(runs, digits):
    from sklearn.decomposition import PCA

    run = runs["cnn"]
    model = run.load_model()
    x = try_image.evaluation_preprocessor(run, digits)(digits.x_test)
    feats = embedding.features(model, x)
    assert feats.shape == (len(digits.x_test), model.get_layer("probabilities").input.shape[-1])
    # The features times the last layer's weights give the stored probabilities back.
    dense = model.get_layer("probabilities")
    logits = feats @ np.asarray(dense.kernel) + np.asarray(dense.bias)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(prob / prob.sum(1, keepdims=True), run.y_prob, atol=1e-5)

    coords, share = embedding.pca_2d(feats)
    reference = PCA(2).fit(feats.astype(np.float64))
    np.testing.assert_allclose(np.abs(coords), np.abs(reference.transform(feats.astype(np.float64))), atol=1e-4)
    np.testing.assert_allclose(share, reference.explained_variance_ratio_, atol=1e-6)

    table = embedding.embedding_table(coords, run.y_true, run.y_prob, run.class_names, digits.x_test, image_cap=100)
    assert (table["image"] != "").sum() == 100 and table.loc[0, "image"].startswith("data:image/png;base64,")
    assert set(table["result"]) <= {"right", "wrong"}
    box = {"x": [0.0, float(table["x"].max())], "y": [float(table["y"].min()), 0.0]}
    chosen = embedding.indices_in_box(table, box)
    expected = table[(table["x"] >= 0) & (table["y"] <= 0)]["index"].to_numpy()
    np.testing.assert_array_equal(chosen, expected)
    assert len(embedding.indices_in_box(table, None)) == 0
    spec = charts.embedding_chart(table, "map").to_dict()
    assert spec["params"][0]["name"] == "box" and spec["params"][0]["select"]["type"] == "interval"
    assert (spec["encoding"]["x"]["title"], spec["encoding"]["y"]["title"]) == ("PCA axis 1", "PCA axis 2")
    assert any(t.get("field") == "image" for t in spec["encoding"]["tooltip"])


def test_the_map_chart_serializes_ten_thousand_points_fast():
    import time

    rng = np.random.default_rng(0)
    n, k = 10_000, 10
    y_true = rng.integers(0, k, n)
    y_prob = rng.dirichlet(np.ones(k), n)
    coords, _ = embedding.pca_2d(rng.normal(size=(n, 64)))
    images = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    table = embedding.embedding_table(coords, y_true, y_prob, [str(i) for i in range(k)], images)
    assert (table["image"] != "").sum() == embedding.IMAGE_CAP
    t0 = time.perf_counter()
    with alt.data_transformers.disable_max_rows():
        spec = charts.embedding_chart(table, "map").to_dict()
    assert time.perf_counter() - t0 < 2.0  # generous for a loaded CI machine; the bench has the real goal
    assert len(next(iter(spec["datasets"].values()))) == n


def test_tsne_gives_two_coordinates_per_point():
    feats = np.random.default_rng(0).normal(size=(40, 5))
    coords = embedding.tsne_2d(feats)
    assert coords.shape == (40, 2) and np.isfinite(coords).all()


# --- The HTML report -----------------------------------------------------------------------------

EVIL = "<img src=x onerror=alert(1)>"


def test_the_html_report_is_offline_and_escapes_every_user_string(runs, digits):
    run = runs["cnn"]
    names = (EVIL, 'two "quoted" & <b>bold</b>', *run.class_names[2:])
    run.class_names = names
    run.record = dataclasses.replace(run.record, notes=(*run.record.notes, "note with <script>alert(2)</script>"))
    page = build_report(run, digits.x_test)
    assert page.startswith("<!DOCTYPE html>")
    resources = re.findall(r"""(?:src|href)\s*=\s*["']?\s*([^"'\s>]+)""", page, flags=re.I)
    assert resources and all(not r.lower().startswith(("http:", "https:", "//")) for r in resources)
    assert "http://" not in "".join(resources) and "https://" not in "".join(resources)
    assert "<script" not in page.lower()
    assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    import html

    for name in names:
        assert html.escape(name) in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert page.count("<svg") >= 4  # loss, accuracy, ROC, PR, reliability
    assert page.count('src="data:image/png;base64,') == min(12, int((run.y_prob.argmax(1) != run.y_true).sum()))
    assert "Classification report" in page and "macro avg" in page


def test_report_charts_are_readable_and_their_legend_shows_the_drawn_shapes():
    """The HTML report's curves: text at 14 px or more, and one legend whose validation symbol is
    the square the chart draws (it showed a circle for both)."""
    import re

    import pandas as pd

    from lib.runs.report_html import chart_svg

    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7]})
    svg = chart_svg(charts.curves_chart(history, "loss"))
    sizes = [float(px) for px in re.findall(r'font-size="([0-9.]+)px"', svg)]
    assert sizes and min(sizes) >= 14
    legends = re.findall(r'aria-label="(Symbol legend[^"]*)"', svg)
    assert len(legends) == 1 and "shape" in legends[0] and "color" in legends[0]
    symbols = re.findall(r'role-legend-symbol" pointer-events="none"><path transform="[^"]*" d="([^"]*)"', svg)
    train, validation = symbols
    assert "A" in train and "h" not in train  # an arc: a circle
    assert "h" in validation and "A" not in validation  # straight edges: a square
    drawn = re.findall(r'aria-label="[^"]*split: validation"[^>]*aria-roledescription="point"[^>]*d="([^"]*)"', svg)
    assert drawn and all("h" in d for d in drawn)  # the chart draws validation as squares too


def test_a_black_digit_on_white_paper_is_said_to_differ_from_the_training_images(digits):
    """Try it's warning: a learner's photo of a black '3' on white, given to a model trained on
    white-on-black digits; a test image, and the same photo inverted, get no warning."""
    import io

    from PIL import Image

    from lib.evaluate import try_image
    from lib.evaluate.input_check import unlike_training

    three = digits.x_test[np.flatnonzero(digits.y_test == 3)[0]][..., 0]
    photo = Image.fromarray(255 - three).resize((96, 96), Image.Resampling.BILINEAR)  # black ink, white paper
    buf = io.BytesIO()
    photo.save(buf, format="PNG")
    image = try_image.to_dataset_image(buf.getvalue(), digits.image_shape)[-1].image
    warning = unlike_training(image, digits.x_train)
    assert len(warning) == 1 and "light background" in warning[0] and "invert" in warning[0]
    assert unlike_training(digits.x_test[0], digits.x_train) == []
    assert unlike_training(255 - image, digits.x_train) == []  # inverted: white on black, as in training
    # Framing: the digit drawn small in a corner of a black picture.
    small = np.zeros((8, 8, 1), np.uint8)
    small[0, 0] = 255
    assert any("crop closer" in s for s in unlike_training(small, digits.x_train))
