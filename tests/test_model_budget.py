"""Issue 22 items 1-2: an uploaded model's memory is checked before Keras builds or reads it.
A legacy .h5 whose weight dataset inflates is refused from the HDF5 shapes; a .keras or .h5
whose config declares a huge layer is refused from the weight count worked out of its config."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from lib.errors import ModelFileError
from lib.runs.uploaded import load_user_model
from lib.tf_import import import_keras
from lib.train import model_budget
from tests.helpers import ROOT


def _small_model():
    keras = import_keras()
    return keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")]
    )


def _file_bytes(model, tmp_path, name):
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def _keras_with_units(tmp_path, units: int) -> bytes:
    """A real .keras file of the small model whose config.json asks for Dense(units)."""
    data = _file_bytes(_small_model(), tmp_path, "m.keras")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            raw = src.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(raw)
                config["config"]["layers"][-1]["config"]["units"] = units
                raw = json.dumps(config).encode()
            dst.writestr(info.filename, raw)
    return out.getvalue()


def _h5_with_inflating_kernel(tmp_path, rows: int) -> bytes:
    """A real legacy .h5 model whose Dense kernel is replaced by a gzip dataset declaring
    (rows, 4) float32 and storing almost nothing."""
    path = tmp_path / "m.h5"
    _small_model().save(path)
    with h5py.File(path, "r+") as f:
        names = []
        f["model_weights"].visit(lambda n: names.append(n) if n.endswith("kernel") else None)
        where = f["model_weights"][names[0]].parent
        del where["kernel"]
        ds = where.create_dataset("kernel", shape=(rows, 4), dtype="float32", chunks=(65536, 4), compression="gzip")
        ds[:65536] = 0.0  # one stored chunk: the rest is declared, never written
    return path.read_bytes()


def _peak_rss_mb(code: str) -> tuple[float, str]:
    """Run `code` in a fresh Python with Keras imported; (its peak RSS growth in MB, stdout)."""
    script = (
        "import resource\nfrom lib.tf_import import import_keras\nimport_keras()\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"{code}\n"
        "print('peak', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return float(r.stdout.split("peak")[-1]), r.stdout


def test_h5_whose_weights_inflate_is_refused_before_loading(tmp_path):
    data = _h5_with_inflating_kernel(tmp_path, 50_000_000)  # declares 800 MB
    assert len(data) < 3_000_000
    with pytest.raises(ModelFileError, match=r"expands from .* MB to 800 MB .*decompression bomb"):
        load_user_model(data, "bomb.h5")


def test_h5_total_declared_size_has_a_budget(tmp_path, monkeypatch):
    data = _file_bytes(_small_model(), tmp_path, "ok.h5")
    monkeypatch.setattr(model_budget, "H5_TOTAL_MAX_BYTES", 500)  # the model's weights are 1,040 bytes
    with pytest.raises(ModelFileError, match="weights declare more than"):
        model_budget.check_model_file(data, "ok.h5")


@pytest.mark.parametrize("units", [2_000_000, 10_000_000])
def test_keras_config_declaring_a_huge_layer_is_refused_before_building(tmp_path, units):
    data = _keras_with_units(tmp_path, units)
    assert len(data) < 10_000
    with pytest.raises(ModelFileError, match=f"declares {64 * units + units:,} weights, more than the 50,000,000"):
        load_user_model(data, "huge.keras")


def test_refusing_either_costs_no_memory(tmp_path):
    """Measured in a fresh process: the old code peaked at gigabytes on these files."""
    (tmp_path / "huge.keras").write_bytes(_keras_with_units(tmp_path, 10_000_000))
    (tmp_path / "bomb.h5").write_bytes(_h5_with_inflating_kernel(tmp_path, 50_000_000))
    peak, out = _peak_rss_mb(
        "from lib.runs.uploaded import load_user_model\n"
        f"for name in ('huge.keras', 'bomb.h5'):\n"
        f"    try:\n        load_user_model(open({str(tmp_path)!r} + '/' + name, 'rb').read(), name)\n"
        "    except ValueError as exc:\n        print('refused', exc)"
    )
    assert [line.startswith("refused") for line in out.splitlines()[:2]] == [True, True] and peak < 100, (peak, out)


def test_a_transfer_weights_file_gets_the_same_budget_before_keras_reads_it(tmp_path):
    """A backbone's local weights file, typed on the server, is sized like an upload."""
    from lib.errors import TransferError
    from lib.train.transfer import build_transfer_model

    bomb = tmp_path / "bomb.weights.h5"
    bomb.write_bytes(_h5_with_inflating_kernel(tmp_path, 50_000_000))  # declares 800 MB
    with pytest.raises(TransferError, match=r"^weights file: bomb.weights.h5 was refused: .*decompression bomb"):
        build_transfer_model("mobilenetv2", (32, 32, 3), 3, weights=str(bomb))


