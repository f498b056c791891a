"""Augmentation: parameter table, validation, code generation, layer mapping, JSON, preview."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.augment.preview import augment_draws, describe_params, distribution_table, standardize_only, to_display
from lib.data.sources import DatasetSpec, load_dataset

GEN_ATTRS = (
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "shear_range",
    "zoom_range",
    "channel_shift_range",
    "brightness_range",
    "horizontal_flip",
    "vertical_flip",
    "fill_mode",
    "cval",
    "rescale",
    "samplewise_center",
    "samplewise_std_normalization",
    "featurewise_center",
    "featurewise_std_normalization",
)


@pytest.fixture(scope="module")
def shapes():
    return load_dataset(DatasetSpec("shapes"))


def test_table_covers_every_generator_argument_with_help():
    names = [p.name for p in augment.PARAMS]
    assert sorted(names) == sorted(GEN_ATTRS)
    assert all(p.help for p in augment.PARAMS)
    gen = augment.generator_class()()
    for p in augment.PARAMS:  # our defaults are the generator's defaults
        value = getattr(gen, p.name)
        if p.name == "zoom_range":
            assert list(value) == [1.0, 1.0]
        elif p.name == "rescale":
            assert value is None
        else:
            assert value == p.default, p.name


def test_presets_are_valid_and_match_the_tutorials():
    for name in augment.PRESETS:
        assert augment.validate(augment.preset(name)) == {}
    t = augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise")
    assert (t["rotation_range"], t["width_shift_range"], t["samplewise_std_normalization"]) == (10, 0.1, True)
    assert augment.is_identity(augment.preset("none"))


@pytest.mark.parametrize(
    "changes, key, text",
    [
        ({"brightness_range": [1.3, 0.7]}, "brightness_range", "greater than max"),
        ({"rotation_range": -10}, "rotation_range", "cannot be negative"),
        ({"zoom_range": -0.1}, "zoom_range", "cannot be negative"),
        ({"width_shift_range": 200.0}, "width_shift_range", "at most 128"),
        ({"brightness_range": [-0.5, 1.0]}, "brightness_range", "cannot be negative"),
        ({"fill_mode": "mirror"}, "fill_mode", "must be one of"),
        ({"rescale": 0}, "rescale", "positive"),
        ({"rotation_range": float("nan")}, "rotation_range", "must be a number"),
        ({"horizontal_flip": "yes"}, "horizontal_flip", "true or false"),
        ({"featurewise_zca": True}, "featurewise_zca", "unknown setting"),
    ],
)
def test_each_invalid_setting_is_named(changes, key, text):
    problems = augment.validate({**augment.default_config(), **changes})
    assert key in problems and text in problems[key]
    with pytest.raises(ValueError, match=text):
        augment.check(changes)


def test_json_round_trip_keeps_only_non_defaults():
    config = augment.preset("strong")
    text = augment.to_json(config)
    assert '"rescale"' not in text and '"rotation_range": 40' in text
    assert augment.from_json(text) == config


def test_bad_json_is_reported():
    with pytest.raises(ValueError, match="not JSON"):
        augment.from_json("{rotation")
    with pytest.raises(ValueError, match="greater than max"):
        augment.from_json('{"brightness_range": [2, 1]}')


@pytest.mark.parametrize("name", list(augment.PRESETS) + ["featurewise"])
def test_generated_code_builds_an_equal_generator(name, shapes):
    config = (
        augment.preset(name)
        if name != "featurewise"
        else augment.check(
            {
                "featurewise_center": True,
                "featurewise_std_normalization": True,
                "rescale": 1 / 255,
                "cval": 3.0,
                "fill_mode": "constant",
                "brightness_range": [0.5, 1.5],
            }
        )
    )
    x_train = shapes.x_train
    scope = {"x_train": x_train}
    exec(augment.generator_code(config), scope)  # the code exactly as the page shows it
    ours = augment.make_generator(config, x_train)
    theirs = scope["datagen"]
    for attr in GEN_ATTRS:
        a, b = getattr(ours, attr), getattr(theirs, attr)
        assert np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)), attr
    if augment.needs_fit(config):
        np.testing.assert_allclose(ours.mean, theirs.mean)
        np.testing.assert_allclose(ours.std, theirs.std)
    sample = x_train[:3].astype(np.float32)
    np.testing.assert_allclose(scope["eval_ready"](sample), standardize_only(ours, sample), rtol=1e-6)


def test_layer_mapping_converts_units():
    config = augment.check(
        {
            "rotation_range": 36,
            "width_shift_range": 0.1,
            "height_shift_range": 0.2,
            "zoom_range": 0.25,
            "shear_range": 45.0,
            "horizontal_flip": True,
            "rescale": 1 / 255,
        }
    )
    specs, gaps = augment.layer_specs(config, (32, 32, 3))
    by_name = dict(specs)
    assert by_name["RandomRotation"]["factor"] == pytest.approx(0.1)  # degrees / 360
    # The generator moves images up and down for width_shift_range (keras-team/keras#17398).
    assert (by_name["RandomTranslation"]["height_factor"], by_name["RandomTranslation"]["width_factor"]) == (0.1, 0.2)
    assert by_name["RandomZoom"]["height_factor"] == (-0.25, 0.25)
    assert by_name["RandomShear"]["x_factor"] == pytest.approx(math.sqrt(0.5), abs=1e-4)  # sin(45°)
    assert by_name["RandomFlip"]["mode"] == "horizontal"
    assert by_name["Rescaling"]["scale"] == pytest.approx(1 / 255)
    assert all(kwargs.get("fill_mode", "nearest") == "nearest" for _, kwargs in specs)  # generator's default kept
    assert any("'reflect'" in g for g in gaps)
    assert augment.shear_factor(20) == pytest.approx(math.sin(math.radians(20)))
    assert [name for name, _ in specs][-1] == "Rescaling"  # after the geometric layers: cval stays in 0..255


def test_gaps_list_what_has_no_layer():
    _, gaps = augment.layer_specs(
        augment.check({"channel_shift_range": 20.0, "brightness_range": [0.8, 1.2], "samplewise_center": True})
    )
    text = " ".join(gaps)
    assert "channel_shift_range" in text and "multiplies" in text and "samplewise" in text


def test_built_layers_run_and_normalize_like_the_generator(shapes):
    config = augment.check(
        {
            "rotation_range": 20,
            "horizontal_flip": True,
            "featurewise_center": True,
            "featurewise_std_normalization": True,
        }
    )
    x = shapes.x_train.astype(np.float32)
    model = augment.build_layers(config, x)
    assert [layer.__class__.__name__ for layer in model.layers] == ["RandomFlip", "RandomRotation", "Normalization"]
    out = np.asarray(model(x[:8], training=False))  # inference: random layers pass through
    gen = augment.make_generator(config, x)
    np.testing.assert_allclose(out, standardize_only(gen, x[:8]), atol=1e-3)
    exec_scope = {"x_train": shapes.x_train}
    exec(augment.layers_code(config), exec_scope)
    assert len(exec_scope["augment"].layers) == 3


def test_preview_draws_are_seeded_and_report_parameters(shapes):
    config = augment.preset("strong")
    gen = augment.make_generator(config)
    imgs = shapes.x_train[:2]
    a, pa = augment_draws(gen, imgs, 3, seed=5)
    b, _ = augment_draws(gen, imgs, 3, seed=5)
    c, _ = augment_draws(gen, imgs, 3, seed=6)
    assert a.shape == (2, 3, 32, 32, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert "rot" in describe_params(pa[0][0])
    assert (
        describe_params(augment.make_generator(augment.default_config()).get_random_transform((8, 8, 1), seed=0))
        == "no change"
    )


def test_samplewise_trap_distributions_differ(shapes):
    gen = augment.make_generator(augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise"))
    train = standardize_only(gen, shapes.x_train[:20])
    assert abs(train.mean()) < 1e-3 and abs(train.std() - 1) < 1e-2
    table = distribution_table({"train": train, "raw test": shapes.x_test[:20].astype(np.float32)})
    assert set(table["images"]) == {"train", "raw test"}
    assert table.groupby("images")["share"].sum().round(6).eq(1).all()
    shown = to_display(train[:1], stretch=True)
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255


@pytest.mark.parametrize("name", ["featurewise", "samplewise", "rescale"])
def test_standardize_batch_equals_the_generators_own_loop(name, shapes):
    config = {
        "featurewise": {"featurewise_center": True, "featurewise_std_normalization": True, "rescale": 1 / 255},
        "samplewise": {"samplewise_center": True, "samplewise_std_normalization": True},
        "rescale": {"rescale": 1 / 255},
    }[name]
    gen = augment.make_generator(augment.check(config), shapes.x_train)
    x = shapes.x_test[:10]
    loop = np.stack([gen.standardize(img.astype(np.float32).copy()) for img in x])
    np.testing.assert_allclose(augment.standardize_batch(gen, x), loop, rtol=1e-5, atol=1e-5)


def test_training_config_adds_rescale_only_when_pixels_stay_raw():
    cfg, notes = augment.training_config(None)
    assert cfg["rescale"] == pytest.approx(1 / 255) and notes
    cfg, notes = augment.training_config(augment.preset("mild"))
    assert cfg["rescale"] == pytest.approx(1 / 255) and cfg["rotation_range"] == 10 and notes
    cfg, notes = augment.training_config(augment.preset("tutorial: rotate 10, shift 0.1, flip, samplewise"))
    assert cfg["rescale"] is None and notes == []
