#!/usr/bin/env python3
"""read_safetensors.py: a small safetensors reader and writer written independently of MedGen's (json + struct +
numpy only), to check that MedGen's checkpoints interoperate with other tools in both directions.

  read_safetensors.py dump FILE OUT.json    parse FILE strictly and describe it in OUT.json
  read_safetensors.py write FILE OUT.json   write a safetensors FILE laid out the way other writers do, and describe
                                            in OUT.json what it holds

OUT.json: {"metadata": [[key, value], ...], "tensors": [{"name": ..., "shape": [...], "bits": [...]}, ...]}, tensors
in header order, values as their float32 bit patterns so that NaN payloads and -0.0 compare exactly.
Exits 77 (CTest's skip code) when numpy is missing, 1 when FILE breaks the format.
"""
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("SKIPPED: numpy is not available")
    sys.exit(77)


def fail(path, message):
    print(f"{path}: {message}", file=sys.stderr)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def read(path):
    """Returns (metadata pairs, [(name, shape, float32 array)] in header order). Checks what MedGen's writer
    promises as well as the format: header padded with spaces to 8 bytes, tensors back to back, nothing after."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail(path, "shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        fail(path, f"header length {n} beyond the file")
    if n % 8:
        fail(path, f"header length {n} is not a multiple of 8")
    text = raw[8 : 8 + n].decode("utf-8")
    if len(text) - len(text.rstrip(" ")) >= 8:
        fail(path, "header padded with more than 7 spaces")
    header = json.loads(text, object_pairs_hook=no_duplicates)  # dicts keep the file's order
    data = raw[8 + n :]
    metadata, tensors, ranges = [], [], []
    for name, info in header.items():
        if name == "__metadata__":
            metadata = list(info.items())
            if not all(isinstance(v, str) for _, v in metadata):
                fail(path, "metadata values must be strings")
            continue
        if set(info) != {"dtype", "shape", "data_offsets"} or info["dtype"] != "F32":
            fail(path, f"tensor {name!r}: unexpected entry {info}")
        shape, (begin, end) = info["shape"], info["data_offsets"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            fail(path, f"tensor {name!r}: bad shape {shape}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != 4 * count or not 0 <= begin <= end <= len(data):
            fail(path, f"tensor {name!r}: offsets {begin}, {end} do not fit shape {shape}")
        ranges.append((begin, end))
        tensors.append((name, shape, np.frombuffer(data[begin:end], dtype="<f4").reshape(shape)))
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            fail(path, f"data not back to back at byte {begin}")
        position = end
    if position != len(data):
        fail(path, f"{len(data) - position} bytes after the last tensor")
    return metadata, tensors


def describe(metadata, tensors):
    return {
        "metadata": [[k, v] for k, v in metadata],
        "tensors": [
            {"name": name, "shape": list(shape), "bits": array.reshape(-1).view("<u4").tolist()}
            for name, shape, array in tensors
        ],
    }


def write(path):
    """A file unlike MedGen's own: metadata first, header keys sorted by name while the data is in another order,
    a scalar, an empty tensor, a non-ASCII name, special values."""
    rng = np.random.default_rng(7)
    tensors = {
        "net.b.weight": rng.standard_normal((3, 4)).astype("<f4"),
        "net.a.weight": rng.standard_normal((2, 2, 2, 2)).astype("<f4"),
        "scalar": np.array(0.25, dtype="<f4"),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "\u00fcn\u00ef/\u540d": np.array([1, -2, 3, -4, 5], dtype="<f4"),
    }
    special = np.array([0x7FC00001, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001], dtype="<u4").view("<f4")
    tensors["net.b.weight"].reshape(-1)[:5] = special
    metadata = [("format", "pt"), ("note", "written by Python\nwith a newline"), ("unicode", "\u00fc")]

    header, chunks, offset = {"__metadata__": dict(metadata)}, [], 0
    for name, array in tensors.items():  # data in insertion order
        raw = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    ordered = {"__metadata__": header["__metadata__"]}
    ordered.update(sorted((k, v) for k, v in header.items() if k != "__metadata__"))
    text = json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    return metadata, [(k, list(tensors[k].shape), tensors[k]) for k in ordered if k != "__metadata__"]


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("dump", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, path, out = sys.argv[1:]
    metadata, tensors = read(path) if mode == "dump" else write(path)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(describe(metadata, tensors), f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
