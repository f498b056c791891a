"""Where a model looks: class activation maps for convolutional models, gradient x input for the others.

Grad-CAM (Selvaraju et al. 2017): the gradient of one class's score (the logit, before
softmax: probabilities near 1 have vanishing gradients) with respect to a convolutional
layer's feature maps, averaged over space, weighs those maps; their ReLU'd sum, resized to
the input, is the heatmap. Averaging the gradient over space assumes a head that pools
(GlobalAveragePooling: transfer models, deep_cnn). Our `cnn` flattens, so every position has
its own weights, and the averaged gradient mostly highlights the channels that fire on noise
everywhere: on a task whose class lives in one quadrant, classic Grad-CAM put ~20% of its
mass there (less than the 25% of a blank map). HiResCAM (Draelos & Carin 2020) multiplies
gradient and activation position by position before summing over channels: faithful for any
head, and identical to Grad-CAM when the gradient is constant over space (a pooling head).
It is the default here; classic Grad-CAM stays one argument away.

Transfer models keep their convolutions inside a nested backbone model: the forward pass is
split at the backbone (input adaptation -> backbone up to the chosen layer and to its output
-> the head), so the chosen layer's output is on the tape.
A model without convolutions (an MLP) gets gradient x input saliency instead, labelled so.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.errors import SettingsError
from lib.i18n import N_, Deferred
from lib.tf_import import import_keras

CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")


@dataclass(frozen=True)
class ConvLayer:
    name: str  # the layer's own name
    backbone: str | None  # the nested model holding it (None: a layer of the model itself)
    shape: tuple  # its output shape without the batch dimension

    @property
    def label(self) -> str:
        where = f"{self.backbone} / " if self.backbone else ""
        return f"{where}{self.name} {'x'.join(str(d) for d in self.shape)}"


@dataclass(frozen=True)
class Explanation:
    heatmap: np.ndarray  # (H, W) in 0..1 at the input's size
    method: str  # "HiResCAM" | "Grad-CAM" | "gradient x input"
    layer: str  # the conv layer (Grad-CAM) or "input"
    class_index: int
    probability: float  # the model's probability for class_index


def _single_input(model: Any) -> Any:
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs


def _is_nested(layer: Any) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "inputs")


def conv_layers(model: Any) -> list[ConvLayer]:
    """Every convolutional layer with a spatial output, in model order, nested backbones included.
    1x1 preprocessing convolutions (vgg16_preprocess_input, rgb_to_gray) are not features: skipped."""
    found = []
    for layer in model.layers:
        if _is_nested(layer):
            found += [
                ConvLayer(inner.name, layer.name, tuple(int(d) for d in inner.output.shape[1:]))
                for inner in layer.layers
                if inner.__class__.__name__ in CONV_TYPES and len(inner.output.shape) == 4
            ]
        elif layer.__class__.__name__ in CONV_TYPES and len(layer.output.shape) == 4:
            if layer.name.endswith("_preprocess_input") or layer.name == "rgb_to_gray":
                continue
            found.append(ConvLayer(layer.name, None, tuple(int(d) for d in layer.output.shape[1:])))
    return found


def last_conv_layer(model: Any) -> ConvLayer | None:
    layers = conv_layers(model)
    return layers[-1] if layers else None


def final_dense(model: Any) -> Any:
    """The softmax layer: named "probabilities" in our models, else the last layer."""
    try:
        return model.get_layer("probabilities")
    except ValueError:
        return model.layers[-1]


class _Parts:
    """x -> (conv feature maps, penultimate features); logits = features @ W + b."""

    def __init__(self, model: Any, conv: ConvLayer | None) -> None:
        keras = import_keras()
        self.dense = final_dense(model)
        self.kernel, self.bias = (w for w in (self.dense.kernel, self.dense.bias))
        if conv is None:
            self.whole = keras.Model(_single_input(model), self.dense.input)
            self.nested = None
            return
        if conv.backbone is None:
            self.whole = keras.Model(_single_input(model), [model.get_layer(conv.name).output, self.dense.input])
            self.nested = None
            return
        backbone = model.get_layer(conv.backbone)
        position = model.layers.index(backbone)
        # The tensor fed to the backbone in the outer graph (its first call).
        self.before = keras.Model(_single_input(model), backbone._inbound_nodes[0].input_tensors[0])
        self.inner = keras.Model(_single_input(backbone), [backbone.get_layer(conv.name).output, backbone.outputs[0]])
        head = model.layers[position + 1 :]
        self.after = [layer for layer in head if layer is not self.dense]
        self.nested = backbone

    def __call__(self, x: Any) -> tuple[Any, Any]:
        if self.nested is None:
            out = self.whole(x, training=False)
            return (out[0], out[1]) if isinstance(out, (list, tuple)) else (None, out)
        conv_out, y = self.inner(self.before(x, training=False), training=False)
        for layer in self.after:
            y = layer(y, training=False)
        return conv_out, y

    def logits(self, features: Any) -> Any:
        import tensorflow as tf

        return tf.matmul(features, self.kernel) + self.bias


_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _parts(model: Any, conv: ConvLayer | None) -> _Parts:
    """Building the sub-models costs more than a gradient pass: keep them per model and layer."""
    per_model = _PARTS.setdefault(model, {})
    key = conv.label if conv is not None else ""
    if key not in per_model:
        per_model[key] = _Parts(model, conv)
    return per_model[key]


def _resize(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(cam[None, :, :, None], size, method="bilinear").numpy()[0, :, :, 0]


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.asarray(m, np.float64))
    top = m.max()
    return m / top if top > 0 else np.zeros_like(m)


CAM_METHODS = {"hirescam": "HiResCAM", "gradcam": "Grad-CAM"}


def _class_score(parts: Any, features: Any, class_index: int | None) -> tuple[Any, int, float]:
    """Inside a GradientTape: the logit to explain (of `class_index`, default the predicted
    class), that class, and its probability."""
    import tensorflow as tf

    logits = parts.logits(features)
    probs = tf.nn.softmax(logits)
    k = int(tf.argmax(probs[0])) if class_index is None else int(class_index)
    return logits[:, k], k, float(probs[0, k])


def gradcam(
    model: Any,
    x: np.ndarray,
    class_index: int | None = None,
    layer: ConvLayer | str | None = None,
    method: str = "hirescam",
) -> Explanation:
    """Class activation map for one preprocessed image x (1, H, W, C) and a class (default:
    the predicted one): method "hirescam" (gradient x activation per position, the default)
    or "gradcam" (classic: the gradient averaged over space weighs each channel)."""
    if method not in CAM_METHODS:
        raise SettingsError(
            N_("unknown method '{method}': choose {choices}"), method=method, choices=", ".join(CAM_METHODS)
        )
    import tensorflow as tf

    conv = _pick(model, layer)
    if conv is None:
        raise SettingsError(Deferred(N_("this model has no convolutional layer: use saliency (gradient x input)")))
    parts = _parts(model, conv)
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        maps, features = parts(x)
        score, k, p = _class_score(parts, features, class_index)
    grads = tape.gradient(score, maps)
    if method == "gradcam":
        grads = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(maps * grads, axis=-1))[0].numpy()
    heat = _normalize(_resize(cam, tuple(int(d) for d in x.shape[1:3])))
    return Explanation(heat, CAM_METHODS[method], conv.label, k, p)


def saliency(model: Any, x: np.ndarray, class_index: int | None = None) -> Explanation:
    """|gradient x input| of the class logit, summed over channels: which pixels move the score."""
    import tensorflow as tf

    parts = _parts(model, None)
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, features = parts(x)
        score, k, p = _class_score(parts, features, class_index)
    grads = tape.gradient(score, x)
    sal = np.abs((grads * x).numpy()[0]).sum(axis=-1)
    return Explanation(_normalize(sal), "gradient x input", "input", k, p)


def explain(
    model: Any,
    x: np.ndarray,
    class_index: int | None = None,
    layer: ConvLayer | str | None = None,
    method: str = "hirescam",
) -> Explanation:
    """A class activation map where the model has convolutions, gradient x input otherwise."""
    if _pick(model, layer) is None:
        return saliency(model, x, class_index)
    return gradcam(model, x, class_index, layer, method)


def _pick(model: Any, layer: ConvLayer | str | None) -> ConvLayer | None:
    if isinstance(layer, ConvLayer):
        return layer
    layers = conv_layers(model)
    if layer is None:
        return layers[-1] if layers else None
    for c in layers:
        if layer in (c.name, c.label):
            return c
    raise SettingsError(N_("no convolutional layer '{layer}' in this model"), layer=layer)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The uint8 image (H, W, C) under a red-yellow heatmap of the same size: uint8 RGB."""
    img = np.asarray(image, np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    h = np.clip(heatmap, 0, 1)[..., None]
    colour = np.concatenate([np.ones_like(h), h, np.zeros_like(h)], axis=-1) * 255  # red -> yellow
    out = img * (1 - alpha * h) + colour * (alpha * h)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def heat_image(heatmap: np.ndarray) -> np.ndarray:
    """The heatmap alone as uint8 RGB (black -> red -> yellow)."""
    h = np.clip(heatmap, 0, 1)
    rgb = np.stack([np.clip(2 * h, 0, 1), np.clip(2 * h - 1, 0, 1), np.zeros_like(h)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def mass_in(heatmap: np.ndarray, rows: slice, cols: slice) -> float:
    """Share of the heatmap's total in a region (how much of 'where it looks' falls there)."""
    total = float(heatmap.sum())
    return float(heatmap[rows, cols].sum()) / total if total > 0 else 0.0
