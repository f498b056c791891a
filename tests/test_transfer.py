"""Transfer learning: modes, trainable layers, input adaptation, offline weights, run backbones."""

from __future__ import annotations

import numpy as np
import pytest

from lib.data.sources import load_digits
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.tf_import import import_keras
from lib.train.training import TrainSettings, train
from lib.train.transfer import TransferError, backbone_layers_table, build_transfer_model, parameter_counts
from lib.train.whole_model import core_of

pytestmark = pytest.mark.slow


def test_feature_extraction_freezes_the_whole_backbone():
    model, info = build_transfer_model("mobilenetv2", (8, 8, 1), 10, weights="none")
    assert not info.pretrained and info.source == "random" and info.input_shape == (96, 96, 3)
    table = backbone_layers_table(model)
    assert len(table) > 20 and not table["trainable"].any()
    trainable, frozen = parameter_counts(model)
    assert trainable == 1280 * 10 + 10  # only the new softmax head
    assert frozen > 400_000


def test_fine_tuning_unfreezes_exactly_the_last_n_weighted_layers():
    model, _ = build_transfer_model("vgg16", (32, 32, 3), 3, mode="fine_tune", unfreeze=2, weights="none")
    table = backbone_layers_table(model)
    assert table["trainable"].tolist()[-2:] == [True, True] and not table["trainable"].iloc[:-2].any()
    assert list(table[table.trainable]["layer"]) == ["block5_conv2", "block5_conv3"]
    trainable, _ = parameter_counts(model)
    assert trainable == 2 * (3 * 3 * 512 * 512 + 512) + 512 * 3 + 3


def test_input_adaptation_gray_to_rgb_resize_and_vgg_preprocess():
    keras = import_keras()
    model, _ = build_transfer_model("vgg16", (8, 8, 1), 10, weights="none")
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["gray_to_rgb", "resize_to_32x32", "vgg16_preprocess_input"]
    # The fixed layers equal keras.applications.vgg16.preprocess_input on 0..255 pixels.
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    part = keras.Sequential([keras.Input((32, 32, 3)), model.get_layer("vgg16_preprocess_input")])
    np.testing.assert_allclose(np.asarray(part(x)), keras.applications.vgg16.preprocess_input(x * 255), atol=1e-3)


def test_imagenet_offline_is_a_clear_error(offline):
    with pytest.raises(TransferError, match="not in the Keras cache .* choose weights 'none'"):
        build_transfer_model("mobilenetv2", (32, 32, 3), 3, weights="imagenet")


def test_the_offline_error_says_why_the_download_failed_without_the_long_url(offline, monkeypatch):
    """On a machine without internet Keras says "URL fetch failure on <a 110-character URL>: None --
    <why>"; the message keeps the why, so it reads whole on the page."""
    import urllib.error

    from keras.src.utils import file_utils

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(TransferError) as caught:
        build_transfer_model("mobilenetv2", (32, 32, 3), 3, weights="imagenet")
    assert str(caught.value).endswith("or a local weights file [[Errno -3] Temporary failure in name resolution]"), str(
        caught.value
    )


def test_local_weights_file_is_used(tmp_path):
    keras = import_keras()
    donor = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), include_top=False, weights=None, alpha=0.35, pooling="avg"
    )
    path = tmp_path / "mnv2.weights.h5"
    donor.save_weights(path)
    model, info = build_transfer_model("mobilenetv2", (32, 32, 3), 3, weights=str(path))
    assert info.pretrained and info.source == "file mnv2.weights.h5"
    backbone = next(layer for layer in model.layers if hasattr(layer, "layers"))
    np.testing.assert_allclose(backbone.get_weights()[0], donor.get_weights()[0])
    with pytest.raises(TransferError, match="not found"):
        build_transfer_model("mobilenetv2", (32, 32, 3), 3, weights=str(tmp_path / "missing.h5"))


def test_a_stored_run_as_backbone_works_offline(tmp_path):
    from lib.data.sources import DatasetSpec, load_dataset

    store = RunStore(tmp_path)
    digits_run = train_or_load(load_digits(), TrainSettings(model="cnn", epochs=1), "digits", store)
    shapes = load_dataset(DatasetSpec("shapes"))
    settings = TrainSettings(model=f"run:{digits_run.run_id}", epochs=1, transfer="fine_tune", unfreeze=1)
    result = train(shapes, settings, store=store)
    assert result.status == "complete" and result.test_prob.shape == (52, 3)
    assert any(f"run {digits_run.run_id}" in n for n in result.notes)
    names = [layer.name for layer in core_of(result.model).layers]
    assert "rgb_to_gray" in names and "resize_to_8x8" in names
    with pytest.raises(TransferError, match="no run"):
        build_transfer_model("run:nope", (32, 32, 3), 3, store=store)


def test_normalizing_augmentation_is_refused_for_backbones():
    with pytest.raises(ValueError, match="expects pixels in 0..1"):
        TrainSettings(model="vgg16", augment={"samplewise_center": True}).check()
    TrainSettings(model="vgg16", augment={"rotation_range": 10, "rescale": 1 / 255}).check()


def test_transfer_fields_do_not_change_own_model_runs():
    assert TrainSettings(model="cnn", weights="none").to_dict() == TrainSettings(model="cnn").to_dict()
    assert TrainSettings(model="vgg16", weights="none").to_dict() != TrainSettings(model="vgg16").to_dict()


def _bn_statistics(model) -> list[np.ndarray]:
    from lib.train.transfer import batch_norm_layers

    backbone = next(layer for layer in model.layers if hasattr(layer, "layers"))
    return [np.array(w) for bn in batch_norm_layers(backbone) for w in (bn.moving_mean, bn.moving_variance)]


