"""Image helpers for display (never for training: these change pixels)."""

from __future__ import annotations

import numpy as np

# Streamlit shows images at a fixed width: a 100x1 strip at 72 px wide would be 0.7 px high
# ("height and width must be > 0"). Strips are framed in white up to this aspect ratio.
MAX_ASPECT = 4


def for_display(img: np.ndarray, min_side: int = 64) -> np.ndarray:
    """Enlarge small images by an integer factor (nearest neighbour, so pixels stay crisp);
    an image longer than MAX_ASPECT times its width (or height) sits centred in a white frame;
    grayscale comes back 2-D, which is what st.image expects."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    if max(h, w) > MAX_ASPECT * max(1, min(h, w)):
        short = -(-max(h, w) // MAX_ASPECT)
        pad_h, pad_w = max(0, short - h), max(0, short - w)
        pads = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)] + [(0, 0)] * (img.ndim - 2)
        white = 255 if img.dtype == np.uint8 else (float(img.max()) if img.size else 1.0)
        img = np.pad(img, pads, constant_values=white)
    factor = max(1, -(-min_side // max(1, min(img.shape[:2]))))
    big = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    return big[..., 0] if big.ndim == 3 and big.shape[-1] == 1 else big
