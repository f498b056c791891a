"""Figures drawn as pixels (for TensorBoard, which shows images, not charts).

`confusion_image` draws the per-epoch validation confusion matrix the way the confusion-matrix
tutorial's figure does (class names on both axes, a number in every cell, a colour bar), but
colour and numbers use the same normalization (by true class), which that recipe did not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lib.evaluate import fonts, metrics

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


TITLE = "validation confusion (rows: true, share of the true class)"
MAX_LABEL = 24  # characters of a class name drawn; longer ones end in "…"
_MARGIN = 6


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return fonts.default_font(size)


@dataclass(frozen=True)
class DrawnText:
    """A text the picture holds and the box (x0, y0, x1, y1) its ink may cover."""

    text: str
    box: tuple[int, int, int, int]


def confusion_image(cm: np.ndarray, class_names: list[str] | tuple[str, ...], cell: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: the confusion matrix normalized by true class, labelled.

    Drawn every epoch of every run, so the parts that do not change (title, class names, colour
    bar) are drawn once per class list and size, and each number's antialiased glyphs once; an
    epoch only fills the cells and blends the numbers in (about 2 ms for 10 classes). Names the
    default font cannot draw (Hangul) use a CJK font of the system (lib.evaluate.fonts); a name
    no font found can draw shows its class index (#3)."""
    k = len(class_names)
    value = metrics.normalize(cm, "true")
    cell = _cell(k, cell)
    frame, label_w, top, _ = _frame(tuple(str(n) for n in class_names), cell, fonts.cjk_font())
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


def confusion_texts(class_names: list[str] | tuple[str, ...], cell: int = 0) -> tuple[DrawnText, ...]:
    """Every text confusion_image draws around the grid (title, row and column names, colour
    bar ends) with its measured box: what a test checks lies inside the picture."""
    names = tuple(str(n) for n in class_names)
    return _frame(names, _cell(len(names), cell), fonts.cjk_font())[3]


def _cell(k: int, cell: int) -> int:
    return cell or max(22, min(48, 480 // max(k, 1)))


def _shown(name: str, index: int, drawable: bool) -> str:
    if not drawable:
        return f"#{index}"
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def _place(draw: ImageDraw.ImageDraw, font, text: str, left: float, middle: float) -> tuple[int, int, int, int]:
    """Draw `text` with its ink starting at `left` and centred on `middle`; returns its box."""
    x0, y0, x1, y1 = font.getbbox(text)
    xy = (left - x0, middle - (y0 + y1) / 2)
    draw.text(xy, text, fill="black", font=font)
    bx0, by0, bx1, by1 = draw.textbbox(xy, text, font=font)
    return int(bx0), int(by0), int(np.ceil(bx1)), int(np.ceil(by1))


@functools.lru_cache(maxsize=16)
def _frame(
    names: tuple[str, ...], cell: int, cjk: fonts.FontFile | None
) -> tuple[np.ndarray, int, int, tuple[DrawnText, ...]]:
    """The unchanging parts (read-only): title, row and column names, colour bar; where the grid
    starts; and every text's measured box. `cjk` (the system font found) keys the cache."""
    k, m = len(names), _MARGIN
    font, fits = fonts.font_for(names, max(9, cell // 3))
    labels = [_shown(n, i, ok) for i, (n, ok) in enumerate(zip(names, fits, strict=True))]
    widths = [font.getbbox(t)[2] - font.getbbox(t)[0] for t in labels]
    title_box = font.getbbox(TITLE)
    label_w = m + max(widths, default=0) + m
    top = m + (title_box[3] - title_box[1]) + m
    bx = label_w + k * cell + 16  # the colour bar, 14 px wide, then its "1.0" / "0.0"
    ends = max(font.getbbox(t)[2] - font.getbbox(t)[0] for t in ("1.0", "0.0"))
    width = max(bx + 18 + ends + m, m + (title_box[2] - title_box[0]) + m)
    height = top + k * cell + 4 + label_w + m
    img = Image.new("RGB", (int(width), int(height)), "white")
    draw = ImageDraw.Draw(img)
    texts = [DrawnText(TITLE, _place(draw, font, TITLE, m, m + (title_box[3] - title_box[1]) / 2))]
    for i, label in enumerate(labels):
        texts.append(DrawnText(label, _place(draw, font, label, m, top + i * cell + cell / 2)))
    # predicted-class names, written vertically under the columns, ending just below the grid
    for j, (label, w) in enumerate(zip(labels, widths, strict=True)):
        tile = Image.new("RGB", (label_w, cell), "white")
        tx0, ty0, tx1, ty1 = _place(ImageDraw.Draw(tile), font, label, label_w - m - w, cell / 2)
        px, py = label_w + j * cell, top + k * cell + 4
        img.paste(tile.rotate(90, expand=True), (px, py))
        # rotating by 90 degrees maps the tile's (x, y) to (y, label_w - x)
        texts.append(DrawnText(label, (px + ty0, py + label_w - tx1, px + ty1, py + label_w - tx0)))
    for y in range(k * cell):
        draw.line([bx, top + y, bx + 14, top + y], fill=_blue(1 - y / max(k * cell - 1, 1)))
    half = (font.getbbox("1.0")[3] - font.getbbox("1.0")[1]) / 2
    texts.append(DrawnText("1.0", _place(draw, font, "1.0", bx + 18, top + half)))
    texts.append(DrawnText("0.0", _place(draw, font, "0.0", bx + 18, top + k * cell - half)))
    frame = np.asarray(img).copy()
    frame.flags.writeable = False
    return frame, label_w, top, tuple(texts)


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