def _fit_one_epoch(model, ds, n: int = 64) -> None:
    from lib.train.models import compile_model

    compile_model(model, "adam", 1e-2)
    model.fit(ds.x_train[:n].astype(np.float32) / 255.0, ds.y_train[:n], epochs=1, batch_size=16, verbose=0)


@pytest.mark.parametrize(("mode", "trainable"), [("fine_tune", 30), ("train_all", 52)])
def test_training_keeps_every_batch_norm_layer_of_mobilenetv2_frozen(mode, trainable):
    """Keras 3's fit passes training=True down, overriding backbone(x, training=False): without
    freezing, 15 of MobileNetV2's 52 BatchNormalization layers moved in one epoch. The page says
    this holds in every mode where the backbone trains."""
    ds = load_digits()
    model, _ = build_transfer_model("mobilenetv2", (8, 8, 1), 10, mode=mode, unfreeze=30, weights="none")
    before = _bn_statistics(model)
    assert len(before) == 2 * 52
    table = backbone_layers_table(model)
    assert table["trainable"].sum() == trainable and not table[table.type == "BatchNormalization"]["trainable"].any()
    weights_before = [np.array(w) for w in model.trainable_weights]
    _fit_one_epoch(model, ds)
    for b, a in zip(before, _bn_statistics(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(b, np.array(a)) for b, a in zip(weights_before, model.trainable_weights, strict=True))


def test_fine_tuning_a_deep_cnn_run_backbone_keeps_its_batch_norm_statistics(tmp_path):
    store = RunStore(tmp_path)
    ds = load_digits()
    run = train_or_load(ds, TrainSettings(model="deep_cnn", epochs=1), "digits", store)
    for mode in ("fine_tune", "feature_extraction"):
        model, _ = build_transfer_model(f"run:{run.run_id}", (8, 8, 1), 10, mode=mode, unfreeze=10, store=store)
        before = _bn_statistics(model)
        assert len(before) == 2 * 4
        _fit_one_epoch(model, ds)
        for b, a in zip(before, _bn_statistics(model), strict=True):
            np.testing.assert_array_equal(a, b)


def test_cli_says_not_pretrained_and_run_backbones_do_not_record_imagenet(tmp_path, capsys):
    import json

    from lib.cli import main

    full = load_digits()
    ds = full.with_changes(x_train=full.x_train[:60], y_train=full.y_train[:60], x_test=full.x_test[:20],
                           y_test=full.y_test[:20])  # fmt: skip
    store = RunStore(tmp_path)
    random_backbone = TrainSettings(model="vgg16", weights="none", epochs=1)
    run_id = train_or_load(ds, random_backbone, "digits", store).run_id
    assert main(["report", run_id, "--store", str(tmp_path)]) == 0  # `train` prints the same report
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("run vgg16 frozen (random) · 1 ep") and "NOT pretrained" in first
    assert f"(id {run_id}) · vgg16 · feature extraction, NOT pretrained" in first
    assert "random weights, NOT pretrained" in out
    from lib.runs.study import study_table  # the study's table (page and CLI) says it too

    row = study_table([("feature extraction", store.load(run_id))]).iloc[0]
    assert row["model"] == "vgg16 · feature extraction, NOT pretrained"

    cnn_id = train_or_load(ds, TrainSettings(model="cnn", epochs=1), "digits", store).run_id
    run_backbone_id = train_or_load(ds, TrainSettings(model=f"run:{cnn_id}", epochs=1), "digits", store).run_id
    config_path = tmp_path / run_backbone_id / "config.json"
    settings = json.loads(config_path.read_text())["settings"]
    assert settings["model"] == f"run:{cnn_id}" and "weights" not in settings
    assert main(["report", run_backbone_id, "--store", str(tmp_path)]) == 0
    assert "NOT pretrained" not in capsys.readouterr().out
    # A run stored before this, with "weights": "imagenet" recorded for its run backbone, still loads.
    old = json.loads(config_path.read_text())
    old["settings"]["weights"] = "imagenet"
    config_path.write_text(json.dumps(old))
    loaded = RunStore(tmp_path).load(run_backbone_id)
    assert loaded.settings.pretrained and loaded.record.run_id == run_backbone_id
    assert main(["report", run_backbone_id, "--store", str(tmp_path)]) == 0


def test_unfreezing_more_layers_than_the_backbone_has_is_said(tmp_path):
    """A CNN run on digits has 3 layers with weights (2 convolutions, 1 dense): 'last 4' trains all 3."""
    store = RunStore(tmp_path)
    ds = load_digits()
    cnn = train_or_load(ds, TrainSettings(model="cnn", epochs=1), "digits", store)
    model, info = build_transfer_model(f"run:{cnn.run_id}", (8, 8, 1), 10, mode="fine_tune", unfreeze=4, store=store)
    assert (info.trainable_layers, info.unfrozen) == (3, 3)
    assert backbone_layers_table(model)["trainable"].all()
    small = ds.with_changes(x_train=ds.x_train[:60], y_train=ds.y_train[:60], x_test=ds.x_test[:20],
                            y_test=ds.y_test[:20])  # fmt: skip
    result = train(small, TrainSettings(model=f"run:{cnn.run_id}", epochs=1, transfer="fine_tune", unfreeze=4),
                   store=store)  # fmt: skip
    assert any("last 3 of its 3 layers with weights train (asked for 4" in n for n in result.notes), result.notes
    _, info = build_transfer_model(f"run:{cnn.run_id}", (8, 8, 1), 10, mode="fine_tune", unfreeze=2, store=store)
    assert (info.trainable_layers, info.unfrozen) == (3, 2)
