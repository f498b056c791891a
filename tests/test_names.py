"""Names from every source are one name (NFC): class folders, ZIP entries, .npz class names and
labels, run names. macOS writes file names decomposed (NFD), Linux keeps what it was given."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib.data.dataset import Dataset, DatasetError
from lib.data.folders import load_image_folder
from lib.data.names import nfc
from lib.data.sources import load_npz
from lib.runs.config import DatasetRef, RunConfig, clean_name
from lib.train.settings import TrainSettings
from tests.test_cli import cli

CAT, DOG = "고양이", "강아지"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _images(seed: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def _folder(root: Path, spell=lambda split, name: name) -> Path:
    """train/ and test/ with two Korean classes; `spell(split, name)` chooses each folder's spelling."""
    for split, seed in (("train", 2), ("test", 3)):
        for c, name in enumerate((CAT, DOG)):
            d = root / split / spell(split, name)
            d.mkdir(parents=True)
            for i, img in enumerate(_images(seed * 10 + c, 3)):
                Image.fromarray(img).save(d / f"{i}.png")
    return root


def _run_id(ds: Dataset) -> str:
    return RunConfig.for_training(ds, TrainSettings(model="cnn", epochs=1), "x").run_id


def test_nfd_and_nfc_spellings_differ_as_bytes_but_not_after_nfc():
    assert nfd(CAT) != CAT and len(nfd(CAT)) == 7
    assert nfc(nfd(CAT)) == CAT
    assert nfc(nfd(CAT).encode()) == CAT  # bytes, as a ZIP entry or a file system may give them
    assert nfc(b"bad\xff") == "bad\ufffd"
    assert nfc("bad\udcff") == "bad\ufffd"  # a name that was not UTF-8, as os.listdir keeps it


def _stored_run_id(ds: Dataset, fingerprint: str) -> str:
    """The run id a run stored before got: its config.json holds the fingerprint of that time."""
    ref = DatasetRef("x", ds.name, fingerprint, ds.image_shape, ds.num_classes)
    return RunConfig(ref, TrainSettings(model="cnn", epochs=1)).run_id


def test_run_ids_of_nfc_names_are_the_ones_stored_before():
    """Fingerprints computed with the code before names were normalized (commit 79a257c): data
    sets whose names were already NFC keep them, so runs stored before keep their ids and load."""
    ds = Dataset("동물", _images(0), np.array([0, 1, 0, 1]), _images(1), np.array([1, 0, 1, 0]), (CAT, DOG))
    assert ds.fingerprint == "1b5b615de14ba532fda8dcb16d50d83b"
    assert _run_id(ds) == _stored_run_id(ds, "1b5b615de14ba532fda8dcb16d50d83b")


def test_folder_run_id_of_nfc_names_is_the_one_stored_before(tmp_path):
    ds = load_image_folder(_folder(tmp_path / "동물"))
    assert ds.class_names == (DOG, CAT)
    assert ds.fingerprint == "cdf3aff383a01c972b8bda8bc595b182"
    assert _run_id(ds) == _stored_run_id(ds, "cdf3aff383a01c972b8bda8bc595b182")


def test_splits_spelled_nfd_and_nfc_load_as_one_class_each(tmp_path):
    """train/ copied from a Mac (NFD) beside test/ made on Linux (NFC): 2 classes, not 4, and the
    same data set (fingerprint, run id) as if both had been written NFC."""
    mixed = load_image_folder(_folder(tmp_path / "mixed", lambda split, name: nfd(name) if split == "train" else name))
    assert sorted(p.name for p in (tmp_path / "mixed" / "train").iterdir()) == sorted([nfd(CAT), nfd(DOG)])
    assert mixed.class_names == (DOG, CAT)
    assert all(unicodedata.is_normalized("NFC", n) for n in mixed.class_names)
    assert np.bincount(mixed.y_train).tolist() == [3, 3] and np.bincount(mixed.y_test).tolist() == [3, 3]
    plain = load_image_folder(_folder(tmp_path / "plain"))
    assert mixed.fingerprint == plain.fingerprint
    assert _run_id(mixed) == _run_id(plain)


