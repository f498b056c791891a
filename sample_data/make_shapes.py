"""Generate sample_data/shapes/: 32x32 colour PNGs of circles, squares and triangles.

Deliberately imbalanced (150 / 75 / 35) so accuracy alone misleads: always answering
'circle' already scores 58%. Deterministic: running it again writes the same files.

    python sample_data/make_shapes.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COUNTS = {"circle": 150, "square": 75, "triangle": 35}
SIZE = 32


def draw_shape(kind: str, rng: np.random.Generator) -> Image.Image:
    background = tuple(int(v) for v in rng.integers(150, 256, 3))
    colour = tuple(int(v) for v in rng.integers(0, 120, 3))
    im = Image.new("RGB", (SIZE, SIZE), background)
    d = ImageDraw.Draw(im)
    r = int(rng.integers(7, 13))  # half-size of the shape
    cx, cy = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, 2))
    if kind == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    # Light pixel noise so no two images are identical (the leakage check stays meaningful).
    arr = np.asarray(im, dtype=np.int16) + rng.integers(-12, 13, (SIZE, SIZE, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


HERE = Path(__file__).resolve().parent


def main(out: Path = HERE / "shapes", seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    for kind, n in COUNTS.items():
        (out / kind).mkdir(parents=True)
        for i in range(n):
            draw_shape(kind, rng).save(out / kind / f"{kind}_{i:03d}.png", optimize=True)


if __name__ == "__main__":
    main()
