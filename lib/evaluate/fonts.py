"""Fonts for the pictures the server draws with Pillow (TensorBoard's confusion image).

Pillow's default font has Latin letters only: a class named 고양이 came out as empty boxes.
`font_for(names, size)` keeps the default font when it draws every name (fast, and the picture
of Latin names is unchanged), else a system font that draws Hangul (and the rest of CJK): the
usual Debian/Ubuntu, macOS and Windows places, then `fc-match :lang=ko`. `EXPLORER_FONTS`
(font files or folders, separated by os.pathsep) replaces those places, for a server whose
fonts live elsewhere. A name that no font found can draw is drawn as its class index, and
`missing_names_note` says so once, for the run's notes.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

# Where the common CJK-capable fonts are installed, most likely first.
FONT_PLACES: tuple[str, ...] = (
    # Debian/Ubuntu: fonts-noto-cjk, fonts-nanum, fonts-unfonts-core, fonts-baekmuk
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora, Arch
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/usr/share/fonts/truetype/baekmuk/gulim.ttf",
    # macOS
    "/System/Library/Fonts/AppleSDGothicNeo.ttc",
    "/System/Library/Fonts/Supplemental/AppleGothic.ttf",
    "/Library/Fonts/AppleGothic.ttf",
    # Windows
    "C:/Windows/Fonts/malgun.ttf",
    "C:/Windows/Fonts/gulim.ttc",
)
PROBE = "한글"  # a font that draws these draws Korean names
_FONT_SUFFIXES = (".ttf", ".ttc", ".otf", ".otc")
_lock = threading.Lock()


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int  # the face inside a .ttc collection (Noto's Korean face, when there is one)


def default_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def draws(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> bool:
    """Does `font` have a glyph for every character of `text` (spaces count as drawn)? A missing
    glyph renders as the font's .notdef box, the same mask a code point no font has gives."""
    known = _glyphs.setdefault(font, {})
    if "" not in known:
        known[""] = _mask_bytes(font, "\U0010fffd")  # private use, never in a font: .notdef
    for ch in set(text):
        if ch.isspace():
            continue
        if ch not in known:
            known[ch] = _mask_bytes(font, ch) != known[""]
        if not known[ch]:
            return False
    return True


def _mask_bytes(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> bytes:
    mask = font.getmask(text)
    return bytes(mask) + str(mask.size).encode()


# {font: {char: drawn?, "": the .notdef mask}}; fonts that are dropped drop their entries.
_glyphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _places(setting: str | None) -> list[Path]:
    if setting is None:
        return [Path(p) for p in FONT_PLACES]
    found: list[Path] = []
    for part in filter(None, setting.split(os.pathsep)):
        p = Path(part).expanduser()
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix.lower() in _FONT_SUFFIXES)
        else:
            found.append(p)
    return found


def _usable(path: Path) -> FontFile | None:
    """The face of `path` that draws Hangul (a Korean face of a .ttc collection first), or None."""
    faces: list[tuple[FontFile, str]] = []
    for index in range(8):  # a .ttc holds a few faces; a plain font file has index 0 only
        try:
            font = ImageFont.truetype(str(path), 16, index=index)
        except OSError:
            break
        if draws(font, PROBE):
            faces.append((FontFile(str(path), index), str(font.getname()[0])))
    korean = [f for f, family in faces if family.endswith(("KR", "Korean", "K"))]
    return (korean or [f for f, _ in faces] or [None])[0]


def _fc_match() -> Path | None:
    """fontconfig's answer for Korean (Linux and BSD desktops keep fonts in many places)."""
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--format=%{file}", ":lang=ko"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


@functools.lru_cache(maxsize=8)
def _find(setting: str | None) -> FontFile | None:
    for path in _places(setting):
        if path.is_file() and (found := _usable(path)) is not None:
            return found
    if setting is None and (matched := _fc_match()) is not None and matched.is_file():
        return _usable(matched)
    return None


def cjk_font() -> FontFile | None:
    """The font file (and face) used for names the default font cannot draw; None when none was found."""
    with _lock:
        return _find(os.environ.get("EXPLORER_FONTS"))


@functools.lru_cache(maxsize=64)
def _truetype(file: FontFile, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(file.path, size, index=file.index)


@functools.lru_cache(maxsize=64)
def _default(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return default_font(size)


AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font_for(names: tuple[str, ...], size: int) -> tuple[AnyFont, tuple[bool, ...]]:
    """(the font to draw these names with, which of them it draws): the default font when it
    draws all of them, else the CJK font found on the system (when there is one)."""
    plain = _default(size)
    fits = tuple(draws(plain, n) for n in names)
    if all(fits):
        return plain, fits
    file = cjk_font()
    if file is None:
        return plain, fits
    wide = _truetype(file, size)
    return wide, tuple(draws(wide, n) for n in names)


def missing_names_note(names: tuple[str, ...]) -> str:
    """One line for the run's notes when some class names cannot be drawn ("" when all can)."""
    _, fits = font_for(tuple(names), 16)
    missing = [i for i, ok in enumerate(fits) if not ok]
    if not missing:
        return ""
    shown = ", ".join(f"#{i}" for i in missing[:5]) + (", …" if len(missing) > 5 else "")
    return (
        f"TensorBoard's confusion image shows class numbers ({shown}) instead of names: no font on this "
        "server draws them (install a font with Hangul, e.g. Debian's fonts-noto-cjk)"
    )
