"""reference_util.py: what the PyTorch model references (unet_reference.py, gan_reference.py) share: writing a
fixture as safetensors, and timing a step for `medgen bench ... --vs-torch`. Standard library only; the scripts
run by path, so Python finds this module beside them."""
import json
import os
import statistics
import struct
import time


def save_safetensors(path, tensors, metadata):
    """tensors: name -> float32 numpy array, written in order; metadata: str -> str."""
    header, offset = {"__metadata__": metadata}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.size * 4]}
        offset += array.size * 4
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header with spaces to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for array in tensors.values():
            f.write(array.astype("<f4").tobytes())
    os.replace(tmp, path)  # never leave a half-written fixture under the final name


def median_time(fn, warmup, repeats):
    """The median wall time of repeats calls of fn after warmup untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
