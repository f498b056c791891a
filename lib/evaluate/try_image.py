"""Try a stored model on one new image, showing every step its input goes through.

The steps are the ones the test set went through, in the same order and with the same code:
decode -> channels -> resize (as the folder loader does), then the run's deterministic
ImageDataGenerator preprocessing (`standardize_batch` with the generator fitted on the same
training subset as in `lib.train.training.train`), then, for transfer models, the adaptation
layers inside the model (gray_to_rgb, resize_to_*, *_preprocess_input), read from the model
itself. `evaluation_preprocessor` is the one function that turns uint8 test images into the
model's input, so a prediction here equals the stored test prediction for a test image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from lib.augment import settings as augment
from lib.data import decode as picture
from lib.data.dataset import Dataset
from lib.errors import SettingsError
from lib.i18n import N_, Deferred, Joined

MAX_PIXELS = picture.MAX_PIXELS  # a camera photo is ~12 MP; a decompression bomb is refused
IN_MODEL_PREFIXES = ("gray_to_rgb", "rgb_to_gray", "resize_to_")
IN_MODEL_SUFFIX = "_preprocess_input"
MODE_NAMES = {"L": "gray", "RGB": "RGB", "P": "palette", "CMYK": "CMYK", "1": "black/white"}
# What an uploaded model expects: uint8 pixels times scale plus offset (lib.runs.uploaded.INPUT_SCALES).
UPLOADED_SCALES = {"0..1": (1 / 255, 0.0), "0..255": (1.0, 0.0), "-1..1": (2 / 255, -1.0)}


@dataclass(frozen=True)
class Step:
    """One stage of the input: what it is, the array at that point and its pixel range."""

    name: str
    image: np.ndarray  # (H, W, C) at this step: uint8 before preprocessing, float32 after
    note: str = ""

    @property
    def low(self) -> float:
        return float(np.min(self.image)) if self.image.size else 0.0

    @property
    def high(self) -> float:
        return float(np.max(self.image)) if self.image.size else 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.image.shape)


Preprocess = Callable[[np.ndarray], np.ndarray]


def evaluation_preprocessor(run: Any, ds: Dataset | None = None) -> Preprocess:
    """uint8 (N, H, W, C) -> the float32 batch the model was evaluated on, for this run.

    Trained runs: `standardize_batch` with the run's generator settings (lib.augment
    training_config), fitted, when featurewise settings need it, on exactly the training
    subset training used (the same stratified validation split and seed). Uploaded runs:
    the input scale chosen when the model was uploaded."""
    upload = run.record.config.uploaded
    if upload is not None:
        scale, offset = UPLOADED_SCALES.get(upload.input_scale, UPLOADED_SCALES["0..1"])
        return lambda x: np.asarray(x, np.float32) * np.float32(scale) + np.float32(offset)
    gen = evaluation_generator(run, ds)
    return lambda x: augment.standardize_batch(gen, np.asarray(x))


def evaluation_generator(run: Any, ds: Dataset | None = None) -> Any:
    """The trained run's deterministic ImageDataGenerator, fitted (for featurewise settings)
    on exactly the training subset training used."""
    settings = run.settings
    config, _ = augment.training_config(settings.augment)
    x_fit = None
    if augment.needs_fit(config):
        if ds is None:
            raise SettingsError(
                Deferred(N_("this run standardizes with training-set statistics: the dataset is needed"))
            )
        from lib.train.training import split_validation

        train_idx, _ = split_validation(ds, settings.validation_split, settings.seed)
        x_fit = ds.x_train[train_idx]
    return augment.make_generator(config, x_fit)


def preprocessing_notes(run: Any) -> list[str]:
    """What the deterministic preprocessing of this run does, in words."""
    upload = run.record.config.uploaded
    if upload is not None:
        return [Deferred(N_("uploaded model: pixels scaled to {scale}"), scale=upload.input_scale)]
    config, _ = augment.training_config(run.settings.augment)
    parts = []
    if config["rescale"]:
        parts.append(Deferred(N_("rescale x {factor}"), factor=f"{config['rescale']:.6g}"))
    if config["samplewise_center"]:
        parts.append(Deferred(N_("minus the image's own mean")))
    if config["samplewise_std_normalization"]:
        parts.append(Deferred(N_("divided by the image's own std")))
    if config["featurewise_center"]:
        parts.append(Deferred(N_("minus the training set's per-channel mean")))
    if config["featurewise_std_normalization"]:
        parts.append(Deferred(N_("divided by the training set's per-channel std")))
    return parts or [Deferred(N_("pixels as they are"))]


def decode(data: bytes) -> Image.Image:
    """Bytes of an uploaded or camera image -> a PIL image (orientation from EXIF applied),
    through the one picture gate (lib.data.decode: promised formats only, pixel budget)."""
    return picture.open_image(data, max_pixels=MAX_PIXELS)


def _array(im: Image.Image) -> np.ndarray:
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def to_dataset_image(source: bytes | np.ndarray | Image.Image, image_shape: tuple[int, int, int]) -> list[Step]:
    """Steps from a new picture to a uint8 image of the dataset's shape, the way the folder
    loader makes dataset images: 8 bit, alpha composited on white, channels, then a bilinear
    resize. An array of exactly the dataset's shape (a test image) is taken as it is."""
    h, w, c = image_shape
    if isinstance(source, np.ndarray) and source.shape == (h, w, c) and source.dtype == np.uint8:
        return [
            Step(
                Deferred(N_("dataset image")),
                source,
                Deferred(N_("{size}, {c} channel(s), uint8 as stored"), size=f"{w}x{h}", c=c),
            )
        ]
    if isinstance(source, np.ndarray):
        arr = np.asarray(source)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr)
    elif isinstance(source, Image.Image):
        im = source
    else:
        im = decode(source)
    steps = [
        Step(
            Deferred(N_("your image")),
            _array(im.convert("RGB") if im.mode not in ("L", "RGB") else im),
            Deferred(N_("{size}, mode {mode}"), size=f"{im.width}x{im.height}", mode=im.mode),
        )
    ]
    im = picture.to_8bit(im)
    if picture.has_alpha(im):
        im = picture.on_white(im)
        steps.append(
            Step(Deferred(N_("transparency on white")), _array(im), Deferred(N_("transparent pixels become white")))
        )
    target = "RGB" if c == 3 else "L"
    if im.mode != target:
        before = MODE_NAMES.get(im.mode, im.mode)
        im = im.convert(target)
        steps.append(
            Step(
                f"{before} -> {MODE_NAMES[target]}",
                _array(im),
                Deferred(N_("the dataset has {c} channels"), c=c)
                if c > 1
                else Deferred(N_("the dataset has {c} channel"), c=c),
            )
        )
    if im.size != (w, h):
        im = im.resize((w, h), Image.Resampling.BILINEAR)
        steps.append(
            Step(
                Deferred(N_("resized to {size}"), size=f"{w}x{h}"),
                _array(im),
                Deferred(N_("bilinear, as the folder loader resizes")),
            )
        )
    return steps


