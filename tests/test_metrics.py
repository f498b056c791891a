"""lib.metrics against scikit-learn on many cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, classification_report, confusion_matrix, f1_score

from lib.evaluate import metrics


def cases():
    rng = np.random.default_rng(0)
    for trial in range(25):
        k = int(rng.integers(2, 8))
        n = int(rng.integers(1, 60))
        y_true = rng.integers(0, k, n)
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
        if trial % 3 == 0:
            y_pred[y_pred == 0] = 1 % k  # a class never predicted
        if trial % 4 == 0:
            y_true[y_true == k - 1] = 0  # a class absent from y_true
        yield k, y_true, y_pred


@pytest.mark.parametrize("k, y_true, y_pred", list(cases()))
def test_confusion_and_report_equal_sklearn(k, y_true, y_pred):
    labels = list(range(k))
    cm = metrics.confusion(y_true, y_pred, k)
    np.testing.assert_array_equal(cm, confusion_matrix(y_true, y_pred, labels=labels))
    for how in ("true", "pred"):
        with np.errstate(all="ignore"):
            expected = np.nan_to_num(confusion_matrix(y_true, y_pred, labels=labels, normalize=how))
        np.testing.assert_allclose(metrics.normalize(cm, how), expected)
    names = [f"c{i}" for i in labels]
    ours = metrics.report(cm, names)
    theirs = classification_report(y_true, y_pred, labels=labels, target_names=names, output_dict=True, zero_division=0)
    for name in names + ["macro avg", "weighted avg"]:
        for col in ("precision", "recall", "f1-score", "support"):
            assert ours.loc[name, col] == pytest.approx(theirs[name][col]), (name, col)
    acc = theirs.get("accuracy", theirs.get("micro avg", {}).get("f1-score"))
    assert ours.loc["accuracy", "precision"] == pytest.approx(acc)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert metrics.balanced_accuracy(cm) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert metrics.summary(cm, 0)["macro F1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )


def test_one_hot_and_probabilities_become_labels():
    y = np.array([0, 2, 1, 2])
    one_hot = np.eye(3)[y]
    prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1], [0.5, 0.1, 0.4]])
    cm = metrics.confusion(one_hot, prob, 3)
    np.testing.assert_array_equal(cm, confusion_matrix(y, prob.argmax(1), labels=[0, 1, 2]))


def test_confusion_table_colour_and_label_use_one_normalization():
    cm = np.array([[8, 2], [1, 9]])
    table = metrics.confusion_table(cm, ["a", "b"], "true")
    row = table[(table.true == "a") & (table.predicted == "b")].iloc[0]
    assert row["value"] == pytest.approx(0.2) and row["label"] == "20%" and row["count"] == 2
    assert row["share_of_pred"] == pytest.approx(2 / 11)
    counts = metrics.confusion_table(cm, ["a", "b"], None)
    assert counts["label"].tolist() == ["8", "2", "1", "9"]


def test_top_confusions_cells_and_mistakes():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    prob = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.4, 0.6, 0], [0.1, 0.9, 0], [0.7, 0.3, 0], [0, 0.05, 0.95]])
    cm = metrics.confusion(y_true, prob, 3)
    top = metrics.top_confusions(cm, ["a", "b", "c"])
    assert top.iloc[0][["true", "predicted", "count"]].tolist() == ["a", "b", 2]
    assert len(top) == 2
    assert metrics.cell_examples(y_true, prob, 0, 1).tolist() == [1, 2]  # 0.8 before 0.6
    assert metrics.confident_mistakes(y_true, prob).tolist() == [1, 4, 2]


def test_a_collapsed_model_is_named_with_likely_causes():
    from lib.evaluate.collapse import check_collapse
    from lib.train.settings import TrainSettings

    one_class = np.zeros((10, 10), int)
    one_class[:, 3] = 45  # every image predicted '3'
    c = check_collapse(one_class, 0.102, TrainSettings(model="cnn", optimizer="sgd", learning_rate=1.0, epochs=2))
    text = c.sentence()
    assert "test accuracy 10.0% is no better than the majority baseline 10.2%" in text
    assert "predicts class 3 for 100% of the test images" in text
    assert "learning rate 1 is large" in text and "too few epochs (2)" in text
    named = check_collapse(one_class, None, None, [f"c{i}" for i in range(10)])
    assert named.seen == ("it predicts 'c3' (class 3) for 100% of the test images",)
    random_backbone = TrainSettings(model="mobilenetv2", weights="none", transfer="feature_extraction")
    assert "random weights (NOT pretrained)" in check_collapse(one_class, 0.1, random_backbone).sentence()
    good = np.diag(np.full(10, 40)) + 1
    assert check_collapse(good, 0.102, TrainSettings()) is None
    near_baseline = np.full((10, 10), 5)  # accuracy 10%, predictions spread over all classes
    assert check_collapse(near_baseline, 0.1, TrainSettings()).seen == (
        "test accuracy 10.0% is no better than the majority baseline 10.0%",
    )
    assert check_collapse(near_baseline, float("nan"), TrainSettings()) is None  # baseline not recorded


def test_a_difference_of_two_shares_is_drawn_in_percentage_points_and_a_share_in_percent():
    import pandas as pd

    from lib import charts

    spec = charts.difference_heatmap(np.array([[0.5, -0.5], [0.0, 0.0]]), ["a", "b"]).to_dict()
    color = spec["layer"][0]["encoding"]["color"]
    assert color["title"] == "B − A (pp)" and "' pp'" in color["legend"]["labelExpr"]
    assert "%" not in color["legend"].get("format", "")
    assert {d["points"] for d in spec["datasets"][spec["data"]["name"]]} == {50.0, -50.0, 0.0}
    table = pd.DataFrame(
        {"true": ["a", "a"], "predicted": ["a", "b"], "value": [0.75, 0.25], "label": ["75%", "25%"],
         "count": [3, 1], "share_of_true": [0.75, 0.25], "share_of_pred": [1.0, 1.0]}
    )  # fmt: skip
    legend = charts.confusion_heatmap(table, "true").to_dict()["layer"][0]["encoding"]["color"]["legend"]
    assert legend["format"] == ".0%"  # the cells print percent: so does the colour scale


@pytest.mark.parametrize("metric", ["precision", "recall"])
def test_the_batch_gap_box_says_no_difference_when_every_batch_average_is_exact(metric):
    """A validation split that fits in one batch: each batch average is the exact value, and the box
    says there is no difference instead of a "Largest difference" between two equal numbers."""
    from lib import i18n
    from lib.data.sources import load_digits
    from lib.train.settings import TrainSettings
    from lib.train.training import train

    ds = load_digits()
    few = ds.with_changes(x_train=ds.x_train[:120], y_train=ds.y_train[:120])  # 24 validation images, batch 32
    run = train(few, TrainSettings(model="mlp", epochs=2, batch_size=32))
    c, epoch, exact, batch = metrics.largest_batch_gap(run.history, 10, metric)
    assert exact == batch
    first = metrics.batch_gap_sentences("cat", metric, epoch, exact, batch)[0]
    assert first == (
        f"No difference in this run: at every epoch, each class's batch-averaged {metric} equals its exact one."
    )
    with i18n.using("ko"):
        korean = metrics.batch_gap_sentences("cat", metric, epoch, exact, batch)[0]
    assert korean.startswith("이 실행에서는 차이가 없습니다")
    assert ("정밀도" if metric == "precision" else "재현율") in korean
    # Where the two differ, the box names the largest difference and both numbers.
    differ = metrics.batch_gap_sentences("cat", metric, 2, 0.9, 0.8)[0]
    assert differ == f"Largest difference: class 'cat' {metric} at epoch 2: exact 0.900, batch-averaged 0.800."


@pytest.mark.parametrize("mode", ["fine_tune", "train_all"])
def test_a_collapsed_run_on_a_random_backbone_names_it_in_every_mode(mode):
    """Not only feature extraction: a fine-tuned (or wholly trained) backbone with random weights is
    named as a likely cause, and what the sentence says of a random MobileNetV2 holds: its output,
    through its frozen BatchNormalization layers, is near 0."""
    from lib.evaluate.collapse import check_collapse
    from lib.tf_import import import_keras
    from lib.train.settings import TrainSettings
    from lib.train.transfer import build_transfer_model

    one_class = np.zeros((3, 3), int)
    one_class[:, 0] = 20
    settings = TrainSettings(model="mobilenetv2", weights="none", transfer=mode, unfreeze=4)
    text = check_collapse(one_class, 0.33, settings).sentence()
    assert "a backbone with random weights (NOT pretrained): nothing learned before to transfer" in text
    pretrained_run = TrainSettings(model="cnn", epochs=5)
    assert "random weights" not in check_collapse(one_class, 0.33, pretrained_run).sentence()
    keras = import_keras()
    model, _ = build_transfer_model(settings.backbone, (32, 32, 3), 3, mode=mode, unfreeze=4, weights="none")
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    feeding = keras.Model(model.inputs, model.layers[model.layers.index(backbone) - 1].output)
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.float32)
    out = np.asarray(backbone(feeding([images]), training=False))
    assert np.abs(out).max() < 1e-4  # near 0 for images spread over -1..1
