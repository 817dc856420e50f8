"""Draws the extension's icons (icon-16.png ... icon-128.png) with the standard library only.

The mark: a rounded blue square holding three bars, red, grey and green, the three sentiment
labels' scores as the popup shows them. Rerun after changing it:

    python3 www/extension/icons/draw.py
"""

import struct
import zlib
from pathlib import Path

SIZES = (16, 32, 48, 128)
SAMPLES = 4  # per axis: 16 samples per pixel smooth the edges
BACKGROUND = (37, 99, 235)  # the pages' accent, #2563eb
BARS = (  # (left, top, right) in units of the icon's side; every bar ends at 0.78
    (0.20, 0.52, 0.34, (239, 68, 68)),
    (0.43, 0.38, 0.57, (226, 232, 240)),
    (0.66, 0.22, 0.80, (34, 197, 94)),
)
BOTTOM = 0.78
RADIUS = 0.22


def colour_at(x: float, y: float):
    """The colour at (x, y) in [0, 1)^2, or None outside the rounded square."""
    cx = min(max(x, RADIUS), 1 - RADIUS)
    cy = min(max(y, RADIUS), 1 - RADIUS)
    if (x - cx) ** 2 + (y - cy) ** 2 > RADIUS**2:
        return None
    for left, top, right, colour in BARS:
        if left <= x < right and top <= y < BOTTOM:
            return colour
    return BACKGROUND


def pixels(size: int) -> bytes:
    rows = bytearray()
    for py in range(size):
        rows.append(0)  # PNG filter: none
        for px in range(size):
            r = g = b = a = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    c = colour_at((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size)
                    if c is not None:
                        r, g, b, a = r + c[0], g + c[1], b + c[2], a + 1
            n = SAMPLES * SAMPLES
            rows += bytes((r // a, g // a, b // a, 255 * a // n) if a else (0, 0, 0, 0))
    return bytes(rows)


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels(size), 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    here = Path(__file__).parent
    for size in SIZES:
        (here / f"icon-{size}.png").write_bytes(png(size))