def in_model_layers(model: Any) -> list[Any]:
    """The input-adaptation layers a transfer model holds (in order), by their names."""
    return [
        layer
        for layer in model.layers
        if layer.name.startswith(IN_MODEL_PREFIXES) or layer.name.endswith(IN_MODEL_SUFFIX)
    ]


def _single_input(model: Any) -> Any:
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs


def in_model_steps(model: Any, x: np.ndarray) -> list[Step]:
    """The outputs of the model's own adaptation layers for one preprocessed image (1, H, W, C)."""
    layers = in_model_layers(model)
    if not layers:
        return []
    from lib.tf_import import import_keras

    keras = import_keras()
    probe = keras.Model(_single_input(model), [layer.output for layer in layers])
    outs = probe(x.astype(np.float32), training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [
        Step(
            Deferred(N_("in the model: {layer}"), layer=layer.name),
            np.asarray(out)[0].astype(np.float32),
            layer.__class__.__name__,
        )
        for layer, out in zip(layers, outs, strict=True)
    ]


def prepare(
    source: bytes | np.ndarray | Image.Image,
    dataset: Dataset,
    run: Any,
    *,
    model: Any = None,
    preprocess: Preprocess | None = None,
) -> list[Step]:
    """Every step from `source` to what the model computes on. The last step before the
    in-model ones is the model's input (float32). With `model`, the model's own adaptation
    layers follow."""
    preprocess = preprocess or evaluation_preprocessor(run, dataset)
    steps = to_dataset_image(source, dataset.image_shape)
    x = preprocess(steps[-1].image[None])
    steps.append(Step(Deferred(N_("model input")), x[0], Joined("; ", preprocessing_notes(run))))
    if model is not None:
        steps += in_model_steps(model, x)
    return steps


def model_input(steps: list[Step]) -> np.ndarray:
    """The (1, H, W, C) float32 batch from `prepare`'s steps."""
    return next(s.image for s in steps if s.name == "model input")[None]


def predict_image(model: Any, preprocess: Preprocess, image: np.ndarray) -> np.ndarray:
    """Class probabilities (K,) for one uint8 image of the dataset's shape, preprocessed by
    the run's evaluation preprocessing (`evaluation_preprocessor`)."""
    x = preprocess(np.asarray(image)[None])
    return np.asarray(model.predict(x, verbose=0), dtype=np.float64)[0]


def probabilities_table(prob: np.ndarray, class_names: tuple[str, ...] | list[str]):
    """Classes sorted by probability (largest first): class, probability, rank."""
    import pandas as pd

    order = np.argsort(-prob, kind="stable")
    return pd.DataFrame(
        {
            "class": [class_names[i] for i in order],
            "probability": prob[order],
            "index": order,
            "rank": np.arange(1, len(order) + 1),
        }
    )
