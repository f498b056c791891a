"""Loaders: digits, shapes, folders, .npz, Keras datasets — and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib.data.dataset import DatasetError, stratified_split, subsample_class
from lib.data.folders import load_image_folder
from lib.data.sources import DatasetSpec, load_dataset, load_digits, load_npz, parse_spec
from tests.helpers import make_folder, save_npz, tiny_arrays, write_image


def assert_valid(ds):
    assert ds.x_train.dtype == np.uint8 and ds.x_train.ndim == 4
    assert ds.x_test.shape[1:] == ds.x_train.shape[1:]
    assert ds.y_train.dtype == np.int64
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_test]))) <= set(range(ds.num_classes))
    assert len(ds.fingerprint) == 32


def test_digits_is_real_stratified_and_stable():
    ds = load_digits()
    assert_valid(ds)
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert ds.image_shape == (8, 8, 1) and ds.num_classes == 10
    assert ds.x_train.max() == 255
    # stratified: every class's test share is close to 25 %
    share = np.bincount(ds.y_test) / (np.bincount(ds.y_train) + np.bincount(ds.y_test))
    assert np.all(np.abs(share - 0.25) < 0.02)
    assert load_digits().fingerprint == ds.fingerprint


def test_digits_equal_scikit_learns_own_loader():
    from sklearn.datasets import load_digits as sk_load_digits

    from lib.data.sources import _sklearn_digits

    images, target = _sklearn_digits()
    bunch = sk_load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)


def test_shapes_is_shipped_imbalanced_colour():
    ds = load_dataset(DatasetSpec("shapes"))
    assert_valid(ds)
    assert ds.class_names == ("circle", "square", "triangle")
    assert ds.image_shape == (32, 32, 3)
    counts = np.bincount(ds.y_train)
    assert counts.max() / counts.min() > 3


def test_fingerprint_changes_with_content_not_name():
    ds = load_digits()
    renamed = ds.with_changes(name="other")
    assert renamed.fingerprint == ds.fingerprint
    x = ds.x_train.copy()
    x[0, 0, 0, 0] ^= 1
    assert ds.with_changes(x_train=x).fingerprint != ds.fingerprint


def test_dataset_arrays_are_read_only():
    ds = load_digits()
    with pytest.raises(ValueError):
        ds.x_train[0, 0, 0, 0] = 1


def test_stratified_split_keeps_singletons_in_train():
    y = np.array([0] * 10 + [1] * 5 + [2])
    train, test = stratified_split(y, 0.2, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(y)))
    assert np.bincount(y[test], minlength=3).tolist() == [2, 1, 0]


def test_folder_single_layout_is_split_per_class(tmp_path):
    make_folder(tmp_path, {"cat": 10, "dog": 5})
    ds = load_image_folder(tmp_path)
    assert_valid(ds)
    assert ds.class_names == ("cat", "dog")
    assert np.bincount(ds.y_test).tolist() == [2, 1]
    assert ds.image_shape == (16, 16, 3)


def test_folder_train_test_layout_and_progress(tmp_path):
    make_folder(tmp_path / "train", {"a": 4, "b": 3})
    make_folder(tmp_path / "test", {"a": 2, "b": 1})
    seen = []
    ds = load_image_folder(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert (len(ds.x_train), len(ds.x_test)) == (7, 3)
    assert seen[-1] == (10, 10)


def test_folder_skips_and_lists_corrupt_and_non_image_files(tmp_path):
    make_folder(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "notes.png").write_text("this is not an image")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    good = write_image(tmp_path / "b" / "truncated.png", (64, 64), seed=99).read_bytes()
    (tmp_path / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    ds = load_image_folder(tmp_path)
    assert len(ds.x_train) + len(ds.x_test) == 8
    skipped = next(n for n in ds.notes if n.startswith("skipped"))
    assert "skipped 3" in skipped
    for name in ("notes.png", "empty.png", "truncated.png"):
        assert name in skipped


def test_folder_mixed_modes_and_sizes_become_one_shape(tmp_path):
    write_image(tmp_path / "a" / "0.png", (16, 16), "L", seed=1)
    write_image(tmp_path / "a" / "1.png", (16, 16), "RGBA", seed=2)
    write_image(tmp_path / "a" / "2.png", (16, 16), "RGB", seed=3)
    write_image(tmp_path / "b" / "0.png", (20, 10), "RGB", seed=4)
    write_image(tmp_path / "b" / "1.png", (16, 16), "L", seed=5)
    ds = load_image_folder(tmp_path)
    assert ds.image_shape == (16, 16, 3)
    assert any("resized to 16x16" in n for n in ds.notes)
    assert any("converted to RGB" in n for n in ds.notes)


def test_folder_all_grayscale_stays_one_channel_and_16_bit_is_scaled(tmp_path):
    make_folder(tmp_path, {"a": 3, "b": 3}, mode="L")
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(tmp_path / "a" / "deep.png")
    ds = load_image_folder(tmp_path, test_fraction=0.01)
    assert ds.channels == 1
    assert ds.x_train.max() == 255  # 16-bit white is 8-bit white, not clipped garbage


def test_folder_palette_png_loads(tmp_path):
    make_folder(tmp_path, {"a": 3, "b": 3})
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).convert("P").save(tmp_path / "a" / "pal.png")
    ds = load_image_folder(tmp_path)
    assert len(ds.x_train) + len(ds.x_test) == 7


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"only": 3}, "at least 2"),
        ({}, "no class folders"),
    ],
)
def test_folder_with_fewer_than_two_classes_is_refused(tmp_path, layout, message):
    make_folder(tmp_path, layout)
    with pytest.raises(DatasetError, match=message):
        load_image_folder(tmp_path)


def test_folder_empty_class_is_dropped_with_a_note(tmp_path):
    make_folder(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "c").mkdir()
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ("a", "b")
    assert any("dropped: c" in n for n in ds.notes)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        load_image_folder(tmp_path / "nope")


def test_npz_int_labels(tmp_path):
    ds = load_npz(save_npz(tmp_path / "d.npz", **tiny_arrays()))
    assert_valid(ds)
    assert ds.image_shape == (8, 8, 1) and ds.class_names == ("0", "1", "2")


def test_npz_string_labels_and_class_names(tmp_path):
    arrays = tiny_arrays()
    names = np.array(["cat", "dog", "eel"])
    arrays["y_train"], arrays["y_test"] = names[arrays["y_train"]], names[arrays["y_test"]]
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.class_names == ("cat", "dog", "eel")
    assert ds.y_train.tolist() == (np.arange(12) % 3).tolist()


def test_npz_one_hot_labels_become_integers(tmp_path):
    arrays = tiny_arrays()
    eye = np.eye(3, dtype=np.float32)
    arrays["y_train"], arrays["y_test"] = eye[arrays["y_train"]], eye[arrays["y_test"]]
    arrays["class_names"] = np.array(["x", "y", "z"])
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.y_test.tolist() == (np.arange(6) % 3).tolist()
    assert ds.class_names == ("x", "y", "z")
    assert any("one-hot" in n for n in ds.notes)


def test_npz_odd_integer_labels_are_mapped_in_order(tmp_path):
    arrays = tiny_arrays()
    arrays["y_train"], arrays["y_test"] = arrays["y_train"] * 3 + 7, arrays["y_test"] * 3 + 7
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.class_names == ("7", "10", "13")


def test_npz_float_images_in_unit_range_are_scaled(tmp_path):
    arrays = tiny_arrays()
    arrays["X_train"] = arrays["X_train"] / 255.0
    arrays["X_test"] = arrays["X_test"] / 255.0
    ds = load_npz(save_npz(tmp_path / "d.npz", **arrays))
    assert ds.x_train.dtype == np.uint8 and ds.x_train.max() > 200


def test_npz_from_uploaded_bytes(tmp_path):
    data = save_npz(tmp_path / "d.npz", **tiny_arrays()).read_bytes()
    ds = load_dataset(DatasetSpec("npz", "d.npz", "digest"), data=data)
    assert len(ds.x_train) == 12


def _bad(tmp_path, **changes):
    arrays = tiny_arrays()
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    return save_npz(tmp_path / "bad.npz", **arrays)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"X_test": None}, "missing X_test"),
        ({"y_train": np.arange(5) % 3}, "has 12 images but y_train has 5"),
        ({"X_train": np.array([{"a": 1}] * 12, dtype=object)}, "object array"),
        ({"X_test": np.full((6, 8, 8), np.nan)}, "NaN or infinite"),
        ({"X_train": np.full((12, 8, 8), 300.0)}, "expected 0..1 or 0..255"),
        ({"y_train": np.full(12, 0.5)}, "not whole numbers"),
        ({"class_names": np.array(["a", "b"])}, "labels out of range"),
        ({"y_train": np.zeros(12, int), "y_test": np.zeros(6, int)}, "at least 2 classes"),
        ({"X_test": np.zeros((6, 9, 9), np.uint8)}, "differ in shape"),
        ({"X_train": np.zeros((12, 64), np.uint8)}, "must be images"),
    ],
)
def test_bad_npz_gets_a_message_naming_the_problem(tmp_path, changes, message):
    with pytest.raises(DatasetError, match=message):
        load_npz(_bad(tmp_path, **changes))


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_npz(path)


def test_parse_spec(tmp_path):
    assert parse_spec("digits") == DatasetSpec("digits")
    assert parse_spec(str(tmp_path)).kind == "folder"
    assert parse_spec(str(tmp_path / "x.npz")).kind == "npz"
    with pytest.raises(DatasetError, match="unknown dataset"):
        parse_spec("imagenet")


def test_subsample_class_changes_train_only():
    ds = load_dataset(DatasetSpec("shapes"))
    sub = subsample_class(ds, 0, 0.25)
    assert np.bincount(sub.y_train)[0] == 30
    assert np.bincount(sub.y_train)[1:].tolist() == np.bincount(ds.y_train)[1:].tolist()
    assert sub.y_test.tolist() == ds.y_test.tolist()
    assert sub.fingerprint != ds.fingerprint
    assert subsample_class(ds, 0, 1.0) is ds
