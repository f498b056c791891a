"""Issue 22 item 4: one decoding gate for every picture (lib.data.decode). Only the raster
formats we promise reach Pillow; a file that would run another program (EPS runs Ghostscript)
never reaches its plugin; the pixel budget is read from the header; EXIF orientation applies."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib.data import decode
from lib.errors import ImageError
from tests.helpers import ROOT, make_folder

# A minimal EPS: Pillow's EPS plugin accepts it and, to draw it, runs `gs`.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"


def _fake_ghostscript(tmp_path: Path) -> tuple[dict, Path]:
    """A `gs` on PATH that only leaves a marker: if it exists afterwards, a program ran."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "ghostscript-ran"
    gs = bindir / "gs"
    gs.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    gs.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    return env, marker


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_eps_named_png_never_runs_ghostscript_in_the_folder_loader_or_try_it(tmp_path):
    env, marker = _fake_ghostscript(tmp_path)
    make_folder(tmp_path / "data", {"a": 3, "b": 3})
    (tmp_path / "data" / "a" / "photo.png").write_bytes(EPS)
    (tmp_path / "photo.png").write_bytes(EPS)
    code = f"""
from lib.data.folders import load_image_folder
from lib.evaluate import try_image
from lib.errors import ImageError
ds = load_image_folder({str(tmp_path / "data")!r})
print([n for n in ds.notes if "photo.png" in n][0])
try:
    try_image.to_dataset_image(open({str(tmp_path / "photo.png")!r}, "rb").read(), (8, 8, 1))
except ImageError as exc:
    print("try it:", exc)
"""
    r = _run(code, env)
    assert r.returncode == 0, r.stderr
    assert not marker.exists(), "an external program ran"
    assert "photo.png (not an image in a format we read (PNG, JPEG, BMP, GIF, WebP or TIFF))" in r.stdout
    assert "try it: not an image in a format we read" in r.stdout


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("gate-runs"))
    r = subprocess.run(
        [sys.executable, "-m", "lib.cli", "train", "digits", "--model", "mlp", "--epochs", "1", "--store", store],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return store, r.stdout.split("run id: ")[1].split()[0]


def test_cli_predict_of_an_eps_named_png_is_one_line_and_runs_nothing(tmp_path, digits_run):
    store, run_id = digits_run
    env, marker = _fake_ghostscript(tmp_path)
    (tmp_path / "photo.png").write_bytes(EPS)
    r = subprocess.run(
        [sys.executable, "-m", "lib.cli", "predict", run_id, str(tmp_path / "photo.png"), "--store", store],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and not marker.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an image in a format we read" in lines[0], r.stderr


def _saved(fmt: str, im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PCX", "PPM", "IM", "SGI", "DDS"])
def test_formats_we_do_not_promise_are_refused_whatever_the_name(fmt):
    data = _saved(fmt, Image.new("RGB", (8, 8), (200, 10, 10)))
    assert Image.open(io.BytesIO(data)).format  # Pillow alone would decode it
    with pytest.raises(ImageError, match="not an image in a format we read"):
        decode.open_image(data)
    with pytest.raises(ImageError, match="not an image in a format we read"):
        decode.read_header(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"])
def test_promised_formats_decode_from_bytes_and_paths(fmt, tmp_path):
    data = _saved(fmt, Image.new("RGB", (12, 8), (0, 0, 255)))
    header = decode.read_header(data)
    assert (header.size, header.colour) == ((12, 8), fmt != "GIF" or header.colour)
    (tmp_path / "p.img").write_bytes(data)
    for source in (data, tmp_path / "p.img", str(tmp_path / "p.img"), io.BytesIO(data)):
        arr = decode.decode_to_array(source, (6, 4), 3)
        assert arr.shape == (4, 6, 3) and arr.dtype == np.uint8
        assert arr[..., 2].mean() > 200 and arr[..., 0].mean() < 60


def test_gif_gives_its_first_frame():
    frames = [Image.new("L", (8, 8), v) for v in (10, 240)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    arr = decode.decode_to_array(buf.getvalue(), (8, 8), 1)
    assert abs(int(arr.mean()) - 10) <= 2


def test_pixel_budget_is_read_from_the_header_before_decoding():
    # 8,000 x 6,000 = 48 MP: under Pillow's own warning threshold (89 MP), over ours (40 MP).
    data = _saved("PNG", Image.new("1", (8_000, 6_000)))
    assert len(data) < 200_000
    with pytest.raises(ImageError, match=r"too large \(8000x6000 pixels; at most 40,000,000\)"):
        decode.read_header(data)
    with pytest.raises(ImageError, match="too large"):
        decode.open_image(data)
    assert decode.read_header(data, max_pixels=50_000_000).size == (8_000, 6_000)


def test_a_big_jpeg_is_decoded_reduced_not_whole():
    data = _saved("JPEG", Image.new("RGB", (9_000, 6_000), (30, 200, 30)), quality=50)
    with pytest.raises(ImageError, match="too large"):
        decode.open_image(data)  # no target size: it would be decoded whole
    assert decode.read_header(data, reducible=True).size == (9_000, 6_000)
    arr = decode.decode_to_array(data, (90, 60), 3)
    assert arr.shape == (60, 90, 3) and arr[..., 1].mean() > 150


def test_exif_orientation_applies_in_header_and_pixels():
    raw = np.zeros((20, 40, 3), np.uint8)
    raw[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _saved("JPEG", Image.fromarray(raw), exif=exif.tobytes(), quality=95)
    assert decode.read_header(data).size == (20, 40)
    arr = decode.decode_to_array(data, (20, 40), 3).astype(float)
    assert arr[:18].mean() > 200 and arr[22:].mean() < 50


def test_modes_become_8_bit_like_the_folder_loader():
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert decode.decode_to_array(_saved("PNG", sixteen), (4, 4), 1).max() == 255
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent: white, not black
    assert decode.decode_to_array(_saved("PNG", rgba), (4, 4), 3).min() == 255
    pal = Image.new("L", (4, 4), 77).convert("P")
    header = decode.read_header(_saved("PNG", pal))
    assert header.mode == "P" and not header.colour


@pytest.mark.parametrize("data", [b"", b"hello", _saved("PNG", Image.new("L", (4, 4)))[:30]])
def test_empty_text_and_truncated_are_one_line(data):
    with pytest.raises(ImageError) as info:
        decode.open_image(data)
    assert "\n" not in str(info.value) and str(info.value)


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a file"):
        decode.read_header(fifo)
    with pytest.raises(ImageError, match="not a file"):
        decode.open_image("/dev/zero")
