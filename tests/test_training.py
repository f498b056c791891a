"""Training: exact per-epoch metrics, NaN, stop, the store and train-or-load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.data.sources import load_digits
from lib.evaluate import metrics
from lib.runs.config import RunConfig
from lib.runs.store import RunStore, StoreError, run_id_for
from lib.runs.train_or_load import train_or_load
from lib.train.training import TrainSettings, history_columns, split_validation, train
from lib.train.whole_model import core_of

run_config = RunConfig.for_training

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    return train(digits, TrainSettings(model="mlp", epochs=2, seed=1))


def test_history_has_exact_per_class_columns(trained, digits):
    assert trained.status == "complete"
    assert list(trained.history.columns) == history_columns(10)
    assert len(trained.history) == 2 and trained.val_confusions.shape == (2, 10, 10)
    assert trained.test_prob.shape == (len(digits.y_test), 10)
    np.testing.assert_allclose(trained.test_prob.sum(1), 1, atol=1e-4)


def test_last_epoch_metrics_equal_a_recomputation_from_the_final_model(trained, digits):
    _, val_idx = split_validation(digits, 0.2, 1)
    gen = augment.make_generator(augment.training_config(None)[0])
    prob = core_of(trained.model).predict(augment.standardize_batch(gen, digits.x_train[val_idx]), verbose=0)
    cm = metrics.confusion(digits.y_train[val_idx], prob, 10)
    np.testing.assert_array_equal(trained.val_confusions[-1], cm)
    last = trained.history.iloc[-1]
    per = metrics.per_class(cm)
    for i in range(10):
        assert last[f"val_precision_{i}"] == pytest.approx(per["precision"][i])
        assert last[f"val_recall_{i}"] == pytest.approx(per["recall"][i])
    assert last["val_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    _, keras_acc = core_of(trained.model).evaluate(
        augment.standardize_batch(gen, digits.x_train[val_idx]), digits.y_train[val_idx], verbose=0
    )
    assert last["val_accuracy"] == pytest.approx(keras_acc, abs=1e-6)


def test_validation_comes_from_training_split_only(digits):
    train_idx, val_idx = split_validation(digits, 0.2, 0)
    assert set(train_idx).isdisjoint(val_idx)
    assert max(val_idx) < len(digits.x_train)


def test_nan_loss_fails_the_run_with_a_message(digits):
    # a learning rate inside the allowed range (#22 item 7: at most 10) that still blows up
    r = train(digits, TrainSettings(model="deep_cnn", epochs=2, optimizer="sgd", learning_rate=10.0, batch_size=8))
    assert r.status == "failed" and "NaN" in r.message


def test_stop_keeps_a_partial_run_labelled_stopped(digits):
    r = train(digits, TrainSettings(model="mlp", epochs=3), should_stop=lambda: True)
    assert r.status == "stopped" and len(r.history) < 3


def test_stop_ends_the_run_within_one_batch(digits):
    """Stop pressed while batch 5 trains: batch 6 is the last one (the page says "within one batch")."""
    asked, progress = [], []

    def should_stop() -> bool:  # asked before every batch
        asked.append(1)
        return len(asked) == 6

    r = train(
        digits, TrainSettings(model="mlp", epochs=3), should_stop=should_stop, on_batch=lambda *a: progress.append(a)
    )
    assert r.status == "stopped" and r.message.startswith("stopped during epoch 1")
    assert max(b for _, b, _ in progress) == 6 and len(asked) == 6


def test_augmented_training_runs(digits):
    cfg = augment.check({"rotation_range": 10, "width_shift_range": 0.1})
    r = train(digits, TrainSettings(model="mlp", epochs=1, augment=cfg))
    assert r.status == "complete" and "rescale 1/255 added" in r.notes[0]


def test_store_round_trip_and_train_or_load(tmp_path, digits):
    store = RunStore(tmp_path)
    settings = TrainSettings(model="mlp", epochs=1)
    first = train_or_load(digits, settings, "digits", store)
    assert not first.loaded and first.run_id
    folder = tmp_path / first.run_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["config.json", "model.keras", "history.csv", "val_confusion.npy", "test_predictions.npz", "tb"]
    )
    assert list(folder.joinpath("tb").iterdir())  # TensorBoard event file
    run = store.load(first.run_id)
    np.testing.assert_allclose(run.y_prob, first.result.test_prob)
    assert run.status == "complete" and run.record.dataset.fingerprint == digits.fingerprint
    assert "tensorflow" in run.record.versions and "streamlit" in run.record.versions
    second = train_or_load(digits, settings, "digits", store)
    assert second.loaded and second.run_id == first.run_id and second.result is None
    model = run.load_model()
    np.testing.assert_allclose(model.predict(np.zeros((1, 8, 8, 1), np.float32), verbose=0).sum(), 1, atol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_run_id_depends_on_data_and_every_setting(digits):
    a = run_config(digits, TrainSettings(), "digits")
    assert run_id_for(a) == run_id_for(run_config(digits, TrainSettings(), "other label"))
    assert run_id_for(a) != run_id_for(run_config(digits, TrainSettings(seed=1), "digits"))
    assert run_id_for(a) != run_id_for(
        run_config(
            digits.with_changes(x_train=digits.x_train[1:], y_train=digits.y_train[1:]), TrainSettings(), "digits"
        )
    )


def test_stopped_run_never_counts_and_complete_replaces_it(tmp_path, digits, trained):
    store = RunStore(tmp_path)
    config = run_config(digits, TrainSettings(model="mlp", epochs=2, seed=1), "digits")
    trained.status, saved_status = "stopped", trained.status
    try:
        run_id = store.save(config, trained, digits.class_names)
        assert store.find_complete(config) is None
        trained.status = "complete"
        store.save(config, trained, digits.class_names)
        assert store.find_complete(config) == run_id
        trained.status = "failed"
        store.save(config, trained, digits.class_names)  # never replaces a complete run
        assert store.status_of(run_id) == "complete"
    finally:
        trained.status = saved_status


def test_damaged_run_folders_are_reported_and_ignored(tmp_path, digits, trained):
    store = RunStore(tmp_path)
    run_id = store.save(
        run_config(digits, TrainSettings(model="mlp", epochs=2, seed=1), "digits"), trained, digits.class_names
    )
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text(json.dumps({"status": "complete"}))
    (tmp_path / "junk").mkdir()
    runs, broken = store.list_runs()
    assert [r.run_id for r in runs] == [run_id]
    assert len(broken) == 2 and any("missing model.keras" in b for b in broken)
    with pytest.raises(StoreError, match="incomplete"):
        store.load("half")
    (tmp_path / run_id / "model.keras").write_bytes(b"truncated")
    with pytest.raises(StoreError, match="cannot be loaded"):
        store.load(run_id).load_model()