def test_one_folder_holding_both_spellings_is_one_class(tmp_path):
    root = tmp_path / "one"
    for name, seed in ((CAT, 0), (nfd(CAT), 1), (DOG, 2)):
        (root / name).mkdir(parents=True)
        for i, img in enumerate(_images(seed, 5)):
            Image.fromarray(img).save(root / name / f"{seed}-{i}.png")
    ds = load_image_folder(root)
    assert ds.class_names == (DOG, CAT)
    assert len(ds.x_train) + len(ds.x_test) == 15
    assert np.bincount(np.concatenate([ds.y_train, ds.y_test])).tolist() == [5, 10]


def _npz(**arrays) -> io.BytesIO:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    return buf


def test_npz_string_labels_spelled_differently_per_split_are_one_class():
    y_train = np.array([nfd(CAT), nfd(DOG), nfd(CAT), nfd(DOG)])
    y_test = np.array([CAT, DOG, DOG, CAT])
    ds = load_npz(_npz(X_train=_images(0), y_train=y_train, X_test=_images(1), y_test=y_test))
    assert ds.class_names == (DOG, CAT)
    assert ds.y_train.tolist() == [1, 0, 1, 0] and ds.y_test.tolist() == [1, 0, 0, 1]


def test_npz_class_names_are_nfc_and_two_spellings_of_one_name_are_refused():
    x, y = _images(0), np.array([0, 1, 0, 1])
    ds = load_npz(_npz(X_train=x, y_train=y, X_test=x, y_test=y, class_names=np.array([nfd(CAT), nfd(DOG)])))
    assert ds.class_names == (CAT, DOG)
    nfc_ds = load_npz(_npz(X_train=x, y_train=y, X_test=x, y_test=y, class_names=np.array([CAT, DOG])))
    assert ds.fingerprint == nfc_ds.fingerprint
    utf8 = np.array([nfd(CAT).encode(), DOG.encode()])  # bytes ('S' array), as h5py-made files hold them
    assert load_npz(_npz(X_train=x, y_train=y, X_test=x, y_test=y, class_names=utf8)).class_names == (CAT, DOG)
    with pytest.raises(DatasetError, match="unique"):
        load_npz(_npz(X_train=x, y_train=y, X_test=x, y_test=y, class_names=np.array([nfd(CAT), CAT])))


def test_a_dataset_made_directly_gets_nfc_names():
    """The last guard, for any source (a ZIP reader, the camera): the Dataset itself."""
    ds = Dataset(nfd("동물"), _images(0), np.array([0, 1, 0, 1]), _images(1), np.array([1, 0, 1, 0]), (nfd(CAT), DOG))
    assert ds.class_names == (CAT, DOG) and ds.name == "동물"
    assert ds.fingerprint == "1b5b615de14ba532fda8dcb16d50d83b"
    with pytest.raises(DatasetError, match="unique"):
        Dataset("x", _images(0), np.array([0, 1, 0, 1]), _images(1), np.array([1, 0, 1, 0]), (nfd(CAT), CAT))


def test_zip_entry_names_become_the_folder_names():
    """A ZIP made on a Mac stores NFD names (UTF-8 flag set); nfc() gives the same class names a
    Linux-made folder gives."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"동물/{nfd(CAT)}/0.png", b"")
        zf.writestr(f"동물/{DOG}/0.png", b"")
    with zipfile.ZipFile(buf) as zf:
        classes = sorted({nfc(Path(info.filename).parent.name) for info in zf.infolist()})
    assert classes == sorted([CAT, DOG])


def test_run_names_are_nfc_before_they_are_cleaned_compared_or_shown():
    assert clean_name(nfd("고양이 실험 1")) == "고양이 실험 1"
    assert clean_name(nfd("café run")) == "café run"  # the accent is not dropped as punctuation
    assert clean_name(nfd("café")) == clean_name("café")


def test_cli_inspect_counts_two_classes_for_a_mac_copied_train_split(tmp_path):
    root = _folder(tmp_path / "mixed", lambda split, name: nfd(name) if split == "train" else name)
    r = cli("inspect", str(root))
    assert r.returncode == 0, r.stderr
    assert "2 classes" in r.stdout or "classes: 2" in r.stdout, r.stdout
    assert CAT in r.stdout and nfd(CAT) not in r.stdout
