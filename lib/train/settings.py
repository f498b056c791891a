"""What a training run is asked to do: `TrainSettings`, a frozen value checked before use.

config.json records `to_dict()`; `from_dict()` reads it back, so stored runs keep their format.
The model is a name: one of our own kinds (lib.train.models.MODEL_KINDS) or a backbone
("vgg16", "mobilenetv2", "run:<run_id>", parsed once into a BackboneRef).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from lib.augment import settings as augment
from lib.errors import SettingsError
from lib.i18n import N_, Deferred
from lib.train.models import MODEL_KINDS
from lib.train.transfer import BACKBONE_INPUTS, BACKBONES, HEADS, MODES, BackboneRef

TRANSFER_FIELDS = ("transfer", "unfreeze", "weights")
# Fields added later are left out of config.json at their defaults, so earlier run ids still hold.
LATER_TRANSFER_DEFAULTS = {"head": "pool", "backbone_input": "preprocess"}
LATER_DEFAULTS = {"mixed_precision": False}
# The allowed range of every whole-number setting (the seed is NumPy's and TensorFlow's, 32 bits).
INT_RANGES = {
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "seed": (0, 2**32 - 1),
    "unfreeze": (0, 10_000),
}
MAX_LEARNING_RATE = 10.0


@dataclass(frozen=True)
class TrainSettings:
    model: str = "cnn"
    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    validation_split: float = 0.2
    seed: int = 0
    augment: dict | None = None  # ImageDataGenerator settings (lib.augment), None = off
    # Transfer learning (model = vgg16 | mobilenetv2 | run:<run_id>; ignored by our own models)
    transfer: str = "feature_extraction"  # or "fine_tune"
    unfreeze: int = 0  # fine_tune: how many of the backbone's last weighted layers train (BatchNorm not counted)
    weights: str = "imagenet"  # imagenet | none (random, not pretrained) | a weights file path
    head: str = "pool"  # pool (ours) | tutorial (Flatten + Dense 128/64/32)
    backbone_input: str = "preprocess"  # preprocess (ours) | raw (0..255 pixels, as the tutorial)
    # 16-bit compute, float32 weights and softmax (lib.train.accelerators): it changes the numbers, so it is a setting
    mixed_precision: bool = False

    @property
    def backbone(self) -> BackboneRef | None:
        """The transfer-learning backbone, or None for one of our own model kinds."""
        return BackboneRef.parse(self.model)

    @property
    def is_transfer(self) -> bool:
        return self.backbone is not None

    @property
    def pretrained(self) -> bool:
        """False when a keras.applications backbone starts from random weights."""
        ref = self.backbone
        return not (ref is not None and not ref.is_run and self.weights in ("none", ""))

    def check(self) -> TrainSettings:
        if self.model not in MODEL_KINDS and self.backbone is None:
            raise SettingsError(
                N_("unknown model '{model}': choose {choices}"),
                model=self.model,
                choices=", ".join([*MODEL_KINDS, *BACKBONES]),
            )
        if not isinstance(self.mixed_precision, bool):
            raise SettingsError(Deferred(N_("mixed precision is on (true) or off (false)")))
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SettingsError(
                    N_("{name} must be a whole number from {low} to {high}"),
                    name=name.replace("_", " "),
                    low=f"{low:,}",
                    high=f"{high:,}",
                )
        if not (isinstance(self.validation_split, (int, float)) and 0 < self.validation_split < 0.9):
            raise SettingsError(Deferred(N_("validation split must be between 0 and 0.9")))
        if not (
            isinstance(self.learning_rate, (int, float))
            and math.isfinite(self.learning_rate)
            and 0 < self.learning_rate <= MAX_LEARNING_RATE
        ):
            raise SettingsError(
                N_("learning rate must be a number above 0 and at most {most}"), most=f"{MAX_LEARNING_RATE:g}"
            )
        if self.augment is not None:
            augment.check(self.augment)
        if self.is_transfer:
            if self.transfer not in MODES:
                raise SettingsError(
                    N_("unknown transfer mode '{mode}': choose {choices}"), mode=self.transfer, choices=", ".join(MODES)
                )
            if self.unfreeze < 0:
                raise SettingsError(Deferred(N_("unfreeze must be 0 or more layers")))
            if self.head not in HEADS:
                raise SettingsError(
                    N_("unknown head '{head}': choose {choices}"), head=self.head, choices=", ".join(HEADS)
                )
            if self.backbone_input not in BACKBONE_INPUTS:
                raise SettingsError(
                    N_("unknown backbone input '{input}': choose {choices}"),
                    input=self.backbone_input,
                    choices=", ".join(BACKBONE_INPUTS),
                )
            if self.augment is not None and any(
                k != "rescale" for k in augment.non_defaults(self.augment) if k in augment.NORMALIZATION
            ):
                raise SettingsError(
                    Deferred(
                        N_(
                            "a pretrained backbone expects pixels in 0..1 and applies its own preprocess_input: "
                            "turn off centring/normalization in the augmentation settings"
                        )
                    )
                )
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not self.is_transfer:  # own models: transfer fields do not change the run
            for key in TRANSFER_FIELDS:
                d.pop(key)
        elif self.backbone.is_run:  # a stored run's weights: "imagenet" (the default) would be untrue
            d.pop("weights")
        for key, default in LATER_TRANSFER_DEFAULTS.items():
            if not self.is_transfer or d.get(key) == default:
                d.pop(key, None)
        for key, default in LATER_DEFAULTS.items():
            if d.get(key) == default:
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        """Settings as config.json records them (unknown keys ignored, missing ones default)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def input_standardization(self) -> str | None:
        """How this run's images were standardized beyond 0..1 pixels, in words (e.g.
        "samplewise_center"); None for plain 0..1 pixels (rescale 1/255 only), which is what a
        backbone made from this run receives."""
        config, _ = augment.training_config(self.augment)
        steps = [k for k in augment.NORMALIZATION if k != "rescale" and config[k]]
        rescale = config["rescale"]
        if rescale is not None and abs(rescale - 1 / 255) > 1e-12:
            steps.insert(0, f"rescale={rescale:g}")
        return ", ".join(steps) or None

    def mode_text(self) -> str:
        """How the model was made, in words: own model, or the transfer mode and weights."""
        if not self.is_transfer:
            return "own model"
        text = {"train_all": "everything trains"}.get(self.transfer, self.transfer.replace("_", " "))
        if self.transfer == "fine_tune":
            text += f" (last {self.unfreeze})"
        if not self.pretrained:
            text += ", NOT pretrained"
        if self.head == "tutorial" or self.backbone_input == "raw":
            text += ", as the tutorial wrote it"
        return text
