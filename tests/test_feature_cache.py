"""Cached backbone features: the frozen part runs once, results equal the plain path's."""

from __future__ import annotations

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.data.sources import DatasetSpec, load_dataset, load_digits
from lib.runs.store import RunStore
from lib.runs.train_or_load import feature_cache_dir, train_or_load
from lib.tf_import import import_keras
from lib.train import feature_cache
from lib.train.settings import TrainSettings
from lib.train.training import train
from lib.train.transfer import build_transfer_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backbone_store(tmp_path_factory):
    """A store holding a finished digits CNN: a backbone that works offline and has real features."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    run = train_or_load(load_digits(), TrainSettings(model="cnn", epochs=2), "digits", store)
    return store, run.run_id


@pytest.fixture(scope="module")
def shapes():
    return load_dataset(DatasetSpec("shapes"))


@pytest.fixture
def computed(monkeypatch):
    """How many times the frozen part was run over a split (train, test)."""
    calls = []
    real = feature_cache.compute

    def spy(run, gen, x, shape):
        calls.append(len(x))
        return real(run, gen, x, shape)

    monkeypatch.setattr(feature_cache, "compute", spy)
    return calls


def _acc(r):
    return float((r.test_prob.argmax(1) == r.y_test).mean())


# The stored CNN ends in Dense -> Dropout: fit runs that Dropout even in a frozen backbone, so
# the cut goes below it; the same maths then gives the same numbers.
@pytest.mark.parametrize(
    ("mode", "unfreeze", "cut"), [("feature_extraction", 0, "before dropout"), ("fine_tune", 1, "before dense")]
)
def test_cached_training_equals_the_plain_path(backbone_store, shapes, tmp_path, computed, mode, unfreeze, cut):
    store, run_id = backbone_store
    settings = TrainSettings(model=f"run:{run_id}", epochs=3, transfer=mode, unfreeze=unfreeze, seed=2)
    plain = train(shapes, settings, store=store, cache_features=False)
    assert computed == []
    cached = train(shapes, settings, store=store, cache_dir=tmp_path)
    assert computed == [len(shapes.x_train), len(shapes.x_test)]  # once per split, not once per epoch
    assert plain.status == cached.status == "complete"
    assert any(f"({cut}" in n and "computed once" in n for n in cached.notes)
    assert abs(_acc(plain) - _acc(cached)) <= 0.02
    # Same seed, same layers, same batches in the same order: the same maths.
    np.testing.assert_allclose(cached.test_prob, plain.test_prob, atol=1e-5)
    np.testing.assert_allclose(cached.history["loss"], plain.history["loss"], rtol=1e-5)
    np.testing.assert_array_equal(cached.val_confusions, plain.val_confusions)


def test_second_run_reads_the_cache_file(backbone_store, shapes, tmp_path, computed):
    store, run_id = backbone_store
    settings = TrainSettings(model=f"run:{run_id}", epochs=1)
    first = train(shapes, settings, store=store, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and len(computed) == 2
    mtime = files[0].stat().st_mtime_ns
    second = train(shapes, settings, store=store, cache_dir=tmp_path)
    assert len(computed) == 2  # the frozen part did not run again
    assert files[0].stat().st_mtime_ns == mtime
    assert any("read from the cache" in n for n in second.notes)
    np.testing.assert_allclose(second.test_prob, first.test_prob, atol=1e-6)
    # Other data, another key: computed again, a second file.
    fewer = shapes.with_changes(x_train=shapes.x_train[:100], y_train=shapes.y_train[:100])
    train(fewer, settings, store=store, cache_dir=tmp_path)
    assert len(computed) == 4 and len(list(tmp_path.glob("*.npz"))) == 2


def test_test_probabilities_are_the_whole_models_even_from_a_cache_file_that_lies(backbone_store, shapes, tmp_path):
    """On the cached path the top's prediction on the cached test features is stored (no second
    frozen pass), after the whole model predicts a sample of the test images from uint8. A cache
    file whose test features are not the frozen part's (tampered, or from other code) fails that
    check: the whole model then predicts every test image, so the stored probabilities stay its own."""
    from lib.train.whole_model import predict_uint8

    store, run_id = backbone_store
    settings = TrainSettings(model=f"run:{run_id}", epochs=1)
    honest = train(shapes, settings, store=store, cache_dir=tmp_path)
    np.testing.assert_allclose(predict_uint8(honest.model, shapes.x_test), honest.test_prob, atol=1e-5)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as cached:
        train_features, test_features = cached["train"], cached["test"]
    np.savez(path, train=train_features, test=test_features[::-1].copy())  # the right shape, the wrong images
    lied_to = train(shapes, settings, store=store, cache_dir=tmp_path)
    assert any("read from the cache" in n for n in lied_to.notes)
    np.testing.assert_allclose(predict_uint8(lied_to.model, shapes.x_test), lied_to.test_prob, atol=1e-5)


def _frozen_part_with_batchnorm(keras):
    rng = np.random.default_rng(3)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3)(x)
    x = keras.layers.BatchNormalization()(x)
    frozen = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    for layer in frozen.layers:  # trained-looking statistics, not the initial 0 and 1
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            stats = [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.5, n), rng.uniform(0.2, 2, n)]
            layer.set_weights(stats)
    images = rng.integers(0, 256, (70, 12, 12, 3), dtype=np.uint8)  # 64 + 6: a last, partial batch
    return frozen, images


@pytest.mark.parametrize("mixed", [False, True], ids=["float32", "mixed precision"])
def test_the_frozen_part_runs_as_one_graph_of_constants_with_predicts_features(mixed):
    """feature_cache.inference: the frozen part with its weights as constants (so TensorFlow can
    fold each BatchNormalization into its convolution) computes Keras predict()'s features."""
    from lib.train.accelerators import precision
    from lib.train.streaming import standardized_batches

    keras = import_keras()
    with precision(mixed):
        frozen, images = _frozen_part_with_batchnorm(keras)
        gen = augment.make_generator(augment.training_config(None)[0])
        shape = tuple(frozen.output.shape[1:])

        def keras_features():
            batches = standardized_batches(gen, images, batch_size=feature_cache.PREDICT_BATCH)
            return np.asarray(frozen.predict(batches, verbose=0), np.float32)

        run = feature_cache.inference(frozen)
        assert run.note == ""
        ours, expected = feature_cache.compute(run, gen, images, shape), keras_features()
        assert ours.shape == (70, *shape) and ours.dtype == np.float32
        tolerance = 1e-2 if mixed else 1e-5  # bfloat16 keeps 8 bits of mantissa
        np.testing.assert_allclose(ours, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())
        # Constants taken when it was made: new weights change predict()'s features, not these.
        frozen.set_weights([w * 2 for w in frozen.get_weights()])
        assert not np.allclose(keras_features(), expected)
        np.testing.assert_array_equal(feature_cache.compute(run, gen, images, shape), ours)
        assert feature_cache.compute(run, gen, images[:0], shape).shape == (0, *shape)


