"""ImageDataGenerator settings <-> code text <-> Keras 3 preprocessing layers.

One table of parameters drives the widgets, validation, JSON, the generated code and the
layer mapping. `ImageDataGenerator` is imported here and nowhere else: Keras 3.15 dropped
it from `keras.preprocessing.image`; TensorFlow's legacy path still has it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.errors import SettingsError
from lib.i18n import N_, Deferred

FILL_MODES = ("nearest", "constant", "reflect", "wrap")
RESCALE_CHOICES = (None, 1 / 255)
RESCALE_MAX = 1.0
SHIFTS = ("width_shift_range", "height_shift_range")
MAX_SHIFT_PIXELS = 128  # a shift of 1 or more is pixels in ImageDataGenerator


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "bool" | "choice" | "range" | "rescale"
    default: Any
    low: float | None = None  # valid lower bound (inclusive)
    high: float | None = None  # valid upper bound (inclusive)
    step: float | None = None
    help: str = ""
    group: str = "geometry"  # "geometry" | "colour" | "fill" | "normalization"
    choices: tuple = ()


PARAMS: tuple[Param, ...] = (
    Param("rotation_range", "int", 0, 0, 180, 5, N_("Random rotation in degrees, drawn from [-r, r].")),
    Param(
        "width_shift_range",
        "float",
        0.0,
        0,
        MAX_SHIFT_PIXELS,
        0.05,
        N_(
            "Horizontal shift drawn from [-w, w]: below 1 a fraction of the width (0.1 = 10 %), 1 or more a number "
            "of pixels (1.0 = one pixel, 3.0 = up to three), as ImageDataGenerator reads it."
        ),
    ),
    Param(
        "height_shift_range",
        "float",
        0.0,
        0,
        MAX_SHIFT_PIXELS,
        0.05,
        N_(
            "Vertical shift drawn from [-h, h]: below 1 a fraction of the height (0.1 = 10 %), 1 or more a number "
            "of pixels (1.0 = one pixel), as ImageDataGenerator reads it."
        ),
    ),
    Param("shear_range", "float", 0.0, 0, 45, 1.0, N_("Shear angle in degrees (counter-clockwise), from [-s, s].")),
    Param(
        "zoom_range",
        "float",
        0.0,
        0,
        1,
        0.05,
        N_("Zoom factor drawn from [1-z, 1+z], separately for width and height."),
    ),
    Param(
        "horizontal_flip",
        "bool",
        False,
        help=N_("Flip left-right with probability 0.5 (wrong for digits: a flipped 3 is no 3)."),
        group="geometry",
    ),
    Param("vertical_flip", "bool", False, help=N_("Flip upside down with probability 0.5."), group="geometry"),
    Param(
        "channel_shift_range",
        "float",
        0.0,
        0,
        255,
        5.0,
        N_("Add one random value from [-c, c] to each channel."),
        "colour",
    ),
    Param(
        "brightness_range",
        "range",
        None,
        0,
        5,
        0.05,
        N_("Multiply brightness by a factor from [low, high] (1 = unchanged)."),
        "colour",
    ),
    Param(
        "fill_mode",
        "choice",
        "nearest",
        help=N_("How pixels outside the image are filled after a transform."),
        group="fill",
        choices=FILL_MODES,
    ),
    Param("cval", "float", 0.0, 0, 255, 5.0, N_("Fill value for fill_mode='constant'."), "fill"),
    Param(
        "rescale",
        "rescale",
        None,
        help=N_("Multiply every pixel by this (1/255 maps 0..255 to 0..1)."),
        group="normalization",
        choices=RESCALE_CHOICES,
    ),
    Param("samplewise_center", "bool", False, help=N_("Subtract each image's own mean."), group="normalization"),
    Param(
        "samplewise_std_normalization",
        "bool",
        False,
        help=N_("Divide each image by its own std."),
        group="normalization",
    ),
    Param(
        "featurewise_center",
        "bool",
        False,
        help=N_("Subtract the training set's per-channel mean (needs fit())."),
        group="normalization",
    ),
    Param(
        "featurewise_std_normalization",
        "bool",
        False,
        help=N_("Divide by the training set's per-channel std (needs fit())."),
        group="normalization",
    ),
)
PARAM_BY_NAME = {p.name: p for p in PARAMS}
NORMALIZATION = tuple(p.name for p in PARAMS if p.group == "normalization")
RANDOM = tuple(p.name for p in PARAMS if p.group in ("geometry", "colour"))

AugmentConfig = dict[str, Any]


def default_config() -> AugmentConfig:
    return {p.name: p.default for p in PARAMS}


PRESETS: dict[str, AugmentConfig] = {
    "none": {},
    "mild": {"rotation_range": 10, "width_shift_range": 0.05, "height_shift_range": 0.05, "zoom_range": 0.1},
    "strong": {
        "rotation_range": 40,
        "width_shift_range": 0.2,
        "height_shift_range": 0.2,
        "shear_range": 15.0,
        "zoom_range": 0.3,
        "horizontal_flip": True,
        "brightness_range": [0.7, 1.3],
        "channel_shift_range": 30.0,
    },
    "tutorial: rotate 10, shift 0.1, flip, samplewise": {
        "rotation_range": 10,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "horizontal_flip": True,
        "samplewise_center": True,
        "samplewise_std_normalization": True,
    },
    "tutorial: rotate 30, shift 0.2, zoom 0.2, flip": {
        "rotation_range": 30,
        "width_shift_range": 0.2,
        "height_shift_range": 0.2,
        "zoom_range": 0.2,
        "horizontal_flip": True,
    },
    "tutorial: rotate 10, shift 0.1, flip": {  # the CIFAR-10 tutorial's run A (fill_mode 'nearest')
        "rotation_range": 10,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "horizontal_flip": True,
    },
}
# The Augmentation page opens on the tutorial's own settings: they visibly move the images.
DEFAULT_PRESET = "tutorial: rotate 10, shift 0.1, flip"
CUSTOM = "custom"  # what the preset box says once the controls match no preset
# What the preset box shows (the names above are codes: run names, the CLI's --augment, URLs).
PRESET_TITLES: dict[str, str] = {
    "none": N_("none"),
    "mild": N_("mild"),
    "strong": N_("strong"),
    "tutorial: rotate 10, shift 0.1, flip, samplewise": N_("tutorial: rotate 10, shift 0.1, flip, samplewise"),
    "tutorial: rotate 30, shift 0.2, zoom 0.2, flip": N_("tutorial: rotate 30, shift 0.2, zoom 0.2, flip"),
    "tutorial: rotate 10, shift 0.1, flip": N_("tutorial: rotate 10, shift 0.1, flip"),
    CUSTOM: N_("custom"),
}


def preset(name: str) -> AugmentConfig:
    return {**default_config(), **PRESETS[name]}


def matching_preset(config: AugmentConfig) -> str:
    """The preset these settings equal, or CUSTOM."""
    wanted = non_defaults(config)
    return next((name for name in PRESETS if non_defaults(preset(name)) == wanted), CUSTOM)


def flips(config: AugmentConfig) -> list[str]:
    full = check(config)
    return [name for name in ("horizontal_flip", "vertical_flip") if full[name]]


def display_range(config: AugmentConfig) -> tuple[float, float]:
    """One fixed value range that the preview maps to black..white for every image, so two
    images keep their relative brightness (a per-image stretch would look like colour
    augmentation). Pixels: 0..255 (times rescale). Standardized values: -2.5..2.5.
    Centred only: +-half the pixel range."""
    full = check(config)
    scale = full["rescale"] if full["rescale"] is not None else 1.0
    top = 255.0 * scale
    if full["samplewise_std_normalization"] or full["featurewise_std_normalization"]:
        return (-2.5, 2.5)
    if full["samplewise_center"] or full["featurewise_center"]:
        return (-top / 2, top / 2)
    return (min(0.0, top), max(0.0, top))


def validate(config: AugmentConfig) -> dict[str, str]:
    """{parameter: one-line problem} for every invalid setting; empty when all is well."""
    problems: dict[str, str] = {}
    unknown = set(config) - set(PARAM_BY_NAME)
    for name in sorted(unknown):
        problems[name] = Deferred(N_("unknown setting '{name}'"), name=name)
    for p in PARAMS:
        value = config.get(p.name, p.default)
        if p.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems[p.name] = Deferred(N_("{name} must be a number, got {value}"), name=p.name, value=repr(value))
            elif p.kind == "int" and value != int(value):
                problems[p.name] = Deferred(N_("{name} must be a whole number of degrees"), name=p.name)
            elif value < p.low:  # type: ignore[operator]
                problems[p.name] = Deferred(
                    N_("{name} cannot be negative ({value}): it is a range [-x, x]"), name=p.name, value=f"{value:g}"
                )
            elif value > p.high:  # type: ignore[operator]
                problems[p.name] = Deferred(
                    N_("{name} must be at most {high}, got {value}"),
                    name=p.name,
                    high=f"{p.high:g}",
                    value=f"{value:g}",
                )
        elif p.kind == "bool" and not isinstance(value, bool):
            problems[p.name] = Deferred(N_("{name} must be true or false"), name=p.name)
        elif p.kind == "choice" and value not in p.choices:
            problems[p.name] = Deferred(
                N_("{name} must be one of {choices}"), name=p.name, choices=", ".join(p.choices)
            )
        elif (
            p.kind == "rescale"
            and value is not None
            and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
            )
        ):
            problems[p.name] = Deferred(N_("rescale must be a positive number or none"))
        elif p.kind == "rescale" and value is not None and value > RESCALE_MAX:
            problems[p.name] = Deferred(
                N_(
                    "rescale {value} multiplies every pixel (up to {top}); it scales pixels down, "
                    "so use at most {most} (1/255 maps 0..255 to 0..1)"
                ),
                value=f"{value:g}",
                top=f"{255 * value:g}",
                most=f"{RESCALE_MAX:g}",
            )
        elif p.kind == "range" and value is not None:
            if not (
                isinstance(value, (list, tuple))
                and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            ):
                problems[p.name] = Deferred(N_("brightness_range must be two numbers [low, high] or none"))
            elif not all(math.isfinite(v) for v in value):
                problems[p.name] = Deferred(N_("brightness_range must be finite numbers (no NaN or infinity)"))
            elif value[0] < 0 or value[1] < 0:
                problems[p.name] = Deferred(N_("brightness factors cannot be negative"))
            elif value[0] > value[1]:
                problems[p.name] = Deferred(
                    N_("brightness min {low} is greater than max {high}"), low=f"{value[0]:g}", high=f"{value[1]:g}"
                )
            elif value[1] > p.high:  # type: ignore[operator]
                problems[p.name] = Deferred(
                    N_("brightness factor {value} is above {high}: it would turn almost every pixel white"),
                    value=f"{value[1]:g}",
                    high=f"{p.high:g}",
                )
    return problems


def check(config: AugmentConfig) -> AugmentConfig:
    """The full config (defaults filled in), or SettingsError naming the first problem."""
    problems = validate(config)
    if problems:
        raise SettingsError(next(iter(problems.values())))
    full = {**default_config(), **config}
    for p in PARAMS:  # an int shift range means something else to the generator (a choice of whole pixels)
        if p.kind == "float":
            full[p.name] = float(full[p.name])
    if full["brightness_range"] is not None:
        full["brightness_range"] = [float(v) for v in full["brightness_range"]]
    return full


def non_defaults(config: AugmentConfig) -> AugmentConfig:
    full = check(config)
    return {
        k: v
        for k, v in full.items()
        if v != PARAM_BY_NAME[k].default and not (k == "cval" and full["fill_mode"] != "constant")
    }


def is_identity(config: AugmentConfig) -> bool:
    return not non_defaults(config)


def has_random_transforms(config: AugmentConfig) -> bool:
    return any(k in RANDOM for k in non_defaults(config))


def changes_pixel_distribution(config: AugmentConfig) -> bool:
    return any(k in NORMALIZATION for k in non_defaults(config))


def needs_fit(config: AugmentConfig) -> bool:
    full = check(config)
    return bool(full["featurewise_center"] or full["featurewise_std_normalization"])


# --- JSON --------------------------------------------------------------------------


def to_json(config: AugmentConfig) -> str:
    return json.dumps({"image_data_generator": non_defaults(config)}, indent=2, sort_keys=True)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise SettingsError(N_("'{key}' appears twice in the JSON; keep one value"), key=key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise SettingsError(N_("{name} is not a number JSON allows (strict JSON has no NaN or Infinity)"), name=name)


MAX_JSON_CHARS = 1 << 20  # a settings file is a few hundred characters


def from_json(text: str) -> AugmentConfig:
    if len(text) > MAX_JSON_CHARS:
        raise SettingsError(N_("the settings file is {n} characters; settings take a few hundred"), n=f"{len(text):,}")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SettingsError(N_("not JSON: {reason} (line {line})"), reason=exc.msg, line=exc.lineno) from None
    except RecursionError:
        raise SettingsError(Deferred(N_("the JSON is nested too deeply to be settings"))) from None
    if isinstance(data, dict) and "image_data_generator" in data:
        data = data["image_data_generator"]
    if not isinstance(data, dict):
        raise SettingsError(Deferred(N_("expected a JSON object of ImageDataGenerator settings")))
    return check(data)


# --- ImageDataGenerator --------------------------------------------------------------


def generator_class() -> type:
    from lib.tf_import import import_keras

    import_keras()  # silences TensorFlow's start-up noise
    from tensorflow.keras.preprocessing.image import ImageDataGenerator  # legacy, still shipped

    return ImageDataGenerator


def make_generator(config: AugmentConfig, x_fit: np.ndarray | None = None) -> Any:
    """An ImageDataGenerator for `config`; fitted on `x_fit` when featurewise settings need it."""
    gen = generator_class()(**non_defaults(config))
    if needs_fit(config):
        if x_fit is None:
            raise SettingsError(Deferred(N_("featurewise centring/normalization needs the training images (fit)")))
        gen.fit(x_fit.astype(np.float32))
    return gen


def _literal(value: Any) -> str:
    if isinstance(value, float) and abs(value - 1 / 255) < 1e-12:
        return "1.0 / 255"
    return repr(value)


def generator_code(config: AugmentConfig) -> str:
    args = non_defaults(config)
    inner = "".join(f"\n    {k}={_literal(v)}," for k, v in args.items())
    lines = [
        "import numpy as np",
        "from tensorflow.keras.preprocessing.image import ImageDataGenerator",
        "",
        f"datagen = ImageDataGenerator({inner}\n)" if inner else "datagen = ImageDataGenerator()",
    ]
    if needs_fit(config):
        lines.append("datagen.fit(x_train.astype('float32'))  # featurewise statistics from the training images")
    if changes_pixel_distribution(config):
        lines += [
            "",
            "# Validation and test images need the same deterministic preprocessing, never the random part:",
            "def eval_ready(x):",
            "    return np.stack([datagen.standardize(img) for img in x.astype('float32')])",
        ]
    else:
        lines += [
            "",
            "def eval_ready(x):  # these settings leave pixel values as they are",
            "    return x.astype('float32')",
        ]
    lines += [
        "",
        "# Random transforms for training only (integer labels + sparse_categorical_crossentropy):",
        "# model.fit(datagen.flow(x_train, y_train, batch_size=32, seed=0), epochs=10,",
        "#           validation_data=(eval_ready(x_val), y_val))",
        "# model.evaluate(eval_ready(x_test), y_test)",
    ]
    return "\n".join(lines) + "\n"


# --- Keras 3 preprocessing layers -----------------------------------------------------


def shear_factor(degrees: float) -> float:
    """RandomShear's x_factor with the generator's slant: the generator maps an output pixel to the
    input column x - sin(angle) * y, RandomShear to x + factor * y, so factor = sin(angle)."""
    return math.sin(math.radians(degrees))


def shift_pixels(value: float, size: int) -> float:
    """The largest shift in pixels, as ImageDataGenerator reads a shift range: below 1 a fraction
    of `size`, 1 or more a number of pixels (1.0 = one pixel)."""
    return value * size if value < 1 else float(value)


def layer_specs(
    config: AugmentConfig, image_shape: tuple[int, ...] | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """([(layer class name, kwargs)], [what has no exact equivalent]) for images of `image_shape`
    (height, width, ...), in 0..255 like the generator's input.

    The geometric layers come first and Rescaling/Normalization after them, as the generator
    transforms first and standardizes afterwards: every value is in the units its layer receives
    (the fill value `cval` in 0..255, Normalization adapted on rescaled images)."""
    full = check(config)
    fill = {"fill_mode": full["fill_mode"]}
    if full["fill_mode"] == "constant":
        fill["fill_value"] = full["cval"]
    layers: list[tuple[str, dict[str, Any]]] = []
    gaps: list[str] = []
    if full["horizontal_flip"]:  # two layers, two independent draws (not "horizontal_and_vertical": one draw)
        layers.append(("RandomFlip", {"mode": "horizontal"}))
    if full["vertical_flip"]:
        layers.append(("RandomFlip", {"mode": "vertical"}))
    if full["rotation_range"]:
        layers.append(("RandomRotation", {"factor": full["rotation_range"] / 360, **fill}))
    if full["width_shift_range"] or full["height_shift_range"]:
        if image_shape is None:
            raise SettingsError(
                Deferred(N_("the shift layers need the image size (shifts are fractions of it, or pixels)"))
            )
        h, w = int(image_shape[0]), int(image_shape[1])
        # ImageDataGenerator swaps its shift axes (keras-team/keras#17398): width_shift_range moves
        # images up and down (sized by the width), height_shift_range left and right. The layer does
        # what the generator does.
        down = shift_pixels(full["width_shift_range"], w)
        across = shift_pixels(full["height_shift_range"], h)
        layers.append(
            ("RandomTranslation", {"height_factor": round(down / h, 6), "width_factor": round(across / w, 6), **fill})
        )
        gaps.append(
            Deferred(
                N_(
                    "ImageDataGenerator swaps its shift axes (keras-team/keras#17398): width_shift_range moves images "
                    "up and down, height_shift_range left and right; RandomTranslation above does what the generator "
                    "does (up to {down} px vertically, {across} px horizontally on {size} images)"
                ),
                down=f"{down:g}",
                across=f"{across:g}",
                size=f"{h}x{w}",
            )
        )
    if full["zoom_range"]:
        z = full["zoom_range"]
        layers.append(("RandomZoom", {"height_factor": (-z, z), "width_factor": (-z, z), **fill}))
    if full["shear_range"]:
        s = full["shear_range"]
        f = shear_factor(s)
        layers.append(("RandomShear", {"x_factor": round(f, 4), "y_factor": 0.0, **fill}))
        middle = f"{f * image_shape[0] / 2:.1f} px" if image_shape is not None else "factor x half the height"
        gaps.append(
            Deferred(
                N_(
                    "shear_range={angle}° becomes RandomShear(x_factor={factor} = sin {angle}°): the same slant, but "
                    "RandomShear shears about the top-left corner and the generator about the centre, so the layer "
                    "also moves the image sideways, by up to {middle} at its middle row; the generator also stretches "
                    "the image vertically by 1/cos {angle}° = {stretch}"
                ),
                angle=f"{s:g}",
                factor=f"{f:.3f}",
                middle=middle,
                stretch=f"{1 / math.cos(math.radians(s)):.3f}",
            )
        )
    if full["rescale"] is not None:
        layers.append(("Rescaling", {"scale": full["rescale"]}))
    if full["featurewise_center"] or full["featurewise_std_normalization"]:
        layers.append(("Normalization", {"axis": -1}))
        if not full["featurewise_std_normalization"]:
            gaps.append(
                Deferred(
                    N_(
                        "featurewise_center alone: Normalization also divides by the std; "
                        "pass variance=1 to only centre"
                    )
                )
            )
    if full["brightness_range"] is not None:
        gaps.append(
            Deferred(
                N_("brightness_range multiplies pixels; RandomBrightness adds an offset, so it has no exact equivalent")
            )
        )
    if full["channel_shift_range"]:
        gaps.append(Deferred(N_("channel_shift_range has no Keras 3 layer")))
    if full["samplewise_center"] or full["samplewise_std_normalization"]:
        gaps.append(
            Deferred(
                N_(
                    "samplewise centring/normalization has no built-in layer "
                    "(a Lambda layer would hold code, which safe loading refuses)"
                )
            )
        )
    if any(name.startswith("Random") and name != "RandomFlip" for name, _ in layers):
        gaps.append(
            Deferred(
                N_(
                    "fill modes: ImageDataGenerator defaults to 'nearest', RandomRotation, RandomTranslation, "
                    "RandomZoom and RandomShear to 'reflect'; fill_mode='{mode}' is passed explicitly here"
                ),
                mode=full["fill_mode"],
            )
        )
        gaps.append(
            Deferred(N_("the generator applies one combined affine transform; the layers interpolate once per layer"))
        )
    return layers, gaps


def _adapt_expression(config: AugmentConfig) -> str:
    rescale = check(config)["rescale"]
    return "x_train.astype('float32')" + (f" * ({_literal(rescale)})" if rescale is not None else "")


def layers_code(config: AugmentConfig, image_shape: tuple[int, ...] | None = None) -> str:
    specs, gaps = layer_specs(config, image_shape)
    if not specs:
        body = "augment = keras.layers.Identity()  # nothing to do"
    else:
        items = "".join(
            f"\n    keras.layers.{name}({', '.join(f'{k}={_literal(v)}' for k, v in kwargs.items())}),"
            for name, kwargs in specs
        )
        body = f"augment = keras.Sequential([{items}\n])"
    lines = ["import keras", "", body]
    if any(name == "Normalization" for name, _ in specs):
        lines.append(
            f"augment.layers[-1].adapt({_adapt_expression(config)})  # featurewise mean/std, in the units it receives"
        )
    lines += ["", "# Random layers are active only in training (model.fit); inference leaves images unchanged."]
    if gaps:
        lines += ["", "# Not exactly equivalent:"] + [f"# - {g}" for g in gaps]
    return "\n".join(lines) + "\n"


def build_layers(
    config: AugmentConfig, x_fit: np.ndarray | None = None, image_shape: tuple[int, ...] | None = None
) -> Any:
    """The Keras 3 pipeline of `layer_specs` as a keras.Sequential (an Identity layer when empty)."""
    from lib.tf_import import import_keras

    keras = import_keras()
    if image_shape is None and x_fit is not None:
        image_shape = x_fit.shape[1:]
    specs, _ = layer_specs(config, image_shape)
    rescale = check(config)["rescale"]
    layers = []
    for name, kwargs in specs:
        layer = getattr(keras.layers, name)(**kwargs)
        if name == "Normalization":
            if x_fit is None:
                raise SettingsError(Deferred(N_("Normalization needs the training images to adapt()")))
            # Adapted on what it receives: images after the Rescaling layer before it.
            layer.adapt(x_fit.astype(np.float32) * (rescale if rescale is not None else 1.0))
        layers.append(layer)
    return keras.Sequential(layers or [keras.layers.Identity()])


def standardize_batch(gen: Any, x: np.ndarray) -> np.ndarray:
    """ImageDataGenerator.standardize for a whole batch at once (float32 copy).

    Same steps in the same order as the generator's per-image loop; vectorized because
    validation and test sets have thousands of images.
    """
    x = x.astype(np.float32)
    if len(x) == 0:
        return x
    if gen.rescale:
        x *= gen.rescale
    axes = tuple(range(1, x.ndim))
    if gen.samplewise_center:
        x -= x.mean(axis=axes, keepdims=True)
    if gen.samplewise_std_normalization:
        x /= x.std(axis=axes, keepdims=True) + 1e-6
    if gen.featurewise_center and gen.mean is not None:
        x -= gen.mean
    if gen.featurewise_std_normalization and gen.std is not None:
        x /= gen.std + 1e-6
    return x


def training_config(config: AugmentConfig | None) -> tuple[AugmentConfig, list[str]]:
    """The generator settings training uses, and notes on what was added.

    Without augmentation: rescale 1/255 only. Settings that leave pixels at 0..255 get
    rescale 1/255 added, since raw 0..255 inputs train poorly and silently."""
    if config is None:
        return check({"rescale": 1 / 255}), ["no augmentation: pixels rescaled by 1/255"]
    full = check(config)
    if not changes_pixel_distribution(full):
        full["rescale"] = 1 / 255
        return full, ["the augmentation settings keep pixels at 0..255: rescale 1/255 added"]
    return full, []
