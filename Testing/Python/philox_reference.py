#!/usr/bin/env python3
"""philox_reference.py: an independent Philox4x32-10 in plain Python integers, for test_philox.c.

Usage: philox_reference.py SEED:OFFSET:N [SEED:OFFSET:N ...]
For each request, prints one line per element i < N of MedGen's stream (see Kernels/mg_philox.h):
    i word uniform normal
where word is the raw 32-bit lane, uniform the [0,1) value and normal the standard normal (Box-Muller in
double precision here; the engine computes it in float, so the test compares normals with a tolerance).
Before anything else the implementation checks itself against Random123's published known-answer vectors and
exits with status 1 if one differs.
"""
import math
import sys

MASK32 = 0xFFFFFFFF
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85

# Random123 kat_vectors for philox4x32 with 10 rounds: (counter, key, expected output).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK32,) * 4, (MASK32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox4x32_10(counter, key):
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for rnd in range(10):
        if rnd:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        prod0 = M0 * c0
        prod1 = M1 * c2
        c0, c1, c2, c3 = ((prod1 >> 32) ^ c1 ^ k0, prod1 & MASK32, (prod0 >> 32) ^ c3 ^ k1, prod0 & MASK32)
    return (c0, c1, c2, c3)


def block(seed, index):
    return philox4x32_10((index & MASK32, (index >> 32) & MASK32, 0, 0), (seed & MASK32, (seed >> 32) & MASK32))


def uniform_open0(word):  # (0,1]
    return ((word >> 8) + 1) / 16777216.0


def uniform_open1(word):  # [0,1)
    return (word >> 8) / 16777216.0


def normal(words, lane):
    even = lane & ~1
    r = math.sqrt(-2.0 * math.log(uniform_open0(words[even])))
    theta = 2.0 * math.pi * uniform_open1(words[even + 1])
    return r * (math.sin(theta) if lane & 1 else math.cos(theta))


def main(argv):
    for counter, key, expected in KNOWN_ANSWERS:
        got = philox4x32_10(counter, key)
        if got != expected:
            print("known-answer mismatch for counter %s key %s: %s" % (counter, key, [hex(x) for x in got]),
                  file=sys.stderr)
            return 1
    for request in argv[1:]:
        seed, offset, n = (int(x, 0) for x in request.split(":"))
        for i in range(n):
            words = block(seed, offset + i // 4)
            lane = i % 4
            print("%d %d %.17g %.17g" % (i, words[lane], uniform_open1(words[lane]), normal(words, lane)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
