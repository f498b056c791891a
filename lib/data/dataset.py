"""The one value every step works on: a `Dataset` of uint8 images with integer labels.

Every loader in `lib.data` returns this, so pages, training and metrics never care where
the images came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from lib.data.names import nfc, nfc_all
from lib.errors import DatasetError
from lib.i18n import N_, Deferred, _

__all__ = ["Dataset", "DatasetError"]


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 (N, H, W, C)
    y_train: np.ndarray  # int64 (N,), values 0..K-1
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    # Things the loader did to the data that the user should know about
    # (skipped files, resizing, channel conversion, label mapping).
    notes: tuple[str, ...] = ()
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        # Every source's names in one spelling (NFC) before anything compares, shows or
        # hashes them; names already NFC are unchanged, so are their fingerprints.
        names = nfc_all(self.class_names)
        if len(set(names)) != len(names):
            raise DatasetError(
                _("class names must be unique (two of them are the same name in different Unicode forms)")
            )
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "name", nfc(self.name))
        _check_arrays(self)
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            # Datasets are shared between sessions through the cache: never mutate one.
            arr.flags.writeable = False
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", compute_fingerprint(self))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[-1])

    def with_changes(self, **changes: object) -> Dataset:
        """A new Dataset (new fingerprint) with some fields replaced."""
        return replace(self, fingerprint="", **changes)  # type: ignore[arg-type]


def _check_arrays(ds: Dataset) -> None:
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        if x.dtype != np.uint8 or x.ndim != 4:
            raise DatasetError(
                _("{split} images must be uint8 (N, H, W, C), got {dtype} {shape}").format(
                    split=split, dtype=x.dtype, shape=x.shape
                )
            )
        if y.ndim != 1 or len(y) != len(x):
            raise DatasetError(
                _("{split} labels must be one per image: {n_y} labels for {n_x} images").format(
                    split=split, n_y=len(y), n_x=len(x)
                )
            )
        if len(y) and (y.min() < 0 or y.max() >= len(ds.class_names)):
            raise DatasetError(
                _("{split} labels must lie in 0..{last}").format(split=split, last=len(ds.class_names) - 1)
            )
    if ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        raise DatasetError(
            _("train and test images differ in shape: {train} vs {test}").format(
                train=ds.x_train.shape[1:], test=ds.x_test.shape[1:]
            )
        )
    if len(ds.class_names) < 2:
        raise DatasetError(_("a classifier needs at least 2 classes, found {n}").format(n=len(ds.class_names)))
    if len(ds.x_train) == 0:
        raise DatasetError(_("the training split has no images"))


def compute_fingerprint(ds: Dataset) -> str:
    """Hash of the contents (not the name or path): caches and the run store key on it."""
    h = hashlib.blake2b(digest_size=16)
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))
    h.update("\x00".join(ds.class_names).encode())
    return h.hexdigest()


def stratified_split(y: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), split per class with a fixed seed.

    Written out instead of sklearn's train_test_split(stratify=...), which refuses classes
    with a single image; here such a class stays in train, every class with 2+ images gets
    at least one test image.
    """
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        else:
            n_test = 0
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))


def subsample_class(ds: Dataset, class_index: int, keep_fraction: float, seed: int = 0) -> Dataset:
    """Keep only a fraction of one class in the training split (create imbalance on purpose).

    The test split is untouched so the effect on evaluation is honest.
    """
    if not 0 <= class_index < ds.num_classes:
        raise DatasetError(
            _("no class {class_index}: classes are 0..{last}").format(class_index=class_index, last=ds.num_classes - 1)
        )
    if not 0 < keep_fraction <= 1:
        raise DatasetError(
            _("keep fraction must be in (0, 1], got {keep_fraction}").format(keep_fraction=keep_fraction)
        )
    if keep_fraction == 1:
        return ds
    idx = np.flatnonzero(ds.y_train == class_index)
    n_keep = max(1, int(round(len(idx) * keep_fraction)))
    rng = np.random.default_rng(seed)
    dropped = rng.permutation(idx)[n_keep:]
    keep = np.setdiff1d(np.arange(len(ds.y_train)), dropped)
    name = ds.class_names[class_index]
    note = Deferred(
        N_("training split: kept {kept} of {total} '{name}' images ({share}) to create imbalance"),
        kept=n_keep,
        total=len(idx),
        name=name,
        share=f"{keep_fraction:.0%}",
    )
    return ds.with_changes(
        x_train=ds.x_train[keep],
        y_train=ds.y_train[keep],
        name=f"{ds.name} ('{name}' at {keep_fraction:.0%})",
        notes=ds.notes + (note,),
    )
