"""The streaming ZIP writer: parts of a fixed size, a ZIP that reads back, ZIP64 when needed, safe names."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from imagegen.archive import Entry, PartWriter, UniqueNames, entry_name, write_zip

WHEN = (2026, 12, 5, 6, 30, 0)


class Sink:
    def __init__(self) -> None:
        self.parts: list[tuple[int, bytes]] = []

    def upload_part(self, number: int, data: bytes) -> None:
        self.parts.append((number, data))

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.parts)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_parts_are_all_part_size_but_the_last_and_numbered_from_one() -> None:
    sink = Sink()
    writer = PartWriter(sink, part_size=1000)
    for chunk in _chunks(bytes(range(256)) * 20, 333):  # 5120 bytes in odd chunks
        writer.write(chunk)
        assert writer.buffered < 1000  # never holds a whole part
    assert [n for n, _ in sink.parts] == [1, 2, 3, 4, 5]
    assert writer.finish() == 5120
    assert [len(d) for _, d in sink.parts] == [1000] * 5 + [120]
    assert [n for n, _ in sink.parts] == [1, 2, 3, 4, 5, 6]
    assert sink.body == bytes(range(256)) * 20
    assert writer.finish() == 5120 and len(sink.parts) == 6  # finishing twice sends nothing more
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_an_archive_that_fails_half_way_never_sends_its_last_part() -> None:
    sink = Sink()
    writer = PartWriter(sink, part_size=100)

    def exploding() -> list[bytes]:
        raise OSError("read failed")

    entries = [
        Entry("a.png", 250, WHEN, _chunks(b"a" * 250, 64)),
        Entry("b.png", 10, WHEN, iter(exploding, None)),  # type: ignore[call-overload]
    ]
    with pytest.raises(OSError):
        write_zip(writer, entries)
    assert not writer.finished
    assert all(len(data) == 100 for _, data in sink.parts)  # only the full parts went


def test_the_zip_reads_back_stored_with_crcs_and_times() -> None:
    sink = Sink()
    files = {"one.png": b"\x89PNG" + b"1" * 5000, "two.jpg": b"\xff\xd8" + b"2" * 1234, "empty.gif": b""}
    entries = [Entry(name, len(data), WHEN, _chunks(data, 700)) for name, data in files.items()]
    assert write_zip(PartWriter(sink, part_size=1024), entries) == 3
    archive = zipfile.ZipFile(io.BytesIO(sink.body))
    assert archive.testzip() is None
    assert archive.namelist() == list(files)
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.flag_bits & 0x08  # sizes and CRC after the data: nothing was sought back
        assert zlib.crc32(files[info.filename]) == info.CRC
        assert info.date_time == WHEN
        assert archive.read(info) == files[info.filename]


def test_zip64_records_when_offsets_pass_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """ZIP64 with a small forced threshold: the same code path a > 4 GiB export takes."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4000)
    sink = Sink()
    files = {f"image-{i}.png": bytes([i]) * 3000 for i in range(4)}
    entries = [Entry(name, len(data), WHEN, _chunks(data, 512)) for name, data in files.items()]
    write_zip(PartWriter(sink, part_size=2048), entries)
    body = sink.body
    assert b"PK\x06\x06" in body and b"PK\x06\x07" in body  # ZIP64 end record and its locator
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert {name: archive.read(name) for name in archive.namelist()} == files


def test_entry_names_are_safe() -> None:
    assert entry_name("../../etc/passwd", "png") == "etc-passwd.png"
    assert entry_name("a\\b:c*d?e", "jpg") == "a-b-c-d-e.jpg"
    assert entry_name("tab\tand\nnewline\x00", "png") == "tab-and-newline.png"
    assert entry_name("...hidden", "png") == "hidden.png"
    assert entry_name("dots..in..between", "png") == "dots.in.between.png"
    assert entry_name("evil\u202egnp.exe", "png") == "evil-gnp.exe.png"
    assert entry_name("", "webp") == "image.webp"
    assert entry_name("///", "png") == "image.png"
    assert entry_name("CON", "png") == "CON-image.png"
    assert entry_name("Café ☕ 日本", "PNG") == "Café ☕ 日本.png"
    long = entry_name("x" * 500, "png")
    assert long == "x" * 120 + ".png"


def test_names_are_unique_ignoring_case() -> None:
    names = UniqueNames()
    taken = [names.take(t, "png") for t in ("Cat", "cat", "CAT", "cat (2)", "Dog")]
    assert taken == ["Cat.png", "cat (2).png", "CAT (3).png", "cat (2) (2).png", "Dog.png"]
    assert len({t.casefold() for t in taken}) == len(taken)
