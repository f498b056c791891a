"""Memory checks on a model file, before Keras builds or reads anything: an uploaded model, and
a transfer backbone's local weights file typed on the server (lib.train.transfer).

Keras builds a model from its config before it reads the weights, so a 4 kB config asking for
`Dense(2_000_000)` takes gigabytes before any other check runs; and a legacy `.h5` weight
dataset, gzip-compressed, declares gigabytes in a few megabytes. So:

- `.h5`: every HDF5 dataset's declared size (shape x item size, read from the file's metadata,
  nothing inflated) against a total budget, and against a compression ratio for big ones;
- `.keras` and `.h5`: the weight count of the declared architecture (`config.json`, or the
  `.h5`'s `model_config` attribute), worked out from the config and the shapes that flow
  through it, against `MAX_PARAMS`. Layers are instantiated without their weights (no
  `build`) only to ask them their output shape.

`check_keras_archive` reads a .keras zip's directory, `check_model_file(data, filename)` the
declared weights and architecture; both take the bytes or a path and raise ModelFileError.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib.data.paths import printable
from lib.errors import ModelFileError, one_line
from lib.i18n import N_, Deferred

# 50 M float32 weights are 200 MB. The largest model the explorer itself trains (VGG16 without
# its ImageNet head plus the tutorial's Flatten + 128/64/32 head) has about 18 M.
MAX_PARAMS = 50_000_000
# The same budgets as for the members of a .keras zip (KERAS_* below).
H5_TOTAL_MAX_BYTES = 2 << 30
H5_FREE_BYTES = 64 << 20  # datasets up to this size are never called a bomb
H5_MAX_RATIO = 100

_MODEL_CLASSES = ("Functional", "Model", "Sequential")


class _KerasRefuses(Exception):
    """A layer that loading with safe_mode refuses anyway (a Lambda carrying code)."""


_WRAPPERS = ("TimeDistributed",)
Shape = tuple[int | None, ...]


# A .keras file is a zip: config.json and metadata.json are read whole into memory, the
# weights file is extracted. Sizes are read from the zip directory before Keras opens it.
KERAS_JSON_MAX_BYTES = 16 << 20  # a real config.json is kilobytes; 16 MB is generous
KERAS_TOTAL_MAX_BYTES = 2 << 30
KERAS_FREE_BYTES = 64 << 20  # members up to this size are never called a bomb
KERAS_MAX_RATIO = 100


def check_keras_archive(data: bytes | Path, filename: str) -> None:
    """ModelFileError when the .keras zip declares members that would exhaust memory or disk
    (a 1 MB upload whose config.json inflates to 1 GB): checked from the zip directory alone."""
    shown = printable(filename)
    try:
        with zipfile.ZipFile(_opened(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(
            N_("{file} cannot be loaded: not a .keras (zip) file ({reason})"), file=shown, reason=one_line(exc, 120)
        ) from None
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        name = printable(info.filename)
        if info.filename.endswith(".json") and size > KERAS_JSON_MAX_BYTES:
            raise ModelFileError(
                N_("{file} was refused: its {name} declares {mb} MB (a model's JSON is kilobytes)"),
                file=shown,
                name=name,
                mb=f"{size / 1e6:,.0f}",
            )
        if size > KERAS_FREE_BYTES and size > KERAS_MAX_RATIO * max(info.compress_size, 1):
            raise ModelFileError(
                N_(
                    "{file} was refused: {name} expands from {stored} MB to {mb} MB (over {ratio}:1), "
                    "a likely decompression bomb"
                ),
                file=shown,
                name=name,
                stored=f"{info.compress_size / 1e6:,.1f}",
                mb=f"{size / 1e6:,.0f}",
                ratio=KERAS_MAX_RATIO,
            )
    if total > KERAS_TOTAL_MAX_BYTES:
        raise ModelFileError(
            N_("{file} was refused: it declares {gb} GB uncompressed"), file=shown, gb=f"{total / 1e9:,.1f}"
        )


def check_model_file(data: bytes | Path, filename: str) -> None:
    """ModelFileError when the file's declared weights or architecture exceed the budgets."""
    shown = printable(filename)
    if filename.lower().endswith(".h5"):
        config = _check_h5(data, shown)
    else:
        config = _keras_config(data, shown)
    if config is None:
        return  # a weights-only .h5 carries no architecture: Keras refuses it on its own
    try:
        params = count_params(config)
    except ModelFileError:
        raise
    except _KerasRefuses:
        return  # a Lambda layer: Keras' safe_mode refuses the file with its own reason
    except Exception as exc:
        raise ModelFileError(
            N_("{file} was refused: its architecture cannot be checked before loading ({reason})"),
            file=shown,
            reason=one_line(exc, 120),
        ) from None
    if params > MAX_PARAMS:
        raise ModelFileError(
            N_(
                "{file} was refused: its architecture declares {params} weights, more than the {most} "
                "this explorer loads"
            ),
            file=shown,
            params=f"{params:,}",
            most=f"{MAX_PARAMS:,}",
        )


