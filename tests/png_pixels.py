"""Read a PNG's size and pixels with zlib and struct only (no Pillow in the venv, and not worth a dependency for
the tests): 8-bit RGB or RGBA, not interlaced, which is what Chromium's screenshots are (checked in IHDR).

Chromium's 1280x2000 screenshot of the daily report used filters Up (1166 rows), Paeth (607), Sub (225) and
Average (2): Up rows are undone for the whole row at once with integer arithmetic, the others byte by byte.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: IHDR colour types this reader takes: 2 truecolour (RGB), 6 truecolour with alpha (RGBA)
CHANNELS = {2: 3, 6: 4}


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    #: bytes per pixel (3 or 4)
    channels: int
    #: the unfiltered rows, top to bottom
    rows: tuple[bytes, ...]

    def count(self, colour: tuple[int, int, int]) -> int:
        """How many pixels have exactly this RGB colour (alpha ignored: Chromium's screenshots are opaque)."""
        pattern = bytes(colour)
        total = 0
        for row in self.rows:
            start = row.find(pattern)
            while start != -1:
                if start % self.channels == 0:  # a match across two pixels is not a pixel
                    total += 1
                start = row.find(pattern, start + 1)
        return total


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG (no signature)")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(SIGNATURE)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def size(data: bytes) -> tuple[int, int]:
    """(width, height) from IHDR."""
    kind, body = _chunks(data)[0]
    if kind != b"IHDR":
        raise ValueError("first chunk is not IHDR")
    width, height = struct.unpack(">II", body[:8])
    return int(width), int(height)


def _add(row: bytes, above: bytes) -> bytes:
    """Bytewise (row + above) mod 256 in one go: SWAR on two big integers (the high bit of each byte is added
    without carrying into the next byte)."""
    n = len(row)
    a, b = int.from_bytes(row, "big"), int.from_bytes(above, "big")
    low = int.from_bytes(b"\x7f" * n, "big")
    high = int.from_bytes(b"\x80" * n, "big")
    return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "big")


def _sub(line: bytes, bpp: int) -> bytes:
    out = bytearray(line)
    for i in range(bpp, len(out)):
        out[i] = (out[i] + out[i - bpp]) & 0xFF
    return bytes(out)


def _average(line: bytes, above: bytes, bpp: int) -> bytes:
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        out[i] = (out[i] + ((left + above[i]) >> 1)) & 0xFF
    return bytes(out)


def _paeth(line: bytes, above: bytes, bpp: int) -> bytes:
    """The Paeth predictor inlined (the hot loop: a third of a screenshot's rows)."""
    out = bytearray(line)
    for i in range(len(out)):
        up = above[i]
        if i < bpp:
            out[i] = (out[i] + up) & 0xFF  # left and corner are 0: the predictor is the byte above
            continue
        left, corner = out[i - bpp], above[i - bpp]
        pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
        predicted = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
        out[i] = (out[i] + predicted) & 0xFF
    return bytes(out)


def _unfilter(kind: int, line: bytes, above: bytes, bpp: int) -> bytes:
    if kind == 0:
        return line
    if kind == 1:
        return _sub(line, bpp)
    if kind == 2:
        return _add(line, above)
    if kind == 3:
        return _average(line, above, bpp)
    if kind == 4:
        return _paeth(line, above, bpp)
    raise ValueError(f"filter: 0 to 4 (got {kind})")


def decode(data: bytes) -> Image:
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in CHANNELS or interlace != 0:
        raise ValueError(f"IHDR: only 8-bit RGB/RGBA, not interlaced (got depth {depth} colour {colour})")
    bpp = CHANNELS[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * bpp
    if len(raw) != stride * height:
        raise ValueError(f"IDAT: {stride * height} bytes expected (got {len(raw)})")
    rows: list[bytes] = []
    above = bytes(width * bpp)
    for y in range(height):
        line = raw[y * stride + 1 : (y + 1) * stride]
        above = _unfilter(raw[y * stride], line, above, bpp)
        rows.append(above)
    return Image(width=width, height=height, channels=bpp, rows=tuple(rows))
