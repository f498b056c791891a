"""Typed run records: what a run was asked to do (`RunConfig`) and what config.json holds
about it afterwards (`RunRecord`). config.json keeps its format, so runs stored earlier load.

One rule decides which runs may serve as a transfer-learning backbone (`can_be_backbone`),
and the majority baseline is recorded in the run when it is stored, with the one definition
of `lib.data.stats.majority_baseline`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lib.augment import settings as augment_settings
from lib.data.dataset import Dataset
from lib.data.names import MAX_NAME, NAME_PUNCTUATION, clean_name, nfc  # noqa: F401 (imported from here by others)
from lib.data.stats import majority_baseline
from lib.errors import StoreError, one_line
from lib.i18n import N_
from lib.train.models import MODEL_KINDS
from lib.train.settings import TrainSettings
from lib.train.transfer import BackboneRef

UPLOADED_PREFIX = "uploaded:"


@dataclass(frozen=True)
class DatasetRef:
    """The data a run was trained on: its label for people, its fingerprint for run ids, and
    `source`, where to load it again from any working folder ("digits", "folder:/abs/path",
    "npz:/abs/path"; empty for uploads and for runs stored before it was recorded). The source
    is not part of the run id: the same data elsewhere is the same run."""

    label: str
    name: str
    fingerprint: str
    image_shape: tuple[int, int, int]
    num_classes: int
    source: str = ""

    @classmethod
    def of(cls, ds: Dataset, label: str, source: str = "") -> DatasetRef:
        return cls(label, ds.name, ds.fingerprint, tuple(ds.image_shape), ds.num_classes, source)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "label": self.label,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
        }
        if self.source:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetRef:
        return cls(
            str(d["label"]),
            str(d.get("name", d["label"])),
            str(d["fingerprint"]),
            tuple(int(v) for v in d.get("image_shape", ())),
            int(d.get("num_classes", 0)),
            str(d.get("source", "")),
        )


@dataclass(frozen=True)
class UploadedModel:
    """A model trained elsewhere, evaluated here: identified by its file's content hash."""

    filename: str
    sha256: str
    input_scale: str  # "0..1" | "0..255"