def test_h5_config_is_counted_too(tmp_path):
    keras = import_keras()
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][-1]["config"]["units"] = 2_000_000
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ModelFileError, match="declares 130,000,000 weights"):
        load_user_model(path.read_bytes(), "m.h5")


def _models():
    keras = import_keras()
    from lib.train.models import build_model

    L = keras.layers
    x = keras.Input((12, 12, 3))
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.SeparableConv2D(4, (3, 1), depth_multiplier=2)(x)
    b = L.ZeroPadding2D(((1, 1), (0, 0)))(b)
    c = L.DepthwiseConv2D(3, padding="same")(x)
    m = L.Concatenate()([a, b, c])
    m = L.BatchNormalization()(m)
    m = L.Conv2DTranspose(3, 2, strides=2)(m)
    m = L.LayerNormalization()(m)
    m = L.GlobalAveragePooling2D()(m)
    branchy = keras.Model(x, L.Dense(5, activation="softmax")(m))
    inner = keras.Sequential([keras.Input((12, 12, 3)), L.Conv2D(6, 3), L.GlobalMaxPooling2D()])
    y = keras.Input((12, 12, 3))
    nested = keras.Model(y, L.Dense(3)(L.Dropout(0.1)(inner(y))))
    seq = keras.Sequential(
        [
            keras.Input((10,)),
            L.Embedding(50, 8),
            L.Bidirectional(L.LSTM(6, return_sequences=True)),
            L.GRU(5, return_sequences=True),
            L.TimeDistributed(L.Dense(3)),
            L.SimpleRNN(4),
            L.Dense(2, use_bias=False),
        ]
    )
    own = [build_model(kind, (8, 8, 1), 10) for kind in ("mlp", "cnn", "deep_cnn")]
    return [branchy, nested, seq, *own]


def test_the_count_from_the_config_equals_keras_count_params(tmp_path):
    """The count is exact for the layers it knows: it equals Keras' own, for every file format."""
    for i, model in enumerate(_models()):
        for suffix in (".keras", ".h5"):
            data = _file_bytes(model, tmp_path, f"m{i}{suffix}")
            if suffix == ".keras":
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    config = json.loads(zf.read("config.json"))
            else:
                with h5py.File(io.BytesIO(data), "r") as f:
                    config = json.loads(f.attrs["model_config"])
            assert model_budget.count_params(config) == model.count_params(), (model.name, suffix)
            model_budget.check_model_file(data, f"m{i}{suffix}")  # and a normal model passes


def test_a_transfer_run_with_a_nested_backbone_passes(tmp_path):
    keras = import_keras()
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    x = keras.Input((8, 8, 1))
    y = keras.layers.Resizing(32, 32)(keras.layers.Concatenate()([x, x, x]))
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(backbone(y)))
    model = keras.Model(x, out)
    data = _file_bytes(model, tmp_path, "t.keras")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert model_budget.count_params(json.loads(zf.read("config.json"))) == model.count_params()
    loaded = load_user_model(data, "t.keras")
    assert loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(loaded.output_shape, (None, 10))
