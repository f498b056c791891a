"""Turn whatever labels a user has (ints, strings, one-hot rows) into ints 0..K-1.

Keras wants integer labels with sparse categorical cross-entropy and scikit-learn wants
1-D integer `y_true`: converting once, here, means no later step meets the
one-hot/sparse mismatch.
"""

from __future__ import annotations

import numpy as np

from lib.data.dataset import DatasetError
from lib.data.names import nfc
from lib.i18n import N_, Deferred, _

# Largest label magnitude taken as is: beyond it int64 (or float64 exactness) cannot hold it.
LABEL_LIMIT = 2**53


def is_one_hot(y: np.ndarray) -> bool:
    if y.ndim != 2 or y.shape[1] < 2 or not np.issubdtype(y.dtype, np.number):
        return False
    return bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())


def normalize_labels(
    y_train: np.ndarray,
    y_test: np.ndarray,
    class_names: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    """Return (y_train, y_test, class_names, notes) with int64 labels 0..K-1."""
    notes: list[str] = []
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)

    # A column vector (N, 1) is how some tutorials store labels (Keras' cifar10 among them),
    # sometimes in one split only.
    if y_train.ndim == 2 and y_train.shape[1] == 1:
        y_train = y_train[:, 0]
    if y_test.ndim == 2 and y_test.shape[1] == 1:
        y_test = y_test[:, 0]
    # Labels stored as bytes: decoded as UTF-8 (bytes that are not become U+FFFD).
    y_train, y_test = (
        np.array([bytes(v).decode("utf-8", "replace") for v in y]) if y.dtype.kind == "S" and y.ndim == 1 else y
        for y in (y_train, y_test)
    )

    if y_train.ndim == 2 or y_test.ndim == 2:
        if not (is_one_hot(y_train) and is_one_hot(y_test)):
            raise DatasetError(_("2-D labels must be one-hot rows (0/1, one 1 per row) in both splits"))
        if y_train.shape[1] != y_test.shape[1]:
            raise DatasetError(
                _("one-hot labels differ in width: train {train}, test {test}").format(
                    train=y_train.shape[1], test=y_test.shape[1]
                )
            )
        notes.append(Deferred(N_("labels were one-hot ({n} columns): converted with argmax"), n=y_train.shape[1]))
        k = y_train.shape[1]
        names = _check_names(class_names, k) if class_names is not None else tuple(str(i) for i in range(k))
        return y_train.argmax(1).astype(np.int64), y_test.argmax(1).astype(np.int64), names, notes

    if y_train.ndim != 1 or y_test.ndim != 1:
        raise DatasetError(
            _("labels must be 1-D or one-hot, got shapes {train} and {test}").format(
                train=y_train.shape, test=y_test.shape
            )
        )

    if y_train.dtype.kind in "US" or y_test.dtype.kind in "US":
        # One spelling (NFC) before labels are compared: a split written on macOS (NFD) and
        # one written on Linux (NFC) name the same classes.
        y_train, y_test = (np.array([nfc(v) for v in y.astype(str).tolist()], dtype=str) for y in (y_train, y_test))
        return _from_strings(y_train, y_test, class_names, notes)

    if y_train.dtype.kind == "b" or y_test.dtype.kind == "b":
        y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    if y_train.dtype.kind not in "iuf" or y_test.dtype.kind not in "iuf":
        raise DatasetError(
            _("labels must be integers, strings or one-hot rows, got {dtype}").format(dtype=y_train.dtype)
        )
    both = np.concatenate([y_train, y_test])
    if both.dtype.kind == "f" and (not np.isfinite(both).all() or not (both == np.round(both)).all()):
        raise DatasetError(_("labels are floats that are not whole numbers (NaN, inf or fractions)"))
    if len(both) and (both.min() < -LABEL_LIMIT or both.max() > LABEL_LIMIT):
        # int64 would wrap them around silently (uint64 above 2**63, floats like 1e20)
        raise DatasetError(
            _("labels out of range: found {min:g}..{max:g}; labels must be integers").format(
                min=both.min(), max=both.max()
            )
        )
    both = both.astype(np.int64)
    y_train, y_test = both[: len(y_train)], both[len(y_train) :]

    if class_names is not None:
        names = _check_names(class_names, None)
        if len(both) and (both.min() < 0 or both.max() >= len(names)):
            raise DatasetError(
                _("labels out of range: found {min}..{max} for {n_names} class names").format(
                    min=both.min(), max=both.max(), n_names=len(names)
                )
            )
        return y_train, y_test, names, notes

    values = np.unique(both)
    if len(values) and values[0] == 0 and values[-1] == len(values) - 1:
        return y_train, y_test, tuple(str(v) for v in values), notes
    # Odd integer labels (e.g. {3, 7, 9} or negatives): map in sorted order, keep the values as names.
    mapping = {int(v): i for i, v in enumerate(values)}
    notes.append(
        Deferred(
            N_("integer labels {values} were mapped to 0..{last} in sorted order"),
            values=_short(values),
            last=len(values) - 1,
        )
    )
    remap = np.vectorize(mapping.__getitem__, otypes=[np.int64])
    return remap(y_train), remap(y_test), tuple(str(v) for v in values), notes


def _from_strings(
    y_train: np.ndarray, y_test: np.ndarray, class_names: list[str] | None, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    names = (
        _check_names(class_names, None)
        if class_names is not None
        else tuple(sorted(set(y_train.tolist()) | set(y_test.tolist())))
    )
    index = {n: i for i, n in enumerate(names)}
    unknown = (set(y_train.tolist()) | set(y_test.tolist())) - set(index)
    if unknown:
        raise DatasetError(_("labels not among the class names: {names}").format(names=_short(sorted(unknown))))
    to_int = np.vectorize(index.__getitem__, otypes=[np.int64])
    notes.append(
        Deferred(N_("string labels were mapped to 0..{last} in given order"), last=len(names) - 1)
        if class_names is not None
        else Deferred(N_("string labels were mapped to 0..{last} in sorted order"), last=len(names) - 1)
    )
    return to_int(y_train), to_int(y_test), names, notes


def _check_names(class_names: list[str] | None, k: int | None) -> tuple[str, ...]:
    names = tuple(nfc(str(n)) for n in (class_names or []))
    if k is not None and len(names) != k:
        raise DatasetError(_("{n_names} class names for {k} classes").format(n_names=len(names), k=k))
    if len(set(names)) != len(names):
        raise DatasetError(_("class names must be unique"))
    return names


def _short(values: object, limit: int = 6) -> str:
    items = [str(v) for v in values]  # type: ignore[attr-defined]
    return "{" + ", ".join(items[:limit]) + (", …" if len(items) > limit else "") + "}"
