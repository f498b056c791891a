"""Dataset sources: one `DatasetSpec` names a source, `load_dataset(spec)` returns a Dataset.

Sources: scikit-learn's bundled `digits`, the `shapes` set we ship, a folder in
`flow_from_directory` layout, an `.npz` (path or uploaded bytes), and Keras' `mnist`,
`fashion_mnist`, `cifar10` (downloaded once into the Keras cache), and your own pictures
uploaded in the browser, saved as a folder set (`lib.data.picture_sets`).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.data.dataset import Dataset, DatasetError, stratified_split
from lib.data.folders import MAX_SIDE, Progress, load_image_folder
from lib.data.labels import normalize_labels
from lib.data.paths import guard, printable
from lib.data.picture_sets import load_picture_set
from lib.errors import one_line
from lib.i18n import N_, Deferred, _

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test")


@dataclass(frozen=True)
class DatasetSpec:
    """Hashable description of where a dataset comes from (caches key on it)."""

    kind: str  # "digits" | "shapes" | "mnist" | "fashion_mnist" | "cifar10" | "folder" | "npz" | "images"
    path: str = ""  # folder or .npz path; for an upload, its file name; for "images", the saved set's name
    upload_digest: str = ""  # set for uploaded .npz bytes (their content hash)

    @property
    def source(self) -> str:
        """Where this data loads from again, from any working folder: the built-in's name, or
        kind:resolved path ("folder:/srv/photos"); empty for an upload, which has no path."""
        if self.kind not in ("folder", "npz"):
            return self.kind
        if self.upload_digest:
            return ""
        try:
            return f"{self.kind}:{guard(self.path)}"
        except DatasetError:
            return ""

    @property
    def label(self) -> str:
        if self.kind == "folder":
            return f"folder {self.path}"
        if self.kind == "npz":
            return f"{'uploaded ' if self.upload_digest else ''}{Path(self.path).name}"
        if self.kind == "images":
            return f"your images {self.path}"
        return self.kind


def spec_from_source(source: str) -> DatasetSpec | None:
    """The spec a run's recorded source names ("digits", "folder:/abs/path", "npz:/abs/path")."""
    kind, sep, path = source.partition(":")
    if not sep:
        return DatasetSpec(kind) if kind in NAMED else None
    return DatasetSpec(kind, path) if kind in ("folder", "npz") and path else None


def parse_spec(text: str) -> DatasetSpec:
    """CLI form: a built-in name, a Keras dataset name, a folder path or an .npz path."""
    if text in NAMED:
        return DatasetSpec(text)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".npz":
        return DatasetSpec("npz", str(path))
    try:
        resolved = guard(text)
    except DatasetError as exc:
        if str(exc).startswith("not found"):
            raise DatasetError(
                _("unknown dataset '{text}': use {names}, a folder or an .npz file").format(
                    text=printable(text), names=", ".join(NAMED)
                )
            ) from None
        raise
    if resolved.is_dir():
        return DatasetSpec("folder", str(path))
    raise DatasetError(_("{text} is neither a folder nor an .npz file").format(text=printable(text)))


