"""Transfer learning: a pretrained (or stored) backbone with a new softmax head.

Backbones: `vgg16` and `mobilenetv2` from keras.applications (ImageNet weights from the
Keras cache or a download; offline: random weights, labelled as not pretrained, or a local
weights file), or `run:<run_id>`, the feature part of one of our own stored runs, which
works fully offline.

Input adaptation lives inside the model, so a saved model takes the same 0..1 pixels as
every other model here: grayscale -> 3 channels (or 3 -> 1 for a grayscale backbone),
resize to the backbone's input size, then the backbone's own `preprocess_input` written
as fixed layers (no Lambda: a Lambda holds code, which safe loading refuses).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from lib.data.paths import guard, printable
from lib.errors import DatasetError, ModelFileError, StoreError, TransferError, message_of, one_line
from lib.i18n import N_
from lib.tf_import import import_keras
from lib.train.model_budget import check_keras_archive, check_model_file

BACKBONES = {
    "vgg16": N_("VGG16 (ImageNet; 14.7 M parameters)"),  # labels: shown through _() where drawn
    "mobilenetv2": N_("MobileNetV2 α=0.35 (ImageNet; light enough for a laptop CPU)"),
}
MODES = {
    "feature_extraction": N_("feature extraction (backbone frozen)"),
    "fine_tune": N_("fine-tuning (last N layers trainable)"),
    # The three-animals tutorial's "feature extraction" as written: it never froze VGG16.
    "train_all": N_("everything trains (the tutorial's 'feature extraction': nothing frozen)"),
}
# The new layers on top of the backbone: ours (pool, dropout, softmax) or the tutorial's.
HEADS = {
    "pool": "global average pooling + dropout + softmax",
    "tutorial": "Flatten + Dense 128/64/32 relu + softmax (the three-animals tutorial's head)",
}
# What the backbone receives: its own preprocess_input (ours) or raw 0..255 pixels (the tutorial).
BACKBONE_INPUTS = {"preprocess": "the backbone's own preprocess_input", "raw": "raw 0..255 pixels (the tutorial)"}
# Smallest input each backbone gets; MobileNetV2's ImageNet weights exist for 96..224 px.
MIN_SIZE = {"vgg16": 32, "mobilenetv2": 96}
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    pretrained: bool  # False: random weights, say so everywhere
    source: str  # "imagenet", a weights file, "random", or "run <id>"
    input_shape: tuple[int, int, int]
    trainable_layers: int = 0  # layers fine-tuning may unfreeze (with weights, BatchNormalization excluded)
    unfrozen: int = 0  # how many of them train: min(unfreeze, trainable_layers) when fine-tuning


RUN_PREFIX = "run:"


@dataclass(frozen=True)
class BackboneRef:
    """Which backbone a transfer run uses: a keras.applications model or one of our stored runs.

    Its text form is what the CLI takes and config.json records as the model: "vgg16",
    "mobilenetv2" or "run:<run_id>"."""

    source: str  # "keras" | "run"
    name: str  # the keras.applications kind, or the run id

    @classmethod
    def parse(cls, text: str) -> BackboneRef | None:
        """The backbone a model name refers to, or None for one of our own model kinds."""
        if text.startswith(RUN_PREFIX) and len(text) > len(RUN_PREFIX):
            return cls("run", text[len(RUN_PREFIX) :])
        if text in BACKBONES:
            return cls("keras", text)
        return None

    @classmethod
    def of_run(cls, run_id: str) -> BackboneRef:
        return cls("run", run_id)

    @property
    def is_run(self) -> bool:
        return self.source == "run"

    def __str__(self) -> str:
        return f"{RUN_PREFIX}{self.name}" if self.is_run else self.name


class RunBackbones(Protocol):
    """Where run backbones come from (the run store): `load(run_id)` gives a run with `status`,
    `dataset_label` and `load_model()`. A protocol, so training never imports the run layer."""

    def load(self, run_id: str) -> Any: ...


def is_transfer(kind: str) -> bool:
    return BackboneRef.parse(kind) is not None


def _download_failure(exc: BaseException) -> str:
    """Why a download failed, short enough to be read whole: Keras says "URL fetch failure on
    <url>: <code> -- <why>", and the why (no name resolution, refused) is what a learner can act on."""
    line = one_line(exc, 400)
    if line.startswith("URL fetch failure") and " -- " in line:
        line = line.split(" -- ", 1)[1]
    return line if len(line) <= 120 else line[:119] + "…"


