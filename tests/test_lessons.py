"""The tutorials' lessons shown live: batch-averaged per-class metrics, the labelled TensorBoard
confusion image, the fixed display scale and the flip warning on the Augmentation page."""

from __future__ import annotations

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.augment.preview import to_display
from lib.data import stats
from lib.data.sources import load_digits
from lib.evaluate import metrics
from lib.evaluate.figures import confusion_image
from lib.runs.config import RunConfig, auto_name, clean_name
from lib.tf_import import import_keras
from lib.train.settings import TrainSettings
from lib.train.training import split_validation, train
from lib.train.whole_model import core_of

pytestmark = pytest.mark.slow


def _tutorial_metrics(keras, k: int) -> list:
    """The per-class-metrics tutorial's functions, in Keras 3 ops, for integer labels."""
    ops = keras.ops

    def single_class_precision(c):
        def prec(y_true, y_pred):
            t = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            p = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
            mask = ops.cast(ops.equal(p, c), "float32")
            hit = ops.cast(ops.equal(t, p), "float32") * mask
            return ops.sum(hit) / ops.maximum(ops.sum(mask), 1.0)

        prec.__name__ = f"precision_{c}"
        return prec

    def single_class_recall(c):
        def rec(y_true, y_pred):
            t = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            p = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
            mask = ops.cast(ops.equal(t, c), "float32")
            hit = ops.cast(ops.equal(t, p), "float32") * mask
            return ops.sum(hit) / ops.maximum(ops.sum(mask), 1.0)

        rec.__name__ = f"recall_{c}"
        return rec

    return [single_class_precision(c) for c in range(k)] + [single_class_recall(c) for c in range(k)]


def test_batch_averages_equal_what_a_keras_metric_function_reports_and_differ_from_exact():
    keras = import_keras()
    ds = load_digits()
    settings = TrainSettings(model="mlp", epochs=1, batch_size=32, seed=0)
    result = train(ds, settings)
    _, val_idx = split_validation(ds, settings.validation_split, settings.seed)
    config, _ = augment.training_config(settings.augment)  # what training did to validation images
    x_val = augment.standardize_batch(augment.make_generator(config), ds.x_train[val_idx])
    y_val = ds.y_train[val_idx]
    model = core_of(result.model)  # the classifier inside the whole model takes the standardized images
    model.compile(loss="sparse_categorical_crossentropy", metrics=_tutorial_metrics(keras, 10))
    reported = model.evaluate(x_val, y_val, batch_size=32, verbose=0, return_dict=True)
    prob = model.predict(x_val, batch_size=256, verbose=0)
    batch_p, batch_r = metrics.batch_averaged_per_class(y_val, prob, 10, 32)
    np.testing.assert_allclose(batch_p, [reported[f"precision_{c}"] for c in range(10)], atol=1e-5)
    np.testing.assert_allclose(batch_r, [reported[f"recall_{c}"] for c in range(10)], atol=1e-5)
    # The history records both, and they are not the same numbers.
    row = result.history.iloc[-1]
    exact = metrics.per_class(metrics.confusion(y_val, prob, 10))["precision"].to_numpy()
    np.testing.assert_allclose([row[f"val_precision_{c}"] for c in range(10)], exact, atol=1e-6)
    np.testing.assert_allclose([row[f"val_batch_precision_{c}"] for c in range(10)], batch_p, atol=1e-6)
    assert np.abs(batch_p - exact).max() > 0.005
    gap = metrics.largest_batch_gap(result.history, 10, "precision")
    assert gap is not None and abs(gap[3] - gap[2]) == pytest.approx(np.abs(batch_p - exact).max(), abs=1e-6)


def test_tensorboard_confusion_image_is_a_labelled_heatmap():
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 5, 5]])
    img = confusion_image(cm, ["circle", "square", "triangle"])
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] > 120 and img.shape[1] > 160  # room for names, numbers and the colour bar
    # the darkest cell is the largest share (square row: 0.9), the lightest a zero cell
    dark = (img.sum(axis=2) < 200).sum()
    assert dark > 50
    big = confusion_image(np.eye(12, dtype=int) * 3, [f"class {i}" for i in range(12)])
    assert big.shape[0] > img.shape[0]