def load_dataset(spec: DatasetSpec, *, data: bytes | None = None, progress: Progress | None = None) -> Dataset:
    source = SOURCES.get(spec.kind)
    if source is None:
        raise DatasetError(_("unknown dataset kind '{kind}'").format(kind=printable(spec.kind)))
    return source.load(spec, data, progress)


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
            Deferred(
                N_("pixel values 0..16 scaled to 0..255; stratified {train}/{test} split, seed {seed}"),
                train=f"{1 - test_fraction:.0%}",
                test=f"{test_fraction:.0%}",
                seed=seed,
            ),
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
    check_npz_budget(source)  # from the headers alone, before any array is read
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        archive = np.load(source, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(_("not a readable .npz file ({exc})").format(exc=one_line(exc))) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(_("not an .npz archive (a single .npy array?): expected X_train, y_train, X_test, y_test"))
    with archive:
        missing = [k for k in NPZ_KEYS if k not in archive.files]
        if missing:
            raise DatasetError(
                _(".npz is missing {names} (found: {found})").format(
                    names=", ".join(missing), found=", ".join(archive.files) or "-"
                )
            )
        arrays = {k: _read_member(archive, k) for k in archive.files if k in NPZ_KEYS + ("class_names",)}
    names = _class_names(arrays["class_names"]) if "class_names" in arrays else None
    for split in ("train", "test"):
        x, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DatasetError(
                _("X_{split} has {n_x} images but y_{split} has {n_y} labels").format(
                    split=split, n_x=len(x), n_y=len(y)
                )
            )
    if len(arrays["X_test"]) == 0:
        raise DatasetError(_("X_test has no images: a model cannot be evaluated without a test split"))
    x_train, notes = _to_uint8_images(arrays.pop("X_train"), "X_train")
    x_test, test_notes = _to_uint8_images(arrays.pop("X_test"), "X_test")
    x_train, x_test, size_notes = _cap_image_size(x_train, x_test)
    y_train, y_test, class_names, label_notes = normalize_labels(arrays["y_train"], arrays["y_test"], names)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        notes=tuple(dict.fromkeys(notes + test_notes + size_notes + label_notes)),
    )


# What an .npz may declare, read from its array headers before any array is read: the
# arrays' total size, and how far the arrays together may expand from their compressed bytes
# beyond a free allowance (a 2 MB file of zeros can declare 2 GB; real images compress a few
# times, not 100x). So a 2 MB file brings at most max(128 MiB, 200 MB) of arrays.
NPZ_BUDGET_BYTES = 1 << 30
NPZ_FREE_BYTES = 128 << 20  # arrays up to this size in all are never called a bomb
NPZ_MAX_RATIO = 100


