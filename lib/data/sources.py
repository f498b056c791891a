"""Dataset sources: one `DatasetSpec` names a source, `load_dataset(spec)` returns a Dataset.

Sources: scikit-learn's bundled `digits`, the `shapes` set we ship, a folder in
`flow_from_directory` layout, an `.npz` (path or uploaded bytes), and Keras' `mnist`,
`fashion_mnist`, `cifar10` (downloaded once into the Keras cache).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.data.dataset import Dataset, DatasetError, stratified_split
from lib.data.folders import Progress, load_image_folder
from lib.data.labels import normalize_labels
from lib.data.paths import guard, printable
from lib.errors import one_line

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
BUILTIN = ("digits", "shapes")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test")


@dataclass(frozen=True)
class DatasetSpec:
    """Hashable description of where a dataset comes from (caches key on it)."""

    kind: str  # "digits" | "shapes" | "mnist" | "fashion_mnist" | "cifar10" | "folder" | "npz"
    path: str = ""  # folder or .npz path; for an upload, its file name
    upload_digest: str = ""  # set for uploaded .npz bytes (their content hash)

    @property
    def label(self) -> str:
        if self.kind == "folder":
            return f"folder {self.path}"
        if self.kind == "npz":
            return f"{'uploaded ' if self.upload_digest else ''}{Path(self.path).name}"
        return self.kind


def parse_spec(text: str) -> DatasetSpec:
    """CLI form: a built-in name, a Keras dataset name, a folder path or an .npz path."""
    if text in BUILTIN or text in KERAS_DATASETS:
        return DatasetSpec(text)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".npz":
        return DatasetSpec("npz", str(path))
    try:
        resolved = guard(text)
    except DatasetError as exc:
        if str(exc).startswith("not found"):
            raise DatasetError(
                f"unknown dataset '{printable(text)}': use {', '.join(BUILTIN + KERAS_DATASETS)}, "
                "a folder or an .npz file"
            ) from None
        raise
    if resolved.is_dir():
        return DatasetSpec("folder", str(path))
    raise DatasetError(f"{printable(text)} is neither a folder nor an .npz file")


def load_dataset(spec: DatasetSpec, *, data: bytes | None = None, progress: Progress | None = None) -> Dataset:
    if spec.kind == "digits":
        return load_digits()
    if spec.kind == "shapes":
        return load_image_folder(SAMPLE_DATA / "shapes", progress=progress)
    if spec.kind == "folder":
        return load_image_folder(guard(spec.path, kind="folder"), progress=progress)
    if spec.kind == "npz":
        source = io.BytesIO(data) if data is not None else guard(spec.path, kind="file")
        return load_npz(source, name=Path(spec.path).stem)
    if spec.kind in KERAS_DATASETS:
        return load_keras_dataset(spec.kind)
    raise DatasetError(f"unknown dataset kind '{spec.kind}'")


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16), as uint8 0..255."""
    images, target = _sklearn_digits()
    x = np.round(images * (255 / 16)).astype(np.uint8)[..., None]
    y = target.astype(np.int64)
    train, test = stratified_split(y, test_fraction, seed)
    return Dataset(
        name="digits",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=tuple(str(i) for i in range(10)),
        notes=(
            "pixel values 0..16 scaled to 0..255; "
            f"stratified {1 - test_fraction:.0%}/{test_fraction:.0%} split, seed {seed}",
        ),
    )


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits file scikit-learn ships, read directly: importing sklearn costs about a
    second of the app's cold start. Falls back to sklearn's own loader."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1]
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return bunch.images, bunch.target


def load_npz(source: str | Path | io.BytesIO, name: str = "npz") -> Dataset:
    """An .npz with X_train, y_train, X_test, y_test and optional class_names.

    Loaded with allow_pickle=False: an object array is refused, never unpickled.
    """
    if isinstance(source, (str, Path)):
        source = guard(source, kind="file")
    try:
        archive = np.load(source, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"not a readable .npz file ({one_line(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError("not an .npz archive (a single .npy array?): expected X_train, y_train, X_test, y_test")
    with archive:
        missing = [k for k in NPZ_KEYS if k not in archive.files]
        if missing:
            raise DatasetError(f".npz is missing {', '.join(missing)} (found: {', '.join(archive.files) or 'nothing'})")
        arrays = {k: _read_member(archive, k) for k in archive.files if k in NPZ_KEYS + ("class_names",)}
    names = [str(n) for n in arrays["class_names"].ravel()] if "class_names" in arrays else None
    for split in ("train", "test"):
        x, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DatasetError(f"X_{split} has {len(x)} images but y_{split} has {len(y)} labels")
    x_train, notes = _to_uint8_images(arrays["X_train"], "X_train")
    x_test, test_notes = _to_uint8_images(arrays["X_test"], "X_test")
    y_train, y_test, class_names, label_notes = normalize_labels(arrays["y_train"], arrays["y_test"], names)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        notes=tuple(dict.fromkeys(notes + test_notes + label_notes)),
    )


def _read_member(archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DatasetError(
                f"{key} is an object array; it is refused because loading it would unpickle code"
            ) from None
        raise DatasetError(f"{key} cannot be read ({one_line(exc)})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(f"{key} cannot be read ({one_line(exc)})") from None


def _to_uint8_images(x: np.ndarray, key: str) -> tuple[np.ndarray, list[str]]:
    notes: list[str] = []
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DatasetError(f"{key} must be images (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got shape {x.shape}")
    if x.dtype.kind not in "uifb":
        raise DatasetError(f"{key} must hold numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DatasetError(f"{key} contains NaN or infinite pixel values")
    if x.shape[-1] == 4:
        x = x[..., :3]
        notes.append("alpha channel dropped (RGBA to RGB)")
    if x.dtype == np.uint8:
        return x, notes
    if x.size == 0:
        return x.astype(np.uint8), notes
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi <= 1 and x.dtype.kind == "f":
        notes.append("pixel values in 0..1 were scaled to 0..255")
        return np.round(x * 255).astype(np.uint8), notes
    if lo >= 0 and hi <= 255:
        return np.round(x).astype(np.uint8), notes
    raise DatasetError(f"{key} pixel values span {lo:g}..{hi:g}; expected 0..1 or 0..255")


def load_keras_dataset(name: str) -> Dataset:
    """Keras' own loaders: they read the Keras cache (~/.keras/datasets or $KERAS_HOME) or download."""
    if name not in KERAS_DATASETS:
        raise DatasetError(f"unknown Keras dataset '{name}'")
    from lib.tf_import import import_keras

    loader = getattr(import_keras().datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # urllib/Keras raise plain Exception when offline
        raise DatasetError(
            f"{name} is not in the Keras cache and could not be downloaded (offline?): {one_line(exc, 160)}"
        ) from None
    names = KERAS_CLASS_NAMES[name]
    x_train_u8, _ = _to_uint8_images(np.asarray(x_train), "x_train")
    x_test_u8, _ = _to_uint8_images(np.asarray(x_test), "x_test")
    y_train, y_test, class_names, _ = normalize_labels(
        np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1), list(names)
    )
    return Dataset(name, x_train_u8, y_train, x_test_u8, y_test, class_names)


KERAS_CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
