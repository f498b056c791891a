"""Small Keras classifiers sized from the input shape and the number of classes.

Every model ends in softmax over K classes, computed in float32 even under mixed precision
(16-bit probabilities would not sum to 1 and the loss could overflow), and is compiled with integer labels and
sparse categorical cross-entropy, so labels and loss always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.errors import SettingsError
from lib.i18n import N_
from lib.tf_import import import_keras


@dataclass(frozen=True)
class ModelKind:
    """One of our own model kinds: adding a kind is one row in MODEL_KINDS."""

    title: str
    build: Callable[[Any, tuple[int, int, int], Any], Any]  # (keras.layers, input shape, inputs) -> features


def _mlp(layers: Any, input_shape: tuple[int, int, int], x: Any) -> Any:
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    return layers.Dropout(0.2, name="dropout")(x)


def _conv_blocks(layers: Any, input_shape: tuple[int, int, int], x: Any, *, deep: bool) -> Any:
    h, w, _ = input_shape
    filters = (32, 64, 128, 256) if deep else (32, 64, 128)
    # A third CNN block only pays off when there is room left to pool (>= 24 px).
    blocks = filters if deep or min(h, w) >= 24 else filters[:2]
    size = min(h, w)
    for block, f in enumerate(blocks, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{block}_conv")(x)
        if deep:
            x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        if size >= 4:  # pool while the feature map is big enough
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
            size //= 2
    x = layers.GlobalAveragePooling2D(name="global_pool")(x) if deep else layers.Flatten(name="flatten")(x)
    x = layers.Dense(128 if deep else 64, activation="relu", name="dense")(x)
    return layers.Dropout(0.3 if deep else 0.2, name="dropout")(x)


def _tutorial_cnn(layers: Any, input_shape: tuple[int, int, int], x: Any) -> Any:
    """The three-animals tutorial's own CNN: Conv 128/256/128/64 (3x3, same, relu) each with
    max pooling, Flatten, Dense 128/64/32 relu. Pooling stops when the map is down to 1 px."""
    size = min(input_shape[:2])
    for block, f in enumerate((128, 256, 128, 64), start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{block}_conv")(x)
        if size >= 2:
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
            size //= 2
    x = layers.Flatten(name="flatten")(x)
    for units in (128, 64, 32):
        x = layers.Dense(units, activation="relu", name=f"dense_{units}")(x)
    return x


MODEL_KINDS: dict[str, ModelKind] = {
    # titles: marked for the catalogue, shown through _() where drawn
    "mlp": ModelKind(N_("MLP: dense baseline (ignores where pixels are)"), _mlp),
    "cnn": ModelKind(N_("CNN: 2-3 conv blocks"), lambda L, s, x: _conv_blocks(L, s, x, deep=False)),
    "deep_cnn": ModelKind(
        N_("Deep CNN: 4 conv blocks + dense head (for larger photos)"), lambda L, s, x: _conv_blocks(L, s, x, deep=True)
    ),
    "tutorial_cnn": ModelKind(
        N_("Tutorial CNN: the three-animals tutorial's own (Conv 128/256/128/64)"), _tutorial_cnn
    ),
}
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def build_model(kind: str, input_shape: tuple[int, int, int], num_classes: int, *, seed: int = 0) -> Any:
    """Every layer is named explicitly: Keras' automatic names come from a counter that
    `clear_session()` in another thread (another session training) can reset halfway through
    a build, giving "The name 'conv2d' is used 2 times in the model"."""
    if kind not in MODEL_KINDS:
        raise SettingsError(N_("unknown model '{model}': choose {choices}"), model=kind, choices=", ".join(MODEL_KINDS))
    keras = import_keras()
    keras.utils.set_random_seed(seed)  # same seed, same initial weights
    inputs = keras.Input(shape=input_shape, name="image")
    x = MODEL_KINDS[kind].build(keras.layers, input_shape, inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=kind)


def compile_model(model: Any, optimizer: str = "adam", learning_rate: float = 1e-3) -> Any:
    keras = import_keras()
    optimizers = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if optimizer not in optimizers:
        raise SettingsError(
            N_("unknown optimizer '{optimizer}': choose {choices}"), optimizer=optimizer, choices=", ".join(optimizers)
        )
    model.compile(
        optimizer=optimizers[optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",  # integer labels 0..K-1, never one-hot
        metrics=["accuracy"],
    )
    return model


def summary_table(model: Any) -> pd.DataFrame:
    """One row per layer: name, type, output shape, trainable and non-trainable parameters."""
    rows = []
    for layer in model.layers:
        trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
        frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
        shape = getattr(layer, "output", None)
        rows.append(
            {
                "layer": layer.name,
                "type": layer.__class__.__name__,
                "output shape": str(tuple(shape.shape)) if shape is not None else "",
                "trainable params": trainable,
                "non-trainable params": frozen,
            }
        )
    return pd.DataFrame(rows)
