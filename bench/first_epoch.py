"""train_first_epoch_ratio (issue 25 item 3): Train pressed -> first epoch there to draw, through
the server's training pool with a warm worker, / a plain in-process Keras fit to the end of its
first epoch, model build included. cnn on digits, 3 epochs, a fresh seed each time (no store hit).

The pool's side is timed from `submit` (what the Train press calls) to the first epoch's row in
the handle's progress; the page polls the handle every 0.2 s, so a browser may draw up to 0.2 s later."""

from __future__ import annotations

import statistics
import tempfile
import time

from bench.common import report

REPEAT = 5


def plain_first_epoch(ds, seed: int) -> float:
    from lib.tf_import import import_keras
    from lib.train.models import build_model

    keras = import_keras()
    keras.backend.clear_session()
    seen: list[float] = []

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(time.perf_counter())
            self.model.stop_training = True

    t0 = time.perf_counter()
    model = build_model("cnn", ds.image_shape, ds.num_classes, seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = ds.x_train.astype("float32") / 255.0
    model.fit(x, ds.y_train, epochs=3, batch_size=32, validation_split=0.2, verbose=0, callbacks=[FirstEpoch()])
    return seen[0] - t0


def pooled_first_epoch(pool, ds, seed: int, root: str) -> float:
    from lib.train.settings import TrainSettings

    t0 = time.perf_counter()
    handle = pool.submit(ds, TrainSettings(model="cnn", epochs=3, seed=seed), "digits", root)
    while not handle.progress().rows:
        if handle.wait(0.005):
            handle.outcome()  # raises why it ended without an epoch
            raise RuntimeError("the training ended without an epoch")
    seconds = time.perf_counter() - t0
    handle.wait(120)
    return seconds


def run() -> None:
    from lib.data.sources import load_digits
    from lib.runs.workers import TrainingPool

    ds = load_digits()
    pool = TrainingPool(1)
    try:
        with tempfile.TemporaryDirectory() as root:
            pooled_first_epoch(pool, ds, 999, root)  # the worker is warm, as when a class has trained once
            plain_first_epoch(ds, 999)
            pooled, plain = [], []
            for seed in range(REPEAT):  # interleaved pairs: the machine's load hits both sides alike
                pooled.append(pooled_first_epoch(pool, ds, seed, root))
                plain.append(plain_first_epoch(ds, seed))
    finally:
        pool.close()
    p, q = statistics.median(pooled), statistics.median(plain)
    report("train_first_epoch_ratio", p / q, "x", f"<= 1.5; pool {p:.2f} s vs plain fit {q:.2f} s, median of {REPEAT}")
