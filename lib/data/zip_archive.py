"""A ZIP of pictures, checked from its directory before anything is inflated.

`zip_entries(data, budget)` reads the end record (how many entries, before Python builds one
object per entry) and the central directory, and refuses with one line: too many files, too
many bytes once unpacked, a member (or the whole) that expands more than the ratio a picture
can (a decompression bomb), an entry with `..` or an absolute path, a link or a device file.
`ZipReader.read` then inflates one member at a time, never past the size its directory declared.
"""

from __future__ import annotations

import io
import stat
import struct
import threading
import unicodedata
import zipfile
from dataclasses import dataclass

from lib.errors import DatasetError, one_line
from lib.i18n import _

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class ArchiveBudget:
    """What one upload may bring (tests pass smaller ones)."""

    max_files: int = 10_000
    max_bytes: int = 512 << 20  # unpacked, in all
    max_ratio: int = 100  # unpacked / compressed, per member and in all
    free_bytes: int = 1 << 20  # a member this small is never called a bomb (a flat BMP compresses 300:1)


@dataclass(frozen=True)
class ZipEntry:
    parts: tuple[str, ...]  # the path inside the ZIP, NFC, split at '/'
    info: zipfile.ZipInfo
    name_repaired: bool  # its name was not valid UTF-8: undecodable bytes became U+FFFD


def zip_entries(data: bytes, budget: ArchiveBudget) -> list[ZipEntry]:
    """The file entries of a ZIP (directories left out), or DatasetError with one line."""
    declared = _declared_entries(data)
    if declared > budget.max_files:
        raise DatasetError(
            _("the ZIP holds {declared:,} entries; at most {max_files:,} files can be read").format(
                declared=declared, max_files=budget.max_files
            )
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except UnicodeDecodeError:
        raise DatasetError(_("the ZIP says its file names are UTF-8, but one is not: make the ZIP again")) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DatasetError(_("not a readable ZIP file ({exc})").format(exc=one_line(exc))) from None
    entries: list[ZipEntry] = []
    total = packed = 0
    for info in zf.infolist():
        shown = info.filename[:120]
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DatasetError(_("the ZIP holds a link ({shown}); links are refused").format(shown=shown))
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise DatasetError(
                _("the ZIP holds a device or other special file ({shown}); it is refused").format(shown=shown)
            )
        name, repaired = _entry_name(info)
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise DatasetError(
                _("the ZIP holds an entry with an absolute path ({shown}); it is refused").format(shown=shown)
            )
        parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
        if ".." in parts:
            raise DatasetError(
                _("the ZIP holds an entry that leads out of its folder ({shown}); it is refused").format(shown=shown)
            )
        if info.is_dir() or not parts:
            continue
        if len(entries) >= budget.max_files:
            raise DatasetError(
                _("the ZIP holds more than {max_files:,} files; at most that many can be read").format(
                    max_files=budget.max_files
                )
            )
        if info.file_size > budget.free_bytes and info.file_size > budget.max_ratio * max(info.compress_size, 1):
            raise DatasetError(
                _(
                    "{shown} declares {size} from {packed} (over {max_ratio}:1): refused as a likely decompression bomb"
                ).format(
                    shown=shown,
                    size=_size(info.file_size),
                    packed=_size(info.compress_size),
                    max_ratio=budget.max_ratio,
                )
            )
        total += info.file_size
        packed += info.compress_size
        entries.append(ZipEntry(parts, info, repaired))
    if total > budget.max_bytes:
        raise DatasetError(
            _("the ZIP would unpack to {size}; at most {limit} can be read (use fewer pictures)").format(
                size=_size(total), limit=_size(budget.max_bytes)
            )
        )
    if total > 64 * budget.free_bytes and total > budget.max_ratio * max(packed, 1):
        raise DatasetError(
            _(
                "the ZIP declares {size} from {packed} (over {max_ratio}:1): refused as a likely decompression bomb"
            ).format(size=_size(total), packed=_size(packed), max_ratio=budget.max_ratio)
        )
    return entries


class ZipReader:
    """Reads members of one ZIP without parsing its directory again for each."""

    def __init__(self, source: bytes | str) -> None:
        """source: the ZIP's bytes, or the path of a file holding them (a worker process's copy).
        Its directory is parsed at the first read (a caller whose workers read needs none)."""
        self._source = source
        self._zf: zipfile.ZipFile | None = None
        # ZipFile's count of open members is not thread-safe: one read at a time.
        self._lock = threading.Lock()

    def read(self, entry: ZipEntry) -> bytes:
        """The member's bytes, at most one more than its directory declares (the caller checks
        that), or DatasetError with one line."""
        if entry.info.flag_bits & _ENCRYPTED_FLAG:
            raise DatasetError(_("encrypted (a password is needed)"))
        try:
            with self._lock:
                if self._zf is None:
                    source = self._source
                    self._zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
                with self._zf.open(entry.info) as fh:
                    return fh.read(entry.info.file_size + 1)
        except Exception as exc:  # BadZipFile (CRC, header mismatch), zlib.error, NotImplementedError, ...
            raise DatasetError(_("cannot be unpacked ({exc})").format(exc=one_line(exc, 100))) from None

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _entry_name(info: zipfile.ZipInfo) -> tuple[str, bool]:
    """The entry's name as NFC text. Without the UTF-8 flag Python decoded it as CP437; the
    bytes are tried as UTF-8 (most tools write it without the flag), then as Korean Windows'
    CP949, else bad bytes become U+FFFD (said in a note)."""
    name = info.filename
    if info.flag_bits & _UTF8_FLAG:
        return unicodedata.normalize("NFC", name), False
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:  # a name zipfile did not decode as CP437
        return unicodedata.normalize("NFC", name), False
    for encoding in ("utf-8", "cp949"):
        try:
            return unicodedata.normalize("NFC", raw.decode(encoding)), False
        except UnicodeDecodeError:
            continue
    return unicodedata.normalize("NFC", raw.decode("utf-8", "replace")), True


def _declared_entries(data: bytes) -> int:
    """The entry count from the end record (zip64 too), read before zipfile parses the
    directory; 0 when there is no end record (zipfile then says what is wrong)."""
    tail_start = max(0, len(data) - (1 << 16) - _EOCD.size)
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + _EOCD.size > len(data):
        return 0
    fields = _EOCD.unpack_from(data, at)
    count = fields[4]
    if count == 0xFFFF and at >= _ZIP64_LOCATOR.size:
        locator = _ZIP64_LOCATOR.unpack_from(data, at - _ZIP64_LOCATOR.size)
        if locator[0] == b"PK\x06\x07" and locator[2] + _ZIP64_EOCD.size <= len(data):
            record = _ZIP64_EOCD.unpack_from(data, locator[2])
            if record[0] == b"PK\x06\x06":
                count = record[6]
    return int(count)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"