def test_preview_uses_one_fixed_scale_unless_stretch_is_asked():
    dim = np.full((1, 4, 4, 1), 50.0)
    bright = np.full((1, 4, 4, 1), 200.0)
    both = np.concatenate([dim, bright])
    fixed = to_display(both, stretch=False)
    assert fixed[0].max() < fixed[1].min()  # relative brightness kept
    assert to_display(both, stretch=True)[0].max() == to_display(both, stretch=True)[1].max()
    standardized = augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise")
    assert augment.display_range(standardized) == (-2.5, 2.5)
    rescaled = {**augment.default_config(), "rescale": 1 / 255}
    assert augment.display_range(rescaled) == pytest.approx((0.0, 1.0))
    assert augment.display_range(augment.default_config()) == (0.0, 255.0)


def test_presets_are_recognised_and_anything_else_is_custom():
    assert augment.matching_preset(augment.preset("mild")) == "mild"
    assert augment.matching_preset(augment.default_config()) == "none"
    assert augment.matching_preset({**augment.preset("mild"), "rotation_range": 11}) == augment.CUSTOM
    assert augment.flips(augment.preset(augment.DEFAULT_PRESET)) == ["horizontal_flip"]


def test_flip_warning_only_for_character_classes():
    assert "mirrored 2" in stats.orientation_sensitive(load_digits())
    ds = load_digits()
    animals = ds.with_changes(class_names=tuple(f"animal {i}" for i in range(10)))
    assert stats.orientation_sensitive(animals) == ""


def test_runs_have_names_people_can_say():
    ds = load_digits()
    assert auto_name(RunConfig.for_training(ds, TrainSettings(model="cnn", epochs=5), "digits")) == (
        "cnn · 5 ep · no aug · seed 0"
    )
    mild = TrainSettings(model="cnn", epochs=5, augment=augment.preset("mild"), seed=2)
    assert auto_name(RunConfig.for_training(ds, mild, "digits")) == "cnn · 5 ep · aug mild · seed 2"
    ft = TrainSettings(model="mobilenetv2", transfer="fine_tune", unfreeze=4, weights="none", epochs=3)
    assert (
        auto_name(RunConfig.for_training(ds, ft, "digits"))
        == "mobilenetv2 fine-tune 4 (random) · 3 ep · no aug · seed 0"
    )
    # Runs that differ only in the optimizer or the learning rate have names that say so.
    fast = TrainSettings(
        model="mobilenetv2", transfer="feature_extraction", weights="none", epochs=3, learning_rate=3e-3
    )
    assert (
        auto_name(RunConfig.for_training(ds, fast, "digits"))
        == "mobilenetv2 frozen (random) · 3 ep · no aug · seed 0 · lr 0.003"
    )
    sgd = TrainSettings(model="cnn", epochs=2, optimizer="sgd", learning_rate=1.0)
    assert auto_name(RunConfig.for_training(ds, sgd, "digits")) == "cnn · 2 ep · no aug · seed 0 · sgd · lr 1"
    everything = TrainSettings(model="mobilenetv2", transfer="train_all", weights="none", epochs=3)
    assert auto_name(RunConfig.for_training(ds, everything, "digits")).startswith(
        "mobilenetv2 all trains (random) · 3 ep"
    )
    assert clean_name("  my\nrun ![x](http://h/b.png) `code` <b>  ") == "my run x (http://h/b.png) code b"
    assert len(clean_name("a" * 500)) == 60


def test_unstandardized_evaluation_collapses_and_the_fix_restores_it():
    from lib.evaluate import traps

    ds = load_digits()
    settings = TrainSettings(
        model="mlp", epochs=2, augment=augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise")
    )
    result = train(ds, settings)
    config, _ = augment.training_config(settings.augment)
    gen = augment.make_generator(config)
    out = traps.unstandardized(core_of(result.model), gen, ds.x_test, ds.y_test)
    fixed, raw = out["after datagen.standardize (the fix)"], out["raw test images (the mistake)"]
    # the fix is what training-time evaluation gives: the stored predictions
    assert fixed["accuracy"] == pytest.approx(float((result.test_prob.argmax(1) == ds.y_test).mean()), abs=1e-6)
    assert raw["loss"] > 3 * fixed["loss"] and raw["accuracy"] < fixed["accuracy"] - 0.1
    said = traps.unstandardized_sentence(out)
    assert said.startswith("Without the step the accuracy falls from") and f"{raw['loss']:.3f}" in said
    # When the accuracy survives the shift, the sentence says the loss shows the mistake.
    kept = {traps.RAW: {"accuracy": 0.827, "loss": 24.438}, traps.STANDARDIZED: {"accuracy": 0.822, "loss": 0.999}}
    assert traps.unstandardized_sentence(kept).startswith("Here the accuracy hides the mistake (82.7% without")
    assert "24.438 against 0.999" in traps.unstandardized_sentence(kept)


