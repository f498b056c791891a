"""Small Keras classifiers sized from the input shape and the number of classes.

Every model ends in softmax over K classes and is compiled with integer labels and
sparse categorical cross-entropy, so labels and loss always agree.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lib.errors import SettingsError
from lib.tf_import import import_keras

MODEL_KINDS = {
    "mlp": "MLP: dense baseline (ignores where pixels are)",
    "cnn": "CNN: 2-3 conv blocks",
    "deep_cnn": "Deep CNN: 4 conv blocks + dense head (for larger photos)",
}
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def build_model(kind: str, input_shape: tuple[int, int, int], num_classes: int, *, seed: int = 0) -> Any:
    keras = import_keras()
    layers = keras.layers
    keras.utils.set_random_seed(seed)  # same seed, same initial weights
    h, w, _ = input_shape
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if kind == "mlp":
        x = layers.Flatten()(x)
        x = layers.Dense(128, activation="relu")(x)
        x = layers.Dropout(0.2)(x)
    elif kind in ("cnn", "deep_cnn"):
        filters = (32, 64, 128) if kind == "cnn" else (32, 64, 128, 256)
        # A third CNN block only pays off when there is room left to pool (>= 24 px).
        blocks = filters if kind == "deep_cnn" or min(h, w) >= 24 else filters[:2]
        size = min(h, w)
        for f in blocks:
            x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
            if kind == "deep_cnn":
                x = layers.BatchNormalization()(x)
            if size >= 4:  # pool while the feature map is big enough
                x = layers.MaxPooling2D()(x)
                size //= 2
        x = layers.GlobalAveragePooling2D()(x) if kind == "deep_cnn" else layers.Flatten()(x)
        x = layers.Dense(128 if kind == "deep_cnn" else 64, activation="relu")(x)
        x = layers.Dropout(0.3 if kind == "deep_cnn" else 0.2)(x)
    else:
        raise SettingsError(f"unknown model '{kind}': choose {', '.join(MODEL_KINDS)}")
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=kind)


def compile_model(model: Any, optimizer: str = "adam", learning_rate: float = 1e-3) -> Any:
    keras = import_keras()
    optimizers = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if optimizer not in optimizers:
        raise SettingsError(f"unknown optimizer '{optimizer}': choose {', '.join(optimizers)}")
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