def check_npz_budget(source: str | Path | io.BytesIO) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{key: (shape, dtype)} of the arrays load_npz reads, from their .npy headers only; or
    DatasetError when they would not fit the memory budget, look like a decompression bomb,
    hold objects (pickles) or are 0-d. Reads a few hundred bytes per member."""
    found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    total = compressed = 0
    try:
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if key not in NPZ_KEYS + ("class_names",):
                    continue  # never read
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh, key)
                size = math.prod(shape) * dtype.itemsize
                total += size
                compressed += info.compress_size
                found[key] = (shape, dtype)
                sizes[key] = (size, info.compress_size)
    except DatasetError:
        raise
    except zipfile.BadZipFile as exc:
        if _starts_like_npy(source):
            raise DatasetError(
                _("not an .npz archive (a single .npy array?): expected X_train, y_train, X_test, y_test")
            ) from None
        raise DatasetError(_("not a readable .npz file ({exc})").format(exc=one_line(exc))) from None
    except (OSError, EOFError, ValueError) as exc:
        raise DatasetError(_("not a readable .npz file ({exc})").format(exc=one_line(exc))) from None
    if total > NPZ_FREE_BYTES and total > NPZ_MAX_RATIO * max(compressed, 1):  # over all members read
        key, (size, packed) = max(sizes.items(), key=lambda item: item[1][0])
        raise DatasetError(
            _(
                "{key} declares {size} from {packed} of compressed data (the arrays together expand over {ratio}:1): "
                "refused as a likely decompression bomb"
            ).format(key=key, size=_size(size), packed=_size(packed), ratio=NPZ_MAX_RATIO)
        )
    if total > NPZ_BUDGET_BYTES:
        raise DatasetError(
            _(
                "the arrays would take {size} of memory; this app loads at most {limit} from an .npz "
                "(use fewer or smaller images)"
            ).format(size=_size(total), limit=_size(NPZ_BUDGET_BYTES))
        )
    return found


def _starts_like_npy(source: str | Path | io.BytesIO) -> bool:
    if isinstance(source, io.BytesIO):
        source.seek(0)
        return source.read(6) == b"\x93NUMPY"
    with open(source, "rb") as fh:
        return fh.read(6) == b"\x93NUMPY"


def _npy_header(fh: object, key: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _fortran_order, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _fortran_order, dtype = fmt.read_array_header_2_0(fh)
    else:
        raise DatasetError(
            _("{key} uses .npy format version {major}.{minor}, which this app does not read").format(
                key=key, major=version[0], minor=version[1]
            )
        )
    if dtype.hasobject:
        raise DatasetError(
            _("{key} is an object array; it is refused because loading it would unpickle code").format(key=key)
        )
    if len(shape) == 0:
        raise DatasetError(
            _("{key} is a single number (a 0-d array), not an array of images or labels").format(key=key)
        )
    return tuple(int(d) for d in shape), dtype


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def _class_names(arr: np.ndarray) -> list[str]:
    """Class names as str: bytes (an 'S' array) are decoded as UTF-8 (bad bytes become U+FFFD)."""
    if arr.dtype.kind == "S":
        return [bytes(n).decode("utf-8", "replace") for n in arr.ravel()]
    return [str(n) for n in arr.ravel()]


# .npz images are resized to this largest side, as folders are: a tiny file of 2048 px
# images must not make the Train page build a 500 M-parameter model.
NPZ_MAX_SIDE = MAX_SIDE


def _cap_image_size(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    h, w = x_train.shape[1:3]
    if x_test.shape[1:3] != (h, w) or max(h, w) <= NPZ_MAX_SIDE:
        return x_train, x_test, []  # (differing shapes are refused later, with both shapes named)
    scale = NPZ_MAX_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL: (width, height)
    out = [_resize_all(x, size) for x in (x_train, x_test)]
    note = Deferred(
        N_("images of {before} were resized to {after} (largest side {side})"),
        before=f"{h}x{w}",
        after=f"{size[1]}x{size[0]}",
        side=NPZ_MAX_SIDE,
    )
    return out[0], out[1], [note]


def _resize_all(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    c = x.shape[-1]
    out = np.empty((len(x), size[1], size[0], c), np.uint8)
    for i, img in enumerate(x):
        im = Image.fromarray(img[..., 0] if c == 1 else img)
        out[i] = np.asarray(im.resize(size, Image.Resampling.BILINEAR)).reshape(size[1], size[0], c)
    return out


def _read_member(archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DatasetError(
                _("{key} is an object array; it is refused because loading it would unpickle code").format(key=key)
            ) from None
        raise DatasetError(_("{key} cannot be read ({exc})").format(key=key, exc=one_line(exc))) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(_("{key} cannot be read ({exc})").format(key=key, exc=one_line(exc))) from None


def _to_uint8_images(x: np.ndarray, key: str) -> tuple[np.ndarray, list[str]]:
    notes: list[str] = []
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DatasetError(
            _("{key} must be images (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got shape {shape}").format(
                key=key, shape=x.shape
            )
        )
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise DatasetError(
            _("{key} images have no pixels (height or width 0): shape {shape}").format(key=key, shape=x.shape)
        )
    if x.dtype.kind not in "uifb":
        raise DatasetError(
            _("{key} must hold real pixel values (integers, floats or booleans), got dtype {dtype}").format(
                key=key, dtype=x.dtype
            )
        )
    if x.shape[-1] == 4:
        x = x[..., :3]
        notes.append(Deferred(N_("alpha channel dropped (RGBA to RGB)")))
    if x.dtype == np.uint8:
        return x, notes
    if x.dtype.kind == "b":
        notes.append(Deferred(N_("{key} is boolean: False became 0 and True 255"), key=key))
        return _convert_in_chunks(x, 255.0), notes
    if x.size == 0:
        return x.astype(np.uint8), notes
    # min/max/finite check chunk by chunk: no full-size temporary copies
    lo, hi = np.inf, -np.inf
    for chunk in _chunks(x):
        if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            raise DatasetError(_("{key} contains NaN or infinite pixel values").format(key=key))
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    if lo >= 0 and hi <= 1 and x.dtype.kind == "f":
        notes.append(Deferred(N_("pixel values in 0..1 were scaled to 0..255")))
        return _convert_in_chunks(x, 255.0), notes
    if lo >= 0 and hi <= 255:
        return _convert_in_chunks(x, 1.0), notes
    raise DatasetError(
        _("{key} pixel values span {lo:g}..{hi:g}; expected 0..1 or 0..255").format(key=key, lo=lo, hi=hi)
    )


_CHUNK_BYTES = 16 << 20


def _chunks(x: np.ndarray):
    rows = max(1, _CHUNK_BYTES // max(1, x[0].nbytes if len(x) else 1))
    for start in range(0, len(x), rows):
        yield x[start : start + rows]


def _convert_in_chunks(x: np.ndarray, scale: float) -> np.ndarray:
    """round(x * scale) as uint8, a chunk of rows at a time (temporaries stay ~16 MB)."""
    out = np.empty(x.shape, np.uint8)
    start = 0
    for chunk in _chunks(x):
        out[start : start + len(chunk)] = np.round(chunk.astype(np.float64) * scale)
        start += len(chunk)
    return out


def load_keras_dataset(name: str) -> Dataset:
    """Keras' own loaders: they read the Keras cache (~/.keras/datasets or $KERAS_HOME) or download."""
    if name not in KERAS_DATASETS:
        raise DatasetError(_("unknown Keras dataset '{name}'").format(name=name))
    from lib.tf_import import import_keras

    loader = getattr(import_keras().datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # urllib/Keras raise plain Exception when offline
        raise DatasetError(
            _("{name} is not in the Keras cache and could not be downloaded (offline?): {exc}").format(
                name=name, exc=one_line(exc, 160)
            )
        ) from None
    names = KERAS_CLASS_NAMES[name]
    x_train_u8 = _to_uint8_images(np.asarray(x_train), "x_train")[0]
    x_test_u8 = _to_uint8_images(np.asarray(x_test), "x_test")[0]
    y_train, y_test, class_names = normalize_labels(
        np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1), list(names)
    )[:3]
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


