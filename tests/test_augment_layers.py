"""The ImageDataGenerator -> Keras 3 layer mapping, checked against the generator itself: the same
fixed transform through both compared pixel by pixel, and sampled parameters over many draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.augment.preview import describe_params
from lib.tf_import import import_keras

DRAWS = 400


def _dot(h: int = 16, w: int = 16, at: tuple[int, int] = (5, 9)) -> np.ndarray:
    img = np.zeros((h, w, 1), np.float32)
    img[at] = 200.0
    return img


def _where(img: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(int(np.argmax(img[..., 0])), img.shape[:2])
    return int(r), int(c)


def _flip_outcome(out: np.ndarray, img: np.ndarray) -> str:
    for name, ref in (
        ("none", img),
        ("h", img[:, ::-1]),
        ("v", img[::-1, :]),
        ("both", img[::-1, ::-1]),
    ):
        if np.array_equal(out, ref):
            return name
    raise AssertionError("not a flip of the image")


def test_two_flips_are_two_independent_draws_like_the_generator():
    config = augment.check({"horizontal_flip": True, "vertical_flip": True})
    specs, _ = augment.layer_specs(config)
    assert specs == [("RandomFlip", {"mode": "horizontal"}), ("RandomFlip", {"mode": "vertical"})]
    img = _dot(8, 8, (1, 2))
    import_keras().utils.set_random_seed(0)
    out = np.asarray(augment.build_layers(config)(np.repeat(img[None], DRAWS, 0), training=True))
    layer_counts = dict.fromkeys(("none", "h", "v", "both"), 0)
    for o in out:
        layer_counts[_flip_outcome(o, img)] += 1
    gen = augment.make_generator(config)
    gen_counts = dict.fromkeys(layer_counts, 0)
    for seed in range(DRAWS):
        gen_counts[_flip_outcome(gen.random_transform(img.copy(), seed=seed), img)] += 1
    # Each of the four outcomes about a quarter of the time in both (one draw for both flips: h and v never).
    for counts in (layer_counts, gen_counts):
        assert all(60 <= n <= 140 for n in counts.values()), counts


def test_fill_value_and_normalization_are_in_the_units_each_layer_receives():
    keras = import_keras()
    # cval is 0..255 like the images; the geometric layers come before Rescaling and get it as it is.
    config = augment.check({"rotation_range": 45, "fill_mode": "constant", "cval": 128.0, "rescale": 1 / 255})
    specs, _ = augment.layer_specs(config)
    assert [name for name, _ in specs] == ["RandomRotation", "Rescaling"]
    img = np.full((16, 16, 1), 10.0, np.float32)
    assert specs[0][1]["fill_value"] == 128.0
    fixed = keras.Sequential(  # the same layers with the rotation fixed at 45°
        [
            keras.layers.RandomRotation((45 / 360, 45 / 360), fill_mode="constant", fill_value=128.0),
            keras.layers.Rescaling(**specs[1][1]),
        ]
    )
    layer_out = np.asarray(fixed(img[None], training=True))[0]
    gen = augment.make_generator(config)
    gen_out = gen.standardize(gen.apply_transform(img.copy(), {"theta": 45}))
    assert gen_out[0, 0, 0] == pytest.approx(128 / 255, abs=1e-4)  # a corner is filled: cval, rescaled after
    assert layer_out[0, 0, 0] == pytest.approx(128 / 255, abs=1e-4)
    assert layer_out[8, 8, 0] == pytest.approx(10 / 255, abs=1e-4) and gen_out[8, 8, 0] == pytest.approx(10 / 255)

    # Featurewise statistics: adapted on rescaled images, since Normalization receives rescaled ones.
    x = np.random.default_rng(0).integers(0, 256, (200, 8, 8, 3)).astype(np.float32)
    config = augment.check({"featurewise_center": True, "featurewise_std_normalization": True, "rescale": 1 / 255})
    model = augment.build_layers(config, x)
    assert [layer.__class__.__name__ for layer in model.layers] == ["Rescaling", "Normalization"]
    out = np.asarray(model(x, training=False))
    assert abs(out.mean()) < 1e-3 and out.std() == pytest.approx(1.0, abs=1e-2)
    gen = augment.make_generator(config, x)
    np.testing.assert_allclose(out, augment.standardize_batch(gen, x), atol=1e-3)
    scope = {"x_train": x}
    exec(augment.layers_code(config), scope)  # the code as the page shows it adapts the same way
    np.testing.assert_allclose(np.asarray(scope["augment"](x, training=False)), out, atol=1e-4)


@pytest.mark.parametrize("value, pixels", [(3.0, 3.0), (1.0, 1.0), (0.25, 4.0)])
def test_shift_ranges_of_one_or_more_are_pixels_as_in_the_generator(value, pixels):
    """16x16 image: 3.0 is three pixels, 1.0 one pixel, 0.25 a quarter (4 px). The generator moves
    images up and down for width_shift_range (its axes are swapped); the layer does the same."""
    keras = import_keras()
    img = _dot()
    for name, axis in (("width_shift_range", 0), ("height_shift_range", 1)):
        config = augment.check({name: value, "fill_mode": "constant"})
        specs, gaps = augment.layer_specs(config, img.shape)
        kwargs = dict(specs)["RandomTranslation"]
        factor = kwargs["height_factor"] if axis == 0 else kwargs["width_factor"]
        assert factor * 16 == pytest.approx(pixels)
        assert any("keras-team/keras#17398" in g for g in gaps)
        # Sampled over many draws: where the dot lands, through the generator and through the layer.
        gen = augment.make_generator(config)
        gen_moves = {np.subtract(_where(gen.random_transform(img.copy(), seed=s)), (5, 9))[axis] for s in range(DRAWS)}
        import_keras().utils.set_random_seed(1)
        out = np.asarray(
            augment.build_layers(config, image_shape=img.shape)(np.repeat(img[None], DRAWS, 0), training=True)
        )
        layer_moves = {np.subtract(_where(o), (5, 9))[axis] for o in out}
        assert max(abs(m) for m in gen_moves) == max(abs(m) for m in layer_moves) == round(pixels)
        assert {np.subtract(_where(o), (5, 9))[1 - axis] for o in out} == {0}  # the other axis stays
        # One fixed shift through both gives the same pixels.
        key = "ty" if axis == 0 else "tx"
        gen_out = gen.apply_transform(img.copy(), {key: -pixels})
        fixed = dict(kwargs)
        fixed["height_factor" if axis == 0 else "width_factor"] = (factor, factor)
        fixed["height_factor" if axis == 1 else "width_factor"] = 0.0
        layer_out = np.asarray(keras.layers.RandomTranslation(**fixed)(img[None], training=True))[0]
        np.testing.assert_allclose(layer_out, gen_out, atol=1e-3)


def test_shift_controls_say_pixels_and_accept_them():
    for name in ("width_shift_range", "height_shift_range"):
        p = augment.PARAM_BY_NAME[name]
        assert "1.0 = one pixel" in p.help and p.high >= 32
        assert augment.validate({name: 3.0}) == {}
    # A whole number means a choice of whole pixels to the generator: always passed on as a float.
    assert augment.check({"width_shift_range": 2})["width_shift_range"] == 2.0
    assert "width_shift_range=2.0" in augment.generator_code({"width_shift_range": 2})


def test_preview_labels_name_the_way_the_image_moved():
    gen = augment.make_generator(augment.check({"height_shift_range": 0.25}))
    img = _dot()
    moved = _where(gen.apply_transform(img.copy(), {"tx": -2.0}))
    assert moved == (5, 11)  # tx (from height_shift_range) moved the dot sideways
    assert describe_params({"tx": -2.0}) == "dx -2.0px" and describe_params({"ty": 1.0}) == "dy +1.0px"
    # A caption never breaks at a hyphen ("h-" / "flip") nor shows a move that rounds to zero ("dy -0.0px").
    assert describe_params({"ty": -0.01, "flip_horizontal": True}) == "h\u2011flip"
    assert describe_params({"theta": 0.3}) == "no change"


def test_shear_has_the_generators_slant_and_the_difference_is_stated():
    """A vertical bar sheared by 15° through both: the same slope (sin 15°), but the generator
    shears about the centre and RandomShear about the top-left corner."""
    keras = import_keras()
    s, size = 15.0, 32
    img = np.zeros((size, size, 1), np.float32)
    img[:, 16, 0] = 200.0
    config = augment.check({"shear_range": s, "fill_mode": "constant"})
    specs, gaps = augment.layer_specs(config, img.shape)
    k = dict(specs)["RandomShear"]["x_factor"]
    assert k == pytest.approx(math.sin(math.radians(s)), abs=1e-4)
    gen = augment.make_generator(config)
    rows = np.arange(4, size - 4)
    gen_cols = [np.argmax(r) for r in gen.apply_transform(img.copy(), {"shear": s})[rows, :, 0]]
    layer = keras.layers.RandomShear(x_factor=(k, k), y_factor=0.0, fill_mode="constant")
    layer_cols = [np.argmax(r) for r in np.asarray(layer(img[None], training=True))[0][rows, :, 0]]
    gen_slope, gen_at0 = np.polyfit(rows, gen_cols, 1)
    layer_slope, layer_at0 = np.polyfit(rows, layer_cols, 1)
    assert abs(gen_slope) == pytest.approx(k, abs=0.02) and abs(layer_slope) == pytest.approx(k, abs=0.02)
    middle = (size - 1) / 2
    assert gen_slope * middle + gen_at0 == pytest.approx(16, abs=0.6)  # the generator keeps the centre
    layer_middle = layer_slope * middle + layer_at0
    assert abs(layer_middle - 16) == pytest.approx(k * middle, abs=0.7)  # the layer moves it ~4 px
    text = " ".join(gaps)
    assert f"sin {s:g}°" in text and "top-left corner" in text and f"{k * size / 2:.1f} px" in text
    assert "RandomShear to 'reflect'" in text and "RandomShear: 'constant'" not in text
    assert keras.layers.RandomShear(0.1).fill_mode == "reflect"


@pytest.mark.parametrize("name", list(augment.PRESETS))
def test_every_presets_layer_code_runs(name):
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype(np.float32)
    scope = {"x_train": x}
    exec(augment.layers_code(augment.preset(name), x.shape[1:]), scope)
    out = np.asarray(scope["augment"](x, training=True))
    assert out.shape == x.shape
    built = augment.build_layers(augment.preset(name), x)
    assert np.asarray(built(x, training=False)).shape == x.shape