def count_params(config: dict) -> int:
    """Weights a model config declares (a `{"class_name", "config"}` dict, Keras 3 or legacy)."""
    params, _ = _model(config, None)
    return params


def _opened(data: bytes | Path) -> io.BytesIO | Path:
    """A file's bytes (an upload) as a file object; a path (a typed weights file) as it is, so
    a large file is read from the disk piece by piece, never whole into memory."""
    return data if isinstance(data, Path) else io.BytesIO(data)


# --- reading the files -----------------------------------------------------------------------


def _keras_config(data: bytes | Path, shown: str) -> dict | None:
    try:
        with zipfile.ZipFile(_opened(data)) as zf:
            raw = zf.read("config.json")  # its size was checked from the zip directory already
    except KeyError:
        raise ModelFileError(N_("{file} cannot be loaded: it has no config.json"), file=shown) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(
            N_("{file} cannot be loaded: not a .keras (zip) file ({reason})"), file=shown, reason=one_line(exc, 120)
        ) from None
    return _json(raw, shown)


def _json(raw: bytes | str, shown: str) -> dict:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(
            N_("{file} cannot be loaded: its config is not JSON ({reason})"), file=shown, reason=one_line(exc, 80)
        ) from None
    if not isinstance(config, dict):
        raise ModelFileError(N_("{file} cannot be loaded: its config is not a model"), file=shown)
    return config


def _check_h5(data: bytes | Path, shown: str) -> dict | None:
    import h5py

    try:
        with h5py.File(_opened(data), "r") as f:
            total = 0
            for name, ds in _datasets(f):
                size = math.prod(int(d) for d in ds.shape) * ds.dtype.itemsize
                total += size
                stored = ds.id.get_storage_size()
                if size > H5_FREE_BYTES and size > H5_MAX_RATIO * max(stored, 1):
                    raise ModelFileError(
                        N_(
                            "{file} was refused: {name} expands from {stored} MB to {mb} MB (over {ratio}:1), "
                            "a likely decompression bomb"
                        ),
                        file=shown,
                        name=printable(name),
                        stored=f"{stored / 1e6:,.1f}",
                        mb=f"{size / 1e6:,.0f}",
                        ratio=H5_MAX_RATIO,
                    )
                if total > H5_TOTAL_MAX_BYTES:
                    raise ModelFileError(
                        N_("{file} was refused: its weights declare more than {gb} GB"),
                        file=shown,
                        gb=f"{total / 1e9:,.1f}",
                    )
            raw = f.attrs.get("model_config")
    except ModelFileError:
        raise
    except Exception as exc:  # not HDF5, damaged metadata
        raise ModelFileError(
            N_("{file} cannot be loaded: not an HDF5 model file ({reason})"), file=shown, reason=one_line(exc, 120)
        ) from None
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return _json(str(raw), shown)


