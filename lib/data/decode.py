"""The one gate every picture the explorer reads goes through (folder loader, Try it upload and
camera, `cli predict`, browser uploads).

Pillow picks a decoder from the bytes, not the file name: an EPS file named `photo.png` would
reach the EPS plugin, which runs Ghostscript. So only the raster formats we promise are
offered to Pillow (`Image.open(..., formats=FORMATS)`), none of which runs another program.
The pixel budget is checked from the header, before any pixel is decoded (Pillow's own
`MAX_IMAGE_PIXELS` only warns below twice its value). EXIF orientation is applied, only the
first frame of a GIF, WebP or TIFF is read, and 16-bit, float, palette and transparent
pictures become 8-bit gray or RGB the same way everywhere.

Sources are a path (a regular file, opened without following it into a FIFO or a device),
`bytes` (an upload) or a binary file object. Every refusal is an `ImageError` (a ValueError)
with one short line a user can act on.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from lib.errors import ImageError, one_line
from lib.i18n import _

# What Pillow may try, in this order. MPO (a phone's multi-picture JPEG) is opened by the
# JPEG plugin and reported as "MPO".
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
FORMAT_NAMES = "PNG, JPEG, BMP, GIF, WebP or TIFF"
# A camera photo is ~12 MP; more pixels than this are refused (or, for JPEG, decoded reduced).
MAX_PIXELS = 40_000_000
# JPEG's draft mode decodes at 1/2, 1/4 or 1/8 scale: a JPEG up to 64 times the budget can
# still become a thumbnail without ever holding its full size.
JPEG_MAX_REDUCTION = 8
# The same cap as Streamlit's upload limit (.streamlit/config.toml, maxUploadSize).
MAX_FILE_BYTES = 200 * 1024 * 1024

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageHeader:
    """What the header says, before decoding: the size as displayed (EXIF orientation
    applied), Pillow's mode and format, and whether it has colour (a gray palette has not)."""

    width: int
    height: int
    mode: str
    format: str
    colour: bool

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def read_header(source: Source, *, max_pixels: int = MAX_PIXELS, reducible: bool = False) -> ImageHeader:
    """The header of a picture, checked: a promised format, at least 1x1, within the pixel
    budget (with `reducible`, a JPEG that draft mode can bring within it passes). Decodes no
    pixel data. Raises ImageError."""
    with _opened(source) as fp, _open(fp) as im:
        _check_size(im, max_pixels, reducible=reducible)
        return _header(im)


def read_picture(
    source: Source, *, decode_within: int, max_pixels: int = MAX_PIXELS
) -> tuple[ImageHeader, np.ndarray | None]:
    """One opening of a picture for both: its header, checked as `read_header(reducible=True)`
    checks it (ImageError), and, when neither side is over `decode_within`, its pixels exactly
    as `decode_to_array(source, header.size, 3 if header.colour else 1)` gives them, or None
    when they cannot be decoded (truncated or corrupt data shows only then)."""
    with _opened(source) as fp, _open(fp) as im:
        _check_size(im, max_pixels, reducible=True)
        header = _header(im)
        if max(header.size) > decode_within:
            return header, None
        try:
            return header, to_array(_upright(im, max_pixels, None), header.size, 3 if header.colour else 1)
        except ImageError:  # the caller decodes again where it can say why
            return header, None


def open_image(
    source: Source, *, max_pixels: int = MAX_PIXELS, reduce_to: tuple[int, int] | None = None
) -> Image.Image:
    """The first frame of a picture, decoded, EXIF orientation applied, in Pillow's mode as
    stored (use `to_8bit`, `on_white`, `to_array` next). `reduce_to` (width, height): a JPEG
    too large for the budget is decoded at a reduced scale no smaller than that. The pixel
    budget is checked from the header before decoding. Raises ImageError."""
    with _opened(source) as fp, _open(fp) as im:
        return _upright(im, max_pixels, reduce_to)


def _upright(im: Image.Image, max_pixels: int, reduce_to: tuple[int, int] | None) -> Image.Image:
    """An opened picture decoded (reduced first when it may be), EXIF orientation applied."""
    if reduce_to is not None and im.width * im.height > max_pixels and im.format in ("JPEG", "MPO"):
        im.draft("RGB" if _is_colour(im) else "L", reduce_to)
    _check_size(im, max_pixels, reducible=False)
    try:
        im.load()
        return ImageOps.exif_transpose(im)
    except Exception as exc:  # truncated or corrupt data only shows when decoding
        raise ImageError(_decode_reason(exc)) from None


