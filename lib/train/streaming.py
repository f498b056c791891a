"""Batches streamed from the uint8 images: converted and standardized one batch at a time.

Converting whole splits to float32 before `fit` holds copies four times the size of their
uint8 images (50,000 images of 32x32x3: 614 MB of float32 beside 154 MB of uint8). Here a
tf.data pipeline shuffles indices (per epoch, with the run's seed), gathers each batch from
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
    """A tf.data.Dataset of `gen`-standardized float32 batches of `x[indices]` (all of `x` when
    indices is None), with labels `y[indices]` when y is given. `seed`: reshuffle every epoch
    (deterministically for that seed); None keeps the order (validation and test)."""
    import_keras()
    import tensorflow as tf

    idx = np.arange(len(x), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    shape = tuple(int(d) for d in x.shape[1:])
    data = tf.data.Dataset.from_tensor_slices(idx)
    if seed is not None:
        data = data.shuffle(max(1, len(idx)), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)

    def images(i: np.ndarray) -> np.ndarray:
        return augment.standardize_batch(gen, x[i])

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