@dataclass(frozen=True)
class Source:
    """One way to get a dataset: adding a source is one row in SOURCES."""

    title: str  # as the sidebar lists it
    load: Callable[[DatasetSpec, bytes | None, Progress | None], Dataset]
    asks_for: str = ""  # "" (named: nothing to type) | "folder" | "npz" (a path or an upload)
    reads_files: bool = False  # loads file by file: worth a progress bar


def _npz(spec: DatasetSpec, data: bytes | None, progress: Progress | None) -> Dataset:
    source = io.BytesIO(data) if data is not None else guard(spec.path, kind="file")
    return load_npz(source, name=Path(spec.path).stem)


SOURCES: dict[str, Source] = {
    "digits": Source("digits (scikit-learn, 8x8)", lambda spec, data, progress: load_digits()),
    "shapes": Source(
        "shapes (shipped, 32x32 colour)",
        lambda spec, data, progress: load_image_folder(SAMPLE_DATA / "shapes", progress=progress),
        reads_files=True,
    ),
    "mnist": Source("mnist (Keras)", lambda spec, data, progress: load_keras_dataset("mnist")),
    "fashion_mnist": Source("fashion_mnist (Keras)", lambda spec, data, progress: load_keras_dataset("fashion_mnist")),
    "cifar10": Source("cifar10 (Keras)", lambda spec, data, progress: load_keras_dataset("cifar10")),
    "folder": Source(
        "image folder…",
        lambda spec, data, progress: load_image_folder(guard(spec.path, kind="folder"), progress=progress),
        asks_for="folder",
        reads_files=True,
    ),
    "npz": Source(".npz file…", _npz, asks_for="npz"),
    # A folder or ZIP uploaded in the browser, or pictures taken class by class: saved as a folder set.
    "images": Source(
        "Your images…",
        lambda spec, data, progress: load_picture_set(spec.path, progress),
        asks_for="images",
        reads_files=True,
    ),
}
NAMED = tuple(kind for kind, source in SOURCES.items() if not source.asks_for)  # chosen by name alone
KERAS_DATASETS = tuple(KERAS_CLASS_NAMES)
