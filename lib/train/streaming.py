"""Batches streamed from the uint8 images: converted and standardized one batch at a time.

Converting whole splits to float32 before `fit` holds copies four times the size of their
uint8 images (50,000 images of 32x32x3: 614 MB of float32 beside 154 MB of uint8). Here a
tf.data pipeline shuffles indices (a new order every epoch, drawn from the run's seed), gathers each batch from
the uint8 array, converts it and applies the generator's deterministic standardization with
the very function the rest of the app uses (lib.augment.settings.standardize_batch), so the
values are identical to the whole-split conversion; prefetch prepares the next batch while
the current one trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.augment import settings as augment
from lib.tf_import import import_keras


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def standardized_batches(
    gen: Any,
    x: np.ndarray,
    indices: np.ndarray | None = None,
    *,
    batch_size: int,
    y: np.ndarray | None = None,
    seed: int | None = None,
) -> Any:
    """A tf.data.Dataset of `gen`-standardized float32 batches of `x[indices]` (all of `x`
    when indices is None; gen None: float32 as they are, e.g. cached features), with labels
    `y[indices]` when y is given. `seed`: reshuffle every epoch (deterministically for that
    seed); None keeps the order (validation and test)."""
    import_keras()
    import tensorflow as tf

    idx = np.arange(len(x), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    shape = tuple(int(d) for d in x.shape[1:])
    if seed is None:
        data = tf.data.Dataset.from_tensor_slices(idx).batch(batch_size)
    else:
        # Each pass over the data (an epoch) draws a new order from (seed, epoch) with numpy, so
        # the order depends on the seed alone, never on TensorFlow's global random state.
        epoch = iter(range(2**62))

        def orders():
            order = idx[np.random.default_rng([seed, next(epoch)]).permutation(len(idx))]
            for start in range(0, len(order), batch_size):
                yield order[start : start + batch_size]

        data = tf.data.Dataset.from_generator(orders, output_signature=tf.TensorSpec((None,), tf.int64))
        data = data.apply(tf.data.experimental.assert_cardinality(num_batches(len(idx), batch_size)))

    def images(i: np.ndarray) -> np.ndarray:
        return x[i].astype(np.float32) if gen is None else augment.standardize_batch(gen, x[i])

    if y is None:

        def load(i: Any) -> Any:
            xb = tf.numpy_function(images, [i], tf.float32, stateful=False)
            return tf.ensure_shape(xb, (None, *shape))

    else:
        labels = np.asarray(y, dtype=np.int64)

        def load(i: Any) -> Any:
            xb, yb = tf.numpy_function(lambda j: (images(j), labels[j]), [i], (tf.float32, tf.int64), stateful=False)
            return tf.ensure_shape(xb, (None, *shape)), tf.ensure_shape(yb, (None,))

    # Batches keep their order (deterministic); prefetch overlaps the next one with training.
    return data.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
