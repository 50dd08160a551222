#!/usr/bin/python3
"""Draws MedGen's 128x128 extension icon (SlicerMedGen/Resources/Icons/MedGen.png): a 2x2 grid of image slices on a
rounded blue square, one tile in the accent colour for the synthetic image. numpy only (no imaging library), edges
smoothed by drawing at 4x and averaging. Usage: /usr/bin/python3 Utilities/make-icon.py [output.png]"""
import struct
import sys
import zlib

import numpy as np

SIZE, SCALE = 128, 4
N = SIZE * SCALE


def rounded_rect(x0, y0, x1, y1, radius):
    """Coverage mask (N x N, bool) of a rectangle with rounded corners, coordinates in icon pixels."""
    y, x = np.mgrid[0:N, 0:N] / SCALE + 0.5 / SCALE
    cx = np.clip(x, x0 + radius, x1 - radius)
    cy = np.clip(y, y0 + radius, y1 - radius)
    return ((x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def slice_shading(x0, y0, x1, y1, brightness):
    """Grey level (N x N) of a head-like slice: a bright rim, darker inside with two lobes."""
    y, x = np.mgrid[0:N, 0:N] / SCALE + 0.5 / SCALE
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = (x1 - x0) * 0.38, (y1 - y0) * 0.44
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    rim = (r <= 1.0) & (r > 0.82)
    inside = r <= 0.82
    lobes = inside & (np.abs(x - cx) > rx * 0.08)
    level = np.zeros((N, N))
    level[inside] = 0.35
    level[lobes] = 0.55 + 0.15 * np.cos(r[lobes] * 9.0)
    level[rim] = 0.95
    return level * brightness


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "SlicerMedGen/Resources/Icons/MedGen.png"
    rgba = np.zeros((N, N, 4))
    background = rounded_rect(4, 4, 124, 124, 20)
    rgba[background] = (0.12, 0.30, 0.48, 1.0)
    tiles = [(16, 16, 62, 62, (1.0, 1.0, 1.0), 1.0), (66, 16, 112, 62, (1.0, 1.0, 1.0), 0.85),
             (16, 66, 62, 112, (1.0, 1.0, 1.0), 0.9), (66, 66, 112, 112, (1.0, 0.72, 0.25), 1.0)]
    for x0, y0, x1, y1, tint, brightness in tiles:
        tile = rounded_rect(x0, y0, x1, y1, 6)
        rgba[tile] = (0.05, 0.07, 0.10, 1.0)
        level = slice_shading(x0, y0, x1, y1, brightness)
        shaded = tile & (level > 0)
        for c in range(3):
            rgba[..., c][shaded] = level[shaded] * tint[c]
    # average each SCALE x SCALE block: antialiased edges
    small = rgba.reshape(SIZE, SCALE, SIZE, SCALE, 4).mean(axis=(1, 3))
    alpha = small[..., 3:4]
    colour = np.where(alpha > 0, small[..., :3] / np.maximum(alpha, 1e-6), 0)
    pixels = (np.concatenate([colour, alpha], axis=2) * 255 + 0.5).clip(0, 255).astype(np.uint8)
    rows = b"".join(b"\x00" + pixels[i].tobytes() for i in range(SIZE))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    with open(out, "wb") as f:
        f.write(png)


if __name__ == "__main__":
    main()
