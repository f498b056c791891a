"""Dataset statistics and the class-balance chart, checked against plain numpy."""

from __future__ import annotations

import numpy as np

from lib.charts import class_balance_chart
from lib.data import stats
from lib.data.dataset import Dataset
from lib.data.snippets import loading_code
from lib.data.sources import DatasetSpec, load_dataset


def _ds(x_train, y_train, x_test, y_test, names=("a", "b")):
    return Dataset("t", x_train, np.asarray(y_train, np.int64), x_test, np.asarray(y_test, np.int64), names)


def test_pixel_stats_match_numpy():
    ds = load_dataset(DatasetSpec("shapes"))
    table = stats.pixel_stats(ds)
    train_g = table[(table.split == "train") & (table.channel == "G")].iloc[0]
    g = ds.x_train[..., 1].astype(np.float64)
    assert train_g["min"] == g.min() and train_g["max"] == g.max()
    assert abs(train_g["mean"] - g.mean()) < 1e-3 and abs(train_g["std"] - g.std()) < 1e-3
    assert len(table) == 6


def test_majority_baseline_and_imbalance():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 4, 4, 1), dtype=np.uint8)
    ds = _ds(x[:7], [0, 0, 0, 0, 0, 0, 1], x[7:], [0, 1, 1])
    b = stats.majority_baseline(ds)
    assert b.class_name == "a" and abs(b.accuracy - 1 / 3) < 1e-9
    assert b.imbalance_ratio == 6 and b.unbalanced
    assert b.sentence() == "Always predicting 'a' scores 33% accuracy on this test set."


def test_class_counts_include_empty_test_class():
    x = np.zeros((6, 2, 2, 1), np.uint8)
    x[:, 0, 0, 0] = np.arange(6)
    ds = _ds(x[:4], [0, 1, 0, 1], x[4:], [0, 0])
    counts = stats.class_counts(ds)
    assert counts["test"].tolist() == [2, 0]
    assert counts["train"].tolist() == [2, 2]


def test_duplicates_across_splits_found():
    x = np.random.default_rng(1).integers(0, 256, (6, 4, 4, 1), dtype=np.uint8)
    x_test = np.stack([x[2], x[5] ^ 1, x[2]])
    ds = _ds(x, [0, 1, 0, 1, 0, 1], x_test, [0, 1, 1])
    dupes = stats.duplicates_across_splits(ds)
    assert dupes["test index"].tolist() == [0, 2]
    assert dupes["train indices"].tolist() == ["2", "2"]


def test_sample_indices_are_seeded_and_per_class():
    y = np.array([0] * 10 + [1] * 3)
    a = stats.sample_indices(y, 4, seed=3)
    assert len(a[0]) == 4 and len(a[1]) == 3
    assert all(y[i] == c for c, idx in a.items() for i in idx)
    assert {k: v.tolist() for k, v in a.items()} == {
        k: v.tolist() for k, v in stats.sample_indices(y, 4, seed=3).items()
    }
    assert list(stats.sample_indices(y, 2, classes=[1])) == [1]


def test_class_balance_chart_has_train_and_test_side_by_side():
    ds = load_dataset(DatasetSpec("shapes"))
    spec = class_balance_chart(stats.class_counts(ds)).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["xOffset"]["field"] == "split"
    values = next(iter(spec["datasets"].values()))
    circle_train = [v for v in values if v["name"] == "circle" and v["split"] == "train"][0]
    assert circle_train["images"] == 120


def test_loading_code_runs_for_digits_and_gives_the_explorers_own_split():
    from lib.data.sources import load_digits

    scope: dict = {}
    exec(loading_code(DatasetSpec("digits")), scope)
    assert scope["x_train"].shape[1:] == (8, 8, 1)
    assert scope["x_train"].dtype == np.uint8
    ds = load_digits()  # the very images the app trains and tests on, in the same order
    for name, ours in (("x_train", ds.x_train), ("x_test", ds.x_test), ("y_train", ds.y_train), ("y_test", ds.y_test)):
        np.testing.assert_array_equal(scope[name], ours)


def test_folder_loading_code_says_it_is_not_the_explorers_per_class_split(tmp_path):
    from tests.helpers import make_folder

    root = make_folder(tmp_path / "pets", {"cats": 5, "dogs": 5})
    code = loading_code(DatasetSpec("folder", str(root)))
    assert "validation_split=0.2" in code and "NOT the explorer's split" in code
    assert "20 % of every class" in code and "the split is per class" not in code
