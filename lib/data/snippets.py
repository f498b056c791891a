"""The notebook lines that load a dataset the way the explorer does ("Show code")."""

from __future__ import annotations

from lib.data.sources import DatasetSpec

_DIGITS = """\
import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
x = np.round(digits.images * (255 / 16)).astype("uint8")[..., None]  # (1797, 8, 8, 1)
y = digits.target
# The explorer's own split (not sklearn's train_test_split, which draws other images): 25 % of
# every class, shuffled with seed 0, so these are the very train and test images of the app.
rng = np.random.default_rng(0)
train_idx, test_idx = [], []
for c in np.unique(y):
    idx = np.flatnonzero(y == c)
    rng.shuffle(idx)
    n_test = min(max(int(round(len(idx) * 0.25)), 1), len(idx) - 1)
    test_idx.append(idx[:n_test])
    train_idx.append(idx[n_test:])
train_idx, test_idx = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
x_train, x_test, y_train, y_test = x[train_idx], x[test_idx], y[train_idx], y[test_idx]
"""

_FOLDER = """\
import keras

# One sub-folder per class. NOT the explorer's split: validation_split here holds out 20 % of the
# shuffled file list as a whole, so each class's share of test images varies; the explorer holds out
# 20 % of every class (per-class, seed 0), so its train/test images and counts differ from these.
train_ds, test_ds = keras.utils.image_dataset_from_directory(
    {path!r}, validation_split=0.2, subset="both", seed=0,
    image_size=(32, 32), label_mode="int")
class_names = train_ds.class_names
"""

_SPLIT_FOLDER = """\
import keras

train_ds = keras.utils.image_dataset_from_directory(
    {path!r} + "/train", image_size=(32, 32), label_mode="int")
test_ds = keras.utils.image_dataset_from_directory(
    {path!r} + "/{test}", image_size=(32, 32), label_mode="int", shuffle=False)
"""

_NPZ = """\
import numpy as np

with np.load({path!r}, allow_pickle=False) as data:  # never unpickle a downloaded file
    x_train, y_train = data["X_train"], data["y_train"]
    x_test, y_test = data["X_test"], data["y_test"]
# One-hot labels? y = y.argmax(axis=1) gives the integers sparse losses and sklearn want.
"""

_KERAS = """\
import keras

# Downloads once into ~/.keras/datasets, then loads from there.
(x_train, y_train), (x_test, y_test) = keras.datasets.{name}.load_data()
"""


def loading_code(spec: DatasetSpec, image_size: tuple[int, int] | None = None) -> str:
    if spec.kind == "digits":
        return _DIGITS
    if spec.kind in ("shapes", "folder"):
        from pathlib import Path

        from lib.data.sources import SAMPLE_DATA

        path = str(SAMPLE_DATA / "shapes") if spec.kind == "shapes" else spec.path
        from lib.data.folders import VALIDATION_NAMES

        # The folder the loader uses as the test split: test/, else validation/ (or val/, valid/)
        test = next((t for t in ("test", *VALIDATION_NAMES) if (Path(path) / t).is_dir()), None)
        template = _SPLIT_FOLDER if (Path(path) / "train").is_dir() and test else _FOLDER
        code = template.format(path=path, test=test)
        if image_size:
            code = code.replace("image_size=(32, 32)", f"image_size=({image_size[0]}, {image_size[1]})")
        return code
    if spec.kind == "npz":
        return _NPZ.format(path=spec.path)
    return _KERAS.format(name=spec.kind)
