"""One ZIP streamed into a multipart upload, in memory that does not grow with the archive.

:class:`PartWriter` is a write-only, unseekable stream: it buffers what it is given and uploads a part
each time ``part_size`` bytes are buffered (every part but the last exactly that size, as Cloudflare R2
requires). ``zipfile`` writes to it as to a pipe: each entry's header, its bytes, then a data descriptor
with the CRC-32 and sizes computed while the bytes went by (no seeking back), ZIP64 records where
sizes or offsets need them. Entries are stored, not deflated: the images are compressed already.

:class:`UniqueNames` makes the names: from titles, unique (case-insensitively), safe to extract anywhere.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

PART_SIZE = 8 * 1024 * 1024  # S3's minimum is 5 MiB (but for the last part); 10,000 parts -> 80 GB
CHUNK_SIZE = 1024 * 1024
MAX_NAME_CHARS = 120
FALLBACK_NAME = "image"

_UNSAFE = re.compile(
    r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]+'
)
_DOTS = re.compile(r"\.{2,}")
_SPACES = re.compile(r"\s+")
# Names Windows refuses whatever the extension.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


class PartSink(Protocol):
    def upload_part(self, number: int, data: bytes) -> None: ...


class PartWriter:
    """Buffers writes and uploads them as numbered parts; :meth:`finish` uploads the rest.

    Closing without :meth:`finish` uploads nothing more: a failed archive is never sent whole."""

    def __init__(self, sink: PartSink, part_size: int = PART_SIZE) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self._sink = sink
        self._part_size = part_size
        self._buffer = bytearray()
        self._position = 0
        self.parts = 0
        self.part_sizes: list[int] = []
        self.finished = False

    # the file-like interface zipfile uses: write, tell, flush (no seek: it streams)
    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self.finished:
            raise ValueError("write after finish")
        size = len(data)
        self._buffer += data
        self._position += size
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return size

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing: parts go when full, the last one at :meth:`finish`."""

    def close(self) -> None:
        """Nothing either: only :meth:`finish` sends the last part."""

    def finish(self) -> int:
        """Upload what is buffered as the last part; the archive's size in bytes."""
        if not self.finished:
            if self._buffer or not self.parts:
                self._send(bytes(self._buffer))
                self._buffer = bytearray()
            self.finished = True
        return self._position

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _send(self, data: bytes) -> None:
        self.parts += 1
        self.part_sizes.append(len(data))
        self._sink.upload_part(self.parts, data)


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its name, size (from the store, for the ZIP64 choice), time and body."""

    name: str
    size: int
    date_time: tuple[int, int, int, int, int, int]
    chunks: Iterable[bytes]


def write_zip(out: PartWriter, entries: Iterable[Entry]) -> int:
    """Write every entry into one ZIP on ``out`` and finish it; returns the number of entries."""
    count = 0
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=entry.date_time)
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = entry.size  # only decides ZIP64 up front; the real size is counted
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w") as target:
                for chunk in entry.chunks:
                    target.write(chunk)
            count += 1
    out.finish()
    return count


def entry_name(title: str, extension: str) -> str:
    """A file name from a title: no path separators, ``..``, control or bidi characters, no leading dot,
    at most ``MAX_NAME_CHARS`` characters before the extension, never empty, never a reserved name."""
    text = unicodedata.normalize("NFC", title or "")
    text = _UNSAFE.sub("-", text)
    text = _SPACES.sub(" ", text)
    text = _DOTS.sub(".", text)
    text = text.strip(" .-")[:MAX_NAME_CHARS].rstrip(" .-")
    if not text or text.split(".")[0].strip().lower() in _RESERVED:
        text = f"{text}-{FALLBACK_NAME}" if text else FALLBACK_NAME
    ext = re.sub(r"[^a-z0-9]", "", (extension or "").lower())[:10]
    return f"{text}.{ext}" if ext else text


class UniqueNames:
    """Hands out names unique ignoring case (a repeat gets " (2)", " (3)"...), as files are added."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, title: str, extension: str) -> str:
        name = entry_name(title, extension)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        candidate, n = name, 1
        while candidate.casefold() in self._taken:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        self._taken.add(candidate.casefold())
        return candidate