def _keras_backbone(kind: str, size: int, weights: str, pooling: str | None = "avg") -> tuple[Any, BackboneInfo]:
    keras = import_keras()
    ctor = {
        "vgg16": lambda w: keras.applications.VGG16(
            input_shape=(size, size, 3), include_top=False, weights=w, pooling=pooling
        ),
        "mobilenetv2": lambda w: keras.applications.MobileNetV2(
            input_shape=(size, size, 3), include_top=False, weights=w, alpha=0.35, pooling=pooling
        ),
    }[kind]
    if weights in ("none", "", None):
        return ctor(None), BackboneInfo(kind, False, "random", (size, size, 3))
    if weights == "imagenet":
        try:
            return ctor("imagenet"), BackboneInfo(kind, True, "imagenet", (size, size, 3))
        except Exception as exc:
            raise TransferError(
                N_(
                    "ImageNet weights for {kind} are not in the Keras cache (~/.keras/models) and could not be "
                    "downloaded (offline?): choose weights 'none' (random, not pretrained) or a local weights file "
                    "[{reason}]"
                ),
                kind=kind,
                reason=_download_failure(exc),
            ) from None
    path = weights_file(weights)
    check_weights_file(path)
    model = ctor(None)
    try:
        model.load_weights(path)
    except Exception as exc:
        raise TransferError(
            N_("{file} does not fit {kind} without its top: {reason}"),
            file=printable(path.name),
            kind=kind,
            reason=one_line(exc, 120),
        ) from None
    return model, BackboneInfo(kind, True, f"file {printable(path.name)}", (size, size, 3))


def weights_file(weights: str) -> Path:
    """A local weights file a user typed, through the same guard as every typed path: with a
    data root set, a file outside it is refused in the same words whether it exists or not."""
    try:
        return guard(weights, kind="file")
    except DatasetError as exc:
        raise TransferError(N_("weights file: {reason}"), reason=message_of(exc)) from None


def check_weights_file(path: Path) -> None:
    """The same memory budgets as an uploaded model, before Keras reads the file: a legacy
    `.h5` whose gzip-compressed weights declare gigabytes is refused from its metadata."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            check_keras_archive(path, path.name)
        if suffix in (".keras", ".h5"):
            check_model_file(path, path.name)
    except ModelFileError as exc:
        raise TransferError(N_("weights file: {reason}"), reason=message_of(exc)) from None


def _run_backbone(run_id: str, store: RunBackbones | None) -> tuple[Any, BackboneInfo]:
    """The stored model without its softmax head: everything up to the layer before it."""
    keras = import_keras()
    if store is None:
        raise TransferError(N_("run {run_id} cannot be a backbone here: no run store was given"), run_id=run_id)
    try:
        run = store.load(run_id)
        old = run.load_model()
    except StoreError as exc:
        raise TransferError(message_of(exc)) from None
    if run.status != "complete":
        raise TransferError(
            N_("run {run_id} is {status}, not a finished run: train it to the end first"),
            run_id=run_id,
            status=run.status,
        )
    standardized = run.settings.input_standardization()
    if standardized is not None:
        raise TransferError(
            N_(
                "run {run_id} was trained on standardized images ({standardized}); as a backbone it would get "
                "plain 0..1 pixels, which it never saw: choose a run trained without centring or normalization"
            ),
            run_id=run_id,
            standardized=standardized,
        )
    features = keras.Model(old.inputs, old.layers[-2].output, name=f"run_{run_id}")
    shape = tuple(int(d) for d in old.inputs[0].shape[1:])
    return features, BackboneInfo(f"run:{run_id}", True, f"run {run_id} ({run.dataset_label})", shape)


def _preprocess_layers(kind: str, x: Any) -> Any:
    """The backbone's preprocess_input for inputs in 0..1, as fixed (frozen) layers."""
    keras = import_keras()
    layers = keras.layers
    if kind == "mobilenetv2":  # preprocess_input: x / 127.5 - 1 on 0..255
        return layers.Rescaling(2.0, offset=-1.0, name="mobilenetv2_preprocess_input")(x)
    if kind == "vgg16":  # RGB -> BGR, times 255, minus the ImageNet mean: one fixed 1x1 convolution
        kernel = np.zeros((1, 1, 3, 3), np.float32)
        for out_c, in_c in enumerate((2, 1, 0)):
            kernel[0, 0, in_c, out_c] = 255.0
        conv = layers.Conv2D(3, 1, name="vgg16_preprocess_input", trainable=False)
        y = conv(x)
        conv.set_weights([kernel, -np.array(VGG_MEAN_BGR, np.float32)])
        return y
    return x


def _walk(layer: Any) -> list[Any]:
    """Every layer inside `layer`, nested models included, in order."""
    out = []
    for sub in getattr(layer, "layers", []):
        out.append(sub)
        out.extend(_walk(sub))
    return out


def batch_norm_layers(backbone: Any) -> list[Any]:
    """The backbone's BatchNormalization layers, nested models included."""
    keras = import_keras()
    return [layer for layer in _walk(backbone) if isinstance(layer, keras.layers.BatchNormalization)]


