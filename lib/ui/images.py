"""Image helpers for display (never for training: these change pixels)."""

from __future__ import annotations

import numpy as np


def for_display(img: np.ndarray, min_side: int = 64) -> np.ndarray:
    """Enlarge small images by an integer factor (nearest neighbour, so pixels stay crisp);
    grayscale comes back 2-D, which is what st.image expects."""
    factor = max(1, -(-min_side // max(1, min(img.shape[:2]))))
    big = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    return big[..., 0] if big.ndim == 3 and big.shape[-1] == 1 else big
