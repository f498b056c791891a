"""The browser tab's icon, drawn here: a Material icon as page_icon makes every page load ask
fonts.gstatic.com for it, which fails in an offline classroom."""

from __future__ import annotations

import numpy as np
from PIL import Image


def app_icon() -> Image.Image:
    """32x32 RGB: a 3x3 grid of tiles, one highlighted (an image picked out of a set). A PIL image,
    not an array: set_page_config compares page_icon with a string first."""
    icon = np.full((32, 32, 3), 255, np.uint8)
    for row in range(3):
        for col in range(3):
            y, x = 2 + row * 10, 2 + col * 10
            icon[y : y + 8, x : x + 8] = (198, 40, 40) if (row, col) == (1, 1) else (66, 66, 66)
    return Image.fromarray(icon)
