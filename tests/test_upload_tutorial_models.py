"""Models as the tutorials make them are accepted, each with a note saying what was done:
one sigmoid unit for 2 classes, logits, another input size, inputs in -1..1. A multi-label
model is refused with its reason. The stored model is whole: uint8 images in, the stored
probabilities out; Try it gives a test image its stored prediction."""

from __future__ import annotations

import numpy as np
import pytest

from lib.data.dataset import Dataset
from lib.data.sources import load_digits
from lib.errors import ModelFileError
from lib.evaluate import try_image
from lib.runs.store import RunStore
from lib.runs.uploaded import evaluate_upload, fit_problems, load_user_model
from lib.tf_import import import_keras


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def two_digits(digits):
    """Zeros and ones only: a 2-class data set."""
    tr, te = np.isin(digits.y_train, (0, 1)), np.isin(digits.y_test, (0, 1))
    return Dataset(
        "zeros and ones", digits.x_train[tr], digits.y_train[tr], digits.x_test[te], digits.y_test[te], ("0", "1")
    )


def _upload(model, ds, tmp_path, scale):
    path = tmp_path / "m.keras"
    model.save(path)
    data = path.read_bytes()
    store = RunStore(tmp_path / "runs")
    run_id, notes, problem = evaluate_upload(load_user_model(data, "m.keras"), data, "m.keras", ds, "d", store, scale)
    assert problem == ""
    run = store.load(run_id)
    whole = run.load_stored_model()  # uint8 in, the stored probabilities out
    np.testing.assert_allclose(whole.predict(ds.x_test, verbose=0), run.y_prob, atol=1e-6)
    tried = try_image.predict_image(run.load_model(), try_image.evaluation_preprocessor(run, ds), ds.x_test[3])
    np.testing.assert_allclose(tried, run.y_prob[3], atol=1e-5)
    return run, notes


def test_keras_io_binary_model_one_sigmoid_unit_rescaling_inside(two_digits, tmp_path):
    """keras-io's "image classification from scratch": Rescaling(1/255) inside, Dense(1, sigmoid)."""
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    run, notes = _upload(model, two_digits, tmp_path, "0..255")
    p = model.predict(two_digits.x_test.astype(np.float32), verbose=0)[:, 0]
    np.testing.assert_allclose(run.y_prob, np.stack([1 - p, p], axis=1), atol=1e-6)
    assert "one sigmoid unit for 2 classes: read as [1 - p, p] (p is the second class)" in notes


def test_one_unit_giving_logits_gets_a_sigmoid_first(two_digits, tmp_path):
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(1, kernel_initializer="ones")(keras.layers.Flatten()(inp)))
    run, notes = _upload(model, two_digits, tmp_path, "0..1")
    p = 1 / (1 + np.exp(-model.predict(two_digits.x_test / 255.0, verbose=0)[:, 0]))
    np.testing.assert_allclose(run.y_prob[:, 1], p, atol=1e-5)
    assert "the single output unit gave logits: sigmoid applied" in notes


def test_logits_get_softmax(digits, tmp_path):
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(inp)))
    run, notes = _upload(model, digits, tmp_path, "0..1")
    logits = model.predict(digits.x_test / 255.0, verbose=0)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(run.y_prob, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert "the outputs were not probabilities: softmax applied" in notes


def test_another_input_size_and_rgb_are_adapted_inside_the_model(digits, tmp_path):
    keras = import_keras()
    inp = keras.Input((16, 16, 3))
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inp)))
    run, notes = _upload(model, digits, tmp_path, "0..1")
    x = np.repeat(digits.x_test.astype(np.float32) / 255, 3, axis=-1)
    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(x, (16, 16), interpolation="bilinear"))
    np.testing.assert_allclose(run.y_prob, model.predict(resized, verbose=0), atol=1e-5)
    assert "images resized from 8x8 to 16x16 (bilinear, as Try it resizes), inside the model" in notes
    assert "gray images repeated into 3 channels, as the model takes RGB" in notes


def test_mobilenet_style_inputs_in_minus_one_to_one(digits, tmp_path):
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inp)))
    run, notes = _upload(model, digits, tmp_path, "-1..1")
    expected = model.predict(digits.x_test.astype(np.float32) / 127.5 - 1, verbose=0)
    np.testing.assert_allclose(run.y_prob, expected, atol=1e-5)
    assert notes[0] == "uploaded m.keras; test images scaled to -1..1"


def test_multi_label_model_is_refused_with_its_reason(digits, tmp_path):
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(10, activation="sigmoid")(keras.layers.Flatten()(inp)))
    (problem,) = fit_problems(model, digits)
    assert problem.startswith("the model ends in 10 sigmoid units: a multi-label model")
    with pytest.raises(ModelFileError, match="multi-label"):
        evaluate_upload(model, b"x", "m.keras", digits, "d", RunStore(tmp_path), "0..1")


def test_messages_read_as_english(digits, two_digits):
    keras = import_keras()
    inp = keras.Input((8, 8, 1))
    one = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inp)))
    assert fit_problems(one, digits) == ["the model predicts 1 class, the dataset has 10 classes"]
    assert fit_problems(one, two_digits) == []