def test_a_frozen_part_that_cannot_become_constants_runs_by_predict_and_the_note_says_why(
    backbone_store, shapes, tmp_path, monkeypatch
):
    from tensorflow.python.framework import convert_to_constants

    from lib.train.streaming import standardized_batches

    def refuse(*args, **kwargs):
        raise ValueError("GraphDef cannot be larger than 2GB")

    monkeypatch.setattr(convert_to_constants, "convert_variables_to_constants_v2", refuse)
    frozen, images = _frozen_part_with_batchnorm(import_keras())
    gen = augment.make_generator(augment.training_config(None)[0])
    run = feature_cache.inference(frozen)
    assert run.note == "its weights stayed variables: ValueError: GraphDef cannot be larger than 2GB"
    expected = frozen.predict(standardized_batches(gen, images, batch_size=64), verbose=0)
    np.testing.assert_array_equal(feature_cache.compute(run, gen, images, tuple(frozen.output.shape[1:])), expected)
    # A whole run says so in its note, and trains on those features.
    store, run_id = backbone_store
    r = train(shapes, TrainSettings(model=f"run:{run_id}", epochs=1), store=store, cache_dir=tmp_path)
    assert r.status == "complete"
    assert any("computed once" in n and "(its weights stayed variables: ValueError" in n for n in r.notes)


