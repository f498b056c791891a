"""What is in a Dataset: counts, balance, baseline, pixel statistics, leakage, samples.

Pure functions returning plain values and DataFrames; the Dataset page and the CLI show them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.dataset import Dataset
from lib.i18n import N_, _

# Largest/smallest class count ratio above which accuracy alone is called misleading.
IMBALANCE_WARN_RATIO = 1.5


def summary(ds: Dataset) -> dict[str, object]:
    both_min = min(int(ds.x_train.min()), int(ds.x_test.min())) if len(ds.x_test) else int(ds.x_train.min())
    both_max = max(int(ds.x_train.max()), int(ds.x_test.max())) if len(ds.x_test) else int(ds.x_train.max())
    h, w, c = ds.image_shape
    return {
        "name": ds.name,
        "classes": ds.num_classes,
        "train images": len(ds.x_train),
        "test images": len(ds.x_test),
        "image shape": f"{h}x{w}x{c}",
        "channels": c,
        "dtype": str(ds.x_train.dtype),
        "pixel range": f"{both_min}..{both_max}",
        "fingerprint": ds.fingerprint[:12],
    }


def class_counts(ds: Dataset) -> pd.DataFrame:
    """One row per class: class index, name, train and test counts."""
    k = ds.num_classes
    return pd.DataFrame(
        {
            "class": np.arange(k),
            "name": list(ds.class_names),
            "train": np.bincount(ds.y_train, minlength=k),
            "test": np.bincount(ds.y_test, minlength=k),
        }
    )


@dataclass(frozen=True)
class Baseline:
    """The majority baseline, one definition everywhere (Dataset page, runs, CLI, Compare):
    always predict the most frequent class of the TRAINING split (all a model could know),
    scored on the test split."""

    class_name: str
    accuracy: float  # on the test split
    imbalance_ratio: float  # largest / smallest training class count (inf if a class is empty)
    class_index: int = 0

    @property
    def unbalanced(self) -> bool:
        return self.imbalance_ratio > IMBALANCE_WARN_RATIO

    def sentence(self) -> str:
        return _("Always predicting '{name}' scores {accuracy} accuracy on this test set.").format(
            name=self.class_name, accuracy=f"{self.accuracy:.0%}"
        )


def majority_baseline(ds: Dataset) -> Baseline:
    """Accuracy of always predicting the most frequent training class, measured on test."""
    counts = np.bincount(ds.y_train, minlength=ds.num_classes)
    majority = int(counts.argmax())
    acc = float((ds.y_test == majority).mean()) if len(ds.y_test) else 0.0
    ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
    return Baseline(ds.class_names[majority], acc, ratio, majority)


def pixel_stats(ds: Dataset) -> pd.DataFrame:
    """min, max, mean, std per split and channel, on the 0..255 scale."""
    rows = []
    for split, x in (("train", ds.x_train), ("test", ds.x_test)):
        if len(x) == 0:
            continue
        hists = channel_histograms(x)
        for c in range(x.shape[-1]):
            # A 256-bin histogram gives exact min/max/mean/std without a float copy of the images.
            hist = hists[c].astype(np.float64)
            values = np.arange(256, dtype=np.float64)
            n = hist.sum()
            mean = float((hist * values).sum() / n)
            std = float(np.sqrt((hist * (values - mean) ** 2).sum() / n))
            present = np.flatnonzero(hist)
            rows.append(
                {
                    "split": split,
                    "channel": _channel_name(c, x.shape[-1]),
                    "min": int(present[0]),
                    "max": int(present[-1]),
                    "mean": round(mean, 3),
                    "std": round(std, 3),
                }
            )
    return pd.DataFrame(rows)


STATS_CHUNK_PIXELS = 1 << 20  # np.bincount copies its input to int64: 8 MB per chunk, never 8x the data set


def channel_histograms(x: np.ndarray) -> np.ndarray:
    """(C, 256) counts of each uint8 value per channel, a chunk of images at a time."""
    channels = x.shape[-1]
    hists = np.zeros((channels, 256), np.int64)
    per_image = max(1, int(np.prod(x.shape[1:-1])))
    rows = max(1, STATS_CHUNK_PIXELS // per_image)
    for start in range(0, len(x), rows):
        chunk = x[start : start + rows].reshape(-1, channels)
        for c in range(channels):
            hists[c] += np.bincount(chunk[:, c], minlength=256)
    return hists


def _channel_name(c: int, channels: int) -> str:
    # the data keep this English name (CLI, report); a page shows it translated
    return N_("gray") if channels == 1 else "RGB"[c] if channels == 3 else str(c)


def duplicates_across_splits(ds: Dataset) -> pd.DataFrame:
    """Exact duplicate images present in both train and test (leakage), one row per test image."""
    train_index: dict[bytes, list[int]] = {}
    for i, img in enumerate(ds.x_train):
        train_index.setdefault(_digest(img), []).append(i)
    rows = []
    for j, img in enumerate(ds.x_test):
        hits = train_index.get(_digest(img))
        if hits:
            rows.append(
                {
                    "test index": j,
                    "test label": ds.class_names[ds.y_test[j]],
                    "train indices": ", ".join(map(str, hits[:5])) + (" …" if len(hits) > 5 else ""),
                    "train labels": ", ".join(sorted({ds.class_names[ds.y_train[i]] for i in hits})),
                }
            )
    return pd.DataFrame(rows, columns=["test index", "test label", "train indices", "train labels"])


def _digest(img: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(img).data, digest_size=12).digest()


def sample_indices(
    y: np.ndarray, per_class: int, classes: list[int] | None = None, seed: int = 0
) -> dict[int, np.ndarray]:
    """Up to `per_class` image indices for each class, chosen with a fixed seed."""
    rng = np.random.default_rng(seed)
    chosen = classes if classes is not None else sorted(set(np.unique(y).tolist()))
    out = {}
    for cls in chosen:
        idx = np.flatnonzero(y == cls)
        out[int(cls)] = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)) if len(idx) else idx
    return out


def orientation_sensitive(ds: Dataset) -> str:
    """Why a flip would change what these images show, or "" when no reason is known.
    Characters (digits, letters) are: a mirrored 2 is no 2, an upside-down 6 reads as 9."""
    names = [n.strip() for n in ds.class_names]
    if names and all(len(n) == 1 and n.isalnum() for n in names):
        shown = ", ".join(names[:4]) + ("…" if len(names) > 4 else "")
        return _("its classes are characters ({names}): a mirrored 2 is not a 2, an upside-down 6 reads as 9").format(
            names=shown
        )
    return ""
