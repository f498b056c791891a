"""Mixed precision and mirrored training (lib.train.accelerators), on this CPU.

The multi-device path runs in a subprocess whose CPU is split into two logical devices
(EXPLORER_LOGICAL_CPUS=2 must be set before TensorFlow starts), as a user without GPUs would try it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from lib.data.sources import load_digits
from lib.errors import SettingsError
from lib.runs.config import RunConfig
from lib.tf_import import import_keras
from lib.train import accelerators
from lib.train.models import build_model, compile_model
from lib.train.settings import TrainSettings
from lib.train.training import train
from lib.train.whole_model import core_of
from tests.helpers import ROOT


def _run(code: str, env: dict, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def test_mixed_precision_computes_in_16_bits_keeps_float32_weights_and_softmax():
    keras = import_keras()
    ds = load_digits()
    r = train(ds, TrainSettings(model="cnn", epochs=2, mixed_precision=True))
    assert r.status == "complete", r.message
    core = core_of(r.model)  # the classifier inside the whole model (its uint8 input and rescale)
    conv, out = core.get_layer("block1_conv"), core.get_layer("probabilities")
    # No GPU here: bfloat16, the CPU's 16-bit type (float16 on a GPU).
    assert accelerators.mixed_policy_name() == "mixed_bfloat16"
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert out.compute_dtype == "float32" and r.model.outputs[0].dtype == "float32"
    assert np.allclose(r.test_prob.sum(axis=1), 1.0, atol=1e-5)
    assert float((r.test_prob.argmax(1) == r.y_test).mean()) > 0.6  # it still learns
    assert any("mixed precision (mixed_bfloat16)" in n and "softmax stay float32" in n for n in r.notes)
    # The policy is only for that run: the next model is float32 again.
    assert keras.config.dtype_policy().name == "float32"
    assert build_model("cnn", ds.image_shape, ds.num_classes).get_layer("block1_conv").compute_dtype == "float32"


def test_mixed_float16_scales_the_loss_and_keeps_the_softmax_float32():
    """What a GPU gets (the sentence "the loss scaled so small gradients survive")."""
    keras = import_keras()
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = compile_model(build_model("mlp", (8, 8, 1), 3))
    finally:
        keras.config.set_dtype_policy(before)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("dense").compute_dtype == "float16"
    assert model.get_layer("probabilities").compute_dtype == "float32"
    assert "loss scaled" in accelerators.precision_note("mixed_float16")
    assert "loss scaled" not in accelerators.precision_note("mixed_bfloat16")


def test_the_precision_is_restored_after_a_failed_run_too():
    keras = import_keras()
    with pytest.raises(RuntimeError), accelerators.precision(True):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_mixed_precision_is_its_own_run_and_old_run_ids_hold():
    ds = load_digits()
    plain = TrainSettings(model="cnn", epochs=1)
    mixed = TrainSettings(model="cnn", epochs=1, mixed_precision=True)
    assert "mixed_precision" not in plain.to_dict()  # runs stored before keep their ids
    assert mixed.to_dict()["mixed_precision"] is True
    assert TrainSettings.from_dict(mixed.to_dict()) == mixed
    ids = {RunConfig.for_training(ds, s, "digits").run_id for s in (plain, mixed)}
    assert len(ids) == 2
    with pytest.raises(SettingsError, match="mixed precision"):
        TrainSettings(mixed_precision="yes").check()


def test_devices_all_with_one_device_says_there_is_nothing_to_mirror():
    where = accelerators.placement("all")
    assert where.strategy is None and "nothing to mirror" in where.note
    assert accelerators.placement("one").note == "trained on the CPU"
    with pytest.raises(SettingsError, match="unknown devices"):
        accelerators.placement("both")


def test_training_threads_each_get_their_own_precision():
    """Keras keeps the dtype policy per thread: a mixed build in one thread leaves another's float32."""
    keras = import_keras()
    seen: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def mixed_thread() -> None:
        with accelerators.precision(True):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=mixed_thread)
    t.start()
    inside.wait(10)
    seen.append(keras.config.dtype_policy().name)
    release.set()
    t.join()
    assert seen == ["float32"]