def trainable_candidates(backbone: Any) -> list[Any]:
    """The backbone's layers that fine-tuning may unfreeze, in order: those with weights,
    except BatchNormalization (always frozen) and nested models (their layers count)."""
    keras = import_keras()
    return [
        layer
        for layer in _walk(backbone)
        if layer.weights and not hasattr(layer, "layers") and not isinstance(layer, keras.layers.BatchNormalization)
    ]


def build_transfer_model(
    backbone: BackboneRef | str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    mode: str = "feature_extraction",
    unfreeze: int = 0,
    weights: str = "imagenet",
    seed: int = 0,
    store: RunBackbones | None = None,
    head: str = "pool",
    backbone_input: str = "preprocess",
) -> tuple[Any, BackboneInfo]:
    keras = import_keras()
    layers = keras.layers
    if mode not in MODES:
        raise TransferError(N_("unknown transfer mode '{mode}': choose {choices}"), mode=mode, choices=", ".join(MODES))
    if head not in HEADS or backbone_input not in BACKBONE_INPUTS:
        raise TransferError(N_("unknown head '{head}' or backbone input '{input}'"), head=head, input=backbone_input)
    keras.utils.set_random_seed(seed)
    h, w, c = input_shape
    ref = BackboneRef.parse(backbone) if isinstance(backbone, str) else backbone
    if ref is None:
        raise TransferError(N_("unknown backbone '{backbone}'"), backbone=backbone)
    kind = str(ref)
    if ref.is_run:
        backbone, info = _run_backbone(ref.name, store)
    else:
        pooling = None if head == "tutorial" else "avg"  # the tutorial flattens the 7x7x512 map
        backbone, info = _keras_backbone(ref.name, max(MIN_SIZE[ref.name], h, w), weights, pooling)
    bh, bw, bc = info.input_shape

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if c != bc:
        if bc == 3 and c == 1:
            x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        elif bc == 1 and c == 3:  # luminance, as a fixed 1x1 convolution
            conv = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
            x = conv(x)
            conv.set_weights([np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 1, 3, 1)])
        else:
            raise TransferError(N_("cannot adapt {c} channels to the backbone's {bc}"), c=c, bc=bc)
    if (h, w) != (bh, bw):
        x = layers.Resizing(bh, bw, name=f"resize_to_{bh}x{bw}")(x)
    if backbone_input == "raw":  # as the tutorial: 0..255 pixels straight into the backbone
        x = layers.Rescaling(255.0, name="raw_pixels_0_255")(x)
    else:
        x = _preprocess_layers(kind, x)

    backbone.trainable = mode in ("fine_tune", "train_all")
    with_weights = trainable_candidates(backbone)
    unfrozen = min(int(unfreeze), len(with_weights)) if mode == "fine_tune" else 0
    info = replace(info, trainable_layers=len(with_weights), unfrozen=unfrozen)
    if mode == "fine_tune":
        for layer in with_weights[: len(with_weights) - unfrozen]:
            layer.trainable = False
    # Every BatchNormalization layer stays frozen, in every mode. `backbone(x, training=False)`
    # alone does not do it in Keras 3: fit passes training=True down and overrides it, so the
    # moving statistics learned on the backbone's data would move with our small batches. A
    # BatchNormalization layer with trainable=False runs in inference mode whatever `training` says.
    for layer in batch_norm_layers(backbone):
        layer.trainable = False
    x = backbone(x, training=False)
    if head == "tutorial":
        if len(x.shape) > 2:
            x = layers.Flatten(name="flatten")(x)
        for units in (128, 64, 32):
            x = layers.Dense(units, activation="relu", name=f"dense_{units}")(x)
    else:
        if len(x.shape) > 2:
            x = layers.GlobalAveragePooling2D(name="global_pool")(x)
        x = layers.Dropout(0.2, name="dropout")(x)
    # float32 even under mixed precision (lib.train.accelerators)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=f"{kind.replace(':', '_')}_{mode}")
    return model, info


def backbone_layers_table(model: Any) -> pd.DataFrame:
    """The backbone's layers with weights: which are trainable, and their parameter counts."""
    nested = [layer for layer in model.layers if hasattr(layer, "layers")]
    rows = []
    for sub in nested:
        for layer in sub.layers:
            if not layer.weights:
                continue
            rows.append(
                {
                    "backbone": sub.name,
                    "layer": layer.name,
                    "type": layer.__class__.__name__,
                    "trainable": bool(layer.trainable and sub.trainable),
                    "params": sum(int(np.prod(w.shape)) for w in layer.weights),
                }
            )
    return pd.DataFrame(rows, columns=["backbone", "layer", "type", "trainable", "params"])


def parameter_counts(model: Any) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, frozen
