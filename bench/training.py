"""epoch_metrics_overhead and store_speedup (cnn on digits, 5 epochs)."""

from __future__ import annotations

import statistics
import tempfile
import time

from bench.common import report
from lib.augment import settings as augment
from lib.data.sources import load_digits
from lib.runs.store import RunStore
from lib.runs.train_or_load import train_or_load
from lib.tf_import import import_keras
from lib.train.models import build_model, compile_model
from lib.train.training import TrainSettings, split_validation

EPOCHS = 5
OVERHEAD_EPOCHS = 50  # 10-15 s a side on a 2-core laptop CPU (idle: ~0.2 s an epoch)


def _prepared(ds, settings):
    train_idx, val_idx = split_validation(ds, settings.validation_split, settings.seed)
    gen = augment.make_generator(augment.training_config(None)[0])
    return gen, train_idx, val_idx


def overhead(repeat: int = 5, epochs: int = OVERHEAD_EPOCHS) -> None:
    """Same model, data, batches (streamed from uint8, standardized per batch, as train() runs
    them) and epochs: fit with our callbacks (exact per-class metrics, confusion matrix per
    epoch, TensorBoard, progress hooks) vs plain fit(validation_data=...). Also, for reference,
    the streamed batches vs plain fit on float32 arrays converted beforehand.
    Long enough (10-15 s a side here) and interleaved, so machine noise hits both sides alike;
    the figure is the ratio of the medians, and the spread printed is how far single pairs lie from it."""
    keras = import_keras()
    from lib.train import callbacks as cbs
    from lib.train.streaming import standardized_batches

    ds = load_digits()
    settings = TrainSettings(model="cnn", epochs=epochs)
    gen, train_idx, val_idx = _prepared(ds, settings)
    x_tr, y_tr = augment.standardize_batch(gen, ds.x_train[train_idx]), ds.y_train[train_idx]
    x_val, y_val = augment.standardize_batch(gen, ds.x_train[val_idx]), ds.y_train[val_idx]
    steps = -(-len(train_idx) // settings.batch_size)

    def fresh():
        keras.backend.clear_session()
        return compile_model(build_model("cnn", ds.image_shape, ds.num_classes, seed=0))

    def ours() -> float:
        model = fresh()
        with tempfile.TemporaryDirectory() as tb:
            t0 = time.perf_counter()
            batches = standardized_batches(
                gen, ds.x_train, train_idx, batch_size=settings.batch_size, y=ds.y_train, seed=0
            )
            val = standardized_batches(gen, ds.x_train, val_idx, batch_size=max(256, settings.batch_size))
            status = cbs.RunStatus()
            validation = cbs.ValidationMetrics(
                status, val, ds.y_train[val_idx], ds.num_classes, settings.batch_size, epochs, lambda *a: None
            )
            tensorboard = cbs.TensorBoardLog(status, validation, tb)
            callbacks = [
                cbs.NanGuard(status),
                validation,
                tensorboard,
                cbs.BatchProgress(status, lambda *a: None, steps),
                cbs.StopRequest(status, lambda: False),
            ]
            model.fit(batches, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
            tensorboard.close()  # as train() does
            return time.perf_counter() - t0

    def plain() -> float:
        model = fresh()
        t0 = time.perf_counter()
        batches = standardized_batches(gen, ds.x_train, train_idx, batch_size=settings.batch_size, y=ds.y_train, seed=0)
        val = standardized_batches(gen, ds.x_train, val_idx, batch_size=max(256, settings.batch_size), y=ds.y_train)
        model.fit(batches, epochs=epochs, validation_data=val, verbose=0, shuffle=False)
        return time.perf_counter() - t0

    def plain_arrays() -> float:  # for reference: Keras' own slicing of float32 arrays made beforehand
        model = fresh()
        t0 = time.perf_counter()
        model.fit(x_tr, y_tr, batch_size=settings.batch_size, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
        return time.perf_counter() - t0

    ours(), plain()  # warm-up: graph tracing, TensorFlow start-up
    t_ours, t_plain = [], []
    for _ in range(repeat):  # interleaved so machine noise hits both
        t_ours.append(ours())
        t_plain.append(plain())
    t_arrays = statistics.median([plain_arrays() for _ in range(3)])
    a, b = statistics.median(t_ours), statistics.median(t_plain)
    spread = max(abs(o / p - a / b) for o, p in zip(t_ours, t_plain, strict=True))
    report(
        "epoch_metrics_overhead",
        a / b,
        f"x plain fit ({a:.2f} s vs {b:.2f} s, {epochs} epochs, streamed batches; "
        f"pairs within ±{spread:.2f} of it, {repeat} interleaved pairs)",
        "goal <= 1.10",
    )
    report("streamed_vs_array_fit", b / t_arrays, f"x ({b:.2f} s vs {t_arrays:.2f} s plain fit on float32 arrays)", "")


def store_speedup() -> None:
    ds = load_digits()
    settings = TrainSettings(model="cnn", epochs=EPOCHS)
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        t0 = time.perf_counter()
        first = train_or_load(ds, settings, "digits", store)
        t_train = time.perf_counter() - t0
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            outcome = train_or_load(ds, settings, "digits", store)
            store.load(outcome.run_id).load_model()
            loads.append(time.perf_counter() - t0)
        t_load = statistics.median(loads)
        acc = float((first.result.test_prob.argmax(1) == first.result.y_test).mean())
    report("store_speedup", t_train / t_load, f"x (train {t_train:.2f} s vs load {t_load * 1000:.0f} ms)", "goal >= 20")
    report("cnn_digits_test_accuracy", acc, f"after {EPOCHS} epochs", "for reference")


def run() -> None:
    overhead()
    store_speedup()
