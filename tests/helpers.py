"""Small data the tests make: image folders and .npz files (never hand-made files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def write_image(path: Path, size=(16, 16), mode="RGB", value=None, seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = (
        rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        if value is None
        else np.full((size[1], size[0], channels), value, np.uint8)
    )
    Image.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(path)
    return path


def make_folder(root: Path, counts: dict[str, int], size=(16, 16), mode="RGB", ext="png") -> Path:
    seed = 0
    for cls, n in counts.items():
        for i in range(n):
            seed += 1
            write_image(root / cls / f"{i}.{ext}", size, mode, seed=seed)
    return root


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def tiny_arrays(n_train=12, n_test=6, k=3, shape=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    return {
        "X_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % k,
        "X_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % k,
    }


def app_on_page(page_file: str | None = None, timeout: int = 180):
    """AppTest of the whole app (router + sidebar), switched to a page; fails on an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    at.run()
    if page_file:
        at.switch_page(page_file).run()
    assert not at.exception, at.exception
    return at
