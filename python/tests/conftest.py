"""Shared helpers: the committed golden fixtures (tests/fixtures/*.safetensors, read with a
few lines of numpy so that these tests need nothing but numpy)."""
import json
import os
import struct

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
DTYPES = {"F64": np.float64, "F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    """(tensors, metadata) of a .safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[h["dtype"]]).reshape(h["shape"])
    return out, meta


def read_header(path):
    """The JSON header of a .safetensors file: {name: {dtype, shape, data_offsets}} and its
    `__metadata__` (for dtypes numpy cannot hold, such as BF16)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def fixture(name):
    return read_safetensors(os.path.join(FIXTURES, name + ".safetensors"))


def close(got, want, atol, rtol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    if bad.any():
        i = np.argwhere(bad)[0]
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} off, first at {tuple(i)}: "
            f"got {got[tuple(i)]}, want {want[tuple(i)]}")
