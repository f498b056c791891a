"""Figures drawn as pixels (for TensorBoard, which shows images, not charts).

`confusion_image` draws the per-epoch validation confusion matrix the way the confusion-matrix
tutorial's figure does (class names on both axes, a number in every cell, a colour bar), but
colour and numbers use the same normalization (by true class), which that recipe did not.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lib.evaluate import metrics

# Matplotlib's "Blues" end points; values in between are interpolated.
_LIGHT = np.array([247, 251, 255], np.float64)
_DARK = np.array([8, 48, 107], np.float64)


_GRID = np.array([220, 220, 220], np.uint8)


def _blues(value: np.ndarray) -> np.ndarray:
    """Values (any shape, clipped to 0..1) -> their uint8 RGB colours (shape + (3,))."""
    v = np.clip(value, 0.0, 1.0)[..., None]
    return np.round(_LIGHT + (_DARK - _LIGHT) * v).astype(np.uint8)


def _blue(value: float) -> tuple[int, int, int]:
    return tuple(int(c) for c in _blues(np.asarray(value)))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def confusion_image(cm: np.ndarray, class_names: list[str] | tuple[str, ...], cell: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: the confusion matrix normalized by true class, labelled.

    Drawn every epoch of every run, so the parts that do not change (title, class names, colour
    bar) are drawn once per class list and size, and each number's antialiased glyphs once; an
    epoch only fills the cells and blends the numbers in (about 2 ms for 10 classes)."""
    k = len(class_names)
    value = metrics.normalize(cm, "true")
    cell = cell or max(22, min(48, 480 // max(k, 1)))
    names = tuple(str(n)[:14] for n in class_names)
    frame, label_w, top = _frame(names, cell)
    img = frame.copy()
    colours = _blues(value)
    for i in range(k):
        for j in range(k):
            x0, y0 = label_w + j * cell, top + i * cell
            block = img[y0 : y0 + cell, x0 : x0 + cell]
            block[:] = _GRID
            block[1:-1, 1:-1] = colours[i, j]
            if cell >= 22:  # blend the number's glyphs in, only where they are
                (ty, tx), alpha = _number_mask(f"{value[i, j]:.2f}", cell)
                under = block[ty : ty + alpha.shape[0], tx : tx + alpha.shape[1]]
                ink = 255.0 if value[i, j] > 0.5 else 0.0
                under[:] = np.round(under * (1 - alpha) + ink * alpha).astype(np.uint8)
    return img


@functools.lru_cache(maxsize=16)
def _frame(names: tuple[str, ...], cell: int) -> tuple[np.ndarray, int, int]:
    """The unchanging parts (read-only): title, row and column names, colour bar; and where the grid starts."""
    k = len(names)
    font = _font(max(9, cell // 3))
    label_w = 10 + max(int(font.getlength(n)) for n in names) if names else 10
    top, bar_w = 34, 60
    width = label_w + k * cell + 20 + bar_w
    height = top + k * cell + label_w + 10
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((label_w, 6), "validation confusion (rows: true, share of the true class)", fill="black", font=font)
    for i, name in enumerate(names):
        draw.text((4, top + i * cell + cell / 2 - font.size / 2), name, fill="black", font=font)
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
    frame = np.asarray(img).copy()
    frame.flags.writeable = False
    return frame, label_w, top


@functools.lru_cache(maxsize=1024)
def _number_mask(text: str, cell: int) -> tuple[tuple[int, int], np.ndarray]:
    """Where in a cell `text` (centred) has ink, and its antialiased coverage there (0..1)."""
    font = _font(max(9, cell // 3))
    mask = Image.new("L", (cell, cell), 0)
    tw = font.getlength(text)
    ImageDraw.Draw(mask).text(((cell - tw) / 2, cell / 2 - font.size / 2), text, fill=255, font=font)
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, 0, 0)
    alpha = np.asarray(mask, np.float32)[y0:y1, x0:x1, None] / 255.0
    alpha.flags.writeable = False
    return (y0, x0), alpha