def decode_to_array(
    source: Source, size: tuple[int, int], channels: int, *, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """A picture as uint8 (height, width, channels) of the given (width, height) and 1 or 3
    channels, the way the folder loader makes dataset images. Raises ImageError."""
    im = open_image(source, max_pixels=max_pixels, reduce_to=size)
    return to_array(im, size, channels)


def to_array(im: Image.Image, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    """8 bit, transparency composited on white, 1 or 3 channels, then a bilinear resize to
    (width, height) when `size` is given: uint8 (height, width, channels)."""
    try:
        im = on_white(to_8bit(im))
        mode = "RGB" if channels == 3 else "L"
        if im.mode != mode:  # (converting to its own mode would only copy it)
            im = im.convert(mode)
        if size is not None and im.size != size:
            im = im.resize(size, Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # a mode Pillow cannot convert
        raise ImageError(_decode_reason(exc)) from None
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float pictures scaled to 0..255 gray (Pillow's convert('L') would clip them)."""
    if im.mode.startswith("I") or im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            top = max(float(np.nanmax(arr)), 1.0) if arr.size and np.isfinite(arr).any() else 1.0
        else:
            top = 65535.0 if arr.size and arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.nan_to_num(arr) / top * 255, 0, 255).round().astype(np.uint8), "L")
    return im


def has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)


def on_white(im: Image.Image) -> Image.Image:
    """Transparent pixels composited onto white (dropping alpha would show hidden pixels);
    other pictures unchanged."""
    if not has_alpha(im):
        return im
    rgba = im.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


# --- inside the gate --------------------------------------------------------------------------


class _opened:
    """A binary file object for any source; a path must be a regular file of at most
    MAX_FILE_BYTES (a FIFO or a device would block or never end)."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._own: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        src = self._source
        if isinstance(src, (bytes, bytearray, memoryview)):
            if len(src) == 0:
                raise ImageError(_("the image file is empty"))
            if len(src) > MAX_FILE_BYTES:
                raise ImageError(
                    _("the image file is too large (more than {mb} MB)").format(mb=MAX_FILE_BYTES // 2**20)
                )
            return io.BytesIO(bytes(src))
        if isinstance(src, (str, os.PathLike)):
            self._own = _open_regular_file(Path(src))
            return self._own
        return src  # a file object the caller owns

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._own.close()


def _open_regular_file(path: Path) -> BinaryIO:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ImageError(_("cannot read it: {reason}").format(reason=exc.strerror or type(exc).__name__)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(_("not a file"))
        if st.st_size == 0:
            raise ImageError(_("the image file is empty"))
        if st.st_size > MAX_FILE_BYTES:
            raise ImageError(_("the image file is too large (more than {mb} MB)").format(mb=MAX_FILE_BYTES // 2**20))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _open(fp: BinaryIO) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own budget below decides; Pillow's warning would only repeat it on stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise ImageError(_("too large (more than {limit:,} pixels)").format(limit=MAX_PIXELS)) from None
    except Image.UnidentifiedImageError:
        raise ImageError(_("not an image in a format we read ({formats})").format(formats=FORMAT_NAMES)) from None
    except Exception as exc:
        raise ImageError(_decode_reason(exc)) from None


def _check_size(im: Image.Image, max_pixels: int, *, reducible: bool) -> None:
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageError(_("empty image"))
    limit = max_pixels * JPEG_MAX_REDUCTION**2 if reducible and im.format in ("JPEG", "MPO") else max_pixels
    if w * h > limit:
        raise ImageError(
            _("too large ({w}x{h} pixels; at most {max_pixels:,})").format(w=w, h=h, max_pixels=max_pixels)
        )


def _header(im: Image.Image) -> ImageHeader:
    w, h = im.size
    if _orientation(im) in (5, 6, 7, 8):  # stored on its side: decoding turns it upright
        w, h = h, w
    return ImageHeader(w, h, im.mode, _format(im), _is_colour(im))


def _format(im: Image.Image) -> str:
    return str(im.format or "")


def _orientation(im: Image.Image) -> int:
    """The EXIF Orientation tag (1 = upright; 5..8 = rotated by 90 degrees), as
    ImageOps.exif_transpose reads it when decoding."""
    try:
        return int(im.getexif().get(_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block: exif_transpose then leaves the image as stored
        return 1


def _is_colour(im: Image.Image) -> bool:
    if im.mode in _GRAY_MODES:
        return False
    if im.mode in ("P", "PA"):
        palette = im.getpalette() or []
        rgb = np.array(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
        return bool((rgb != rgb[:, :1]).any())
    return True


def _decode_reason(exc: BaseException) -> str:
    if isinstance(exc, ImageError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    text = one_line(exc, 120)
    if "cannot identify image file" in text:
        return _("not an image in a format we read ({formats})").format(formats=FORMAT_NAMES)
    return _("cannot read it: {reason}").format(reason=text)