def test_the_tutorial_ladder_is_built_as_the_tutorial_wrote_it():
    from lib.runs import study
    from lib.train.models import build_model
    from lib.train.transfer import backbone_layers_table, build_transfer_model, parameter_counts

    steps = study.tutorial_ladder(weights="none")
    assert [name for name, _ in steps] == list(study.LADDER)
    own, fe, ft, aug = (s for _, s in steps)
    assert own.model == "tutorial_cnn" and own.epochs == 50 and own.batch_size == 128
    assert aug.augment == augment.preset("tutorial: rotate 30, shift 0.2, zoom 0.2, flip")

    def build(s):
        return build_transfer_model(
            s.backbone, (32, 32, 3), 3, mode=s.transfer, unfreeze=s.unfreeze, weights="none",
            head=s.head, backbone_input=s.backbone_input,
        )[0]  # fmt: skip

    fe_model = build(fe)
    table = backbone_layers_table(fe_model)
    assert table["trainable"].all() and table["params"].sum() == 14_714_688  # nothing frozen, as written
    assert parameter_counts(fe_model)[1] == 0  # "Non-trainable params: 0"
    names = [layer.name for layer in fe_model.layers]
    assert "raw_pixels_0_255" in names and "vgg16_preprocess_input" not in names
    assert {"flatten", "dense_128", "dense_64", "dense_32"} <= set(names)
    ft_table = backbone_layers_table(build(ft))
    trainable = ft_table[ft_table["trainable"]]
    assert list(trainable["layer"]) == ["block5_conv3"] and trainable["params"].sum() == 2_359_808
    assert ft_table[~ft_table["trainable"]]["params"].sum() == 12_354_880
    cnn = build_model("tutorial_cnn", (32, 32, 3), 3)
    convs = [layer.filters for layer in cnn.layers if layer.__class__.__name__ == "Conv2D"]
    dense = [layer.units for layer in cnn.layers if layer.__class__.__name__ == "Dense"]
    assert convs == [128, 256, 128, 64] and dense == [128, 64, 32, 3]


def test_new_settings_fields_keep_earlier_run_ids():
    ours = TrainSettings(model="vgg16", transfer="fine_tune", unfreeze=4).to_dict()
    assert "head" not in ours and "backbone_input" not in ours
    tutorial = TrainSettings(model="vgg16", head="tutorial", backbone_input="raw").to_dict()
    assert tutorial["head"] == "tutorial" and tutorial["backbone_input"] == "raw"
    assert "head" not in TrainSettings(model="cnn").to_dict()
    assert (
        TrainSettings(model="vgg16", head="tutorial", backbone_input="raw")
        .mode_text()
        .endswith("as the tutorial wrote it")
    )


def test_compare_page_offers_the_tutorial_ladder_beside_ours():
    from tests.helpers import app_on_page

    at = app_on_page("pages/compare.py")
    at.radio(key="study_ladder").set_value("follow the tutorial (as written)").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "nothing frozen" in text and "block5_conv3" in text and "own CNN 0.50" in text
    assert "Non-trainable params: 0" in text and "LAST 20%" in text


def test_tensorboard_logs_hold_every_epochs_scalars_and_heatmap(tmp_path):
    """What `tensorboard --logdir runs` reads: per-epoch scalars equal to the history, and the
    labelled heatmap of that epoch's validation confusion matrix."""
    import io

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, SCALARS, EventAccumulator

    ds = load_digits()
    result = train(ds, TrainSettings(model="mlp", epochs=2), tb_dir=tmp_path)
    events = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0, IMAGES: 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss", "val_accuracy", "val_precision/0", "val_recall/9", "val_batch_precision/3"} <= set(tags["scalars"])
    for column, tag in (("val_accuracy", "val_accuracy"), ("val_precision_4", "val_precision/4")):
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in logged] == [1, 2]
        np.testing.assert_allclose([v for _, v in logged], result.history[column], rtol=1e-6)
    images = events.Images("val_confusion_by_true_class")
    assert [i.step for i in images] == [1, 2]
    last = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB"))
    np.testing.assert_array_equal(last, confusion_image(result.val_confusions[-1], ds.class_names))
