"""Does a new picture look like the training images? A model trained on white digits on black
has never seen a black "3" on white paper, and says nothing about it: its probabilities for such
a picture mean little. Two clear, cheap signs: the background's brightness (polarity) and how much
of the picture the object covers (framing), both against the training images' typical values."""

from __future__ import annotations

import numpy as np

from lib.i18n import _

SAMPLE = 300  # training images looked at: enough for a median, cheap at 224x224
DARK, LIGHT = 0.35, 0.65  # background brightness (0..1) below / above: clearly dark / light
INK = 0.25  # a pixel differs from the background by more than this: part of the object


def _gray(images: np.ndarray) -> np.ndarray:
    """(N, H, W) brightness 0..1 of uint8 (N, H, W, C) images."""
    return images.astype(np.float32).mean(axis=-1) / 255.0


def _background(gray: np.ndarray) -> np.ndarray:
    """Median brightness of each image's outer ring of pixels (N,)."""
    ring = np.concatenate([gray[:, 0, :], gray[:, -1, :], gray[:, 1:-1, 0], gray[:, 1:-1, -1]], axis=1)
    return np.median(ring, axis=1)


def _coverage(gray: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Share of each image's pixels that differ clearly from its background (N,)."""
    return (np.abs(gray - background[:, None, None]) > INK).mean(axis=(1, 2))


def unlike_training(image: np.ndarray, x_train: np.ndarray) -> list[str]:
    """Sentences for each clear difference between `image` (uint8 H x W x C, already of the
    training images' shape) and the training images; empty when it looks like them."""
    if len(x_train) == 0 or image.shape != x_train.shape[1:]:
        return []
    sample = x_train[np.linspace(0, len(x_train) - 1, min(SAMPLE, len(x_train))).astype(int)]
    train_gray, gray = _gray(sample), _gray(image[None])
    train_bg, bg = float(np.median(_background(train_gray))), float(_background(gray)[0])
    found = []
    if train_bg < DARK and bg > LIGHT:
        found.append(
            _(
                "Your picture has a light background; the training images have dark ones (a light object on black). "
                "The model has never seen a picture like this: invert it (a white object on black) for a fair try."
            )
        )
    elif train_bg > LIGHT and bg < DARK:
        found.append(
            _(
                "Your picture has a dark background; the training images have light ones. "
                "The model has never seen a picture like this: invert it for a fair try."
            )
        )
    else:
        train_cover = float(np.median(_coverage(train_gray, _background(train_gray))))
        cover = float(_coverage(gray, np.array([bg]))[0])
        if train_cover > 0.05 and cover < train_cover / 3:
            found.append(
                _(
                    "The object covers {cover} of your picture, {typical} in a typical training image: "
                    "crop closer so that it fills the frame as in training."
                ).format(cover=f"{cover:.0%}", typical=f"{train_cover:.0%}")
            )
    return found
