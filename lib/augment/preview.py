"""What an ImageDataGenerator does to real images: seeded draws, sampled parameters,
pixel statistics before/after, and the train-vs-evaluation distribution check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.i18n import N_, _

# get_random_transform keys worth showing, with short labels. The labels say how the image moved:
# the generator's tx (drawn from height_shift_range) moves it sideways, ty (width_shift_range) up
# and down (keras-team/keras#17398). Labels are catalogue messages, translated where a caption is
# made (`_()` at call time: the page's session language).
_PARAM_LABELS = {
    "theta": (N_("rot"), "{:+.0f}°"),
    "tx": (N_("dx"), "{:+.1f}px"),
    "ty": (N_("dy"), "{:+.1f}px"),
    "shear": (N_("shear"), "{:+.0f}°"),
    "zx": (N_("zoom\u2011y"), "{:.2f}"),
    "zy": (N_("zoom\u2011x"), "{:.2f}"),
    "flip_horizontal": (N_("h\u2011flip"), ""),  # a non-breaking hyphen: never "h-" / "flip"
    "flip_vertical": (N_("v\u2011flip"), ""),
    "channel_shift_intensity": (N_("ch\u2011shift"), "{:+.0f}"),
    "brightness": (N_("bright"), "×{:.2f}"),
}


def augment_draws(gen: Any, images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, list[list[dict]]]:
    """k augmented draws of each image: the generator's own random transform, then its
    deterministic standardize(), in that order (as flow() does). Reproducible by seed."""
    out = np.empty((len(images), k, *images.shape[1:]), dtype=np.float32)
    params: list[list[dict]] = []
    for i, img in enumerate(images.astype(np.float32)):
        row = []
        for j in range(k):
            p = gen.get_random_transform(img.shape, seed=seed * 10_007 + i * k + j)
            x = gen.apply_transform(img.copy(), p)
            out[i, j] = gen.standardize(x.astype(np.float32))
            row.append(p)
        params.append(row)
    return out, params


def standardize_only(gen: Any, images: np.ndarray) -> np.ndarray:
    """The deterministic part alone: what validation and test images must get."""
    from lib.augment.settings import standardize_batch

    return standardize_batch(gen, images)


def describe_params(p: dict) -> str:
    parts = []
    for key, (label, fmt) in _PARAM_LABELS.items():
        value = p.get(key)
        if value is None or (isinstance(value, (bool, np.bool_)) and not value):
            continue
        if not isinstance(value, (bool, np.bool_)) and key in ("zx", "zy", "brightness") and abs(value - 1) < 1e-9:
            continue
        if not isinstance(value, (bool, np.bool_)) and key not in ("zx", "zy", "brightness") and abs(value) < 1e-9:
            continue
        text = fmt.format(float(value)) if fmt else ""
        if fmt and text.lstrip("+-×").strip("0.px°") == "":  # rounds to zero in its format: no change shown
            continue
        parts.append(f"{_(label)} {text}" if text else _(label))
    return ", ".join(parts) or _("no change")


def to_display(x: np.ndarray, stretch: bool, value_range: tuple[float, float] = (0.0, 255.0)) -> np.ndarray:
    """uint8 for st.image. By default one fixed scale for every image: `value_range` maps to
    0..255 (values outside it are clipped), so images keep their relative brightness. With
    `stretch`, each image is stretched to its own min..max (labelled as such on the page:
    it looks like colour augmentation)."""
    if stretch:
        lo = x.min(axis=(-3, -2, -1), keepdims=True)
        hi = x.max(axis=(-3, -2, -1), keepdims=True)
        return np.round((x - lo) / np.where(hi > lo, hi - lo, 1) * 255).astype(np.uint8)
    lo, hi = value_range
    return np.clip(np.round((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


def value_stats(named: dict[str, np.ndarray]) -> pd.DataFrame:
    """min, max, mean, std per array and channel (float values, any scale)."""
    rows = []
    for name, x in named.items():
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        for c in range(flat.shape[1]):
            col = flat[:, c]
            rows.append(
                {
                    "images": name,
                    "channel": "gray" if flat.shape[1] == 1 else "RGB"[c] if flat.shape[1] == 3 else str(c),
                    "min": col.min(),
                    "max": col.max(),
                    "mean": col.mean(),
                    "std": col.std(),
                }
            )
    return pd.DataFrame(rows).round(3)


def distribution_table(named: dict[str, np.ndarray], bins: int = 40) -> pd.DataFrame:
    """Histogram (share of pixel values per bin) of each array over its own min..max: raw 0..255
    pixels and standardized values near 0 each fill their own panel (one common axis would squeeze
    the standardized ones into a single bar)."""
    frames = []
    for name, x in named.items():
        lo, hi = float(x.min()), float(x.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        counts, _ = np.histogram(x.ravel(), bins=edges)
        frames.append(
            pd.DataFrame(
                {
                    "images": name,
                    "value_start": edges[:-1],
                    "value_end": edges[1:],
                    "share": counts / max(counts.sum(), 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
