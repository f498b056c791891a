"""Where a run trains and in which precision: every local device TensorFlow sees.

TensorFlow puts work on a GPU by itself when it sees one. Two more choices are ours:

- **Mixed precision** (`TrainSettings.mixed_precision`): layers compute in a 16-bit float and keep
  their weights in float32. On a GPU that is float16 (`mixed_float16`; Keras scales the loss so
  small gradients do not vanish), on a CPU bfloat16 (`mixed_bfloat16`: float16 has no fast CPU
  kernels; recent CPUs have bfloat16 ones). The softmax layer always computes in float32 (see
  lib.train.models), so probabilities sum to 1 and the loss does not overflow.
- **Devices** (`devices="all"`): with more than one local device, `tf.distribute.MirroredStrategy`
  keeps a copy of the model on each, splits every batch between them and averages the
  gradients. The per-epoch validation metrics are still computed once, from the whole
  validation split's predictions gathered on the host (lib.train.callbacks.ValidationMetrics).
  "All" means every GPU; without GPUs, every logical CPU device: a CPU is one device unless it
  was split with `EXPLORER_LOGICAL_CPUS` (lib.tf_import), which lets the mirrored path be
  tried and tested on a laptop.

The precision is a training setting (it changes the numbers, so it is part of the run id);
the devices are not (the same run on other hardware): a note in the run says where it trained.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lib.errors import SettingsError
from lib.i18n import N_
from lib.tf_import import import_keras

DEVICES = {
    "one": "the default device (a GPU when TensorFlow sees one, else the CPU)",
    "all": "every local GPU (every logical CPU device without GPUs), mirrored",
}


@dataclass(frozen=True)
class Placement:
    """The distribution strategy to build and train under (None: TensorFlow's default) and
    where that puts the work, in words (for the run's notes)."""

    strategy: Any
    devices: tuple[str, ...]
    note: str

    def scope(self) -> contextlib.AbstractContextManager:
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def check_batch_size(self, batch_size: int) -> None:
        """Mirrored, every device trains on an equal share of each batch (TensorFlow refuses
        full batches that do not split evenly; the last, partial batch of an epoch may)."""
        n = len(self.devices) if self.strategy is not None else 1
        if batch_size % n:
            raise SettingsError(
                N_(
                    "with {n} devices the batch size must be a multiple of {n} (each device takes an equal "
                    "share of every batch): {batch_size} is not"
                ),
                n=n,
                batch_size=batch_size,
            )


def local_devices() -> tuple[list[str], list[str]]:
    """(GPU names, CPU names) of the logical devices TensorFlow sees in this process."""
    import_keras()
    import tensorflow as tf

    return (
        [d.name for d in tf.config.list_logical_devices("GPU")],
        [d.name for d in tf.config.list_logical_devices("CPU")],
    )


def placement(devices: str = "one") -> Placement:
    """Where to train: "one" the default device, "all" every local device, mirrored."""
    if devices not in DEVICES:
        raise SettingsError(
            N_("unknown devices '{devices}': choose {choices}"), devices=devices, choices=", ".join(DEVICES)
        )
    gpus, cpus = local_devices()
    default = f"GPU ({gpus[0]})" if gpus else "CPU"
    if devices == "one":
        more = f"; {len(gpus)} GPUs seen, --devices all uses every one" if len(gpus) > 1 else ""
        return Placement(None, (gpus or cpus)[:1], f"trained on the {default}{more}")
    chosen = gpus if gpus else cpus
    if len(chosen) < 2:
        return Placement(None, tuple(chosen), f"trained on the {default}: the only local device, nothing to mirror")
    strategy = _mirrored(tuple(chosen))
    kind = "GPUs" if gpus else "logical CPU devices"
    return Placement(
        strategy,
        tuple(chosen),
        f"trained on {len(chosen)} {kind} with MirroredStrategy ({', '.join(_short(d) for d in chosen)}): "
        "each batch split between them, gradients averaged; validation metrics computed once on the whole split",
    )


_STRATEGIES: dict[tuple[str, ...], Any] = {}
_STRATEGIES_LOCK = threading.Lock()


def _mirrored(devices: tuple[str, ...]) -> Any:
    """One MirroredStrategy per set of devices for the whole process. Every new strategy numbers
    its collective operations from the same first key, so a second model trained by a new one
    in the same process (a warm training worker's next job) met the first model's gradient
    sizes under that key and failed ("Shape mismatch in the collective instance 100")."""
    import tensorflow as tf

    with _STRATEGIES_LOCK:
        if devices not in _STRATEGIES:
            _STRATEGIES[devices] = tf.distribute.MirroredStrategy(devices=list(devices))
        return _STRATEGIES[devices]


def _short(name: str) -> str:
    return name.replace("/job:localhost/replica:0/task:0/device:", "")


MIXED_POLICIES = {"gpu": "mixed_float16", "cpu": "mixed_bfloat16"}


def mixed_policy_name() -> str:
    """The mixed policy for this machine: float16 on a GPU, bfloat16 on a CPU."""
    gpus, _ = local_devices()
    return MIXED_POLICIES["gpu" if gpus else "cpu"]


@contextlib.contextmanager
def precision(mixed: bool) -> Iterator[str]:
    """Build and train inside this: Keras' dtype policy is `mixed_policy_name()` when mixed,
    float32 otherwise; the previous policy comes back afterwards."""
    keras = import_keras()
    before = keras.config.dtype_policy()
    name = mixed_policy_name() if mixed else "float32"
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(before)


def precision_note(name: str) -> str:
    if name == "float32":
        return ""
    compute = "float16" if name == "mixed_float16" else "bfloat16"
    scaled = ", the loss scaled so small gradients survive" if name == "mixed_float16" else ""
    return f"mixed precision ({name}): layers compute in {compute}, weights and the softmax stay float32{scaled}"
