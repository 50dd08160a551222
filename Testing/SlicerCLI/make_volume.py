#!/usr/bin/python3
"""make_volume.py OUT.nrrd [label]: writes a small CT-like test volume as a raw NRRD with the standard library only.

volume: int16, 28 x 24 x 10 voxels of 0.9 x 1.1 x 2.5 mm, axes permuted in patient space (array x runs along +P,
array y along -L) and origin (-10.5, 20.25, 5): air at -1000 HU around an ellipsoid of soft tissue whose radius and
texture change from slice to slice. label: the matching uint8 label map: 1 in the ellipsoid's lower half, 2 in its
upper half, 0 outside.
"""
import math
import struct
import sys

SIZE = (28, 24, 10)
SPACING = (0.9, 1.1, 2.5)
DIRECTIONS = ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0))  # columns: where array x, y, z run in LPS
ORIGIN = (-10.5, 20.25, 5.0)


def voxels(label):
    nx, ny, nz = SIZE
    for z in range(nz):
        radius = 0.55 + 0.3 * math.sin(math.pi * (z + 0.5) / nz)
        for y in range(ny):
            for x in range(nx):
                u = (x - (nx - 1) / 2) / (nx / 2)
                v = (y - (ny - 1) / 2) / (ny / 2)
                inside = u * u + v * v < radius * radius
                if label:
                    yield (1 if z < nz // 2 else 2) if inside else 0
                else:
                    yield int(40 + 60 * math.sin(0.7 * x + 0.3 * z) * math.cos(0.5 * y)) if inside else -1000


def main():
    path, label = sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "label"
    directions = " ".join("(%s)" % ",".join(repr(d * s) for d in axis) for axis, s in zip(DIRECTIONS, SPACING))
    header = ("NRRD0004\ntype: %s\ndimension: 3\nspace: left-posterior-superior\nsizes: %d %d %d\n"
              "space directions: %s\nkinds: domain domain domain\nendian: little\nencoding: raw\n"
              "space origin: (%s)\n\n" % ("uint8" if label else "short", *SIZE, directions,
                                          ",".join(repr(o) for o in ORIGIN)))
    data = list(voxels(label))
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(struct.pack("<%d%s" % (len(data), "B" if label else "h"), *data))


if __name__ == "__main__":
    main()