def _datasets(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every dataset below `group`, without following external or soft links."""
    import h5py

    for key in group:
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        obj = group[key]
        name = f"{prefix}/{key}"
        if isinstance(obj, h5py.Dataset):
            yield name, obj
        elif isinstance(obj, h5py.Group):
            yield from _datasets(obj, name)


# --- counting weights from a config ----------------------------------------------------------


def _model(spec: dict, input_shapes: list[Shape] | None) -> tuple[int, list[Shape]]:
    """(weights, output shapes) of a Sequential or Functional config."""
    config = spec.get("config", spec)
    layers = config.get("layers") or []
    if spec.get("class_name") == "Sequential" or not any("inbound_nodes" in layer for layer in layers):
        return _sequential(layers, input_shapes)
    return _functional(config, layers, input_shapes)


def _sequential(layers: list[dict], input_shapes: list[Shape] | None) -> tuple[int, list[Shape]]:
    shape = input_shapes[0] if input_shapes else None
    total = 0
    for layer in layers:
        declared = _declared_input(layer)
        if layer.get("class_name") == "InputLayer":
            shape = declared or shape
            continue
        shape = shape or declared
        if shape is None:
            raise ModelFileError(Deferred(N_("a layer's input shape is not declared")))
        params, outs = _layer(layer, [shape])
        total += params
        shape = outs[0]
    return total, [shape] if shape is not None else []


def _functional(config: dict, layers: list[dict], input_shapes: list[Shape] | None) -> tuple[int, list[Shape]]:
    outputs: dict[str, list[list[Shape]]] = {}  # layer name -> node -> output shapes
    inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
    total = 0
    for layer in layers:
        name = str(layer.get("name") or layer.get("config", {}).get("name"))
        if layer.get("class_name") == "InputLayer":
            index = inputs.index(layer)
            given = input_shapes[index] if input_shapes and index < len(input_shapes) else None
            outputs[name] = [[given or _declared_input(layer)]]
            continue
        best = 0
        for node in layer.get("inbound_nodes") or []:
            shapes = [_shape_of(ref, outputs) for ref in _references(node)]
            params, outs = _layer(layer, shapes)
            best = max(best, params)
            outputs.setdefault(name, []).append(outs)
        total += best
    result = []
    for ref in _output_refs(config.get("output_layers")):
        result.append(_shape_of(ref, outputs))
    return total, result


def _references(node: Any) -> list[tuple[str, int, int, Shape | None]]:
    """(layer, node, tensor, declared shape) of every tensor a node reads: Keras 3 nodes hold
    `__keras_tensor__` dicts, legacy nodes lists `[name, node, tensor, kwargs]`."""
    found: list[tuple[str, int, int, Shape | None]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                cfg = value.get("config", {})
                name, n, t = cfg["keras_history"]
                found.append((str(name), int(n), int(t), _shape(cfg.get("shape"))))
            else:
                for v in value.values():
                    walk(v)
        elif isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                found.append((value[0], int(value[1]), int(value[2]), None))
            else:
                for v in value:
                    walk(v)

    walk(node)
    return found


def _output_refs(value: Any) -> list[tuple[str, int, int, Shape | None]]:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [(value[0], int(value[1]), int(value[2]), None)]
    return [r for v in value or [] for r in _output_refs(v)]


def _shape_of(ref: tuple[str, int, int, Shape | None], outputs: dict[str, list[list[Shape]]]) -> Shape:
    name, node, tensor, declared = ref
    try:
        return outputs[name][node][tensor]
    except (KeyError, IndexError):
        if declared is None:
            raise ModelFileError(N_("layer {name} is used before it is defined"), name=printable(name)) from None
        return declared


def _layer(layer: dict, input_shapes: list[Shape]) -> tuple[int, list[Shape]]:
    """(weights, output shapes) of one layer config on these input shapes. The weights are
    counted on the declared build shape too (Keras builds with it when the config has one)."""
    cls = layer.get("class_name")
    if cls in _MODEL_CLASSES:
        return _model(layer, input_shapes)
    config = layer.get("config") or {}
    params = _weights(cls, config, input_shapes)
    declared = _declared_input(layer)
    if declared is not None:
        params = max(params, _weights(cls, config, [declared]))
    return params, _output_shapes(layer, input_shapes)


def _declared_input(layer: dict) -> Shape | None:
    config = layer.get("config") or {}
    for value in (
        config.get("batch_shape"),
        config.get("batch_input_shape"),
        (layer.get("build_config") or {}).get("input_shape"),
    ):
        if value is not None:
            shape = _shape(value)
            if shape is not None:
                return shape
    return None


def _shape(value: Any) -> Shape | None:
    if isinstance(value, dict):  # a build config keyed by argument name
        value = next(iter(value.values()), None)
    if not isinstance(value, (list, tuple)) or not all(v is None or isinstance(v, int) for v in value):
        return None
    return tuple(value)


def _ints(value: Any, rank: int) -> list[int]:
    if isinstance(value, int):
        return [value] * rank
    return [int(v) for v in value]


def _channels(config: dict, shape: Shape) -> int:
    axis = 1 if config.get("data_format") == "channels_first" else -1
    return int(shape[axis] or 1) if len(shape) > 1 else 1


def _rank(cls: str) -> int:
    return 3 if "3D" in cls else 1 if "1D" in cls else 2


def _weights(cls: str | None, config: dict, shapes: list[Shape]) -> int:
    """Weights of one (non-model) layer from its config and input shapes; 0 for the layers
    that hold none. Unknown layers get an upper bound from their integer settings."""
    cls = str(cls)
    shape = shapes[0] if shapes else ()
    c = _channels(config, shape) if shape else 1
    bias = 1 if config.get("use_bias", True) else 0
    if cls == "Dense":
        units = int(config["units"])
        return c * units + units * bias
    if cls in ("Conv1D", "Conv2D", "Conv3D"):
        k = math.prod(_ints(config["kernel_size"], _rank(cls)))
        filters = int(config["filters"])
        return k * (c // max(int(config.get("groups", 1)), 1)) * filters + filters * bias
    if cls in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        k = math.prod(_ints(config["kernel_size"], _rank(cls)))
        filters = int(config["filters"])
        return k * c * filters + filters * bias
    if cls in ("DepthwiseConv1D", "DepthwiseConv2D"):
        k = math.prod(_ints(config["kernel_size"], _rank(cls)))
        dm = int(config.get("depth_multiplier", 1))
        return k * c * dm + c * dm * bias
    if cls in ("SeparableConv1D", "SeparableConv2D"):
        k = math.prod(_ints(config["kernel_size"], _rank(cls)))
        dm, filters = int(config.get("depth_multiplier", 1)), int(config["filters"])
        return k * c * dm + c * dm * filters + filters * bias
    if cls == "Embedding":
        return int(config["input_dim"]) * int(config["output_dim"])
    if cls in ("BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization"):
        axes = config.get("axis", -1)
        axes = axes if isinstance(axes, list) else [axes]
        size = math.prod(int(shape[a] or 1) for a in axes) if shape else 1
        return {"BatchNormalization": 4, "Normalization": 2}.get(cls, 2) * size + (cls == "Normalization")
    if cls in ("SimpleRNN", "GRU", "LSTM"):
        u = int(config["units"])
        gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[cls]
        biases = 2 if cls == "GRU" and config.get("reset_after", True) else 1
        return gates * (c * u + u * u + biases * u * bias)
    if cls == "Bidirectional":
        forward = config["layer"]
        backward = config.get("backward_layer") or forward
        return sum(_weights(sub.get("class_name"), sub.get("config") or {}, shapes) for sub in (forward, backward))
    if cls in _WRAPPERS:
        inner = config["layer"]
        inner_shapes = [(s[0], *s[2:]) for s in shapes]
        return _weights(inner.get("class_name"), inner.get("config") or {}, inner_shapes)
    if cls == "PReLU":
        return math.prod(int(d or 1) for d in shape[1:])
    if cls in _WEIGHTLESS:
        return 0
    # Anything else that may hold weights (attention, EinsumDense, ...): an upper bound, the
    # product of its integer settings and its input's last dimension.
    return c * math.prod(max(v, 1) for v in _config_ints(config))


def _config_ints(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("dtype", "seed", "kernel_initializer", "bias_initializer", "name"):
                yield from _config_ints(v)
    elif isinstance(value, list):
        for v in value:
            yield from _config_ints(v)


def _output_shapes(layer: dict, input_shapes: list[Shape]) -> list[Shape]:
    """Keras' own `compute_output_shape` of the layer, instantiated without building it."""
    from lib.tf_import import import_keras

    if layer.get("class_name") == "Lambda":
        raise _KerasRefuses
    keras = import_keras()
    # Only Keras' own layer classes, made from their settings; no build_config: no weights.
    cls = getattr(keras.layers, str(layer.get("class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ModelFileError(N_("unknown layer {name}"), name=printable(str(layer.get("class_name"))))
    obj = cls.from_config(dict(layer.get("config") or {}))
    arg: Any = input_shapes[0] if len(input_shapes) == 1 else list(input_shapes)
    try:
        out = obj.compute_output_shape(arg)
    except NotImplementedError:
        if _weights(layer.get("class_name"), layer.get("config") or {}, input_shapes) > MAX_PARAMS:
            raise ModelFileError(
                N_("layer {name} is too large"), name=printable(str(layer.get("class_name")))
            ) from None
        tensors = [keras.KerasTensor(s) for s in input_shapes]
        result = obj(tensors[0] if len(tensors) == 1 else tensors)
        out = [tuple(t.shape) for t in (result if isinstance(result, (list, tuple)) else [result])]
    if isinstance(out, (list, tuple)) and out and all(isinstance(s, (list, tuple)) for s in out):
        return [tuple(s) for s in out]
    return [tuple(out)]


# Built-in layers that hold no weights (the shapes still flow through them).
_WEIGHTLESS = {
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Activation", "ReLU", "LeakyReLU",
    "ELU", "Softmax", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking", "Identity",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Add", "Subtract",
    "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Rescaling", "Resizing",
    "CenterCrop", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
    "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "UnitNormalization", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
    "RandomCrop", "RandomShear", "Lambda", "CategoryEncoding", "Hashing",
}  # fmt: skip
