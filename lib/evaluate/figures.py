"""Figures drawn as pixels (for TensorBoard, which shows images, not charts).

`confusion_image` draws the per-epoch validation confusion matrix the way the confusion-matrix
tutorial's figure does (class names on both axes, a number in every cell, a colour bar), but
colour and numbers use the same normalization (by true class), which that recipe did not.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lib.evaluate import metrics

# Matplotlib's "Blues" end points; values in between are interpolated.
_LIGHT = np.array([247, 251, 255], np.float64)
_DARK = np.array([8, 48, 107], np.float64)


def _blue(value: float) -> tuple[int, int, int]:
    v = min(max(value, 0.0), 1.0)
    return tuple(int(c) for c in np.round(_LIGHT + (_DARK - _LIGHT) * v))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def confusion_image(cm: np.ndarray, class_names: list[str] | tuple[str, ...], cell: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: the confusion matrix normalized by true class, labelled."""
    k = len(class_names)
    value = metrics.normalize(cm, "true")
    cell = cell or max(22, min(48, 480 // max(k, 1)))
    font = _font(max(9, cell // 3))
    names = [str(n)[:14] for n in class_names]
    label_w = 10 + max(int(font.getlength(n)) for n in names) if names else 10
    top, bar_w = 34, 60
    width = label_w + k * cell + 20 + bar_w
    height = top + k * cell + label_w + 10
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((label_w, 6), "validation confusion (rows: true, share of the true class)", fill="black", font=font)
    for i in range(k):
        for j in range(k):
            x0, y0 = label_w + j * cell, top + i * cell
            colour = _blue(value[i, j])
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour, outline=(220, 220, 220))
            if cell >= 22:
                text = f"{value[i, j]:.2f}"
                ink = "white" if value[i, j] > 0.5 else "black"
                tw = font.getlength(text)
                draw.text((x0 + (cell - tw) / 2, y0 + cell / 2 - font.size / 2), text, fill=ink, font=font)
        draw.text((4, top + i * cell + cell / 2 - font.size / 2), names[i], fill="black", font=font)
    # predicted-class names, written vertically under the columns
    for j, name in enumerate(names):
        tile = Image.new("RGB", (label_w, cell), "white")
        ImageDraw.Draw(tile).text((4, cell / 2 - font.size / 2), name, fill="black", font=font)
        img.paste(tile.rotate(90, expand=True), (label_w + j * cell, top + k * cell + 4))
    # colour bar 0..1
    bx = label_w + k * cell + 20
    for y in range(k * cell):
        draw.line([bx, top + y, bx + 14, top + y], fill=_blue(1 - y / max(k * cell - 1, 1)))
    draw.text((bx + 18, top - 2), "1.0", fill="black", font=font)
    draw.text((bx + 18, top + k * cell - font.size), "0.0", fill="black", font=font)
    return np.asarray(img)
