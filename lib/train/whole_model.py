"""The whole model: uint8 images in, probabilities out, every deterministic step inside.

Training feeds the classifier standardized float32 batches (lib.train.streaming, the
ImageDataGenerator's `standardize`). The stored `model.keras` wraps that classifier in the
same steps written as built-in Keras layers (no Lambda, no custom class: a fresh process that
imports only Keras loads it with safe_mode), so `load_model(path).predict(x_uint8)` gives the
stored test probabilities:

    image (uint8, H x W x C) -> to float32 / rescale -> samplewise centring (and std)
        -> featurewise mean / std -> classifier (input adaptation, backbone, head)

The classifier is kept as one nested model named CORE, so every view that feeds it the
standardized images it was trained on (Try it, Where it looks, the traps, a run backbone)
takes it out with `core_of` and works as before; runs stored before whole models are their
own core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.i18n import _
from lib.tf_import import import_keras

CORE = "classifier"
PREDICT_BATCH = 32  # Keras' default: the stored predictions are what a plain predict(x) gives
STD_EPSILON = 1e-6  # ImageDataGenerator divides by std + 1e-6


@dataclass(frozen=True)
class Standardization:
    """The deterministic pixel steps of a run, in ImageDataGenerator's order."""

    rescale: float | None = None
    offset: float = 0.0  # added after rescaling (an uploaded model expecting -1..1)
    samplewise_center: bool = False
    samplewise_std: bool = False
    mean: np.ndarray | None = None  # featurewise, per channel (training-set statistics)
    std: np.ndarray | None = None

    @classmethod
    def of_generator(cls, gen: Any) -> Standardization:
        """What `lib.augment.settings.standardize_batch(gen, x)` does, step by step."""

        def channels(value: Any) -> np.ndarray | None:
            return None if value is None else np.asarray(value, np.float32).reshape(-1)

        return cls(
            rescale=float(gen.rescale) if gen.rescale else None,
            samplewise_center=bool(gen.samplewise_center),
            samplewise_std=bool(gen.samplewise_std_normalization),
            mean=channels(gen.mean) if gen.featurewise_center else None,
            std=channels(gen.std) if gen.featurewise_std_normalization else None,
        )


def _mean_over_image(layers: Any, x: Any, channels: int, name: str) -> Any:
    """Each image's mean over height, width and channels, shape (1, 1, 1) per image: the
    per-channel means, then their average (a fixed 1x1 convolution)."""
    per_channel = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_per_channel", dtype="float32")(x)
    if channels == 1:
        return per_channel
    average = layers.Conv2D(1, 1, use_bias=False, trainable=False, name=f"{name}_of_channels", dtype="float32")
    out = average(per_channel)
    average.set_weights([np.full((1, 1, channels, 1), 1.0 / channels, np.float32)])
    return out


def preprocessing(x: Any, steps: Standardization, channels: int) -> Any:
    """`steps` as fixed float32 layers on the uint8 image tensor x (computed in float32 even
    under mixed precision, as the generator computes them)."""
    layers = import_keras().layers
    x = layers.Rescaling(
        steps.rescale or 1.0, offset=steps.offset, name="rescale" if steps.rescale else "to_float32", dtype="float32"
    )(x)
    if steps.samplewise_std:
        # (x - mean) / sqrt(var + 1e-12): the generator divides by std + 1e-6; on 0..1 pixels
        # the two differ by about 1e-6 / std of the result (no built-in layer does std + 1e-6).
        x = layers.LayerNormalization(
            axis=(-3, -2, -1),
            epsilon=1e-12,
            center=False,
            scale=False,
            name="samplewise_standardization",
            dtype="float32",
        )(x)
    elif steps.samplewise_center:
        mean = _mean_over_image(layers, x, channels, "samplewise_mean")
        x = layers.Subtract(name="samplewise_center", dtype="float32")([x, mean])
    if steps.mean is not None or steps.std is not None:
        mean = steps.mean if steps.mean is not None else np.zeros(channels, np.float32)
        # Normalization divides by sqrt(variance): the generator's std + 1e-6, squared.
        variance = (steps.std + STD_EPSILON) ** 2 if steps.std is not None else np.ones(channels, np.float32)
        x = layers.Normalization(
            axis=-1, mean=mean.tolist(), variance=variance.tolist(), name="featurewise_normalization", dtype="float32"
        )(x)
    return x


def make_whole(core: Any, steps: Standardization, *, name: str = "whole_model") -> Any:
    """A model taking uint8 images of the core's input shape: `steps`, then `core` (nested)."""
    keras = import_keras()
    shape = tuple(int(d) for d in core.inputs[0].shape[1:])
    if core.name != CORE:
        core.name = CORE  # the name core_of finds it by (the layer objects are the same)
    image = keras.Input(shape=shape, dtype="uint8", name="image_uint8")
    probabilities = core(preprocessing(image, steps, shape[-1]))
    return keras.Model(image, probabilities, name=name)


def is_whole(model: Any) -> bool:
    """A model that takes uint8 images and holds its classifier as CORE."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1 or "uint8" not in str(inputs[0].dtype):
        return False
    return any(layer.name == CORE for layer in model.layers)


def core_of(model: Any) -> Any:
    """The classifier inside a whole model (it takes the standardized images), or the model
    itself when it is not whole (runs stored before whole models)."""
    return model.get_layer(CORE) if is_whole(model) else model


def predict_uint8(model: Any, x: np.ndarray) -> np.ndarray:
    """The whole model's probabilities for uint8 images, exactly as a user's `predict(x)` runs."""
    if len(x) == 0:
        return np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)
    return np.asarray(model.predict(np.asarray(x, np.uint8), batch_size=PREDICT_BATCH, verbose=0), np.float32)


def expects(shape: tuple[int, ...], class_names: tuple[str, ...] | list[str]) -> str:
    """What a whole model.keras takes and gives, in one sentence."""
    h, w, c = (int(d) for d in shape)
    names = ", ".join(str(n) for n in class_names)
    return _(  # at call time: the page's session language, the CLI's --lang, else English
        "model.keras takes uint8 images, pixel values 0 to 255, shape (N, {h}, {w}, {c}), and gives one "
        "probability per class in this order: {names}."
    ).format(h=h, w=w, c=c, names=names)