MIRRORED = """
    import json
    import numpy as np
    from lib.data.sources import load_digits
    from lib.train import accelerators
    from lib.train.settings import TrainSettings
    from lib.train.streaming import standardized_batches
    from lib.train.training import split_validation, train
    from lib.augment import settings as augment

    ds = load_digits()
    from lib.errors import SettingsError
    where = accelerators.placement("all")
    try:
        train(ds, TrainSettings(model="mlp", epochs=1, batch_size=33), devices="all")
        odd = ""
    except SettingsError as exc:
        odd = str(exc)
    # 1,149 training images: the epoch's last batch (27) splits unevenly, which is allowed.
    settings = TrainSettings(model="mlp", epochs=2, batch_size=34)
    mirrored = train(ds, settings, devices="all")
    one = train(ds, settings, devices="one")
    _, val_idx = split_validation(ds, settings.validation_split, settings.seed)
    # The mirrored model's predictions, gathered from both devices, in the images' order:
    # compared row by row with the same model called directly on the same images.
    gen = augment.make_generator(augment.training_config(None)[0])
    x_val = augment.standardize_batch(gen, ds.x_train[val_idx])
    direct = np.asarray(mirrored.model(x_val, training=False))
    gathered = mirrored.model.predict(standardized_batches(gen, ds.x_train, val_idx, batch_size=64), verbose=0)
    # Another model mirrored in the same process, as a warm worker's next job (each new strategy
    # once numbered its collectives from the same key: "Shape mismatch in the collective
    # instance 100"). It is a transfer run: mirrored, Keras' predict() computes the frozen part's
    # features (split between the devices), the same as the one graph of constants on one device.
    from lib.train import feature_cache
    from lib.train.transfer import build_transfer_model
    small = ds.with_changes(x_train=ds.x_train[:340], y_train=ds.y_train[:340])
    fe = TrainSettings(model="mobilenetv2", weights="none", epochs=1, batch_size=34)
    transfer = train(small, fe, devices="all")
    with where.scope():
        backbone_model, _ = build_transfer_model(fe.backbone, ds.image_shape, ds.num_classes, weights="none")
        frozen = feature_cache.split_model(backbone_model, fe).frozen
        shape = tuple(frozen.output.shape[1:])
        predicted = []
        keras_predict = frozen.predict
        frozen.predict = lambda *a, **k: predicted.append(1) or keras_predict(*a, **k)
        features_mirrored = feature_cache.compute(feature_cache.inference(frozen), gen, ds.x_test, shape)
    features_one = feature_cache.compute(feature_cache.inference(frozen), gen, ds.x_test, shape)
    print(json.dumps({
        "transfer_status": transfer.status,
        "transfer_message": transfer.message,
        "transfer_notes": transfer.notes,
        "predicted_mirrored": len(predicted),
        "feature_gap": float(np.abs(features_mirrored - features_one).max() / np.abs(features_one).max()),
        "devices": list(where.devices),
        "replicas": where.strategy.num_replicas_in_sync,
        "odd": odd,
        "status": mirrored.status,
        "notes": mirrored.notes,
        "one_notes": one.notes,
        "val_images": len(val_idx),
        "confusion_sums": mirrored.val_confusions.sum(axis=(1, 2)).tolist(),
        "history_val_accuracy": mirrored.history["val_accuracy"].tolist(),
        "confusion_accuracy": [float(np.trace(c) / c.sum()) for c in mirrored.val_confusions],
        "order_gap": float(np.abs(direct - gathered).max()),
        "acc": float((mirrored.test_prob.argmax(1) == mirrored.y_test).mean()),
        "acc_one": float((one.test_prob.argmax(1) == one.y_test).mean()),
    }))
"""


@pytest.mark.slow
def test_devices_all_mirrors_training_over_two_logical_cpus():
    r = _run(MIRRORED, {"EXPLORER_LOGICAL_CPUS": "2"})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and [d.rsplit(":", 2)[-2:] for d in out["devices"]] == [["CPU", "0"], ["CPU", "1"]]
    assert out["odd"] == (
        "with 2 devices the batch size must be a multiple of 2 (each device takes an equal share of every batch): "
        "33 is not"
    )
    assert out["status"] == "complete"
    assert any("trained on 2 logical CPU devices with MirroredStrategy" in n for n in out["notes"])
    assert any(n == "trained on the CPU" for n in out["one_notes"])
    # Validation metrics are computed once per epoch, on the whole split (not per device).
    assert out["confusion_sums"] == [out["val_images"]] * 2
    assert out["history_val_accuracy"] == pytest.approx(out["confusion_accuracy"])
    assert out["order_gap"] < 1e-5
    # Same data, same seed: mirrored training learns as one device does.
    assert out["acc"] > 0.7 and abs(out["acc"] - out["acc_one"]) < 0.1
    assert out["transfer_status"] == "complete", out["transfer_message"]
    assert any("computed once" in n for n in out["transfer_notes"])
    assert any("trained on 2 logical CPU devices" in n for n in out["transfer_notes"])
    assert out["predicted_mirrored"] == 1 and out["feature_gap"] < 1e-5  # one predict() call, mirrored only


@pytest.mark.slow
def test_cli_trains_mirrored_and_mixed_as_the_readme_says(tmp_path):
    store = str(tmp_path / "runs")
    r = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "digits", "--model", "mlp", "--epochs", "1", "--store", store]
        + ["--devices", "all", "--mixed-precision"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "EXPLORER_LOGICAL_CPUS": "2"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "note: trained on 2 logical CPU devices with MirroredStrategy" in r.stdout
    assert "note: mixed precision (mixed_bfloat16)" in r.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "digits", "--devices", "all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EXPLORER_LOGICAL_CPUS": "two"},
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: EXPLORER_LOGICAL_CPUS must be a whole number of at least 2, not 'two'"
    ]