def test_random_augmentation_trains_the_plain_way_and_says_so(backbone_store, shapes, tmp_path, computed):
    store, run_id = backbone_store
    settings = TrainSettings(model=f"run:{run_id}", epochs=1, augment=augment.check({"rotation_range": 10}))
    r = train(shapes, settings, store=store, cache_dir=tmp_path)
    assert r.status == "complete"
    assert feature_cache.NOT_CACHED_RANDOM in r.notes
    assert computed == [] and not list(tmp_path.glob("*.npz"))


def test_stored_model_is_the_whole_model(backbone_store, shapes):
    store, run_id = backbone_store
    settings = TrainSettings(model=f"run:{run_id}", epochs=2, transfer="fine_tune", unfreeze=1)
    outcome = train_or_load(shapes, settings, "shapes", store)
    assert any("computed once" in n for n in outcome.result.notes)
    assert len(list(feature_cache_dir(store).glob("*.npz"))) == 1
    stored = store.load(outcome.run_id)
    model = stored.load_model()
    assert {"rgb_to_gray", "resize_to_8x8", "probabilities"} <= {layer.name for layer in model.layers}
    x = augment.standardize_batch(augment.make_generator(augment.training_config(None)[0]), shapes.x_test)
    np.testing.assert_allclose(model.predict(x, verbose=0), outcome.result.test_prob, atol=1e-5)
    np.testing.assert_allclose(stored.y_prob, outcome.result.test_prob, atol=1e-6)
    _, broken = store.list_runs()
    assert broken == []  # the .cache folder is not a run


@pytest.mark.parametrize(
    ("mode", "unfreeze", "cut"),
    [
        ("feature_extraction", 0, "backbone output"),
        # N counts weighted layers other than BatchNormalization (which stays frozen):
        # the last 2 are block_16_project and Conv_1.
        ("fine_tune", 2, "before block_16_project"),
        # With 5, block_15_project is the first trainable layer, but block 15 adds its input back
        # (a skip connection): the only clean cut is below the whole block.
        ("fine_tune", 5, "before block_15_expand"),
    ],
)
def test_split_is_exact_and_respects_skip_connections(mode, unfreeze, cut):
    keras = import_keras()
    keras.backend.clear_session()
    model, _ = build_transfer_model("mobilenetv2", (8, 8, 1), 10, mode=mode, unfreeze=unfreeze, weights="none")
    split = feature_cache.split_model(
        model, TrainSettings(model="mobilenetv2", transfer=mode, unfreeze=unfreeze, weights="none")
    )
    assert split.cut == cut
    top_trainable = {id(w) for w in split.top.trainable_weights}
    assert top_trainable == {id(w) for w in model.trainable_weights}  # everything that trains is in the top
    assert split.frozen.trainable_weights == []  # nothing below the cut ever changes: safe to cache
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(
        split.top.predict(split.frozen.predict(x, verbose=0), verbose=0), model.predict(x, verbose=0)
    )


def test_cli_says_whether_features_were_cached(tmp_path):
    from tests.test_cli import cli

    store = str(tmp_path / "runs")
    first = cli("train", "digits", "--model", "cnn", "--epochs", "1", "--store", store)
    assert first.returncode == 0, first.stderr
    backbone = "run:" + first.stdout.split("run id: ")[1].split()[0]
    aug = tmp_path / "aug.json"
    aug.write_text('{"image_data_generator": {"rotation_range": 10}}')
    base = ("train", "shapes", "--model", backbone, "--epochs", "1", "--store", store)
    augmented = cli(*base, "--augment", str(aug))
    assert augmented.returncode == 0, augmented.stderr
    assert "note: features not cached: random augmentation changes every image each epoch" in augmented.stdout
    plain = cli(*base)
    assert plain.returncode == 0, plain.stderr
    assert "computed once" in plain.stdout and "only the layers above it train each epoch" in plain.stdout