@dataclass(frozen=True)
class RunConfig:
    """What identifies a run: the data (fingerprint) and every setting."""

    dataset: DatasetRef
    settings: TrainSettings
    uploaded: UploadedModel | None = None

    @classmethod
    def for_training(cls, ds: Dataset, settings: TrainSettings, dataset_label: str, source: str = "") -> RunConfig:
        return cls(DatasetRef.of(ds, dataset_label, source), settings)

    @classmethod
    def for_upload(cls, ds: Dataset, dataset_label: str, upload: UploadedModel) -> RunConfig:
        settings = TrainSettings(model=f"{UPLOADED_PREFIX}{upload.filename}", epochs=0, validation_split=0.0)
        return cls(DatasetRef.of(ds, dataset_label), settings, upload)

    def settings_dict(self) -> dict[str, Any]:
        if self.uploaded is not None:
            u = self.uploaded
            return {
                "model": self.settings.model,
                "sha256": u.sha256,
                "input_scale": u.input_scale,
                "epochs": 0,
                "seed": 0,
                "validation_split": 0.0,
                "augment": None,
            }
        return json.loads(json.dumps(self.settings.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.to_dict(), "settings": self.settings_dict()}

    @property
    def run_id(self) -> str:
        """Stable id from the dataset fingerprint and the full settings (the label is not part of it)."""
        canonical = json.dumps(
            {"fingerprint": self.dataset.fingerprint, "settings": self.settings_dict()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        s = d["settings"]
        dataset = DatasetRef.from_dict(d["dataset"])
        model = str(s["model"])
        if model.startswith(UPLOADED_PREFIX):
            upload = UploadedModel(model[len(UPLOADED_PREFIX) :], str(s.get("sha256", "")), str(s.get("input_scale")))
            return cls(dataset, TrainSettings(model=model, epochs=0, validation_split=0.0), upload)
        return cls(dataset, TrainSettings.from_dict(s))

    @property
    def is_uploaded(self) -> bool:
        return self.uploaded is not None

    @property
    def backbone(self) -> BackboneRef | None:
        return None if self.is_uploaded else self.settings.backbone

    def mode_text(self) -> str:
        return "uploaded model" if self.is_uploaded else self.settings.mode_text()


@dataclass(frozen=True)
class RecordedBaseline:
    class_index: int
    class_name: str
    accuracy: float


def baseline_of(ds: Dataset) -> RecordedBaseline:
    b = majority_baseline(ds)
    return RecordedBaseline(b.class_index, b.class_name, b.accuracy)


@dataclass(frozen=True)
class RunRecord:
    """Everything config.json says about a stored run."""

    run_id: str
    config: RunConfig
    status: str  # complete | stopped | failed
    message: str = ""
    class_names: tuple[str, ...] = ()
    seconds: float = 0.0
    epochs_done: int = 0
    notes: tuple[str, ...] = ()
    created: str = ""
    baseline: RecordedBaseline | None = None  # None: stored before baselines were recorded
    versions: dict[str, str] = field(default_factory=dict)
    name: str = ""  # typed by the user at training; display_name falls back to auto_name()

    @property
    def display_name(self) -> str:
        """What legends, tables, selectors and the CLI call the run (the id is a detail)."""
        return self.name or auto_name(self.config)

    @property
    def settings(self) -> TrainSettings:
        return self.config.settings

    @property
    def dataset(self) -> DatasetRef:
        return self.config.dataset

    @property
    def model(self) -> str:
        return self.config.settings.model

    def to_dict(self) -> dict[str, Any]:
        d = {
            **self.config.to_dict(),
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "class_names": list(self.class_names),
            "seconds": round(self.seconds, 3),
            "epochs_done": self.epochs_done,
            "notes": list(self.notes),
            "created": self.created,
            "versions": self.versions,
        }
        if self.name:
            d["name"] = self.name
        if self.baseline is not None:
            b = self.baseline
            d["baseline"] = {"class_index": b.class_index, "class_name": b.class_name, "accuracy": b.accuracy}
        return d

    @classmethod
    def from_dict(cls, d: Any, folder_name: str = "") -> RunRecord:
        """Read config.json's content; anything malformed is a one-line StoreError."""
        try:
            if not isinstance(d, dict):
                raise TypeError("config.json is not a JSON object")
            b = d.get("baseline")
            return cls(
                run_id=str(d.get("run_id") or folder_name),
                config=RunConfig.from_dict(d),
                status=str(d["status"]),
                message=str(d.get("message", "")),
                class_names=tuple(nfc(str(n)) for n in d.get("class_names", ())),
                seconds=float(d.get("seconds", 0.0)),
                epochs_done=int(d.get("epochs_done", 0)),
                notes=tuple(str(n) for n in d.get("notes", ())),
                created=str(d.get("created", "")),
                baseline=RecordedBaseline(int(b["class_index"]), str(b["class_name"]), float(b["accuracy"]))
                if isinstance(b, dict)
                else None,
                versions={str(k): str(v) for k, v in (d.get("versions") or {}).items()},
                name=clean_name(str(d.get("name", ""))),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            missing = f"missing {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise StoreError(
                N_("{folder}: config.json is not a run record ({reason})"), folder=folder_name or "run", reason=missing
            ) from None


def auto_name(config: RunConfig) -> str:
    """A name people can say, from the settings: "cnn · 5 ep · aug mild · seed 0" (then the
    optimizer and learning rate where they are not the defaults, and " · mixed precision" when it
    trained in 16 bits)."""
    if config.uploaded is not None:
        return f"uploaded {config.uploaded.filename}"
    s = config.settings
    model = s.model
    if s.is_transfer:
        mode = {"feature_extraction": "frozen", "fine_tune": f"fine-tune {s.unfreeze}"}.get(s.transfer, "all trains")
        model = f"{model} {mode}" + ("" if s.pretrained else " (random)")
    aug = (
        "no aug"
        if not s.augment or augment_settings.is_identity(s.augment)
        else (f"aug {augment_settings.matching_preset(s.augment)}")
    )
    # An optimizer or learning rate other than the defaults is named: two runs that differ only
    # there would otherwise share a name in every list.
    default = TrainSettings()
    optimizer = f" · {s.optimizer}" if s.optimizer != default.optimizer else ""
    lr = f" · lr {s.learning_rate:g}" if s.learning_rate != default.learning_rate else ""
    mixed = " · mixed precision" if s.mixed_precision else ""
    return f"{model} · {s.epochs} ep · {aug} · seed {s.seed}{optimizer}{lr}{mixed}"


def can_be_backbone(record: RunRecord) -> bool:
    """The one rule: a complete run of one of our own model kinds (not an uploaded model,
    not itself a transfer model), trained on 0..1 pixels (no centring or normalization, which
    a backbone's input would not get), can lend its feature layers as a backbone."""
    return (
        record.status == "complete"
        and not record.config.is_uploaded
        and record.model in MODEL_KINDS
        and record.settings.input_standardization() is None
    )
