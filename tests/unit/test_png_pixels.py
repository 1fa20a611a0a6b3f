"""tests/png_pixels.py, the PNG reader the HTML report's Chromium test counts colours with: every filter type
undone, pixels counted only on pixel boundaries."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.png_pixels import decode, size


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(left: int, up: int, corner: int) -> int:
    p = left + up - corner
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
    return left if pa <= pb and pa <= pc else up if pb <= pc else corner


def _filter(kind: int, row: bytes, above: bytes, bpp: int) -> bytes:
    """The encoder's side of PNG's filters (RFC 2083 section 6), written out plainly."""
    out = bytearray()
    for i, value in enumerate(row):
        left = row[i - bpp] if i >= bpp else 0
        corner = above[i - bpp] if i >= bpp else 0
        predicted = [0, left, above[i], (left + above[i]) // 2, _paeth(left, above[i], corner)][kind]
        out.append((value - predicted) % 256)
    return bytes([kind]) + bytes(out)


def _png(rows: list[bytes], width: int, colour: int, bpp: int) -> bytes:
    above = bytes(width * bpp)
    data = b""
    for y, row in enumerate(rows):
        data += _filter(y % 5, row, above, bpp)  # each filter type in turn
        above = row
    header = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")


@pytest.mark.parametrize(("colour", "bpp"), [(2, 3), (6, 4)])
def test_every_filter_is_undone(colour: int, bpp: int) -> None:
    width = 7
    rows = [bytes((x * 37 + y * 91 + c * 13) % 256 for x in range(width) for c in range(bpp)) for y in range(10)]
    image = decode(_png(rows, width, colour, bpp))
    assert (image.width, image.height, image.channels) == (width, 10, bpp)
    assert list(image.rows) == rows
    assert size(_png(rows, width, colour, bpp)) == (width, 10)


def test_count_takes_whole_pixels_only() -> None:
    # (1, 2, 3) appears once as a pixel and once across the boundary of the two pixels (9, 1, 2)(3, 9, 9)
    rows = [bytes([1, 2, 3, 9, 1, 2, 3, 9, 9])]
    image = decode(_png(rows, 3, 2, 3))
    assert image.count((1, 2, 3)) == 1
    assert image.count((9, 9, 9)) == 0


def test_other_formats_are_refused() -> None:
    header = struct.pack(">IIBBBBB", 1, 1, 16, 2, 0, 0, 0)
    with pytest.raises(ValueError, match="only 8-bit"):
        decode(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 7)))
    with pytest.raises(ValueError, match="not a PNG"):
        decode(b"GIF89a")
