"""Training streams from uint8: batches standardized one at a time, equal to the whole-split conversion."""

from __future__ import annotations

import numpy as np
import pytest

from lib.augment import settings as augment
from lib.data.sources import load_digits
from lib.train import streaming
from lib.train.training import TrainSettings, split_validation, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.mark.parametrize(
    "config",
    [None, {"samplewise_center": True, "samplewise_std_normalization": True}, {"featurewise_center": True}],
)
def test_streamed_batches_equal_the_whole_split_standardized(digits, config):
    full, _ = augment.training_config(augment.check(config) if config else None)
    gen = augment.make_generator(full, digits.x_train)
    idx = np.array([5, 3, 100, 7, 42, 0, 9])
    batches = list(streaming.standardized_batches(gen, digits.x_train, idx, batch_size=3, y=digits.y_train))
    assert [len(b[0]) for b in batches] == [3, 3, 1]
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(x, augment.standardize_batch(gen, digits.x_train[idx]))
    np.testing.assert_array_equal(y, digits.y_train[idx])


def test_shuffle_is_per_epoch_and_fixed_by_the_seed(digits):
    gen = augment.make_generator(augment.training_config(None)[0])
    idx = np.arange(40)

    def orders(seed):
        data = streaming.standardized_batches(
            gen, digits.x_train, idx, batch_size=40, y=np.arange(len(digits.x_train)), seed=seed
        )
        return [next(iter(data))[1].numpy().tolist() for _ in range(2)]

    first, again = orders(3), orders(3)
    assert first == again  # same seed, same order every run
    assert first[0] != first[1]  # a new order every epoch
    assert sorted(first[0]) == list(range(40))


def test_training_never_converts_a_whole_split(digits, monkeypatch):
    """Every standardize_batch call during training sees one batch, never a whole split."""
    sizes = []
    real = augment.standardize_batch

    def spy(gen, x):
        sizes.append(len(x))
        return real(gen, x)

    monkeypatch.setattr(augment, "standardize_batch", spy)
    settings = TrainSettings(model="mlp", epochs=2, batch_size=32, seed=1)
    r = train(digits, settings)
    assert r.status == "complete" and len(r.history) == 2
    assert sizes and max(sizes) <= 256  # validation/test batches are max(256, batch size)
    train_idx, val_idx = split_validation(digits, 0.2, 1)
    # all training images twice (2 epochs), the validation split twice; the test set is predicted
    # by the whole model from its uint8 images (its rescale is a layer inside, #23), never standardized here
    assert sum(sizes) == 2 * len(train_idx) + 2 * len(val_idx)
