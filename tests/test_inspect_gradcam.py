"""The class activation map looks where the class is: a small CNN trained on images whose class
lives only in the top-left quadrant puts most of its heatmap there.

Our `cnn` flattens before its Dense head, so the map is HiResCAM (gradient x activation per
position, lib.evaluate.explain's default); on a pooling head it equals classic Grad-CAM,
which the last test checks."""

from __future__ import annotations

import numpy as np
import pytest

from lib.evaluate import explain
from lib.tf_import import import_keras

pytestmark = pytest.mark.slow

SIZE, HALF = 24, 12


def quadrant_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise everywhere; a class pattern (horizontal bar, vertical bar, square ring) in the
    top-left quadrant only, at a random offset inside it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.6, (n, SIZE, SIZE, 1)).astype(np.float32)
    y = np.arange(n) % 3
    for i in range(n):
        r, c = rng.integers(1, HALF - 7, 2)
        patch = np.zeros((6, 6), np.float32)
        if y[i] == 0:
            patch[2:4, :] = 1
        elif y[i] == 1:
            patch[:, 2:4] = 1
        else:
            patch[[0, -1], :] = 1
            patch[:, [0, -1]] = 1
        x[i, r : r + 6, c : c + 6, 0] = np.maximum(x[i, r : r + 6, c : c + 6, 0], patch)
    return x, y


@pytest.fixture(scope="module")
def quadrant_model():
    from lib.train.models import build_model, compile_model

    keras = import_keras()
    keras.backend.clear_session()
    x, y = quadrant_data(900, 0)
    model = compile_model(build_model("cnn", (SIZE, SIZE, 1), 3, seed=0))
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model


def test_the_model_learned_the_task(quadrant_model):
    x, y = quadrant_data(120, 1)
    accuracy = (quadrant_model.predict(x, verbose=0).argmax(1) == y).mean()
    assert accuracy > 0.9


def test_class_activation_map_puts_most_of_its_mass_in_the_informative_quadrant(quadrant_model):
    x, y = quadrant_data(60, 2)
    layer = explain.last_conv_layer(quadrant_model)
    assert layer is not None and layer.backbone is None
    masses = []
    for i in range(len(x)):
        e = explain.gradcam(quadrant_model, x[i : i + 1], int(y[i]))
        assert e.heatmap.shape == (SIZE, SIZE) and e.method == "HiResCAM"
        assert e.heatmap.min() >= 0 and e.heatmap.max() <= 1
        masses.append(explain.mass_in(e.heatmap, slice(0, HALF), slice(0, HALF)))
    # A quarter of the area; a heatmap that ignored the content would hold about 25% there.
    assert np.mean(masses) > 0.5, np.mean(masses)


def test_gradient_x_input_also_prefers_that_quadrant(quadrant_model):
    x, y = quadrant_data(30, 3)
    masses = [
        explain.mass_in(
            explain.saliency(quadrant_model, x[i : i + 1], int(y[i])).heatmap, slice(0, HALF), slice(0, HALF)
        )
        for i in range(len(x))
    ]
    assert np.mean(masses) > 0.25


def test_on_a_pooling_head_hirescam_equals_classic_gradcam():
    """Conv -> GlobalAveragePooling -> Dense: the gradient is constant over space, so weighing
    per position (HiResCAM) and weighing per channel (Grad-CAM) give the same map."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    image, _ = quadrant_data(1, 4)
    for k in range(3):
        hires = explain.gradcam(model, image, k, method="hirescam").heatmap
        classic = explain.gradcam(model, image, k, method="gradcam")
        assert classic.method == "Grad-CAM"
        np.testing.assert_allclose(hires, classic.heatmap, atol=1e-5)
