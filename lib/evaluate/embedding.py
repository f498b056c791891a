"""A map of what the model learned: the penultimate layer's features of every test image
(the input of the final Dense "probabilities" layer), projected to 2-D.

PCA (numpy SVD) is immediate; t-SNE (scikit-learn) takes seconds to minutes and runs on
request. Points carry a small PNG of their image as a data URI for the tooltip, up to a cap:
10,000 data URIs of 32x32 colour images would be ~30 MB in every page rerun.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

IMAGE_CAP = 2_000  # images in tooltips: the first IMAGE_CAP points (in test-set order)
THUMB_SIDE = 32  # tooltip images are at most this many pixels a side


def features(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate features (N, D) of preprocessed images x: the input of the final Dense layer."""
    from lib.evaluate.explain import _single_input, final_dense
    from lib.tf_import import import_keras

    keras = import_keras()
    probe = keras.Model(_single_input(model), final_dense(model).input)
    return np.asarray(probe.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0), np.float32)


def pca_2d(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) coordinates on the first two principal components, and the share of variance
    each explains. Signs are fixed as scikit-learn's svd_flip does (largest loading positive).

    Computed from the D x D covariance (eigh), not an SVD of the N x D matrix: the same
    components, and ~100x less work for 10,000 images of 64 features."""
    f = np.asarray(feats, np.float64)
    f = f.reshape(len(f), -1)
    if len(f) < 2:
        return np.zeros((len(f), 2)), np.zeros(2)
    centred = f - f.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    vt = vectors[:, :2].T
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1
    vt = vt * signs[:, None]
    coords = centred @ vt.T
    if coords.shape[1] < 2:  # a single feature
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    share = values[:2] / values.sum() if values.sum() > 0 else np.zeros(min(2, len(values)))
    return coords, np.pad(share, (0, 2 - len(share)))


def tsne_2d(feats: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE coordinates (scikit-learn, PCA initialisation, fixed seed)."""
    from sklearn.manifold import TSNE

    f = np.asarray(feats, np.float32).reshape(len(feats), -1)
    perplexity = float(min(30, max(2, (len(f) - 1) // 3)))
    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(f)


def data_uri(img: np.ndarray, side: int = THUMB_SIDE) -> str:
    """A small PNG of a uint8 image (H, W, C) as a data: URI (enlarged with nearest neighbour
    when tiny, shrunk when larger than `side`)."""
    arr = np.asarray(img, np.uint8)
    arr = arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
    im = Image.fromarray(arr)
    scale = side / max(im.size)
    if scale != 1:
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def embedding_table(
    coords: np.ndarray,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    class_names,
    images: np.ndarray | None = None,
    image_cap: int = IMAGE_CAP,
) -> pd.DataFrame:
    """One row per test image: x, y, index, true, predicted, result (right/wrong),
    confidence, and image (a data URI for the first `image_cap` rows, else "")."""
    names = np.asarray(list(class_names), dtype=object)
    pred = np.asarray(y_prob).argmax(axis=1)
    n = len(coords)
    uris = [""] * n
    if images is not None and len(images) == n:
        for i in range(min(n, image_cap)):
            uris[i] = data_uri(images[i])
    return pd.DataFrame(
        {
            "x": np.round(coords[:, 0], 4),
            "y": np.round(coords[:, 1], 4),
            "index": np.arange(n),
            "true": names[np.asarray(y_true)],
            "predicted": names[pred],
            "result": np.where(pred == np.asarray(y_true), "right", "wrong"),
            "confidence": np.round(np.asarray(y_prob).max(axis=1), 4),
            "image": uris,
        }
    )


def indices_in_box(table: pd.DataFrame, box: dict | None) -> np.ndarray:
    """Test-set indices of the points inside an interval selection as Streamlit reports it:
    {"x": [low, high], "y": [low, high]} (either may be missing: no limit on that axis)."""
    if not box:
        return np.zeros(0, np.int64)
    keep = np.ones(len(table), bool)
    for axis in ("x", "y"):
        if axis in box and box[axis] is not None and len(box[axis]) == 2:
            low, high = sorted(float(v) for v in box[axis])
            keep &= (table[axis].to_numpy() >= low) & (table[axis].to_numpy() <= high)
    return table["index"].to_numpy()[keep]
